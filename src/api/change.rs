//! `reestr.v1.ChangeService`: the change feed (see `proto/reestr/v1/change.proto` for what it
//! promises, and `reestr_store`'s `change` module for how revisions stay gap-free).
//!
//! Changes older than the server's retention are removed (`server::compact_changes`); a list
//! or watch that starts before the oldest one held, or a watcher that falls that far behind,
//! is OUT_OF_RANGE (`REVISION_COMPACTED`), with the oldest revision held in the metadata.
//!
//! A watch is one task per stream that reads the table and sends what it finds: the history
//! from `start_revision` in batches of whole revisions, then, each time this process commits
//! (the store's `committed` wake-up) or at the latest every [`POLL`] (another server's
//! commits), what is new. The stream is a channel of [`IN_FLIGHT`] messages: a watcher that
//! stops reading holds at most that many batches in the server, and its task waits until it
//! reads again or goes away. A database that stops answering (a restart) holds the stream
//! open for up to [`OUTAGE`], reading again every [`POLL`]. The table is the only truth: a wake-up that is missed costs at
//! most one [`POLL`], never a change.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reestr_domain::Error;
use reestr_domain::access::Action;
use reestr_domain::change::{Change, ResourceType};
use reestr_domain::error::{Reason, Violations};
use reestr_store::{ChangeSelection, Store};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::call::Call;
use super::error::status;
use super::{ReadyStore, list, number, timestamp};
use crate::proto::v1 as pb;
use crate::proto::v1::change_service_server::ChangeService;

/// The longest a watch waits before it reads the table again, whatever woke it.
pub const POLL: Duration = Duration::from_secs(1);

/// Changes one watch message carries at most (whole revisions: one big revision may add more).
const BATCH: u64 = 500;

/// Messages a watch keeps ready for a client that has not read them yet.
const IN_FLIGHT: usize = 4;

/// How long a watch rides out a database that does not answer (a restart, a lost
/// connection), reading again every [`POLL`], before it ends UNAVAILABLE.
const OUTAGE: Duration = Duration::from_secs(120);

/// The default and the longest silence between two messages of a watch, in seconds.
const BOOKMARK_SECONDS: (i32, i32) = (30, 3600);

/// The change feed.
#[derive(Debug, Clone)]
pub struct ChangeApi {
    store: ReadyStore,
    /// Turns true when the server begins to shut down: every watch then ends.
    stopping: watch::Receiver<bool>,
    watchers: Arc<Watchers>,
}

impl ChangeApi {
    /// A service over the store; `stopping` turns true when the server shuts down; the open
    /// watches are counted in `watchers`.
    pub fn new(
        store: ReadyStore,
        stopping: watch::Receiver<bool>,
        watchers: Arc<Watchers>,
    ) -> Self {
        Self {
            store,
            stopping,
            watchers,
        }
    }
}

/// The open watches, and the revision up to which each has delivered what it selects (for
/// the metrics).
#[derive(Debug, Default)]
pub struct Watchers {
    next_id: AtomicU64,
    delivered: Mutex<HashMap<u64, i64>>,
}

impl Watchers {
    fn open(self: &Arc<Self>, delivered: i64) -> Watcher {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut d) = self.delivered.lock() {
            d.insert(id, delivered);
        }
        Watcher {
            watchers: self.clone(),
            id,
        }
    }

    /// How many watches are open, and the smallest revision up to which they have all
    /// delivered (`None` without watches).
    pub fn snapshot(&self) -> (usize, Option<i64>) {
        match self.delivered.lock() {
            Ok(d) => (d.len(), d.values().min().copied()),
            Err(_) => (0, None),
        }
    }
}

/// One open watch in [`Watchers`], removed when dropped.
struct Watcher {
    watchers: Arc<Watchers>,
    id: u64,
}

impl Watcher {
    fn delivered(&self, revision: i64) {
        if let Ok(mut d) = self.watchers.delivered.lock() {
            d.insert(self.id, revision);
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Ok(mut d) = self.watchers.delivered.lock() {
            d.remove(&self.id);
        }
    }
}

/// The stream WatchChanges answers with.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchChangesResponse, Status>> + Send + 'static>>;

/// What a request selects, checked; `admin` callers may select every type, others only the
/// public ones ([`ResourceType::public`]): asking for another is PERMISSION_DENIED.
fn selection(
    call: &Call,
    start_revision: i64,
    resource_types: &[String],
    name_prefix: String,
) -> Result<ChangeSelection, Error> {
    call.authorize(Action::ReadRegister)?;
    let mut v = Violations::new();
    if start_revision < 0 {
        v.add("start_revision", "must not be negative");
    }
    let mut types = Vec::new();
    for (i, t) in resource_types.iter().enumerate() {
        match t.parse::<ResourceType>() {
            Ok(t) => types.push(t),
            Err(()) => v.add(
                format!("resource_types[{i}]"),
                format!(
                    "{t:?} is not a resource type; one of {}",
                    ResourceType::ALL.map(ResourceType::as_str).join(", ")
                ),
            ),
        }
    }
    if name_prefix.len() > 400 {
        v.add("name_prefix", "must be at most 400 bytes");
    }
    v.into_result()?;
    let admin = call.authorize(Action::ReadAudit).is_ok();
    if !admin {
        if let Some(t) = types.iter().find(|t| !t.public()) {
            return Err(Error::PermissionDenied {
                reason: Reason::PermissionDenied,
                action: "read the changes of submissions and tokens".into(),
                message: format!("only registry administrators see the changes of {t} resources"),
            });
        }
        if types.is_empty() {
            types = ResourceType::ALL
                .into_iter()
                .filter(|t| t.public())
                .collect();
        }
    }
    Ok(ChangeSelection {
        start_revision,
        types,
        name_prefix,
    })
}

fn kind_number(name: &str) -> Option<i32> {
    pb::ChangeKind::from_str_name(name).map(|k| k as i32)
}

fn to_proto(c: &Change) -> pb::Change {
    pb::Change {
        revision: c.revision,
        position: c.position,
        resource: c.resource.clone(),
        resource_type: c.resource_type.as_str().to_string(),
        kind: number(c.kind, kind_number),
        method: c.method.clone(),
        caller: c.caller.clone(),
        change_time: Some(timestamp(c.change_time)),
    }
}

/// One watch: sends what `selection` selects from `next` on into `tx` until the client goes
/// away or the server stops.
struct Watch {
    store: Store,
    selection: ChangeSelection,
    /// The first revision not yet sent or passed over.
    next: i64,
    bookmark: Duration,
    tx: mpsc::Sender<Result<pb::WatchChangesResponse, Status>>,
    stopping: watch::Receiver<bool>,
    watcher: Watcher,
}

impl Watch {
    async fn run(mut self) {
        let mut committed = self.store.committed();
        let mut last_sent = Instant::now();
        let mut unanswered_since: Option<Instant> = None;
        loop {
            if *self.stopping.borrow() {
                let resume = self.next;
                let _ = self
                    .tx
                    .send(Err(Status::unavailable(format!(
                        "the server is shutting down: watch again from start_revision {resume}"
                    ))))
                    .await;
                return;
            }
            // The head first: what committed up to it is in the read that follows. A watcher
            // that fell behind the feed's retention is told so (and where the feed begins).
            let read = async {
                let (_, head) = self.store.check_held(self.next).await?;
                let changes = self
                    .store
                    .changes_after(&self.selection, self.next - 1, BATCH)
                    .await?;
                Ok::<_, Error>((head, changes))
            }
            .await;
            let (head, changes) = match read {
                Ok(read) => {
                    unanswered_since = None;
                    read
                }
                // The database is away for a while (restarting, a connection lost): the
                // stream stays open and the same read is tried again, so the watcher misses
                // nothing and needs to do nothing.
                Err(Error::Unavailable(why))
                    if unanswered_since.get_or_insert_with(Instant::now).elapsed() < OUTAGE =>
                {
                    tracing::debug!(error = %why, "watch: the database does not answer; again in 1 s");
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        _ = self.stopping.changed() => {}
                        () = self.tx.closed() => return,
                    }
                    continue;
                }
                Err(e) => {
                    let _ = self.tx.send(Err(status(e))).await;
                    return;
                }
            };
            let message = match changes.last() {
                Some(last) => {
                    self.next = last.revision + 1;
                    Some(pb::WatchChangesResponse {
                        changes: changes.iter().map(to_proto).collect(),
                        head_revision: head.max(last.revision),
                    })
                }
                None => {
                    // Nothing up to `head` is selected: pass over it.
                    self.next = self.next.max(head + 1);
                    (last_sent.elapsed() >= self.bookmark).then(|| pb::WatchChangesResponse {
                        changes: Vec::new(),
                        head_revision: head,
                    })
                }
            };
            let more = u64::try_from(changes.len()).unwrap_or(u64::MAX) >= BATCH;
            if let Some(message) = message {
                let delivered = message.head_revision;
                if self.tx.send(Ok(message)).await.is_err() {
                    return;
                }
                self.watcher.delivered(delivered);
                last_sent = Instant::now();
            }
            if more {
                continue;
            }
            let wake = last_sent + self.bookmark;
            tokio::select! {
                _ = committed.changed() => {}
                () = tokio::time::sleep(POLL) => {}
                () = tokio::time::sleep_until(wake) => {}
                _ = self.stopping.changed() => {}
                () = self.tx.closed() => return,
            }
        }
    }
}

#[tonic::async_trait]
impl ChangeService for ChangeApi {
    type WatchChangesStream = WatchStream;

    #[tracing::instrument(skip_all, fields(start = request.get_ref().start_revision))]
    async fn watch_changes(
        &self,
        request: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let store = self.store.get()?.clone();
        let call = Call::of(&request);
        let pb::WatchChangesRequest {
            start_revision,
            resource_types,
            name_prefix,
            bookmark_seconds,
        } = request.into_inner();
        let bookmark = match bookmark_seconds {
            0 => Ok(BOOKMARK_SECONDS.0),
            s if (1..=BOOKMARK_SECONDS.1).contains(&s) => Ok(s),
            _ => Err(Error::invalid(
                "bookmark_seconds",
                format!(
                    "must be 0 (for {}) or 1 to {}",
                    BOOKMARK_SECONDS.0, BOOKMARK_SECONDS.1
                ),
            )),
        };
        let selection = selection(&call, start_revision, &resource_types, name_prefix);
        let (selection, bookmark) = match (selection, bookmark) {
            (Ok(s), Ok(b)) => (s, b),
            (Err(e), _) | (_, Err(e)) => return Err(status(e)),
        };
        // A start the feed no longer holds is refused before the stream begins.
        store
            .check_held(selection.start_revision)
            .await
            .map_err(status)?;
        let (tx, rx) = mpsc::channel(IN_FLIGHT);
        let watch = Watch {
            store,
            watcher: self.watchers.open(selection.start_revision.max(1) - 1),
            next: selection.start_revision.max(1),
            selection,
            bookmark: Duration::from_secs(u64::from(bookmark.unsigned_abs())),
            tx,
            stopping: self.stopping.clone(),
        };
        tokio::spawn(watch.run());
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    #[tracing::instrument(skip_all, fields(start = request.get_ref().start_revision))]
    async fn list_changes(
        &self,
        request: Request<pb::ListChangesRequest>,
    ) -> Result<Response<pb::ListChangesResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListChangesRequest {
            start_revision,
            resource_types,
            name_prefix,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            let start = start_revision.to_string();
            let types = resource_types.join(",");
            let fingerprint = [
                "changes",
                start.as_str(),
                types.as_str(),
                name_prefix.as_str(),
            ]
            .map(str::to_string);
            let selection = selection(&call, start_revision, &resource_types, name_prefix)?;
            let (_, head) = store.check_held(start_revision).await?;
            let query = list::query(
                page_size,
                page_token,
                Ok(selection),
                Ok(Vec::new()),
                false,
                &fingerprint.each_ref().map(String::as_str),
            )?;
            let page = list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store.changes(&query).await?.map(|c| to_proto(&c)))
            })
            .await?;
            Ok((head, page))
        }
        .await;
        let (
            head_revision,
            list::Listed {
                items: changes,
                next_page_token,
                ..
            },
        ) = Call::read(result)?;
        Ok(Response::new(pb::ListChangesResponse {
            changes,
            next_page_token,
            head_revision,
        }))
    }
}
