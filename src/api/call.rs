//! The context of one call: who is calling which method, and the audit record of mutations.
//!
//! The authentication layer ([`crate::server::auth`]) puts a [`CallInfo`] into every
//! request's extensions. A handler takes it with [`Call::of`], asks the policy
//! (`reestr_domain::access::authorize`) before anything else, and passes [`Call::ctx`] to the
//! store, whose write transaction records the audit event of a successful change. A mutation
//! that fails or is refused is recorded by [`Call::finish`], in a transaction of its own.

use reestr_domain::Error;
use reestr_domain::access::{Action, Caller, authorize};
use reestr_store::{AuditContext, Store};
use tonic::{Code, Request, Status};

use super::error::status;

/// What the authentication layer learned about a request.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The caller.
    pub caller: Caller,
    /// The full gRPC method path.
    pub method: String,
}

/// One call being served.
#[derive(Debug, Clone)]
pub struct Call {
    /// The caller.
    pub caller: Caller,
    /// Audit context for the store.
    pub ctx: AuditContext,
}

impl Call {
    /// Records the replay of a create answered from its `request_id` (no change was made; the
    /// event says so with reason `REQUEST_REPLAYED`).
    pub async fn record_replay(&self, store: &Store, resource: &str) {
        if let Err(e) = store
            .record_call(&self.ctx, resource, "OK", "REQUEST_REPLAYED")
            .await
        {
            tracing::warn!(error = %e, "could not record a replayed call in the audit trail");
        }
    }

    /// The call of `request` (anonymous when no layer identified the caller).
    pub fn of<T>(request: &Request<T>) -> Call {
        let info = request
            .extensions()
            .get::<CallInfo>()
            .cloned()
            .unwrap_or(CallInfo {
                caller: Caller::anonymous(),
                method: String::new(),
            });
        let ctx = AuditContext {
            caller: info.caller.id(),
            organization: info
                .caller
                .organization
                .as_ref()
                .map(|o| o.as_str().to_string())
                .unwrap_or_default(),
            method: info.method,
            request_id: String::new(),
        };
        Call {
            caller: info.caller,
            ctx,
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

    /// Ends a mutation of `resource`: on failure, records the refused or failed attempt in the
    /// audit trail and maps the error. (A success was recorded with its change.)
    pub async fn finish<T>(
        &self,
        store: &Store,
        resource: &str,
        result: Result<T, Error>,
    ) -> Result<T, Status> {
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let reason = err.reason();
        let status = status(err);
        if let Err(e) = store
            .record_call(&self.ctx, resource, code_name(status.code()), reason)
            .await
        {
            tracing::warn!(error = %e, "could not record a failed call in the audit trail");
        }
        Err(status)
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
