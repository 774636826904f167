//! Connections: how many the server holds, and when it lets one go.
//!
//! - **At most `max_connections`** (`--max-connections`) are open at once. A connection
//!   accepted above that is closed at once (the client sees it refused and may retry), so a
//!   flood of connections cannot use up the process's file descriptors; the first refusal of
//!   a burst is logged at warn.
//! - **Handshake**: a client must have sent its first bytes — the HTTP/2 connection preface
//!   (24 bytes) or, with TLS, its hello — within `handshake_timeout`
//!   (`--handshake-timeout`), or it is disconnected. (TLS handshakes have a timeout of their
//!   own on top, [`super::tls::HANDSHAKE_TIMEOUT`].)
//! - **Idle**: a connection with no call in flight and none started or ended for
//!   `idle_timeout` (`--idle-timeout`) is closed. HTTP/2 keepalive pings do not count as
//!   activity: a connection is idle when it serves nothing, however promptly it answers
//!   pings. A client's channel reconnects on its next call.
//!
//! Each accepted socket is wrapped in a [`Connection`]; its [`ConnectionInfo`] reaches every
//! request's extensions (as tonic's `TcpConnectInfo` would), and the rpc layer counts the
//! calls of the connection through it ([`ConnectionInfo::call`]). One timer per connection,
//! reset only when it fires, does both timeouts.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The connection limits (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a new connection may take to send its first bytes.
    pub handshake_timeout: Duration,
    /// How long a connection may serve no call before it is closed.
    pub idle_timeout: Duration,
}

/// Bytes of the HTTP/2 client connection preface.
const PREFACE_BYTES: u64 = 24;

/// How long the accept loop waits after the system refused to accept (e.g. out of file
/// descriptors) before it tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// The connections a listener accepts, limited as [`ConnectionLimits`] says.
pub struct Incoming {
    listener: TcpListener,
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    retry: Option<Pin<Box<Sleep>>>,
    /// Whether the last accepted connection was refused (only the first of a burst is logged).
    refusing: bool,
}

impl Incoming {
    /// Accepts on `listener`.
    pub fn new(listener: TcpListener, limits: ConnectionLimits) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
            retry: None,
            refusing: false,
        }
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Connection>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(retry) = &mut this.retry {
                if retry.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.retry = None;
            }
            let (stream, peer) = match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(accepted)) => accepted,
                Poll::Ready(Err(e)) => {
                    // A refused accept (too many open files, a connection reset before it
                    // was taken) must not stop the server: wait a little and go on.
                    tracing::warn!(error = %e, "could not accept a connection");
                    this.retry = Some(Box::pin(tokio::time::sleep(ACCEPT_RETRY)));
                    continue;
                }
            };
            let Ok(permit) = this.slots.clone().try_acquire_owned() else {
                if !std::mem::replace(&mut this.refusing, true) {
                    tracing::warn!(
                        %peer,
                        limit = this.limits.max_connections,
                        "connection limit reached: refusing new connections"
                    );
                }
                drop(stream);
                continue;
            };
            this.refusing = false;
            let _ = stream.set_nodelay(true);
            return Poll::Ready(Some(Ok(Connection::new(stream, this.limits, permit))));
        }
    }
}

/// What a connection's requests know about it.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The addresses, as tonic reports a TCP connection.
    pub tcp: TcpConnectInfo,
    activity: Arc<Activity>,
}

impl ConnectionInfo {
    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.tcp.remote_addr()
    }

    /// What the connection last authenticated as ([`super::auth::Memo`]).
    pub fn memo(&self) -> &super::auth::Memo {
        &self.activity.memo
    }

    /// Counts a call of this connection until the returned guard is dropped.
    pub fn call(&self) -> CallOnConnection {
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        CallOnConnection(self.activity.clone())
    }
}

/// One call being served on a connection (see [`ConnectionInfo::call`]).
pub struct CallOnConnection(Arc<Activity>);

impl Drop for CallOnConnection {
    fn drop(&mut self) {
        // A call in flight keeps the connection from being idle; only its end is a time.
        self.0.ended();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Calls of one connection: how many are in flight, and when the last one ended.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` of the end of the last call (0: none yet).
    last_ms: AtomicU64,
    /// What the connection last authenticated as.
    memo: super::auth::Memo,
}

impl Activity {
    fn ended(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::AcqRel);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Acquire))
    }
}

/// An accepted socket, with its slot of the connection limit and its timer.
pub struct Connection {
    stream: TcpStream,
    info: ConnectionInfo,
    limits: ConnectionLimits,
    read: u64,
    timer: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    fn new(stream: TcpStream, limits: ConnectionLimits, slot: OwnedSemaphorePermit) -> Self {
        let opened = Instant::now();
        let info = ConnectionInfo {
            tcp: stream.connect_info(),
            activity: Arc::new(Activity {
                opened,
                in_flight: AtomicUsize::new(0),
                last_ms: AtomicU64::new(0),
                memo: super::auth::Memo::default(),
            }),
        };
        Self {
            stream,
            info,
            limits,
            read: 0,
            timer: Box::pin(tokio::time::sleep_until(opened + limits.handshake_timeout)),
            _slot: slot,
        }
    }

    /// Called when a read would wait: whether the connection has run out of time, and
    /// otherwise the timer set (and polled, so that it wakes the task) for the next check.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<&'static str> {
        while self.timer.as_mut().poll(cx).is_ready() {
            if self.read < PREFACE_BYTES {
                return Some("no HTTP/2 preface within the handshake timeout");
            }
            let activity = &self.info.activity;
            let now = Instant::now();
            let next = if activity.in_flight.load(Ordering::Acquire) > 0 {
                now + self.limits.idle_timeout
            } else {
                let due = activity.last() + self.limits.idle_timeout;
                if due <= now {
                    return Some("idle");
                }
                due
            };
            self.timer.as_mut().reset(next);
        }
        None
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if this.read < PREFACE_BYTES {
                    this.read += n as u64;
                    if this.read >= PREFACE_BYTES {
                        let idle = Instant::now() + this.limits.idle_timeout;
                        this.timer.as_mut().reset(idle);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.expired(cx) {
                Some(why) => {
                    tracing::debug!(peer = ?this.info.remote_addr(), why, "closing a connection");
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)))
                }
                None => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
