//! Comments: the parties' discussion of a submission (the owner answering a remark, a reviewer
//! asking a question), numbered within the submission, `{submission}/comments/{n}`. A comment
//! may name the remark it answers or the document it is about; it never changes once posted.

use super::document::DocumentId;
use super::name::{NumberedName, SubmissionName};
use super::remark::{check_body, document_of};
use crate::error::Violations;
use crate::organization::OrganizationId;
use crate::time::Timestamp;

/// The collection part of comment names, under a submission.
pub const COLLECTION: &str = "comments";

/// The fields of a comment as a request carries them, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommentDraft {
    /// The text.
    pub text: String,
    /// `{submission}/remarks/{n}`, or empty.
    pub remark: String,
    /// `{submission}/documents/{document}`, or empty.
    pub document: String,
}

/// The validated fields of a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentSpec {
    /// 1 to [`MAX_TEXT_CHARS`](super::remark::MAX_TEXT_CHARS) characters.
    pub text: String,
    /// The number of the remark of the submission it answers.
    pub remark: Option<u32>,
    /// The document of the submission it is about.
    pub document: Option<DocumentId>,
}

impl CommentDraft {
    /// Checks every field of a comment on `submission`, recording problems into `v` under
    /// `prefix` (e.g. `comment`). `Some` only when the draft is valid. Whether the remark and
    /// the document exist is the store's to check.
    pub fn validate_into(
        &self,
        submission: &SubmissionName,
        prefix: &str,
        v: &mut Violations,
    ) -> Option<CommentSpec> {
        let before = v.len();
        let f = |name: &str| format!("{prefix}.{name}");
        check_body(&self.text, &f("text"), v);
        let remark = if self.remark.is_empty() {
            None
        } else {
            v.check(
                NumberedName::parse(&self.remark, super::remark::COLLECTION, &f("remark"))
                    .and_then(|r| {
                        if &r.submission == submission {
                            Ok(r.number)
                        } else {
                            Err(crate::FieldViolation::new(
                                f("remark"),
                                format!("{} is not a remark of {submission}", self.remark),
                            ))
                        }
                    }),
            )
        };
        let document = if self.document.is_empty() {
            None
        } else {
            v.check(document_of(&self.document, submission, &f("document")))
        };
        (v.len() == before).then(|| CommentSpec {
            text: self.text.clone(),
            remark,
            document,
        })
    }
}

/// A comment, as the register keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// `{submission}/comments/{n}`.
    pub name: NumberedName,
    /// The organisation of the caller who posted it; `None` for an administrator without one.
    pub author: Option<OrganizationId>,
    /// The caller id.
    pub creator: String,
    /// The submission's round when it was posted.
    pub round: u32,
    /// Text, remark, document.
    pub spec: CommentSpec,
    /// Posted.
    pub create_time: Timestamp,
}

impl Comment {
    /// The name of the remark it answers.
    pub fn remark_name(&self) -> Option<String> {
        self.spec.remark.map(|n| {
            NumberedName {
                submission: self.name.submission.clone(),
                collection: super::remark::COLLECTION,
                number: n,
            }
            .name()
        })
    }

    /// The name of the document it is about.
    pub fn document_name(&self) -> Option<String> {
        self.spec.document.as_ref().map(|d| {
            format!(
                "{}/{}/{}",
                self.name.submission,
                super::document::COLLECTION,
                d.as_str()
            )
        })
    }

    /// The fields the audit trail lists for it.
    pub fn audit_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("text", self.spec.text.clone()),
            ("remark", self.remark_name().unwrap_or_default()),
            ("document", self.document_name().unwrap_or_default()),
            ("round", self.round.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission() -> SubmissionName {
        SubmissionName::from_name("systems/e-soliq/submissions/tz", "parent").unwrap()
    }

    #[test]
    fn a_comment_names_only_remarks_and_documents_of_its_own_submission() {
        let mut v = Violations::new();
        let ok = CommentDraft {
            text: "Fixed in version 2, p. 14.".into(),
            remark: "systems/e-soliq/submissions/tz/remarks/3".into(),
            document: "systems/e-soliq/submissions/tz/documents/tp".into(),
        }
        .validate_into(&submission(), "comment", &mut v)
        .unwrap();
        assert_eq!(ok.remark, Some(3));
        assert_eq!(ok.document.unwrap().as_str(), "tp");

        let mut v = Violations::new();
        let bad = CommentDraft {
            text: "  ".into(),
            remark: "systems/other/submissions/tz/remarks/3".into(),
            document: "systems/e-soliq/submissions/x/documents/tp".into(),
        }
        .validate_into(&submission(), "comment", &mut v);
        assert!(bad.is_none());
        let fields: Vec<String> = match v.into_result() {
            Err(crate::Error::InvalidArgument(list)) => list.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fields,
            ["comment.text", "comment.remark", "comment.document"]
        );
    }
}
