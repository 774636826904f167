//! Kinds of submissions, and what the approval of each does to the system's lifecycle.
//!
//! | kind | the system must be | on approval it becomes |
//! |---|---|---|
//! | CREATION | PLANNED | IN_DEVELOPMENT |
//! | MODERNIZATION | PILOT, IN_OPERATION or SUSPENDED | (unchanged) |
//! | COMMISSIONING | IN_DEVELOPMENT or PILOT | IN_OPERATION |
//! | DECOMMISSIONING | any state but DECOMMISSIONED | DECOMMISSIONED |
//!
//! Every change in the table is one the system lifecycle allows
//! ([`SystemState::allowed_next`]). A system in another state cannot take the effect, and
//! [`lifecycle_effect`] refuses with FAILED_PRECONDITION (`ILLEGAL_STATE_TRANSITION`). The
//! API asks it twice: when the owner submits or resubmits (so that nobody reviews documents
//! whose approval could not apply), and with the decision that would complete a round as
//! APPROVED, since the system may have moved meanwhile (through `TransitionSystemState`). That
//! decision is then refused and the submission stays UNDER_REVIEW, so that a conclusion never
//! records an approval whose effect did not happen; the owner withdraws it or moves the
//! system back. Decisions that reject or ask for changes have no effect and are never refused
//! for it.

use std::fmt;

use crate::error::{Error, Reason};
use crate::system::SystemState;

/// What a submission's design documentation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubmissionKind {
    /// Creating a planned system: its technical assignment and project.
    Creation,
    /// Modernising a system that is in use.
    Modernization,
    /// Putting a system into operation.
    Commissioning,
    /// Taking a system out of operation for good.
    Decommissioning,
}

impl SubmissionKind {
    /// Every kind.
    pub const ALL: [SubmissionKind; 4] = [
        SubmissionKind::Creation,
        SubmissionKind::Modernization,
        SubmissionKind::Commissioning,
        SubmissionKind::Decommissioning,
    ];

    /// The kind's name in the API (without the `SUBMISSION_KIND_` prefix) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionKind::Creation => "CREATION",
            SubmissionKind::Modernization => "MODERNIZATION",
            SubmissionKind::Commissioning => "COMMISSIONING",
            SubmissionKind::Decommissioning => "DECOMMISSIONING",
        }
    }

    /// The system states an approval of this kind can take effect from.
    pub fn applies_from(self) -> &'static [SystemState] {
        use SystemState as S;
        match self {
            SubmissionKind::Creation => &[S::Planned],
            SubmissionKind::Modernization => &[S::Pilot, S::InOperation, S::Suspended],
            SubmissionKind::Commissioning => &[S::InDevelopment, S::Pilot],
            SubmissionKind::Decommissioning => &[
                S::Planned,
                S::InDevelopment,
                S::Pilot,
                S::InOperation,
                S::Suspended,
            ],
        }
    }

    /// The state an approval of this kind moves the system to; `None` when it leaves the state
    /// as it is (modernisation).
    pub fn moves_system_to(self) -> Option<SystemState> {
        match self {
            SubmissionKind::Creation => Some(SystemState::InDevelopment),
            SubmissionKind::Modernization => None,
            SubmissionKind::Commissioning => Some(SystemState::InOperation),
            SubmissionKind::Decommissioning => Some(SystemState::Decommissioned),
        }
    }
}

impl fmt::Display for SubmissionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(SubmissionKind, "SUBMISSION_KIND_");

/// What approving a submission of `kind` does to the system `system` (its name), now in
/// `current`: `Ok(Some(state))` to move it there, `Ok(None)` to leave its state alone, or
/// FAILED_PRECONDITION (`ILLEGAL_STATE_TRANSITION`) when the system is in a state the effect
/// cannot start from (see the [module documentation](self)).
pub fn lifecycle_effect(
    system: &str,
    kind: SubmissionKind,
    current: SystemState,
) -> Result<Option<SystemState>, Error> {
    if kind.applies_from().contains(&current) {
        return Ok(kind.moves_system_to());
    }
    let from: Vec<&str> = kind.applies_from().iter().map(|s| s.as_str()).collect();
    Err(Error::Precondition {
        reason: Reason::IllegalStateTransition,
        resource: system.to_string(),
        message: format!(
            "{system} is {}: a {kind} submission applies only to a system that is {}",
            current.as_str(),
            from.join(" or ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubmissionKind::*;
    use SystemState as S;

    #[test]
    fn approvals_move_the_system_as_the_table_says() {
        let effect = |kind, state| lifecycle_effect("systems/e-soliq", kind, state);
        assert_eq!(effect(Creation, S::Planned), Ok(Some(S::InDevelopment)));
        assert_eq!(
            effect(Commissioning, S::InDevelopment),
            Ok(Some(S::InOperation))
        );
        assert_eq!(effect(Commissioning, S::Pilot), Ok(Some(S::InOperation)));
        assert_eq!(
            effect(Decommissioning, S::InOperation),
            Ok(Some(S::Decommissioned))
        );
        assert_eq!(effect(Modernization, S::InOperation), Ok(None));
    }

    #[test]
    fn every_effect_is_a_transition_the_system_lifecycle_allows() {
        for kind in SubmissionKind::ALL {
            for from in kind.applies_from() {
                if let Some(to) = kind.moves_system_to() {
                    assert!(
                        crate::system::check_transition("systems/x", *from, to).is_ok(),
                        "{kind}: {from:?} -> {to:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_system_in_another_state_refuses_the_effect_naming_the_states_it_needs() {
        let err = lifecycle_effect("systems/e-soliq", Creation, S::InOperation).unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
        assert_eq!(err.metadata()["resource"], "systems/e-soliq");
        assert_eq!(
            err.to_string(),
            "systems/e-soliq is IN_OPERATION: a CREATION submission applies only to a system \
             that is PLANNED"
        );
        for kind in SubmissionKind::ALL {
            assert!(lifecycle_effect("systems/x", kind, S::Decommissioned).is_err());
        }
        assert!(lifecycle_effect("systems/x", Commissioning, S::Suspended).is_err());
        assert!(lifecycle_effect("systems/x", Modernization, S::Planned).is_err());
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in SubmissionKind::ALL {
            assert_eq!(k.as_str().parse::<SubmissionKind>(), Ok(k));
            assert_eq!(
                format!("SUBMISSION_KIND_{k}").parse::<SubmissionKind>(),
                Ok(k)
            );
        }
    }
}
