//! Authentication: the tower layer that turns a request's credentials into a caller.
//!
//! - `authorization: Bearer <secret>`: the token whose secret hashes to the same value. A
//!   verified token is cached for [`TOKEN_CACHE_TTL`], so a busy client costs one lookup per
//!   5 seconds, and a revocation is seen by every server within that time (at once by the
//!   server that revoked it, which drops its cache entry).
//! - Otherwise, a client certificate verified by the TLS layer (`--tls-client-ca`): see
//!   [`super::tls::caller_from_certificate`].
//! - Otherwise the caller is anonymous.
//!
//! Refused credentials (unknown, revoked or expired token) do not end the call here: the
//! caller is marked rejected and the handler's authorisation turns that into
//! UNAUTHENTICATED, so that refused mutations are recorded in the audit trail like any other.
//! Health and reflection never look at the caller.
//!
//! Authenticated callers are rate-limited per principal (`--rate-limit-per-second`,
//! `--rate-limit-burst`) with the `governor` crate's keyed limiter; a caller over its rate gets
//! RESOURCE_EXHAUSTED (RATE_LIMITED) with `google.rpc.RetryInfo`.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{Request, Response};
use reestr_domain::Error;
use reestr_domain::access::{Caller, Principal};
use reestr_domain::token::{Token, bearer_secret, secret_hash};
use tonic::body::Body;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use crate::api::ReadyStore;
use crate::api::call::CallInfo;
use crate::api::error::status;

/// How long a verified token is trusted without asking the database again.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// Cache entries kept at most; the cache is emptied when it grows past this.
const TOKEN_CACHE_MAX: usize = 10_000;

/// Per-caller request rate.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per second; 0 disables the limit.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// Verified tokens by secret hash.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Token, Instant)>>,
}

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Token> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(t, _)| t.clone())
    }

    fn put(&self, hash: String, token: Token) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
            entries.insert(hash, (token, Instant::now()));
        }
    }

    /// Forgets every cached token (after a revocation).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// Shared state of the layer.
struct Shared {
    store: ReadyStore,
    cache: Arc<TokenCache>,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

/// Adds [`AuthService`].
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl AuthLayer {
    /// A layer over the store, with its token cache and rate limit.
    pub fn new(store: ReadyStore, cache: Arc<TokenCache>, rate: RateLimit) -> Self {
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
                    "TOKEN_INVALID",
                    "the authorization header must be `Bearer <secret>`",
                ),
                None => match certificate {
                    Some(der) => super::tls::caller_from_certificate(&der),
                    None => Caller::anonymous(),
                },
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
    let token = match shared.cache.get(&hash) {
        Some(t) => Some(t),
        None => {
            let Ok(store) = shared.store.get() else {
                // Still starting: the handler will answer UNAVAILABLE.
                return Ok(Caller::anonymous());
            };
            match store.tokens().find_by_secret_hash(&hash).await? {
                Some(t) => {
                    shared.cache.put(hash, t.clone());
                    Some(t)
                }
                None => None,
            }
        }
    };
    let Some(token) = token else {
        return Ok(Caller::rejected("TOKEN_INVALID", "unknown token"));
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
    })
}
