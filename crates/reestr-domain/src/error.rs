//! The one error type of the register.
//!
//! Every layer returns [`Error`]; the gRPC layer maps it to a `tonic::Status` in exactly one
//! place, attaching `google.rpc.ErrorInfo` with [`Error::reason`] (a [`Reason`], the domain's
//! copy of the proto's `reestr.v1.ErrorReason`) and, for invalid arguments,
//! `google.rpc.BadRequest` with one [`FieldViolation`] per problem.

use std::collections::BTreeMap;
use std::fmt;

/// One problem with one field of a request, e.g. `organization.tin`: "must be exactly 9 digits".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the offending field in the request message, dot-separated
    /// (`organization.contacts.email`, `organization.display_name["xx"]`).
    pub field: String,
    /// What is wrong, in plain English.
    pub description: String,
    /// A stable UPPER_SNAKE identifier of the problem, for the violations a client acts on
    /// (`UNKNOWN_CODE`); `None` for the rest, whose description says it all.
    pub reason: Option<&'static str>,
}

impl FieldViolation {
    /// A violation of `field` described by `description`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
            reason: None,
        }
    }

    /// The violation with a stable `reason` a client can act on.
    pub fn with_reason(self, reason: &'static str) -> Self {
        Self {
            reason: Some(reason),
            ..self
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            // A problem of the request as a whole.
            f.write_str(&self.description)
        } else {
            write!(f, "{}: {}", self.field, self.description)
        }
    }
}

/// Declares [`Reason`] from one list, so that its variants, [`Reason::ALL`], the names and the
/// parser cannot disagree.
macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// The stable `google.rpc.ErrorInfo.reason` of an error: one variant per value of the
        /// proto enum `reestr.v1.ErrorReason` (but `ERROR_REASON_UNSPECIFIED`), whose
        /// documentation says what each means and with which gRPC code it comes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            /// Every reason, in the proto's order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The name `ErrorInfo.reason` carries: the proto value's name without its
            /// `ERROR_REASON_` prefix, e.g. `ETAG_MISMATCH`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $name,)*
                }
            }

            /// The reason named `name` (as [`Reason::as_str`] gives it), if there is one.
            pub fn from_name(name: &str) -> Option<Reason> {
                match name {
                    $($name => Some(Reason::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    /// `ERROR_REASON_INVALID_ARGUMENT`: the request is malformed (INVALID_ARGUMENT).
    InvalidArgument = "INVALID_ARGUMENT",
    /// `ERROR_REASON_RESOURCE_NOT_FOUND` (NOT_FOUND).
    ResourceNotFound = "RESOURCE_NOT_FOUND",
    /// `ERROR_REASON_RESOURCE_ALREADY_EXISTS` (ALREADY_EXISTS).
    ResourceAlreadyExists = "RESOURCE_ALREADY_EXISTS",
    /// `ERROR_REASON_ETAG_MISMATCH` (ABORTED).
    EtagMismatch = "ETAG_MISMATCH",
    /// `ERROR_REASON_RESOURCE_DELETED` (FAILED_PRECONDITION).
    ResourceDeleted = "RESOURCE_DELETED",
    /// `ERROR_REASON_RESOURCE_NOT_DELETED` (FAILED_PRECONDITION).
    ResourceNotDeleted = "RESOURCE_NOT_DELETED",
    /// `ERROR_REASON_REFERENCE_NOT_FOUND` (FAILED_PRECONDITION).
    ReferenceNotFound = "REFERENCE_NOT_FOUND",
    /// `ERROR_REASON_HIERARCHY_CYCLE` (FAILED_PRECONDITION).
    HierarchyCycle = "HIERARCHY_CYCLE",
    /// `ERROR_REASON_RESOURCE_IN_USE` (FAILED_PRECONDITION).
    ResourceInUse = "RESOURCE_IN_USE",
    /// `ERROR_REASON_REQUEST_ID_REUSED` (INVALID_ARGUMENT).
    RequestIdReused = "REQUEST_ID_REUSED",
    /// `ERROR_REASON_MESSAGE_TOO_LARGE` (RESOURCE_EXHAUSTED).
    MessageTooLarge = "MESSAGE_TOO_LARGE",
    /// `ERROR_REASON_STORAGE_UNAVAILABLE` (UNAVAILABLE).
    StorageUnavailable = "STORAGE_UNAVAILABLE",
    /// `ERROR_REASON_REQUEST_TIMEOUT` (DEADLINE_EXCEEDED).
    RequestTimeout = "REQUEST_TIMEOUT",
    /// `ERROR_REASON_INTERNAL_ERROR` (INTERNAL).
    InternalError = "INTERNAL_ERROR",
    /// `ERROR_REASON_CREDENTIALS_REQUIRED` (UNAUTHENTICATED).
    CredentialsRequired = "CREDENTIALS_REQUIRED",
    /// `ERROR_REASON_TOKEN_INVALID` (UNAUTHENTICATED).
    TokenInvalid = "TOKEN_INVALID",
    /// `ERROR_REASON_TOKEN_EXPIRED` (UNAUTHENTICATED).
    TokenExpired = "TOKEN_EXPIRED",
    /// `ERROR_REASON_TOKEN_REVOKED` (UNAUTHENTICATED).
    TokenRevoked = "TOKEN_REVOKED",
    /// `ERROR_REASON_CERTIFICATE_UNMAPPED` (UNAUTHENTICATED).
    CertificateUnmapped = "CERTIFICATE_UNMAPPED",
    /// `ERROR_REASON_PERMISSION_DENIED` (PERMISSION_DENIED).
    PermissionDenied = "PERMISSION_DENIED",
    /// `ERROR_REASON_RATE_LIMITED` (RESOURCE_EXHAUSTED).
    RateLimited = "RATE_LIMITED",
    /// `ERROR_REASON_ILLEGAL_STATE_TRANSITION` (FAILED_PRECONDITION).
    IllegalStateTransition = "ILLEGAL_STATE_TRANSITION",
    /// `ERROR_REASON_DRAFT_EXISTS` (FAILED_PRECONDITION).
    DraftExists = "DRAFT_EXISTS",
    /// `ERROR_REASON_VERSION_NOT_EDITABLE` (FAILED_PRECONDITION).
    VersionNotEditable = "VERSION_NOT_EDITABLE",
    /// `ERROR_REASON_VERSION_NOT_PUBLISHED` (FAILED_PRECONDITION).
    VersionNotPublished = "VERSION_NOT_PUBLISHED",
    /// `ERROR_REASON_ORGANIZATION_DELETED` (PERMISSION_DENIED).
    OrganizationDeleted = "ORGANIZATION_DELETED",
    /// `ERROR_REASON_REQUEST_CANCELLED` (CANCELLED).
    RequestCancelled = "REQUEST_CANCELLED",
    /// `ERROR_REASON_TOO_MANY_CALLS` (RESOURCE_EXHAUSTED).
    TooManyCalls = "TOO_MANY_CALLS",
    /// `ERROR_REASON_SUBMISSION_OPEN` (FAILED_PRECONDITION): the system already has an open
    /// submission of the kind.
    SubmissionOpen = "SUBMISSION_OPEN",
    /// `ERROR_REASON_DOCUMENTS_FROZEN` (FAILED_PRECONDITION): the submission's documents
    /// change only while it is a DRAFT or changes are requested.
    DocumentsFrozen = "DOCUMENTS_FROZEN",
    /// `ERROR_REASON_REVISION_COMPACTED` (OUT_OF_RANGE): the change feed no longer holds the
    /// revision asked for.
    RevisionCompacted = "REVISION_COMPACTED",
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in a request, as the register's clients see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request is malformed. Never empty.
    #[error("invalid argument: {}", join(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The named resource does not exist.
    #[error("{resource} not found")]
    NotFound {
        /// Resource name, e.g. `organizations/stat`.
        resource: String,
    },
    /// A resource with this name, or with this value of a unique field, already exists.
    #[error("{resource} already exists{}", field.as_ref().map(|f| format!(" (duplicate {f})")).unwrap_or_default())]
    AlreadyExists {
        /// The resource that holds the name or value.
        resource: String,
        /// The unique field that collides, when it is not the name itself.
        field: Option<String>,
    },
    /// The request's etag is stale, or the resource changed while the request was applied.
    #[error("{resource} has changed: read it again and retry")]
    EtagMismatch {
        /// Resource name.
        resource: String,
    },
    /// The resource is soft-deleted and the operation needs a live one.
    #[error("{resource} is deleted; undelete it first")]
    Deleted {
        /// Resource name.
        resource: String,
    },
    /// Undelete of a resource that is not deleted.
    #[error("{resource} is not deleted")]
    NotDeleted {
        /// Resource name.
        resource: String,
    },
    /// A resource the request refers to does not exist or is deleted.
    #[error("{field} refers to {reference}, which does not exist or is deleted")]
    ReferenceNotFound {
        /// Request field holding the reference.
        field: String,
        /// The missing resource's name.
        reference: String,
    },
    /// The change would make a resource its own ancestor.
    #[error("making {parent} the parent of {resource} would create a cycle")]
    HierarchyCycle {
        /// The resource being changed.
        resource: String,
        /// The proposed parent.
        parent: String,
    },
    /// A state transition the lifecycle does not allow from the current state.
    #[error("{resource} cannot go from {from} to {to}; allowed: {}", if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") })]
    IllegalTransition {
        /// Resource name.
        resource: String,
        /// Current state.
        from: String,
        /// Requested state.
        to: String,
        /// States allowed from the current one.
        allowed: Vec<String>,
    },
    /// The resource is not in a condition that allows the operation (e.g. writing a published
    /// classifier version); `reason` says which condition.
    #[error("{message}")]
    Precondition {
        /// Which condition, e.g. [`Reason::VersionNotEditable`].
        reason: Reason,
        /// The resource the operation was refused for.
        resource: String,
        /// Explanation.
        message: String,
    },
    /// The resource is still referred to by live resources.
    #[error("{resource} is still referred to by {}{}", referenced_by.join(", "), in_use_rest(referenced_by.len(), *count))]
    InUse {
        /// The resource the operation was refused for.
        resource: String,
        /// Names of (some of) the resources that refer to it.
        referenced_by: Vec<String>,
        /// How many resources refer to it in all, named or not.
        count: u64,
    },
    /// The caller did not prove who it is, or its credentials are not valid (any more).
    #[error("unauthenticated: {message}")]
    Unauthenticated {
        /// [`Reason::CredentialsRequired`], [`Reason::TokenInvalid`], [`Reason::TokenExpired`],
        /// [`Reason::TokenRevoked`] or [`Reason::CertificateUnmapped`].
        reason: Reason,
        /// Explanation.
        message: String,
    },
    /// The caller is known but may not do this.
    #[error("permission denied: {message}")]
    PermissionDenied {
        /// [`Reason::PermissionDenied`] (the caller's roles do not allow it) or
        /// [`Reason::OrganizationDeleted`] (the caller's organisation is deleted, so it may
        /// only read).
        reason: Reason,
        /// What the caller tried (the action's name).
        action: String,
        /// Explanation.
        message: String,
    },
    /// The caller sent more requests than its rate allows.
    #[error("rate limit exceeded; retry in {retry_after_ms} ms")]
    RateLimited {
        /// When the next request will be accepted.
        retry_after_ms: u64,
    },
    /// More calls are in flight than the server allows, of this caller or in all.
    #[error("too many calls in flight ({scope} limit {limit}); retry in {retry_after_ms} ms")]
    TooManyCalls {
        /// Whose calls are counted: `caller` or `server`.
        scope: &'static str,
        /// The limit that was reached.
        limit: u64,
        /// When to retry.
        retry_after_ms: u64,
    },
    /// A request message, or the request's metadata (its headers), is larger than the server
    /// accepts.
    #[error("the request's {part} is larger than the server's limit of {limit_bytes} bytes")]
    MessageTooLarge {
        /// `message` or `metadata`.
        part: &'static str,
        /// The server's limit, in bytes (of the encoded message, or of the headers as HTTP/2
        /// counts them: name, value and 32 bytes each).
        limit_bytes: u64,
    },
    /// The `request_id` was used before for a different request.
    #[error("request_id {request_id} was already used for a different request")]
    RequestIdReused {
        /// The reused key.
        request_id: String,
    },
    /// The client went away (cancelled the call) before the call finished. Only the audit
    /// trail and the log see this error: there is nobody left to answer.
    #[error("the client cancelled the call")]
    Cancelled,
    /// The call did not finish within its deadline (the server's request timeout or the
    /// client's deadline).
    #[error("the call did not finish within its deadline")]
    DeadlineExceeded,
    /// The change feed no longer holds `requested`: its oldest change is `oldest`.
    #[error(
        "revision {requested} is no longer held by the change feed (the oldest is {oldest}): \
         list again, then watch from the head revision noted before"
    )]
    Compacted {
        /// The revision asked for.
        requested: i64,
        /// The oldest revision held.
        oldest: i64,
    },
    /// The database does not answer.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A fault of the server itself. The text is logged, never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

/// "1 more problem", "3 more problems": the count of violations an error leaves unlisted.
pub fn more_problems(n: usize) -> String {
    if n == 1 {
        "1 more problem".to_string()
    } else {
        format!("{n} more problems")
    }
}

/// " and N more" when an in-use error names fewer referrers than it counts.
fn in_use_rest(named: usize, count: u64) -> String {
    match count.saturating_sub(named as u64) {
        0 => String::new(),
        rest => format!(" and {rest} more"),
    }
}

fn join(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<FieldViolation> for Error {
    /// One field's problem is an invalid argument.
    fn from(v: FieldViolation) -> Self {
        Error::InvalidArgument(vec![v])
    }
}

impl Error {
    /// An [`Error::InvalidArgument`] with a single violation.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// The stable `google.rpc.ErrorInfo.reason` of this error (see `reestr.v1.ErrorReason`).
    pub fn reason(&self) -> Reason {
        match self {
            Error::InvalidArgument(_) => Reason::InvalidArgument,
            Error::NotFound { .. } => Reason::ResourceNotFound,
            Error::AlreadyExists { .. } => Reason::ResourceAlreadyExists,
            Error::EtagMismatch { .. } => Reason::EtagMismatch,
            Error::Deleted { .. } => Reason::ResourceDeleted,
            Error::NotDeleted { .. } => Reason::ResourceNotDeleted,
            Error::ReferenceNotFound { .. } => Reason::ReferenceNotFound,
            Error::HierarchyCycle { .. } => Reason::HierarchyCycle,
            Error::InUse { .. } => Reason::ResourceInUse,
            Error::Precondition { reason, .. } => *reason,
            Error::IllegalTransition { .. } => Reason::IllegalStateTransition,
            Error::RequestIdReused { .. } => Reason::RequestIdReused,
            Error::Unauthenticated { reason, .. } => *reason,
            Error::PermissionDenied { reason, .. } => *reason,
            Error::RateLimited { .. } => Reason::RateLimited,
            Error::TooManyCalls { .. } => Reason::TooManyCalls,
            Error::MessageTooLarge { .. } => Reason::MessageTooLarge,
            Error::Compacted { .. } => Reason::RevisionCompacted,
            Error::Cancelled => Reason::RequestCancelled,
            Error::DeadlineExceeded => Reason::RequestTimeout,
            Error::Unavailable(_) => Reason::StorageUnavailable,
            Error::Internal(_) => Reason::InternalError,
        }
    }

    /// The `google.rpc.ErrorInfo.metadata` of this error: the names involved.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        match self {
            Error::InvalidArgument(v) => {
                let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
                m.insert("fields".into(), fields.join(","));
            }
            Error::NotFound { resource }
            | Error::Precondition { resource, .. }
            | Error::EtagMismatch { resource }
            | Error::Deleted { resource }
            | Error::NotDeleted { resource } => {
                m.insert("resource".into(), resource.clone());
            }
            Error::AlreadyExists { resource, field } => {
                m.insert("resource".into(), resource.clone());
                if let Some(field) = field {
                    m.insert("field".into(), field.clone());
                }
            }
            Error::ReferenceNotFound { field, reference } => {
                m.insert("field".into(), field.clone());
                m.insert("reference".into(), reference.clone());
            }
            Error::HierarchyCycle { resource, parent } => {
                m.insert("resource".into(), resource.clone());
                m.insert("parent".into(), parent.clone());
            }
            Error::IllegalTransition {
                resource,
                from,
                to,
                allowed,
            } => {
                m.insert("resource".into(), resource.clone());
                m.insert("current_state".into(), from.clone());
                m.insert("requested_state".into(), to.clone());
                m.insert("allowed_states".into(), allowed.join(","));
            }
            Error::InUse {
                resource,
                referenced_by,
                count,
            } => {
                m.insert("resource".into(), resource.clone());
                m.insert("referenced_by".into(), referenced_by.join(","));
                m.insert("referenced_by_count".into(), count.to_string());
            }
            Error::RequestIdReused { request_id } => {
                m.insert("request_id".into(), request_id.clone());
            }
            Error::Unauthenticated { .. } => {}
            Error::PermissionDenied { action, .. } => {
                m.insert("action".into(), action.clone());
            }
            Error::RateLimited { retry_after_ms } => {
                m.insert("retry_after_ms".into(), retry_after_ms.to_string());
            }
            Error::TooManyCalls {
                scope,
                limit,
                retry_after_ms,
            } => {
                m.insert("scope".into(), (*scope).to_string());
                m.insert("limit".into(), limit.to_string());
                m.insert("retry_after_ms".into(), retry_after_ms.to_string());
            }
            Error::MessageTooLarge { part, limit_bytes } => {
                m.insert("part".into(), (*part).to_string());
                m.insert("limit_bytes".into(), limit_bytes.to_string());
            }
            Error::Compacted { requested, oldest } => {
                m.insert("requested_revision".into(), requested.to_string());
                m.insert("oldest_revision".into(), oldest.to_string());
            }
            Error::Cancelled
            | Error::DeadlineExceeded
            | Error::Unavailable(_)
            | Error::Internal(_) => {}
        }
        m
    }
}

/// Collects field violations while a whole request is checked, so that a client learns every
/// problem at once rather than one per round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation as it is.
    pub fn push(&mut self, violation: FieldViolation) {
        self.0.push(violation);
    }

    /// Records one violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Records a violation from a check's result and returns the checked value, if valid.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(v) => {
                self.0.push(v);
                None
            }
        }
    }

    /// The violations recorded, in order.
    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }

    /// How many violations were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no violation was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, otherwise [`Error::InvalidArgument`].
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Error> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }

    /// The recorded violations, as an error if there are any.
    pub fn into_result(self) -> Result<(), Error> {
        self.finish(|| ())
    }
}
