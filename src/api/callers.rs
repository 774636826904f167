//! What the authentication layer learned about callers, kept for a short time.
//!
//! Verified tokens (by secret hash) and whether organisations are deleted (by organisation id),
//! each trusted for [`CALLER_CACHE_TTL`] (a `moka` time-to-live), so a busy client costs one
//! lookup of each per 5 seconds. A revocation, deletion or undeletion is seen by every server
//! within that time, and at once by the server that made it, which empties its cache
//! ([`CallerCache::clear`]). The cache lives here, beside the handlers that empty it; the
//! authentication layer (`crate::server::auth`) fills it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reestr_domain::access::{Caller, Principal};
use reestr_domain::token::Token;

/// How long a verified token, or an organisation's deleted state, is trusted without asking
/// the database again.
pub const CALLER_CACHE_TTL: Duration = Duration::from_secs(5);
/// Entries of each kind kept at most (the least recently used go first).
const CALLER_CACHE_MAX: u64 = 10_000;

/// See the module documentation.
pub struct CallerCache {
    /// Advanced by every [`CallerCache::clear`], so that a lookup that began before it does not
    /// keep what it read (which may predate the change that emptied the cache).
    generation: AtomicU64,
    tokens: moka::sync::Cache<[u8; 32], Arc<VerifiedToken>>,
    organizations_deleted: moka::sync::Cache<String, bool>,
}

impl Default for CallerCache {
    fn default() -> Self {
        fn cache<K, V>() -> moka::sync::Cache<K, V>
        where
            K: std::hash::Hash + Eq + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            moka::sync::Cache::builder()
                .max_capacity(CALLER_CACHE_MAX)
                .time_to_live(CALLER_CACHE_TTL)
                .build()
        }
        Self {
            generation: AtomicU64::new(0),
            tokens: cache(),
            organizations_deleted: cache(),
        }
    }
}

impl CallerCache {
    /// The generation to pass to the `put_` calls of a lookup that starts now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The verified token whose secret's SHA-256 is `digest`.
    pub fn token(&self, digest: &[u8; 32]) -> Option<Arc<VerifiedToken>> {
        self.tokens.get(digest)
    }

    /// Keeps `token`, read by a lookup that started at `generation`.
    pub fn put_token(&self, generation: u64, digest: [u8; 32], token: Arc<VerifiedToken>) {
        put(&self.generation, &self.tokens, generation, digest, token);
    }

    /// Whether the organisation `id` is deleted.
    pub fn organization_deleted(&self, id: &str) -> Option<bool> {
        self.organizations_deleted.get(id)
    }

    /// Keeps whether the organisation `id` is deleted, read by a lookup that started at
    /// `generation`.
    pub fn put_organization_deleted(&self, generation: u64, id: String, deleted: bool) {
        put(
            &self.generation,
            &self.organizations_deleted,
            generation,
            id,
            deleted,
        );
    }

    /// Forgets everything (after a revocation, or a deletion or undeletion of an organisation).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.tokens.invalidate_all();
        self.organizations_deleted.invalidate_all();
    }
}

/// A token as the database holds it, with the caller it makes while it is valid: built once
/// per lookup, shared by every call that presents the token (a call copies a pointer, not
/// the token's names and roles).
#[derive(Debug)]
pub struct VerifiedToken {
    /// The token.
    pub token: Token,
    /// Its caller while the token is valid (the organisation taken as live).
    pub caller: Arc<Caller>,
}

impl VerifiedToken {
    /// The token and its caller.
    pub fn new(token: Token) -> Self {
        let caller = Arc::new(Caller {
            principal: Principal::Token(token.id.name()),
            organization: token.organization.clone(),
            roles: token.roles.clone(),
            credential_error: None,
            organization_deleted: false,
        });
        Self { token, caller }
    }
}

/// Inserts unless a [`CallerCache::clear`] came after the lookup began. A clear that lands
/// between the check and the insert is caught by the second check (a clear after the insert
/// removes the entry itself).
fn put<K, V>(
    current: &AtomicU64,
    cache: &moka::sync::Cache<K, V>,
    generation: u64,
    key: K,
    value: V,
) where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    if current.load(Ordering::SeqCst) != generation {
        return;
    }
    cache.insert(key.clone(), value);
    if current.load(Ordering::SeqCst) != generation {
        cache.invalidate(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_that_began_before_a_clear_keeps_nothing() {
        let cache = CallerCache::default();
        let before = cache.generation();
        cache.put_organization_deleted(before, "a".into(), false);
        assert_eq!(cache.organization_deleted("a"), Some(false));
        let stale = cache.generation();
        cache.clear();
        assert_eq!(cache.organization_deleted("a"), None, "cleared");
        cache.put_organization_deleted(stale, "a".into(), false);
        assert_eq!(
            cache.organization_deleted("a"),
            None,
            "read before the clear"
        );
        cache.put_organization_deleted(cache.generation(), "a".into(), true);
        assert_eq!(cache.organization_deleted("a"), Some(true));
    }
}
