//! Remarks: what a reviewer asks to be changed, naming a document (and optionally a page or a
//! section, and the normative requirement it rests on).
//!
//! A remark is OPEN until it is resolved, and RESOLVED for good. Only the reviewer
//! organisation that opened a remark resolves it; that is a question of who the caller is,
//! decided with the authorisation of the call, while the state rule is
//! [`RemarkState::resolve`]. A remark is opened while its submission is under review, and
//! resolved while the submission is not final ([`can_resolve`]).
//!
//! Remarks are numbered within their submission, `{submission}/remarks/{n}`
//! ([`NumberedName`]); ListRemarks filters them with [`compile_remark_filter`].

use std::fmt;

use super::document::{DocumentId, parse_document_name};
use super::name::{NumberedName, SubmissionName};
use super::spec::{check_line, check_text};
use super::state::SubmissionState;
use crate::FieldViolation;
use crate::error::{Error, Reason, Violations};
use crate::filter::{CompareOp, Value};
use crate::organization::OrganizationId;
use crate::query::{self, Equality, Predicate};
use crate::revision::Revisioned;
use crate::time::Timestamp;

/// The collection part of remark names, under a submission.
pub const COLLECTION: &str = "remarks";

/// Longest location (page, section), in characters.
pub const MAX_LOCATION_CHARS: usize = 200;

/// Longest normative reference, in characters.
pub const MAX_REFERENCE_CHARS: usize = 500;

/// Longest text of a remark, of its resolution and of a comment, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;

/// The fields of a remark as a request carries them, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemarkDraft {
    /// `{submission}/documents/{document}`.
    pub document: String,
    /// Page, section or clause; empty when not given.
    pub location: String,
    /// The normative requirement; empty when not given.
    pub normative_reference: String,
    /// What is to change.
    pub text: String,
}

/// The validated fields of a remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemarkSpec {
    /// The document of the submission it is about.
    pub document: DocumentId,
    /// One line, up to [`MAX_LOCATION_CHARS`]; empty when not given.
    pub location: String,
    /// One line, up to [`MAX_REFERENCE_CHARS`]; empty when not given.
    pub normative_reference: String,
    /// 1 to [`MAX_TEXT_CHARS`] characters.
    pub text: String,
}

impl RemarkDraft {
    /// Checks every field of a remark on `submission`, recording problems into `v` under
    /// `prefix` (e.g. `remark`). `Some` only when the draft is valid.
    pub fn validate_into(
        &self,
        submission: &SubmissionName,
        prefix: &str,
        v: &mut Violations,
    ) -> Option<RemarkSpec> {
        let before = v.len();
        let f = |name: &str| format!("{prefix}.{name}");
        let document = v.check(document_of(&self.document, submission, &f("document")));
        if let Err(p) = check_line(&self.location, MAX_LOCATION_CHARS, false) {
            v.add(f("location"), p);
        }
        if let Err(p) = check_line(&self.normative_reference, MAX_REFERENCE_CHARS, false) {
            v.add(f("normative_reference"), p);
        }
        check_body(&self.text, &f("text"), v);
        let document = document?;
        (v.len() == before).then(|| RemarkSpec {
            document,
            location: self.location.clone(),
            normative_reference: self.normative_reference.clone(),
            text: self.text.clone(),
        })
    }
}

/// The document `name` names, which must be one of `submission`'s.
pub(crate) fn document_of(
    name: &str,
    submission: &SubmissionName,
    field: &str,
) -> Result<DocumentId, FieldViolation> {
    let (parent, id) = parse_document_name(name, field)?;
    if &parent != submission {
        return Err(FieldViolation::new(
            field,
            format!("{name} is not a document of {submission}"),
        ));
    }
    Ok(id)
}

/// A remark's or a comment's text: 1 to [`MAX_TEXT_CHARS`] characters, line breaks allowed.
pub(crate) fn check_body(text: &str, field: &str, v: &mut Violations) {
    if text.trim().is_empty() {
        v.add(field, "is required");
    } else if let Err(p) = check_text(text, MAX_TEXT_CHARS) {
        v.add(field, p);
    }
}

/// A resolution's text: up to [`MAX_TEXT_CHARS`] characters, line breaks allowed.
pub fn check_resolution(text: &str, field: &str) -> Result<(), FieldViolation> {
    check_text(text, MAX_TEXT_CHARS).map_err(|p| FieldViolation::new(field, p))
}

/// A reviewer's remark, as the register keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remark {
    /// `{submission}/remarks/{n}`.
    pub name: NumberedName,
    /// The reviewer organisation that opened it, and alone resolves it.
    pub reviewer: OrganizationId,
    /// The round it was opened in.
    pub round: u32,
    /// The newest version of the document when it was opened.
    pub document_version: u32,
    /// Document, location, reference, text.
    pub spec: RemarkSpec,
    /// OPEN or RESOLVED.
    pub state: RemarkState,
    /// What the reviewer said resolving it; empty while open.
    pub resolution: String,
    /// The caller id that opened it.
    pub creator: String,
    /// Opened.
    pub create_time: Timestamp,
    /// Resolved.
    pub resolve_time: Option<Timestamp>,
    /// 1 when opened, 2 once resolved.
    pub revision: i64,
}

impl Remark {
    /// The name of the document it is about.
    pub fn document_name(&self) -> String {
        format!(
            "{}/{}/{}",
            self.name.submission,
            super::document::COLLECTION,
            self.spec.document.as_str()
        )
    }

    /// The fields the audit trail lists for it.
    pub fn audit_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("reviewer", self.reviewer.name()),
            ("round", self.round.to_string()),
            ("document", self.document_name()),
            ("document_version", self.document_version.to_string()),
            ("location", self.spec.location.clone()),
            ("normative_reference", self.spec.normative_reference.clone()),
            ("text", self.spec.text.clone()),
            ("state", self.state.to_string()),
            ("resolution", self.resolution.clone()),
        ]
    }
}

impl Revisioned for Remark {
    fn resource_name(&self) -> String {
        self.name.name()
    }

    fn revision(&self) -> i64 {
        self.revision
    }
}

/// Whether a remark may be opened on a submission in `state`: only while it is under review,
/// as decisions are posted; FAILED_PRECONDITION (`ILLEGAL_STATE_TRANSITION`) otherwise.
pub fn can_open(submission: &str, state: SubmissionState) -> Result<(), Error> {
    match state {
        SubmissionState::UnderReview => Ok(()),
        other => Err(Error::Precondition {
            reason: Reason::IllegalStateTransition,
            resource: submission.to_string(),
            message: format!(
                "{submission} is {other}: remarks are opened only while it is UNDER_REVIEW"
            ),
        }),
    }
}

/// Whether the remarks of a submission in `state` may still be resolved: while it is under
/// review or changes are requested; FAILED_PRECONDITION (`ILLEGAL_STATE_TRANSITION`) once it
/// is final (its record is closed) — and in a draft, which has no remarks.
pub fn can_resolve(submission: &str, state: SubmissionState) -> Result<(), Error> {
    match state {
        SubmissionState::UnderReview | SubmissionState::ChangesRequested => Ok(()),
        other => Err(Error::Precondition {
            reason: Reason::IllegalStateTransition,
            resource: submission.to_string(),
            message: format!(
                "{submission} is {other}: its remarks are resolved only while it is \
                 UNDER_REVIEW or CHANGES_REQUESTED"
            ),
        }),
    }
}

/// One condition of a ListRemarks filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemarkCondition {
    /// `state = OPEN`.
    State(Equality, RemarkState),
    /// `reviewer = "organizations/x"`.
    Reviewer(Equality, OrganizationId),
    /// `document = "systems/…/documents/d"`.
    Document(Equality, DocumentId),
    /// `round = 2`.
    Round(Equality, u32),
}

/// Parses and checks a ListRemarks filter on the remarks of `submission`: fields `state`,
/// `reviewer`, `document` (one of the submission's) and `round`, each with `=` or `!=`.
/// `Ok(None)` for an empty filter; every problem is a violation of the field `filter`.
pub fn compile_remark_filter(
    raw: &str,
    submission: &SubmissionName,
) -> Result<Option<Predicate<RemarkCondition>>, FieldViolation> {
    query::compile(raw, &|field: &str, op: CompareOp, value: &Value| {
        let text = query::value_text(value);
        let eq = query::equality(field, op)?;
        match field {
            "state" => Ok(RemarkCondition::State(
                eq,
                text.parse()
                    .map_err(|()| format!("state {text:?} is not a remark state"))?,
            )),
            "reviewer" => Ok(RemarkCondition::Reviewer(
                eq,
                OrganizationId::from_name(text, "filter").map_err(|v| v.description)?,
            )),
            "document" => Ok(RemarkCondition::Document(
                eq,
                document_of(text, submission, "filter").map_err(|v| v.description)?,
            )),
            "round" => Ok(RemarkCondition::Round(
                eq,
                text.parse::<u32>()
                    .ok()
                    .filter(|r| *r > 0)
                    .ok_or_else(|| format!("round {text:?} is not a round number"))?,
            )),
            other => Err(format!(
                "cannot filter on {other:?}; fields: state, reviewer, document, round"
            )),
        }
    })
}

/// Whether a remark still needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RemarkState {
    /// Raised and not yet resolved.
    Open,
    /// Resolved by the reviewer who raised it. Final.
    Resolved,
}

impl RemarkState {
    /// Every state.
    pub const ALL: [RemarkState; 2] = [RemarkState::Open, RemarkState::Resolved];

    /// The state's name in the API (without the `REMARK_STATE_` prefix) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RemarkState::Open => "OPEN",
            RemarkState::Resolved => "RESOLVED",
        }
    }

    /// Resolving the remark `resource`: only an open remark can be resolved; resolving a
    /// resolved one is FAILED_PRECONDITION (`ILLEGAL_STATE_TRANSITION`).
    pub fn resolve(self, resource: &str) -> Result<RemarkState, Error> {
        match self {
            RemarkState::Open => Ok(RemarkState::Resolved),
            RemarkState::Resolved => Err(Error::Precondition {
                reason: Reason::IllegalStateTransition,
                resource: resource.to_string(),
                message: format!("{resource} is already RESOLVED"),
            }),
        }
    }
}

impl fmt::Display for RemarkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(RemarkState, "REMARK_STATE_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_remark_resolves_once() {
        let name = "systems/e-soliq/submissions/tz/remarks/r1";
        assert_eq!(RemarkState::Open.resolve(name), Ok(RemarkState::Resolved));
        let err = RemarkState::Resolved.resolve(name).unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
        assert_eq!(err.to_string(), format!("{name} is already RESOLVED"));
    }

    fn submission() -> SubmissionName {
        SubmissionName::from_name("systems/e-soliq/submissions/tz", "parent").unwrap()
    }

    fn fields(v: Violations) -> Vec<String> {
        match v.into_result() {
            Err(Error::InvalidArgument(list)) => list.into_iter().map(|f| f.field).collect(),
            Ok(()) => Vec::new(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_remark_names_a_document_of_its_submission_and_says_what_to_change() {
        let mut v = Violations::new();
        let spec = RemarkDraft {
            document: "systems/e-soliq/submissions/tz/documents/tp".into(),
            location: "p. 14, 3.2".into(),
            normative_reference: "O'z DSt 2814:2014, 5.3".into(),
            text: "Name the backup site.\nSee 5.3.".into(),
        }
        .validate_into(&submission(), "remark", &mut v)
        .unwrap();
        assert_eq!(spec.document.as_str(), "tp");
        assert!(fields(v).is_empty());

        let mut v = Violations::new();
        let bad = RemarkDraft {
            document: "systems/e-soliq/submissions/other/documents/tp".into(),
            location: "p. 14\n3.2".into(),
            normative_reference: " ".into(),
            text: "".into(),
        }
        .validate_into(&submission(), "remark", &mut v);
        assert!(bad.is_none());
        assert_eq!(
            fields(v),
            [
                "remark.document",
                "remark.location",
                "remark.normative_reference",
                "remark.text"
            ]
        );

        let mut v = Violations::new();
        let missing = RemarkDraft {
            text: "x".repeat(MAX_TEXT_CHARS + 1),
            ..RemarkDraft::default()
        }
        .validate_into(&submission(), "remark", &mut v);
        assert!(missing.is_none());
        assert_eq!(fields(v), ["remark.document", "remark.text"]);
    }

    #[test]
    fn remarks_open_under_review_and_resolve_until_the_submission_is_final() {
        for state in SubmissionState::ALL {
            let allowed = matches!(
                state,
                SubmissionState::UnderReview | SubmissionState::ChangesRequested
            );
            assert_eq!(can_resolve("s", state).is_ok(), allowed, "{state}");
            let open = state == SubmissionState::UnderReview;
            assert_eq!(can_open("s", state).is_ok(), open, "{state}");
        }
    }

    #[test]
    fn the_remark_filter_knows_its_four_fields() {
        let p = compile_remark_filter(
            "state = OPEN AND reviewer = \"organizations/csec\" AND round != 1 AND \
             document = \"systems/e-soliq/submissions/tz/documents/tp\"",
            &submission(),
        )
        .unwrap();
        assert!(p.is_some());
        for bad in [
            "state = CLOSED",
            "round = 0",
            "document = \"systems/e-soliq/submissions/x/documents/tp\"",
            "text = x",
            "state > OPEN",
        ] {
            let err = compile_remark_filter(bad, &submission()).unwrap_err();
            assert_eq!(err.field, "filter", "{bad}");
        }
        assert_eq!(compile_remark_filter("", &submission()), Ok(None));
    }

    #[test]
    fn remark_states_round_trip_through_their_names() {
        for s in RemarkState::ALL {
            assert_eq!(s.as_str().parse::<RemarkState>(), Ok(s));
            assert_eq!(format!("REMARK_STATE_{s}").parse::<RemarkState>(), Ok(s));
        }
    }
}
