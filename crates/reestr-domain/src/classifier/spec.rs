//! The uniform requirements every classifier declares: its owner, names, legal basis, the
//! shape of its codes, its hierarchy, the languages its item names must be given in, and the
//! schema of its items' attributes.
//!
//! A request carries a [`ClassifierDraft`] of raw values; [`ClassifierDraft::validate_into`]
//! checks it as a whole and yields a [`ClassifierSpec`]. The same check serves create and, after
//! an update mask has merged the request into the stored values, update.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::contact::ContactsDraft;
use crate::error::{Error, Violations};
use crate::input::Choice;
use crate::organization::OrganizationId;
use crate::text::{Language, LocalizedText};
use crate::update_mask::UpdateMask;

use super::name::ClassifierId;
use super::pattern::Pattern;
use crate::time::Date;

/// Most normative acts one classifier may cite.
pub const MAX_LEGAL_ACTS: usize = 50;
/// Most attributes one schema may define.
pub const MAX_ATTRIBUTES: usize = 100;
/// Deepest hierarchy a classifier may declare.
pub const MAX_DEPTH: u32 = 16;
/// Longest attribute key, in characters.
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 64;
/// Longest string attribute value, in characters; a schema's `max_length` may only lower it.
pub const MAX_STRING_VALUE_CHARS: usize = 4000;
/// Longest number of a normative act, in characters.
pub const MAX_ACT_NUMBER_CHARS: usize = 64;
/// Longest title of a normative act, in characters.
pub const MAX_ACT_TITLE_CHARS: usize = 1000;

/// The kind of a normative act a classifier or an information system is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegalActKind {
    /// A law (Qonun).
    Law,
    /// A decree of the President (Farmon).
    PresidentialDecree,
    /// A resolution of the President (Qaror).
    PresidentialResolution,
    /// A resolution of the Cabinet of Ministers.
    CabinetResolution,
    /// An order or regulation of a ministry, committee or agency.
    DepartmentalAct,
    /// Any other act, e.g. an international standard.
    Other,
}

impl LegalActKind {
    /// Every kind.
    pub const ALL: [LegalActKind; 6] = [
        LegalActKind::Law,
        LegalActKind::PresidentialDecree,
        LegalActKind::PresidentialResolution,
        LegalActKind::CabinetResolution,
        LegalActKind::DepartmentalAct,
        LegalActKind::Other,
    ];

    /// The name used in the API and stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            LegalActKind::Law => "LAW",
            LegalActKind::PresidentialDecree => "PRESIDENTIAL_DECREE",
            LegalActKind::PresidentialResolution => "PRESIDENTIAL_RESOLUTION",
            LegalActKind::CabinetResolution => "CABINET_RESOLUTION",
            LegalActKind::DepartmentalAct => "DEPARTMENTAL_ACT",
            LegalActKind::Other => "OTHER",
        }
    }
}

crate::api_enum!(LegalActKind, "LEGAL_ACT_KIND_");

/// A normative act a classifier is kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalAct {
    /// Its kind.
    pub kind: LegalActKind,
    /// Its number as printed, e.g. `PQ-123` or `45`.
    pub number: String,
    /// The date it was adopted.
    pub date: Date,
    /// Its title.
    pub title: String,
    /// Where to read it (an http(s) URL, e.g. on lex.uz).
    pub url: Option<String>,
}

/// A normative act as a request carries it: empty strings mean "not set". The one validation
/// rule of legal acts, for classifiers and information systems alike.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegalActDraft {
    /// Kind.
    pub kind: Choice<LegalActKind>,
    /// Number.
    pub number: String,
    /// Date, `YYYY-MM-DD`.
    pub date: String,
    /// Title.
    pub title: String,
    /// URL or empty.
    pub url: String,
}

impl LegalActDraft {
    /// Checks every field, naming problems under `prefix` (e.g. `classifier.legal_basis[0]`).
    pub fn validate_into(&self, prefix: &str, v: &mut Violations) -> Option<LegalAct> {
        let before = v.len();
        let kind = choice(self.kind, &format!("{prefix}.kind"), "kind", v);
        if !self.number.is_empty()
            && let Err(problem) = check_text(&self.number, MAX_ACT_NUMBER_CHARS)
        {
            v.add(format!("{prefix}.number"), problem);
        }
        let date = match Date::parse(&self.date) {
            Ok(d) => Some(d),
            Err(_) if self.date.is_empty() => {
                v.add(format!("{prefix}.date"), "is required");
                None
            }
            Err(problem) => {
                v.add(format!("{prefix}.date"), problem);
                None
            }
        };
        if let Err(problem) = check_text(&self.title, MAX_ACT_TITLE_CHARS) {
            v.add(format!("{prefix}.title"), problem);
        }
        let url = if self.url.is_empty() {
            None
        } else {
            // The same rule as an organisation's web site, reported under this field.
            let mut probe = Violations::new();
            ContactsDraft {
                website: self.url.clone(),
                ..ContactsDraft::default()
            }
            .validate("", &mut probe);
            if !probe.is_empty() {
                v.add(
                    format!("{prefix}.url"),
                    "must be an absolute http:// or https:// URL with a host (at most 2048 characters)",
                );
            }
            Some(self.url.clone())
        };
        if v.len() != before {
            return None;
        }
        Some(LegalAct {
            kind: kind?,
            number: self.number.clone(),
            date: date?,
            title: self.title.clone(),
            url,
        })
    }
}

impl LegalAct {
    /// The draft this act came from.
    pub fn to_draft(&self) -> LegalActDraft {
        LegalActDraft {
            kind: Choice::Known(self.kind),
            number: self.number.clone(),
            date: self.date.to_string(),
            title: self.title.clone(),
            url: self.url.clone().unwrap_or_default(),
        }
    }
}

/// The type of an attribute's values, without the referenced classifier of `CODE_REF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttributeType {
    /// Text.
    String,
    /// A 64-bit signed integer.
    Integer,
    /// A decimal number, kept as written (see [`super::item::Decimal`]).
    Decimal,
    /// `true` or `false`.
    Boolean,
    /// A calendar date.
    Date,
    /// The code of an item of another (or the same) classifier.
    CodeRef,
}

impl AttributeType {
    /// Every type.
    pub const ALL: [AttributeType; 6] = [
        AttributeType::String,
        AttributeType::Integer,
        AttributeType::Decimal,
        AttributeType::Boolean,
        AttributeType::Date,
        AttributeType::CodeRef,
    ];

    /// The name used in the API and stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "STRING",
            AttributeType::Integer => "INTEGER",
            AttributeType::Decimal => "DECIMAL",
            AttributeType::Boolean => "BOOLEAN",
            AttributeType::Date => "DATE",
            AttributeType::CodeRef => "CODE_REF",
        }
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(AttributeType, "ATTRIBUTE_TYPE_");

/// The kind of an attribute: its type and, for `CODE_REF`, the classifier referred to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeKind {
    /// `STRING`.
    String,
    /// `INTEGER`.
    Integer,
    /// `DECIMAL`.
    Decimal,
    /// `BOOLEAN`.
    Boolean,
    /// `DATE`.
    Date,
    /// `CODE_REF`: values are codes that must exist in the latest published version of this
    /// classifier.
    CodeRef(ClassifierId),
}

impl AttributeKind {
    /// The type of the values.
    pub fn value_type(&self) -> AttributeType {
        match self {
            AttributeKind::String => AttributeType::String,
            AttributeKind::Integer => AttributeType::Integer,
            AttributeKind::Decimal => AttributeType::Decimal,
            AttributeKind::Boolean => AttributeType::Boolean,
            AttributeKind::Date => AttributeType::Date,
            AttributeKind::CodeRef(_) => AttributeType::CodeRef,
        }
    }
}

/// One attribute items of a classifier may or must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    /// Its key: lowercase snake case (see [`check_attribute_key`]).
    pub key: String,
    /// Its kind.
    pub kind: AttributeKind,
    /// Whether every item must carry it.
    pub required: bool,
    /// A pattern string values must match (`STRING` only).
    pub pattern: Option<Pattern>,
    /// The most characters a string value may have (`STRING` only).
    pub max_length: Option<u32>,
}

/// An attribute definition as a request carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributeDefDraft {
    /// Key.
    pub key: String,
    /// Type.
    pub kind: Choice<AttributeType>,
    /// For `CODE_REF`: the referenced classifier's name, `classifiers/{classifier}`; else empty.
    pub classifier: String,
    /// Required flag.
    pub required: bool,
    /// Pattern or empty (`STRING` only).
    pub pattern: String,
    /// Maximum length or 0 for none (`STRING` only).
    pub max_length: u32,
}

/// Checks an attribute key: 1 to 64 lowercase Latin letters, digits and underscores, starting
/// with a letter, not ending with an underscore, and without two underscores in a row
/// (`region_code`, `okpo2`).
pub fn check_attribute_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("is required");
    }
    if key.len() > MAX_ATTRIBUTE_KEY_CHARS {
        return Err("must be at most 64 characters");
    }
    let b = key.as_bytes();
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
    {
        return Err("may contain only lowercase Latin letters, digits and underscores");
    }
    if !b[0].is_ascii_lowercase() {
        return Err("must start with a lowercase Latin letter");
    }
    if b[b.len() - 1] == b'_' || key.contains("__") {
        return Err("must not end with an underscore or contain two in a row");
    }
    Ok(())
}

impl AttributeDefDraft {
    /// Checks the definition, naming problems under `prefix`
    /// (e.g. `classifier.attribute_schema[2]`).
    pub fn validate_into(&self, prefix: &str, v: &mut Violations) -> Option<AttributeDef> {
        let before = v.len();
        if let Err(problem) = check_attribute_key(&self.key) {
            v.add(format!("{prefix}.key"), problem);
        }
        let value_type = choice(self.kind, &format!("{prefix}.type"), "attribute type", v);
        if value_type.is_some_and(|t| t != AttributeType::CodeRef) && !self.classifier.is_empty() {
            v.add(
                format!("{prefix}.classifier"),
                "may be set only for CODE_REF attributes",
            );
        }
        let kind = match value_type {
            None => None,
            Some(AttributeType::String) => Some(AttributeKind::String),
            Some(AttributeType::Integer) => Some(AttributeKind::Integer),
            Some(AttributeType::Decimal) => Some(AttributeKind::Decimal),
            Some(AttributeType::Boolean) => Some(AttributeKind::Boolean),
            Some(AttributeType::Date) => Some(AttributeKind::Date),
            Some(AttributeType::CodeRef) => v
                .check(ClassifierId::from_name(
                    &self.classifier,
                    &format!("{prefix}.classifier"),
                ))
                .map(AttributeKind::CodeRef),
        };
        let is_string = value_type == Some(AttributeType::String);
        let pattern = if self.pattern.is_empty() {
            None
        } else if value_type.is_some() && !is_string {
            v.add(
                format!("{prefix}.pattern"),
                "may be set only for STRING attributes",
            );
            None
        } else {
            match Pattern::compile(&self.pattern) {
                Ok(p) => Some(p),
                Err(problem) => {
                    v.add(format!("{prefix}.pattern"), problem);
                    None
                }
            }
        };
        let max_length = match self.max_length {
            0 => None,
            _ if value_type.is_some() && !is_string => {
                v.add(
                    format!("{prefix}.max_length"),
                    "may be set only for STRING attributes",
                );
                None
            }
            n if n as usize > MAX_STRING_VALUE_CHARS => {
                v.add(
                    format!("{prefix}.max_length"),
                    format!("must be at most {MAX_STRING_VALUE_CHARS}"),
                );
                None
            }
            n => Some(n),
        };
        if v.len() != before {
            return None;
        }
        Some(AttributeDef {
            key: self.key.clone(),
            kind: kind?,
            required: self.required,
            pattern,
            max_length,
        })
    }
}

impl AttributeDef {
    /// The draft this definition came from.
    pub fn to_draft(&self) -> AttributeDefDraft {
        AttributeDefDraft {
            key: self.key.clone(),
            kind: Choice::Known(self.kind.value_type()),
            classifier: match &self.kind {
                AttributeKind::CodeRef(c) => c.name(),
                _ => String::new(),
            },
            required: self.required,
            pattern: self
                .pattern
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            max_length: self.max_length.unwrap_or(0),
        }
    }
}

/// The validated requirements of a classifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifierSpec {
    /// The organisation that keeps the classifier; only its editors write it.
    pub owner: OrganizationId,
    /// Names by language.
    pub display_name: LocalizedText,
    /// Description by language.
    pub description: Option<LocalizedText>,
    /// The normative acts the classifier is kept under, in the order given.
    pub legal_basis: Vec<LegalAct>,
    /// The pattern every item code must match.
    pub code_pattern: Pattern,
    /// Whether items may have parents.
    pub hierarchical: bool,
    /// The deepest level an item may be at; top-level items are at level 1. Always 1 for a
    /// flat classifier.
    pub max_depth: u32,
    /// Languages every item must have a name in. Never empty.
    pub required_languages: BTreeSet<Language>,
    /// The attributes items may or must carry, keys unique, in the order given.
    pub attribute_schema: Vec<AttributeDef>,
}

impl ClassifierSpec {
    /// The definition of the attribute `key`, if the schema has one.
    pub fn attribute(&self, key: &str) -> Option<&AttributeDef> {
        self.attribute_schema.iter().find(|d| d.key == key)
    }

    /// The draft these fields came from, for merging an update into.
    pub fn to_draft(&self) -> ClassifierDraft {
        ClassifierDraft {
            owner: self.owner.name(),
            display_name: self.display_name.to_tag_map(),
            description: self
                .description
                .as_ref()
                .map(LocalizedText::to_tag_map)
                .unwrap_or_default(),
            legal_basis: self.legal_basis.iter().map(LegalAct::to_draft).collect(),
            code_pattern: self.code_pattern.as_str().to_string(),
            hierarchical: self.hierarchical,
            max_depth: if self.hierarchical { self.max_depth } else { 0 },
            required_languages: self
                .required_languages
                .iter()
                .map(|l| l.tag().to_string())
                .collect(),
            attribute_schema: self
                .attribute_schema
                .iter()
                .map(AttributeDef::to_draft)
                .collect(),
        }
    }
}

/// The mutable fields of a classifier as a request carries them, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassifierDraft {
    /// Owner organisation's name, `organizations/{organization}`.
    pub owner: String,
    /// Names by language tag.
    pub display_name: BTreeMap<String, String>,
    /// Description by language tag; empty for none.
    pub description: BTreeMap<String, String>,
    /// Normative acts.
    pub legal_basis: Vec<LegalActDraft>,
    /// Code pattern.
    pub code_pattern: String,
    /// Hierarchical flag.
    pub hierarchical: bool,
    /// Maximum depth: 1 to 16 for a hierarchical classifier; 0 or 1 for a flat one.
    pub max_depth: u32,
    /// Language tags item names are required in.
    pub required_languages: Vec<String>,
    /// Attribute definitions.
    pub attribute_schema: Vec<AttributeDefDraft>,
}

impl ClassifierDraft {
    /// Checks every field, naming problems under `prefix` (e.g. `classifier`), and returns the
    /// validated requirements or every violation found.
    pub fn validate(&self, prefix: &str) -> Result<ClassifierSpec, Error> {
        let mut v = Violations::new();
        let spec = self.validate_into(prefix, &mut v);
        v.into_result()?;
        spec.ok_or_else(|| {
            Error::Internal("validation produced neither value nor violation".into())
        })
    }

    /// Like [`ClassifierDraft::validate`], recording violations into `v` alongside those of
    /// the rest of the request. `Some` only when this draft is valid.
    pub fn validate_into(&self, prefix: &str, v: &mut Violations) -> Option<ClassifierSpec> {
        let before = v.len();
        let owner = v.check(OrganizationId::from_name(
            &self.owner,
            &format!("{prefix}.owner"),
        ));
        let display_name =
            LocalizedText::validate(&self.display_name, &format!("{prefix}.display_name"), v);
        let description = if self.description.is_empty() {
            None
        } else {
            LocalizedText::validate(&self.description, &format!("{prefix}.description"), v)
        };
        let legal_basis = self.validate_legal_basis(prefix, v);
        let code_pattern = match Pattern::compile(&self.code_pattern) {
            Ok(p) => Some(p),
            Err(problem) => {
                v.add(format!("{prefix}.code_pattern"), problem);
                None
            }
        };
        let max_depth = self.validate_max_depth(prefix, v);
        let required_languages = self.validate_languages(prefix, v);
        let attribute_schema = self.validate_schema(prefix, v);
        if v.len() != before {
            return None;
        }
        Some(ClassifierSpec {
            owner: owner?,
            display_name: display_name?,
            description,
            legal_basis,
            code_pattern: code_pattern?,
            hierarchical: self.hierarchical,
            max_depth: max_depth?,
            required_languages,
            attribute_schema,
        })
    }

    fn validate_legal_basis(&self, prefix: &str, v: &mut Violations) -> Vec<LegalAct> {
        if self.legal_basis.len() > MAX_LEGAL_ACTS {
            v.add(
                format!("{prefix}.legal_basis"),
                format!("must list at most {MAX_LEGAL_ACTS} acts"),
            );
            return Vec::new();
        }
        self.legal_basis
            .iter()
            .enumerate()
            .filter_map(|(i, act)| act.validate_into(&format!("{prefix}.legal_basis[{i}]"), v))
            .collect()
    }

    fn validate_max_depth(&self, prefix: &str, v: &mut Violations) -> Option<u32> {
        let field = format!("{prefix}.max_depth");
        match (self.hierarchical, self.max_depth) {
            (false, 0 | 1) => Some(1),
            (false, _) => {
                v.add(
                    field,
                    "must be 0 or 1 for a flat classifier (set hierarchical for more levels)",
                );
                None
            }
            (true, 0) => {
                v.add(field, "is required for a hierarchical classifier (1 to 16)");
                None
            }
            (true, d) if d > MAX_DEPTH => {
                v.add(field, format!("must be at most {MAX_DEPTH}"));
                None
            }
            (true, d) => Some(d),
        }
    }

    fn validate_languages(&self, prefix: &str, v: &mut Violations) -> BTreeSet<Language> {
        let mut out = BTreeSet::new();
        if self.required_languages.is_empty() {
            v.add(
                format!("{prefix}.required_languages"),
                "at least one language is required (uz-Latn, uz-Cyrl, ru, en, kaa)",
            );
        }
        for (i, tag) in self.required_languages.iter().enumerate() {
            let field = format!("{prefix}.required_languages[{i}]");
            match tag.parse::<Language>() {
                Ok(lang) => {
                    if !out.insert(lang) {
                        v.add(field, format!("{tag} is listed twice"));
                    }
                }
                Err(()) => v.add(
                    field,
                    format!(
                        "{tag:?} is not a language tag; allowed: uz-Latn, uz-Cyrl, ru, en, kaa"
                    ),
                ),
            }
        }
        out
    }

    fn validate_schema(&self, prefix: &str, v: &mut Violations) -> Vec<AttributeDef> {
        if self.attribute_schema.len() > MAX_ATTRIBUTES {
            v.add(
                format!("{prefix}.attribute_schema"),
                format!("must define at most {MAX_ATTRIBUTES} attributes"),
            );
            return Vec::new();
        }
        let mut seen = BTreeMap::new();
        let mut out = Vec::with_capacity(self.attribute_schema.len());
        for (i, def) in self.attribute_schema.iter().enumerate() {
            let field = format!("{prefix}.attribute_schema[{i}]");
            match seen.get(def.key.as_str()) {
                Some(first) if !def.key.is_empty() => v.add(
                    format!("{field}.key"),
                    format!(
                        "{:?} is already defined by attribute_schema[{first}]",
                        def.key
                    ),
                ),
                Some(_) => {}
                None => {
                    seen.insert(def.key.as_str(), i);
                }
            }
            if let Some(d) = def.validate_into(&field, v) {
                out.push(d);
            }
        }
        out
    }
}

/// A field of a classifier an update mask can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClassifierField {
    /// `owner`
    Owner,
    /// `display_name`
    DisplayName,
    /// `description`
    Description,
    /// `legal_basis`
    LegalBasis,
    /// `code_pattern`
    CodePattern,
    /// `hierarchical`
    Hierarchical,
    /// `max_depth`
    MaxDepth,
    /// `required_languages`
    RequiredLanguages,
    /// `attribute_schema`
    AttributeSchema,
}

/// The update mask of `Classifier`.
pub const UPDATE_MASK: UpdateMask<'static, ClassifierField> = {
    use ClassifierField as F;
    UpdateMask {
        resource: "Classifier",
        paths: &[
            ("owner", &[F::Owner]),
            ("display_name", &[F::DisplayName]),
            ("description", &[F::Description]),
            ("legal_basis", &[F::LegalBasis]),
            ("code_pattern", &[F::CodePattern]),
            ("hierarchical", &[F::Hierarchical]),
            ("max_depth", &[F::MaxDepth]),
            ("required_languages", &[F::RequiredLanguages]),
            ("attribute_schema", &[F::AttributeSchema]),
        ],
        output_only: &[
            "name",
            "state",
            "latest_version",
            "draft_version",
            "create_time",
            "update_time",
            "delete_time",
            "etag",
        ],
    }
};

/// The fields an UpdateClassifier changes (see [`UpdateMask::resolve`]): without paths, those
/// `request` sets.
pub fn resolve_update_mask(
    paths: &[String],
    request: &ClassifierDraft,
) -> Result<Vec<ClassifierField>, Error> {
    use ClassifierField as F;
    UPDATE_MASK.resolve(paths, |f| match f {
        F::Owner => !request.owner.is_empty(),
        F::DisplayName => !request.display_name.is_empty(),
        F::Description => !request.description.is_empty(),
        F::LegalBasis => !request.legal_basis.is_empty(),
        F::CodePattern => !request.code_pattern.is_empty(),
        F::Hierarchical => request.hierarchical,
        F::MaxDepth => request.max_depth != 0,
        F::RequiredLanguages => !request.required_languages.is_empty(),
        F::AttributeSchema => !request.attribute_schema.is_empty(),
    })
}

/// `current` with the `fields` taken from `request`.
pub fn merge(
    current: &ClassifierDraft,
    request: &ClassifierDraft,
    fields: &[ClassifierField],
) -> ClassifierDraft {
    use ClassifierField as F;
    let mut out = current.clone();
    for f in fields {
        match f {
            F::Owner => out.owner = request.owner.clone(),
            F::DisplayName => out.display_name = request.display_name.clone(),
            F::Description => out.description = request.description.clone(),
            F::LegalBasis => out.legal_basis = request.legal_basis.clone(),
            F::CodePattern => out.code_pattern = request.code_pattern.clone(),
            F::Hierarchical => out.hierarchical = request.hierarchical,
            F::MaxDepth => out.max_depth = request.max_depth,
            F::RequiredLanguages => out.required_languages = request.required_languages.clone(),
            F::AttributeSchema => out.attribute_schema = request.attribute_schema.clone(),
        }
    }
    out
}

/// A required enum value, recording a violation when it is unset or unknown.
fn choice<T: Copy>(c: Choice<T>, field: &str, what: &str, v: &mut Violations) -> Option<T> {
    match c {
        Choice::Known(k) => Some(k),
        Choice::Unset => {
            v.add(field, "is required");
            None
        }
        Choice::Unknown(n) => {
            v.add(field, format!("{n} is not a known {what}"));
            None
        }
    }
}

/// A required single-line text: non-empty, at most `max` characters, no control characters,
/// no surrounding white space.
fn check_text(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("is required".into());
    }
    if value.trim() != value {
        return Err("must not start or end with white space".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(err: Error) -> Vec<String> {
        match err {
            Error::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    fn soato_draft() -> ClassifierDraft {
        ClassifierDraft {
            owner: "organizations/stat".into(),
            display_name: [
                ("en".to_string(), "SOATO".to_string()),
                ("ru".to_string(), "СОАТО".to_string()),
            ]
            .into(),
            description: BTreeMap::new(),
            legal_basis: vec![LegalActDraft {
                kind: Choice::Known(LegalActKind::CabinetResolution),
                number: "1034".into(),
                date: "1999-12-29".into(),
                title: "On the system of designations of administrative-territorial objects".into(),
                url: "https://lex.uz/docs/1234".into(),
            }],
            code_pattern: "[0-9]{4}([0-9]{3}([0-9]{3})?)?".into(),
            hierarchical: true,
            max_depth: 3,
            required_languages: vec!["uz-Latn".into(), "ru".into()],
            attribute_schema: vec![
                AttributeDefDraft {
                    key: "center".into(),
                    kind: Choice::Known(AttributeType::String),
                    required: true,
                    max_length: 100,
                    ..Default::default()
                },
                AttributeDefDraft {
                    key: "okpo_region".into(),
                    kind: Choice::Known(AttributeType::CodeRef),
                    classifier: "classifiers/regions".into(),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn a_valid_draft_validates_and_round_trips() {
        let spec = soato_draft().validate("classifier").unwrap();
        assert_eq!(spec.owner.as_str(), "stat");
        assert!(spec.hierarchical);
        assert_eq!(spec.max_depth, 3);
        assert_eq!(
            spec.required_languages,
            [Language::UzLatn, Language::Ru].into()
        );
        assert_eq!(spec.legal_basis[0].date.to_string(), "1999-12-29");
        assert_eq!(
            spec.attribute("okpo_region").map(|d| &d.kind),
            Some(&AttributeKind::CodeRef(ClassifierId::from_trusted(
                "regions".into()
            )))
        );
        assert!(spec.code_pattern.is_match("1726"));
        assert!(!spec.code_pattern.is_match("17262"));
        let back = spec.to_draft();
        assert_eq!(back.validate("classifier").unwrap(), spec);
        assert_eq!(back.owner, "organizations/stat");
        assert_eq!(back.legal_basis, soato_draft().legal_basis);
    }

    #[test]
    fn every_problem_is_reported_at_once_with_indexed_fields() {
        let mut d = soato_draft();
        d.owner = "stat".into();
        d.display_name.clear();
        d.legal_basis[0].date = "1999-02-30".into();
        d.legal_basis[0].url = "ftp://lex.uz".into();
        d.code_pattern = "[0-9".into();
        d.max_depth = 17;
        d.required_languages = vec!["ru".into(), "de".into(), "ru".into()];
        d.attribute_schema[0].pattern = "(".into();
        d.attribute_schema[1].key = "Okpo".into();
        d.attribute_schema[1].classifier = String::new();
        d.attribute_schema.push(AttributeDefDraft {
            key: "center".into(),
            kind: Choice::Known(AttributeType::Integer),
            pattern: "[0-9]+".into(),
            max_length: 3,
            ..Default::default()
        });
        assert_eq!(
            fields_of(d.validate("classifier").unwrap_err()),
            [
                "classifier.owner",
                "classifier.display_name",
                "classifier.legal_basis[0].date",
                "classifier.legal_basis[0].url",
                "classifier.code_pattern",
                "classifier.max_depth",
                "classifier.required_languages[1]",
                "classifier.required_languages[2]",
                "classifier.attribute_schema[0].pattern",
                "classifier.attribute_schema[1].key",
                "classifier.attribute_schema[1].classifier",
                "classifier.attribute_schema[2].key",
                "classifier.attribute_schema[2].pattern",
                "classifier.attribute_schema[2].max_length",
            ]
        );
    }

    #[test]
    fn flat_classifiers_have_depth_one() {
        let mut d = soato_draft();
        d.hierarchical = false;
        d.max_depth = 0;
        assert_eq!(d.validate("c").unwrap().max_depth, 1);
        d.max_depth = 1;
        assert_eq!(d.validate("c").unwrap().max_depth, 1);
        d.max_depth = 2;
        assert_eq!(fields_of(d.validate("c").unwrap_err()), ["c.max_depth"]);
        d.hierarchical = true;
        d.max_depth = 0;
        assert_eq!(fields_of(d.validate("c").unwrap_err()), ["c.max_depth"]);
        d.max_depth = 16;
        assert_eq!(d.validate("c").unwrap().max_depth, 16);
    }

    #[test]
    fn required_languages_and_code_pattern_are_required() {
        let mut d = soato_draft();
        d.required_languages.clear();
        d.code_pattern.clear();
        assert_eq!(
            fields_of(d.validate("classifier").unwrap_err()),
            ["classifier.code_pattern", "classifier.required_languages"]
        );
    }

    #[test]
    fn overlong_code_pattern_is_refused() {
        let mut d = soato_draft();
        d.code_pattern = "[0-9]".repeat(101);
        assert_eq!(
            fields_of(d.validate("classifier").unwrap_err()),
            ["classifier.code_pattern"]
        );
    }

    #[test]
    fn attribute_types_and_legal_act_kinds_need_known_values() {
        let mut d = soato_draft();
        d.attribute_schema[0].kind = Choice::Unset;
        d.attribute_schema[1].kind = Choice::Unknown(99);
        d.legal_basis[0].kind = Choice::Unset;
        d.legal_basis[0].number = " 1034".into();
        d.legal_basis[0].title = String::new();
        assert_eq!(
            fields_of(d.validate("classifier").unwrap_err()),
            [
                "classifier.legal_basis[0].kind",
                "classifier.legal_basis[0].number",
                "classifier.legal_basis[0].title",
                "classifier.attribute_schema[0].type",
                "classifier.attribute_schema[1].type",
            ]
        );
    }

    #[test]
    fn attribute_keys_are_lowercase_snake_case() {
        for ok in ["a", "region_code", "okpo2", &"k".repeat(64)] {
            assert!(check_attribute_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Region",
            "2nd",
            "_a",
            "a_",
            "a__b",
            "a-b",
            &"k".repeat(65),
        ] {
            assert!(check_attribute_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_update_mask_merges_only_its_fields_and_an_empty_one_the_fields_set() {
        let current = soato_draft();
        let request = ClassifierDraft {
            display_name: [("en".to_string(), "Regions".to_string())].into(),
            max_depth: 2,
            ..Default::default()
        };
        let fields = resolve_update_mask(&[], &request).unwrap();
        assert_eq!(
            fields,
            [ClassifierField::DisplayName, ClassifierField::MaxDepth]
        );
        let merged = merge(&current, &request, &fields);
        assert_eq!(merged.display_name, request.display_name);
        assert_eq!(merged.max_depth, 2);
        assert_eq!(merged.attribute_schema, current.attribute_schema);
        let cleared = merge(
            &current,
            &request,
            &resolve_update_mask(&["attribute_schema".into()], &request).unwrap(),
        );
        assert!(cleared.attribute_schema.is_empty());
        assert_eq!(cleared.display_name, current.display_name);
        assert_eq!(
            fields_of(resolve_update_mask(&["*".into(), "etag".into()], &request).unwrap_err()),
            ["update_mask.paths[1]"]
        );
    }

    #[test]
    fn enum_names_round_trip() {
        for t in AttributeType::ALL {
            assert_eq!(t.as_str().parse::<AttributeType>(), Ok(t));
        }
        for k in LegalActKind::ALL {
            assert_eq!(k.as_str().parse::<LegalActKind>(), Ok(k));
        }
    }
}
