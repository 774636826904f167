//! One vocabulary: coded fields of the register bound to classifiers (`fieldBindings/{id}`).
//!
//! A [`FieldBinding`] says that a field of a register resource ([`BoundField`]) takes the codes
//! of a classifier. The fields that can be bound are declared here, once, with the one way to
//! read their codes out of a record ([`BoundField::codes`]): the check on write and the impact
//! listing both read them so. Whether a code is acceptable is decided by the classifier's
//! version in effect ([`CodeProblem`], as ValidateCode says), and what a deprecated code gets by
//! the binding ([`DeprecatedCodes`]).

use crate::classifier::ClassifierId;
use crate::error::FieldViolation;
use crate::organization::OrganizationSpec;
use crate::resource_id::{check_resource_id, resource_id};
use crate::revision::Revisioned;
use crate::system::SystemSpec;
use crate::time::Timestamp;
use crate::update_mask::UpdateMask;

resource_id!(
    /// A binding's id: the `{binding}` of `fieldBindings/{binding}`.
    BindingId,
    check = check_resource_id,
    collection = COLLECTION,
    segment = "binding",
    noun = "a" "field binding"
);

/// The collection of bindings.
pub const COLLECTION: &str = "fieldBindings";

/// A field of the register that can be bound to a classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BoundField {
    /// `Organization.region_code`: the region an organisation is registered in.
    OrganizationRegion,
    /// `InformationSystem.hosting.location`: where a system is hosted, as a region code.
    SystemHostingLocation,
    /// `InformationSystem.security.data_categories`: each category of data a system processes.
    SystemDataCategories,
}

/// A record whose bound fields are read.
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// An organisation's fields.
    Organization(&'a OrganizationSpec),
    /// A system's fields.
    System(&'a SystemSpec),
}

impl BoundField {
    /// Every bindable field.
    pub const ALL: [BoundField; 3] = [
        BoundField::OrganizationRegion,
        BoundField::SystemHostingLocation,
        BoundField::SystemDataCategories,
    ];

    /// The field as the API names it: the resource type, then the field's path.
    pub fn as_str(self) -> &'static str {
        match self {
            BoundField::OrganizationRegion => "Organization.region_code",
            BoundField::SystemHostingLocation => "InformationSystem.hosting.location",
            BoundField::SystemDataCategories => "InformationSystem.security.data_categories",
        }
    }

    /// The field's path within its resource (`hosting.location`).
    pub fn path(self) -> &'static str {
        let name = self.as_str();
        name.split_once('.').map_or(name, |(_, path)| path)
    }

    /// Whether the field belongs to an organisation (otherwise to a system).
    pub fn of_organization(self) -> bool {
        self == BoundField::OrganizationRegion
    }

    /// Parses a request's `field`.
    pub fn parse(s: &str, field: &str) -> Result<Self, FieldViolation> {
        if s.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                FieldViolation::new(
                    field,
                    format!(
                        "{s:?} is not a field that can be bound; one of {}",
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }

    /// The codes `record` holds in this field, each with its path within the resource
    /// (`security.data_categories[1]`); empty when the record is of another type or leaves the
    /// field empty.
    pub fn codes<'a>(self, record: Record<'a>) -> Vec<(String, &'a str)> {
        match (self, record) {
            (BoundField::OrganizationRegion, Record::Organization(org)) => org
                .region_code
                .as_deref()
                .map(|c| vec![(self.path().to_string(), c)])
                .unwrap_or_default(),
            (BoundField::SystemHostingLocation, Record::System(s)) => {
                if s.hosting.location.is_empty() {
                    Vec::new()
                } else {
                    vec![(self.path().to_string(), s.hosting.location.as_str())]
                }
            }
            (BoundField::SystemDataCategories, Record::System(s)) => s
                .security
                .data_categories
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("{}[{i}]", self.path()), c.as_str()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for BoundField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BoundField {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|f| f.as_str() == s).ok_or(())
    }
}

/// What a bound field does with a code its classifier has deprecated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum DeprecatedCodes {
    /// Refused, naming the successors.
    #[default]
    Refuse,
    /// Accepted (the impact listing still lists the record).
    Accept,
}

impl DeprecatedCodes {
    /// Every policy.
    pub const ALL: [DeprecatedCodes; 2] = [DeprecatedCodes::Refuse, DeprecatedCodes::Accept];

    /// The policy's name in the API (without `DEPRECATED_CODES_`) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DeprecatedCodes::Refuse => "REFUSE",
            DeprecatedCodes::Accept => "ACCEPT",
        }
    }
}

crate::api_enum!(DeprecatedCodes, "DEPRECATED_CODES_");

/// Why a classifier version does not accept a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CodeProblem {
    /// The version has no item with the code.
    Unknown,
    /// The item is deprecated.
    Deprecated,
    /// The item's `valid_to` has passed.
    Expired,
    /// The item's `valid_from` has not come yet.
    NotYetValid,
}

impl CodeProblem {
    /// The field violation's `reason` when a write is refused for it.
    pub fn reason(self) -> &'static str {
        match self {
            CodeProblem::Unknown => "UNKNOWN_CODE",
            CodeProblem::Deprecated => "DEPRECATED_CODE",
            CodeProblem::Expired => "CODE_EXPIRED",
            CodeProblem::NotYetValid => "CODE_NOT_YET_VALID",
        }
    }
}

/// A bound field's code that a write may not set: the violation at `field` (the request's
/// path), naming the classifier's version and, for a deprecated code, its `successors`.
pub fn refused_code(
    field: &str,
    code: &str,
    problem: CodeProblem,
    version: &str,
    successors: &[String],
) -> FieldViolation {
    let description = match problem {
        CodeProblem::Unknown => format!("{code:?} is not a code of {version}"),
        CodeProblem::Deprecated if successors.is_empty() => {
            format!("{code:?} is deprecated in {version}")
        }
        CodeProblem::Deprecated => format!(
            "{code:?} is deprecated in {version}; use {}",
            successors
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        CodeProblem::Expired => format!("{code:?} is no longer valid in {version}"),
        CodeProblem::NotYetValid => format!("{code:?} is not valid yet in {version}"),
    };
    FieldViolation::new(field, description).with_reason(problem.reason())
}

/// What a binding says, as a client sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingSpec {
    /// The classifier whose codes the field takes.
    pub classifier: ClassifierId,
    /// Whether every write of the resource must set the field.
    pub required: bool,
    /// What a deprecated code gets.
    pub deprecated_codes: DeprecatedCodes,
}

/// A coded field bound to a classifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldBinding {
    /// Its id.
    pub id: BindingId,
    /// The bound field (one binding per field).
    pub field: BoundField,
    /// What it says.
    pub spec: BindingSpec,
    /// When it was created.
    pub create_time: Timestamp,
    /// When it last changed.
    pub update_time: Timestamp,
    /// 1 on creation, +1 on every change.
    pub revision: i64,
}

impl Revisioned for FieldBinding {
    fn resource_name(&self) -> String {
        self.id.name()
    }

    fn revision(&self) -> i64 {
        self.revision
    }
}

/// The fields an Update may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BindingField {
    /// `classifier`.
    Classifier,
    /// `required`.
    Required,
    /// `deprecated_codes`.
    DeprecatedCodes,
}

/// UpdateFieldBinding's mask: without paths, all three fields (a boolean cannot say whether it
/// was set).
pub const UPDATE_MASK: UpdateMask<'static, BindingField> = UpdateMask {
    resource: "FieldBinding",
    paths: &[
        ("classifier", &[BindingField::Classifier]),
        ("required", &[BindingField::Required]),
        ("deprecated_codes", &[BindingField::DeprecatedCodes]),
    ],
    output_only: &["name", "field", "create_time", "update_time", "etag"],
};

/// What an Update changes: each field the mask named, with its new value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingChange {
    /// A new classifier.
    pub classifier: Option<ClassifierId>,
    /// A new `required`.
    pub required: Option<bool>,
    /// A new policy for deprecated codes.
    pub deprecated_codes: Option<DeprecatedCodes>,
}

impl BindingChange {
    /// `spec` with this change applied.
    pub fn apply(&self, spec: &BindingSpec) -> BindingSpec {
        BindingSpec {
            classifier: self
                .classifier
                .clone()
                .unwrap_or_else(|| spec.classifier.clone()),
            required: self.required.unwrap_or(spec.required),
            deprecated_codes: self.deprecated_codes.unwrap_or(spec.deprecated_codes),
        }
    }
}

/// The violations of what a write sets in a bound field: `codes` (each with its request
/// path) that `check` refuses, and the field left empty (at `path`) when the binding requires
/// it. `check` answers for one code whether the classifier's version refuses it: the problem,
/// the version's name and, for a deprecated code, its successors.
pub fn check_codes(
    binding: &FieldBinding,
    path: &str,
    codes: &[(String, &str)],
    mut check: impl FnMut(&str) -> Option<(CodeProblem, String, Vec<String>)>,
) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    if codes.is_empty() && binding.spec.required {
        violations.push(
            FieldViolation::new(
                path,
                format!("is required: it is bound to {}", binding.spec.classifier),
            )
            .with_reason("CODE_REQUIRED"),
        );
    }
    for (at, code) in codes {
        if let Some((problem, version, successors)) = check(code) {
            if problem == CodeProblem::Deprecated
                && binding.spec.deprecated_codes == DeprecatedCodes::Accept
            {
                continue;
            }
            violations.push(refused_code(at, code, problem, &version, &successors));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_parses_from_its_name_and_nothing_else_does() {
        for f in BoundField::ALL {
            assert_eq!(BoundField::parse(f.as_str(), "field").unwrap(), f);
            assert_eq!(f.as_str().parse::<BoundField>(), Ok(f));
        }
        let err = BoundField::parse("Organization.tin", "field").unwrap_err();
        assert!(
            err.description
                .contains("InformationSystem.security.data_categories")
        );
        assert!(BoundField::parse("", "field").is_err());
        assert_eq!(BoundField::SystemHostingLocation.path(), "hosting.location");
    }

    #[test]
    fn a_refused_code_names_its_version_and_successors_with_a_reason() {
        let v = refused_code(
            "organization.region_code",
            "1726",
            CodeProblem::Deprecated,
            "classifiers/soato/versions/2027-1",
            &["1727".into(), "1728".into()],
        );
        assert_eq!(v.reason, Some("DEPRECATED_CODE"));
        assert_eq!(
            v.description,
            "\"1726\" is deprecated in classifiers/soato/versions/2027-1; use \"1727\" or \"1728\""
        );
        let v = refused_code(
            "f",
            "9",
            CodeProblem::Unknown,
            "classifiers/x/versions/1",
            &[],
        );
        assert_eq!(v.reason, Some("UNKNOWN_CODE"));
    }
}
