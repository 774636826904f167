//! Classifier content in memory: the hot path of every lookup.
//!
//! A [`LoadedVersion`] holds one version's items as their canonical encodings (the bytes the
//! database stores and the content hash certifies), back to back in code order, with compact
//! indexes beside them: item offsets, each item's parent, level and status, the children of
//! every item, and the names folded for search. A lookup is a binary search and one decode;
//! nothing else is allocated per item, so a version costs little more than its encoded size
//! (BENCHMARKS.md measures the ratio).
//!
//! [`VersionCache`] keeps loaded versions under a memory budget and evicts the least recently
//! used when a new one does not fit (a `moka` cache weighed in KiB, LRU eviction, so a version
//! just loaded is always admitted). Concurrent first reads of one version load it once; first
//! reads of different versions load side by side. Published versions never change, so an entry
//! of one is valid forever. A draft's entry is keyed by the draft's revision too: every write to
//! the draft makes a new key, and the stale entry ages out.
//!
//! [`MetaCache`] keeps each classifier's record and version list so that resolving `latest` or
//! `as_of` does not query the database on every lookup, until the change feed says the
//! classifier or one of its versions changed (`crate::api::fresh`): writes through this server
//! drop the entry at once, a write through another server within the feed's lag.

use std::sync::Arc;
use std::time::Instant;

use moka::policy::EvictionPolicy;

use reestr_domain::Error;
use reestr_domain::change::{Change, ResourceType};
use reestr_domain::classifier::{
    Classifier, ClassifierId, Item, ItemSource, ItemStatus, Timeline, Version, VersionId,
    VersionState, decode_item, encoded_code,
};
use reestr_domain::text::fold;
use reestr_store::Store;

use crate::api::fresh::{Follows, Guarded};

/// Items read from the database per query while a version loads.
const LOAD_BATCH: u64 = 5000;

/// "No parent" (top level) in the parent index.
const NONE: u32 = u32::MAX;
/// "Parent code not in the version" in the parent index (only drafts can have it).
const MISSING: u32 = u32::MAX - 1;

/// Separates the folded names of one item in the search text (never part of a name: names
/// refuse control characters).
const NAME_SEPARATOR: char = '\u{1f}';

/// One version's items in memory.
#[derive(Debug)]
pub struct LoadedVersion {
    /// The encodings, back to back, in ascending byte order of code.
    data: Vec<u8>,
    /// `offsets[i]..offsets[i + 1]` is item `i` in `data`; one more entry than items.
    offsets: Vec<u32>,
    /// Index of each item's parent; [`NONE`] at the top level, [`MISSING`] when the parent
    /// code is not in the version.
    parents: Vec<u32>,
    /// Each item's level (1 at the top) or 0 when its parent chain is broken or cyclic (only
    /// drafts can be so), and its status in the high bit.
    flags: Vec<u8>,
    /// Items grouped by parent: the children of item `i` are
    /// `children[child_start[i]..child_start[i + 1]]`; the top-level items are
    /// `children[child_start[n]..]`. Each group is in code order. Items whose parent is
    /// missing are in no group.
    children: Vec<u32>,
    /// See `children`; `n + 2` entries.
    child_start: Vec<u32>,
    /// Every item's names, folded ([`fold`]), each preceded by [`NAME_SEPARATOR`].
    search: String,
    /// `search_offsets[i]..search_offsets[i + 1]` is item `i` in `search`.
    search_offsets: Vec<u32>,
}

const DEPRECATED_BIT: u8 = 0x80;

impl LoadedVersion {
    /// Builds the indexes over `encoded` items, given in ascending code order.
    pub fn build(encoded: Vec<Vec<u8>>) -> Result<LoadedVersion, Error> {
        let mut builder = Builder::default();
        for item in encoded {
            builder.push(&item)?;
        }
        builder.finish()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether the version has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the items' encodings alone.
    pub fn encoded_bytes(&self) -> usize {
        self.data.len()
    }

    /// Bytes this version occupies in memory, indexes included.
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity()
            + self.offsets.capacity() * 4
            + self.parents.capacity() * 4
            + self.flags.capacity()
            + self.children.capacity() * 4
            + self.child_start.capacity() * 4
            + self.search.capacity()
            + self.search_offsets.capacity() * 4
            + std::mem::size_of::<Self>()
    }

    /// The encoding of item `i`.
    pub fn encoded(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// The code of item `i`.
    pub fn code(&self, i: usize) -> &str {
        encoded_code(self.encoded(i)).unwrap_or_default()
    }

    /// Item `i`, decoded.
    pub fn item(&self, i: usize) -> Result<Item, Error> {
        decode_item(self.encoded(i))
    }

    /// The index of `code`.
    pub fn find(&self, code: &str) -> Option<usize> {
        let mut lo = 0;
        let mut hi = self.len();
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.code(mid).as_bytes().cmp(code.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The first index whose code is greater than `code` (byte order).
    pub fn after(&self, code: &str) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.code(mid).as_bytes() <= code.as_bytes() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The first index whose code is at least `code` (byte order).
    pub fn at_or_after(&self, code: &str) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.code(mid).as_bytes() < code.as_bytes() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The parent index of item `i`.
    pub fn parent(&self, i: usize) -> Option<usize> {
        match self.parents[i] {
            NONE | MISSING => None,
            p => Some(p as usize),
        }
    }

    /// The level of item `i` (1 at the top), or 0 when its parent chain is broken.
    pub fn level(&self, i: usize) -> u32 {
        u32::from(self.flags[i] & !DEPRECATED_BIT)
    }

    /// The status of item `i`.
    pub fn status(&self, i: usize) -> ItemStatus {
        if self.flags[i] & DEPRECATED_BIT != 0 {
            ItemStatus::Deprecated
        } else {
            ItemStatus::Active
        }
    }

    /// The children of item `i` (or the top-level items for `None`), in code order.
    pub fn children(&self, parent: Option<usize>) -> &[u32] {
        let n = self.len();
        let group = parent.unwrap_or(n);
        &self.children[self.child_start[group] as usize..self.child_start[group + 1] as usize]
    }

    /// Item `i`'s names, folded and separated (see [`NAME_SEPARATOR`]).
    pub fn search_text(&self, i: usize) -> &str {
        &self.search[self.search_offsets[i] as usize..self.search_offsets[i + 1] as usize]
    }

    /// Whether a name of item `i` contains `folded` (already [`fold`]ed), or with `prefix`,
    /// starts with it.
    pub fn name_matches(&self, i: usize, folded: &str, prefix: bool) -> bool {
        let text = self.search_text(i);
        if prefix {
            text.split(NAME_SEPARATOR)
                .any(|name| name.starts_with(folded))
        } else {
            text.contains(folded)
        }
    }
}

/// Publication validates a draft over the version it holds, decoding one item at a time
/// (`reestr_domain::classifier::validate_items`).
impl ItemSource for LoadedVersion {
    type Error = Error;

    fn len(&self) -> usize {
        LoadedVersion::len(self)
    }

    fn code(&self, i: usize) -> &str {
        LoadedVersion::code(self, i)
    }

    fn item(&self, i: usize) -> Result<std::borrow::Cow<'_, Item>, Error> {
        LoadedVersion::item(self, i).map(std::borrow::Cow::Owned)
    }
}

/// Accumulates a [`LoadedVersion`] item by item.
#[derive(Default)]
pub struct Builder {
    data: Vec<u8>,
    offsets: Vec<u32>,
    parent_codes: Vec<Option<Box<str>>>,
    deprecated: Vec<bool>,
    search: String,
    search_offsets: Vec<u32>,
}

fn offset(n: usize) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| Error::Internal("version too large to hold in memory".into()))
}

impl Builder {
    /// Adds the next item (codes must ascend).
    pub fn push(&mut self, encoded: &[u8]) -> Result<(), Error> {
        let item = decode_item(encoded)?;
        if self.offsets.is_empty() {
            self.offsets.push(0);
            self.search_offsets.push(0);
        }
        self.data.extend_from_slice(encoded);
        self.offsets.push(offset(self.data.len())?);
        self.parent_codes
            .push(item.parent.map(|p| p.as_str().into()));
        self.deprecated.push(item.status == ItemStatus::Deprecated);
        for name in item.names.values() {
            self.search.push(NAME_SEPARATOR);
            self.search.push_str(&fold(name));
        }
        self.search_offsets.push(offset(self.search.len())?);
        Ok(())
    }

    /// The version with its indexes.
    pub fn finish(mut self) -> Result<LoadedVersion, Error> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
            self.search_offsets.push(0);
        }
        let n = self.parent_codes.len();
        self.data.shrink_to_fit();
        self.search.shrink_to_fit();
        let mut version = LoadedVersion {
            data: self.data,
            offsets: self.offsets,
            parents: Vec::with_capacity(n),
            flags: vec![0; n],
            children: Vec::new(),
            child_start: Vec::new(),
            search: self.search,
            search_offsets: self.search_offsets,
        };
        for code in &self.parent_codes {
            let p = match code.as_deref() {
                None => NONE,
                Some(c) => match version.find(c) {
                    Some(i) => offset(i)?,
                    None => MISSING,
                },
            };
            version.parents.push(p);
        }
        drop(self.parent_codes);
        version.flags = levels(&version.parents);
        for (flag, deprecated) in version.flags.iter_mut().zip(self.deprecated) {
            if deprecated {
                *flag |= DEPRECATED_BIT;
            }
        }
        // Group by parent (the top level last), keeping code order inside each group.
        let group = |i: usize| match version.parents[i] {
            NONE => Some(n),
            MISSING => None,
            p => Some(p as usize),
        };
        let mut counts = vec![0u32; n + 2];
        for i in 0..n {
            if let Some(g) = group(i) {
                counts[g + 1] += 1;
            }
        }
        for g in 0..=n {
            counts[g + 1] += counts[g];
        }
        let mut next = counts.clone();
        let mut children = vec![0u32; counts[n + 1] as usize];
        for i in 0..n {
            if let Some(g) = group(i) {
                children[next[g] as usize] = offset(i)?;
                next[g] += 1;
            }
        }
        version.children = children;
        version.child_start = counts;
        Ok(version)
    }
}

/// Levels (1 at the top, 0 for a broken or cyclic chain), without recursion.
fn levels(parents: &[u32]) -> Vec<u8> {
    const UNKNOWN: u8 = 0xff;
    const ON_PATH: u8 = 0xfe;
    let mut level = vec![UNKNOWN; parents.len()];
    let mut path = Vec::new();
    for start in 0..parents.len() {
        if level[start] != UNKNOWN {
            continue;
        }
        let mut i = start;
        // The level of the node above the topmost one on the path: Some(0) above the top
        // level, None when the chain is broken (a missing parent or a cycle).
        let above: Option<u8> = loop {
            match level[i] {
                UNKNOWN => {}
                ON_PATH | 0 => break None,
                known => break Some(known),
            }
            level[i] = ON_PATH;
            path.push(i);
            match parents[i] {
                NONE => break Some(0),
                MISSING => break None,
                p => i = p as usize,
            }
        };
        let mut up = above;
        for &node in path.iter().rev() {
            up = up.map(|l| l.saturating_add(1).min(0x7f));
            level[node] = up.unwrap_or(0);
        }
        path.clear();
    }
    level
}

/// Versions in memory under a byte budget, least recently used evicted first.
#[derive(Debug)]
pub struct VersionCache {
    budget: usize,
    /// Entries by [`slot`]; each holds its full key, checked on lookup (the hot path hashes the
    /// identity without copying it).
    entries: moka::future::Cache<u64, Arc<Entry>>,
}

/// A version's identity in the cache: (classifier, version, creation time, revision). The
/// revision makes every state of a draft its own entry, and the creation time tells a draft from
/// an earlier, discarded draft of the same id.
type CacheKey = (ClassifierId, VersionId, i64, i64);

fn key_of(version: &Version, revision: i64) -> CacheKey {
    (
        version.classifier.clone(),
        version.id.clone(),
        version.create_time.micros(),
        revision,
    )
}

/// The hash entries are filed under, computed without copying the identity.
fn slot(classifier: &str, version: &str, create_time: i64, revision: i64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (classifier, version, create_time, revision).hash(&mut h);
    h.finish()
}

fn slot_of(key: &CacheKey) -> u64 {
    slot(key.0.as_str(), key.1.as_str(), key.2, key.3)
}

fn same(key: &CacheKey, version: &Version, revision: i64) -> bool {
    key.0 == version.classifier
        && key.1 == version.id
        && key.2 == version.create_time.micros()
        && key.3 == revision
}

#[derive(Debug)]
struct Entry {
    key: CacheKey,
    version: Arc<LoadedVersion>,
}

/// An entry's weight: its heap bytes in KiB, rounded up (moka weighs in `u32`).
fn weight_of(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// What the cache holds, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Versions held.
    pub versions: usize,
    /// Bytes held.
    pub bytes: usize,
    /// The budget.
    pub budget: usize,
}

impl VersionCache {
    /// A cache holding at most `budget` bytes (a version larger than the whole budget is
    /// served but not kept).
    pub fn new(budget: usize) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity((budget / 1024) as u64)
            .weigher(|_, e: &Arc<Entry>| weight_of(e.version.heap_bytes()))
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(|_, e: Arc<Entry>, cause| {
                tracing::debug!(
                    classifier = %e.key.0, version = %e.key.1, bytes = e.version.heap_bytes(),
                    ?cause, "a classifier version left memory"
                );
            })
            .build();
        Self { budget, entries }
    }

    async fn lookup(&self, version: &Version, revision: i64) -> Option<Arc<LoadedVersion>> {
        let slot = slot(
            version.classifier.as_str(),
            version.id.as_str(),
            version.create_time.micros(),
            revision,
        );
        let entry = self.entries.get(&slot).await?;
        same(&entry.key, version, revision).then(|| entry.version.clone())
    }

    /// The items of `version` (at its current revision), loaded from the store on first use.
    pub async fn get(&self, store: &Store, version: &Version) -> Result<Arc<LoadedVersion>, Error> {
        if let Some(v) = self.lookup(version, version.revision).await {
            return Ok(v);
        }
        let key = key_of(version, version.revision);
        let slot = slot_of(&key);
        let entry = self
            .entries
            .try_get_with(slot, async {
                let loaded = load(store, &version.classifier, &version.id).await?;
                Ok::<_, Error>(Arc::new(Entry {
                    key: key.clone(),
                    version: Arc::new(loaded),
                }))
            })
            .await
            .map_err(|e| (*e).clone())?;
        if entry.key == key {
            return Ok(entry.version.clone());
        }
        // Another identity with the same hash holds the slot: serve this one uncached.
        Ok(Arc::new(
            load(store, &version.classifier, &version.id).await?,
        ))
    }

    async fn insert(&self, key: CacheKey, version: Arc<LoadedVersion>) {
        if version.heap_bytes() > self.budget {
            return;
        }
        self.entries
            .insert(slot_of(&key), Arc::new(Entry { key, version }))
            .await;
    }

    /// Keeps `content`, loaded for `version`, under the version's new revision: publication
    /// changes the revision but not the items.
    pub async fn rekey(&self, version: &Version, revision: i64, content: Arc<LoadedVersion>) {
        self.entries
            .invalidate(&slot_of(&key_of(version, version.revision)))
            .await;
        self.insert(key_of(version, revision), content).await;
    }

    /// What the cache holds now (after the cache's pending evictions are applied).
    pub async fn stats(&self) -> CacheStats {
        self.entries.run_pending_tasks().await;
        let (versions, bytes) = self
            .entries
            .iter()
            .fold((0, 0), |(n, b), (_, e)| (n + 1, b + e.version.heap_bytes()));
        CacheStats {
            versions,
            bytes,
            budget: self.budget,
        }
    }
}

/// Reads a version's items from the store in code order.
pub async fn load(
    store: &Store,
    classifier: &ClassifierId,
    version: &VersionId,
) -> Result<LoadedVersion, Error> {
    let started = Instant::now();
    let repo = store.classifiers();
    let mut builder = Builder::default();
    let mut after: Option<String> = None;
    loop {
        let batch = repo
            .scan_items(classifier, version, after.as_deref(), LOAD_BATCH)
            .await?;
        let Some(last) = batch.last() else { break };
        after = encoded_code(last).map(str::to_string);
        let done = (batch.len() as u64) < LOAD_BATCH;
        for item in &batch {
            builder.push(item)?;
        }
        if done {
            break;
        }
    }
    let loaded = builder.finish()?;
    tracing::info!(
        %classifier, %version, items = loaded.len(), bytes = loaded.heap_bytes(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded a classifier version into memory"
    );
    Ok(loaded)
}

/// A classifier with its versions, as of when it was read.
#[derive(Debug)]
pub struct ClassifierMeta {
    /// The classifier.
    pub classifier: Classifier,
    /// All its versions (shared, so that resolving one copies nothing).
    pub versions: Vec<Arc<Version>>,
    /// Its published versions by effective time.
    pub timeline: Timeline,
}

impl ClassifierMeta {
    /// The version `id`.
    pub fn version(&self, id: &VersionId) -> Option<&Arc<Version>> {
        self.versions.iter().find(|v| v.id == *id)
    }

    /// The open draft.
    pub fn draft(&self) -> Option<&Arc<Version>> {
        self.versions
            .iter()
            .find(|v| v.state == VersionState::Draft)
    }

    /// The version in effect at `at`.
    pub fn in_effect(&self, at: reestr_domain::time::Timestamp) -> Option<&Arc<Version>> {
        self.timeline.in_effect(at).and_then(|id| self.version(id))
    }
}

/// Classifier records and version lists, kept until the change feed says they changed.
#[derive(Debug)]
pub struct MetaCache {
    entries: Guarded<ClassifierId, Arc<ClassifierMeta>>,
}

/// Classifiers whose version lists are kept at most (each is small; the least recently used
/// go first).
const META_MAX: u64 = 10_000;

impl Default for MetaCache {
    fn default() -> Self {
        Self {
            entries: Guarded::new("classifier_records", META_MAX),
        }
    }
}

impl Follows for MetaCache {
    fn changed(&self, change: &Change) {
        if matches!(
            change.resource_type,
            ResourceType::Classifier | ResourceType::ClassifierVersion
        ) && let Some(id) = change
            .resource
            .strip_prefix("classifiers/")
            .and_then(|rest| rest.split('/').next())
        {
            self.entries
                .forget(&ClassifierId::from_trusted(id.to_string()));
        }
    }

    fn forget_all(&self) {
        self.entries.forget_all();
    }

    fn stats(&self) -> Vec<crate::api::fresh::CacheStats> {
        vec![self.entries.stats()]
    }
}

impl MetaCache {
    /// The classifier `id` with its versions (NOT_FOUND if it does not exist).
    pub async fn get(
        &self,
        store: &Store,
        id: &ClassifierId,
    ) -> Result<Arc<ClassifierMeta>, Error> {
        if let Some(meta) = self.entries.get(id) {
            return Ok(meta);
        }
        self.refresh(store, id).await
    }

    /// Reads the classifier `id` again and keeps it.
    pub async fn refresh(
        &self,
        store: &Store,
        id: &ClassifierId,
    ) -> Result<Arc<ClassifierMeta>, Error> {
        let generation = self.entries.generation();
        let repo = store.classifiers();
        let classifier = repo.get(id).await?;
        let versions: Vec<Arc<Version>> =
            repo.versions(id).await?.into_iter().map(Arc::new).collect();
        let timeline = Timeline::new(versions.iter().map(|v| &**v));
        let meta = Arc::new(ClassifierMeta {
            classifier,
            versions,
            timeline,
        });
        self.entries.put(generation, id.clone(), meta.clone());
        Ok(meta)
    }

    /// Forgets the classifier `id` (after a write through this server).
    pub fn invalidate(&self, id: &ClassifierId) {
        self.entries.forget(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reestr_domain::classifier::{Code, encoded_item};

    fn item(code: &str, parent: Option<&str>, name: &str) -> Vec<u8> {
        let mut item = Item::new(Code::from_trusted(code.into()));
        item.parent = parent.map(|p| Code::from_trusted(p.into()));
        item.names
            .insert(reestr_domain::text::Language::Ru, name.to_string());
        encoded_item(&item)
    }

    fn sample() -> LoadedVersion {
        LoadedVersion::build(vec![
            item("17", None, "Узбекистан"),
            item("1703", Some("17"), "Андижанская область"),
            item("1703202", Some("1703"), "Андижан"),
            item("1726", Some("17"), "Город Ташкент"),
            item("99", Some("98"), "Сирота"),
        ])
        .unwrap()
    }

    #[test]
    fn lookups_find_known_codes_and_only_those() {
        let v = sample();
        assert_eq!(v.len(), 5);
        for (i, code) in ["17", "1703", "1703202", "1726", "99"].iter().enumerate() {
            assert_eq!(v.find(code), Some(i));
            assert_eq!(v.code(i), *code);
        }
        for missing in ["", "1", "170", "1727", "999", "a"] {
            assert_eq!(v.find(missing), None, "{missing}");
        }
        assert_eq!(v.after("1703"), 2);
        assert_eq!(v.at_or_after("1703"), 1);
        assert_eq!(v.at_or_after("18"), 4);
    }

    #[test]
    fn hierarchy_indexes_give_parents_levels_and_children_in_code_order() {
        let v = sample();
        assert_eq!(v.parent(2), Some(1));
        assert_eq!(v.parent(0), None);
        assert_eq!(
            [v.level(0), v.level(1), v.level(2), v.level(3)],
            [1, 2, 3, 2]
        );
        assert_eq!(v.level(4), 0, "an orphan has no level");
        assert_eq!(v.children(Some(0)), &[1, 3]);
        assert_eq!(v.children(Some(1)), &[2]);
        assert_eq!(v.children(Some(2)), &[] as &[u32]);
        // The orphan's parent is missing: it is nobody's child.
        assert_eq!(v.children(None), &[0]);
    }

    #[test]
    fn cyclic_parents_get_no_level_and_do_not_hang() {
        let v = LoadedVersion::build(vec![
            item("a", Some("b"), "A"),
            item("b", Some("a"), "B"),
            item("c", Some("a"), "C"),
            item("d", None, "D"),
        ])
        .unwrap();
        assert_eq!(
            [v.level(0), v.level(1), v.level(2), v.level(3)],
            [0, 0, 0, 1]
        );
    }

    #[test]
    fn names_match_by_prefix_and_substring_regardless_of_case() {
        let v = sample();
        let q = fold("ТАШ");
        assert!(v.name_matches(3, &q, false));
        assert!(
            !v.name_matches(3, &q, true),
            "Город Ташкент does not start with таш"
        );
        assert!(v.name_matches(3, &fold("город"), true));
        assert!(!v.name_matches(1, &q, false));
    }

    fn key(id: &str) -> CacheKey {
        (
            ClassifierId::from_trusted("soato".into()),
            VersionId::from_trusted(id.into()),
            0,
            1,
        )
    }

    impl VersionCache {
        async fn lookup_key(&self, key: &CacheKey) -> Option<Arc<LoadedVersion>> {
            self.entries.run_pending_tasks().await;
            let entry = self.entries.get(&slot_of(key)).await?;
            (entry.key == *key).then(|| entry.version.clone())
        }
    }

    /// A version of about `kib` KiB (its weight in the cache).
    fn version_of(kib: usize) -> Arc<LoadedVersion> {
        let items: Vec<Vec<u8>> = (0..kib * 8)
            .map(|i| item(&format!("{i:08}"), None, &format!("Name {i:0>100}")))
            .collect();
        Arc::new(LoadedVersion::build(items).unwrap())
    }

    #[tokio::test]
    async fn the_least_recently_used_version_is_evicted_when_the_budget_is_full() {
        let version = version_of(64);
        let size = version.heap_bytes();
        let cache = VersionCache::new(size * 2 + size / 2);
        cache.insert(key("a"), version.clone()).await;
        cache.insert(key("b"), version.clone()).await;
        assert!(
            cache.lookup_key(&key("a")).await.is_some(),
            "a is now the most recent"
        );
        cache.insert(key("c"), version.clone()).await;
        assert!(
            cache.lookup_key(&key("b")).await.is_none(),
            "b was the least recently used"
        );
        assert!(cache.lookup_key(&key("a")).await.is_some());
        assert!(cache.lookup_key(&key("c")).await.is_some());
        let stats = cache.stats().await;
        assert_eq!(stats.versions, 2);
        assert!(stats.bytes <= stats.budget);
    }

    #[tokio::test]
    async fn a_version_larger_than_the_budget_is_served_but_not_kept() {
        let version = version_of(8);
        let cache = VersionCache::new(version.heap_bytes() - 1);
        cache.insert(key("a"), version).await;
        assert!(cache.lookup_key(&key("a")).await.is_none());
        assert_eq!(cache.stats().await.versions, 0);
    }

    /// A random version for [`validation_over_the_loaded_version_finds_what_the_decoded_items_do`]:
    /// few distinct codes (so duplicates happen), parents and successors that exist, are
    /// missing or close cycles, blank names, unknown and mistyped attributes.
    fn random_items(rng: &mut rand::rngs::StdRng) -> Vec<Item> {
        use rand::Rng;
        use reestr_domain::classifier::{AttributeValue, Code};
        use reestr_domain::text::Language;
        let codes = rng.random_range(1..30);
        let code = |k: usize| Code::from_trusted(format!("{:02}", k));
        (0..rng.random_range(0..40))
            .map(|_| {
                let mut item = Item::new(code(rng.random_range(0..codes)));
                if rng.random_bool(0.8) {
                    item.parent = Some(code(rng.random_range(0..codes + 3)));
                }
                for lang in [Language::UzLatn, Language::Ru] {
                    match rng.random_range(0..4) {
                        0 => {}
                        1 => {
                            item.names.insert(lang, " ".into());
                        }
                        _ => {
                            item.names.insert(lang, "Nom".into());
                        }
                    }
                }
                if rng.random_bool(0.3) {
                    let (key, value) = match rng.random_range(0..4) {
                        0 => ("size", AttributeValue::Integer(5)),
                        1 => ("size", AttributeValue::String("5".into())),
                        2 => (
                            "label",
                            AttributeValue::String("x".repeat(rng.random_range(1..8))),
                        ),
                        _ => ("extra", AttributeValue::Boolean(true)),
                    };
                    item.attributes.insert(key.into(), value);
                }
                if rng.random_bool(0.5) {
                    item.status = ItemStatus::Deprecated;
                }
                for _ in 0..rng.random_range(0..3) {
                    item.successors.push(code(rng.random_range(0..codes + 2)));
                }
                item
            })
            .collect()
    }

    #[test]
    fn validation_over_the_loaded_version_finds_what_the_decoded_items_do() {
        use rand::{Rng, SeedableRng};
        use reestr_domain::classifier::{
            AttributeDef, AttributeKind, ClassifierSpec, Pattern, encoded_item, validate_items,
            validate_version,
        };
        use reestr_domain::organization::OrganizationId;
        use reestr_domain::text::{Language, LocalizedText};
        let seed: u64 = rand::rng().random();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut problems = 0;
        for round in 0..500 {
            let spec = ClassifierSpec {
                owner: OrganizationId::from_trusted("stat".into()),
                display_name: LocalizedText::from_trusted([("en".into(), "T".into())].into()),
                description: None,
                legal_basis: vec![],
                code_pattern: Pattern::compile("[0-2][0-9]").unwrap(),
                hierarchical: rng.random_bool(0.8),
                max_depth: rng.random_range(1..5),
                required_languages: [Language::UzLatn, Language::Ru].into(),
                attribute_schema: vec![
                    AttributeDef {
                        key: "size".into(),
                        kind: AttributeKind::Integer,
                        required: rng.random_bool(0.2),
                        pattern: None,
                        max_length: None,
                    },
                    AttributeDef {
                        key: "label".into(),
                        kind: AttributeKind::String,
                        required: false,
                        pattern: Some(Pattern::compile("x+").unwrap()),
                        max_length: Some(4),
                    },
                ],
            };
            let mut items = random_items(&mut rng);
            // As stored: in code order, equal codes side by side.
            items.sort_by(|a, b| a.code.cmp(&b.code));
            let loaded = LoadedVersion::build(items.iter().map(encoded_item).collect()).unwrap();
            let none = |_: &ClassifierId, _: &str| false;
            let decoded = validate_version(&spec, &items, &none);
            let streamed = validate_items(&spec, &loaded, &none).unwrap();
            assert_eq!(streamed, decoded, "seed {seed}, round {round}");
            problems += decoded.len();
        }
        assert!(
            problems > 1000,
            "the versions were wrong often enough: {problems}"
        );
    }

    #[test]
    fn memory_stays_close_to_the_encoded_size() {
        let items: Vec<Vec<u8>> = (0..10_000)
            .map(|i| item(&format!("{i:08}"), None, &format!("Наименование {i}")))
            .collect();
        let v = LoadedVersion::build(items).unwrap();
        let ratio = v.heap_bytes() as f64 / v.encoded_bytes() as f64;
        assert!(ratio < 3.0, "ratio {ratio}");
    }
}
