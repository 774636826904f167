//! The server's copies of what the register holds (verified tokens, organisations' deleted
//! state, classifier records and version lists), kept in step with the change feed instead of
//! trusted for a fixed time.
//!
//! - One task per server, [`follow`], reads every change after the last one it applied: woken
//!   by each commit of this process, on PostgreSQL by another server's (`NOTIFY`), and at the
//!   latest every [`POLL`](super::change::POLL). It tells every copy ([`Follows`]) what
//!   changed, and then advances [`Feed::applied`]. A copy is therefore never older than the
//!   feed's lag: a write through another server is forgotten here within a second, and on
//!   PostgreSQL within milliseconds.
//! - A write through this server also forgets what it made stale before it answers, so the
//!   caller's next read sees it (read-your-writes does not wait for the follower).
//! - A read that fills a copy from the database keeps what it read only if nothing was
//!   forgotten while it read ([`Guarded`]): a fill that raced a change never outlives it.
//! - While the follower cannot read the feed (the database is away, or it fell behind the
//!   feed's retention), it forgets everything, and again when it can read it again: nothing
//!   is kept that a missed change could have made stale.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use reestr_domain::Error;
use reestr_domain::change::{Change, ResourceType};
use reestr_store::{ChangeSelection, Store};
use tokio::sync::{broadcast, watch};

use super::change::POLL;

/// Changes the follower reads at most at once.
const BATCH: u64 = 1000;

/// A copy of something the register holds, forgotten as the feed says it changed.
pub trait Follows: Send + Sync {
    /// Forgets what `change` made stale.
    fn changed(&self, change: &Change);
    /// Forgets everything.
    fn forget_all(&self);
    /// What its caches hold and did, for the metrics.
    fn stats(&self) -> Vec<CacheStats>;
}

/// What one cache holds and did since the server started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// The cache's name in the metrics.
    pub name: &'static str,
    /// Entries held.
    pub entries: u64,
    /// Reads it answered.
    pub hits: u64,
    /// Reads it could not answer.
    pub misses: u64,
    /// Entries dropped to stay within its size.
    pub evictions: u64,
}

/// Where the follower stands, and what it read: every batch of changes it applies is also
/// published to the server's watchers, so that a watch that is up to date reads nothing from
/// the database (one read per commit for the whole server, not one per watcher).
#[derive(Debug)]
pub struct Feed {
    /// The newest revision applied; -1 until the follower has read where it starts (nothing
    /// is kept until then).
    applied: AtomicI64,
    published: broadcast::Sender<Arc<Batch>>,
}

/// Changes the follower read: every revision from `from` to `to`, all of them committed, with
/// the changes they hold (of every type).
#[derive(Debug)]
pub struct Batch {
    /// The first revision the batch covers.
    pub from: i64,
    /// The last revision it covers.
    pub to: i64,
    /// The changes of those revisions, in order.
    pub changes: Vec<Change>,
}

/// Batches a watcher may fall behind by before it reads the table instead.
const PUBLISHED: usize = 1024;

impl Default for Feed {
    fn default() -> Self {
        Self {
            applied: AtomicI64::new(-1),
            published: broadcast::channel(PUBLISHED).0,
        }
    }
}

impl Feed {
    /// The newest revision applied, once the follower has started.
    pub fn following(&self) -> Option<i64> {
        let applied = self.applied.load(Ordering::SeqCst);
        (applied >= 0).then_some(applied)
    }

    /// The batches the follower reads from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.published.subscribe()
    }

    /// The newest revision whose changes every copy has applied: a copy read after this is
    /// read reflects every change up to it (0 until the follower has started).
    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::SeqCst).max(0)
    }

    /// Whether answers kept now would be current for a caller of this process: the follower
    /// has started and applied every revision this process knows committed.
    fn current(&self, store: &Store) -> bool {
        let applied = self.applied.load(Ordering::SeqCst);
        applied >= 0 && applied >= store.newest_known_revision()
    }
}

/// A `moka` cache whose fills lose to the changes that race them: [`put`](Self::put) keeps a
/// value only if no [`forget`](Self::forget) or [`forget_all`](Self::forget_all) came after
/// the read began (at [`generation`](Self::generation)).
pub struct Guarded<K, V> {
    name: &'static str,
    generation: AtomicU64,
    entries: moka::sync::Cache<K, V>,
    hits: Striped,
    misses: Striped,
    evictions: Arc<AtomicU64>,
}

/// A counter that many threads add to on every call without fighting over one cache line:
/// each thread adds to one of [`STRIPES`] padded counters, and a read sums them.
#[derive(Debug, Default)]
pub struct Striped([Stripe; STRIPES]);

/// Counters of a [`Striped`].
const STRIPES: usize = 8;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

impl Striped {
    /// Adds one.
    pub fn add(&self) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
            };
        }
        let stripe = STRIPE.with(|s| *s);
        self.0[stripe].0.fetch_add(1, Ordering::Relaxed);
    }

    /// The sum.
    pub fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

impl<K, V> std::fmt::Debug for Guarded<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("generation", &self.generation)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl<K, V> Guarded<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache named `name` (in the metrics) of at most `max` entries (the least recently
    /// used go first).
    pub fn new(name: &'static str, max: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let evicted = evictions.clone();
        Self {
            name,
            generation: AtomicU64::new(0),
            entries: moka::sync::Cache::builder()
                .max_capacity(max)
                .eviction_listener(move |_, _, cause| {
                    if cause == moka::notification::RemovalCause::Size {
                        evicted.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .build(),
            hits: Striped::default(),
            misses: Striped::default(),
            evictions,
        }
    }

    /// What it holds and did.
    pub fn stats(&self) -> CacheStats {
        // The entry count follows inserts and removals once their pending work is done.
        self.entries.run_pending_tasks();
        CacheStats {
            name: self.name,
            entries: self.entries.entry_count(),
            hits: self.hits.get(),
            misses: self.misses.get(),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// The generation to pass to [`put`](Self::put) by a read that begins now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The value kept for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let found = self.entries.get(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.add();
        found
    }

    /// Keeps `value`, read by a read that began at `generation`, unless something was
    /// forgotten since. A forget between the check and the insert is caught by the second
    /// check; one after the insert removes the entry itself.
    pub fn put(&self, generation: u64, key: K, value: V) {
        if self.generation() != generation {
            return;
        }
        self.entries.insert(key.clone(), value);
        if self.generation() != generation {
            self.entries.invalidate(&key);
        }
    }

    /// Forgets `key`.
    pub fn forget(&self, key: &K) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate(key);
    }

    /// Forgets everything.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }
}

/// What reads of one resource type answered, kept for the next reads until the change feed
/// says that resource changed: point reads by name (GetSystem, GetOrganization), or first
/// pages of lists by request, all forgotten at any change of the type.
///
/// **Read-your-writes.** A kept answer is used only while the follower has applied every
/// revision this process knows committed ([`Store::newest_known_revision`]): after a write
/// through this server, reads go to the database until the follower has applied it (at once:
/// the commit wakes it). Another server's write is applied within the feed's lag.
pub struct Answers<V> {
    resource_type: ResourceType,
    /// Every answer is forgotten at any change of the type (lists), not only the one named.
    whole: bool,
    entries: Guarded<String, V>,
    feed: Arc<Feed>,
}

impl<V> std::fmt::Debug for Answers<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("resource_type", &self.resource_type)
            .field("entries", &self.entries)
            .finish()
    }
}

/// Answers kept per kind at most.
const ANSWERS_MAX: u64 = 10_000;

impl<V: Clone + Send + Sync + 'static> Answers<V> {
    /// Point reads of `resource_type`, keyed by resource name; `name` in the metrics.
    pub fn by_name(name: &'static str, resource_type: ResourceType, feed: Arc<Feed>) -> Self {
        Self {
            resource_type,
            whole: false,
            entries: Guarded::new(name, ANSWERS_MAX),
            feed,
        }
    }

    /// Lists of `resource_type`, keyed by the whole request; any change of the type forgets
    /// them all; `name` in the metrics.
    pub fn lists(name: &'static str, resource_type: ResourceType, feed: Arc<Feed>) -> Self {
        Self {
            resource_type,
            whole: true,
            entries: Guarded::new(name, ANSWERS_MAX),
            feed,
        }
    }

    /// The answer kept for `key`, or what `read` answers (then kept, unless a change raced
    /// it). Errors are not kept.
    pub async fn get_or_read<F, Fut>(&self, store: &Store, key: &str, read: F) -> Result<V, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, Error>>,
    {
        let current = self.feed.current(store);
        if current && let Some(kept) = self.entries.get(&key.to_string()) {
            return Ok(kept);
        }
        let generation = self.entries.generation();
        let answer = read().await?;
        if current {
            self.entries
                .put(generation, key.to_string(), answer.clone());
        }
        Ok(answer)
    }
}

impl<V: Clone + Send + Sync + 'static> Answers<V> {
    /// A list's page: a first page (no `page_token`) is the one kept for the same request
    /// (`request`: every field but the token) or what `read` answers; later pages are always
    /// read.
    pub async fn first_page_or_read<F, Fut>(
        &self,
        store: &Store,
        page_token: &str,
        request: &[&str],
        read: F,
    ) -> Result<V, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, Error>>,
    {
        if page_token.is_empty() {
            self.get_or_read(store, &request.join("\u{1f}"), read).await
        } else {
            read().await
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Follows for Answers<V> {
    fn changed(&self, change: &Change) {
        if change.resource_type != self.resource_type {
            return;
        }
        if self.whole {
            self.entries.forget_all();
        } else {
            self.entries.forget(&change.resource);
        }
    }

    fn forget_all(&self) {
        self.entries.forget_all();
    }

    fn stats(&self) -> Vec<CacheStats> {
        vec![self.entries.stats()]
    }
}

/// Applies the change feed to `copies` from the head at its start until the server stops (it
/// aborts the task). Calls may have filled copies before it read that head: it forgets them
/// then, so that what is kept reflects at least the head, and every change after it is
/// applied.
pub async fn follow(store: Store, feed: Arc<Feed>, copies: Vec<Arc<dyn Follows>>) {
    let forget_all = || copies.iter().for_each(|c| c.forget_all());
    let mut committed: watch::Receiver<i64> = store.committed();
    let every = ChangeSelection::default();
    let mut lost = false;
    let start = loop {
        match store.head_revision().await {
            Ok(head) => break head,
            Err(_) => tokio::time::sleep(POLL).await,
        }
    };
    forget_all();
    feed.applied.store(start, Ordering::SeqCst);
    loop {
        let applied = feed.applied.load(Ordering::SeqCst);
        let read = async {
            let (_, head) = store.check_held(applied + 1).await?;
            let changes = store.changes_after(&every, applied, BATCH).await?;
            Ok::<_, Error>((head, changes))
        }
        .await;
        match read {
            Ok((head, changes)) => {
                if lost {
                    // Changes may have gone by unseen: nothing kept can be trusted.
                    forget_all();
                    lost = false;
                }
                for change in &changes {
                    copies.iter().for_each(|c| c.changed(change));
                }
                let full = u64::try_from(changes.len()).unwrap_or(u64::MAX) >= BATCH;
                // A full batch may end before the head; one that is not has every change up
                // to the head (read before it) and perhaps a few after.
                let newest = match changes.last() {
                    Some(last) if full => last.revision,
                    last => last.map_or(head, |c| c.revision.max(head)),
                }
                .max(applied);
                feed.applied.store(newest, Ordering::SeqCst);
                if newest > applied {
                    // No receiver (no watcher) is not an error.
                    let _ = feed.published.send(Arc::new(Batch {
                        from: applied + 1,
                        to: newest,
                        changes,
                    }));
                }
                if full {
                    continue;
                }
            }
            Err(Error::Compacted { .. }) => {
                tracing::warn!("the change feed moved past this server's copies: forgetting them");
                forget_all();
                if let Ok(head) = store.head_revision().await {
                    feed.applied.store(head, Ordering::SeqCst);
                }
                continue;
            }
            Err(e) => {
                if !lost {
                    tracing::warn!(error = %e, "cannot read the change feed: forgetting the copies until it can");
                    forget_all();
                    lost = true;
                }
            }
        }
        tokio::select! {
            _ = committed.changed() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_began_before_a_forget_is_not_kept() {
        let cache: Guarded<&str, i32> = Guarded::new("test", 10);
        let began = cache.generation();
        cache.forget(&"a");
        cache.put(began, "a", 1);
        assert_eq!(cache.get(&"a"), None);
        let again = cache.generation();
        cache.put(again, "a", 2);
        assert_eq!(cache.get(&"a"), Some(2));
        cache.forget_all();
        assert_eq!(cache.get(&"a"), None);
    }
}
