//! Authentication: turns a request's credentials into a caller, from its headers alone (the
//! rpc layer asks before the request's body is read).
//!
//! - `authorization: Bearer <secret>`: the token whose secret hashes to the same value.
//! - Otherwise, a client certificate verified by the TLS layer (`--tls-client-ca`): see
//!   [`super::tls::caller_from_certificate`].
//! - Otherwise the caller is anonymous.
//!
//! A caller that acts for an organisation also carries whether that organisation is deleted
//! (the policy then lets it only read). Verified tokens and organisations' deleted state are
//! kept in the [`CallerCache`] until the change feed says they changed, so a busy client costs
//! no lookup per call, and a revocation, deletion or undeletion is seen at once by the server
//! that made it and by every other server within the feed's lag (`crate::api::fresh`).
//!
//! **One connection, one token.** A client's channel sends the same `authorization` header on
//! every call of a connection. Each connection remembers the last header it presented that
//! was accepted, and what it was verified as ([`Memo`]): the next call with the same header
//! (compared in constant time) costs no SHA-256 and no cache lookup, only the token's expiry
//! check. What is remembered is used only while the [`CallerCache`] has forgotten nothing
//! since it was verified, so a revocation or an organisation's deletion reaches a remembered
//! caller exactly as it reaches the cache. It holds one header value per connection, the one
//! the connection's own calls carry.
//!
//! Refused credentials (unknown, revoked or expired token) do not end the call here: the
//! caller is marked rejected and the handler's authorisation turns that into
//! UNAUTHENTICATED, so that refused mutations are recorded in the audit trail like any other.
//! Health and reflection never look at the caller. Rates and calls in flight are limited per
//! caller afterwards, by [`super::limits`].

use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue};
use reestr_domain::Error;
use reestr_domain::access::{Caller, Principal};
use reestr_domain::error::Reason;
use reestr_domain::token::{bearer_secret, secret_digest};

use crate::api::ReadyStore;
use crate::api::callers::{CallerCache, Generation, VerifiedToken};

/// Turns a request's credentials into its caller, through the [`CallerCache`].
pub struct Authenticator {
    store: ReadyStore,
    cache: Arc<CallerCache>,
}

impl Authenticator {
    /// An authenticator over the store and its cache.
    pub fn new(store: ReadyStore, cache: Arc<CallerCache>) -> Self {
        Self { store, cache }
    }

    /// The caller of a request with `headers`, whose TLS client certificate (verified by the
    /// TLS layer) is `certificate`. An error only when the credentials could not be checked
    /// (the database does not answer): refused credentials make a rejected caller.
    /// `memo` is the connection's ([`Memo`]), when the request came on one.
    pub async fn identify(
        &self,
        headers: &HeaderMap,
        certificate: Option<&[u8]>,
        memo: Option<&Memo>,
    ) -> Result<Arc<Caller>, Error> {
        let generation = self.cache.generation();
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            let caller = Arc::new(match certificate {
                Some(der) => super::tls::caller_from_certificate(der),
                None => Caller::anonymous(),
            });
            return with_organization_state(self, caller).await;
        };
        if let Some(memo) = memo
            && let Ok(store) = self.store.get()
            && let Some(caller) = memo.recall(value, generation, store.now())
        {
            return Ok(caller);
        }
        let Some(secret) = value.to_str().ok().and_then(bearer_secret) else {
            return Ok(Arc::new(Caller::rejected(
                Reason::TokenInvalid,
                "the authorization header must be `Bearer <secret>`",
            )));
        };
        let (caller, verified) = identify_token(self, secret).await?;
        let caller = with_organization_state(self, caller).await?;
        if let (Some(memo), Some(verified)) = (memo, verified)
            && caller.credential_error.is_none()
        {
            memo.remember(value, generation, verified, caller.clone());
        }
        Ok(caller)
    }
}

/// What one connection last presented in its `authorization` header and was verified as (see
/// the module documentation).
#[derive(Debug, Default)]
pub struct Memo(Mutex<Option<Remembered>>);

#[derive(Debug)]
struct Remembered {
    header: HeaderValue,
    /// The [`CallerCache`]'s generation when the header was verified.
    generation: Generation,
    verified: Arc<VerifiedToken>,
    caller: Arc<Caller>,
}

impl Memo {
    /// The caller `header` was verified as, if this connection presented it last, nothing was
    /// forgotten since (`generation` is the cache's now) and the token is still valid at `now`.
    fn recall(
        &self,
        header: &HeaderValue,
        generation: Generation,
        now: reestr_domain::time::Timestamp,
    ) -> Option<Arc<Caller>> {
        let kept = self.0.lock().ok()?;
        let kept = kept.as_ref()?;
        (kept.generation == generation
            && same_bytes(kept.header.as_bytes(), header.as_bytes())
            && kept.verified.token.refusal(now).is_none())
        .then(|| kept.caller.clone())
    }

    fn remember(
        &self,
        header: &HeaderValue,
        generation: Generation,
        verified: Arc<VerifiedToken>,
        caller: Arc<Caller>,
    ) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some(Remembered {
                header: header.clone(),
                generation,
                verified,
                caller,
            });
        }
    }
}

/// Whether `a` and `b` are the same bytes, in a time that depends on their lengths only.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Whether `caller` proved who it is: a token or certificate that was accepted.
pub fn is_authenticated(caller: &Caller) -> bool {
    caller.principal != Principal::Anonymous && caller.credential_error.is_none()
}

/// The caller a bearer `secret` stands for, and the token it was verified as when it was
/// accepted.
async fn identify_token(
    shared: &Authenticator,
    secret: &str,
) -> Result<(Arc<Caller>, Option<Arc<VerifiedToken>>), Error> {
    let digest = secret_digest(secret);
    let generation = shared.cache.generation();
    let verified = match shared.cache.token(&digest) {
        Some(t) => Some(t),
        None => {
            let Ok(store) = shared.store.get() else {
                // Still starting: the handler will answer UNAVAILABLE.
                return Ok((Arc::new(Caller::anonymous()), None));
            };
            match store
                .tokens()
                .find_by_secret_hash(&hex::encode(digest))
                .await?
            {
                Some(t) => {
                    let verified = Arc::new(VerifiedToken::new(t));
                    shared.cache.put_token(generation, digest, verified.clone());
                    Some(verified)
                }
                None => None,
            }
        }
    };
    let Some(verified) = verified else {
        return Ok((
            Arc::new(Caller::rejected(Reason::TokenInvalid, "unknown token")),
            None,
        ));
    };
    let Ok(store) = shared.store.get() else {
        return Ok((Arc::new(Caller::anonymous()), None));
    };
    if let Some((reason, message)) = verified.token.refusal(store.now()) {
        // Known but no longer valid: the audit trail still names the token that was presented.
        return Ok((
            Arc::new(Caller {
                principal: verified.caller.principal.clone(),
                ..Caller::rejected(reason, message)
            }),
            None,
        ));
    }
    Ok((verified.caller.clone(), Some(verified)))
}

/// `caller`, with whether the organisation it acts for (if any) is deleted.
async fn with_organization_state(
    shared: &Authenticator,
    caller: Arc<Caller>,
) -> Result<Arc<Caller>, Error> {
    let Some(organization) = &caller.organization else {
        return Ok(caller);
    };
    if caller.credential_error.is_some() {
        return Ok(caller);
    }
    let generation = shared.cache.generation();
    let deleted = match shared.cache.organization_deleted(organization.as_str()) {
        Some(deleted) => deleted,
        None => {
            let Ok(store) = shared.store.get() else {
                // Still starting: the handler will answer UNAVAILABLE.
                return Ok(caller);
            };
            let deleted = match store.organizations().get(organization).await {
                Ok(org) => org.delete_time.is_some(),
                // An organisation that does not exist owns nothing the caller could write.
                Err(Error::NotFound { .. }) => false,
                Err(e) => return Err(e),
            };
            shared.cache.put_organization_deleted(
                generation,
                organization.as_str().to_string(),
                deleted,
            );
            deleted
        }
    };
    if deleted == caller.organization_deleted {
        return Ok(caller);
    }
    Ok(Arc::new(Caller {
        organization_deleted: deleted,
        ..(*caller).clone()
    }))
}
