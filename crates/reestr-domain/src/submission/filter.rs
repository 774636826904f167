//! The filter of ListSubmissions ([`compile_submission_filter`]), translated to SQL by the
//! store. Its fields:
//!
//! - `state` (`=`, `!=` a state, e.g. `UNDER_REVIEW`), `kind` (`=`, `!=` a kind);
//! - `system` (`=`, `!=` `systems/{system}`), `owner` (`=`, `!=` the owner organisation of the
//!   system, `organizations/{organization}`), `reviewer` (`=`, `!=` a required reviewer
//!   organisation);
//! - `overdue` (`=`, `!=` `true` or `false`): the party the submission waits for has let its
//!   deadline pass, as of the moment the filter is compiled ([`Submission::is_overdue`]).
//!
//! [`Submission::is_overdue`]: super::Submission::is_overdue

use super::kind::SubmissionKind;
use super::state::SubmissionState;
use crate::FieldViolation;
use crate::filter::{CompareOp, Value};
use crate::organization::OrganizationId;
use crate::query::{self, Equality, Predicate};
use crate::system::SystemId;
use crate::time::Timestamp;

/// One condition of a ListSubmissions filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionCondition {
    /// `state = S` / `state != S`.
    State(Equality, SubmissionState),
    /// `kind = K` / `kind != K`.
    Kind(Equality, SubmissionKind),
    /// `system = "systems/x"` / `system != "systems/x"`.
    System(Equality, SystemId),
    /// `owner = "organizations/x"`: the system's owner.
    Owner(Equality, OrganizationId),
    /// `reviewer = "organizations/x"`: one of the required reviewers.
    Reviewer(Equality, OrganizationId),
    /// `overdue = true` (`!=` is stored negated), as of `now`.
    Overdue {
        /// Overdue, or not.
        overdue: bool,
        /// The moment deadlines are compared with.
        now: Timestamp,
    },
}

/// Parses and checks a ListSubmissions filter (fields: see the [module](self) documentation);
/// `overdue` compares deadlines with `now`. `Ok(None)` for an empty filter; every problem is a
/// violation of the field `filter`.
pub fn compile_submission_filter(
    raw: &str,
    now: Timestamp,
) -> Result<Option<Predicate<SubmissionCondition>>, FieldViolation> {
    query::compile(raw, &|field: &str, op: CompareOp, value: &Value| {
        condition(field, op, value, now)
    })
}

fn condition(
    field: &str,
    op: CompareOp,
    value: &Value,
    now: Timestamp,
) -> Result<SubmissionCondition, String> {
    let text = query::value_text(value);
    let organization = || OrganizationId::from_name(text, "filter").map_err(|v| v.description);
    match field {
        "state" => Ok(SubmissionCondition::State(
            query::equality(field, op)?,
            text.parse()
                .map_err(|()| format!("state {text:?} is not a submission state"))?,
        )),
        "kind" => Ok(SubmissionCondition::Kind(
            query::equality(field, op)?,
            text.parse()
                .map_err(|()| format!("kind {text:?} is not a submission kind"))?,
        )),
        "system" => Ok(SubmissionCondition::System(
            query::equality(field, op)?,
            SystemId::from_name(text, "filter").map_err(|v| v.description)?,
        )),
        "owner" => Ok(SubmissionCondition::Owner(
            query::equality(field, op)?,
            organization()?,
        )),
        "reviewer" => Ok(SubmissionCondition::Reviewer(
            query::equality(field, op)?,
            organization()?,
        )),
        "overdue" => {
            let b = match text {
                "true" => true,
                "false" => false,
                _ => return Err("overdue compares with true or false".into()),
            };
            let overdue = match query::equality(field, op)? {
                Equality::Eq => b,
                Equality::Ne => !b,
            };
            Ok(SubmissionCondition::Overdue { overdue, now })
        }
        other => Err(format!(
            "cannot filter on {other:?}; fields: state, kind, system, owner, reviewer, overdue"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(raw: &str) -> SubmissionCondition {
        match compile_submission_filter(raw, Timestamp::from_micros(7)) {
            Ok(Some(Predicate::Leaf(l))) => l,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn every_field_compiles_to_its_condition() {
        assert_eq!(
            leaf("state = UNDER_REVIEW"),
            SubmissionCondition::State(Equality::Eq, SubmissionState::UnderReview)
        );
        assert_eq!(
            leaf("kind != SUBMISSION_KIND_CREATION"),
            SubmissionCondition::Kind(Equality::Ne, SubmissionKind::Creation)
        );
        assert_eq!(
            leaf(r#"system = "systems/e-soliq""#),
            SubmissionCondition::System(Equality::Eq, SystemId::from_trusted("e-soliq".into()))
        );
        assert_eq!(
            leaf(r#"reviewer = "organizations/csec""#),
            SubmissionCondition::Reviewer(
                Equality::Eq,
                OrganizationId::from_trusted("csec".into())
            )
        );
        assert_eq!(
            leaf("overdue != true"),
            SubmissionCondition::Overdue {
                overdue: false,
                now: Timestamp::from_micros(7)
            }
        );
    }

    #[test]
    fn bad_fields_and_values_are_violations_of_the_filter() {
        for bad in [
            "state = OPEN",
            "kind = X",
            r#"system = "e-soliq""#,
            r#"owner = "csec""#,
            "overdue = yes",
            "state < DRAFT",
            "title = x",
            r#""text""#,
        ] {
            let err = compile_submission_filter(bad, Timestamp::from_micros(0)).unwrap_err();
            assert_eq!(err.field, "filter", "{bad}");
        }
    }
}
