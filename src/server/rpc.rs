//! The per-call stack, in one tower layer: everything a call goes through between the
//! connection and its handler, decided once per call.
//!
//! In order:
//! 1. **Route**: the method is looked up in the table of the register's methods (built once
//!    from the descriptor set), which says how it is logged and bounded; nothing is allocated
//!    for its name. Health and reflection (`/grpc.*`) go straight to their service: no
//!    authentication, no admission, no deadline — an orchestrator's probe is answered however
//!    busy the server is.
//! 2. **Metadata**: headers larger than [`Limits::max_header_bytes`](super::Limits) are refused
//!    (RESOURCE_EXHAUSTED, `MESSAGE_TOO_LARGE`, part `metadata`) before anything else; above
//!    the transport's own limit HTTP/2 itself refuses the headers (HTTP 431) — see the README.
//! 3. **Authentication** on the headers alone ([`Authenticator`]), before the body is read.
//! 4. **Admission** ([`CallLimits`]): rate and calls in flight, per caller (callers without
//!    valid credentials per network address) and in all. A refused call never reaches its
//!    handler and leaves no audit event.
//! 5. **Deadline**: the server's request timeout or the client's `grpc-timeout`, whichever is
//!    shorter; DEADLINE_EXCEEDED (`REQUEST_TIMEOUT`) after it. The handler finds it in the
//!    request's extensions ([`CallDeadline`]), so the audit record of a call dropped
//!    unfinished says which of the two ended it. [`UNBOUNDED_METHODS`], whose work grows with
//!    a whole classifier version, are bounded by the client's deadline only.
//! 6. **Request body**: watched, so that whether it ended with the client's END_STREAM or
//!    broke off (a reset, a lost connection) is known ([`RequestEnd`]; tonic reports both to a
//!    handler as the end of the stream). Its first message must arrive within
//!    [`Limits::first_message_timeout`](super::Limits): a stream that sends headers and then
//!    nothing is ended DEADLINE_EXCEEDED and gives back its slot. The timer exists only while
//!    a body is actually late: a message that arrives with its headers costs none.
//! 7. **Answer**: a status tonic produced itself while reading the request (a body that is
//!    not protobuf, a string that is not UTF-8, a frame cut short, a message over the limit)
//!    is replaced by the register's own ([`request_refusal`]): INVALID_ARGUMENT naming the
//!    field, or RESOURCE_EXHAUSTED (`MESSAGE_TOO_LARGE`).
//! 8. **Log**: one line per call, `rpc` with `method`, `peer`, `caller`, `code`, `latency_ms`,
//!    at info (debug for health, reflection and the successful lookups of [`QUIET_METHODS`];
//!    error for the server's own faults). A call whose client went away — dropped by hyper
//!    before it answers, or whose request body broke off — is logged once, at info, as
//!    CANCELLED (DEADLINE_EXCEEDED if its deadline had passed). The span of a call exists only
//!    when its level is enabled.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderMap, Request, Response};
use tonic::body::Body;
use tonic::transport::server::TlsConnectInfo;
use tonic::{Code, Status};
use tower::{Layer, Service};
use tracing::Instrument;

use reestr_domain::Error;
use reestr_domain::error::Reason;
use tonic_types::{ErrorDetails, StatusExt};

use super::auth::{self, Authenticator};
use super::connection::ConnectionInfo;
use super::limits::{CallLimits, CallerKey};
use crate::api::call::{CallDeadline, CallInfo, RequestEnd};
use crate::api::error::{DOMAIN, request_refusal, status};

/// What the per-call stack needs to know.
pub struct RpcSettings {
    /// The server's request timeout.
    pub timeout: Duration,
    /// How long a call may wait for its first request message.
    pub first_message_timeout: Duration,
    /// Largest request message, for the error that says so.
    pub max_message_bytes: usize,
    /// Largest request metadata (headers) accepted, as HTTP/2 counts it.
    pub max_header_bytes: usize,
}

/// Adds [`RpcService`] around the router.
#[derive(Clone)]
pub struct RpcLayer {
    shared: Arc<Shared>,
}

struct Shared {
    settings: RpcSettings,
    auth: Authenticator,
    limits: Arc<CallLimits>,
}

impl RpcLayer {
    /// The layer of a server.
    pub fn new(settings: RpcSettings, auth: Authenticator, limits: Arc<CallLimits>) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                auth,
                limits,
            }),
        }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// Lookups agencies make on every request of their own: a success, or a NOT_FOUND answer (an
/// unknown code is an ordinary answer to a lookup), is logged at debug level (other failures
/// still at info or error), so that the log of a busy register is not one line per lookup.
pub const QUIET_METHODS: [&str; 6] = [
    "/reestr.v1.ClassifierService/GetItem",
    "/reestr.v1.ClassifierService/BatchGetItems",
    "/reestr.v1.ClassifierService/ListItems",
    "/reestr.v1.ClassifierService/GetItemAncestors",
    "/reestr.v1.ClassifierService/ValidateCode",
    "/reestr.v1.ClassifierService/TranslateCode",
];

/// Methods the server's request timeout does not apply to: a whole version streamed in, or
/// checked and hashed, takes as long as the version is large, and a document streamed in or
/// out as long as the document (an upload still ends after a minute without a message).
pub const UNBOUNDED_METHODS: [&str; 6] = [
    "/reestr.v1.ChangeService/WatchChanges",
    "/reestr.v1.ClassifierService/ImportItems",
    "/reestr.v1.DocumentService/UploadDocument",
    "/reestr.v1.DocumentService/DownloadDocument",
    "/reestr.v1.ClassifierService/ValidateClassifierVersion",
    "/reestr.v1.ClassifierService/PublishClassifierVersion",
];

/// One of the register's methods, as the per-call stack treats it.
#[derive(Debug)]
pub struct Method {
    /// The full path, `/reestr.v1.Service/Method`.
    pub path: String,
    /// Logged at debug level when it succeeds or answers NOT_FOUND.
    pub quiet: bool,
    /// Bounded by the client's deadline only.
    pub unbounded: bool,
}

/// Every method of the register's services, by path, from the descriptor set.
pub fn methods() -> &'static HashMap<String, Method> {
    static METHODS: OnceLock<HashMap<String, Method>> = OnceLock::new();
    METHODS.get_or_init(|| {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_default();
        set.file
            .iter()
            .filter(|f| f.package() == "reestr.v1")
            .flat_map(|f| f.service.iter().map(move |s| (f.package(), s)))
            .flat_map(|(package, s)| {
                s.method
                    .iter()
                    .map(move |m| format!("/{package}.{}/{}", s.name(), m.name()))
            })
            .map(|path| {
                let method = Method {
                    quiet: QUIET_METHODS.contains(&path.as_str()),
                    unbounded: UNBOUNDED_METHODS.contains(&path.as_str()),
                    path: path.clone(),
                };
                (path, method)
            })
            .collect()
    })
}

/// The name logged for a path that is none of the register's methods (tonic answers it
/// UNIMPLEMENTED).
const UNKNOWN_METHOD: &str = "(unknown method)";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for RpcService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: http_body::Body<Data = bytes::Bytes> + Unpin + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call; the fresh clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        if path.starts_with("/grpc.") {
            return Box::pin(infrastructure(inner, request));
        }
        let method = methods().get(path);
        let shared = self.shared.clone();
        let started = Instant::now();
        let peer = peer_of(&request);
        let quiet = method.is_some_and(|m| m.quiet);
        let name = method.map_or(UNKNOWN_METHOD, |m| m.path.as_str());
        let span = if quiet {
            tracing::debug_span!("rpc", method = name, peer = %Peer(peer), caller = tracing::field::Empty)
        } else {
            tracing::info_span!("rpc", method = name, peer = %Peer(peer), caller = tracing::field::Empty)
        };
        let server_limit = if method.is_some_and(|m| m.unbounded) {
            // About 31 years: in effect none, and still a valid timer.
            Duration::from_secs(1 << 30)
        } else {
            shared.settings.timeout
        };
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map_or(server_limit, |client| client.min(server_limit));
        let due = started.checked_add(deadline).map(CallDeadline);
        let on_connection = connection_of(request.extensions()).map(ConnectionInfo::call);
        Box::pin(
            async move {
                let _on_connection = on_connection;
                let mut log = CallLog {
                    method: name,
                    quiet,
                    peer,
                    caller: None,
                    started,
                    due,
                    span: tracing::Span::current(),
                    logged: false,
                };
                let (mut parts, body) = request.into_parts();
                if let Err(err) = check_metadata(&parts.headers, shared.settings.max_header_bytes) {
                    return Ok(log.answer(status(err).into_http()));
                }
                let certificate = certificate_of(&parts.extensions);
                let memo = connection_of(&parts.extensions).map(ConnectionInfo::memo);
                let caller = match shared
                    .auth
                    .identify(&parts.headers, certificate.as_deref(), memo)
                    .await
                {
                    Ok(caller) => caller,
                    // The token could not be checked: that is the database's fault, not the
                    // caller's, so the answer is UNAVAILABLE (retry), not UNAUTHENTICATED.
                    Err(e) => return Ok(log.answer(status(e).into_http())),
                };
                let id = caller.id();
                let key = if auth::is_authenticated(&caller) {
                    CallerKey::Principal(id.as_str().into())
                } else {
                    CallerKey::Address(peer.map(|p| p.ip()))
                };
                log.caller = Some(id);
                log.span.record("caller", log.caller.as_deref());
                let _admission = match shared.limits.admit(key, caller.rate_limit) {
                    Ok(admission) => admission,
                    Err(e) => return Ok(log.answer(status(e).into_http())),
                };
                let end = RequestEnd::default();
                parts.extensions.insert(CallInfo {
                    caller,
                    method: name,
                    deadline: due,
                    end: end.clone(),
                    max_message_bytes: shared.settings.max_message_bytes,
                });
                let body = Body::new(WatchedBody {
                    inner: body,
                    end: end.clone(),
                    first: FirstMessage::Waiting {
                        limit: shared.settings.first_message_timeout,
                        timer: None,
                    },
                });
                let request = Request::from_parts(parts, body);
                let response = match tokio::time::timeout(deadline, inner.call(request)).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(err)) => {
                        log.end(Code::Unknown);
                        return Err(err);
                    }
                    Err(_) => timeout_response(deadline),
                };
                if end.broken_off() {
                    // The client went away mid-request: whatever tonic made of the broken
                    // stream, nobody reads the answer.
                    log.end(status(CallDeadline::abandoned(due)).code());
                    return Ok(response);
                }
                let response = match response_code(response.headers()) {
                    Code::Internal | Code::Unknown | Code::OutOfRange => {
                        rewrite_refusal(response, shared.settings.max_message_bytes)
                    }
                    _ => response,
                };
                Ok(log.answer(response))
            }
            .instrument(span),
        )
    }
}

/// Health and reflection: no authentication, no admission, no deadline; logged at debug.
async fn infrastructure<S, B>(mut inner: S, request: Request<B>) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    let _on_connection = connection_of(request.extensions()).map(ConnectionInfo::call);
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return inner.call(request.map(Body::new)).await;
    }
    let started = Instant::now();
    let method = request.uri().path().to_string();
    let peer = peer_of(&request);
    let response = inner.call(request.map(Body::new)).await?;
    tracing::debug!(
        method,
        peer = %Peer(peer),
        code = code_text(response_code(response.headers())),
        latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1000.0,
        "rpc"
    );
    Ok(response)
}

/// The connection a request came on, plain or TLS.
fn connection_of(extensions: &http::Extensions) -> Option<&ConnectionInfo> {
    extensions.get::<ConnectionInfo>().or_else(|| {
        extensions
            .get::<TlsConnectInfo<ConnectionInfo>>()
            .map(TlsConnectInfo::get_ref)
    })
}

/// The client's address.
fn peer_of<B>(request: &Request<B>) -> Option<SocketAddr> {
    connection_of(request.extensions()).and_then(ConnectionInfo::remote_addr)
}

/// The DER client certificate the TLS layer verified, if any.
fn certificate_of(extensions: &http::Extensions) -> Option<Vec<u8>> {
    extensions
        .get::<TlsConnectInfo<ConnectionInfo>>()
        .and_then(TlsConnectInfo::peer_certs)
        .and_then(|certs| certs.first().map(|c| c.as_ref().to_vec()))
}

/// Formats a peer address when (and only if) a log line is written.
struct Peer(Option<SocketAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => Ok(()),
        }
    }
}

/// Refuses metadata larger than `limit` bytes, counted as HTTP/2 counts a header list.
fn check_metadata(headers: &HeaderMap, limit: usize) -> Result<(), Error> {
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    if size > limit {
        return Err(Error::MessageTooLarge {
            part: "metadata",
            limit_bytes: u64::try_from(limit).unwrap_or(u64::MAX),
        });
    }
    Ok(())
}

/// Whether the first request message has arrived, and the timer that runs while it has not.
enum FirstMessage {
    Waiting {
        limit: Duration,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    },
    Arrived,
}

/// A request body that tells its [`RequestEnd`] how it ended, and ends a body whose first
/// message is late.
struct WatchedBody<B> {
    inner: B,
    end: RequestEnd,
    first: FirstMessage,
}

impl<B> http_body::Body for WatchedBody<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Status>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.end.ended(),
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => this.end.ended(),
            Poll::Ready(Some(Err(_))) => this.end.broke_off(),
            Poll::Ready(Some(Ok(_))) => this.first = FirstMessage::Arrived,
            Poll::Pending => {
                if let FirstMessage::Waiting { limit, timer } = &mut this.first {
                    let limit = *limit;
                    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                    if timer.as_mut().poll(cx).is_ready() {
                        this.first = FirstMessage::Arrived;
                        return Poll::Ready(Some(Err(status(Error::invalid(
                            "",
                            format!(
                                "no request message arrived within {} s of the call's headers",
                                limit.as_secs_f64()
                            ),
                        )))));
                    }
                }
            }
        }
        polled.map(|p| p.map(|r| r.map_err(|e| Status::from_error(e.into()))))
    }

    fn is_end_stream(&self) -> bool {
        let done = self.inner.is_end_stream();
        if done {
            self.end.ended();
        }
        done
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Logs the end of one call, exactly once: when it answers, or when it is dropped unanswered
/// (hyper drops the call of a client that went away).
struct CallLog {
    method: &'static str,
    quiet: bool,
    peer: Option<SocketAddr>,
    caller: Option<String>,
    started: Instant,
    due: Option<CallDeadline>,
    span: tracing::Span,
    logged: bool,
}

impl CallLog {
    /// Logs `response`'s code and hands the response on.
    fn answer(&mut self, response: Response<Body>) -> Response<Body> {
        self.end(response_code(response.headers()));
        response
    }

    fn end(&mut self, code: Code) {
        if std::mem::replace(&mut self.logged, true) {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        // Microseconds are the finest figure worth reading.
        let latency_ms = (elapsed * 1e6).round() / 1000.0;
        let code_text = code_text(code);
        super::metrics::record_call(self.method, code_text, elapsed);
        let fault = matches!(code, Code::Internal | Code::Unknown | Code::DataLoss);
        if self.quiet && !fault && matches!(code, Code::Ok | Code::NotFound) {
            let _entered = self.span.enter();
            tracing::debug!(code = code_text, latency_ms, "rpc");
            return;
        }
        if self.span.is_disabled() {
            // A quiet method's span exists only at debug level: this line carries its fields.
            let (method, peer, caller) = (self.method, Peer(self.peer), self.caller.as_deref());
            if fault {
                tracing::error!(method, peer = %peer, caller, code = code_text, latency_ms, "rpc failed");
            } else {
                tracing::info!(method, peer = %peer, caller, code = code_text, latency_ms, "rpc");
            }
            return;
        }
        let _entered = self.span.enter();
        if fault {
            tracing::error!(code = code_text, latency_ms, "rpc failed");
        } else {
            tracing::info!(code = code_text, latency_ms, "rpc");
        }
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        if !self.logged {
            self.end(status(CallDeadline::abandoned(self.due)).code());
        }
    }
}

/// The name of a status code as the log writes it (`Ok`, `NotFound`, ...).
fn code_text(code: Code) -> &'static str {
    match code {
        Code::Ok => "Ok",
        Code::Cancelled => "Cancelled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// The status code of a response: the one in its headers, OK when there is none (the status
/// of a successful call follows in the trailers).
fn response_code(headers: &HeaderMap) -> Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32)
}

/// `response`, or the register's own answer when its status is one tonic produced while it
/// read the request ([`request_refusal`]).
fn rewrite_refusal(response: Response<Body>, max_message_bytes: usize) -> Response<Body> {
    match Status::from_header_map(response.headers())
        .and_then(|s| request_refusal(&s, max_message_bytes))
    {
        Some(err) => status(err).into_http(),
        None => response,
    }
}

fn timeout_response(deadline: Duration) -> Response<Body> {
    let mut details = ErrorDetails::new();
    details.set_error_info(
        Reason::RequestTimeout.as_str(),
        DOMAIN,
        HashMap::from([("timeout_ms".to_string(), deadline.as_millis().to_string())]),
    );
    Status::with_error_details(
        Code::DeadlineExceeded,
        format!("the call did not finish within {deadline:?}"),
        details,
    )
    .into_http()
}

/// Parses the gRPC `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body::Body as _;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The log lines written while `f` runs (on this thread).
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// The layer with the default limits and no database (every caller is anonymous).
    fn test_layer() -> RpcLayer {
        let limits = crate::server::Limits::default();
        RpcLayer::new(
            RpcSettings {
                timeout: limits.request_timeout,
                first_message_timeout: limits.first_message_timeout,
                max_message_bytes: 1024,
                max_header_bytes: limits.max_header_bytes,
            },
            Authenticator::new(
                crate::api::ReadyStore::default(),
                Arc::new(crate::api::callers::CallerCache::default()),
            ),
            Arc::new(CallLimits::new(limits.admission())),
        )
    }

    /// A server whose handler never answers, and the lines it logs.
    fn never_answering() -> (
        RpcService<
            impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
            + Clone
            + Send
            + 'static,
        >,
        Lines,
        tracing::subscriber::DefaultGuard,
    ) {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        let handler = tower::service_fn(|_: Request<Body>| {
            std::future::pending::<Result<Response<Body>, Infallible>>()
        });
        let service = test_layer().layer(handler);
        (service, lines, guard)
    }

    fn request(timeout: Option<&str>) -> Request<Body> {
        let mut builder =
            Request::builder().uri("/reestr.v1.OrganizationService/DeleteOrganization");
        if let Some(t) = timeout {
            builder = builder.header("grpc-timeout", t);
        }
        builder.body(Body::empty()).unwrap()
    }

    /// A body of one chunk that then ends as `last` says: `None` for END_STREAM, `Some` for an
    /// error (a reset).
    struct OneChunk {
        chunk: Option<bytes::Bytes>,
        last: Option<Option<Status>>,
    }

    impl http_body::Body for OneChunk {
        type Data = bytes::Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Status>>> {
            if let Some(chunk) = self.chunk.take() {
                return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
            }
            Poll::Ready(self.last.take().flatten().map(Err))
        }
    }

    /// The request end a handler sees after reading the whole of `body`.
    async fn end_after(body: OneChunk) -> bool {
        let handler = tower::service_fn(|request: Request<Body>| async move {
            let end = request.extensions().get::<CallInfo>().unwrap().end.clone();
            let mut body = request.into_body();
            while std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
                .await
                .is_some_and(|frame| frame.is_ok())
            {}
            Ok::<_, Infallible>(
                Response::builder()
                    .header("ended-by-client", end.ended_by_client().to_string())
                    .body(Body::empty())
                    .unwrap(),
            )
        });
        let mut service = test_layer().layer(handler);
        let request = Request::builder()
            .uri("/reestr.v1.ClassifierService/ImportItems")
            .body(body)
            .unwrap();
        let response = service.call(request).await.unwrap();
        response.headers()["ended-by-client"] == "true"
    }

    #[tokio::test]
    async fn a_request_body_the_client_ends_is_told_from_one_that_breaks_off() {
        let chunk = || Some(bytes::Bytes::from_static(b"\0\0\0\0\0"));
        assert!(
            end_after(OneChunk {
                chunk: chunk(),
                last: Some(None)
            })
            .await
        );
        let reset = Status::cancelled("h2 protocol error: stream reset");
        assert!(
            !end_after(OneChunk {
                chunk: chunk(),
                last: Some(Some(reset))
            })
            .await
        );
    }

    #[tokio::test]
    async fn a_call_whose_client_went_away_is_logged_once_at_info_as_cancelled() {
        let (mut service, lines, _guard) = never_answering();
        let mut call = service.call(request(None));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut call)
                .await
                .is_err()
        );
        assert_eq!(lines.text(), "", "nothing is logged while the call runs");
        drop(call);
        let text = lines.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(" INFO "), "{text}");
        assert!(text.contains("code=\"Cancelled\""), "{text}");
    }

    #[tokio::test]
    async fn a_call_whose_request_broke_off_is_logged_once_at_info_as_cancelled() {
        let (_, lines, _guard) = never_answering();
        // As tonic answers a request stream that broke off: UNKNOWN, without details.
        let handler = tower::service_fn(|request: Request<Body>| async move {
            let mut body = request.into_body();
            while let Some(Ok(_)) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {}
            Ok::<_, Infallible>(Status::unknown("h2 protocol error: stream reset").into_http())
        });
        let mut service = test_layer().layer(handler);
        let request = Request::builder()
            .uri("/reestr.v1.ClassifierService/ImportItems")
            .body(OneChunk {
                chunk: Some(bytes::Bytes::from_static(b"\0\0\0\0\0")),
                last: Some(Some(Status::cancelled("stream reset"))),
            })
            .unwrap();
        service.call(request).await.unwrap();
        let text = lines.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(" INFO "), "{text}");
        assert!(text.contains("code=\"Cancelled\""), "{text}");
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_is_answered_and_logged_once_as_deadline_exceeded() {
        let (mut service, lines, _guard) = never_answering();
        let response = service.call(request(Some("20m"))).await.unwrap();
        assert_eq!(response_code(response.headers()), Code::DeadlineExceeded);
        let text = lines.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("code=\"DeadlineExceeded\""), "{text}");
    }

    #[test]
    fn grpc_timeout_units_parse() {
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("150m"), Some(Duration::from_millis(150)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("12x"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
    }
}
