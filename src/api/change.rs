//! `reestr.v1.ChangeService`: the change feed (see `proto/reestr/v1/change.proto` for what it
//! promises, and `reestr_store`'s `change` module for how revisions stay gap-free).
//!
//! Changes older than the server's retention are removed (`server::compact_changes`); a list
//! or watch that starts before the oldest one held, or a watcher that falls that far behind,
//! is OUT_OF_RANGE (`REVISION_COMPACTED`), with the oldest revision held in the metadata.
//!
//! A watch is one task per stream. While it is behind, it reads the table: the history from
//! `start_revision` in batches of whole revisions. Once it has caught up with the server's
//! follower (`super::fresh`), which reads every change as it commits (woken by this process's
//! commits and, on PostgreSQL, by other servers' notifications; at the latest every [`POLL`]),
//! it takes what it selects from the batches the follower publishes: a thousand watchers cost
//! one read of the table per commit, not a thousand. A watch that misses batches (it was slow
//! to take them) or sees one begin past where it stands reads the table again from where it
//! is, so nothing is lost and nothing comes twice. The stream is a channel of [`IN_FLIGHT`]
//! messages: a watcher that stops reading holds at most that many messages in the server, and
//! its task waits until it reads again or goes away. A database that stops answering (a
//! restart) leaves the stream open: an up-to-date watch waits for the follower, and one that
//! reads the table tries again every [`POLL`] for up to [`OUTAGE`]. The table is the only
//! truth.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reestr_domain::Error;
use reestr_domain::access::Action;
use reestr_domain::change::{Change, ResourceType};
use reestr_domain::classifier::ClassifierId;
use reestr_domain::error::{Reason, Violations};
use reestr_domain::organization::OrganizationId;
use reestr_store::{ChangeSelection, Store};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::call::Call;
use super::error::status;
use super::fresh::{Batch, Feed};
use super::{ReadyStore, list, number, timestamp};
use crate::proto::v1 as pb;
use crate::proto::v1::change_service_server::ChangeService;

/// The longest a watch waits before it reads the table again, whatever woke it.
pub const POLL: Duration = Duration::from_secs(1);

/// Changes one watch message read from the table carries at most (whole revisions: one big
/// revision may add more).
const BATCH: u64 = 2000;

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
    feed: Arc<Feed>,
}

impl ChangeApi {
    /// A service over the store; `stopping` turns true when the server shuts down; the open
    /// watches are counted in `watchers`; up-to-date watches take what the server's follower
    /// reads from `feed`.
    pub fn new(
        store: ReadyStore,
        stopping: watch::Receiver<bool>,
        watchers: Arc<Watchers>,
        feed: Arc<Feed>,
    ) -> Self {
        Self {
            store,
            stopping,
            watchers,
            feed,
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

/// The filters of a WatchChanges or ListChanges request, as it gives them.
struct Filters<'r> {
    start_revision: i64,
    resource_types: &'r [String],
    name_prefix: String,
    classifier: &'r str,
    owner: &'r str,
    reviewer: &'r str,
}

/// What a request selects, checked. Registry administrators may select every type; other
/// callers the public ones ([`ResourceType::public`]), and the submissions (with their
/// documents, remarks and comments) of which their own organisation is the `owner` or the
/// `reviewer` the request filters by. Asking for another type is PERMISSION_DENIED.
fn selection(call: &Call, filters: Filters<'_>) -> Result<ChangeSelection, Error> {
    let Filters {
        start_revision,
        resource_types,
        name_prefix,
        classifier,
        owner,
        reviewer,
    } = filters;
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
    let classifier = if classifier.is_empty() {
        None
    } else {
        v.check(ClassifierId::from_name(classifier, "classifier"))
            .map(|id| id.name())
    };
    let mut organization = |name: &str, field: &str| {
        if name.is_empty() {
            None
        } else {
            v.check(OrganizationId::from_name(name, field))
                .map(|id| id.as_str().to_string())
        }
    };
    let owner = organization(owner, "owner");
    let reviewer = organization(reviewer, "reviewer");
    v.into_result()?;
    let admin = call.authorize(Action::ReadAudit).is_ok();
    if !admin {
        // A party to submissions follows theirs: the filter that makes them a party keeps
        // the rest out.
        let own = call
            .caller
            .organization
            .as_ref()
            .map(OrganizationId::as_str);
        let party = own.is_some() && (owner.as_deref() == own || reviewer.as_deref() == own);
        let allowed = |t: &ResourceType| t.public() || (party && t.of_submission());
        if let Some(t) = types.iter().find(|t| !allowed(t)) {
            return Err(Error::PermissionDenied {
                reason: Reason::PermissionDenied,
                action: "read the changes of submissions and tokens".into(),
                message: format!(
                    "only registry administrators see the changes of {t} resources (a \
                     submission's parties see theirs, filtering by their own organisation as \
                     owner or reviewer)"
                ),
            });
        }
        if types.is_empty() {
            types = ResourceType::ALL.into_iter().filter(allowed).collect();
        }
    }
    Ok(ChangeSelection {
        start_revision,
        types,
        name_prefix,
        classifier,
        owner,
        reviewer,
    })
}

fn kind_number(name: &str) -> Option<i32> {
    pb::ChangeKind::from_str_name(name).map(|k| k as i32)
}

/// The message of a change read from the table (moved, not copied).
fn into_proto(c: Change) -> pb::Change {
    let resource_type = c.resource_type.as_str().to_string();
    let kind = number(c.kind, kind_number);
    let change_time = Some(timestamp(c.change_time));
    pb::Change {
        revision: c.revision,
        position: c.position,
        resource: c.resource,
        resource_type,
        kind,
        method: c.method,
        caller: c.caller,
        change_time,
        owner: c.owner.map(|o| organization_name(&o)).unwrap_or_default(),
        reviewers: c.reviewers.iter().map(organization_name).collect(),
        etag: c.etag,
    }
}

/// `organizations/{id}`.
fn organization_name(id: &impl AsRef<str>) -> String {
    let id = id.as_ref();
    let mut name = String::with_capacity(14 + id.len());
    name.push_str("organizations/");
    name.push_str(id);
    name
}

/// The message of a change shared with other watches (the follower's batches).
fn to_proto(c: &Change) -> pb::Change {
    into_proto(c.clone())
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
    feed: Arc<Feed>,
    /// The next read of the history, started while the last full batch is sent (a catch-up
    /// reads the table and sends to the client at once), and the revision it reads after.
    ahead: Option<(i64, tokio::task::JoinHandle<Result<TableRead, Error>>)>,
}

/// What one read of the table found: the head revision, and the selected changes after the
/// revision it read from.
type TableRead = (i64, Vec<Change>);

/// Reads the changes `selection` selects after revision `after` (at most [`BATCH`], whole
/// revisions), once the feed is known to hold `after + 1`.
async fn read_after(
    store: Store,
    selection: ChangeSelection,
    after: i64,
) -> Result<TableRead, Error> {
    // The head first: what committed up to it is in the read that follows. A watcher that
    // fell behind the feed's retention is told so (and where the feed begins).
    let (_, head) = store.check_held(after + 1).await?;
    let changes = store.changes_after(&selection, after, BATCH).await?;
    Ok((head, changes))
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some((_, read)) = self.ahead.take() {
            read.abort();
        }
    }
}

impl Watch {
    async fn run(mut self) {
        // Subscribed before anything is read, so that no batch the follower publishes while
        // the history is read is missed.
        let mut live = self.feed.subscribe();
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
            // Behind the follower (or no follower yet): read the table.
            let applied = self.feed.following();
            if applied.is_none_or(|applied| self.next <= applied) {
                match self.read_table(&mut last_sent, &mut unanswered_since).await {
                    Step::More => continue,
                    Step::Wait => {}
                    Step::End => return,
                }
            }
            let wake = last_sent + self.bookmark;
            tokio::select! {
                batch = live.recv() => match batch {
                    Ok(batch) => {
                        if !self.deliver(&batch, &mut last_sent).await {
                            return;
                        }
                    }
                    // Batches were missed (this watcher was slow to take them): the next turn
                    // reads the table from where it is.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep(POLL).await;
                    }
                },
                // Without a follower, a commit of this process is the wake-up; with one, its
                // batch is (waking a thousand watches for each commit twice was the waste).
                _ = committed.changed(), if applied.is_none() => {}
                () = tokio::time::sleep(POLL) => {}
                () = tokio::time::sleep_until(wake) => {
                    // Up to date and quiet: a bookmark at the newest revision applied.
                    if let Some(applied) = self.feed.following()
                        && self.next > applied
                        && last_sent.elapsed() >= self.bookmark
                    {
                        let head = self.next - 1;
                        if !self.send(pb::WatchChangesResponse { changes: Vec::new(), head_revision: head }, &mut last_sent).await {
                            return;
                        }
                    }
                }
                _ = self.stopping.changed() => {}
                () = self.tx.closed() => return,
            }
        }
    }

    /// Sends `message`; false when the client has gone.
    async fn send(&mut self, message: pb::WatchChangesResponse, last_sent: &mut Instant) -> bool {
        let delivered = message.head_revision;
        if self.tx.send(Ok(message)).await.is_err() {
            return false;
        }
        self.watcher.delivered(delivered);
        *last_sent = Instant::now();
        true
    }

    /// Sends what `batch` (revisions the follower read) holds for this watch from `next` on;
    /// a batch that begins after `next` is left for the table. False when the client has gone.
    async fn deliver(&mut self, batch: &Batch, last_sent: &mut Instant) -> bool {
        if batch.to < self.next || batch.from > self.next {
            return true;
        }
        let changes: Vec<pb::Change> = batch
            .changes
            .iter()
            .filter(|c| c.revision >= self.next && self.selection.matches(c))
            .map(to_proto)
            .collect();
        self.next = batch.to + 1;
        if changes.is_empty() {
            return true;
        }
        self.send(
            pb::WatchChangesResponse {
                changes,
                head_revision: batch.to,
            },
            last_sent,
        )
        .await
    }

    /// One read of the table from `next`: the history, or what the follower has not read yet.
    async fn read_table(
        &mut self,
        last_sent: &mut Instant,
        unanswered_since: &mut Option<Instant>,
    ) -> Step {
        let after = self.next - 1;
        let read = match self.ahead.take() {
            Some((from, read)) if from == after => read.await.unwrap_or_else(|e| {
                Err(Error::Internal(format!("a read of the feed failed: {e}")))
            }),
            ahead => {
                if let Some((_, read)) = ahead {
                    read.abort();
                }
                read_after(self.store.clone(), self.selection.clone(), after).await
            }
        };
        let (head, changes) = match read {
            Ok(read) => {
                *unanswered_since = None;
                read
            }
            // The database is away for a while (restarting, a connection lost): the stream
            // stays open and the same read is tried again, so the watcher misses nothing and
            // needs to do nothing.
            Err(Error::Unavailable(why))
                if unanswered_since.get_or_insert_with(Instant::now).elapsed() < OUTAGE =>
            {
                tracing::debug!(error = %why, "watch: the database does not answer; again in 1 s");
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    _ = self.stopping.changed() => {}
                    () = self.tx.closed() => return Step::End,
                }
                return Step::More;
            }
            Err(e) => {
                let _ = self.tx.send(Err(status(e))).await;
                return Step::End;
            }
        };
        let more = u64::try_from(changes.len()).unwrap_or(u64::MAX) >= BATCH;
        let message = match changes.last() {
            Some(last) => {
                self.next = last.revision + 1;
                if more {
                    // A catch-up: read the next batch while this one is sent.
                    let after = self.next - 1;
                    let read = read_after(self.store.clone(), self.selection.clone(), after);
                    self.ahead = Some((after, tokio::spawn(read)));
                }
                Some(pb::WatchChangesResponse {
                    head_revision: head.max(last.revision),
                    changes: changes.into_iter().map(into_proto).collect(),
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
        if let Some(message) = message
            && !self.send(message, last_sent).await
        {
            return Step::End;
        }
        if more { Step::More } else { Step::Wait }
    }
}

/// What a watch does after a read of the table.
enum Step {
    /// Read again at once: the batch was full.
    More,
    /// Wait for something new.
    Wait,
    /// The stream is over.
    End,
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
            classifier,
            owner,
            reviewer,
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
        let selection = selection(
            &call,
            Filters {
                start_revision,
                resource_types: &resource_types,
                name_prefix,
                classifier: &classifier,
                owner: &owner,
                reviewer: &reviewer,
            },
        );
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
            feed: self.feed.clone(),
            next: selection.start_revision.max(1),
            selection,
            bookmark: Duration::from_secs(u64::from(bookmark.unsigned_abs())),
            tx,
            stopping: self.stopping.clone(),
            ahead: None,
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
            classifier,
            owner,
            reviewer,
        } = request.into_inner();
        let result = async {
            let start = start_revision.to_string();
            let types = resource_types.join(",");
            let fingerprint = [
                "changes",
                start.as_str(),
                types.as_str(),
                name_prefix.as_str(),
                classifier.as_str(),
                owner.as_str(),
                reviewer.as_str(),
            ]
            .map(str::to_string);
            let selection = selection(
                &call,
                Filters {
                    start_revision,
                    resource_types: &resource_types,
                    name_prefix,
                    classifier: &classifier,
                    owner: &owner,
                    reviewer: &reviewer,
                },
            )?;
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
