//! Reviews: each required reviewer's decision on a round, and the outcome of the round.
//!
//! A round is bound to the exact document versions submitted for it, and starts with no
//! decisions. Each required reviewer (an organisation) posts one [`Decision`]; when every one
//! of them has decided, [`round_outcome`] gives the outcome of the round:
//!
//! 1. any REJECT: the round is REJECTED;
//! 2. otherwise any REQUEST_CHANGES: CHANGES_REQUESTED;
//! 3. otherwise (all APPROVE): APPROVED.
//!
//! Until then the outcome is pending and the reviewers still to decide are listed. A decision
//! of an organisation that is not a required reviewer is not counted (the API refuses such a
//! decision before it is stored; the rule ignores it all the same). A round with no required
//! reviewer never has an outcome: the register approves nothing nobody reviewed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::state::Outcome;
use crate::organization::OrganizationId;

/// One reviewer's decision on a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    /// The documents of the round are accepted.
    Approve,
    /// The owner must change the documents and resubmit.
    RequestChanges,
    /// The submission is refused for good.
    Reject,
}

impl Decision {
    /// Every decision.
    pub const ALL: [Decision; 3] = [
        Decision::Approve,
        Decision::RequestChanges,
        Decision::Reject,
    ];

    /// The decision's name in the API (without the `DECISION_` prefix) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "APPROVE",
            Decision::RequestChanges => "REQUEST_CHANGES",
            Decision::Reject => "REJECT",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(Decision, "DECISION_");

/// Where a round stands: who is still to decide, and the outcome once nobody is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTally {
    /// Required reviewers that have not decided yet, in ascending order, without repeats.
    pub pending: Vec<OrganizationId>,
    /// The outcome of the round: `Some` only when every required reviewer has decided (and
    /// there is at least one).
    pub outcome: Option<Outcome>,
}

/// The tally of a round with the `required` reviewers, given the `decisions` posted in that
/// round (reviewer → decision). See the [module documentation](self) for the rule.
pub fn round_outcome(
    required: &[OrganizationId],
    decisions: &BTreeMap<OrganizationId, Decision>,
) -> RoundTally {
    let required: BTreeSet<&OrganizationId> = required.iter().collect();
    let pending: Vec<OrganizationId> = required
        .iter()
        .filter(|r| !decisions.contains_key(**r))
        .map(|r| (*r).clone())
        .collect();
    if required.is_empty() || !pending.is_empty() {
        return RoundTally {
            pending,
            outcome: None,
        };
    }
    let counted = || required.iter().filter_map(|r| decisions.get(*r).copied());
    let outcome = if counted().any(|d| d == Decision::Reject) {
        Outcome::Rejected
    } else if counted().any(|d| d == Decision::RequestChanges) {
        Outcome::ChangesRequested
    } else {
        Outcome::Approved
    };
    RoundTally {
        pending,
        outcome: Some(outcome),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str) -> OrganizationId {
        OrganizationId::from_trusted(id.to_string())
    }

    fn decided(pairs: &[(&str, Decision)]) -> BTreeMap<OrganizationId, Decision> {
        pairs.iter().map(|(o, d)| (org(o), *d)).collect()
    }

    fn reviewers() -> Vec<OrganizationId> {
        vec![org("uzinfocom"), org("csec"), org("mitc")]
    }

    #[test]
    fn the_outcome_waits_for_every_required_reviewer_and_lists_the_rest_sorted() {
        let tally = round_outcome(&reviewers(), &decided(&[("csec", Decision::Reject)]));
        assert_eq!(tally.outcome, None);
        assert_eq!(tally.pending, [org("mitc"), org("uzinfocom")]);
        let none = round_outcome(&reviewers(), &BTreeMap::new());
        assert_eq!(none.pending, [org("csec"), org("mitc"), org("uzinfocom")]);
    }

    #[test]
    fn any_reject_rejects_the_round() {
        let tally = round_outcome(
            &reviewers(),
            &decided(&[
                ("csec", Decision::Approve),
                ("mitc", Decision::RequestChanges),
                ("uzinfocom", Decision::Reject),
            ]),
        );
        assert!(tally.pending.is_empty());
        assert_eq!(tally.outcome, Some(Outcome::Rejected));
    }

    #[test]
    fn a_request_for_changes_without_a_reject_asks_for_changes() {
        let tally = round_outcome(
            &reviewers(),
            &decided(&[
                ("csec", Decision::Approve),
                ("mitc", Decision::RequestChanges),
                ("uzinfocom", Decision::Approve),
            ]),
        );
        assert_eq!(tally.outcome, Some(Outcome::ChangesRequested));
    }

    #[test]
    fn only_unanimous_approval_approves() {
        let all = decided(&[
            ("csec", Decision::Approve),
            ("mitc", Decision::Approve),
            ("uzinfocom", Decision::Approve),
        ]);
        assert_eq!(
            round_outcome(&reviewers(), &all).outcome,
            Some(Outcome::Approved)
        );
    }

    #[test]
    fn decisions_of_organisations_not_required_are_not_counted() {
        let tally = round_outcome(
            &[org("csec")],
            &decided(&[("csec", Decision::Approve), ("outsider", Decision::Reject)]),
        );
        assert_eq!(tally.outcome, Some(Outcome::Approved));
        let waiting = round_outcome(&[org("csec")], &decided(&[("outsider", Decision::Approve)]));
        assert_eq!(
            (waiting.pending, waiting.outcome),
            (vec![org("csec")], None)
        );
    }

    #[test]
    fn a_round_without_required_reviewers_never_has_an_outcome() {
        let tally = round_outcome(&[], &decided(&[("csec", Decision::Approve)]));
        assert_eq!(tally.outcome, None);
        assert!(tally.pending.is_empty());
    }

    #[test]
    fn a_reviewer_listed_twice_is_awaited_once() {
        let tally = round_outcome(&[org("csec"), org("csec")], &BTreeMap::new());
        assert_eq!(tally.pending, [org("csec")]);
    }

    #[test]
    fn decisions_round_trip_through_their_names() {
        for d in Decision::ALL {
            assert_eq!(d.as_str().parse::<Decision>(), Ok(d));
            assert_eq!(format!("DECISION_{d}").parse::<Decision>(), Ok(d));
        }
    }
}
