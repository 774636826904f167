//! Submission names, `systems/{system}/submissions/{submission}`, and the names of what is
//! under a submission: `{submission}/{collection}/{id}` ([`split_child`]), with the numbered
//! ids the register assigns to remarks and comments ([`NumberedName`]).

use std::fmt;

use crate::error::FieldViolation;
use crate::resource_id::{check_resource_id, resource_id};
use crate::system::SystemId;

/// The collection part of submission names, under a system.
pub const COLLECTION: &str = "submissions";

resource_id!(
    /// A submission's id, the last segment of its name (AIP-122 rules), unique within its system.
    SubmissionId,
    check = check_resource_id
);

/// The full name of a submission: its system and its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubmissionName {
    /// The system the submission is about.
    pub system: SystemId,
    /// Its id within the system.
    pub submission: SubmissionId,
}

impl SubmissionName {
    /// Validates `systems/{system}/submissions/{submission}`.
    pub fn from_name(name: &str, field: &str) -> Result<Self, FieldViolation> {
        if name.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let shape = || {
            FieldViolation::new(
                field,
                format!(
                    "{name:?} is not a submission name (systems/{{system}}/submissions/{{submission}})"
                ),
            )
        };
        let mut parts = name.split('/');
        let (Some("systems"), Some(system), Some(COLLECTION), Some(submission), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(shape());
        };
        let system = SystemId::parse(system, field).map_err(|v| {
            FieldViolation::new(field, format!("{name:?}: system id {}", v.description))
        })?;
        let submission = SubmissionId::parse(submission, field).map_err(|v| {
            FieldViolation::new(field, format!("{name:?}: submission id {}", v.description))
        })?;
        Ok(Self { system, submission })
    }

    /// `systems/{system}/submissions/{submission}`.
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SubmissionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{COLLECTION}/{}", self.system, self.submission.0)
    }
}

/// `{submission}/{collection}/{id}` split into the submission and the id (not checked: its
/// rules are the collection's). Every problem is a violation of `field`.
pub fn split_child<'n>(
    name: &'n str,
    collection: &str,
    field: &str,
) -> Result<(SubmissionName, &'n str), FieldViolation> {
    if name.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    let bad = || {
        FieldViolation::new(
            field,
            format!(
                "{name:?} is not a name of the form \
                 systems/{{system}}/submissions/{{submission}}/{collection}/{{id}}"
            ),
        )
    };
    let (parent, id) = name.rsplit_once('/').ok_or_else(bad)?;
    let parent = parent
        .strip_suffix(collection)
        .and_then(|p| p.strip_suffix('/'))
        .ok_or_else(bad)?;
    let submission = SubmissionName::from_name(parent, field).map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((submission, id))
}

/// The name of something under a submission that the register numbers, from 1 in the order
/// they are made: `{submission}/{collection}/{number}` (remarks, comments).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumberedName {
    /// The submission.
    pub submission: SubmissionName,
    /// The collection, e.g. `remarks`.
    pub collection: &'static str,
    /// The number, from 1.
    pub number: u32,
}

impl NumberedName {
    /// Validates `{submission}/{collection}/{number}`: a decimal number from 1, without
    /// leading zeros (one spelling per name).
    pub fn parse(
        name: &str,
        collection: &'static str,
        field: &str,
    ) -> Result<Self, FieldViolation> {
        let (submission, id) = split_child(name, collection, field)?;
        let number = id
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0 && !id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                FieldViolation::new(
                    field,
                    format!("{name:?}: the id of a {collection} entry is a number from 1"),
                )
            })?;
        Ok(Self {
            submission,
            collection,
            number,
        })
    }

    /// `{submission}/{collection}/{number}`.
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for NumberedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.submission, self.collection, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_take_one_spelling_of_a_number_from_one() {
        let n =
            NumberedName::parse("systems/a/submissions/b/remarks/12", "remarks", "name").unwrap();
        assert_eq!(n.number, 12);
        assert_eq!(n.submission.name(), "systems/a/submissions/b");
        assert_eq!(n.name(), "systems/a/submissions/b/remarks/12");
        for bad in [
            "",
            "systems/a/submissions/b/remarks/0",
            "systems/a/submissions/b/remarks/012",
            "systems/a/submissions/b/remarks/+1",
            "systems/a/submissions/b/remarks/x",
            "systems/a/submissions/b/remarks/",
            "systems/a/submissions/b/comments/1",
            "systems/a/submissions/b/xremarks/1",
            "systems/a/submissions/b/remarks/99999999999",
            "systems/a/remarks/1",
        ] {
            let err = NumberedName::parse(bad, "remarks", "remark.name").unwrap_err();
            assert_eq!(err.field, "remark.name", "{bad:?}");
        }
    }

    #[test]
    fn a_submission_name_round_trips_through_its_parts() {
        let name =
            SubmissionName::from_name("systems/e-soliq/submissions/tz-2026", "name").unwrap();
        assert_eq!(name.system.as_str(), "e-soliq");
        assert_eq!(name.submission.as_str(), "tz-2026");
        assert_eq!(name.name(), "systems/e-soliq/submissions/tz-2026");
    }

    #[test]
    fn malformed_submission_names_are_refused_under_the_field() {
        for bad in [
            "",
            "systems/e-soliq",
            "systems/e-soliq/submissions",
            "systems/e-soliq/submissions/",
            "systems/e-soliq/reviews/tz",
            "systems/E-SOLIQ/submissions/tz",
            "systems/e-soliq/submissions/tz/documents/a",
            "organizations/stat/submissions/tz",
        ] {
            let err = SubmissionName::from_name(bad, "submission.name").unwrap_err();
            assert_eq!(err.field, "submission.name", "{bad:?}");
        }
    }
}
