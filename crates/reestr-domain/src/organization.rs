//! Organisations: the agencies that own, operate, edit and review the register's resources.
//!
//! An organisation is named `organizations/{organization}`. Its mutable fields are checked as a
//! whole by [`OrganizationDraft::validate`], which is used for create and, after the update
//! mask has merged the request into the stored values, for update too, so the two can never
//! disagree about what a valid organisation is.

use std::collections::BTreeMap;

use crate::contact::{Contacts, ContactsDraft};
use crate::error::{Error, FieldViolation, Violations};
use crate::filter::{CompareOp, Value};
use crate::input::Choice;
use crate::query::{self, Equality, Predicate};
use crate::resource_id::{check_resource_id, resource_id};
use crate::revision::{Revisioned, SoftDeleted};
use crate::text::{LocalizedText, fold};
use crate::time::Timestamp;
use crate::update_mask::UpdateMask;

/// The collection part of organisation names.
pub const COLLECTION: &str = "organizations";

resource_id!(
    /// The final segment of an organisation's name: 1 to 63 lowercase Latin letters, digits and
    /// hyphens, starting with a letter and not ending with a hyphen (AIP-122).
    OrganizationId,
    check = check_resource_id,
    collection = COLLECTION,
    segment = "organization",
    noun = "an" "organisation"
);

/// The kind of an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrganizationKind {
    /// Ministry, committee, agency, inspectorate.
    StateBody,
    /// Economic administration body or state enterprise.
    EconomicBody,
    /// Body of local government.
    LocalGovernment,
    /// Anything else.
    Other,
}

impl OrganizationKind {
    /// Every kind.
    pub const ALL: [OrganizationKind; 4] = [
        OrganizationKind::StateBody,
        OrganizationKind::EconomicBody,
        OrganizationKind::LocalGovernment,
        OrganizationKind::Other,
    ];

    /// The name used in the API and stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationKind::StateBody => "STATE_BODY",
            OrganizationKind::EconomicBody => "ECONOMIC_BODY",
            OrganizationKind::LocalGovernment => "LOCAL_GOVERNMENT",
            OrganizationKind::Other => "OTHER",
        }
    }
}

crate::api_enum!(OrganizationKind, "KIND_");

/// The validated, mutable fields of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationSpec {
    /// Names by language.
    pub display_name: LocalizedText,
    /// Taxpayer number, 9 digits.
    pub tin: String,
    /// Kind.
    pub kind: OrganizationKind,
    /// Parent organisation.
    pub parent: Option<OrganizationId>,
    /// SOATO region code.
    pub region_code: Option<String>,
    /// Contact details.
    pub contacts: Contacts,
}

/// An organisation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Its id.
    pub id: OrganizationId,
    /// Its mutable fields.
    pub spec: OrganizationSpec,
    /// When it was created.
    pub create_time: Timestamp,
    /// When it last changed.
    pub update_time: Timestamp,
    /// When it was soft-deleted, if it is.
    pub delete_time: Option<Timestamp>,
    /// Counts the changes; the etag is derived from it.
    pub revision: i64,
}

impl Revisioned for Organization {
    fn resource_name(&self) -> String {
        self.id.name()
    }
    fn revision(&self) -> i64 {
        self.revision
    }
}

impl SoftDeleted for Organization {
    fn delete_time(&self) -> Option<Timestamp> {
        self.delete_time
    }
}

impl Organization {
    /// The organisation as `(field, value)` pairs, for the audit trail's change lists.
    pub fn audit_fields(&self) -> Vec<(&'static str, String)> {
        let s = &self.spec;
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            (
                "display_name",
                serde_json::to_string(&s.display_name.to_tag_map()).unwrap_or_default(),
            ),
            ("tin", s.tin.clone()),
            ("kind", s.kind.as_str().to_string()),
            (
                "parent",
                s.parent
                    .as_ref()
                    .map(OrganizationId::name)
                    .unwrap_or_default(),
            ),
            ("region_code", opt(&s.region_code)),
            ("contacts.email", opt(&s.contacts.email)),
            ("contacts.phone", opt(&s.contacts.phone)),
            ("contacts.website", opt(&s.contacts.website)),
            (
                "delete_time",
                self.delete_time
                    .map(|t| t.micros().to_string())
                    .unwrap_or_default(),
            ),
        ]
    }
}

/// The mutable fields of an organisation as a request carries them, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrganizationDraft {
    /// Names by language tag.
    pub display_name: BTreeMap<String, String>,
    /// Taxpayer number.
    pub tin: String,
    /// Kind.
    pub kind: Choice<OrganizationKind>,
    /// Parent name or empty.
    pub parent: String,
    /// Region code or empty.
    pub region_code: String,
    /// Contacts.
    pub contacts: ContactsDraft,
}

impl OrganizationDraft {
    /// Checks every field, naming problems under `prefix` (e.g. `organization`), and returns
    /// the validated organisation fields or every violation found.
    pub fn validate(&self, prefix: &str) -> Result<OrganizationSpec, Error> {
        let mut v = Violations::new();
        let spec = self.validate_into(prefix, &mut v);
        v.into_result()?;
        spec.ok_or_else(|| {
            Error::Internal("validation produced neither value nor violation".into())
        })
    }

    /// Like [`OrganizationDraft::validate`], recording violations into `v` alongside those of
    /// the rest of the request. `Some` only when this draft is valid.
    pub fn validate_into(&self, prefix: &str, v: &mut Violations) -> Option<OrganizationSpec> {
        let before = v.len();
        let display_name =
            LocalizedText::validate(&self.display_name, &format!("{prefix}.display_name"), v);
        let tin = v.check(check_tin(&self.tin, &format!("{prefix}.tin")));
        let kind = match self.kind {
            Choice::Known(k) => Some(k),
            Choice::Unset => {
                v.add(format!("{prefix}.kind"), "is required");
                None
            }
            Choice::Unknown(n) => {
                v.add(format!("{prefix}.kind"), format!("{n} is not a known kind"));
                None
            }
        };
        let parent = if self.parent.is_empty() {
            Some(None)
        } else {
            v.check(OrganizationId::from_name(&self.parent, &format!("{prefix}.parent")).map(Some))
        };
        let region_code = if self.region_code.is_empty() {
            Some(None)
        } else {
            v.check(
                check_region_code(&self.region_code, &format!("{prefix}.region_code")).map(Some),
            )
        };
        let contacts = self.contacts.validate(&format!("{prefix}.contacts"), v);
        if v.len() != before {
            return None;
        }
        Some(OrganizationSpec {
            display_name: display_name?,
            tin: tin?,
            kind: kind?,
            parent: parent?,
            region_code: region_code?,
            contacts,
        })
    }
}

impl OrganizationSpec {
    /// The draft these fields came from, for merging an update into.
    pub fn to_draft(&self) -> OrganizationDraft {
        OrganizationDraft {
            display_name: self.display_name.to_tag_map(),
            tin: self.tin.clone(),
            kind: Choice::Known(self.kind),
            parent: self
                .parent
                .as_ref()
                .map(OrganizationId::name)
                .unwrap_or_default(),
            region_code: self.region_code.clone().unwrap_or_default(),
            contacts: self.contacts.to_draft(),
        }
    }
}

fn check_tin(tin: &str, field: &str) -> Result<String, FieldViolation> {
    if tin.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if tin.len() != 9 || !tin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldViolation::new(field, "must be exactly 9 digits"));
    }
    Ok(tin.to_string())
}

fn check_region_code(code: &str, field: &str) -> Result<String, FieldViolation> {
    if !(4..=10).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldViolation::new(
            field,
            "must be a SOATO code of 4 to 10 digits",
        ));
    }
    Ok(code.to_string())
}

/// A field an update mask can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrganizationField {
    /// `display_name`
    DisplayName,
    /// `tin`
    Tin,
    /// `kind`
    Kind,
    /// `parent`
    Parent,
    /// `region_code`
    RegionCode,
    /// `contacts.email`
    ContactsEmail,
    /// `contacts.phone`
    ContactsPhone,
    /// `contacts.website`
    ContactsWebsite,
}

/// The update mask of `Organization`: `contacts` stands for its three parts.
pub const UPDATE_MASK: UpdateMask<'static, OrganizationField> = {
    use OrganizationField as F;
    UpdateMask {
        resource: "Organization",
        paths: &[
            ("display_name", &[F::DisplayName]),
            ("tin", &[F::Tin]),
            ("kind", &[F::Kind]),
            ("parent", &[F::Parent]),
            ("region_code", &[F::RegionCode]),
            (
                "contacts",
                &[F::ContactsEmail, F::ContactsPhone, F::ContactsWebsite],
            ),
            ("contacts.email", &[F::ContactsEmail]),
            ("contacts.phone", &[F::ContactsPhone]),
            ("contacts.website", &[F::ContactsWebsite]),
        ],
        output_only: &["name", "create_time", "update_time", "delete_time", "etag"],
    }
};

/// The fields an UpdateOrganization changes (see [`UpdateMask::resolve`]): without paths,
/// those `draft` sets.
pub fn resolve_update_mask(
    paths: &[String],
    draft: &OrganizationDraft,
) -> Result<Vec<OrganizationField>, Error> {
    use OrganizationField as F;
    UPDATE_MASK.resolve(paths, |f| match f {
        F::DisplayName => !draft.display_name.is_empty(),
        F::Tin => !draft.tin.is_empty(),
        F::Kind => draft.kind.is_set(),
        F::Parent => !draft.parent.is_empty(),
        F::RegionCode => !draft.region_code.is_empty(),
        F::ContactsEmail => !draft.contacts.email.is_empty(),
        F::ContactsPhone => !draft.contacts.phone.is_empty(),
        F::ContactsWebsite => !draft.contacts.website.is_empty(),
    })
}

/// `current` with the `fields` taken from `request`.
pub fn merge(
    current: &OrganizationDraft,
    request: &OrganizationDraft,
    fields: &[OrganizationField],
) -> OrganizationDraft {
    use OrganizationField as F;
    let mut out = current.clone();
    for f in fields {
        match f {
            F::DisplayName => out.display_name = request.display_name.clone(),
            F::Tin => out.tin = request.tin.clone(),
            F::Kind => out.kind = request.kind,
            F::Parent => out.parent = request.parent.clone(),
            F::RegionCode => out.region_code = request.region_code.clone(),
            F::ContactsEmail => out.contacts.email = request.contacts.email.clone(),
            F::ContactsPhone => out.contacts.phone = request.contacts.phone.clone(),
            F::ContactsWebsite => out.contacts.website = request.contacts.website.clone(),
        }
    }
    out
}

/// One condition of a ListOrganizations filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationCondition {
    /// `kind = K` / `kind != K`
    Kind(Equality, OrganizationKind),
    /// `parent = "organizations/x"`, or `parent = ""` for top-level organisations.
    Parent(Equality, Option<OrganizationId>),
    /// `tin = "123456789"`
    Tin(Equality, String),
    /// `region_code = "1726"`
    RegionCode(Equality, String),
    /// `display_name:"text"`: folded substring of any name.
    DisplayNameContains(String),
}

/// Parses and checks a ListOrganizations filter.
pub fn compile_filter(
    raw: &str,
) -> Result<Option<Predicate<OrganizationCondition>>, FieldViolation> {
    query::compile(raw, &organization_condition)
}

fn organization_condition(
    field: &str,
    op: CompareOp,
    value: &Value,
) -> Result<OrganizationCondition, String> {
    let text = query::value_text(value);
    match field {
        "kind" => {
            let eq = query::equality(field, op)?;
            let kind = text.parse().map_err(|()| {
                format!(
                    "{text:?} is not a kind; use one of {}",
                    OrganizationKind::ALL
                        .map(OrganizationKind::as_str)
                        .join(", ")
                )
            })?;
            Ok(OrganizationCondition::Kind(eq, kind))
        }
        "parent" => {
            let eq = query::equality(field, op)?;
            let parent = if text.is_empty() {
                None
            } else {
                Some(OrganizationId::from_name(text, "filter").map_err(|v| v.description)?)
            };
            Ok(OrganizationCondition::Parent(eq, parent))
        }
        "tin" => Ok(OrganizationCondition::Tin(
            query::equality(field, op)?,
            text.to_string(),
        )),
        "region_code" => Ok(OrganizationCondition::RegionCode(
            query::equality(field, op)?,
            text.to_string(),
        )),
        "display_name" => match op {
            CompareOp::Has if !text.is_empty() => {
                Ok(OrganizationCondition::DisplayNameContains(fold(text)))
            }
            CompareOp::Has => Err("display_name: needs a non-empty text".into()),
            _ => Err("display_name supports only : (contains), e.g. display_name:\"stat\"".into()),
        },
        other => Err(format!(
            "cannot filter on {other:?}; fields: kind, parent, tin, region_code, display_name"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> OrganizationDraft {
        OrganizationDraft {
            display_name: [("en".to_string(), "Statistics Agency".to_string())].into(),
            tin: "201234567".into(),
            kind: Choice::Known(OrganizationKind::StateBody),
            parent: String::new(),
            region_code: "1726".into(),
            contacts: ContactsDraft::default(),
        }
    }

    fn fields_of(err: Error) -> Vec<String> {
        match err {
            Error::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn resource_ids_follow_aip_122() {
        for ok in ["stat", "a", "min-fin", "org2", &"a".repeat(63)] {
            assert!(check_resource_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Stat",
            "2org",
            "org-",
            "org_x",
            "org.x",
            "орг",
            &"a".repeat(64),
        ] {
            assert!(check_resource_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_must_be_in_the_organizations_collection() {
        assert_eq!(
            OrganizationId::from_name("organizations/stat", "name")
                .unwrap()
                .as_str(),
            "stat"
        );
        assert!(OrganizationId::from_name("systems/stat", "name").is_err());
        assert!(OrganizationId::from_name("organizations/", "name").is_err());
        assert!(OrganizationId::from_name("organizations/a/b", "name").is_err());
        assert!(OrganizationId::from_name("", "name").is_err());
    }

    #[test]
    fn a_valid_draft_validates() {
        let spec = draft().validate("organization").unwrap();
        assert_eq!(spec.tin, "201234567");
        assert_eq!(spec.region_code.as_deref(), Some("1726"));
        assert_eq!(spec.to_draft(), draft());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = OrganizationDraft {
            display_name: BTreeMap::new(),
            tin: "12345".into(),
            kind: Choice::Unknown(42),
            parent: "systems/x".into(),
            region_code: "17a".into(),
            contacts: ContactsDraft {
                email: "nope".into(),
                ..Default::default()
            },
        };
        assert_eq!(
            fields_of(bad.validate("organization").unwrap_err()),
            [
                "organization.display_name",
                "organization.tin",
                "organization.kind",
                "organization.parent",
                "organization.region_code",
                "organization.contacts.email",
            ]
        );
    }

    #[test]
    fn missing_kind_and_tin_are_required() {
        let d = OrganizationDraft {
            kind: Choice::Unset,
            tin: String::new(),
            ..draft()
        };
        assert_eq!(
            fields_of(d.validate("organization").unwrap_err()),
            ["organization.tin", "organization.kind"]
        );
    }

    #[test]
    fn empty_mask_updates_only_fields_that_are_set() {
        let request = OrganizationDraft {
            tin: "309876543".into(),
            ..Default::default()
        };
        let fields = resolve_update_mask(&[], &request).unwrap();
        assert_eq!(fields, [OrganizationField::Tin]);
        let merged = merge(&draft(), &request, &fields);
        assert_eq!(merged.tin, "309876543");
        assert_eq!(merged.display_name, draft().display_name);
    }

    #[test]
    fn masked_empty_field_is_cleared_and_required_ones_then_fail() {
        let request = OrganizationDraft::default();
        let fields = resolve_update_mask(&["region_code".into(), "tin".into()], &request).unwrap();
        let merged = merge(&draft(), &request, &fields);
        assert_eq!(merged.region_code, "");
        assert_eq!(
            fields_of(merged.validate("organization").unwrap_err()),
            ["organization.tin"]
        );
    }

    #[test]
    fn output_only_and_unknown_mask_paths_are_refused() {
        let err = resolve_update_mask(
            &["etag".into(), "create_time".into(), "colour".into()],
            &OrganizationDraft::default(),
        )
        .unwrap_err();
        assert_eq!(
            fields_of(err),
            [
                "update_mask.paths[0]",
                "update_mask.paths[1]",
                "update_mask.paths[2]"
            ]
        );
    }

    #[test]
    fn star_and_contacts_expand() {
        let all = resolve_update_mask(&["*".into()], &OrganizationDraft::default()).unwrap();
        assert_eq!(all.len(), 8);
        let c =
            resolve_update_mask(&["contacts".into(), "contacts.email".into()], &draft()).unwrap();
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn filters_compile_to_typed_conditions() {
        let p = compile_filter("kind = STATE_BODY AND display_name:\"СТАТ\"")
            .unwrap()
            .unwrap();
        assert_eq!(
            p,
            Predicate::And(
                Box::new(Predicate::Leaf(OrganizationCondition::Kind(
                    Equality::Eq,
                    OrganizationKind::StateBody
                ))),
                Box::new(Predicate::Leaf(OrganizationCondition::DisplayNameContains(
                    "стат".into()
                )))
            )
        );
        assert_eq!(
            compile_filter("parent = \"\"").unwrap().unwrap(),
            Predicate::Leaf(OrganizationCondition::Parent(Equality::Eq, None))
        );
        assert!(compile_filter("").unwrap().is_none());
    }

    #[test]
    fn bad_filters_are_field_violations() {
        for bad in [
            "kind = PLANET",
            "kind > STATE_BODY",
            "colour = red",
            "display_name = \"x\"",
            "parent = \"systems/x\"",
            "\"bare\"",
            "kind = (",
        ] {
            let err = compile_filter(bad).unwrap_err();
            assert_eq!(err.field, "filter", "{bad}");
        }
    }
}
