//! Information systems: the register's core record.
//!
//! A system is named `systems/{system}`. Its mutable fields form a [`SystemSpec`], checked as
//! a whole by [`validate_spec`] on create and, after the update mask merged the request into
//! the stored spec, on update. The lifecycle ([`SystemState`]) changes only through
//! transitions checked by [`check_transition`]. The registration number is issued by the
//! register ([`registration_number`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classifier::{LegalActDraft, LegalActKind};
use crate::error::{Error, FieldViolation, Violations};
use crate::filter::{CompareOp, Value};
use crate::input::Choice;
use crate::organization::OrganizationId;
use crate::query::{self, Equality, Predicate};
use crate::resource_id::{check_resource_id, resource_id};
use crate::revision::{Revisioned, SoftDeleted};
use crate::text::{self, Language, LocalizedText, fold};
use crate::time::Timestamp;
use crate::update_mask::UpdateMask;

/// The collection part of system names.
pub const COLLECTION: &str = "systems";

resource_id!(
    /// A system's id, the last segment of `systems/{system}` (AIP-122 rules).
    SystemId,
    check = check_resource_id,
    collection = COLLECTION,
    segment = "system",
    noun = "a" "system"
);

/// The lifecycle state of a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SystemState {
    /// Decided on.
    Planned,
    /// Being built.
    InDevelopment,
    /// In trial operation.
    Pilot,
    /// In operation.
    InOperation,
    /// Operation suspended.
    Suspended,
    /// Taken out of operation for good.
    Decommissioned,
}

impl SystemState {
    /// Every state.
    pub const ALL: [SystemState; 6] = [
        SystemState::Planned,
        SystemState::InDevelopment,
        SystemState::Pilot,
        SystemState::InOperation,
        SystemState::Suspended,
        SystemState::Decommissioned,
    ];

    /// The state's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemState::Planned => "PLANNED",
            SystemState::InDevelopment => "IN_DEVELOPMENT",
            SystemState::Pilot => "PILOT",
            SystemState::InOperation => "IN_OPERATION",
            SystemState::Suspended => "SUSPENDED",
            SystemState::Decommissioned => "DECOMMISSIONED",
        }
    }

    /// The states a system may move to from this one.
    pub fn allowed_next(self) -> &'static [SystemState] {
        use SystemState as S;
        match self {
            S::Planned => &[S::InDevelopment, S::Decommissioned],
            S::InDevelopment => &[S::Pilot, S::InOperation, S::Decommissioned],
            S::Pilot => &[S::InOperation, S::InDevelopment, S::Decommissioned],
            S::InOperation => &[S::Suspended, S::Decommissioned],
            S::Suspended => &[S::InOperation, S::Decommissioned],
            S::Decommissioned => &[],
        }
    }

    /// Whether systems in this state count as live consumers of other systems' services.
    pub fn is_live(self) -> bool {
        self != SystemState::Decommissioned
    }
}

crate::api_enum!(SystemState, "STATE_");

/// `Ok` when the lifecycle allows `from` → `to`; otherwise FAILED_PRECONDITION naming the
/// allowed next states.
pub fn check_transition(resource: &str, from: SystemState, to: SystemState) -> Result<(), Error> {
    if from.allowed_next().contains(&to) {
        Ok(())
    } else {
        Err(Error::IllegalTransition {
            resource: resource.to_string(),
            from: from.as_str().into(),
            to: to.as_str().into(),
            allowed: from
                .allowed_next()
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        })
    }
}

/// The registration number of the `sequence`-th system registered in `year`:
/// `IS-{year}-{sequence:06}`.
pub fn registration_number(year: i32, sequence: i64) -> String {
    format!("IS-{year}-{sequence:06}")
}

/// A normative act a system is based on: the register's one [`LegalActDraft`] rule applies to
/// it (kind required, number optional, date, title, URL).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LegalAct {
    /// Kind, as the request gave it (validation refuses an unset or unknown one).
    #[serde(alias = "type", with = "stored_kind")]
    pub kind: Choice<LegalActKind>,
    /// Number.
    pub number: String,
    /// Date, `YYYY-MM-DD`.
    pub date: String,
    /// Title.
    pub title: String,
    /// Link.
    pub url: String,
}

impl LegalAct {
    /// The act as the shared validation rule reads it.
    fn draft(&self) -> LegalActDraft {
        LegalActDraft {
            kind: self.kind,
            number: self.number.clone(),
            date: self.date.clone(),
            title: self.title.clone(),
            url: self.url.clone(),
        }
    }
}

/// Stored kinds are short names (`LAW`); revisions written before kinds were an enumeration
/// hold free text, which reads as `OTHER` rather than failing the whole record.
mod stored_kind {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::classifier::LegalActKind;
    use crate::input::{ApiEnum, Choice};

    pub fn serialize<S: Serializer>(kind: &Choice<LegalActKind>, s: S) -> Result<S::Ok, S::Error> {
        match kind {
            Choice::Known(k) => s.serialize_str(k.as_str()),
            // Never stored: validation refuses both.
            Choice::Unset | Choice::Unknown(_) => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Choice<LegalActKind>, D::Error> {
        let text = String::deserialize(d)?;
        Ok(if text.is_empty() {
            Choice::Unset
        } else {
            Choice::Known(LegalActKind::from_name(&text).unwrap_or(LegalActKind::Other))
        })
    }
}

/// Security level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecurityLevel {
    /// Not assessed.
    #[default]
    Unspecified,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// Security profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Security {
    /// Confidentiality.
    pub confidentiality: SecurityLevel,
    /// Integrity.
    pub integrity: SecurityLevel,
    /// Availability.
    pub availability: SecurityLevel,
    /// Processes personal data.
    pub processes_personal_data: bool,
    /// Data categories.
    pub data_categories: Vec<String>,
}

/// Kind of hosting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HostingKind {
    /// Not stated.
    #[default]
    Unspecified,
    /// State data centre.
    GovernmentDataCenter,
    /// Commercial data centre.
    CommercialDataCenter,
    /// Cloud.
    Cloud,
    /// Own premises.
    OnPremises,
    /// Other.
    Other,
}

/// Hosting.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Hosting {
    /// Kind.
    pub kind: HostingKind,
    /// Provider.
    pub provider: String,
    /// Location.
    pub location: String,
}

/// Contacts (empty strings: not set).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SystemContacts {
    /// E-mail.
    pub email: String,
    /// Phone.
    pub phone: String,
    /// Web site.
    pub website: String,
}

/// Service protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Protocol {
    /// Not stated (refused).
    #[default]
    Unspecified,
    /// gRPC.
    Grpc,
    /// REST.
    Rest,
    /// SOAP.
    Soap,
    /// Other.
    Other,
}

/// A provided service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProvidedService {
    /// Name, unique within the system.
    pub name: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Endpoint.
    pub endpoint: String,
    /// Description.
    pub description: String,
    /// API specification reference.
    pub api_specification: String,
}

/// A consumed service of another system.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Dependency {
    /// `systems/{system}` of the provider.
    pub system: String,
    /// Its service's name.
    pub service: String,
    /// Why.
    pub purpose: String,
}

/// An information resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InformationResource {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// The mutable fields of a system. The same type carries a request (to be checked with
/// [`validate_spec`]) and a stored record (checked once), and is stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SystemSpec {
    /// Acronym, unique regardless of case.
    pub short_name: String,
    /// Names by language tag.
    pub display_name: BTreeMap<String, String>,
    /// Descriptions by language tag.
    pub description: BTreeMap<String, String>,
    /// Purpose.
    pub purpose: String,
    /// Owner, `organizations/{o}`.
    pub owner: String,
    /// Operator, `organizations/{o}` or empty.
    pub operator: String,
    /// Legal basis.
    pub legal_basis: Vec<LegalAct>,
    /// Security profile.
    pub security: Security,
    /// Hosting.
    pub hosting: Hosting,
    /// Contacts.
    pub contacts: SystemContacts,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Provided services.
    pub provided_services: Vec<ProvidedService>,
    /// Consumed services.
    pub dependencies: Vec<Dependency>,
    /// Information resources.
    pub information_resources: Vec<InformationResource>,
}

/// A system as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformationSystem {
    /// Id.
    pub id: SystemId,
    /// Mutable fields.
    pub spec: SystemSpec,
    /// Lifecycle state.
    pub state: SystemState,
    /// Registration number.
    pub registration_number: String,
    /// Registered.
    pub create_time: Timestamp,
    /// Last changed.
    pub update_time: Timestamp,
    /// Soft-deleted.
    pub delete_time: Option<Timestamp>,
    /// Revision number (1 = registration).
    pub revision: i64,
}

impl Revisioned for InformationSystem {
    fn resource_name(&self) -> String {
        self.id.name()
    }
    fn revision(&self) -> i64 {
        self.revision
    }
}

impl SoftDeleted for InformationSystem {
    fn delete_time(&self) -> Option<Timestamp> {
        self.delete_time
    }
}

impl InformationSystem {
    /// The owner organisation.
    pub fn owner(&self) -> OrganizationId {
        OrganizationId::from_trusted(
            self.spec
                .owner
                .strip_prefix("organizations/")
                .unwrap_or(&self.spec.owner)
                .to_string(),
        )
    }

    /// The record as `(field, value)` pairs for the audit trail and revision change lists:
    /// each top-level field as compact JSON, plus state and deletion.
    pub fn audit_fields(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = spec_fields(&self.spec);
        out.push(("state", self.state.as_str().to_string()));
        out.push((
            "delete_time",
            self.delete_time
                .map(|t| t.micros().to_string())
                .unwrap_or_default(),
        ));
        out
    }

    /// Folded search text: short name and every full name.
    pub fn search_text(&self) -> String {
        let mut parts = vec![fold(&self.spec.short_name)];
        parts.extend(self.spec.display_name.values().map(|v| fold(v)));
        parts.join("\n")
    }
}

/// The top-level mutable fields, in API order.
pub const SPEC_FIELDS: [&str; 14] = [
    "short_name",
    "display_name",
    "description",
    "purpose",
    "owner",
    "operator",
    "legal_basis",
    "security",
    "hosting",
    "contacts",
    "labels",
    "provided_services",
    "dependencies",
    "information_resources",
];

fn spec_fields(spec: &SystemSpec) -> Vec<(&'static str, String)> {
    let value = serde_json::to_value(spec).unwrap_or_default();
    SPEC_FIELDS
        .iter()
        .map(|f| {
            let v = value.get(*f).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            (*f, v.unwrap_or_default())
        })
        .collect()
}

/// A field of a system an update mask can name. The singular sub-messages (`security`,
/// `hosting`, `contacts`) are masked field by field; lists and maps are replaced whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SystemField {
    /// `short_name`
    ShortName,
    /// `display_name`
    DisplayName,
    /// `description`
    Description,
    /// `purpose`
    Purpose,
    /// `owner`
    Owner,
    /// `operator`
    Operator,
    /// `legal_basis`
    LegalBasis,
    /// `security.confidentiality`
    SecurityConfidentiality,
    /// `security.integrity`
    SecurityIntegrity,
    /// `security.availability`
    SecurityAvailability,
    /// `security.processes_personal_data`
    SecurityProcessesPersonalData,
    /// `security.data_categories`
    SecurityDataCategories,
    /// `hosting.kind`
    HostingKind,
    /// `hosting.provider`
    HostingProvider,
    /// `hosting.location`
    HostingLocation,
    /// `contacts.email`
    ContactsEmail,
    /// `contacts.phone`
    ContactsPhone,
    /// `contacts.website`
    ContactsWebsite,
    /// `labels`
    Labels,
    /// `provided_services`
    ProvidedServices,
    /// `dependencies`
    Dependencies,
    /// `information_resources`
    InformationResources,
}

/// The update mask of `InformationSystem`: every top-level mutable field, and the fields of
/// `security`, `hosting` and `contacts` (the message's path stands for all of its fields).
pub const UPDATE_MASK: UpdateMask<'static, SystemField> = {
    use SystemField as F;
    UpdateMask {
        resource: "InformationSystem",
        paths: &[
            ("short_name", &[F::ShortName]),
            ("display_name", &[F::DisplayName]),
            ("description", &[F::Description]),
            ("purpose", &[F::Purpose]),
            ("owner", &[F::Owner]),
            ("operator", &[F::Operator]),
            ("legal_basis", &[F::LegalBasis]),
            (
                "security",
                &[
                    F::SecurityConfidentiality,
                    F::SecurityIntegrity,
                    F::SecurityAvailability,
                    F::SecurityProcessesPersonalData,
                    F::SecurityDataCategories,
                ],
            ),
            ("security.confidentiality", &[F::SecurityConfidentiality]),
            ("security.integrity", &[F::SecurityIntegrity]),
            ("security.availability", &[F::SecurityAvailability]),
            (
                "security.processes_personal_data",
                &[F::SecurityProcessesPersonalData],
            ),
            ("security.data_categories", &[F::SecurityDataCategories]),
            (
                "hosting",
                &[F::HostingKind, F::HostingProvider, F::HostingLocation],
            ),
            ("hosting.kind", &[F::HostingKind]),
            ("hosting.provider", &[F::HostingProvider]),
            ("hosting.location", &[F::HostingLocation]),
            (
                "contacts",
                &[F::ContactsEmail, F::ContactsPhone, F::ContactsWebsite],
            ),
            ("contacts.email", &[F::ContactsEmail]),
            ("contacts.phone", &[F::ContactsPhone]),
            ("contacts.website", &[F::ContactsWebsite]),
            ("labels", &[F::Labels]),
            ("provided_services", &[F::ProvidedServices]),
            ("dependencies", &[F::Dependencies]),
            ("information_resources", &[F::InformationResources]),
        ],
        output_only: &[
            "name",
            "state",
            "registration_number",
            "create_time",
            "update_time",
            "delete_time",
            "etag",
            "revision",
        ],
    }
};

/// The fields an UpdateSystem changes (see [`UpdateMask::resolve`]): without paths, those
/// `request` sets (a value other than the default).
pub fn resolve_update_mask(
    paths: &[String],
    request: &SystemSpec,
) -> Result<Vec<SystemField>, Error> {
    use SystemField as F;
    let (sec, host, c) = (&request.security, &request.hosting, &request.contacts);
    UPDATE_MASK.resolve(paths, |f| match f {
        F::ShortName => !request.short_name.is_empty(),
        F::DisplayName => !request.display_name.is_empty(),
        F::Description => !request.description.is_empty(),
        F::Purpose => !request.purpose.is_empty(),
        F::Owner => !request.owner.is_empty(),
        F::Operator => !request.operator.is_empty(),
        F::LegalBasis => !request.legal_basis.is_empty(),
        F::SecurityConfidentiality => sec.confidentiality != SecurityLevel::Unspecified,
        F::SecurityIntegrity => sec.integrity != SecurityLevel::Unspecified,
        F::SecurityAvailability => sec.availability != SecurityLevel::Unspecified,
        F::SecurityProcessesPersonalData => sec.processes_personal_data,
        F::SecurityDataCategories => !sec.data_categories.is_empty(),
        F::HostingKind => host.kind != HostingKind::Unspecified,
        F::HostingProvider => !host.provider.is_empty(),
        F::HostingLocation => !host.location.is_empty(),
        F::ContactsEmail => !c.email.is_empty(),
        F::ContactsPhone => !c.phone.is_empty(),
        F::ContactsWebsite => !c.website.is_empty(),
        F::Labels => !request.labels.is_empty(),
        F::ProvidedServices => !request.provided_services.is_empty(),
        F::Dependencies => !request.dependencies.is_empty(),
        F::InformationResources => !request.information_resources.is_empty(),
    })
}

/// `current` with `fields` taken from `request`.
pub fn merge(current: &SystemSpec, request: &SystemSpec, fields: &[SystemField]) -> SystemSpec {
    use SystemField as F;
    let mut out = current.clone();
    for f in fields {
        match f {
            F::ShortName => out.short_name = request.short_name.clone(),
            F::DisplayName => out.display_name = request.display_name.clone(),
            F::Description => out.description = request.description.clone(),
            F::Purpose => out.purpose = request.purpose.clone(),
            F::Owner => out.owner = request.owner.clone(),
            F::Operator => out.operator = request.operator.clone(),
            F::LegalBasis => out.legal_basis = request.legal_basis.clone(),
            F::SecurityConfidentiality => {
                out.security.confidentiality = request.security.confidentiality
            }
            F::SecurityIntegrity => out.security.integrity = request.security.integrity,
            F::SecurityAvailability => out.security.availability = request.security.availability,
            F::SecurityProcessesPersonalData => {
                out.security.processes_personal_data = request.security.processes_personal_data
            }
            F::SecurityDataCategories => {
                out.security.data_categories = request.security.data_categories.clone()
            }
            F::HostingKind => out.hosting.kind = request.hosting.kind,
            F::HostingProvider => out.hosting.provider = request.hosting.provider.clone(),
            F::HostingLocation => out.hosting.location = request.hosting.location.clone(),
            F::ContactsEmail => out.contacts.email = request.contacts.email.clone(),
            F::ContactsPhone => out.contacts.phone = request.contacts.phone.clone(),
            F::ContactsWebsite => out.contacts.website = request.contacts.website.clone(),
            F::Labels => out.labels = request.labels.clone(),
            F::ProvidedServices => out.provided_services = request.provided_services.clone(),
            F::Dependencies => out.dependencies = request.dependencies.clone(),
            F::InformationResources => {
                out.information_resources = request.information_resources.clone()
            }
        }
    }
    out
}

/// The names of the top-level fields that differ between two specs.
pub fn changed_fields(old: Option<&SystemSpec>, new: &SystemSpec) -> Vec<String> {
    // A first revision is compared with an empty spec: it names the fields it set.
    let empty = SystemSpec::default();
    spec_fields(old.unwrap_or(&empty))
        .iter()
        .zip(spec_fields(new).iter())
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, _)| a.0.to_string())
        .collect()
}

fn check_len(v: &mut Violations, field: String, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min {
        v.add(
            field,
            if min == 1 {
                "is required".to_string()
            } else {
                format!("must be at least {min} characters")
            },
        );
    } else if n > max {
        v.add(field, format!("must be at most {max} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        v.add(field, "must not contain control characters");
    }
}

fn check_url(v: &mut Violations, field: String, url: &str) {
    if !url.is_empty()
        && (url.len() > 2048
            || !(url.starts_with("https://") || url.starts_with("http://"))
            || url.chars().any(char::is_whitespace))
    {
        v.add(
            field,
            "must be an absolute http:// or https:// URL of at most 2048 characters",
        );
    }
}

fn is_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 63
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_service_name(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 63
        && k.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// Checks every field of a system (its own id is `id`, to refuse a dependency on itself),
/// recording problems under `prefix` (e.g. `system`). References to other resources (owner,
/// dependencies) are checked against the database by the store.
pub fn validate_spec(spec: &SystemSpec, id: &SystemId, prefix: &str, v: &mut Violations) {
    let f = |name: &str| format!("{prefix}.{name}");
    let short = spec.short_name.trim();
    if short != spec.short_name {
        v.add(f("short_name"), "must not start or end with white space");
    } else {
        check_len(v, f("short_name"), short, 1, 64);
    }
    LocalizedText::validate(&spec.display_name, &f("display_name"), v);
    for (tag, text) in &spec.description {
        let field = format!("{prefix}.description[{tag:?}]");
        if tag.parse::<Language>().is_err() {
            v.add(
                field,
                "unknown language tag; allowed: uz-Latn, uz-Cyrl, ru, en, kaa",
            );
        } else {
            check_len(v, field, text, 1, 5000);
        }
    }
    check_len(v, f("purpose"), &spec.purpose, 1, 2000);
    if let Err(e) = OrganizationId::from_name(&spec.owner, &f("owner")) {
        v.add(e.field, e.description);
    }
    if !spec.operator.is_empty()
        && let Err(e) = OrganizationId::from_name(&spec.operator, &f("operator"))
    {
        v.add(e.field, e.description);
    }
    if spec.legal_basis.len() > 100 {
        v.add(f("legal_basis"), "at most 100 acts");
    }
    for (i, act) in spec.legal_basis.iter().enumerate() {
        act.draft()
            .validate_into(&format!("{prefix}.legal_basis[{i}]"), v);
    }
    if spec.security.data_categories.len() > 32 {
        v.add(f("security.data_categories"), "at most 32 categories");
    }
    for (i, c) in spec.security.data_categories.iter().enumerate() {
        check_len(
            v,
            format!("{prefix}.security.data_categories[{i}]"),
            c,
            1,
            64,
        );
    }
    if spec.hosting.provider.chars().count() > 200 {
        v.add(f("hosting.provider"), "must be at most 200 characters");
    }
    if spec.hosting.location.chars().count() > 200 {
        v.add(f("hosting.location"), "must be at most 200 characters");
    }
    crate::contact::ContactsDraft {
        email: spec.contacts.email.clone(),
        phone: spec.contacts.phone.clone(),
        website: spec.contacts.website.clone(),
    }
    .validate(&f("contacts"), v);
    if spec.labels.len() > 64 {
        v.add(f("labels"), "at most 64 labels");
    }
    for (key, value) in &spec.labels {
        if !is_label_key(key) {
            v.add(
                format!("{prefix}.labels[{key:?}]"),
                "keys are 1 to 63 lowercase letters, digits, _ and -",
            );
        } else if value.chars().count() > 63 || value.chars().any(char::is_control) {
            v.add(
                format!("{prefix}.labels[{key:?}]"),
                "values are at most 63 characters",
            );
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in spec.provided_services.iter().enumerate() {
        let p = |n: &str| format!("{prefix}.provided_services[{i}].{n}");
        if !is_service_name(&s.name) {
            v.add(
                p("name"),
                "must be 1 to 63 lowercase letters, digits, '.', '_' and '-'",
            );
        } else if !names.insert(s.name.as_str()) {
            v.add(p("name"), format!("{:?} is provided twice", s.name));
        }
        if s.protocol == Protocol::Unspecified {
            v.add(p("protocol"), "is required");
        }
        if s.endpoint.chars().count() > 2048 {
            v.add(p("endpoint"), "must be at most 2048 characters");
        }
        if s.description.chars().count() > 2000 {
            v.add(p("description"), "must be at most 2000 characters");
        }
        check_url(v, p("api_specification"), &s.api_specification);
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, d) in spec.dependencies.iter().enumerate() {
        let p = |n: &str| format!("{prefix}.dependencies[{i}].{n}");
        match SystemId::from_name(&d.system, &p("system")) {
            Ok(target) if &target == id => v.add(p("system"), "a system cannot depend on itself"),
            Ok(_) => {}
            Err(e) => v.add(e.field, e.description),
        }
        if d.service.is_empty() {
            v.add(p("service"), "is required");
        }
        if d.purpose.chars().count() > 1000 {
            v.add(p("purpose"), "must be at most 1000 characters");
        }
        if !seen.insert((d.system.as_str(), d.service.as_str())) {
            v.add(p("service"), "this service is listed twice");
        }
    }
    for (i, r) in spec.information_resources.iter().enumerate() {
        check_len(
            v,
            format!("{prefix}.information_resources[{i}].name"),
            &r.name,
            1,
            300,
        );
        if r.description.chars().count() > 2000 {
            v.add(
                format!("{prefix}.information_resources[{i}].description"),
                "must be at most 2000 characters",
            );
        }
    }
    let _ = text::MAX_NAME_CHARS;
}

/// One condition of a ListSystems filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemCondition {
    /// `owner = "organizations/x"`
    Owner(Equality, OrganizationId),
    /// `operator = "organizations/x"` (or `""` for none)
    Operator(Equality, Option<OrganizationId>),
    /// `state = IN_OPERATION`
    State(Equality, SystemState),
    /// `personal_data = true`
    PersonalData(bool),
    /// `labels.env = "prod"`
    Label(Equality, String, String),
    /// `labels:env`
    HasLabel(String),
    /// `short_name = "E-SOLIQ"` (case-insensitive)
    ShortName(Equality, String),
    /// `display_name:"text"` (folded)
    NameContains(String),
    /// A bare `"text"`: short or full names contain it (folded).
    Text(String),
}

/// Parses and checks a ListSystems filter; a bare `"text"` searches the short and full names.
pub fn compile_filter(raw: &str) -> Result<Option<Predicate<SystemCondition>>, FieldViolation> {
    query::compile_with_search(raw, &condition, &|t| SystemCondition::Text(fold(t)))
}

fn condition(field: &str, op: CompareOp, value: &Value) -> Result<SystemCondition, String> {
    let text = query::value_text(value);
    let org = |t: &str| OrganizationId::from_name(t, "filter").map_err(|v| v.description);
    if let Some(key) = field.strip_prefix("labels.") {
        return Ok(SystemCondition::Label(
            query::equality(field, op)?,
            key.to_string(),
            text.to_string(),
        ));
    }
    match field {
        "owner" => Ok(SystemCondition::Owner(
            query::equality(field, op)?,
            org(text)?,
        )),
        "operator" => Ok(SystemCondition::Operator(
            query::equality(field, op)?,
            if text.is_empty() {
                None
            } else {
                Some(org(text)?)
            },
        )),
        "state" => Ok(SystemCondition::State(
            query::equality(field, op)?,
            text.parse().map_err(|()| {
                format!(
                    "{text:?} is not a state; use one of {}",
                    SystemState::ALL.map(SystemState::as_str).join(", ")
                )
            })?,
        )),
        "personal_data" => {
            let b = match text {
                "true" => true,
                "false" => false,
                _ => return Err("personal_data compares with true or false".into()),
            };
            match query::equality(field, op)? {
                Equality::Eq => Ok(SystemCondition::PersonalData(b)),
                Equality::Ne => Ok(SystemCondition::PersonalData(!b)),
            }
        }
        "labels" if op == CompareOp::Has => Ok(SystemCondition::HasLabel(text.to_string())),
        "short_name" => Ok(SystemCondition::ShortName(
            query::equality(field, op)?,
            fold(text),
        )),
        "display_name" if op == CompareOp::Has && !text.is_empty() => {
            Ok(SystemCondition::NameContains(fold(text)))
        }
        "display_name" => Err("display_name supports only : with a non-empty text".into()),
        other => Err(format!(
            "cannot filter on {other:?}; fields: owner, operator, state, personal_data, labels.KEY, labels:KEY, short_name, display_name, or a quoted search text"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SystemSpec {
        SystemSpec {
            short_name: "E-SOLIQ".into(),
            display_name: [("uz-Latn".to_string(), "Elektron soliq".to_string())].into(),
            purpose: "Tax returns".into(),
            owner: "organizations/soliq".into(),
            provided_services: vec![ProvidedService {
                name: "taxpayer-lookup".into(),
                protocol: Protocol::Grpc,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn problems(s: &SystemSpec) -> Vec<String> {
        let mut v = Violations::new();
        validate_spec(
            s,
            &SystemId::from_trusted("e-soliq".into()),
            "system",
            &mut v,
        );
        match v.into_result() {
            Ok(()) => vec![],
            Err(Error::InvalidArgument(list)) => list.into_iter().map(|f| f.field).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_valid_spec_has_no_problems() {
        assert!(problems(&spec()).is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut s = spec();
        s.short_name = String::new();
        s.purpose = String::new();
        s.owner = "stat".into();
        s.labels = [("Env".to_string(), "x".to_string())].into();
        s.legal_basis = vec![LegalAct {
            kind: Choice::Known(LegalActKind::Law),
            date: "2026-02-30".into(),
            title: "t".into(),
            ..Default::default()
        }];
        s.provided_services.push(ProvidedService {
            name: "taxpayer-lookup".into(),
            protocol: Protocol::Unspecified,
            ..Default::default()
        });
        s.dependencies = vec![Dependency {
            system: "systems/e-soliq".into(),
            service: "x".into(),
            purpose: String::new(),
        }];
        assert_eq!(
            problems(&s),
            [
                "system.short_name",
                "system.purpose",
                "system.owner",
                "system.legal_basis[0].date",
                "system.labels[\"Env\"]",
                "system.provided_services[1].name",
                "system.provided_services[1].protocol",
                "system.dependencies[0].system",
            ]
        );
    }

    #[test]
    fn lifecycle_allows_only_its_transitions() {
        use SystemState as S;
        assert!(check_transition("systems/x", S::Planned, S::InDevelopment).is_ok());
        assert!(check_transition("systems/x", S::InOperation, S::Suspended).is_ok());
        assert!(check_transition("systems/x", S::Suspended, S::InOperation).is_ok());
        let err = check_transition("systems/x", S::Planned, S::InOperation).unwrap_err();
        assert_eq!(err.reason(), crate::error::Reason::IllegalStateTransition);
        assert_eq!(
            err.metadata()["allowed_states"],
            "IN_DEVELOPMENT,DECOMMISSIONED"
        );
        for s in S::ALL {
            assert!(check_transition("systems/x", S::Decommissioned, s).is_err());
            assert!(!s.allowed_next().contains(&s), "{s:?} to itself");
        }
    }

    #[test]
    fn registration_numbers_are_zero_padded() {
        assert_eq!(registration_number(2026, 123), "IS-2026-000123");
        assert_eq!(registration_number(2027, 1_234_567), "IS-2027-1234567");
    }

    #[test]
    fn update_masks_resolve_through_the_one_update_mask() {
        use SystemField as F;
        let request = SystemSpec {
            purpose: "new".into(),
            security: Security {
                integrity: SecurityLevel::High,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            resolve_update_mask(&[], &request).unwrap(),
            [F::Purpose, F::SecurityIntegrity]
        );
        assert_eq!(
            resolve_update_mask(&["*".into()], &request).unwrap().len(),
            22
        );
        assert_eq!(
            resolve_update_mask(&["hosting".into(), "contacts.email".into()], &request).unwrap(),
            [
                F::HostingKind,
                F::HostingProvider,
                F::HostingLocation,
                F::ContactsEmail
            ]
        );
        for (path, description) in [
            ("state", "\"state\" is output only and cannot be updated"),
            (
                "revision",
                "\"revision\" is output only and cannot be updated",
            ),
            (
                "registration_number",
                "\"registration_number\" is output only and cannot be updated",
            ),
            (
                "security.colour",
                "\"security.colour\" is not a field of InformationSystem",
            ),
            (
                "labels.env",
                "\"labels.env\" is not a field of InformationSystem",
            ),
        ] {
            let Err(Error::InvalidArgument(v)) = resolve_update_mask(&[path.into()], &request)
            else {
                panic!("{path} accepted");
            };
            assert_eq!(
                v,
                [FieldViolation::new("update_mask.paths[0]", description)],
                "{path}"
            );
        }
        let mut stored = spec();
        stored.security.confidentiality = SecurityLevel::Medium;
        let merged = merge(&stored, &request, &[F::Purpose, F::SecurityIntegrity]);
        assert_eq!(merged.purpose, "new");
        assert_eq!(merged.short_name, "E-SOLIQ");
        assert_eq!(merged.security.integrity, SecurityLevel::High);
        assert_eq!(merged.security.confidentiality, SecurityLevel::Medium);
        assert_eq!(
            changed_fields(Some(&stored), &merged),
            ["purpose", "security"]
        );
    }

    #[test]
    fn filters_compile_including_text_search_and_labels() {
        let p = compile_filter("state = IN_OPERATION AND labels.env = \"prod\" AND \"SOLIQ\"")
            .unwrap()
            .unwrap();
        let Predicate::And(left, right) = p else {
            panic!()
        };
        assert_eq!(
            *right,
            Predicate::Leaf(SystemCondition::Text("soliq".into()))
        );
        let Predicate::And(a, b) = *left else {
            panic!()
        };
        assert_eq!(
            *a,
            Predicate::Leaf(SystemCondition::State(
                Equality::Eq,
                SystemState::InOperation
            ))
        );
        assert_eq!(
            *b,
            Predicate::Leaf(SystemCondition::Label(
                Equality::Eq,
                "env".into(),
                "prod".into()
            ))
        );
        assert_eq!(
            compile_filter("personal_data != true").unwrap().unwrap(),
            Predicate::Leaf(SystemCondition::PersonalData(false))
        );
        for bad in [
            "state = GONE",
            "owner = \"x\"",
            "colour = 1",
            "personal_data = maybe",
        ] {
            assert!(compile_filter(bad).is_err(), "{bad}");
        }
    }
}
