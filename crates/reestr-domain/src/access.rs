//! Who is calling, and what they may do: the register's one authorisation policy.
//!
//! The server's authentication layer turns a request's credentials (a bearer token or a
//! verified client certificate) into a [`Caller`]; every handler then asks [`authorize`] for
//! the [`Action`] it is about to perform before it touches any resource. Roles:
//!
//! | role | may |
//! |---|---|
//! | `REGISTRY_ADMIN` | everything: organisations, tokens, the audit trail, any resource |
//! | `EDITOR` | read; write its own organisation's systems, submissions and classifiers |
//! | `REVIEWER` | read; review submissions where its organisation is a required reviewer |
//! | `READER` | read |
//!
//! A caller whose organisation is deleted may only read, whatever its roles, until the
//! organisation is undeleted. An anonymous caller may use only health and reflection, which
//! are not behind this policy.

use std::collections::BTreeSet;
use std::fmt;

use crate::Error;
use crate::error::Reason;
use crate::organization::OrganizationId;

/// A role granted to a token or certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Operator of the register.
    RegistryAdmin,
    /// Writes its organisation's resources.
    Editor,
    /// Reviews submissions.
    Reviewer,
    /// Reads.
    Reader,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::RegistryAdmin,
        Role::Editor,
        Role::Reviewer,
        Role::Reader,
    ];

    /// The role's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::RegistryAdmin => "REGISTRY_ADMIN",
            Role::Editor => "EDITOR",
            Role::Reviewer => "REVIEWER",
            Role::Reader => "READER",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(Role, "ROLE_");

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A bearer token, by its resource name `tokens/{token}`.
    Token(String),
    /// A verified client certificate: subject and SHA-256 fingerprint.
    Certificate {
        /// Subject distinguished name.
        subject: String,
        /// Hex SHA-256 of the DER certificate.
        fingerprint: String,
    },
    /// An operator at the server's command line (`reestr token create`), by OS user name.
    Operator(String),
}

/// Credentials were presented but could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialError {
    /// Why, e.g. [`Reason::TokenRevoked`].
    pub reason: Reason,
    /// Explanation.
    pub message: String,
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The organisation it acts for (none for anonymous callers and operator tokens).
    pub organization: Option<OrganizationId>,
    /// Its roles.
    pub roles: BTreeSet<Role>,
    /// Set when credentials were sent but refused; every action is then UNAUTHENTICATED.
    pub credential_error: Option<CredentialError>,
    /// Whether its organisation is soft-deleted: the caller may then only read.
    pub organization_deleted: bool,
    /// Its token's own request rate, if the token has one.
    pub rate_limit: Option<crate::token::RateQuota>,
}

impl Caller {
    /// A caller without credentials.
    pub fn anonymous() -> Caller {
        Caller {
            principal: Principal::Anonymous,
            organization: None,
            roles: BTreeSet::new(),
            credential_error: None,
            organization_deleted: false,
            rate_limit: None,
        }
    }

    /// A caller whose credentials were refused.
    pub fn rejected(reason: Reason, message: impl Into<String>) -> Caller {
        Caller {
            credential_error: Some(CredentialError {
                reason,
                message: message.into(),
            }),
            ..Caller::anonymous()
        }
    }

    /// The id the audit trail records: `tokens/{id}`, `cert:{subject} ({fingerprint})`,
    /// `operator:{user}` or `anonymous`.
    pub fn id(&self) -> String {
        match &self.principal {
            Principal::Anonymous => "anonymous".into(),
            Principal::Token(name) => name.clone(),
            Principal::Certificate {
                subject,
                fingerprint,
            } => format!("cert:{subject} ({fingerprint})"),
            Principal::Operator(user) => format!("operator:{user}"),
        }
    }

    /// Whether the caller holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller is the register's operator.
    pub fn is_admin(&self) -> bool {
        self.has(Role::RegistryAdmin)
    }
}

/// What a request is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Read organisations.
    ReadOrganizations,
    /// Create, change, delete or restore an organisation.
    WriteOrganizations,
    /// Create, list or revoke API tokens.
    ManageTokens,
    /// Read the audit trail.
    ReadAudit,
    /// Create, change or delete field bindings.
    ManageBindings,
    /// Write a resource owned by `owner` (systems, submissions, classifiers).
    WriteOwned {
        /// The owning organisation.
        owner: &'a OrganizationId,
    },
    /// Read the register's resources.
    ReadRegister,
    /// Write resources of some organisation (checked again per resource with
    /// [`Action::WriteOwned`] once the owner is known).
    WriteResources,
    /// Post the review decisions of the organisation `reviewer`: its REVIEWER callers.
    Review {
        /// The reviewing organisation.
        reviewer: &'a OrganizationId,
    },
    /// Take part in the discussion of a submission (comment on it): its owner's editors and
    /// its required reviewers' REVIEWER callers.
    Discuss {
        /// The owner organisation.
        owner: &'a OrganizationId,
        /// The required reviewers.
        reviewers: &'a [OrganizationId],
    },
    /// Read what only the parties of a submission see: its owner's and its required
    /// reviewers' callers, whatever their role.
    Participate {
        /// The owner organisation.
        owner: &'a OrganizationId,
        /// The required reviewers.
        reviewers: &'a [OrganizationId],
    },
}

impl Action<'_> {
    /// Whether the action changes the register (or its tokens), as opposed to reading it.
    pub fn writes(&self) -> bool {
        match self {
            Action::ReadOrganizations
            | Action::ReadAudit
            | Action::ReadRegister
            | Action::Participate { .. } => false,
            Action::WriteOrganizations
            | Action::ManageTokens
            | Action::ManageBindings
            | Action::WriteOwned { .. }
            | Action::WriteResources
            | Action::Review { .. }
            | Action::Discuss { .. } => true,
        }
    }

    /// The action's name, as the audit trail and errors give it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::ReadOrganizations => "read organizations",
            Action::WriteOrganizations => "write organizations",
            Action::ManageTokens => "manage tokens",
            Action::ReadAudit => "read the audit trail",
            Action::ManageBindings => "manage field bindings",
            Action::WriteOwned { .. } => "write an organization's resources",
            Action::ReadRegister => "read the register",
            Action::WriteResources => "write the register's resources",
            Action::Review { .. } => "review a submission",
            Action::Discuss { .. } => "comment on a submission",
            Action::Participate { .. } => "read a submission",
        }
    }
}

/// The policy: `Ok` when `caller` may perform `action`, UNAUTHENTICATED when it has no valid
/// credentials, PERMISSION_DENIED otherwise: `ORGANIZATION_DELETED` when the caller's
/// organisation is deleted and the action writes (whatever the caller's roles, so that a
/// deleted organisation's tokens and certificates only read until it is undeleted), or
/// `PERMISSION_DENIED` when its roles do not allow the action.
pub fn authorize(caller: &Caller, action: Action<'_>) -> Result<(), Error> {
    if let Some(e) = &caller.credential_error {
        return Err(Error::Unauthenticated {
            reason: e.reason,
            message: e.message.clone(),
        });
    }
    if caller.principal == Principal::Anonymous {
        return Err(Error::Unauthenticated {
            reason: Reason::CredentialsRequired,
            message: "send `authorization: Bearer <token>` or a client certificate".into(),
        });
    }
    if caller.organization_deleted && action.writes() {
        let organization = caller
            .organization
            .as_ref()
            .map(OrganizationId::name)
            .unwrap_or_default();
        return Err(Error::PermissionDenied {
            reason: Reason::OrganizationDeleted,
            action: action.name().into(),
            message: format!(
                "{organization} is deleted: its tokens and certificates may only read until it \
                 is undeleted, so {} may not {}",
                caller.id(),
                action.name()
            ),
        });
    }
    if caller.is_admin() {
        return Ok(());
    }
    let reads = [Role::Editor, Role::Reviewer, Role::Reader];
    let allowed = match action {
        Action::ReadOrganizations | Action::ReadRegister => reads.iter().any(|r| caller.has(*r)),
        Action::WriteOrganizations
        | Action::ManageTokens
        | Action::ManageBindings
        | Action::ReadAudit => false,
        Action::WriteResources => caller.has(Role::Editor),
        Action::WriteOwned { owner } => {
            caller.has(Role::Editor) && caller.organization.as_ref() == Some(owner)
        }
        Action::Review { reviewer } => {
            caller.has(Role::Reviewer) && caller.organization.as_ref() == Some(reviewer)
        }
        Action::Discuss { owner, reviewers } => caller.organization.as_ref().is_some_and(|o| {
            (o == owner && caller.has(Role::Editor))
                || (reviewers.contains(o) && caller.has(Role::Reviewer))
        }),
        Action::Participate { owner, reviewers } => {
            reads.iter().any(|r| caller.has(*r))
                && caller
                    .organization
                    .as_ref()
                    .is_some_and(|o| o == owner || reviewers.contains(o))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::PermissionDenied {
            reason: Reason::PermissionDenied,
            action: action.name().into(),
            message: format!("{} may not {}", caller.id(), action.name()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], org: Option<&str>) -> Caller {
        Caller {
            principal: Principal::Token("tokens/t".into()),
            organization: org.map(|o| OrganizationId::from_trusted(o.into())),
            roles: roles.iter().copied().collect(),
            credential_error: None,
            organization_deleted: false,
            rate_limit: None,
        }
    }

    #[test]
    fn anonymous_and_rejected_callers_are_unauthenticated() {
        let err = authorize(&Caller::anonymous(), Action::ReadOrganizations).unwrap_err();
        assert_eq!(err.reason(), Reason::CredentialsRequired);
        let err = authorize(
            &Caller::rejected(Reason::TokenRevoked, "revoked"),
            Action::ReadOrganizations,
        )
        .unwrap_err();
        assert_eq!(err.reason(), Reason::TokenRevoked);
    }

    #[test]
    fn admin_may_do_everything() {
        let admin = caller(&[Role::RegistryAdmin], None);
        let other = OrganizationId::from_trusted("other".into());
        for action in [
            Action::ReadOrganizations,
            Action::WriteOrganizations,
            Action::ManageTokens,
            Action::ReadAudit,
            Action::WriteOwned { owner: &other },
        ] {
            assert!(authorize(&admin, action).is_ok(), "{action:?}");
        }
    }

    #[test]
    fn editors_write_only_their_own_organisations_resources() {
        let own = OrganizationId::from_trusted("stat".into());
        let foreign = OrganizationId::from_trusted("minfin".into());
        let editor = caller(&[Role::Editor], Some("stat"));
        assert!(authorize(&editor, Action::WriteOwned { owner: &own }).is_ok());
        let err = authorize(&editor, Action::WriteOwned { owner: &foreign }).unwrap_err();
        assert_eq!(err.reason(), Reason::PermissionDenied);
        assert!(authorize(&editor, Action::WriteOrganizations).is_err());
        assert!(authorize(&editor, Action::ReadOrganizations).is_ok());
    }

    #[test]
    fn readers_and_reviewers_only_read() {
        let own = OrganizationId::from_trusted("stat".into());
        for role in [Role::Reader, Role::Reviewer] {
            let c = caller(&[role], Some("stat"));
            assert!(authorize(&c, Action::ReadRegister).is_ok());
            assert!(authorize(&c, Action::WriteOwned { owner: &own }).is_err());
            assert!(authorize(&c, Action::ManageTokens).is_err());
            assert!(authorize(&c, Action::ReadAudit).is_err());
        }
    }

    #[test]
    fn only_a_reviewer_organisations_reviewer_callers_review_for_it() {
        let csec = OrganizationId::from_trusted("csec".into());
        assert!(
            authorize(
                &caller(&[Role::Reviewer], Some("csec")),
                Action::Review { reviewer: &csec }
            )
            .is_ok()
        );
        for (roles, org) in [
            (&[Role::Editor, Role::Reader][..], Some("csec")),
            (&[Role::Reviewer][..], Some("stat")),
            (&[Role::Reviewer][..], None),
        ] {
            let err =
                authorize(&caller(roles, org), Action::Review { reviewer: &csec }).unwrap_err();
            assert_eq!(err.reason(), Reason::PermissionDenied, "{roles:?} {org:?}");
        }
    }

    #[test]
    fn only_a_submissions_parties_read_it() {
        let owner = OrganizationId::from_trusted("stat".into());
        let reviewers = [OrganizationId::from_trusted("csec".into())];
        let action = || Action::Participate {
            owner: &owner,
            reviewers: &reviewers,
        };
        for (role, org) in [
            (Role::Reader, "stat"),
            (Role::Editor, "stat"),
            (Role::Reviewer, "csec"),
            (Role::Reader, "csec"),
        ] {
            assert!(
                authorize(&caller(&[role], Some(org)), action()).is_ok(),
                "{role:?} {org}"
            );
        }
        let err = authorize(&caller(&[Role::Reviewer], Some("minfin")), action()).unwrap_err();
        assert_eq!(err.reason(), Reason::PermissionDenied);
        assert!(authorize(&caller(&[Role::RegistryAdmin], None), action()).is_ok());
    }

    #[test]
    fn the_owners_editors_and_the_reviewers_reviewers_discuss_a_submission() {
        let owner = OrganizationId::from_trusted("stat".into());
        let reviewers = [OrganizationId::from_trusted("csec".into())];
        let action = || Action::Discuss {
            owner: &owner,
            reviewers: &reviewers,
        };
        for (role, org, allowed) in [
            (Role::Editor, "stat", true),
            (Role::Reviewer, "csec", true),
            (Role::Reader, "stat", false),
            (Role::Reader, "csec", false),
            (Role::Reviewer, "stat", false),
            (Role::Editor, "csec", false),
            (Role::Editor, "minfin", false),
        ] {
            let result = authorize(&caller(&[role], Some(org)), action());
            assert_eq!(result.is_ok(), allowed, "{role:?} {org}");
        }
        assert!(authorize(&caller(&[Role::RegistryAdmin], None), action()).is_ok());
        assert!(action().writes());
    }

    #[test]
    fn a_deleted_organisations_callers_only_read_whatever_their_roles() {
        let own = OrganizationId::from_trusted("stat".into());
        for role in Role::ALL {
            let c = Caller {
                organization_deleted: true,
                ..caller(&[role], Some("stat"))
            };
            for action in [
                Action::WriteOrganizations,
                Action::ManageTokens,
                Action::WriteResources,
                Action::WriteOwned { owner: &own },
            ] {
                let err = authorize(&c, action).unwrap_err();
                assert_eq!(
                    err.reason(),
                    Reason::OrganizationDeleted,
                    "{role} {action:?}"
                );
                assert!(err.to_string().contains("organizations/stat is deleted"));
            }
            assert!(authorize(&c, Action::ReadRegister).is_ok(), "{role}");
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("ADMIN".parse::<Role>().is_err());
    }
}
