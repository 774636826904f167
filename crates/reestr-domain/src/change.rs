//! The change feed: every committed mutation of the register becomes a change event with a
//! global, gap-free `revision`.
//!
//! A change names the resource that changed and says how ([`ChangeKind`]); it does not carry
//! the resource, which a client reads by name. One transaction makes one revision: all the
//! resources it changed (an approved submission and the system it moved) share that revision,
//! in the order they changed ([`Change::position`]).
//!
//! What the feed covers is decided by the resource's type ([`ResourceType::of`]): the
//! register's records and their children. Upload staging (`…/uploads/…`) is not a change of
//! the register and makes no event.

use std::fmt;

use crate::time::Timestamp;

/// How a resource changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// It was created.
    Created,
    /// Its fields (or, for a draft classifier version, its items) changed.
    Updated,
    /// It was deleted (softly: it can be undeleted).
    Deleted,
    /// It was undeleted.
    Undeleted,
    /// Its lifecycle state changed (a submission submitted, a system commissioned, a remark
    /// resolved, a version retired, a token revoked…).
    StateChanged,
    /// A classifier version was published.
    Published,
}

impl ChangeKind {
    /// Every kind.
    pub const ALL: [ChangeKind; 6] = [
        ChangeKind::Created,
        ChangeKind::Updated,
        ChangeKind::Deleted,
        ChangeKind::Undeleted,
        ChangeKind::StateChanged,
        ChangeKind::Published,
    ];

    /// The kind's name in the API (without `CHANGE_KIND_`) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "CREATED",
            ChangeKind::Updated => "UPDATED",
            ChangeKind::Deleted => "DELETED",
            ChangeKind::Undeleted => "UNDELETED",
            ChangeKind::StateChanged => "STATE_CHANGED",
            ChangeKind::Published => "PUBLISHED",
        }
    }

    /// The kind of the change the gRPC method `method` (`/reestr.v1.XService/Verb…`) makes to
    /// `resource` (of type `of`): `Create{Type}` creates a resource of that type, and so on;
    /// a method that acts on a resource of another type (a review posted on a submission)
    /// updates it.
    ///
    /// The register's own writes name no gRPC method: the first token written on start
    /// (`bootstrap`) and the operator's commands (`cli:token create`).
    pub fn of_method(method: &str, of: ResourceType) -> ChangeKind {
        if method == "bootstrap" {
            return ChangeKind::Created;
        }
        if let Some(command) = method.strip_prefix("cli:") {
            return if command.ends_with(" create") {
                ChangeKind::Created
            } else {
                ChangeKind::Updated
            };
        }
        let verb = method.rsplit('/').next().unwrap_or(method);
        let noun = of.method_noun();
        let acts_on = |prefix: &str| {
            verb.strip_prefix(prefix)
                .is_some_and(|rest| rest == noun || rest.is_empty())
        };
        if acts_on("Create") {
            ChangeKind::Created
        } else if acts_on("Undelete") {
            ChangeKind::Undeleted
        } else if acts_on("Delete") {
            ChangeKind::Deleted
        } else if verb.starts_with("Publish") {
            ChangeKind::Published
        } else if [
            "Submit",
            "Resubmit",
            "Withdraw",
            "Transition",
            "Retire",
            "Revoke",
            "Resolve",
        ]
        .iter()
        .any(|v| verb.starts_with(v))
        {
            ChangeKind::StateChanged
        } else {
            ChangeKind::Updated
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(ChangeKind, "CHANGE_KIND_");

/// The type of a resource of the register, read from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    /// `organizations/{organization}`.
    Organization,
    /// `systems/{system}`.
    InformationSystem,
    /// `systems/{system}/submissions/{submission}`.
    Submission,
    /// `…/submissions/{submission}/documents/{document}`.
    Document,
    /// `…/submissions/{submission}/remarks/{remark}`.
    Remark,
    /// `…/submissions/{submission}/comments/{comment}`.
    Comment,
    /// `classifiers/{classifier}`.
    Classifier,
    /// `classifiers/{classifier}/versions/{version}`.
    ClassifierVersion,
    /// `tokens/{token}`.
    Token,
    /// `fieldBindings/{binding}`.
    FieldBinding,
}

impl ResourceType {
    /// Every type.
    pub const ALL: [ResourceType; 10] = [
        ResourceType::Organization,
        ResourceType::InformationSystem,
        ResourceType::Submission,
        ResourceType::Document,
        ResourceType::Remark,
        ResourceType::Comment,
        ResourceType::Classifier,
        ResourceType::ClassifierVersion,
        ResourceType::Token,
        ResourceType::FieldBinding,
    ];

    /// The type's name in the API and the database: the proto message's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Organization => "Organization",
            ResourceType::InformationSystem => "InformationSystem",
            ResourceType::Submission => "Submission",
            ResourceType::Document => "Document",
            ResourceType::Remark => "Remark",
            ResourceType::Comment => "Comment",
            ResourceType::Classifier => "Classifier",
            ResourceType::ClassifierVersion => "ClassifierVersion",
            ResourceType::Token => "Token",
            ResourceType::FieldBinding => "FieldBinding",
        }
    }

    /// The type of `name`, or `None` for a name the feed does not cover (upload staging, a
    /// name of no known shape).
    pub fn of(name: &str) -> Option<ResourceType> {
        let segments: Vec<&str> = name.split('/').collect();
        Some(match segments.as_slice() {
            ["organizations", _] => ResourceType::Organization,
            ["systems", _] => ResourceType::InformationSystem,
            ["systems", _, "submissions", _] => ResourceType::Submission,
            ["systems", _, "submissions", _, "documents", _] => ResourceType::Document,
            ["systems", _, "submissions", _, "remarks", _] => ResourceType::Remark,
            ["systems", _, "submissions", _, "comments", _] => ResourceType::Comment,
            ["classifiers", _] => ResourceType::Classifier,
            ["classifiers", _, "versions", _] => ResourceType::ClassifierVersion,
            ["tokens", _] => ResourceType::Token,
            ["fieldBindings", _] => ResourceType::FieldBinding,
            _ => return None,
        })
    }

    /// Whether every caller that reads the register sees this type's changes. The changes of
    /// submissions (and their documents, remarks and comments) concern their parties, and
    /// those of tokens the administrators: only administrators see them in the feed.
    pub fn public(self) -> bool {
        matches!(
            self,
            ResourceType::Organization
                | ResourceType::InformationSystem
                | ResourceType::Classifier
                | ResourceType::ClassifierVersion
                | ResourceType::FieldBinding
        )
    }

    /// A submission, or a document, remark or comment of one.
    pub fn of_submission(self) -> bool {
        matches!(
            self,
            ResourceType::Submission
                | ResourceType::Document
                | ResourceType::Remark
                | ResourceType::Comment
        )
    }

    /// The noun the methods that act on this type end with (`CreateSystem`, `DeleteToken`).
    fn method_noun(self) -> &'static str {
        match self {
            ResourceType::InformationSystem => "System",
            ResourceType::Document => "Document",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ResourceType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

/// One resource changed by a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The transaction's revision: from 1, gap-free, in commit order.
    pub revision: i64,
    /// The resource's place among the changes of its revision, from 0.
    pub position: i32,
    /// The resource's name.
    pub resource: String,
    /// Its type.
    pub resource_type: ResourceType,
    /// How it changed.
    pub kind: ChangeKind,
    /// The gRPC method that changed it.
    pub method: String,
    /// Who changed it (a caller id, as in the audit trail).
    pub caller: String,
    /// When the transaction began.
    pub change_time: Timestamp,
    /// The id of the organisation that owns the resource as the transaction left it: the
    /// organisation itself, the owner of a system, classifier (with its versions) or
    /// submission (with its documents, remarks and comments), a token's organisation.
    pub owner: Option<String>,
    /// The ids of a submission's required reviewers (for its documents, remarks and comments
    /// too); empty for other resources.
    pub reviewers: Vec<String>,
    /// The etag of the resource's revision as the transaction left it
    /// ([`crate::revision::etag`]); empty for resources without etags (tokens, documents,
    /// comments), for one the transaction removed for good, and for changes recorded before
    /// the register kept etags in its feed.
    pub etag: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_type_is_read_from_the_name_and_staging_is_not_one() {
        for (name, expected) in [
            ("organizations/stat", Some(ResourceType::Organization)),
            ("systems/e-soliq", Some(ResourceType::InformationSystem)),
            (
                "systems/e-soliq/submissions/tz",
                Some(ResourceType::Submission),
            ),
            (
                "systems/e/submissions/tz/documents/d",
                Some(ResourceType::Document),
            ),
            (
                "systems/e/submissions/tz/remarks/1",
                Some(ResourceType::Remark),
            ),
            (
                "systems/e/submissions/tz/comments/2",
                Some(ResourceType::Comment),
            ),
            ("classifiers/soato", Some(ResourceType::Classifier)),
            (
                "classifiers/soato/versions/2026-1",
                Some(ResourceType::ClassifierVersion),
            ),
            ("tokens/abc", Some(ResourceType::Token)),
            ("fieldBindings/org-region", Some(ResourceType::FieldBinding)),
            ("systems/e/submissions/tz/uploads/u", None),
            ("uploads", None),
            ("things/a", None),
        ] {
            assert_eq!(ResourceType::of(name), expected, "{name}");
        }
        for t in ResourceType::ALL {
            assert_eq!(t.as_str().parse(), Ok(t));
        }
    }

    #[test]
    fn the_kind_follows_the_method_and_the_resource_it_acts_on() {
        use ChangeKind as K;
        use ResourceType as T;
        for (method, of, expected) in [
            (
                "/reestr.v1.OrganizationService/CreateOrganization",
                T::Organization,
                K::Created,
            ),
            (
                "/reestr.v1.InformationSystemService/CreateSystem",
                T::InformationSystem,
                K::Created,
            ),
            (
                "/reestr.v1.InformationSystemService/UpdateSystem",
                T::InformationSystem,
                K::Updated,
            ),
            (
                "/reestr.v1.InformationSystemService/DeleteSystem",
                T::InformationSystem,
                K::Deleted,
            ),
            (
                "/reestr.v1.InformationSystemService/UndeleteSystem",
                T::InformationSystem,
                K::Undeleted,
            ),
            (
                "/reestr.v1.InformationSystemService/TransitionSystemState",
                T::InformationSystem,
                K::StateChanged,
            ),
            // A review is posted on the submission: the submission is updated.
            (
                "/reestr.v1.SubmissionService/CreateReview",
                T::Submission,
                K::Updated,
            ),
            // An approval moves the system too.
            (
                "/reestr.v1.SubmissionService/CreateReview",
                T::InformationSystem,
                K::Updated,
            ),
            (
                "/reestr.v1.SubmissionService/SubmitSubmission",
                T::Submission,
                K::StateChanged,
            ),
            (
                "/reestr.v1.SubmissionService/CreateRemark",
                T::Remark,
                K::Created,
            ),
            (
                "/reestr.v1.SubmissionService/ResolveRemark",
                T::Remark,
                K::StateChanged,
            ),
            (
                "/reestr.v1.DocumentService/UploadDocument",
                T::Document,
                K::Updated,
            ),
            (
                "/reestr.v1.ClassifierService/PublishClassifierVersion",
                T::ClassifierVersion,
                K::Published,
            ),
            (
                "/reestr.v1.ClassifierService/BatchUpsertItems",
                T::ClassifierVersion,
                K::Updated,
            ),
            (
                "/reestr.v1.ClassifierService/DeleteClassifierVersion",
                T::ClassifierVersion,
                K::Deleted,
            ),
            (
                "/reestr.v1.TokenService/RevokeToken",
                T::Token,
                K::StateChanged,
            ),
        ] {
            assert_eq!(
                ChangeKind::of_method(method, of),
                expected,
                "{method} on {of}"
            );
        }
    }
}
