//! Submission names: `systems/{system}/submissions/{submission}`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
