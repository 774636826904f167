//! The one mapping from the register's errors to gRPC statuses.
//!
//! Every status carries `google.rpc.ErrorInfo` with a stable `reason` (see
//! `reestr.v1.ErrorReason`), the domain [`DOMAIN`] and metadata naming what is involved;
//! invalid arguments also carry `google.rpc.BadRequest` with one field violation per problem.

use std::collections::HashMap;

use reestr_domain::Error;
use reestr_domain::text::shorten;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `google.rpc.ErrorInfo.domain` of every reestr error.
pub const DOMAIN: &str = "reestr.uz";

/// Most bytes of field violations one status carries. The details travel in an HTTP/2
/// trailer, and common clients refuse header blocks over 16 KiB; base64 makes the details a
/// third larger, and the message and ErrorInfo ride along.
pub const MAX_VIOLATION_BYTES: usize = 8 * 1024;

/// Most bytes of a status message, and of each field violation's parts and each ErrorInfo
/// metadata value. They echo what the request sent (a 100 KiB name in "… is not a name"), and
/// a status that does not fit in the client's header limit reaches it as a broken connection
/// instead of its status; longer text is cut ([`shorten`]).
const MAX_ECHO_BYTES: usize = 1024;

/// How many of `violations`, from the first, fit in [`MAX_VIOLATION_BYTES`] (at least one).
fn listed_violations(violations: &[reestr_domain::FieldViolation]) -> usize {
    fitting(
        violations.iter().map(|v| {
            (
                v.field.len().min(MAX_ECHO_BYTES),
                v.description.len().min(MAX_ECHO_BYTES),
            )
        }),
        MAX_VIOLATION_BYTES,
    )
}

/// How many of the violations whose (field, description) byte lengths are `sizes`, from the
/// first, fit in `budget` bytes (at least one). A caller that lists the first problems of a long
/// list and counts the rest in a last violation keeps a little of the budget for that one.
pub fn fitting(sizes: impl Iterator<Item = (usize, usize)>, budget: usize) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for (field, description) in sizes {
        // The field and description, and a few bytes of protobuf framing.
        bytes += field + description + 8;
        if bytes > budget && n > 0 {
            return n;
        }
        n += 1;
    }
    n
}

/// The budget for listed problems when a last violation counts the rest.
pub const LISTED_PROBLEM_BYTES: usize = MAX_VIOLATION_BYTES - 256;

/// What [`crate::api::ReadyStore`] refuses calls with before the database is first reached.
pub(crate) const STARTING: &str = "the register is starting";

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
        Error::RateLimited { .. } | Error::TooManyCalls { .. } | Error::MessageTooLarge { .. } => {
            Code::ResourceExhausted
        }
        Error::Compacted { .. } => Code::OutOfRange,
        Error::Cancelled => Code::Cancelled,
        Error::DeadlineExceeded => Code::DeadlineExceeded,
        Error::Unavailable(_) => Code::Unavailable,
        Error::Internal(_) => Code::Internal,
    };
    let metadata: HashMap<String, String> = err
        .metadata()
        .into_iter()
        .map(|(k, v)| (k, shorten(&v, MAX_ECHO_BYTES)))
        .collect();
    let mut details = ErrorDetails::new();
    details.set_error_info(err.reason().as_str(), DOMAIN, metadata);
    match &err {
        Error::InvalidArgument(violations) => {
            let listed = listed_violations(violations);
            let mut bad: Vec<tonic_types::FieldViolation> = violations[..listed]
                .iter()
                .map(|v| {
                    let mut listed = tonic_types::FieldViolation::new(
                        shorten(&v.field, MAX_ECHO_BYTES),
                        shorten(&v.description, MAX_ECHO_BYTES),
                    );
                    listed.reason = v.reason.unwrap_or_default().to_string();
                    listed
                })
                .collect();
            if listed < violations.len() {
                bad.push(tonic_types::FieldViolation::new(
                    "",
                    format!(
                        "{} not listed here",
                        reestr_domain::error::more_problems(violations.len() - listed)
                    ),
                ));
            }
            details.set_bad_request(bad);
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
        Error::RateLimited { retry_after_ms } | Error::TooManyCalls { retry_after_ms, .. } => {
            details.set_retry_info(Some(std::time::Duration::from_millis(*retry_after_ms)));
        }
        _ => {}
    }
    let message = match &err {
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            "internal error; it has been logged".to_string()
        }
        // Refused before the database was first reached: the call's own log line says it,
        // and the start-up's lines say why.
        Error::Unavailable(detail) if detail == STARTING => {
            "the register is starting; retry shortly".to_string()
        }
        Error::Unavailable(detail) => {
            tracing::warn!(error = %detail, "storage unavailable");
            "the register's storage is unavailable; retry later".to_string()
        }
        Error::InvalidArgument(violations) if violations.len() > 1 => format!(
            "invalid argument: {} (and {}, listed in the BadRequest detail)",
            violations[0],
            reestr_domain::error::more_problems(violations.len() - 1)
        ),
        other => other.to_string(),
    };
    Status::with_error_details(code, shorten(&message, MAX_ECHO_BYTES), details)
}

/// The register's error for a status that tonic produced itself while it read a request
/// (`None` for a status of the register's own, which always carries an ErrorInfo): a body
/// that is not protobuf, a string field that is not UTF-8, a message over the size limit, a
/// frame cut short, a call without its message. tonic answers those INTERNAL or OUT_OF_RANGE;
/// they are the client's mistake, so the register answers INVALID_ARGUMENT naming the field
/// where the decoder names one, and RESOURCE_EXHAUSTED (`MESSAGE_TOO_LARGE`) for the size.
pub fn request_refusal(status: &Status, limit_bytes: usize) -> Option<Error> {
    if !status.details().is_empty() {
        return None;
    }
    let message = status.message();
    match status.code() {
        Code::OutOfRange if message.contains("length too large") => Some(Error::MessageTooLarge {
            part: "message",
            limit_bytes: u64::try_from(limit_bytes).unwrap_or(u64::MAX),
        }),
        Code::Internal | Code::Unknown => Some(undecodable(message)),
        _ => None,
    }
}

/// The invalid argument of a request tonic could not decode; `message` is tonic's. prost
/// describes a decoding error as `failed to decode Protobuf message: Inner.field: Outer.field:
/// what`, innermost field first: the violation names the field path outermost first
/// (`organization.display_name`), or the request as a whole (`""`) when no field is named.
fn undecodable(message: &str) -> Error {
    const PROST: &str = "failed to decode Protobuf message: ";
    let Some(rest) = message.strip_prefix(PROST) else {
        return Error::invalid(
            "",
            format!(
                "the request could not be read: {}",
                shorten(message, MAX_ECHO_BYTES)
            ),
        );
    };
    let mut fields = Vec::new();
    let mut what = rest;
    while let Some((head, tail)) = what.split_once(": ") {
        let Some((owner, field)) = head.split_once('.') else {
            break;
        };
        let is_ident =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_ident(owner) || !is_ident(field) {
            break;
        }
        fields.push(field);
        what = tail;
    }
    fields.reverse();
    Error::invalid(
        fields.join("."),
        format!("is not valid protobuf: {}", shorten(what, MAX_ECHO_BYTES)),
    )
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use reestr_domain::error::Reason;

    use crate::proto::v1::ErrorReason;

    /// The prefix of every `reestr.v1.ErrorReason` value, left off in `ErrorInfo.reason`.
    const PREFIX: &str = "ERROR_REASON_";

    /// The names of `reestr.v1.ErrorReason`'s values, as the compiled proto declares them.
    fn proto_values() -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        let enums: Vec<_> = set
            .file
            .iter()
            .filter(|f| f.package() == "reestr.v1")
            .flat_map(|f| &f.enum_type)
            .filter(|e| e.name() == "ErrorReason")
            .collect();
        assert_eq!(enums.len(), 1, "one reestr.v1.ErrorReason");
        enums[0]
            .value
            .iter()
            .map(|v| v.name().to_string())
            .collect()
    }

    #[test]
    fn every_domain_reason_is_a_proto_error_reason_with_its_name() {
        let proto = proto_values();
        for reason in Reason::ALL {
            let full = format!("{PREFIX}{}", reason.as_str());
            assert!(
                proto.contains(&full),
                "{full} is not in reestr.v1.ErrorReason"
            );
            let generated = ErrorReason::from_str_name(&full)
                .unwrap_or_else(|| panic!("no generated ErrorReason {full}"));
            assert_eq!(generated.as_str_name(), full);
            assert_eq!(Reason::from_name(reason.as_str()), Some(*reason));
        }
    }

    #[test]
    fn every_proto_error_reason_is_a_domain_reason_with_its_name() {
        let proto = proto_values();
        assert_eq!(
            proto.first().map(String::as_str),
            Some("ERROR_REASON_UNSPECIFIED")
        );
        for full in &proto[1..] {
            let name = full
                .strip_prefix(PREFIX)
                .unwrap_or_else(|| panic!("{full} lacks the {PREFIX} prefix"));
            let reason =
                Reason::from_name(name).unwrap_or_else(|| panic!("{full} has no domain Reason"));
            assert_eq!(reason.as_str(), name);
        }
        assert_eq!(Reason::ALL.len(), proto.len() - 1, "one Reason per value");
        // The generated enum agrees with the descriptor set, number by number.
        for (number, full) in proto.iter().enumerate() {
            let generated = ErrorReason::try_from(i32::try_from(number).expect("a small number"))
                .expect("a generated value");
            assert_eq!(generated.as_str_name(), full);
        }
    }

    #[test]
    fn error_info_carries_the_unprefixed_name() {
        let status = super::status(reestr_domain::Error::EtagMismatch {
            resource: "organizations/stat".into(),
        });
        use tonic_types::StatusExt as _;
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "ETAG_MISMATCH");
        assert_eq!(info.domain, super::DOMAIN);
    }
}
