//! The fields of a submission as a request gives them, and the rules they obey.
//!
//! [`SubmissionDraft::validate`] checks a whole request at once and reports every problem,
//! each under its field path (`submission.title`, `submission.required_reviewers[1]`). It is
//! used on create and, after an update mask merged the request into the stored fields, on
//! update. The kind is chosen on create and does not change: it decides which other open
//! submission a new one collides with, and what an approval does to the system.
//!
//! Required reviewers are organisations, by name. A request that names none gets the
//! server's defaults for the submission's kind ([`DefaultReviewers`]); a submission must end
//! up with at least one and at most [`MAX_REVIEWERS`], without repeats.

use std::collections::BTreeMap;

use super::kind::SubmissionKind;
use crate::error::{Error, Violations};
use crate::input::Choice;
use crate::organization::OrganizationId;
use crate::update_mask::UpdateMask;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 300;

/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;

/// Most required reviewers of one submission.
pub const MAX_REVIEWERS: usize = 20;

/// The reviewers the server requires of each kind of submission when a request names none
/// (server configuration).
pub type DefaultReviewers = BTreeMap<SubmissionKind, Vec<OrganizationId>>;

/// The fields of a submission as a request carries them, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmissionDraft {
    /// Kind.
    pub kind: Choice<SubmissionKind>,
    /// Title.
    pub title: String,
    /// Description, or empty.
    pub description: String,
    /// Required reviewers, `organizations/{organization}` each; empty for the defaults.
    pub required_reviewers: Vec<String>,
}

/// The validated fields of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionSpec {
    /// Kind.
    pub kind: SubmissionKind,
    /// Title: one line, 1 to [`MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// Description, up to [`MAX_DESCRIPTION_CHARS`] characters; empty when not given.
    pub description: String,
    /// Required reviewers, in the order given (or the defaults'), each once.
    pub required_reviewers: Vec<OrganizationId>,
}

impl SubmissionDraft {
    /// Checks every field, naming problems under `prefix` (e.g. `submission`); an empty
    /// reviewer list takes `defaults` for the kind.
    pub fn validate(
        &self,
        prefix: &str,
        defaults: &DefaultReviewers,
    ) -> Result<SubmissionSpec, Error> {
        let mut v = Violations::new();
        let spec = self.validate_into(prefix, defaults, &mut v);
        v.into_result()?;
        spec.ok_or_else(|| {
            Error::Internal("validation produced neither value nor violation".into())
        })
    }

    /// Like [`SubmissionDraft::validate`], recording violations into `v` alongside those of
    /// the rest of the request. `Some` only when this draft is valid.
    pub fn validate_into(
        &self,
        prefix: &str,
        defaults: &DefaultReviewers,
        v: &mut Violations,
    ) -> Option<SubmissionSpec> {
        let before = v.len();
        let f = |name: &str| format!("{prefix}.{name}");
        let kind = match self.kind {
            Choice::Known(k) => Some(k),
            Choice::Unset => {
                v.add(f("kind"), "is required");
                None
            }
            Choice::Unknown(n) => {
                v.add(f("kind"), format!("{n} is not a known submission kind"));
                None
            }
        };
        if let Err(problem) = check_title(&self.title) {
            v.add(f("title"), problem);
        }
        if let Err(problem) = check_description(&self.description) {
            v.add(f("description"), problem);
        }
        let reviewers = match kind {
            _ if !self.required_reviewers.is_empty() => {
                check_reviewers(&self.required_reviewers, &f("required_reviewers"), v)
            }
            Some(kind) => match defaults.get(&kind) {
                Some(list) if !list.is_empty() => Some(list.clone()),
                _ => {
                    v.add(
                        f("required_reviewers"),
                        format!(
                            "at least one reviewer organisation is required; the server has no \
                             default reviewers for {kind}"
                        ),
                    );
                    None
                }
            },
            // Without a kind there are no defaults to take; the kind's violation says why.
            None => None,
        };
        if v.len() != before {
            return None;
        }
        Some(SubmissionSpec {
            kind: kind?,
            title: self.title.clone(),
            description: self.description.clone(),
            required_reviewers: reviewers?,
        })
    }
}

impl SubmissionSpec {
    /// The draft these fields came from, for merging an update into.
    pub fn to_draft(&self) -> SubmissionDraft {
        SubmissionDraft {
            kind: Choice::Known(self.kind),
            title: self.title.clone(),
            description: self.description.clone(),
            required_reviewers: self
                .required_reviewers
                .iter()
                .map(OrganizationId::name)
                .collect(),
        }
    }
}

/// A field UpdateSubmission can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubmissionField {
    /// `title`.
    Title,
    /// `description`.
    Description,
    /// `required_reviewers`.
    RequiredReviewers,
}

/// The update mask of a submission: its kind is chosen on create, the rest is output only.
pub const SUBMISSION_UPDATE_MASK: UpdateMask<'static, SubmissionField> = UpdateMask {
    resource: "Submission",
    paths: &[
        ("title", &[SubmissionField::Title]),
        ("description", &[SubmissionField::Description]),
        ("required_reviewers", &[SubmissionField::RequiredReviewers]),
    ],
    output_only: &[
        "name",
        "kind",
        "state",
        "round",
        "pending_reviewers",
        "round_start_time",
        "due_time",
        "owner_due_time",
        "overdue",
        "conclusion",
        "owner",
        "create_time",
        "update_time",
        "submit_time",
        "delete_time",
        "etag",
    ],
};

impl SubmissionDraft {
    /// Whether the request sets `field` (for an update without a mask).
    pub fn sets(&self, field: SubmissionField) -> bool {
        match field {
            SubmissionField::Title => !self.title.is_empty(),
            SubmissionField::Description => !self.description.is_empty(),
            SubmissionField::RequiredReviewers => !self.required_reviewers.is_empty(),
        }
    }

    /// `current` with the `fields` of `requested`; the kind stays `current`'s.
    pub fn merge(
        current: &SubmissionSpec,
        requested: &SubmissionDraft,
        fields: &[SubmissionField],
    ) -> SubmissionDraft {
        let mut merged = current.to_draft();
        for field in fields {
            match field {
                SubmissionField::Title => merged.title = requested.title.clone(),
                SubmissionField::Description => {
                    merged.description = requested.description.clone();
                }
                SubmissionField::RequiredReviewers => {
                    merged.required_reviewers = requested.required_reviewers.clone();
                }
            }
        }
        merged
    }
}

fn check_title(title: &str) -> Result<(), String> {
    check_line(title, MAX_TITLE_CHARS, true)
}

fn check_description(description: &str) -> Result<(), String> {
    check_text(description, MAX_DESCRIPTION_CHARS)
}

/// One line of at most `max` characters, without white space at its ends or control
/// characters; empty only when not `required`. The one rule of the submission's one-line
/// fields (a title, a remark's location and normative reference).
pub(crate) fn check_line(text: &str, max: usize, required: bool) -> Result<(), String> {
    if text.trim().is_empty() {
        return match (required, text.is_empty()) {
            (false, true) => Ok(()),
            (true, _) => Err("is required".into()),
            (false, false) => Err("must not be only white space".into()),
        };
    }
    if text.trim() != text {
        return Err("must not start or end with white space".into());
    }
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must be one line without control characters".into());
    }
    Ok(())
}

/// Text of at most `max` characters, with line breaks and tabs but no other control
/// characters. The one rule of the submission's free-text fields.
pub(crate) fn check_text(text: &str, max: usize) -> Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters other than line breaks and tabs".into());
    }
    Ok(())
}

/// The reviewers named in a request: each a valid organisation name, none twice, at most
/// [`MAX_REVIEWERS`]. `Some` only when all of them are valid.
fn check_reviewers(
    names: &[String],
    field: &str,
    v: &mut Violations,
) -> Option<Vec<OrganizationId>> {
    if names.len() > MAX_REVIEWERS {
        v.add(
            field,
            format!(
                "at most {MAX_REVIEWERS} reviewer organisations; {} given",
                names.len()
            ),
        );
        return None;
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(names.len());
    let mut ok = true;
    for (i, name) in names.iter().enumerate() {
        let entry = format!("{field}[{i}]");
        match OrganizationId::from_name(name, &entry) {
            Err(e) => {
                v.add(e.field, e.description);
                ok = false;
            }
            Ok(id) => {
                if let Some(first) = seen.get(name.as_str()) {
                    v.add(
                        entry,
                        format!("{name} is already listed at {field}[{first}]"),
                    );
                    ok = false;
                } else {
                    seen.insert(name, i);
                    out.push(id);
                }
            }
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str) -> OrganizationId {
        OrganizationId::from_trusted(id.to_string())
    }

    fn draft() -> SubmissionDraft {
        SubmissionDraft {
            kind: Choice::Known(SubmissionKind::Creation),
            title: "Technical assignment of E-SOLIQ 2.0".into(),
            description: "Scope:\n\t- filing\n\t- payments".into(),
            required_reviewers: vec!["organizations/csec".into(), "organizations/mitc".into()],
        }
    }

    fn violations(err: Error) -> Vec<(String, String)> {
        match err {
            Error::InvalidArgument(v) => v.into_iter().map(|f| (f.field, f.description)).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    fn fields(err: Error) -> Vec<String> {
        violations(err).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn a_valid_draft_keeps_its_reviewers_in_order() {
        let spec = draft()
            .validate("submission", &DefaultReviewers::new())
            .unwrap();
        assert_eq!(spec.required_reviewers, [org("csec"), org("mitc")]);
        assert_eq!(spec.kind, SubmissionKind::Creation);
        assert_eq!(spec.to_draft(), draft());
    }

    #[test]
    fn no_reviewers_take_the_defaults_of_the_kind() {
        let defaults = DefaultReviewers::from([(SubmissionKind::Creation, vec![org("uzinfocom")])]);
        let spec = SubmissionDraft {
            required_reviewers: vec![],
            ..draft()
        }
        .validate("submission", &defaults)
        .unwrap();
        assert_eq!(spec.required_reviewers, [org("uzinfocom")]);
    }

    #[test]
    fn no_reviewers_and_no_defaults_for_the_kind_is_invalid() {
        let defaults =
            DefaultReviewers::from([(SubmissionKind::Commissioning, vec![org("uzinfocom")])]);
        let err = SubmissionDraft {
            required_reviewers: vec![],
            ..draft()
        }
        .validate("submission", &defaults)
        .unwrap_err();
        let v = violations(err);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, "submission.required_reviewers");
        assert!(
            v[0].1.contains("no default reviewers for CREATION"),
            "{}",
            v[0].1
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once_under_its_path() {
        let err = SubmissionDraft {
            kind: Choice::Unset,
            title: " padded ".into(),
            description: "bell\u{7}".into(),
            required_reviewers: vec![
                "organizations/csec".into(),
                "csec".into(),
                "organizations/csec".into(),
            ],
        }
        .validate("submission", &DefaultReviewers::new())
        .unwrap_err();
        assert_eq!(
            fields(err),
            [
                "submission.kind",
                "submission.title",
                "submission.description",
                "submission.required_reviewers[1]",
                "submission.required_reviewers[2]",
            ]
        );
    }

    #[test]
    fn a_repeated_reviewer_names_its_first_place() {
        let err = SubmissionDraft {
            required_reviewers: vec!["organizations/csec".into(), "organizations/csec".into()],
            ..draft()
        }
        .validate("submission", &DefaultReviewers::new())
        .unwrap_err();
        assert_eq!(
            violations(err),
            [(
                "submission.required_reviewers[1]".to_string(),
                "organizations/csec is already listed at submission.required_reviewers[0]"
                    .to_string()
            )]
        );
    }

    #[test]
    fn titles_are_required_single_lines_of_bounded_length() {
        let title_error = |title: &str| {
            SubmissionDraft {
                title: title.into(),
                ..draft()
            }
            .validate("submission", &DefaultReviewers::new())
            .err()
            .map(fields)
        };
        let title = Some(vec!["submission.title".to_string()]);
        assert_eq!(title_error(""), title);
        assert_eq!(title_error("   "), title);
        assert_eq!(title_error("two\nlines"), title);
        assert_eq!(title_error(&"x".repeat(MAX_TITLE_CHARS + 1)), title);
        assert_eq!(title_error(&"ё".repeat(MAX_TITLE_CHARS)), None);
    }

    #[test]
    fn descriptions_are_optional_and_bounded() {
        let description_error = |description: String| {
            SubmissionDraft {
                description,
                ..draft()
            }
            .validate("submission", &DefaultReviewers::new())
            .err()
            .map(fields)
        };
        assert_eq!(description_error(String::new()), None);
        assert_eq!(
            description_error("x".repeat(MAX_DESCRIPTION_CHARS + 1)),
            Some(vec!["submission.description".to_string()])
        );
    }

    #[test]
    fn too_many_reviewers_are_refused_as_a_whole() {
        let names = (0..=MAX_REVIEWERS)
            .map(|i| format!("organizations/org-{i}"))
            .collect();
        let err = SubmissionDraft {
            required_reviewers: names,
            ..draft()
        }
        .validate("submission", &DefaultReviewers::new())
        .unwrap_err();
        assert_eq!(fields(err), ["submission.required_reviewers"]);
    }

    #[test]
    fn an_unknown_kind_is_named_by_its_number() {
        let err = SubmissionDraft {
            kind: Choice::Unknown(9),
            ..draft()
        }
        .validate("submission", &DefaultReviewers::new())
        .unwrap_err();
        assert_eq!(
            violations(err),
            [(
                "submission.kind".to_string(),
                "9 is not a known submission kind".to_string()
            )]
        );
    }
}
