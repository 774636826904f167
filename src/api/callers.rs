//! What the authentication layer learned about callers: verified tokens (by secret hash) and
//! whether organisations are deleted (by organisation id), so a busy client costs no lookup
//! of either per call. Both are kept in step with the change feed (`super::fresh`): a token
//! created, revoked or changed empties the tokens kept, and a change of an organisation
//! forgets its deleted state; the server that made the change forgets at once
//! ([`CallerCache::clear`]), every other server within the feed's lag. The cache lives here,
//! beside the handlers that empty it; the authentication layer (`crate::server::auth`) fills
//! it.

use std::sync::Arc;

use reestr_domain::access::{Caller, Principal};
use reestr_domain::change::{Change, ResourceType};
use reestr_domain::token::Token;

use super::fresh::{CacheStats, Follows, Guarded};

/// Entries of each kind kept at most (the least recently used go first).
const CALLER_CACHE_MAX: u64 = 10_000;

/// See the module documentation.
pub struct CallerCache {
    tokens: Guarded<[u8; 32], Arc<VerifiedToken>>,
    organizations_deleted: Guarded<String, bool>,
}

/// Where a lookup began, for the `put_` calls that keep what it read: what was forgotten
/// after it began is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    tokens: u64,
    organizations: u64,
}

impl Default for CallerCache {
    fn default() -> Self {
        Self {
            tokens: Guarded::new("tokens", CALLER_CACHE_MAX),
            organizations_deleted: Guarded::new("organizations_deleted", CALLER_CACHE_MAX),
        }
    }
}

impl CallerCache {
    /// The generation to pass to the `put_` calls of a lookup that starts now.
    pub fn generation(&self) -> Generation {
        Generation {
            tokens: self.tokens.generation(),
            organizations: self.organizations_deleted.generation(),
        }
    }

    /// The verified token whose secret's SHA-256 is `digest`.
    pub fn token(&self, digest: &[u8; 32]) -> Option<Arc<VerifiedToken>> {
        self.tokens.get(digest)
    }

    /// Keeps `token`, read by a lookup that started at `generation`.
    pub fn put_token(&self, generation: Generation, digest: [u8; 32], token: Arc<VerifiedToken>) {
        self.tokens.put(generation.tokens, digest, token);
    }

    /// Whether the organisation `id` is deleted.
    pub fn organization_deleted(&self, id: &str) -> Option<bool> {
        self.organizations_deleted.get(&id.to_string())
    }

    /// Keeps whether the organisation `id` is deleted, read by a lookup that started at
    /// `generation`.
    pub fn put_organization_deleted(&self, generation: Generation, id: String, deleted: bool) {
        self.organizations_deleted
            .put(generation.organizations, id, deleted);
    }

    /// Forgets everything (after a revocation, or a deletion or undeletion of an organisation).
    pub fn clear(&self) {
        self.tokens.forget_all();
        self.organizations_deleted.forget_all();
    }
}

impl Follows for CallerCache {
    fn changed(&self, change: &Change) {
        match change.resource_type {
            ResourceType::Token => self.tokens.forget_all(),
            ResourceType::Organization => {
                if let Some(id) = change.resource.strip_prefix("organizations/") {
                    self.organizations_deleted.forget(&id.to_string());
                }
            }
            _ => {}
        }
    }

    fn forget_all(&self) {
        self.clear();
    }

    fn stats(&self) -> Vec<CacheStats> {
        vec![self.tokens.stats(), self.organizations_deleted.stats()]
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
            rate_limit: token.rate_limit,
        });
        Self { token, caller }
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
