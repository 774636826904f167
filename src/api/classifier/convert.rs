//! Conversions between the `reestr.v1` classifier messages and the domain.
//!
//! Requests become drafts (`ClassifierDraft`, `ItemDraft`) that the domain validates; domain
//! values become messages. Every message is destructured whole, so a new proto field does not
//! compile until it is handled here.

use reestr_domain::classifier::{
    AttributeDefDraft, AttributeType, AttributeValueDraft, Classifier, ClassifierDraft, Code, Item,
    ItemDraft, ItemStatus, Problem, Timeline, Version, VersionState,
    item::AttributeValueDraft as Value, version::version_name,
};
use reestr_domain::input::Choice;
use reestr_domain::revision::Revisioned;
use reestr_domain::time::Timestamp;

use crate::api::legal_act;
use crate::api::timestamp;
use crate::proto::v1 as pb;

/// The draft of a classifier message's mutable fields.
pub fn classifier_draft(c: pb::Classifier) -> ClassifierDraft {
    let pb::Classifier {
        name: _,
        owner,
        display_name,
        description,
        legal_basis,
        code_pattern,
        hierarchical,
        max_depth,
        required_languages,
        attribute_schema,
        state: _,
        latest_version: _,
        draft_version: _,
        create_time: _,
        update_time: _,
        delete_time: _,
        etag: _,
    } = c;
    ClassifierDraft {
        owner,
        display_name,
        description,
        legal_basis: legal_basis
            .into_iter()
            .map(legal_act::draft_from_proto)
            .collect(),
        code_pattern,
        hierarchical,
        max_depth,
        required_languages,
        attribute_schema: attribute_schema.into_iter().map(attribute_draft).collect(),
    }
}

fn attribute_draft(a: pb::AttributeDefinition) -> AttributeDefDraft {
    let pb::AttributeDefinition {
        key,
        r#type,
        classifier,
        required,
        pattern,
        max_length,
    } = a;
    let kind = match pb::AttributeType::try_from(r#type) {
        Ok(pb::AttributeType::Unspecified) => Choice::Unset,
        Ok(pb::AttributeType::String) => Choice::Known(AttributeType::String),
        Ok(pb::AttributeType::Integer) => Choice::Known(AttributeType::Integer),
        Ok(pb::AttributeType::Decimal) => Choice::Known(AttributeType::Decimal),
        Ok(pb::AttributeType::Boolean) => Choice::Known(AttributeType::Boolean),
        Ok(pb::AttributeType::Date) => Choice::Known(AttributeType::Date),
        Ok(pb::AttributeType::CodeRef) => Choice::Known(AttributeType::CodeRef),
        Err(_) => Choice::Unknown(r#type),
    };
    AttributeDefDraft {
        key,
        kind,
        classifier,
        required,
        pattern,
        max_length,
    }
}

fn attribute_type(t: AttributeType) -> pb::AttributeType {
    match t {
        AttributeType::String => pb::AttributeType::String,
        AttributeType::Integer => pb::AttributeType::Integer,
        AttributeType::Decimal => pb::AttributeType::Decimal,
        AttributeType::Boolean => pb::AttributeType::Boolean,
        AttributeType::Date => pb::AttributeType::Date,
        AttributeType::CodeRef => pb::AttributeType::CodeRef,
    }
}

/// What a classifier message shows besides its stored fields.
pub struct ClassifierView<'a> {
    /// The version in effect now, if any.
    pub latest: Option<&'a Version>,
    /// The open draft, if any.
    pub draft: Option<&'a Version>,
}

/// The message of a classifier.
pub fn classifier_to_proto(c: &Classifier, view: &ClassifierView<'_>) -> pb::Classifier {
    let d = c.spec.to_draft();
    pb::Classifier {
        name: c.id.name(),
        owner: d.owner,
        display_name: d.display_name,
        description: d.description,
        legal_basis: d
            .legal_basis
            .into_iter()
            .map(legal_act::draft_to_proto)
            .collect(),
        code_pattern: d.code_pattern,
        hierarchical: d.hierarchical,
        max_depth: c.spec.max_depth,
        required_languages: d.required_languages,
        attribute_schema: d
            .attribute_schema
            .into_iter()
            .map(|a| pb::AttributeDefinition {
                key: a.key,
                r#type: match a.kind {
                    Choice::Known(t) => attribute_type(t) as i32,
                    _ => 0,
                },
                classifier: a.classifier,
                required: a.required,
                pattern: a.pattern,
                max_length: a.max_length,
            })
            .collect(),
        state: if view.latest.is_some() {
            pb::classifier::State::Active as i32
        } else {
            pb::classifier::State::Preparing as i32
        },
        latest_version: view.latest.map(Version::name).unwrap_or_default(),
        draft_version: view.draft.map(Version::name).unwrap_or_default(),
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
        delete_time: c.delete_time.map(timestamp),
        etag: c.etag(),
    }
}

/// The message of a version, with the state the timeline gives it at `now`.
pub fn version_to_proto(v: &Version, timeline: &Timeline, now: Timestamp) -> pb::ClassifierVersion {
    let state = match timeline.state(v, now) {
        VersionState::Draft => pb::classifier_version::State::Draft,
        VersionState::Published => pb::classifier_version::State::Published,
        VersionState::Superseded => pb::classifier_version::State::Superseded,
        VersionState::Retired => pb::classifier_version::State::Retired,
    };
    pb::ClassifierVersion {
        name: v.name(),
        description: v.description.clone(),
        state: state as i32,
        effective_time: v.effective_time.map(timestamp),
        publish_time: v.publish_time.map(timestamp),
        retire_time: v.retire_time.map(timestamp),
        content_hash: v.content_hash.clone(),
        item_count: v.item_count,
        source_version: v
            .source
            .as_ref()
            .map(|s| version_name(&v.classifier, s))
            .unwrap_or_default(),
        create_time: Some(timestamp(v.create_time)),
        update_time: Some(timestamp(v.update_time)),
        etag: v.etag(),
    }
}

/// The draft of an item message (output-only `name` and `level` are ignored).
pub fn item_draft(item: pb::Item) -> ItemDraft {
    let pb::Item {
        name: _,
        code,
        parent,
        names,
        description,
        attributes,
        valid_from,
        valid_to,
        status,
        successors,
        level: _,
    } = item;
    let status = match pb::ItemStatus::try_from(status) {
        Ok(pb::ItemStatus::Unspecified) => Choice::Unset,
        Ok(pb::ItemStatus::Active) => Choice::Known(ItemStatus::Active),
        Ok(pb::ItemStatus::Deprecated) => Choice::Known(ItemStatus::Deprecated),
        Err(_) => Choice::Unknown(status),
    };
    ItemDraft {
        code,
        parent,
        names,
        description,
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k, attribute_value_draft(v)))
            .collect(),
        valid_from,
        valid_to,
        status,
        successors,
    }
}

fn attribute_value_draft(v: pb::AttributeValue) -> AttributeValueDraft {
    use pb::attribute_value::Value as V;
    match v.value {
        None => Value::Unset,
        Some(V::StringValue(s)) => Value::String(s),
        Some(V::IntegerValue(n)) => Value::Integer(n),
        Some(V::DecimalValue(s)) => Value::Decimal(s),
        Some(V::BooleanValue(b)) => Value::Boolean(b),
        Some(V::DateValue(s)) => Value::Date(s),
        Some(V::CodeRefValue(s)) => Value::CodeRef(s),
    }
}

/// The message of an item of the version `version_name`, at `level` (0 when unknown).
pub fn item_to_proto(item: &Item, version_name: &str, level: u32) -> pb::Item {
    item_into_proto(item.clone(), version_name, level)
}

/// Like [`item_to_proto`], taking the item (the hot path decodes an item only to send it).
pub fn item_into_proto(item: Item, version_name: &str, level: u32) -> pb::Item {
    use pb::attribute_value::Value as V;
    use reestr_domain::classifier::AttributeValue as A;
    let Item {
        code,
        parent,
        names,
        description,
        attributes,
        valid_from,
        valid_to,
        status,
        successors,
    } = item;
    let mut name = String::with_capacity(version_name.len() + 7 + code.as_str().len());
    name.push_str(version_name);
    name.push_str("/items/");
    name.push_str(code.as_str());
    pb::Item {
        name,
        code: code.into_string(),
        parent: parent.map(Code::into_string).unwrap_or_default(),
        names: names
            .into_iter()
            .map(|(l, n)| (l.tag().to_string(), n))
            .collect(),
        description: description.unwrap_or_default(),
        attributes: attributes
            .into_iter()
            .map(|(k, v)| {
                let value = match v {
                    A::String(s) => V::StringValue(s),
                    A::Integer(n) => V::IntegerValue(n),
                    A::Decimal(d) => V::DecimalValue(d.as_str().to_string()),
                    A::Boolean(b) => V::BooleanValue(b),
                    A::Date(d) => V::DateValue(d.to_string()),
                    A::CodeRef(c) => V::CodeRefValue(c.into_string()),
                };
                (k, pb::AttributeValue { value: Some(value) })
            })
            .collect(),
        valid_from: valid_from.map(|d| d.to_string()).unwrap_or_default(),
        valid_to: valid_to.map(|d| d.to_string()).unwrap_or_default(),
        status: match status {
            ItemStatus::Active => pb::ItemStatus::Active as i32,
            ItemStatus::Deprecated => pb::ItemStatus::Deprecated as i32,
        },
        successors: successors.into_iter().map(Code::into_string).collect(),
        level,
    }
}

/// The message of an encoded item (as [`LoadedVersion`](super::cache::LoadedVersion) keeps
/// it) of the version named `version_name`, at `level`: the same message as
/// [`item_into_proto`] of the decoded item, built straight from the encoding (the path of every
/// lookup).
pub fn encoded_item_to_proto(
    encoded: &[u8],
    version_name: &str,
    level: u32,
) -> Result<pb::Item, reestr_domain::Error> {
    let mut message = ProtoItem(pb::Item {
        level,
        status: pb::ItemStatus::Active as i32,
        ..pb::Item::default()
    });
    let code = reestr_domain::classifier::visit_item(encoded, &mut message)?;
    let mut item = message.0;
    let mut name = String::with_capacity(version_name.len() + 7 + code.len());
    name.push_str(version_name);
    name.push_str("/items/");
    name.push_str(code);
    item.name = name;
    Ok(item)
}

/// Fills an item's message from its encoding ([`encoded_item_to_proto`]).
struct ProtoItem(pb::Item);

impl<'a> reestr_domain::classifier::ItemParts<'a> for ProtoItem {
    fn code(&mut self, code: &'a str) {
        code.clone_into(&mut self.0.code);
    }
    fn parent(&mut self, code: &'a str) {
        code.clone_into(&mut self.0.parent);
    }
    fn name(&mut self, language: reestr_domain::text::Language, name: &'a str) {
        self.0
            .names
            .insert(language.tag().to_string(), name.to_string());
    }
    fn description(&mut self, text: &'a str) {
        text.clone_into(&mut self.0.description);
    }
    fn attribute(&mut self, key: &'a str, value: reestr_domain::classifier::ValueRef<'a>) {
        use pb::attribute_value::Value as V;
        use reestr_domain::classifier::ValueRef as R;
        let value = match value {
            R::String(s) => V::StringValue(s.to_string()),
            R::Integer(n) => V::IntegerValue(n),
            R::Decimal(d) => V::DecimalValue(d.as_str().to_string()),
            R::Boolean(b) => V::BooleanValue(b),
            R::Date(d) => V::DateValue(d.to_string()),
            R::CodeRef(c) => V::CodeRefValue(c.to_string()),
        };
        self.0
            .attributes
            .insert(key.to_string(), pb::AttributeValue { value: Some(value) });
    }
    fn valid_from(&mut self, date: reestr_domain::time::Date) {
        self.0.valid_from = date.to_string();
    }
    fn valid_to(&mut self, date: reestr_domain::time::Date) {
        self.0.valid_to = date.to_string();
    }
    fn status(&mut self, status: ItemStatus) {
        self.0.status = match status {
            ItemStatus::Active => pb::ItemStatus::Active as i32,
            ItemStatus::Deprecated => pb::ItemStatus::Deprecated as i32,
        };
    }
    fn successor(&mut self, code: &'a str) {
        self.0.successors.push(code.to_string());
    }
}

/// The message of a validation problem.
pub fn problem_to_proto(p: &Problem) -> pb::VersionProblem {
    pb::VersionProblem {
        code: p.code.clone(),
        field: p.field.clone(),
        kind: p.kind.as_str().to_string(),
        description: p.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use reestr_domain::classifier::item::AttributeValue;
    use reestr_domain::classifier::{Code, Item, ItemStatus, encoded_item};
    use reestr_domain::text::Language;
    use reestr_domain::time::Date;

    use super::{encoded_item_to_proto, item_into_proto};

    fn code(c: &str) -> Code {
        Code::parse(c, "code").unwrap()
    }

    /// Items with every part set, and with none.
    fn items() -> Vec<Item> {
        let mut full = Item::new(code("1726"));
        full.parent = Some(code("17"));
        for (i, language) in Language::ALL.into_iter().enumerate() {
            full.names.insert(language, format!("Nom {i} ʻ\u{2019}"));
        }
        full.description = Some("line 1\nline 2".into());
        full.attributes = BTreeMap::from([
            ("a".to_string(), AttributeValue::String("x".into())),
            ("b".to_string(), AttributeValue::Integer(i64::MIN)),
            (
                "c".to_string(),
                AttributeValue::Decimal(
                    reestr_domain::classifier::item::Decimal::parse("1.50").unwrap(),
                ),
            ),
            ("d".to_string(), AttributeValue::Boolean(true)),
            (
                "e".to_string(),
                AttributeValue::Date(Date::parse("2024-02-29").unwrap()),
            ),
            ("f".to_string(), AttributeValue::CodeRef(code("100"))),
            ("é".to_string(), AttributeValue::String(String::new())),
        ]);
        full.valid_from = Date::parse("2020-01-01").ok();
        full.valid_to = Date::parse("2030-12-31").ok();
        full.status = ItemStatus::Deprecated;
        full.successors = vec![code("1727"), code("1728")];
        let mut bare = Item::new(code("17"));
        bare.names.insert(Language::Ru, "Узбекистан".into());
        vec![full, bare]
    }

    #[test]
    fn an_item_read_straight_from_its_encoding_is_the_message_of_the_decoded_item() {
        for item in items() {
            let encoded = encoded_item(&item);
            let direct =
                encoded_item_to_proto(&encoded, "classifiers/soato/versions/2026-1", 2).unwrap();
            let decoded = item_into_proto(item.clone(), "classifiers/soato/versions/2026-1", 2);
            assert_eq!(direct, decoded, "{}", item.code.as_str());
        }
        assert!(
            encoded_item_to_proto(b"\x02garbage", "v", 1).is_err(),
            "an encoding that does not decode is an error"
        );
    }
}
