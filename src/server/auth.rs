//! Authentication: the tower layer that turns a request's credentials into a caller.
//!
//! - `authorization: Bearer <secret>`: the token whose secret hashes to the same value.
//! - Otherwise, a client certificate verified by the TLS layer (`--tls-client-ca`): see
//!   [`super::tls::caller_from_certificate`].
//! - Otherwise the caller is anonymous.
//!
//! A caller that acts for an organisation also carries whether that organisation is deleted
//! (the policy then lets it only read). Verified tokens and organisations' deleted state are
//! held in the [`CallerCache`] for [`CALLER_CACHE_TTL`](crate::api::callers::CALLER_CACHE_TTL), so a busy client costs one lookup of
//! each per 5 seconds, and a revocation, deletion or undeletion is seen by every server
//! within that time (at once by the server that made it, which empties its cache).
//!
//! Refused credentials (unknown, revoked or expired token) do not end the call here: the
//! caller is marked rejected and the handler's authorisation turns that into
//! UNAUTHENTICATED, so that refused mutations are recorded in the audit trail like any other.
//! Health and reflection never look at the caller.
//!
//! Authenticated callers are rate-limited per principal (`--rate-limit-per-second`,
//! `--rate-limit-burst`) with the `governor` crate's keyed limiter; a caller over its rate gets
//! RESOURCE_EXHAUSTED (RATE_LIMITED) with `google.rpc.RetryInfo`.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{Request, Response};
use reestr_domain::Error;
use reestr_domain::access::{Caller, Principal};
use reestr_domain::error::Reason;
use reestr_domain::token::{bearer_secret, secret_hash};
use tonic::body::Body;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::api::ReadyStore;
use crate::api::call::CallInfo;
use crate::api::callers::CallerCache;
use crate::api::error::status;

/// Per-caller request rate.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per second; 0 disables the limit.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// Shared state of the layer.
struct Shared {
    store: ReadyStore,
    cache: Arc<CallerCache>,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

/// Adds [`AuthService`].
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl AuthLayer {
    /// A layer over the store, with its token cache and rate limit.
    pub fn new(store: ReadyStore, cache: Arc<CallerCache>, rate: RateLimit) -> Self {
        let limiter = NonZeroU32::new(rate.per_second).map(|per_second| {
            let burst = NonZeroU32::new(rate.burst).unwrap_or(per_second);
            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        Self {
            shared: Arc::new(Shared {
                store,
                cache,
                limiter,
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let method = request.uri().path().to_string();
        let secret = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().ok().and_then(bearer_secret).map(str::to_string));
        let certificate = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs)
            .and_then(|certs| certs.first().map(|c| c.as_ref().to_vec()));
        Box::pin(async move {
            if method.starts_with("/grpc.") {
                return inner.call(request).await;
            }
            let caller = match secret {
                Some(Some(secret)) => match identify_token(&shared, &secret).await {
                    Ok(caller) => caller,
                    // The token could not be checked: that is the database's fault, not the
                    // caller's, so the answer is UNAVAILABLE (retry), not UNAUTHENTICATED.
                    Err(e) => return Ok(status(e).into_http()),
                },
                Some(None) => Caller::rejected(
                    Reason::TokenInvalid,
                    "the authorization header must be `Bearer <secret>`",
                ),
                None => match certificate {
                    Some(der) => super::tls::caller_from_certificate(&der),
                    None => Caller::anonymous(),
                },
            };
            let caller = match with_organization_state(&shared, caller).await {
                Ok(caller) => caller,
                Err(e) => return Ok(status(e).into_http()),
            };
            if let Some(limiter) = &shared.limiter
                && caller.principal != Principal::Anonymous
                && caller.credential_error.is_none()
                && let Err(not_until) = limiter.check_key(&caller.id())
            {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                return Ok(status(Error::RateLimited { retry_after_ms }).into_http());
            }
            tracing::Span::current().record("caller", caller.id());
            request.extensions_mut().insert(CallInfo { caller, method });
            inner.call(request).await
        })
    }
}

async fn identify_token(shared: &Shared, secret: &str) -> Result<Caller, Error> {
    let hash = secret_hash(secret);
    let generation = shared.cache.generation();
    let token = match shared.cache.token(&hash) {
        Some(t) => Some(t),
        None => {
            let Ok(store) = shared.store.get() else {
                // Still starting: the handler will answer UNAVAILABLE.
                return Ok(Caller::anonymous());
            };
            match store.tokens().find_by_secret_hash(&hash).await? {
                Some(t) => {
                    shared.cache.put_token(generation, hash, t.clone());
                    Some(t)
                }
                None => None,
            }
        }
    };
    let Some(token) = token else {
        return Ok(Caller::rejected(Reason::TokenInvalid, "unknown token"));
    };
    let Ok(store) = shared.store.get() else {
        return Ok(Caller::anonymous());
    };
    if let Some((reason, message)) = token.refusal(store.now()) {
        // Known but no longer valid: the audit trail still names the token that was presented.
        return Ok(Caller {
            principal: Principal::Token(token.id.name()),
            ..Caller::rejected(reason, message)
        });
    }
    Ok(Caller {
        principal: Principal::Token(token.id.name()),
        organization: token.organization,
        roles: token.roles,
        credential_error: None,
        organization_deleted: false,
    })
}

/// `caller`, with whether the organisation it acts for (if any) is deleted.
async fn with_organization_state(shared: &Shared, mut caller: Caller) -> Result<Caller, Error> {
    let Some(organization) = &caller.organization else {
        return Ok(caller);
    };
    if caller.credential_error.is_some() {
        return Ok(caller);
    }
    let generation = shared.cache.generation();
    caller.organization_deleted = match shared.cache.organization_deleted(organization.as_str()) {
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
    Ok(caller)
}
