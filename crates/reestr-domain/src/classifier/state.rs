//! The lifecycle of a classifier version.
//!
//! ```text
//!   DRAFT ──publish──▶ PUBLISHED ──a later version takes effect──▶ SUPERSEDED
//!                          │                                            │
//!                          └──────────────retire──────▶ RETIRED ◀──retire┘
//! ```
//!
//! Only a draft is editable; from publication on, a version's items never change. State
//! fields are output-only: they change through transition methods (`PublishClassifierVersion`,
//! `RetireClassifierVersion`) and through the store superseding a version when a later one
//! takes effect. Every transition is checked by [`VersionState::check_transition`].

use std::collections::BTreeMap;
use std::fmt;

/// Where a version is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VersionState {
    /// Being written; at most one per classifier.
    Draft,
    /// Published and immutable; in effect from its `effective_time` until a later published
    /// version takes effect.
    Published,
    /// Replaced by a later published version that has taken effect. Still readable, and
    /// still the version in effect for dates before its successor's `effective_time`.
    Superseded,
    /// Withdrawn by its owner. Readable by name, never chosen by `latest` or `as_of`.
    Retired,
}

impl VersionState {
    /// Every state, in lifecycle order.
    pub const ALL: [VersionState; 4] = [
        VersionState::Draft,
        VersionState::Published,
        VersionState::Superseded,
        VersionState::Retired,
    ];

    /// The name used in the API and stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Draft => "DRAFT",
            VersionState::Published => "PUBLISHED",
            VersionState::Superseded => "SUPERSEDED",
            VersionState::Retired => "RETIRED",
        }
    }

    /// The states this one may move to.
    pub fn allowed_next(self) -> &'static [VersionState] {
        match self {
            VersionState::Draft => &[VersionState::Published],
            VersionState::Published => &[VersionState::Superseded, VersionState::Retired],
            VersionState::Superseded => &[VersionState::Retired],
            VersionState::Retired => &[],
        }
    }

    /// Whether the version's items may be changed: only a draft's.
    pub fn is_editable(self) -> bool {
        self == VersionState::Draft
    }

    /// Whether the version has been published (whatever happened to it since): its content
    /// is fixed and has a content hash.
    pub fn is_published(self) -> bool {
        self != VersionState::Draft
    }

    /// Whether moving from this state to `to` is allowed.
    pub fn check_transition(self, to: VersionState) -> Result<(), TransitionError> {
        if self.allowed_next().contains(&to) {
            Ok(())
        } else {
            Err(TransitionError {
                from: self,
                to,
                allowed: self.allowed_next().to_vec(),
            })
        }
    }

    /// Publishing: only a draft may be published.
    pub fn publish(self) -> Result<VersionState, TransitionError> {
        self.check_transition(VersionState::Published)
            .map(|()| VersionState::Published)
    }

    /// Superseding, when a later published version takes effect: only a published version.
    pub fn supersede(self) -> Result<VersionState, TransitionError> {
        self.check_transition(VersionState::Superseded)
            .map(|()| VersionState::Superseded)
    }

    /// Retiring: a published or superseded version.
    pub fn retire(self) -> Result<VersionState, TransitionError> {
        self.check_transition(VersionState::Retired)
            .map(|()| VersionState::Retired)
    }
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(VersionState, "STATE_");

/// A transition the lifecycle does not allow, e.g. publishing a version that is already
/// published.
///
/// The API maps it to `FAILED_PRECONDITION` with `ErrorInfo.reason` [`TransitionError::REASON`]
/// and [`TransitionError::metadata`]: the client must look at the version's state before
/// retrying, and retrying the same request unchanged cannot succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a {from} version cannot become {to}{}",
    if allowed.is_empty() {
        format!("; {from} is final")
    } else {
        format!("; from {from} it can only become {}", join(allowed))
    }
)]
pub struct TransitionError {
    /// The version's current state.
    pub from: VersionState,
    /// The state asked for.
    pub to: VersionState,
    /// The states `from` may move to.
    pub allowed: Vec<VersionState>,
}

fn join(states: &[VersionState]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

impl TransitionError {
    /// The stable `google.rpc.ErrorInfo.reason`.
    pub const REASON: &'static str = "INVALID_STATE_TRANSITION";

    /// The `google.rpc.ErrorInfo.metadata`: `from`, `to`, and `allowed` (comma-separated).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let allowed: Vec<&str> = self.allowed.iter().map(|s| s.as_str()).collect();
        BTreeMap::from([
            ("from".to_string(), self.from.as_str().to_string()),
            ("to".to_string(), self.to.as_str().to_string()),
            ("allowed".to_string(), allowed.join(",")),
        ])
    }
}

impl TransitionError {
    /// The register's error for this refusal on `resource`: FAILED_PRECONDITION with reason
    /// `ILLEGAL_STATE_TRANSITION` and the allowed next states, as for every lifecycle.
    pub fn into_error(self, resource: impl Into<String>) -> crate::error::Error {
        crate::error::Error::IllegalTransition {
            resource: resource.into(),
            from: self.from.as_str().to_string(),
            to: self.to.as_str().to_string(),
            allowed: self
                .allowed
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VersionState::*;

    #[test]
    fn only_a_draft_can_be_published() {
        assert_eq!(Draft.publish(), Ok(Published));
        for s in [Published, Superseded, Retired] {
            let err = s.publish().unwrap_err();
            assert_eq!(err.from, s);
            assert_eq!(err.to, Published);
        }
    }

    #[test]
    fn only_a_published_version_is_superseded() {
        assert_eq!(Published.supersede(), Ok(Superseded));
        for s in [Draft, Superseded, Retired] {
            assert!(s.supersede().is_err(), "{s}");
        }
    }

    #[test]
    fn published_and_superseded_versions_can_be_retired() {
        assert_eq!(Published.retire(), Ok(Retired));
        assert_eq!(Superseded.retire(), Ok(Retired));
        assert!(Draft.retire().is_err());
        assert!(Retired.retire().is_err());
    }

    #[test]
    fn the_full_transition_table_is_exactly_the_documented_one() {
        let allowed = [
            (Draft, Published),
            (Published, Superseded),
            (Published, Retired),
            (Superseded, Retired),
        ];
        for from in VersionState::ALL {
            for to in VersionState::ALL {
                assert_eq!(
                    from.check_transition(to).is_ok(),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn a_refused_transition_says_what_is_allowed() {
        let err = Published.publish().unwrap_err();
        assert_eq!(err.allowed, [Superseded, Retired]);
        assert_eq!(
            err.to_string(),
            "a PUBLISHED version cannot become PUBLISHED; from PUBLISHED it can only become \
             SUPERSEDED or RETIRED"
        );
        assert_eq!(err.metadata()["allowed"], "SUPERSEDED,RETIRED");
        let final_err = Retired.retire().unwrap_err();
        assert_eq!(
            final_err.to_string(),
            "a RETIRED version cannot become RETIRED; RETIRED is final"
        );
    }

    #[test]
    fn only_drafts_are_editable_and_state_names_round_trip() {
        assert!(Draft.is_editable() && !Draft.is_published());
        for s in [Published, Superseded, Retired] {
            assert!(!s.is_editable() && s.is_published());
        }
        for s in VersionState::ALL {
            assert_eq!(s.as_str().parse::<VersionState>(), Ok(s));
        }
    }
}
