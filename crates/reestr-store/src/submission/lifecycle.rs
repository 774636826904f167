//! The lifecycle of a submission: submit, resubmit and withdraw; the reviewers' decisions,
//! the outcome of a round, its conclusion and its effect on the system; the lists of reviews
//! and of events.

use std::collections::BTreeMap;

use reestr_domain::Error;
use reestr_domain::audit::FieldChange;
use reestr_domain::error::Reason;
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey};
use reestr_domain::revision::Revisioned;
use reestr_domain::submission::{
    Conclusion, ConclusionContent, ConclusionNumber, Decision, EventKind, HolidayCalendar, Outcome,
    Review, Submission, SubmissionEvent, SubmissionName, Transition, conclusion_text,
    lifecycle_effect, next_state, round_outcome,
};
use reestr_domain::system::InformationSystem;
use reestr_domain::time::{Calendar, Timestamp};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::stored::{event_from_row, review_from_row, review_to_active, round_column};
use super::{SubmissionRepo, commit_change, live_for_update};
use crate::audit::AuditContext;
use crate::entity::submission_event as event_row;
use crate::entity::submission_review as review_row;
use crate::system::{self, Transition as SystemTransition};
use crate::{counter, db_err, keyset};

/// How long review rounds and revisions may take: the working days of a period and the
/// calendar of days off they are counted in (server configuration).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines<'a> {
    /// Days off and declared working days.
    pub holidays: &'a HolidayCalendar,
    /// Working days a round (and a revision) takes, e.g.
    /// [`DEFAULT_WORKING_DAYS`](reestr_domain::submission::DEFAULT_WORKING_DAYS).
    pub working_days: u32,
}

impl Deadlines<'_> {
    /// The end of a period that starts at `start`, in `calendar`'s time zone.
    fn due(&self, start: Timestamp, calendar: &Calendar) -> Timestamp {
        self.holidays.due_time(start, self.working_days, calendar)
    }
}

/// Which reviews a ListSubmissionReviews lists: those of one submission, of one round or of
/// all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSelection {
    /// The submission.
    pub submission: SubmissionName,
    /// One round (from 1), or `None` for every round.
    pub round: Option<u32>,
}

/// A list of reviews: ordered by round, then reviewer.
pub type ReviewQuery = ListQuery<ReviewSelection>;

/// A list of a submission's events: its timeline, oldest first.
pub type EventQuery = ListQuery<SubmissionName>;

/// What a posted decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewOutcome {
    /// The submission after the decision: still UNDER_REVIEW, or decided.
    pub submission: Submission,
    /// The decision as stored.
    pub review: Review,
    /// The system after an approval moved it through its lifecycle; `None` when it did not.
    pub system: Option<InformationSystem>,
}

impl SubmissionRepo<'_> {
    /// Submits a draft, resubmits after changes were requested, or withdraws a submission
    /// that is not final, by [`Transition`] and the domain's
    /// [`SubmissionStatus::apply`](reestr_domain::submission::SubmissionStatus::apply), after
    /// `authorize` approves the submission as it is in this transaction and `etag` (when not
    /// empty) matches it. Submitting and resubmitting start a round (the next round number,
    /// started now, due after `deadlines`' working days) and clear the owner's deadline; they
    /// need a live system whose state the approval could take effect from
    /// ([`lifecycle_effect`]), so that nobody reviews documents whose approval could not
    /// apply. Decisions are posted with [`SubmissionRepo::review`] instead.
    pub async fn transition(
        &self,
        ctx: &AuditContext,
        name: &SubmissionName,
        etag: &str,
        transition: Transition,
        authorize: impl FnOnce(&Submission) -> Result<(), Error>,
        deadlines: Deadlines<'_>,
    ) -> Result<Submission, Error> {
        if let Transition::Decide(_) = transition {
            return Err(Error::invalid(
                "transition",
                "a round is decided by the reviewers' decisions, not by a transition",
            ));
        }
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = live_for_update(txn, name).await?;
        authorize(&current)?;
        current.check_etag(etag)?;
        let status = current.status.apply(&name.name(), transition)?;
        let now = write.now();
        let mut next = Submission {
            status,
            update_time: now,
            revision: current.revision + 1,
            ..current.clone()
        };
        let kind = match transition {
            Transition::Submit | Transition::Resubmit => {
                let system = system::live(txn, &name.system).await?;
                lifecycle_effect(&system.id.name(), current.kind(), system.state)?;
                next.round_start_time = Some(now);
                next.decided = Vec::new();
                next.due_time = Some(deadlines.due(now, self.store.calendar()));
                next.owner_due_time = None;
                next.submit_time = current.submit_time.or(Some(now));
                if transition == Transition::Submit {
                    EventKind::Submitted
                } else {
                    EventKind::Resubmitted
                }
            }
            Transition::Withdraw | Transition::Decide(_) => EventKind::Withdrawn,
        };
        let detail = json!({
            "from": current.status.state.as_str(),
            "due_time": next.due_time.filter(|_| kind != EventKind::Withdrawn).map(Timestamp::micros),
        });
        commit_change(write, &current, &next, kind, detail, Vec::new()).await?;
        Ok(next)
    }

    /// Posts (or replaces) the decision of the required reviewer `reviewer` on the current
    /// round, in one transaction: the submission must be UNDER_REVIEW (else
    /// FAILED_PRECONDITION `ILLEGAL_STATE_TRANSITION`) and `reviewer` one of its required
    /// reviewers (else PERMISSION_DENIED: who may decide is a question of who the caller
    /// speaks for, like `authorize`). The decisions of the round then give its outcome
    /// ([`round_outcome`]; earlier rounds do not count). When the round is complete the
    /// submission takes the outcome's state; APPROVED and REJECTED issue the numbered,
    /// digested conclusion; CHANGES_REQUESTED starts the owner's deadline; APPROVED moves the
    /// system as [`lifecycle_effect`] says, through the system's own state transition (its own
    /// revision; its changes are listed in this call's audit event under `system.`). A system
    /// that cannot take the effect (its state, or live dependents of a decommissioning,
    /// RESOURCE_IN_USE) refuses the decision, and nothing is stored.
    #[allow(clippy::too_many_arguments)]
    pub async fn review(
        &self,
        ctx: &AuditContext,
        name: &SubmissionName,
        reviewer: &OrganizationId,
        decision: Decision,
        comment: &str,
        authorize: impl FnOnce(&Submission) -> Result<(), Error>,
        deadlines: Deadlines<'_>,
    ) -> Result<ReviewOutcome, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = live_for_update(txn, name).await?;
        authorize(&current)?;
        require_reviewer(&current, reviewer, "review a submission")?;
        // Decisions are posted only under review: anything else is refused as the lifecycle
        // refuses a decision.
        next_state(
            &name.name(),
            current.status.state,
            Transition::Decide(Outcome::Approved),
        )?;
        let round = current.status.round;
        let now = write.now();

        let mut reviews: BTreeMap<OrganizationId, Review> = review_row::Entity::find()
            .filter(review_row::Column::SystemId.eq(name.system.as_str()))
            .filter(review_row::Column::SubmissionId.eq(name.submission.as_str()))
            .filter(review_row::Column::Round.eq(round_column(round)?))
            .all(txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| review_from_row(m).map(|r| (r.reviewer.clone(), r)))
            .collect::<Result<_, _>>()?;
        let earlier = reviews.get(reviewer).cloned();
        let review = Review {
            submission: name.clone(),
            round,
            reviewer: reviewer.clone(),
            decision,
            comment: comment.to_string(),
            create_time: earlier.as_ref().map_or(now, |r| r.create_time),
            update_time: now,
        };
        reviews.insert(reviewer.clone(), review.clone());
        let decisions: BTreeMap<OrganizationId, Decision> = reviews
            .iter()
            .map(|(r, review)| (r.clone(), review.decision))
            .collect();
        let outcome = round_outcome(&current.spec.required_reviewers, &decisions).outcome;

        // The effect first: a system that cannot take it refuses the decision.
        let mut more = Vec::new();
        let mut moved = None;
        if outcome == Some(Outcome::Approved) {
            let target = system::live(txn, &name.system).await?;
            if let Some(to) = lifecycle_effect(&target.id.name(), current.kind(), target.state)? {
                let t = SystemTransition {
                    to,
                    etag: String::new(),
                    force: false,
                    reason: format!("approval of {name}"),
                };
                let (after, changes) =
                    system::transition_in(&write, &name.system, &t, |_| Ok(())).await?;
                more.extend(changes.into_iter().map(|c| FieldChange {
                    field: format!("system.{}", c.field),
                    ..c
                }));
                moved = Some(after);
            }
        }

        if earlier.is_some() {
            review_row::Entity::update(review_to_active(&review)?)
                .exec(txn)
                .await
                .map_err(db_err)?;
        } else {
            review_to_active(&review)?
                .insert(txn)
                .await
                .map_err(db_err)?;
        }
        more.push(FieldChange {
            field: format!("reviews[{}]", reviewer.name()),
            old: earlier.map(|r| r.decision.to_string()).unwrap_or_default(),
            new: decision.to_string(),
        });
        let mut next = Submission {
            decided: decisions.keys().cloned().collect(),
            update_time: now,
            revision: current.revision + 1,
            ..current.clone()
        };
        let Some(outcome) = outcome else {
            commit_change(
                write,
                &current,
                &next,
                EventKind::Reviewed,
                reviewed(reviewer, decision),
                more,
            )
            .await?;
            return Ok(ReviewOutcome {
                submission: next,
                review,
                system: moved,
            });
        };
        super::append_event(
            &write,
            &next,
            EventKind::Reviewed,
            reviewed(reviewer, decision),
        )
        .await?;
        next.status = current
            .status
            .apply(&name.name(), Transition::Decide(outcome))?;
        if outcome == Outcome::ChangesRequested {
            next.owner_due_time = Some(deadlines.due(now, self.store.calendar()));
        }
        if outcome.issues_conclusion() {
            let year = ConclusionNumber::year_at(self.store.calendar(), now);
            let number =
                ConclusionNumber::new(year, counter::next(txn, counter::CONCLUSION, year).await?);
            let round_reviews = in_required_order(&current, &reviews);
            let documents = super::documents::current_documents(txn, name).await?;
            let content =
                conclusion_content(&current, number.clone(), outcome, &round_reviews, documents);
            next.conclusion = Some(Conclusion {
                text: conclusion_text(&content, &round_reviews),
                digest: content.digest(),
                number,
                outcome,
                decide_time: now,
            });
        }
        let detail = json!({
            "outcome": outcome.as_str(),
            "conclusion_number": next.conclusion.as_ref().map(|c| c.number.to_string()),
            "system_state": moved.as_ref().map(|s| s.state.as_str()),
        });
        commit_change(write, &current, &next, EventKind::Decided, detail, more).await?;
        Ok(ReviewOutcome {
            submission: next,
            review,
            system: moved,
        })
    }

    /// The submission conclusion `number` concludes, with the content its conclusion
    /// certifies as the register's rows give it now: a record that is as it was when the
    /// round was decided gives back the digest stored with the conclusion. NOT_FOUND for a
    /// number the register never issued.
    pub async fn concluded(
        &self,
        number: &ConclusionNumber,
    ) -> Result<(Submission, ConclusionContent), Error> {
        let conn = self.store.conn();
        let submission = super::row::Entity::find()
            .filter(super::row::Column::ConclusionNumber.eq(number.as_str()))
            .one(conn)
            .await
            .map_err(db_err)?
            .map(super::stored::from_row)
            .transpose()?
            .ok_or_else(|| Error::NotFound {
                resource: format!("conclusions/{number}"),
            })?;
        let Some(conclusion) = &submission.conclusion else {
            return Err(Error::Internal(format!(
                "{}: conclusion number without conclusion",
                submission.name
            )));
        };
        let name = &submission.name;
        let reviews: BTreeMap<OrganizationId, Review> = review_row::Entity::find()
            .filter(review_row::Column::SystemId.eq(name.system.as_str()))
            .filter(review_row::Column::SubmissionId.eq(name.submission.as_str()))
            .filter(review_row::Column::Round.eq(round_column(submission.status.round)?))
            .all(conn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|m| review_from_row(m).map(|r| (r.reviewer.clone(), r)))
            .collect::<Result<_, _>>()?;
        let round_reviews = in_required_order(&submission, &reviews);
        // A concluded submission is final, so its newest versions are still the round's.
        let documents = super::documents::current_documents(conn, name).await?;
        let content = conclusion_content(
            &submission,
            conclusion.number.clone(),
            conclusion.outcome,
            &round_reviews,
            documents,
        );
        Ok((submission, content))
    }

    /// One page of the reviews of a submission (one round's, or every round's), by round
    /// and then reviewer. NOT_FOUND if the submission does not exist.
    pub async fn reviews(&self, query: &ReviewQuery) -> Result<Page<Review>, Error> {
        let s = &query.selection;
        self.get(&s.submission).await?;
        let mut select = review_row::Entity::find()
            .filter(review_row::Column::SystemId.eq(s.submission.system.as_str()))
            .filter(review_row::Column::SubmissionId.eq(s.submission.submission.as_str()));
        if let Some(round) = s.round {
            select = select.filter(review_row::Column::Round.eq(round_column(round)?));
        }
        keyset::page(
            self.store,
            select,
            &query.page(vec![
                PageKey::asc(review_row::Column::Round, KeyKind::Int),
                PageKey::asc(review_row::Column::ReviewerId, KeyKind::Text),
            ]),
            review_from_row,
            |r: &Review, c| match c {
                review_row::Column::Round => KeyValue::Int(i64::from(r.round)),
                _ => KeyValue::Text(r.reviewer.as_str().to_string()),
            },
        )
        .await
    }

    /// One page of a submission's timeline, oldest first. NOT_FOUND if the submission does
    /// not exist.
    pub async fn events(&self, query: &EventQuery) -> Result<Page<SubmissionEvent>, Error> {
        let name = &query.selection;
        self.get(name).await?;
        keyset::page(
            self.store,
            event_row::Entity::find()
                .filter(event_row::Column::SystemId.eq(name.system.as_str()))
                .filter(event_row::Column::SubmissionId.eq(name.submission.as_str())),
            &query.page(vec![PageKey::asc(
                event_row::Column::Sequence,
                KeyKind::Int,
            )]),
            event_from_row,
            |e: &SubmissionEvent, _| KeyValue::Int(e.sequence),
        )
        .await
    }
}

/// PERMISSION_DENIED unless `reviewer` is one of `s`'s required reviewers: only they decide,
/// and open remarks (`action`).
pub(super) fn require_reviewer(
    s: &Submission,
    reviewer: &OrganizationId,
    action: &str,
) -> Result<(), Error> {
    if s.spec.required_reviewers.contains(reviewer) {
        return Ok(());
    }
    Err(Error::PermissionDenied {
        reason: Reason::PermissionDenied,
        action: action.into(),
        message: format!(
            "{} is not a required reviewer of {}",
            reviewer.name(),
            s.name
        ),
    })
}

/// The decisions of a round, in the order of the submission's required reviewers (those of
/// the round: a submission under review cannot change them).
fn in_required_order(s: &Submission, reviews: &BTreeMap<OrganizationId, Review>) -> Vec<Review> {
    s.spec
        .required_reviewers
        .iter()
        .filter_map(|r| reviews.get(r).cloned())
        .collect()
}

/// What the conclusion `number` of `s`'s current round, decided with `outcome` by
/// `reviews`, certifies.
fn conclusion_content(
    s: &Submission,
    number: ConclusionNumber,
    outcome: Outcome,
    reviews: &[Review],
    documents: Vec<reestr_domain::submission::RoundDocument>,
) -> ConclusionContent {
    ConclusionContent {
        submission: s.name.name(),
        kind: s.kind(),
        round: s.status.round,
        outcome,
        number,
        documents,
        decisions: reviews.iter().map(Review::round_decision).collect(),
    }
}

/// The detail of a REVIEWED event.
fn reviewed(reviewer: &OrganizationId, decision: Decision) -> serde_json::Value {
    json!({ "reviewer": reviewer.name(), "decision": decision.as_str() })
}
