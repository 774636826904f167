//! Remarks: what a reviewer asks to be changed, naming a document (and optionally a page or a
//! section, and the normative requirement it rests on).
//!
//! A remark is OPEN until it is resolved, and RESOLVED for good. Only the reviewer
//! organisation that opened a remark resolves it; that is a question of who the caller is,
//! decided with the authorisation of the call, while the state rule is
//! [`RemarkState::resolve`].

use std::fmt;

use crate::error::{Error, Reason};

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

    #[test]
    fn remark_states_round_trip_through_their_names() {
        for s in RemarkState::ALL {
            assert_eq!(s.as_str().parse::<RemarkState>(), Ok(s));
            assert_eq!(format!("REMARK_STATE_{s}").parse::<RemarkState>(), Ok(s));
        }
    }
}
