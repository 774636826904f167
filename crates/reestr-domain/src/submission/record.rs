//! A submission as the register keeps it (its fields, status, deadlines and conclusion), the
//! reviewers' decisions on each round, and the timeline of what happened to it.
//!
//! The store writes these and reads them back; the rules that change them are those of the
//! other modules ([`SubmissionStatus::apply`], [`round_outcome`](super::round_outcome),
//! [`HolidayCalendar::due_time`](super::HolidayCalendar::due_time),
//! [`ConclusionContent`]).

use std::fmt;

use super::digest::{ConclusionContent, RoundDecision};
use super::kind::SubmissionKind;
use super::name::SubmissionName;
use super::number::ConclusionNumber;
use super::review::Decision;
use super::spec::SubmissionSpec;
use super::state::{Outcome, Party, SubmissionStatus};
use crate::organization::OrganizationId;
use crate::revision::{Revisioned, SoftDeleted};
use crate::time::Timestamp;

/// A submission of design documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Its name: its system and its id.
    pub name: SubmissionName,
    /// Kind, title, description and required reviewers.
    pub spec: SubmissionSpec,
    /// The owner organisation: the owner of the system, followed when the system changes
    /// hands. Its editors prepare, submit and withdraw.
    pub owner: OrganizationId,
    /// The required reviewers that have decided on the current round, in ascending order;
    /// empty when a round starts.
    pub decided: Vec<OrganizationId>,
    /// State and review round.
    pub status: SubmissionStatus,
    /// When the current round started; `None` for a draft never submitted.
    pub round_start_time: Option<Timestamp>,
    /// The end of the reviewers' deadline of the current round (exclusive); kept after the
    /// round ends, so that a late decision stays visible.
    pub due_time: Option<Timestamp>,
    /// The end of the owner's deadline for a revision while changes are requested; `None`
    /// otherwise.
    pub owner_due_time: Option<Timestamp>,
    /// The conclusion of the final round, once issued.
    pub conclusion: Option<Conclusion>,
    /// Created.
    pub create_time: Timestamp,
    /// Last changed.
    pub update_time: Timestamp,
    /// First submitted for review.
    pub submit_time: Option<Timestamp>,
    /// Soft-deleted.
    pub delete_time: Option<Timestamp>,
    /// Revision number (1 = creation).
    pub revision: i64,
}

impl Revisioned for Submission {
    fn resource_name(&self) -> String {
        self.name.name()
    }
    fn revision(&self) -> i64 {
        self.revision
    }
}

impl SoftDeleted for Submission {
    fn delete_time(&self) -> Option<Timestamp> {
        self.delete_time
    }
}

impl Submission {
    /// The kind.
    pub fn kind(&self) -> SubmissionKind {
        self.spec.kind
    }

    /// The required reviewers that have not decided on the current round, in ascending order;
    /// empty unless the submission is under review.
    pub fn pending_reviewers(&self) -> Vec<OrganizationId> {
        if self.status.state != super::state::SubmissionState::UnderReview {
            return Vec::new();
        }
        let mut pending: Vec<OrganizationId> = self
            .spec
            .required_reviewers
            .iter()
            .filter(|r| !self.decided.contains(r))
            .cloned()
            .collect();
        pending.sort();
        pending
    }

    /// Whether `organization` takes part in the submission: its owner or a required reviewer.
    pub fn is_party(&self, organization: &OrganizationId) -> bool {
        &self.owner == organization || self.spec.required_reviewers.contains(organization)
    }

    /// Whether the party the submission waits for has let its deadline pass at `now`: the
    /// reviewers' (`due_time`) under review, the owner's (`owner_due_time`) while changes are
    /// requested. Never in any other state.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        let due = match self.status.state.awaits() {
            Some(Party::Reviewers) => self.due_time,
            Some(Party::Owner) => self.owner_due_time,
            None => None,
        };
        due.is_some_and(|due| now >= due)
    }

    /// The flattened fields the audit trail compares, in API order.
    pub fn audit_fields(&self) -> Vec<(&'static str, String)> {
        let time = |t: Option<Timestamp>| t.map(|t| t.micros().to_string()).unwrap_or_default();
        let reviewers: Vec<String> = self
            .spec
            .required_reviewers
            .iter()
            .map(OrganizationId::name)
            .collect();
        let conclusion = self.conclusion.as_ref();
        vec![
            ("kind", self.spec.kind.as_str().to_string()),
            ("title", self.spec.title.clone()),
            ("description", self.spec.description.clone()),
            ("required_reviewers", reviewers.join(",")),
            ("state", self.status.state.as_str().to_string()),
            ("round", self.status.round.to_string()),
            ("due_time", time(self.due_time)),
            ("owner_due_time", time(self.owner_due_time)),
            (
                "conclusion.number",
                conclusion.map(|c| c.number.to_string()).unwrap_or_default(),
            ),
            (
                "conclusion.digest",
                conclusion.map(|c| c.digest.clone()).unwrap_or_default(),
            ),
            ("delete_time", time(self.delete_time)),
        ]
    }
}

/// The conclusion the register issues when a round ends APPROVED or REJECTED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conclusion {
    /// Its number, e.g. `EX-2026-000001`.
    pub number: ConclusionNumber,
    /// The outcome of the round it ends (the submission's round).
    pub outcome: Outcome,
    /// When the decision that completed the round was posted.
    pub decide_time: Timestamp,
    /// The conclusion as text ([`conclusion_text`]).
    pub text: String,
    /// [`ConclusionContent::digest`] of what it certifies.
    pub digest: String,
}

/// The text of a conclusion: its number, the submission, the round and outcome, and each
/// decision of the round with its comment, in ascending order of reviewer.
pub fn conclusion_text(content: &ConclusionContent, reviews: &[Review]) -> String {
    let mut reviews: Vec<&Review> = reviews.iter().collect();
    reviews.sort_by(|a, b| a.reviewer.cmp(&b.reviewer));
    let mut out = format!(
        "Conclusion {}: {} ({}), round {}: {}.",
        content.number, content.submission, content.kind, content.round, content.outcome
    );
    for r in reviews {
        out.push_str(&format!("\n{}: {}", r.reviewer.name(), r.decision));
        if !r.comment.is_empty() {
            out.push_str(&format!(" ({})", r.comment));
        }
    }
    out
}

/// A required reviewer's decision on one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The submission.
    pub submission: SubmissionName,
    /// The round, from 1.
    pub round: u32,
    /// The reviewer organisation.
    pub reviewer: OrganizationId,
    /// Its decision as it stands.
    pub decision: Decision,
    /// Its comment, or empty.
    pub comment: String,
    /// The reviewer's first decision in the round.
    pub create_time: Timestamp,
    /// The decision as it stands was posted.
    pub update_time: Timestamp,
}

impl Review {
    /// The decision as a conclusion digests it: posted at `update_time`.
    pub fn round_decision(&self) -> RoundDecision {
        RoundDecision {
            reviewer: self.reviewer.clone(),
            decision: self.decision,
            decide_time: self.update_time,
        }
    }
}

/// What happened to a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// Created as a draft.
    Created,
    /// Its fields changed.
    Updated,
    /// Submitted for review: round 1 started.
    Submitted,
    /// A reviewer posted (or replaced) its decision.
    Reviewed,
    /// The round ended with an outcome.
    Decided,
    /// Resubmitted after changes were requested: the next round started.
    Resubmitted,
    /// Withdrawn by the owner.
    Withdrawn,
    /// Soft-deleted.
    Deleted,
    /// Restored.
    Undeleted,
    /// A document version was uploaded.
    Uploaded,
    /// A reviewer opened a remark.
    RemarkOpened,
    /// A reviewer resolved a remark.
    RemarkResolved,
    /// A party posted a comment.
    Commented,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 13] = [
        EventKind::Created,
        EventKind::Updated,
        EventKind::Submitted,
        EventKind::Reviewed,
        EventKind::Decided,
        EventKind::Resubmitted,
        EventKind::Withdrawn,
        EventKind::Deleted,
        EventKind::Undeleted,
        EventKind::Uploaded,
        EventKind::RemarkOpened,
        EventKind::RemarkResolved,
        EventKind::Commented,
    ];

    /// The kind's name in the API (without the `KIND_` prefix of `SubmissionEvent.Kind`) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "CREATED",
            EventKind::Updated => "UPDATED",
            EventKind::Submitted => "SUBMITTED",
            EventKind::Reviewed => "REVIEWED",
            EventKind::Decided => "DECIDED",
            EventKind::Resubmitted => "RESUBMITTED",
            EventKind::Withdrawn => "WITHDRAWN",
            EventKind::Deleted => "DELETED",
            EventKind::Undeleted => "UNDELETED",
            EventKind::Uploaded => "UPLOADED",
            EventKind::RemarkOpened => "REMARK_OPENED",
            EventKind::RemarkResolved => "REMARK_RESOLVED",
            EventKind::Commented => "COMMENTED",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(EventKind, "KIND_");

/// One entry of a submission's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionEvent {
    /// The submission.
    pub submission: SubmissionName,
    /// From 1 per submission, in the order the changes committed.
    pub sequence: i64,
    /// When.
    pub event_time: Timestamp,
    /// Who.
    pub caller: String,
    /// What.
    pub kind: EventKind,
    /// The submission's round after the change.
    pub round: u32,
    /// A JSON object with what the event adds to its kind (e.g. the reviewer and decision of
    /// REVIEWED, the outcome and conclusion number of DECIDED).
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submission::state::SubmissionState;

    fn submission(state: SubmissionState) -> Submission {
        Submission {
            name: SubmissionName::from_name("systems/e-soliq/submissions/tz", "name").unwrap(),
            spec: SubmissionSpec {
                kind: SubmissionKind::Creation,
                title: "TZ".into(),
                description: String::new(),
                required_reviewers: vec![
                    OrganizationId::from_trusted("csec".into()),
                    OrganizationId::from_trusted("agency".into()),
                ],
            },
            owner: OrganizationId::from_trusted("soliq".into()),
            decided: vec![OrganizationId::from_trusted("csec".into())],
            status: SubmissionStatus { state, round: 1 },
            round_start_time: Some(Timestamp::from_micros(0)),
            due_time: Some(Timestamp::from_micros(100)),
            owner_due_time: Some(Timestamp::from_micros(200)),
            conclusion: None,
            create_time: Timestamp::from_micros(0),
            update_time: Timestamp::from_micros(0),
            submit_time: Some(Timestamp::from_micros(0)),
            delete_time: None,
            revision: 2,
        }
    }

    #[test]
    fn the_deadline_that_runs_is_that_of_the_party_awaited() {
        let t = Timestamp::from_micros;
        let review = submission(SubmissionState::UnderReview);
        assert!(!review.is_overdue(t(99)) && review.is_overdue(t(100)));
        let changes = submission(SubmissionState::ChangesRequested);
        assert!(!changes.is_overdue(t(199)) && changes.is_overdue(t(200)));
        assert!(!submission(SubmissionState::Approved).is_overdue(t(1_000)));
        assert!(!submission(SubmissionState::Draft).is_overdue(t(1_000)));
    }

    #[test]
    fn pending_reviewers_are_those_required_that_have_not_decided_under_review() {
        let review = submission(SubmissionState::UnderReview);
        assert_eq!(
            review.pending_reviewers(),
            vec![OrganizationId::from_trusted("agency".into())]
        );
        assert!(
            submission(SubmissionState::Draft)
                .pending_reviewers()
                .is_empty()
        );
        assert!(review.is_party(&OrganizationId::from_trusted("soliq".into())));
        assert!(review.is_party(&OrganizationId::from_trusted("agency".into())));
        assert!(!review.is_party(&OrganizationId::from_trusted("other".into())));
    }

    #[test]
    fn event_kinds_round_trip_through_their_names() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
        }
    }
}
