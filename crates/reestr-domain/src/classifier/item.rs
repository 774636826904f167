//! Items: the entries of a classifier version.
//!
//! An [`Item`] is well-formed on its own (its code, parent and successors are codes, its dates
//! are dates, its attribute values are typed); [`ItemDraft::validate_into`] makes one from a
//! request. Whether an item fits its classifier and the rest of its version — the code pattern,
//! the parent exists, required names and attributes — is the business of
//! [`super::validate::validate_version`], so that a draft can be written in any order and its
//! problems listed all at once.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::Violations;
use crate::input::Choice;
use crate::text::{Language, LocalizedText};

use super::name::{Code, check_code};
use super::spec::{AttributeType, MAX_STRING_VALUE_CHARS};
use crate::time::Date;

/// Longest item description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Most attributes one item may carry.
pub const MAX_ITEM_ATTRIBUTES: usize = 100;
/// Most successors one item may name.
pub const MAX_SUCCESSORS: usize = 100;
/// Longest decimal value, in characters.
pub const MAX_DECIMAL_CHARS: usize = 64;

/// Whether an item is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ItemStatus {
    /// In use.
    #[default]
    Active,
    /// No longer to be used; its `successors` replace it.
    Deprecated,
}

impl ItemStatus {
    /// Every status.
    pub const ALL: [ItemStatus; 2] = [ItemStatus::Active, ItemStatus::Deprecated];

    /// The name used in the API and stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Active => "ACTIVE",
            ItemStatus::Deprecated => "DEPRECATED",
        }
    }
}

impl fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(ItemStatus, "ITEM_STATUS_");

/// A decimal number kept exactly as written: an optional minus, an integer part without
/// leading zeros, and optionally a point and one or more digits (`12`, `-0.5`, `3.10`).
///
/// Trailing fractional zeros are kept, because a classifier's owner may mean them (a rate of
/// `0.10`); so `3.1` and `3.10` are different values. Negative zero is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// Parses a decimal written as described on [`Decimal`], at most 64 characters.
    pub fn parse(text: &str) -> Result<Decimal, &'static str> {
        const SHAPE: &str =
            "must be a decimal number such as 12, -0.5 or 3.10 (no exponent, no leading zeros)";
        if text.len() > MAX_DECIMAL_CHARS {
            return Err("must be at most 64 characters");
        }
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || (int.len() > 1 && int.starts_with('0')) {
            return Err(SHAPE);
        }
        if frac.is_some_and(|f| !digits(f)) {
            return Err(SHAPE);
        }
        if text.starts_with('-') && unsigned.bytes().all(|b| b == b'0' || b == b'.') {
            return Err("must not be negative zero");
        }
        Ok(Decimal(text.to_string()))
    }

    /// The number as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A typed attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// `STRING`.
    String(String),
    /// `INTEGER`.
    Integer(i64),
    /// `DECIMAL`.
    Decimal(Decimal),
    /// `BOOLEAN`.
    Boolean(bool),
    /// `DATE`.
    Date(Date),
    /// `CODE_REF`: a code of the classifier the schema names.
    CodeRef(Code),
}

impl AttributeValue {
    /// The type of this value.
    pub fn value_type(&self) -> AttributeType {
        match self {
            AttributeValue::String(_) => AttributeType::String,
            AttributeValue::Integer(_) => AttributeType::Integer,
            AttributeValue::Decimal(_) => AttributeType::Decimal,
            AttributeValue::Boolean(_) => AttributeType::Boolean,
            AttributeValue::Date(_) => AttributeType::Date,
            AttributeValue::CodeRef(_) => AttributeType::CodeRef,
        }
    }

    /// Reads a value of type `value_type` from its text form, as a CSV cell carries it:
    /// integers in decimal, decimals as on [`Decimal`], booleans `true` / `false`, dates
    /// `YYYY-MM-DD`, code references as the bare code.
    pub fn parse(value_type: AttributeType, text: &str) -> Result<AttributeValue, String> {
        match value_type {
            AttributeType::String => check_string_value(text).map(|()| Self::String(text.into())),
            AttributeType::Integer => text
                .parse::<i64>()
                .map(Self::Integer)
                .map_err(|_| "must be a whole number from -2^63 to 2^63-1".into()),
            AttributeType::Decimal => Decimal::parse(text)
                .map(Self::Decimal)
                .map_err(String::from),
            AttributeType::Boolean => match text {
                "true" => Ok(Self::Boolean(true)),
                "false" => Ok(Self::Boolean(false)),
                _ => Err("must be true or false".into()),
            },
            AttributeType::Date => Date::parse(text).map(Self::Date).map_err(String::from),
            AttributeType::CodeRef => check_code(text)
                .map(|()| Self::CodeRef(Code::from_trusted(text.into())))
                .map_err(|p| format!("code {p}")),
        }
    }

    /// The text form read by [`AttributeValue::parse`]; for every value, parsing it back gives
    /// the same value.
    pub fn to_text(&self) -> String {
        match self {
            AttributeValue::String(s) => s.clone(),
            AttributeValue::Integer(n) => n.to_string(),
            AttributeValue::Decimal(d) => d.as_str().to_string(),
            AttributeValue::Boolean(b) => b.to_string(),
            AttributeValue::Date(d) => d.to_string(),
            AttributeValue::CodeRef(c) => c.as_str().to_string(),
        }
    }
}

/// A string attribute value: at most [`MAX_STRING_VALUE_CHARS`] characters, no control
/// characters other than line breaks and tabs.
fn check_string_value(text: &str) -> Result<(), String> {
    if text.chars().count() > MAX_STRING_VALUE_CHARS {
        return Err(format!(
            "must be at most {MAX_STRING_VALUE_CHARS} characters"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// An entry of a classifier version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its code, unique within the version.
    pub code: Code,
    /// The code of its parent in a hierarchical classifier; `None` at the top level.
    pub parent: Option<Code>,
    /// Names by language.
    pub names: BTreeMap<Language, String>,
    /// A longer description.
    pub description: Option<String>,
    /// Attribute values by key.
    pub attributes: BTreeMap<String, AttributeValue>,
    /// First day the code may be used, inclusive.
    pub valid_from: Option<Date>,
    /// Last day the code may be used, inclusive.
    pub valid_to: Option<Date>,
    /// Active or deprecated.
    pub status: ItemStatus,
    /// For a deprecated item: the codes (in this version) that replace it, most important
    /// first.
    pub successors: Vec<Code>,
}

impl Item {
    /// An active top-level item with no names, attributes or dates: a start for building one.
    pub fn new(code: Code) -> Item {
        Item {
            code,
            parent: None,
            names: BTreeMap::new(),
            description: None,
            attributes: BTreeMap::new(),
            valid_from: None,
            valid_to: None,
            status: ItemStatus::Active,
            successors: Vec::new(),
        }
    }

    /// Whether `date` lies within the item's validity (both ends inclusive; a missing end is
    /// open). Says nothing about its status.
    pub fn is_valid_on(&self, date: Date) -> bool {
        self.valid_from.is_none_or(|from| from <= date) && self.valid_to.is_none_or(|to| date <= to)
    }

    /// The draft this item came from.
    pub fn to_draft(&self) -> ItemDraft {
        ItemDraft {
            code: self.code.as_str().to_string(),
            parent: self
                .parent
                .as_ref()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            names: self
                .names
                .iter()
                .map(|(l, n)| (l.tag().to_string(), n.clone()))
                .collect(),
            description: self.description.clone().unwrap_or_default(),
            attributes: self
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), AttributeValueDraft::from(v)))
                .collect(),
            valid_from: self.valid_from.map(|d| d.to_string()).unwrap_or_default(),
            valid_to: self.valid_to.map(|d| d.to_string()).unwrap_or_default(),
            status: Choice::Known(self.status),
            successors: self
                .successors
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        }
    }
}

/// An attribute value as a request carries it: the `oneof` of the item message. Dates and
/// decimals arrive as text; a code reference is the bare code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AttributeValueDraft {
    /// No value was set.
    #[default]
    Unset,
    /// `string_value`.
    String(String),
    /// `integer_value`.
    Integer(i64),
    /// `decimal_value`.
    Decimal(String),
    /// `boolean_value`.
    Boolean(bool),
    /// `date_value`, `YYYY-MM-DD`.
    Date(String),
    /// `code_ref_value`.
    CodeRef(String),
}

impl AttributeValueDraft {
    /// The typed value, or why it is malformed.
    pub fn validate(&self) -> Result<AttributeValue, String> {
        match self {
            AttributeValueDraft::Unset => Err("a value is required".into()),
            AttributeValueDraft::String(s) => AttributeValue::parse(AttributeType::String, s),
            AttributeValueDraft::Integer(n) => Ok(AttributeValue::Integer(*n)),
            AttributeValueDraft::Decimal(s) => AttributeValue::parse(AttributeType::Decimal, s),
            AttributeValueDraft::Boolean(b) => Ok(AttributeValue::Boolean(*b)),
            AttributeValueDraft::Date(s) => AttributeValue::parse(AttributeType::Date, s),
            AttributeValueDraft::CodeRef(s) => AttributeValue::parse(AttributeType::CodeRef, s),
        }
    }
}

impl From<&AttributeValue> for AttributeValueDraft {
    fn from(value: &AttributeValue) -> Self {
        match value {
            AttributeValue::String(s) => AttributeValueDraft::String(s.clone()),
            AttributeValue::Integer(n) => AttributeValueDraft::Integer(*n),
            AttributeValue::Decimal(d) => AttributeValueDraft::Decimal(d.as_str().into()),
            AttributeValue::Boolean(b) => AttributeValueDraft::Boolean(*b),
            AttributeValue::Date(d) => AttributeValueDraft::Date(d.to_string()),
            AttributeValue::CodeRef(c) => AttributeValueDraft::CodeRef(c.as_str().into()),
        }
    }
}

/// An item as a request carries it, before validation: empty strings mean "not set".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemDraft {
    /// Code.
    pub code: String,
    /// Parent code or empty.
    pub parent: String,
    /// Names by language tag.
    pub names: BTreeMap<String, String>,
    /// Description or empty.
    pub description: String,
    /// Attribute values by key.
    pub attributes: BTreeMap<String, AttributeValueDraft>,
    /// `YYYY-MM-DD` or empty.
    pub valid_from: String,
    /// `YYYY-MM-DD` or empty.
    pub valid_to: String,
    /// Status; unset means ACTIVE.
    pub status: Choice<ItemStatus>,
    /// Successor codes.
    pub successors: Vec<String>,
}

impl ItemDraft {
    /// Checks that the item is well-formed, naming problems under `prefix` (e.g. `items[3]`).
    /// `Some` only when it is.
    ///
    /// Names may be missing here (an item with no names at all is accepted into a draft);
    /// names that are given must be valid. Attribute keys are not checked against the schema
    /// here; [`super::validate::validate_version`] does that.
    pub fn validate_into(&self, prefix: &str, v: &mut Violations) -> Option<Item> {
        let before = v.len();
        let code = v.check(Code::parse(&self.code, &format!("{prefix}.code")));
        let parent = if self.parent.is_empty() {
            Some(None)
        } else {
            v.check(Code::parse(&self.parent, &format!("{prefix}.parent")).map(Some))
        };
        let names = if self.names.is_empty() {
            Some(BTreeMap::new())
        } else {
            LocalizedText::validate(&self.names, &format!("{prefix}.names"), v)
                .map(|t| t.entries().clone())
        };
        let description = self.validate_description(prefix, v);
        let attributes = self.validate_attributes(prefix, v);
        let valid_from = optional_date(&self.valid_from, &format!("{prefix}.valid_from"), v);
        let valid_to = optional_date(&self.valid_to, &format!("{prefix}.valid_to"), v);
        let status = match self.status {
            Choice::Unset => Some(ItemStatus::Active),
            Choice::Known(s) => Some(s),
            Choice::Unknown(n) => {
                v.add(
                    format!("{prefix}.status"),
                    format!("{n} is not a known status"),
                );
                None
            }
        };
        let successors = if self.successors.len() > MAX_SUCCESSORS {
            v.add(
                format!("{prefix}.successors"),
                format!("must list at most {MAX_SUCCESSORS} codes"),
            );
            None
        } else {
            self.successors
                .iter()
                .enumerate()
                .map(|(i, s)| v.check(Code::parse(s, &format!("{prefix}.successors[{i}]"))))
                .collect::<Vec<_>>()
                .into_iter()
                .collect::<Option<Vec<_>>>()
        };
        if v.len() != before {
            return None;
        }
        Some(Item {
            code: code?,
            parent: parent?,
            names: names?,
            description: description?,
            attributes: attributes?,
            valid_from: valid_from?,
            valid_to: valid_to?,
            status: status?,
            successors: successors?,
        })
    }

    fn validate_description(&self, prefix: &str, v: &mut Violations) -> Option<Option<String>> {
        let d = &self.description;
        if d.is_empty() {
            return Some(None);
        }
        let problem = if d.trim() != d {
            Some("must not start or end with white space".to_string())
        } else if d.chars().count() > MAX_DESCRIPTION_CHARS {
            Some(format!(
                "must be at most {MAX_DESCRIPTION_CHARS} characters"
            ))
        } else if d
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            Some("must not contain control characters".to_string())
        } else {
            None
        };
        match problem {
            Some(p) => {
                v.add(format!("{prefix}.description"), p);
                None
            }
            None => Some(Some(d.clone())),
        }
    }

    fn validate_attributes(
        &self,
        prefix: &str,
        v: &mut Violations,
    ) -> Option<BTreeMap<String, AttributeValue>> {
        if self.attributes.len() > MAX_ITEM_ATTRIBUTES {
            v.add(
                format!("{prefix}.attributes"),
                format!("must hold at most {MAX_ITEM_ATTRIBUTES} values"),
            );
            return None;
        }
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in &self.attributes {
            let field = format!("{prefix}.attributes[{key:?}]");
            if key.is_empty() || key.len() > super::spec::MAX_ATTRIBUTE_KEY_CHARS {
                v.add(field, "the key must be 1 to 64 characters");
                ok = false;
                continue;
            }
            match value.validate() {
                Ok(value) => {
                    out.insert(key.clone(), value);
                }
                Err(problem) => {
                    v.add(field, problem);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

fn optional_date(text: &str, field: &str, v: &mut Violations) -> Option<Option<Date>> {
    if text.is_empty() {
        return Some(None);
    }
    match Date::parse(text) {
        Ok(d) => Some(Some(d)),
        Err(problem) => {
            v.add(field, problem);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn fields_of(v: Violations) -> Vec<String> {
        match v.into_result() {
            Ok(()) => vec![],
            Err(Error::InvalidArgument(list)) => list.into_iter().map(|f| f.field).collect(),
            Err(other) => panic!("{other}"),
        }
    }

    fn draft() -> ItemDraft {
        ItemDraft {
            code: "1726".into(),
            parent: String::new(),
            names: [
                ("uz-Latn".to_string(), "Toshkent shahri".to_string()),
                ("ru".to_string(), "город Ташкент".to_string()),
            ]
            .into(),
            description: "The capital.".into(),
            attributes: [
                (
                    "center".to_string(),
                    AttributeValueDraft::String("Tashkent".into()),
                ),
                (
                    "population".to_string(),
                    AttributeValueDraft::Integer(3_000_000),
                ),
                (
                    "area".to_string(),
                    AttributeValueDraft::Decimal("334.8".into()),
                ),
                (
                    "since".to_string(),
                    AttributeValueDraft::Date("1991-09-01".into()),
                ),
            ]
            .into(),
            valid_from: "1991-09-01".into(),
            valid_to: String::new(),
            status: Choice::Unset,
            successors: vec![],
        }
    }

    #[test]
    fn a_well_formed_draft_becomes_an_item_and_back() {
        let mut v = Violations::new();
        let item = draft().validate_into("item", &mut v).unwrap();
        assert!(v.is_empty());
        assert_eq!(item.status, ItemStatus::Active);
        assert_eq!(item.names[&Language::Ru], "город Ташкент");
        assert_eq!(
            item.attributes["area"],
            AttributeValue::Decimal(Decimal::parse("334.8").unwrap())
        );
        let mut back = draft();
        back.status = Choice::Known(ItemStatus::Active);
        assert_eq!(item.to_draft(), back);
    }

    #[test]
    fn malformed_fields_are_each_reported() {
        let mut d = draft();
        d.code = "17 26".into();
        d.parent = "a/b".into();
        d.names.insert("de".into(), "Taschkent".into());
        d.description = " padded".into();
        d.attributes
            .insert("area".into(), AttributeValueDraft::Decimal("1e5".into()));
        d.attributes
            .insert("flag".into(), AttributeValueDraft::Unset);
        d.valid_from = "2023-02-29".into();
        d.valid_to = "tomorrow".into();
        d.status = Choice::Unknown(7);
        d.successors = vec!["ok".into(), String::new()];
        let mut v = Violations::new();
        assert!(d.validate_into("items[0]", &mut v).is_none());
        assert_eq!(
            fields_of(v),
            [
                "items[0].code",
                "items[0].parent",
                "items[0].names[\"de\"]",
                "items[0].description",
                "items[0].attributes[\"area\"]",
                "items[0].attributes[\"flag\"]",
                "items[0].valid_from",
                "items[0].valid_to",
                "items[0].status",
                "items[0].successors[1]",
            ]
        );
    }

    #[test]
    fn decimals_are_kept_as_written_without_leading_zeros_or_exponents() {
        for ok in ["0", "12", "-0.5", "3.10", "0.000", "-12.5"] {
            assert_eq!(Decimal::parse(ok).map(|d| d.to_string()), Ok(ok.into()));
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e5", "+1", "-0", "-0.00", "1,5", " 1", "١",
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?}");
        }
        assert_ne!(Decimal::parse("3.1"), Decimal::parse("3.10"));
    }

    #[test]
    fn attribute_text_round_trips_through_its_type() {
        let cases = [
            (AttributeType::String, "Tashkent\nline 2"),
            (AttributeType::Integer, "-42"),
            (AttributeType::Decimal, "-0.5"),
            (AttributeType::Boolean, "true"),
            (AttributeType::Date, "2024-02-29"),
            (AttributeType::CodeRef, "1726"),
        ];
        for (t, text) in cases {
            let value = AttributeValue::parse(t, text).unwrap();
            assert_eq!(value.value_type(), t);
            assert_eq!(value.to_text(), text);
            assert_eq!(AttributeValue::parse(t, &value.to_text()), Ok(value));
        }
        assert!(AttributeValue::parse(AttributeType::Integer, "1.5").is_err());
        assert!(AttributeValue::parse(AttributeType::Boolean, "TRUE").is_err());
        assert!(AttributeValue::parse(AttributeType::CodeRef, "a b").is_err());
        assert!(AttributeValue::parse(AttributeType::String, "a\u{7}").is_err());
    }

    #[test]
    fn validity_is_inclusive_at_both_ends_and_open_when_unset() {
        let d = |s| Date::parse(s).unwrap();
        let mut item = Item::new(Code::from_trusted("1".into()));
        assert!(item.is_valid_on(d("0001-01-01")));
        item.valid_from = Some(d("2024-01-01"));
        item.valid_to = Some(d("2024-12-31"));
        assert!(!item.is_valid_on(d("2023-12-31")));
        assert!(item.is_valid_on(d("2024-01-01")));
        assert!(item.is_valid_on(d("2024-12-31")));
        assert!(!item.is_valid_on(d("2025-01-01")));
    }

    #[test]
    fn status_names_round_trip() {
        for s in ItemStatus::ALL {
            assert_eq!(s.as_str().parse::<ItemStatus>(), Ok(s));
        }
    }
}
