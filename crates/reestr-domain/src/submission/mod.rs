//! Submissions of design documentation: an owner organisation submits the documents of one of
//! its systems (`systems/{system}/submissions/{submission}`) to the required reviewer
//! organisations, who review them round by round until the submission is approved, rejected
//! or withdrawn. An approval moves the system through its lifecycle and ends with a numbered
//! conclusion that anyone can verify. Everything here is pure: the store and the API call these
//! rules and persist or transmit what they produce.
//!
//! Layout:
//! - [`name`]: submission names and ids.
//! - [`kind`]: the kinds of submission, and what an approval of each does to the system.
//! - [`state`]: the submission lifecycle DRAFT → UNDER_REVIEW → APPROVED / REJECTED /
//!   CHANGES_REQUESTED (→ UNDER_REVIEW again, next round), WITHDRAWN; review rounds.
//! - [`review`]: reviewers' decisions and the outcome of a round.
//! - [`remark`]: reviewers' remarks on documents, their state and their filter.
//! - [`comment`]: the parties' comments.
//! - [`spec`]: the fields of a submission and their validation.
//! - [`document`]: document types, and the validation of an upload's declared metadata.
//! - [`record`]: a submission as stored, its reviews and its timeline.
//! - [`filter`]: the filter of ListSubmissions.
//! - [`deadline`]: working-day deadlines, over a calendar of days off read from a plain-text
//!   file (Uzbekistan's is shipped, `holidays-uz.txt`).
//! - [`number`]: conclusion numbers `EX-{year}-{sequence}`.
//! - [`digest`]: the conclusion digest, a SHA-256 over a documented canonical encoding.
//!
//! A system has at most one open submission ([`is_open`]) of each kind.

pub mod comment;
pub mod deadline;
pub mod digest;
pub mod document;
pub mod filter;
pub mod kind;
pub mod name;
pub mod number;
pub mod record;
pub mod remark;
pub mod review;
pub mod spec;
pub mod state;

pub use comment::{Comment, CommentDraft, CommentSpec};
pub use deadline::{DEFAULT_WORKING_DAYS, HolidayCalendar, HolidayFileError, LineProblem};
pub use digest::{ConclusionContent, RoundDecision, RoundDocument};
pub use document::{Document, DocumentDraft, DocumentId, DocumentSpec, DocumentType, Upload};
pub use filter::{SubmissionCondition, compile_submission_filter};
pub use kind::{SubmissionKind, lifecycle_effect};
pub use name::NumberedName;
pub use name::{SubmissionId, SubmissionName};
pub use number::ConclusionNumber;
pub use record::{Conclusion, EventKind, Review, Submission, SubmissionEvent, conclusion_text};
pub use remark::{
    Remark, RemarkCondition, RemarkDraft, RemarkSpec, RemarkState, can_open, can_resolve,
    compile_remark_filter,
};
pub use review::{Decision, RoundTally, round_outcome};
pub use spec::{
    DefaultReviewers, SUBMISSION_UPDATE_MASK, SubmissionDraft, SubmissionField, SubmissionSpec,
};
pub use state::{
    Outcome, Party, SubmissionState, SubmissionStatus, Transition, is_open, next_state,
};
