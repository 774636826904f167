//! The one mapping from the register's errors to gRPC statuses.
//!
//! Every status carries `google.rpc.ErrorInfo` with a stable `reason` (see
//! `reestr.v1.ErrorReason`), the domain [`DOMAIN`] and metadata naming what is involved;
//! invalid arguments also carry `google.rpc.BadRequest` with one field violation per problem.

use std::collections::HashMap;

use reestr_domain::Error;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `google.rpc.ErrorInfo.domain` of every reestr error.
pub const DOMAIN: &str = "reestr.uz";

/// The gRPC status for `err`. Internal faults are logged here with their detail; the client
/// sees only that one happened.
pub fn status(err: Error) -> Status {
    let code = match &err {
        Error::InvalidArgument(_) | Error::RequestIdReused { .. } => Code::InvalidArgument,
        Error::NotFound { .. } => Code::NotFound,
        Error::AlreadyExists { .. } => Code::AlreadyExists,
        Error::EtagMismatch { .. } => Code::Aborted,
        Error::Deleted { .. }
        | Error::NotDeleted { .. }
        | Error::ReferenceNotFound { .. }
        | Error::HierarchyCycle { .. }
        | Error::InUse { .. }
        | Error::Precondition { .. }
        | Error::IllegalTransition { .. } => Code::FailedPrecondition,
        Error::Unauthenticated { .. } => Code::Unauthenticated,
        Error::PermissionDenied { .. } => Code::PermissionDenied,
        Error::RateLimited { .. } => Code::ResourceExhausted,
        Error::Unavailable(_) => Code::Unavailable,
        Error::Internal(_) => Code::Internal,
    };
    let metadata: HashMap<String, String> = err.metadata().into_iter().collect();
    let mut details = ErrorDetails::new();
    details.set_error_info(err.reason(), DOMAIN, metadata);
    match &err {
        Error::InvalidArgument(violations) => {
            for v in violations {
                details.add_bad_request_violation(v.field.clone(), v.description.clone());
            }
        }
        Error::RequestIdReused { .. } => {
            details.add_bad_request_violation(
                "request_id",
                "was already used for a different request; use a new UUID",
            );
        }
        Error::Unavailable(_) => {
            details.set_retry_info(Some(std::time::Duration::from_secs(1)));
        }
        Error::RateLimited { retry_after_ms } => {
            details.set_retry_info(Some(std::time::Duration::from_millis(*retry_after_ms)));
        }
        _ => {}
    }
    let message = match &err {
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            "internal error; it has been logged".to_string()
        }
        Error::Unavailable(detail) => {
            tracing::warn!(error = %detail, "storage unavailable");
            "the register's storage is unavailable; retry later".to_string()
        }
        other => other.to_string(),
    };
    Status::with_error_details(code, message, details)
}
