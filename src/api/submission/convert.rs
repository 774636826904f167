//! Conversions between `reestr.v1` submission messages and the domain.
//!
//! Enumerations convert by their names, through [`crate::api::choice`] and
//! [`crate::api::number`].

use reestr_domain::revision::Revisioned as _;
use reestr_domain::submission::{
    Comment, CommentDraft, Conclusion, Remark, RemarkDraft, Review, Submission, SubmissionDraft,
    SubmissionEvent,
};
use reestr_domain::time::Timestamp;

use crate::api::{choice, number, timestamp};
use crate::proto::v1 as pb;

fn kind_name(v: i32) -> Option<&'static str> {
    pb::SubmissionKind::try_from(v)
        .ok()
        .map(|k| k.as_str_name())
}

pub(super) fn decision_name(v: i32) -> Option<&'static str> {
    pb::Decision::try_from(v).ok().map(|k| k.as_str_name())
}

fn kind_number(name: &str) -> Option<i32> {
    pb::SubmissionKind::from_str_name(name).map(|k| k as i32)
}

fn outcome_number(name: &str) -> Option<i32> {
    pb::Outcome::from_str_name(name).map(|k| k as i32)
}

/// The fields of a submission as a request gives them.
pub(super) fn draft_from_proto(s: &pb::Submission) -> SubmissionDraft {
    SubmissionDraft {
        kind: choice(s.kind, kind_name),
        title: s.title.clone(),
        description: s.description.clone(),
        required_reviewers: s.required_reviewers.clone(),
    }
}

fn round(r: u32) -> i32 {
    i32::try_from(r).unwrap_or(i32::MAX)
}

/// The message of a submission, `now` telling whether it is overdue.
pub(super) fn to_proto(s: &Submission, now: Timestamp) -> pb::Submission {
    let names = |ids: &[reestr_domain::organization::OrganizationId]| -> Vec<String> {
        ids.iter().map(|o| o.name()).collect()
    };
    pb::Submission {
        name: s.name.name(),
        kind: number(s.kind(), kind_number),
        title: s.spec.title.clone(),
        description: s.spec.description.clone(),
        required_reviewers: names(&s.spec.required_reviewers),
        state: number(s.status.state, |n| {
            pb::SubmissionState::from_str_name(n).map(|v| v as i32)
        }),
        round: round(s.status.round),
        pending_reviewers: names(&s.pending_reviewers()),
        round_start_time: s.round_start_time.map(timestamp),
        due_time: s.due_time.map(timestamp),
        owner_due_time: s.owner_due_time.map(timestamp),
        overdue: s.is_overdue(now),
        conclusion: s
            .conclusion
            .as_ref()
            .map(|c| conclusion_to_proto(c, s.status.round)),
        owner: s.owner.name(),
        create_time: Some(timestamp(s.create_time)),
        update_time: Some(timestamp(s.update_time)),
        submit_time: s.submit_time.map(timestamp),
        delete_time: s.delete_time.map(timestamp),
        etag: s.etag(),
    }
}

fn conclusion_to_proto(c: &Conclusion, round_of: u32) -> pb::Conclusion {
    pb::Conclusion {
        number: c.number.to_string(),
        outcome: number(c.outcome, outcome_number),
        decide_time: Some(timestamp(c.decide_time)),
        round: round(round_of),
        text: c.text.clone(),
        digest: c.digest.clone(),
    }
}

/// The message of a review.
pub(super) fn review_to_proto(r: &Review) -> pb::Review {
    pb::Review {
        name: format!(
            "{}/rounds/{}/reviews/{}",
            r.submission.name(),
            r.round,
            r.reviewer.as_str()
        ),
        reviewer: r.reviewer.name(),
        round: round(r.round),
        decision: number(r.decision, |n| {
            pb::Decision::from_str_name(n).map(|v| v as i32)
        }),
        comment: r.comment.clone(),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
    }
}

/// The message of a timeline entry.
pub(super) fn event_to_proto(e: &SubmissionEvent) -> pb::SubmissionEvent {
    pb::SubmissionEvent {
        sequence: e.sequence,
        event_time: Some(timestamp(e.event_time)),
        caller: e.caller.clone(),
        kind: number(e.kind, |n| {
            pb::submission_event::Kind::from_str_name(n).map(|v| v as i32)
        }),
        round: round(e.round),
        detail: e.detail.clone(),
    }
}

/// The fields of a remark as a request gives them.
pub(super) fn remark_draft(r: &pb::Remark) -> RemarkDraft {
    RemarkDraft {
        document: r.document.clone(),
        location: r.location.clone(),
        normative_reference: r.normative_reference.clone(),
        text: r.text.clone(),
    }
}

/// The message of a remark.
pub(super) fn remark_to_proto(r: &Remark) -> pb::Remark {
    pb::Remark {
        name: r.name.name(),
        reviewer: r.reviewer.name(),
        round: round(r.round),
        document: r.document_name(),
        document_version: round(r.document_version),
        location: r.spec.location.clone(),
        normative_reference: r.spec.normative_reference.clone(),
        text: r.spec.text.clone(),
        state: number(r.state, |n| {
            pb::RemarkState::from_str_name(n).map(|v| v as i32)
        }),
        resolution: r.resolution.clone(),
        creator: r.creator.clone(),
        create_time: Some(timestamp(r.create_time)),
        resolve_time: r.resolve_time.map(timestamp),
        etag: r.etag(),
    }
}

/// The fields of a comment as a request gives them.
pub(super) fn comment_draft(c: &pb::Comment) -> CommentDraft {
    CommentDraft {
        text: c.text.clone(),
        remark: c.remark.clone(),
        document: c.document.clone(),
    }
}

/// The message of a comment.
pub(super) fn comment_to_proto(c: &Comment) -> pb::Comment {
    pb::Comment {
        name: c.name.name(),
        author: c.author.as_ref().map(|o| o.name()).unwrap_or_default(),
        creator: c.creator.clone(),
        text: c.spec.text.clone(),
        remark: c.remark_name().unwrap_or_default(),
        document: c.document_name().unwrap_or_default(),
        round: round(c.round),
        create_time: Some(timestamp(c.create_time)),
    }
}

/// The response of VerifyConclusion.
pub(super) fn verified(
    s: &Submission,
    c: &Conclusion,
    valid: bool,
) -> pb::VerifyConclusionResponse {
    pb::VerifyConclusionResponse {
        valid,
        submission: s.name.name(),
        kind: number(s.kind(), kind_number),
        round: round(s.status.round),
        outcome: number(c.outcome, outcome_number),
        decide_time: Some(timestamp(c.decide_time)),
    }
}

#[cfg(test)]
mod tests {
    use reestr_domain::submission::{
        Decision, EventKind, Outcome, SubmissionKind, SubmissionState,
    };

    use reestr_domain::input::Choice;

    use super::*;

    #[test]
    fn every_domain_value_has_its_proto_number_and_back() {
        for k in SubmissionKind::ALL {
            let n = number(k, kind_number);
            assert_ne!(n, 0, "{k:?}");
            assert_eq!(choice::<SubmissionKind>(n, kind_name), Choice::Known(k));
        }
        for d in Decision::ALL {
            let n = number(d, |n| pb::Decision::from_str_name(n).map(|v| v as i32));
            assert_ne!(n, 0, "{d:?}");
            assert_eq!(choice::<Decision>(n, decision_name), Choice::Known(d));
        }
        for s in SubmissionState::ALL {
            assert_ne!(
                number(s, |n| pb::SubmissionState::from_str_name(n)
                    .map(|v| v as i32)),
                0
            );
        }
        for o in Outcome::ALL {
            assert_ne!(number(o, outcome_number), 0);
        }
        for e in EventKind::ALL {
            assert_ne!(
                number(e, |n| pb::submission_event::Kind::from_str_name(n)
                    .map(|v| v as i32)),
                0,
                "{e:?}"
            );
        }
        assert_eq!(choice::<SubmissionKind>(0, kind_name), Choice::Unset);
        assert_eq!(choice::<SubmissionKind>(99, kind_name), Choice::Unknown(99));
    }
}
