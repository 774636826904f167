//! The per-call tower layer: one tracing span per RPC, the request deadline, and a clear
//! status for oversize requests.
//!
//! - **Span**: `rpc` with `method`, `peer`, and, when the call ends, `code` (gRPC status code)
//!   and `latency_ms`, logged at info level (debug for health, reflection and the successful
//!   lookups of [`QUIET_METHODS`]; error for internal faults). The code is read from the response headers, where tonic puts the status
//!   of every failed unary call; a response without one is a success. A call whose client
//!   goes away is dropped by hyper before it answers: it is logged then, once, as CANCELLED
//!   (DEADLINE_EXCEEDED if its deadline had passed).
//! - **Deadline**: the call is cancelled after the server's request timeout or the client's
//!   `grpc-timeout`, whichever is shorter, and answered DEADLINE_EXCEEDED (REQUEST_TIMEOUT).
//!   The handler finds the deadline in the request's extensions ([`CallDeadline`]), so that
//!   the audit record of a call dropped unfinished says which of the two ended it.
//!   The methods in [`UNBOUNDED_METHODS`], whose work grows with a whole classifier version,
//!   are bounded by the client's deadline only.
//! - **Request end**: the request body is watched, and whether it ended with the client's
//!   END_STREAM or broke off (a reset, a lost connection) is put into the request's extensions
//!   ([`RequestEnd`]). tonic hands a server handler a cancelled request stream as a normal end
//!   of stream; a client-streaming handler asks [`RequestEnd`] (through
//!   [`crate::api::call::Inbound`]) before it acts on what it received, so that a client that
//!   vanishes mid-upload never has its partial upload committed.
//! - **Oversize**: tonic refuses a message above the decoding limit with OUT_OF_RANGE; this
//!   layer answers RESOURCE_EXHAUSTED (MESSAGE_TOO_LARGE) instead, with the limit in the
//!   error's metadata, as clients expect for a size limit.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use tonic::body::Body;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::api::call::{CallDeadline, RequestEnd};
use reestr_domain::error::Reason;

use crate::api::error::{DOMAIN, status};

/// Adds [`RpcService`] around the router.
#[derive(Debug, Clone)]
pub struct RpcLayer {
    timeout: Duration,
    max_message_bytes: usize,
}

impl RpcLayer {
    /// A layer with the server's request timeout and message limit.
    pub fn new(timeout: Duration, max_message_bytes: usize) -> Self {
        Self {
            timeout,
            max_message_bytes,
        }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService {
            inner,
            timeout: self.timeout,
            max_message_bytes: self.max_message_bytes,
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
    timeout: Duration,
    max_message_bytes: usize,
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
/// checked and hashed, takes as long as the version is large.
pub const UNBOUNDED_METHODS: [&str; 3] = [
    "/reestr.v1.ClassifierService/ImportItems",
    "/reestr.v1.ClassifierService/ValidateClassifierVersion",
    "/reestr.v1.ClassifierService/PublishClassifierVersion",
];

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

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call; the fresh clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let method = request.uri().path().to_string();
        let peer = request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .or_else(|| {
                request
                    .extensions()
                    .get::<TlsConnectInfo<TcpConnectInfo>>()
                    .and_then(|i| i.get_ref().remote_addr())
            });
        let server_limit = if UNBOUNDED_METHODS.contains(&method.as_str()) {
            // About 31 years: in effect none, and still a valid timer.
            Duration::from_secs(1 << 30)
        } else {
            self.timeout
        };
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map_or(server_limit, |client| client.min(server_limit));
        let due = Instant::now().checked_add(deadline).map(CallDeadline);
        if let Some(due) = due {
            request.extensions_mut().insert(due);
        }
        let end = RequestEnd::default();
        request.extensions_mut().insert(end.clone());
        let request = request.map(|inner| Body::new(WatchedBody { inner, end }));
        let max_message_bytes = self.max_message_bytes;
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            peer = peer.map(|p| p.to_string()).unwrap_or_default(),
            caller = tracing::field::Empty,
            code = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        Box::pin(
            async move {
                let mut log = CallLog {
                    method,
                    started: Instant::now(),
                    due,
                    span: tracing::Span::current(),
                    logged: false,
                };
                let response = match tokio::time::timeout(deadline, inner.call(request)).await {
                    Ok(Ok(response)) => rewrite_oversize(response, max_message_bytes),
                    Ok(Err(err)) => {
                        log.end(Code::Unknown);
                        return Err(err);
                    }
                    Err(_) => timeout_response(deadline),
                };
                log.end(response_code(&response));
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// A request body that tells its [`RequestEnd`] how it ended.
struct WatchedBody<B> {
    inner: B,
    end: RequestEnd,
}

impl<B> http_body::Body for WatchedBody<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.end.ended(),
            Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => self.end.ended(),
            Poll::Ready(Some(Err(_))) => self.end.broke_off(),
            _ => {}
        }
        polled
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
    method: String,
    started: Instant,
    due: Option<CallDeadline>,
    span: tracing::Span,
    logged: bool,
}

impl CallLog {
    fn end(&mut self, code: Code) {
        if std::mem::replace(&mut self.logged, true) {
            return;
        }
        let _entered = self.span.enter();
        self.span.record("code", format!("{code:?}"));
        self.span
            .record("latency_ms", self.started.elapsed().as_secs_f64() * 1000.0);
        let routine = self.method.starts_with("/grpc.")
            || (matches!(code, Code::Ok | Code::NotFound)
                && QUIET_METHODS.contains(&self.method.as_str()));
        match code {
            Code::Internal | Code::Unknown | Code::DataLoss => tracing::error!("rpc failed"),
            _ if routine => tracing::debug!("rpc"),
            _ => tracing::info!("rpc"),
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

/// The status code of a response: the one in its headers, OK when there is none (the status
/// of a successful call follows in the trailers).
fn response_code(response: &Response<Body>) -> Code {
    Status::from_header_map(response.headers()).map_or(Code::Ok, |s| s.code())
}

fn rewrite_oversize(response: Response<Body>, limit: usize) -> Response<Body> {
    match Status::from_header_map(response.headers()) {
        Some(s) if s.code() == Code::OutOfRange && s.message().contains("length too large") => {
            let mut details = ErrorDetails::new();
            details.set_error_info(
                Reason::MessageTooLarge.as_str(),
                DOMAIN,
                HashMap::from([("limit_bytes".to_string(), limit.to_string())]),
            );
            Status::with_error_details(
                Code::ResourceExhausted,
                format!("the request message is larger than the server's limit of {limit} bytes"),
                details,
            )
            .into_http()
        }
        _ => response,
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
        let service = RpcLayer::new(Duration::from_secs(30), 1024).layer(handler);
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
            let end = request.extensions().get::<RequestEnd>().cloned().unwrap();
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
        let mut service = RpcLayer::new(Duration::from_secs(30), 1024).layer(handler);
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
    async fn a_call_past_its_deadline_is_answered_and_logged_once_as_deadline_exceeded() {
        let (mut service, lines, _guard) = never_answering();
        let response = service.call(request(Some("20m"))).await.unwrap();
        assert_eq!(response_code(&response), Code::DeadlineExceeded);
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
