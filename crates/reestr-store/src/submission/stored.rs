//! How submissions, reviews and events are stored in their rows: enumerations by name,
//! times as microseconds, the required reviewers as a JSON array of organisation ids.

use reestr_domain::Error;
use reestr_domain::organization::OrganizationId;
use reestr_domain::submission::{
    Conclusion, ConclusionNumber, Review, Submission, SubmissionEvent, SubmissionId,
    SubmissionName, SubmissionSpec, SubmissionStatus,
};
use reestr_domain::system::SystemId;
use reestr_domain::time::Timestamp;
use sea_orm::Set;

use crate::entity::submission as row;
use crate::entity::submission_event as event_row;
use crate::entity::submission_review as review_row;

/// A round as its column stores it.
pub(super) fn round_column(round: u32) -> Result<i32, Error> {
    i32::try_from(round).map_err(|_| Error::Internal(format!("review round {round} overflows")))
}

pub(super) fn round_of(what: &str, round: i32) -> Result<u32, Error> {
    u32::try_from(round).map_err(|_| Error::Internal(format!("{what}: bad round {round}")))
}

fn parsed<T: std::str::FromStr>(what: &str, column: &str, text: &str) -> Result<T, Error> {
    text.parse()
        .map_err(|_| Error::Internal(format!("{what}: bad {column} {text:?}")))
}

pub(super) fn name_of(system: String, submission: String) -> SubmissionName {
    SubmissionName {
        system: SystemId::from_trusted(system),
        submission: SubmissionId::from_trusted(submission),
    }
}

pub(super) fn to_active(s: &Submission) -> Result<row::ActiveModel, Error> {
    let c = s.conclusion.as_ref();
    Ok(row::ActiveModel {
        system_id: Set(s.name.system.as_str().to_string()),
        submission_id: Set(s.name.submission.as_str().to_string()),
        kind: Set(s.spec.kind.as_str().to_string()),
        title: Set(s.spec.title.clone()),
        description: Set(s.spec.description.clone()),
        required_reviewers: Set(id_list(&s.spec.required_reviewers)?),
        state: Set(s.status.state.as_str().to_string()),
        round: Set(round_column(s.status.round)?),
        round_start_time: Set(s.round_start_time.map(Timestamp::micros)),
        due_time: Set(s.due_time.map(Timestamp::micros)),
        owner_due_time: Set(s.owner_due_time.map(Timestamp::micros)),
        conclusion_number: Set(c.map(|c| c.number.to_string())),
        conclusion_outcome: Set(c.map(|c| c.outcome.as_str().to_string())),
        conclusion_decided_time: Set(c.map(|c| c.decide_time.micros())),
        conclusion_text: Set(c.map(|c| c.text.clone())),
        conclusion_digest: Set(c.map(|c| c.digest.clone())),
        create_time: Set(s.create_time.micros()),
        update_time: Set(s.update_time.micros()),
        submit_time: Set(s.submit_time.map(Timestamp::micros)),
        delete_time: Set(s.delete_time.map(Timestamp::micros)),
        revision: Set(s.revision),
        owner_id: Set(s.owner.as_str().to_string()),
        decided_reviewers: Set(id_list(&s.decided)?),
    })
}

/// Organisation ids as a JSON array.
fn id_list(ids: &[OrganizationId]) -> Result<String, Error> {
    let ids: Vec<&str> = ids.iter().map(OrganizationId::as_str).collect();
    serde_json::to_string(&ids).map_err(|e| Error::Internal(e.to_string()))
}

/// The organisations of a JSON array of ids.
fn ids_of(what: &str, column: &str, text: &str) -> Result<Vec<OrganizationId>, Error> {
    let ids: Vec<String> = serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("{what}: bad {column}: {e}")))?;
    Ok(ids.into_iter().map(OrganizationId::from_trusted).collect())
}

pub(super) fn from_row(m: row::Model) -> Result<Submission, Error> {
    let name = name_of(m.system_id, m.submission_id);
    let what = name.name();
    let required_reviewers = ids_of(&what, "required_reviewers", &m.required_reviewers)?;
    let decided = ids_of(&what, "decided_reviewers", &m.decided_reviewers)?;
    let conclusion = match (
        m.conclusion_number,
        m.conclusion_outcome,
        m.conclusion_decided_time,
        m.conclusion_text,
        m.conclusion_digest,
    ) {
        (Some(number), Some(outcome), Some(decided), Some(text), Some(digest)) => {
            Some(Conclusion {
                number: ConclusionNumber::parse(&number).ok_or_else(|| {
                    Error::Internal(format!("{what}: bad conclusion number {number:?}"))
                })?,
                outcome: parsed(&what, "conclusion outcome", &outcome)?,
                decide_time: Timestamp::from_micros(decided),
                text,
                digest,
            })
        }
        (None, None, None, None, None) => None,
        _ => return Err(Error::Internal(format!("{what}: partial conclusion"))),
    };
    Ok(Submission {
        spec: SubmissionSpec {
            kind: parsed(&what, "kind", &m.kind)?,
            title: m.title,
            description: m.description,
            required_reviewers,
        },
        owner: OrganizationId::from_trusted(m.owner_id),
        decided,
        status: SubmissionStatus {
            state: parsed(&what, "state", &m.state)?,
            round: round_of(&what, m.round)?,
        },
        round_start_time: m.round_start_time.map(Timestamp::from_micros),
        due_time: m.due_time.map(Timestamp::from_micros),
        owner_due_time: m.owner_due_time.map(Timestamp::from_micros),
        conclusion,
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        submit_time: m.submit_time.map(Timestamp::from_micros),
        delete_time: m.delete_time.map(Timestamp::from_micros),
        revision: m.revision,
        name,
    })
}

pub(super) fn review_to_active(r: &Review) -> Result<review_row::ActiveModel, Error> {
    Ok(review_row::ActiveModel {
        system_id: Set(r.submission.system.as_str().to_string()),
        submission_id: Set(r.submission.submission.as_str().to_string()),
        round: Set(round_column(r.round)?),
        reviewer_id: Set(r.reviewer.as_str().to_string()),
        decision: Set(r.decision.as_str().to_string()),
        comment: Set(r.comment.clone()),
        create_time: Set(r.create_time.micros()),
        update_time: Set(r.update_time.micros()),
    })
}

pub(super) fn review_from_row(m: review_row::Model) -> Result<Review, Error> {
    let submission = name_of(m.system_id, m.submission_id);
    let what = submission.name();
    Ok(Review {
        round: round_of(&what, m.round)?,
        reviewer: OrganizationId::from_trusted(m.reviewer_id),
        decision: parsed(&what, "decision", &m.decision)?,
        comment: m.comment,
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        submission,
    })
}

pub(super) fn event_from_row(m: event_row::Model) -> Result<SubmissionEvent, Error> {
    let submission = name_of(m.system_id, m.submission_id);
    let what = submission.name();
    Ok(SubmissionEvent {
        sequence: m.sequence,
        event_time: Timestamp::from_micros(m.event_time),
        caller: m.caller,
        kind: parsed(&what, "event kind", &m.kind)?,
        round: round_of(&what, m.round)?,
        detail: m.detail,
        submission,
    })
}
