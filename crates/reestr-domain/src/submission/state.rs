//! The lifecycle of a submission.
//!
//! ```text
//!   DRAFT ──submit──▶ UNDER_REVIEW ──decide: APPROVED──▶ APPROVED
//!                      │      ▲   └───decide: REJECTED──▶ REJECTED
//!   decide: CHANGES_   │      │ resubmit (the next round)
//!           REQUESTED  ▼      │
//!                   CHANGES_REQUESTED
//!
//!   DRAFT, UNDER_REVIEW or CHANGES_REQUESTED ──withdraw──▶ WITHDRAWN
//! ```
//!
//! APPROVED, REJECTED and WITHDRAWN are final. The state is output-only: it changes through
//! the transition methods (`SubmitSubmission`, `ResubmitSubmission`, `WithdrawSubmission`)
//! and through the decision that completes a review round ([`Transition::Decide`], with the
//! outcome [`round_outcome`](super::review::round_outcome) computes). Every change goes
//! through [`next_state`], or [`SubmissionStatus::apply`], which also counts the review
//! rounds: a draft is in round 0, submitting starts round 1 and each resubmission starts the
//! next.
//!
//! A refused transition is FAILED_PRECONDITION with reason `ILLEGAL_STATE_TRANSITION`
//! ([`Error::Precondition`]), and its message names the transitions the current state
//! allows. It is not an [`Error::IllegalTransition`]: that error names a requested *state*,
//! and here the request names a *transition* (resubmitting from DRAFT asks for UNDER_REVIEW,
//! which DRAFT does allow, by submitting).

use std::fmt;

use crate::error::{Error, Reason};

/// Where a submission is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubmissionState {
    /// Being prepared by the owner: documents may be added and replaced.
    Draft,
    /// Submitted; the required reviewers are deciding on the current round.
    UnderReview,
    /// Every required reviewer approved the round. Final.
    Approved,
    /// A required reviewer rejected the round. Final.
    Rejected,
    /// A required reviewer asked for changes; the owner revises and resubmits.
    ChangesRequested,
    /// The owner withdrew it. Final.
    Withdrawn,
}

impl SubmissionState {
    /// Every state, in lifecycle order.
    pub const ALL: [SubmissionState; 6] = [
        SubmissionState::Draft,
        SubmissionState::UnderReview,
        SubmissionState::Approved,
        SubmissionState::Rejected,
        SubmissionState::ChangesRequested,
        SubmissionState::Withdrawn,
    ];

    /// The state's name in the API (without the `SUBMISSION_STATE_` prefix) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionState::Draft => "DRAFT",
            SubmissionState::UnderReview => "UNDER_REVIEW",
            SubmissionState::Approved => "APPROVED",
            SubmissionState::Rejected => "REJECTED",
            SubmissionState::ChangesRequested => "CHANGES_REQUESTED",
            SubmissionState::Withdrawn => "WITHDRAWN",
        }
    }

    /// Whether nothing can happen to the submission any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SubmissionState::Approved | SubmissionState::Rejected | SubmissionState::Withdrawn
        )
    }

    /// Who the submission waits for, and so whose deadline runs: the reviewers while it is
    /// under review, the owner while changes are requested, nobody otherwise.
    pub fn awaits(self) -> Option<Party> {
        match self {
            SubmissionState::UnderReview => Some(Party::Reviewers),
            SubmissionState::ChangesRequested => Some(Party::Owner),
            SubmissionState::Draft
            | SubmissionState::Approved
            | SubmissionState::Rejected
            | SubmissionState::Withdrawn => None,
        }
    }

    /// The names of the transitions this state allows ([`Transition::as_str`]), in the order
    /// of [`Transition::EVERY_KIND`]; empty for a final state.
    pub fn allowed_transitions(self) -> Vec<&'static str> {
        Transition::EVERY_KIND
            .iter()
            .filter(|t| step(self, **t).is_some())
            .map(|t| t.as_str())
            .collect()
    }
}

impl fmt::Display for SubmissionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(SubmissionState, "SUBMISSION_STATE_");

/// Whether a submission in `state` is still open (not final). A system has at most one open
/// submission of each kind; a draft counts.
pub fn is_open(state: SubmissionState) -> bool {
    !state.is_final()
}

/// The party whose move a submission waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The required reviewers, deciding on the current round.
    Reviewers,
    /// The owner organisation, revising after changes were requested.
    Owner,
}

/// How a review round ended: the decision of the round as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Every required reviewer approved.
    Approved,
    /// No reviewer rejected, and at least one asked for changes.
    ChangesRequested,
    /// At least one reviewer rejected.
    Rejected,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [
        Outcome::Approved,
        Outcome::ChangesRequested,
        Outcome::Rejected,
    ];

    /// The outcome's name in the API (without the `OUTCOME_` prefix) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "APPROVED",
            Outcome::ChangesRequested => "CHANGES_REQUESTED",
            Outcome::Rejected => "REJECTED",
        }
    }

    /// The state a submission under review takes with this outcome.
    pub fn state(self) -> SubmissionState {
        match self {
            Outcome::Approved => SubmissionState::Approved,
            Outcome::ChangesRequested => SubmissionState::ChangesRequested,
            Outcome::Rejected => SubmissionState::Rejected,
        }
    }

    /// Whether the register issues a conclusion (a numbered, digested document) for a round
    /// with this outcome: for the final outcomes, APPROVED and REJECTED. A round that asks for
    /// changes ends with its remarks instead.
    pub fn issues_conclusion(self) -> bool {
        self != Outcome::ChangesRequested
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(Outcome, "OUTCOME_");

/// A change of state a request (or a completed round) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// The owner submits a draft for review: round 1 starts.
    Submit,
    /// The owner resubmits after changes were requested: the next round starts, with no
    /// decisions.
    Resubmit,
    /// The owner withdraws a submission that is not final.
    Withdraw,
    /// The last required reviewer's decision completed the round with this outcome.
    Decide(Outcome),
}

impl Transition {
    /// One transition of each kind (a decision stands for all three outcomes), in the order
    /// refusals list them.
    pub const EVERY_KIND: [Transition; 4] = [
        Transition::Submit,
        Transition::Resubmit,
        Transition::Withdraw,
        Transition::Decide(Outcome::Approved),
    ];

    /// The transition's name in errors: `SUBMIT`, `RESUBMIT`, `WITHDRAW` or `DECIDE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Submit => "SUBMIT",
            Transition::Resubmit => "RESUBMIT",
            Transition::Withdraw => "WITHDRAW",
            Transition::Decide(_) => "DECIDE",
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transition table: the state `transition` leads to from `from`, if it is allowed.
fn step(from: SubmissionState, transition: Transition) -> Option<SubmissionState> {
    use SubmissionState as S;
    match (from, transition) {
        (S::Draft, Transition::Submit) => Some(S::UnderReview),
        (S::ChangesRequested, Transition::Resubmit) => Some(S::UnderReview),
        (S::UnderReview, Transition::Decide(outcome)) => Some(outcome.state()),
        (S::Draft | S::UnderReview | S::ChangesRequested, Transition::Withdraw) => {
            Some(S::Withdrawn)
        }
        _ => None,
    }
}

/// The state `transition` leads to from `from`, or FAILED_PRECONDITION
/// (`ILLEGAL_STATE_TRANSITION`) for the submission `resource`, naming the transitions `from`
/// allows.
pub fn next_state(
    resource: &str,
    from: SubmissionState,
    transition: Transition,
) -> Result<SubmissionState, Error> {
    step(from, transition).ok_or_else(|| refusal(resource, from, transition))
}

fn refusal(resource: &str, from: SubmissionState, transition: Transition) -> Error {
    let allowed = from.allowed_transitions();
    let rest = if allowed.is_empty() {
        format!("{from} is final")
    } else {
        format!("allowed from {from}: {}", allowed.join(", "))
    };
    Error::Precondition {
        reason: Reason::IllegalStateTransition,
        resource: resource.to_string(),
        message: format!("{resource} is {from}: {transition} is not allowed; {rest}"),
    }
}

/// A submission's state together with its review round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubmissionStatus {
    /// The lifecycle state.
    pub state: SubmissionState,
    /// The current review round: 0 for a draft never submitted, 1 from submission on, and one
    /// more with every resubmission.
    pub round: u32,
}

impl SubmissionStatus {
    /// The status of a new submission: DRAFT, round 0.
    pub const NEW: SubmissionStatus = SubmissionStatus {
        state: SubmissionState::Draft,
        round: 0,
    };

    /// The status after `transition`: [`next_state`]'s state, and the next round when the
    /// transition starts one (submit, resubmit).
    pub fn apply(self, resource: &str, transition: Transition) -> Result<SubmissionStatus, Error> {
        let state = next_state(resource, self.state, transition)?;
        let round = match transition {
            Transition::Submit | Transition::Resubmit => {
                self.round.checked_add(1).ok_or_else(|| {
                    Error::Internal(format!("{resource}: review round counter overflow"))
                })?
            }
            Transition::Withdraw | Transition::Decide(_) => self.round,
        };
        Ok(SubmissionStatus { state, round })
    }

    /// Whether a decision posted now belongs to a round that is open for decisions.
    pub fn accepts_decisions(self) -> bool {
        self.state == SubmissionState::UnderReview
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubmissionState::*;

    const NAME: &str = "systems/e-soliq/submissions/tz";

    fn every_transition() -> Vec<Transition> {
        let mut all = vec![
            Transition::Submit,
            Transition::Resubmit,
            Transition::Withdraw,
        ];
        all.extend(Outcome::ALL.map(Transition::Decide));
        all
    }

    #[test]
    fn the_full_transition_table_is_exactly_the_documented_one() {
        let allowed = [
            (Draft, Transition::Submit, UnderReview),
            (Draft, Transition::Withdraw, Withdrawn),
            (UnderReview, Transition::Decide(Outcome::Approved), Approved),
            (UnderReview, Transition::Decide(Outcome::Rejected), Rejected),
            (
                UnderReview,
                Transition::Decide(Outcome::ChangesRequested),
                ChangesRequested,
            ),
            (UnderReview, Transition::Withdraw, Withdrawn),
            (ChangesRequested, Transition::Resubmit, UnderReview),
            (ChangesRequested, Transition::Withdraw, Withdrawn),
        ];
        for from in SubmissionState::ALL {
            for t in every_transition() {
                let expected = allowed
                    .iter()
                    .find(|(f, tr, _)| *f == from && *tr == t)
                    .map(|(_, _, to)| *to);
                assert_eq!(next_state(NAME, from, t).ok(), expected, "{from} {t:?}");
            }
        }
    }

    #[test]
    fn final_states_are_exactly_those_with_no_way_out() {
        for s in SubmissionState::ALL {
            assert_eq!(s.allowed_transitions().is_empty(), s.is_final(), "{s}");
            assert_eq!(is_open(s), !s.is_final(), "{s}");
        }
        assert!(is_open(Draft) && is_open(UnderReview) && is_open(ChangesRequested));
        assert!(!is_open(Approved) && !is_open(Rejected) && !is_open(Withdrawn));
    }

    #[test]
    fn a_refused_transition_is_a_failed_precondition_naming_the_allowed_ones() {
        let err = next_state(NAME, Draft, Transition::Resubmit).unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
        assert_eq!(
            err.to_string(),
            "systems/e-soliq/submissions/tz is DRAFT: RESUBMIT is not allowed; allowed from \
             DRAFT: SUBMIT, WITHDRAW"
        );
        assert_eq!(err.metadata()["resource"], NAME);
        let err = next_state(NAME, UnderReview, Transition::Submit).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("allowed from UNDER_REVIEW: WITHDRAW, DECIDE"),
            "{err}"
        );
        let err = next_state(NAME, Approved, Transition::Withdraw).unwrap_err();
        assert_eq!(
            err.to_string(),
            "systems/e-soliq/submissions/tz is APPROVED: WITHDRAW is not allowed; APPROVED is \
             final"
        );
    }

    #[test]
    fn submitting_starts_round_one_and_each_resubmission_the_next() {
        let s = SubmissionStatus::NEW;
        assert_eq!(s.round, 0);
        let s = s.apply(NAME, Transition::Submit).unwrap();
        assert_eq!((s.state, s.round), (UnderReview, 1));
        assert!(s.accepts_decisions());
        let s = s
            .apply(NAME, Transition::Decide(Outcome::ChangesRequested))
            .unwrap();
        assert_eq!((s.state, s.round), (ChangesRequested, 1));
        assert!(!s.accepts_decisions());
        let s = s.apply(NAME, Transition::Resubmit).unwrap();
        assert_eq!((s.state, s.round), (UnderReview, 2));
        let s = s
            .apply(NAME, Transition::Decide(Outcome::Approved))
            .unwrap();
        assert_eq!((s.state, s.round), (Approved, 2));
        assert!(s.apply(NAME, Transition::Resubmit).is_err());
    }

    #[test]
    fn a_refused_transition_leaves_the_round_alone() {
        let s = SubmissionStatus {
            state: UnderReview,
            round: 3,
        };
        assert!(s.apply(NAME, Transition::Resubmit).is_err());
        let withdrawn = s.apply(NAME, Transition::Withdraw).unwrap();
        assert_eq!((withdrawn.state, withdrawn.round), (Withdrawn, 3));
    }

    #[test]
    fn reviewers_are_awaited_under_review_and_the_owner_when_changes_are_requested() {
        assert_eq!(UnderReview.awaits(), Some(Party::Reviewers));
        assert_eq!(ChangesRequested.awaits(), Some(Party::Owner));
        for s in [Draft, Approved, Rejected, Withdrawn] {
            assert_eq!(s.awaits(), None, "{s}");
        }
    }

    #[test]
    fn states_and_outcomes_round_trip_through_their_names() {
        for s in SubmissionState::ALL {
            assert_eq!(s.as_str().parse::<SubmissionState>(), Ok(s));
            assert_eq!(
                format!("SUBMISSION_STATE_{s}").parse::<SubmissionState>(),
                Ok(s)
            );
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
            assert_eq!(o.state().as_str(), o.as_str());
        }
        assert!("OPEN".parse::<SubmissionState>().is_err());
        assert!(Outcome::Approved.issues_conclusion() && Outcome::Rejected.issues_conclusion());
        assert!(!Outcome::ChangesRequested.issues_conclusion());
    }
}
