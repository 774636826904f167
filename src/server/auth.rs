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
//! Refused credentials (unknown, revoked or expired token) do not end the call here: the
//! caller is marked rejected and the handler's authorisation turns that into
//! UNAUTHENTICATED, so that refused mutations are recorded in the audit trail like any other.
//! Health and reflection never look at the caller. Rates and calls in flight are limited per
//! caller afterwards, by [`super::limits`].

use std::sync::Arc;

use http::HeaderMap;
use reestr_domain::Error;
use reestr_domain::access::{Caller, Principal};
use reestr_domain::error::Reason;
use reestr_domain::token::{bearer_secret, secret_digest};

use crate::api::ReadyStore;
use crate::api::callers::{CallerCache, VerifiedToken};

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
    pub async fn identify(
        &self,
        headers: &HeaderMap,
        certificate: Option<&[u8]>,
    ) -> Result<Arc<Caller>, Error> {
        let caller = match headers.get(http::header::AUTHORIZATION) {
            Some(value) => match value.to_str().ok().and_then(bearer_secret) {
                Some(secret) => identify_token(self, secret).await?,
                None => Arc::new(Caller::rejected(
                    Reason::TokenInvalid,
                    "the authorization header must be `Bearer <secret>`",
                )),
            },
            None => Arc::new(match certificate {
                Some(der) => super::tls::caller_from_certificate(der),
                None => Caller::anonymous(),
            }),
        };
        with_organization_state(self, caller).await
    }
}

/// Whether `caller` proved who it is: a token or certificate that was accepted.
pub fn is_authenticated(caller: &Caller) -> bool {
    caller.principal != Principal::Anonymous && caller.credential_error.is_none()
}

async fn identify_token(shared: &Authenticator, secret: &str) -> Result<Arc<Caller>, Error> {
    let digest = secret_digest(secret);
    let generation = shared.cache.generation();
    let verified = match shared.cache.token(&digest) {
        Some(t) => Some(t),
        None => {
            let Ok(store) = shared.store.get() else {
                // Still starting: the handler will answer UNAVAILABLE.
                return Ok(Arc::new(Caller::anonymous()));
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
        return Ok(Arc::new(Caller::rejected(
            Reason::TokenInvalid,
            "unknown token",
        )));
    };
    let Ok(store) = shared.store.get() else {
        return Ok(Arc::new(Caller::anonymous()));
    };
    if let Some((reason, message)) = verified.token.refusal(store.now()) {
        // Known but no longer valid: the audit trail still names the token that was presented.
        return Ok(Arc::new(Caller {
            principal: verified.caller.principal.clone(),
            ..Caller::rejected(reason, message)
        }));
    }
    Ok(verified.caller.clone())
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
