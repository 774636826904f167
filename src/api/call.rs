//! The context of one call: who is calling which method, and the audit record of mutations.
//!
//! The rpc layer ([`crate::server::rpc`]) puts a [`CallInfo`] into every request's
//! extensions: the caller, the method, the call's [`CallDeadline`] and its [`RequestEnd`]. A handler takes them with [`Call::of`], asks the policy
//! (`reestr_domain::access::authorize`) before anything else, and passes [`Call::ctx`] to the
//! store, whose write transaction records the audit event of a successful change.
//!
//! A mutation starts its [`Audit`] with [`Call::audit`] before it does anything, and ends with
//! [`Audit::finish`], which records a failed or refused attempt in a transaction of its own.
//! A call whose client goes away, or that runs past its deadline, never reaches `finish`:
//! tonic drops its future. The `Audit` is dropped with it, and its `Drop` records the call as
//! CANCELLED or DEADLINE_EXCEEDED. Either way the event is written by a task of its own, which
//! outlives the call, and exactly once. (One narrow window remains: a call dropped while the
//! COMMIT of its change is in flight, whose commit still lands, has its change's event and a
//! CANCELLED one.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use reestr_domain::Error;
use reestr_domain::access::{Action, Caller, authorize};
use reestr_store::CallId;
use reestr_store::{AuditContext, Store};
use tonic::{Code, Request, Status, Streaming};

use super::error::status;

/// What the rpc layer learned about a request, in the request's extensions (one entry, so a
/// call pays for one).
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The caller.
    pub caller: Arc<Caller>,
    /// The full gRPC method path.
    pub method: &'static str,
    /// When the call must be over.
    pub deadline: Option<CallDeadline>,
    /// How the request body ended.
    pub end: RequestEnd,
    /// The server's largest request message, in bytes.
    pub max_message_bytes: usize,
}

/// When a call must be over: the server's request timeout or the client's deadline, whichever
/// comes first (set by the rpc layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallDeadline(pub Instant);

impl CallDeadline {
    /// The error of a call that ended before it answered: DEADLINE_EXCEEDED once its deadline
    /// has passed, otherwise CANCELLED (the client went away).
    pub fn abandoned(deadline: Option<CallDeadline>) -> Error {
        match deadline {
            Some(CallDeadline(at)) if Instant::now() >= at => Error::DeadlineExceeded,
            _ => Error::Cancelled,
        }
    }
}

/// How a call's request body ended, as the rpc layer saw it: with the client's END_STREAM, or
/// broken off (reset by the client, connection lost). tonic reports both to a handler as the
/// end of the stream, so a client-streaming handler must ask this before it acts.
#[derive(Debug, Clone, Default)]
pub struct RequestEnd(Arc<AtomicU8>);

const BODY_OPEN: u8 = 0;
const BODY_ENDED: u8 = 1;
const BODY_BROKEN: u8 = 2;

impl RequestEnd {
    /// The client ended the body (END_STREAM or trailers).
    pub fn ended(&self) {
        let _ = self
            .0
            .compare_exchange(BODY_OPEN, BODY_ENDED, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The body broke off before the client ended it.
    pub fn broke_off(&self) {
        let _ = self
            .0
            .compare_exchange(BODY_OPEN, BODY_BROKEN, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Whether the client ended the body itself.
    pub fn ended_by_client(&self) -> bool {
        self.0.load(Ordering::SeqCst) == BODY_ENDED
    }

    /// Whether the body broke off before the client ended it.
    pub fn broken_off(&self) -> bool {
        self.0.load(Ordering::SeqCst) == BODY_BROKEN
    }
}

/// The messages of a client stream, read the one way every client-streaming handler reads
/// them: a message must arrive within `idle` of the last one; the end counts only when the
/// client ended the stream (see [`RequestEnd`]); a stream that breaks off, is cancelled or runs
/// out of time ends the call as abandoned ([`Audit::abandoned`]), with nothing written.
pub struct Inbound<T> {
    stream: Streaming<T>,
    end: Option<RequestEnd>,
    idle: Duration,
    max_message_bytes: usize,
}

impl<T> Inbound<T> {
    /// The stream of `request`; take [`Call::of`] first.
    pub fn new(request: Request<Streaming<T>>, idle: Duration) -> Self {
        let info = request.extensions().get::<CallInfo>();
        let end = info.map(|i| i.end.clone());
        let max_message_bytes = info.map_or(usize::MAX, |i| i.max_message_bytes);
        Self {
            stream: request.into_inner(),
            end,
            idle,
            max_message_bytes,
        }
    }

    /// The next message, `None` at the end the client sent.
    pub async fn next(&mut self, audit: &Audit) -> Result<Option<T>, Error> {
        let next = tokio::time::timeout(self.idle, self.stream.message())
            .await
            .map_err(|_| {
                Error::invalid(
                    "stream",
                    format!(
                        "no message arrived for {} s; the call was abandoned and nothing was written",
                        self.idle.as_secs()
                    ),
                )
            })?;
        match next {
            Ok(Some(message)) => Ok(Some(message)),
            Ok(None) if self.end.as_ref().is_none_or(RequestEnd::ended_by_client) => Ok(None),
            Ok(None) => Err(audit.abandoned()),
            Err(s) if matches!(s.code(), Code::Cancelled | Code::DeadlineExceeded) => {
                Err(audit.abandoned())
            }
            Err(s) => Err(super::error::request_refusal(&s, self.max_message_bytes)
                .unwrap_or_else(|| {
                    Error::invalid("stream", format!("the stream broke off: {}", s.message()))
                })),
        }
    }
}

/// The message limit of a call that did not pass the rpc layer (4 MiB, the server's default).
const DEFAULT_MESSAGE_LIMIT: usize = 4 * 1024 * 1024;

/// One call being served.
#[derive(Debug, Clone)]
pub struct Call {
    /// The caller (shared with the rpc layer and, for a token, with every call presenting it).
    pub caller: Arc<Caller>,
    /// Audit context for the store.
    pub ctx: AuditContext,
    /// The call's deadline, when the rpc layer set one.
    pub deadline: Option<CallDeadline>,
    /// The server's message limit, which bounds List responses too ([`super::list`]).
    pub max_message_bytes: usize,
}

impl Call {
    /// The call of `request` (anonymous when no layer identified the caller).
    pub fn of<T>(request: &Request<T>) -> Call {
        let (caller, method, deadline, max_message_bytes) =
            match request.extensions().get::<CallInfo>() {
                Some(info) => (
                    info.caller.clone(),
                    info.method,
                    info.deadline,
                    info.max_message_bytes,
                ),
                None => (
                    Arc::new(Caller::anonymous()),
                    "",
                    None,
                    DEFAULT_MESSAGE_LIMIT,
                ),
            };
        let ctx = AuditContext {
            caller: caller.id(),
            organization: caller
                .organization
                .as_ref()
                .map(|o| o.as_str().to_string())
                .unwrap_or_default(),
            method: method.to_string(),
            request_id: String::new(),
            call: CallId::next(),
        };
        Call {
            caller,
            ctx,
            deadline,
            max_message_bytes,
        }
    }

    /// The policy's verdict for `action`.
    pub fn authorize(&self, action: Action<'_>) -> Result<(), Error> {
        authorize(&self.caller, action)
    }

    /// Ends a read: maps the error.
    pub fn read<T>(result: Result<T, Error>) -> Result<T, Status> {
        result.map_err(status)
    }

    /// Starts the audit record of a mutation of `resource` (see the module documentation).
    /// Call it once [`Call::ctx`] is complete (its `request_id` set), before the first await.
    pub fn audit(&self, store: &Store, resource: &str) -> Audit {
        Audit {
            store: store.clone(),
            ctx: self.ctx.clone(),
            resource: resource.to_string(),
            deadline: self.deadline,
            recorded: AtomicBool::new(false),
        }
    }
}

/// The audit record of one mutation: written exactly once, by the change's own transaction,
/// by [`Audit::finish`] or [`Audit::record_replay`], or, when the call is dropped unfinished,
/// by `Drop`.
#[derive(Debug)]
pub struct Audit {
    store: Store,
    ctx: AuditContext,
    resource: String,
    deadline: Option<CallDeadline>,
    recorded: AtomicBool,
}

impl Audit {
    /// Names the resource once it is known (ImportItems learns it from its first message).
    pub fn set_resource(&mut self, resource: &str) {
        self.resource = resource.to_string();
    }

    /// Records the replay of a create answered from its `request_id` (no change was made; the
    /// event says so with reason `REQUEST_REPLAYED`).
    pub async fn record_replay(&self) {
        self.record("OK", "REQUEST_REPLAYED").await;
    }

    /// Ends the mutation: on failure, records the refused or failed attempt and maps the error.
    /// (A success was recorded with its change.)
    pub async fn finish<T>(self, result: Result<T, Error>) -> Result<T, Status> {
        let err = match result {
            Ok(v) => {
                self.recorded.store(true, Ordering::SeqCst);
                return Ok(v);
            }
            Err(e) => e,
        };
        let reason = err.reason().as_str();
        let status = status(err);
        self.record(code_name(status.code()), reason).await;
        Err(status)
    }

    /// The error of a call whose client went away or whose deadline passed while it was
    /// served (e.g. its request stream broke off).
    pub fn abandoned(&self) -> Error {
        CallDeadline::abandoned(self.deadline)
    }

    /// Writes the event, unless one was written already, from a task of its own: if the call
    /// is dropped while it waits, the event is still written.
    async fn record(&self, outcome: &'static str, reason: &'static str) {
        if let Some(task) = self.spawn_record(outcome, reason) {
            let _ = task.await;
        }
    }

    fn spawn_record(
        &self,
        outcome: &'static str,
        reason: &'static str,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.recorded.swap(true, Ordering::SeqCst) {
            return None;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(resource = %self.resource, outcome, "no runtime to record the call in the audit trail");
            return None;
        };
        let (store, ctx, resource) = (self.store.clone(), self.ctx.clone(), self.resource.clone());
        Some(runtime.spawn(async move {
            if let Err(e) = store.record_call(&ctx, &resource, outcome, reason).await {
                tracing::warn!(error = %e, outcome, "could not record a call in the audit trail");
            }
        }))
    }
}

impl Drop for Audit {
    /// A call dropped before it finished: its client went away, or its deadline passed.
    fn drop(&mut self) {
        if *self.recorded.get_mut() {
            return;
        }
        let err = self.abandoned();
        let reason = err.reason().as_str();
        let outcome = code_name(status(err).code());
        // Detached: the call's future is being dropped, nobody waits for the event.
        drop(self.spawn_record(outcome, reason));
    }
}

/// The canonical name of a gRPC status code, as the audit trail records it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
