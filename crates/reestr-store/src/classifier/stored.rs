//! How classifiers and versions are stored: the rows, the `spec` column's JSON, and the
//! fields the audit trail records of each.

use std::collections::{BTreeMap, BTreeSet};

use reestr_domain::Error;
use reestr_domain::classifier::name::COLLECTION;
use reestr_domain::classifier::version::version_name;
use reestr_domain::classifier::{
    AttributeDef, AttributeKind, AttributeType, Classifier, ClassifierId, ClassifierSpec, Date,
    LegalAct, Pattern, Version, VersionId, VersionState,
};
use reestr_domain::input::Choice;
use reestr_domain::organization::OrganizationId;
use reestr_domain::text::{Language, LocalizedText, fold};
use reestr_domain::time::Timestamp;
use sea_orm::Set;
use serde::{Deserialize, Serialize};

use crate::entity::classifier as row;
use crate::entity::classifier_version as version_row;

/// The requirements other than the owner, as the `spec` column stores them: the domain's
/// draft shape with enums by name.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSpec {
    display_name: BTreeMap<String, String>,
    #[serde(default)]
    description: BTreeMap<String, String>,
    #[serde(default)]
    legal_basis: Vec<StoredAct>,
    code_pattern: String,
    hierarchical: bool,
    max_depth: u32,
    required_languages: Vec<String>,
    #[serde(default)]
    attribute_schema: Vec<StoredAttribute>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAct {
    kind: String,
    #[serde(default)]
    number: String,
    date: String,
    title: String,
    #[serde(default)]
    url: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAttribute {
    key: String,
    #[serde(rename = "type")]
    value_type: String,
    #[serde(default)]
    classifier: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    max_length: u32,
}

fn known<T: Copy>(c: Choice<T>, name: impl Fn(T) -> &'static str) -> String {
    match c {
        Choice::Known(k) => name(k).to_string(),
        Choice::Unset | Choice::Unknown(_) => String::new(),
    }
}

impl StoredSpec {
    fn of(spec: &ClassifierSpec) -> StoredSpec {
        let d = spec.to_draft();
        StoredSpec {
            display_name: d.display_name,
            description: d.description,
            legal_basis: d
                .legal_basis
                .into_iter()
                .map(|a| StoredAct {
                    kind: known(a.kind, |k| k.as_str()),
                    number: a.number,
                    date: a.date,
                    title: a.title,
                    url: a.url,
                })
                .collect(),
            code_pattern: d.code_pattern,
            hierarchical: d.hierarchical,
            max_depth: d.max_depth,
            required_languages: d.required_languages,
            attribute_schema: d
                .attribute_schema
                .into_iter()
                .map(|a| StoredAttribute {
                    key: a.key,
                    value_type: known(a.kind, |k| k.as_str()),
                    classifier: a.classifier,
                    required: a.required,
                    pattern: a.pattern,
                    max_length: a.max_length,
                })
                .collect(),
        }
    }

    /// The requirements as they were stored. Only what cannot be represented is refused (an
    /// unknown enum name, language tag or date, a pattern that does not compile); the rules
    /// of [`ClassifierDraft::validate`](reestr_domain::classifier::ClassifierDraft::validate) are for writes, so tightening one never turns a stored
    /// classifier into an error on every read.
    fn into_spec(self, id: &str, owner_id: &str) -> Result<ClassifierSpec, Error> {
        let bad = |what: String| Error::Internal(format!("classifier {id}: stored spec: {what}"));
        let mut legal_basis = Vec::with_capacity(self.legal_basis.len());
        for a in self.legal_basis {
            legal_basis.push(LegalAct {
                kind: a
                    .kind
                    .parse()
                    .map_err(|()| bad(format!("unknown act kind {:?}", a.kind)))?,
                number: a.number,
                date: Date::parse(&a.date)
                    .map_err(|p| bad(format!("act date {:?} {p}", a.date)))?,
                title: a.title,
                url: (!a.url.is_empty()).then_some(a.url),
            });
        }
        let mut attribute_schema = Vec::with_capacity(self.attribute_schema.len());
        for a in self.attribute_schema {
            let value_type: AttributeType = a
                .value_type
                .parse()
                .map_err(|()| bad(format!("unknown attribute type {:?}", a.value_type)))?;
            let kind = match value_type {
                AttributeType::String => AttributeKind::String,
                AttributeType::Integer => AttributeKind::Integer,
                AttributeType::Decimal => AttributeKind::Decimal,
                AttributeType::Boolean => AttributeKind::Boolean,
                AttributeType::Date => AttributeKind::Date,
                AttributeType::CodeRef => {
                    let target = a
                        .classifier
                        .strip_prefix(COLLECTION)
                        .and_then(|rest| rest.strip_prefix('/'))
                        .ok_or_else(|| {
                            bad(format!(
                                "attribute {:?} refers to {:?}, not a classifier name",
                                a.key, a.classifier
                            ))
                        })?;
                    AttributeKind::CodeRef(ClassifierId::from_trusted(target.to_string()))
                }
            };
            let pattern = match a.pattern.as_str() {
                "" => None,
                p => Some(
                    Pattern::from_stored(p)
                        .map_err(|e| bad(format!("pattern of attribute {:?} {e}", a.key)))?,
                ),
            };
            attribute_schema.push(AttributeDef {
                key: a.key,
                kind,
                required: a.required,
                pattern,
                max_length: (a.max_length != 0).then_some(a.max_length),
            });
        }
        let mut required_languages = BTreeSet::new();
        for tag in &self.required_languages {
            required_languages.insert(
                tag.parse::<Language>()
                    .map_err(|()| bad(format!("unknown language tag {tag:?}")))?,
            );
        }
        let description = LocalizedText::from_trusted(self.description);
        Ok(ClassifierSpec {
            owner: OrganizationId::from_trusted(owner_id.to_string()),
            display_name: LocalizedText::from_trusted(self.display_name),
            description: (!description.entries().is_empty()).then_some(description),
            legal_basis,
            code_pattern: Pattern::from_stored(&self.code_pattern)
                .map_err(|e| bad(format!("code_pattern {e}")))?,
            hierarchical: self.hierarchical,
            // A flat classifier is stored with 0, which means one level.
            max_depth: if self.hierarchical { self.max_depth } else { 1 },
            required_languages,
            attribute_schema,
        })
    }
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding {what}: {e}")))
}

pub(super) fn to_active(c: &Classifier) -> Result<row::ActiveModel, Error> {
    let spec = StoredSpec::of(&c.spec);
    let mut search = fold(c.id.as_str());
    for name in c.spec.display_name.entries().values() {
        search.push('\n');
        search.push_str(&fold(name));
    }
    Ok(row::ActiveModel {
        id: Set(c.id.as_str().to_string()),
        owner_id: Set(c.spec.owner.as_str().to_string()),
        hierarchical: Set(c.spec.hierarchical),
        spec: Set(to_json("classifier spec", &spec)?),
        search: Set(search),
        create_time: Set(c.create_time.micros()),
        update_time: Set(c.update_time.micros()),
        delete_time: Set(c.delete_time.map(Timestamp::micros)),
        revision: Set(c.revision),
    })
}

pub(super) fn from_row(m: row::Model) -> Result<Classifier, Error> {
    let stored: StoredSpec = serde_json::from_str(&m.spec)
        .map_err(|e| Error::Internal(format!("classifier {}: bad spec: {e}", m.id)))?;
    let spec = stored.into_spec(&m.id, &m.owner_id)?;
    Ok(Classifier {
        id: ClassifierId::from_trusted(m.id),
        spec,
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        delete_time: m.delete_time.map(Timestamp::from_micros),
        revision: m.revision,
    })
}

/// The classifier as `(field, value)` pairs for the audit trail: each top-level field of the
/// requirements (compact JSON for structured ones), and the deletion.
pub(super) fn audit_fields(c: &Classifier) -> Result<Vec<(&'static str, String)>, Error> {
    let s = StoredSpec::of(&c.spec);
    Ok(vec![
        ("owner", c.spec.owner.name()),
        ("display_name", to_json("display_name", &s.display_name)?),
        ("description", to_json("description", &s.description)?),
        ("legal_basis", to_json("legal_basis", &s.legal_basis)?),
        ("code_pattern", s.code_pattern),
        ("hierarchical", s.hierarchical.to_string()),
        ("max_depth", s.max_depth.to_string()),
        (
            "required_languages",
            to_json("required_languages", &s.required_languages)?,
        ),
        (
            "attribute_schema",
            to_json("attribute_schema", &s.attribute_schema)?,
        ),
        (
            "delete_time",
            c.delete_time
                .map(|t| t.micros().to_string())
                .unwrap_or_default(),
        ),
    ])
}

pub(super) fn version_audit_fields(v: &Version) -> Vec<(&'static str, String)> {
    let time = |t: Option<Timestamp>| t.map(|t| t.micros().to_string()).unwrap_or_default();
    vec![
        ("state", v.state.as_str().to_string()),
        ("description", v.description.clone()),
        ("effective_time", time(v.effective_time)),
        ("publish_time", time(v.publish_time)),
        ("retire_time", time(v.retire_time)),
        ("content_hash", v.content_hash.clone()),
        ("item_count", v.item_count.to_string()),
        (
            "source_version",
            v.source
                .as_ref()
                .map(|s| version_name(&v.classifier, s))
                .unwrap_or_default(),
        ),
    ]
}

pub(super) fn version_to_active(v: &Version) -> version_row::ActiveModel {
    version_row::ActiveModel {
        classifier_id: Set(v.classifier.as_str().to_string()),
        version_id: Set(v.id.as_str().to_string()),
        state: Set(v.state.as_str().to_string()),
        description: Set(v.description.clone()),
        effective_time: Set(v.effective_time.map(Timestamp::micros)),
        publish_time: Set(v.publish_time.map(Timestamp::micros)),
        retire_time: Set(v.retire_time.map(Timestamp::micros)),
        content_hash: Set(v.content_hash.clone()),
        item_count: Set(v.item_count),
        source_version: Set(v.source.as_ref().map(|s| s.as_str().to_string())),
        create_time: Set(v.create_time.micros()),
        update_time: Set(v.update_time.micros()),
        revision: Set(v.revision),
    }
}

pub(super) fn version_from_row(m: version_row::Model) -> Result<Version, Error> {
    let state: VersionState = m
        .state
        .parse()
        .ok()
        .filter(|s| *s != VersionState::Superseded)
        .ok_or_else(|| {
            Error::Internal(format!(
                "version {}/{}: bad state {}",
                m.classifier_id, m.version_id, m.state
            ))
        })?;
    Ok(Version {
        classifier: ClassifierId::from_trusted(m.classifier_id),
        id: VersionId::from_trusted(m.version_id),
        state,
        description: m.description,
        effective_time: m.effective_time.map(Timestamp::from_micros),
        publish_time: m.publish_time.map(Timestamp::from_micros),
        retire_time: m.retire_time.map(Timestamp::from_micros),
        content_hash: m.content_hash,
        item_count: m.item_count,
        source: m.source_version.map(VersionId::from_trusted),
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        revision: m.revision,
    })
}
