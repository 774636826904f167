//! The canonical encoding of one item: the bytes the content hash ([`super::hash`]) is
//! computed over, and how the store and the cache keep an item.
//!
//! Attribute values carry their type in the encoding, so an item can be read without the
//! classifier's schema.
//!
//! # Encoding (version 1)
//!
//! Primitives, all integers big-endian:
//!
//! | notation  | bytes                                                       |
//! |-----------|-------------------------------------------------------------|
//! | `u8(x)`   | one byte                                                    |
//! | `u64(x)`  | eight bytes, unsigned                                       |
//! | `i64(x)`  | eight bytes, two's complement                               |
//! | `str(s)`  | `u64(byte length of s)`, then the UTF-8 bytes of `s`        |
//! | `opt(x)`  | `u8(0)` when absent; `u8(1)` followed by `x` when present   |
//! | `date(d)` | `str("YYYY-MM-DD")`                                         |
//!
//! An item is
//!
//! ```text
//! u8(1)
//! str(code)
//! opt(str(parent))
//! u64(number of names)       then str(language tag) str(name) for each name,
//!                            in ascending byte order of tag (en, kaa, ru, uz-Cyrl, uz-Latn)
//! opt(str(description))
//! u64(number of attributes)  then str(key) value for each, in ascending byte order of key
//! opt(date(valid_from))
//! opt(date(valid_to))
//! u8(status)                 1 ACTIVE, 2 DEPRECATED
//! u64(number of successors)  then str(code) for each, in the item's order
//! ```
//!
//! where a value is one of
//!
//! ```text
//! u8(1) str(text)        STRING
//! u8(2) i64(n)           INTEGER
//! u8(3) str(as written)  DECIMAL
//! u8(4) u8(0 or 1)       BOOLEAN (false, true)
//! u8(5) date(d)          DATE
//! u8(6) str(code)        CODE_REF
//! ```
//!
//! Every variable-length part is length-prefixed and every choice is tagged, so two different
//! items never encode to the same bytes.
//!
//! # Stored items
//!
//! [`encoded_item`] and [`encode_item`] write the encoding, [`decode_item`] reads it back
//! (re-checking codes, language tags, dates and decimals, and refusing anything
//! [`encode_item`] would not have written), [`encoded_code`] reads just the code, and
//! [`ContentHasher::add_encoded`](super::hash::ContentHasher::add_encoded) hashes the bytes as
//! they are.

use crate::error::Error;
use crate::text::Language;
use crate::time::Date;

use super::item::{AttributeValue, Decimal, Item, ItemStatus};
use super::name::{Code, check_code};

/// The canonical encoding of one item (see [`encode_item`]) in a vector of its own.
pub fn encoded_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    encode_item(item, &mut out);
    out
}

/// Appends the canonical encoding of one item (the `item` of the module documentation) to
/// `out`. Its length is also a fair measure of the item's raw size.
pub fn encode_item(item: &Item, out: &mut Vec<u8>) {
    put_u8(out, 1);
    put_str(out, item.code.as_str());
    put_opt(out, item.parent.as_ref(), |out, p| put_str(out, p.as_str()));
    let mut names: Vec<(&str, &String)> = item.names.iter().map(|(l, n)| (l.tag(), n)).collect();
    names.sort_unstable_by(|a, b| a.0.cmp(b.0));
    put_len(out, names.len());
    for (tag, name) in names {
        put_str(out, tag);
        put_str(out, name);
    }
    put_opt(out, item.description.as_ref(), |out, d| put_str(out, d));
    // A BTreeMap of Strings iterates in byte order of its keys.
    put_len(out, item.attributes.len());
    for (key, value) in &item.attributes {
        put_str(out, key);
        put_value(out, value);
    }
    put_opt(out, item.valid_from.as_ref(), |out, d| {
        put_str(out, &d.to_string())
    });
    put_opt(out, item.valid_to.as_ref(), |out, d| {
        put_str(out, &d.to_string())
    });
    put_u8(
        out,
        match item.status {
            ItemStatus::Active => 1,
            ItemStatus::Deprecated => 2,
        },
    );
    put_len(out, item.successors.len());
    for s in &item.successors {
        put_str(out, s.as_str());
    }
}

fn put_value(out: &mut Vec<u8>, value: &AttributeValue) {
    match value {
        AttributeValue::String(s) => {
            put_u8(out, 1);
            put_str(out, s);
        }
        AttributeValue::Integer(n) => {
            put_u8(out, 2);
            out.extend_from_slice(&n.to_be_bytes());
        }
        AttributeValue::Decimal(d) => {
            put_u8(out, 3);
            put_str(out, d.as_str());
        }
        AttributeValue::Boolean(b) => {
            put_u8(out, 4);
            put_u8(out, u8::from(*b));
        }
        AttributeValue::Date(d) => {
            put_u8(out, 5);
            put_str(out, &d.to_string());
        }
        AttributeValue::CodeRef(c) => {
            put_u8(out, 6);
            put_str(out, c.as_str());
        }
    }
}

pub(super) fn put_u8(out: &mut Vec<u8>, b: u8) {
    out.push(b);
}

pub(crate) fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    // usize is at most 64 bits on every supported target.
    put_u64(out, n as u64);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt<T>(out: &mut Vec<u8>, value: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        None => put_u8(out, 0),
        Some(v) => {
            put_u8(out, 1);
            put(out, v);
        }
    }
}

/// Reads one item's canonical encoding (as [`encode_item`] writes it) back into an [`Item`].
///
/// `bytes` must hold exactly one item. Codes, language tags, dates and decimals are checked
/// again with the same parsers requests go through, and so is everything that makes the
/// encoding canonical — names and attributes in strictly ascending byte order of tag and key,
/// presence flags and booleans 0 or 1, status 1 or 2 — so that encoding the result gives
/// `bytes` back exactly. Anything else (truncation, trailing bytes, invalid UTF-8, an unknown
/// tag) is an [`Error::Internal`] starting `corrupt item encoding:`: stored bytes that do not
/// decode are a fault of the server, never of a client.
pub fn decode_item(bytes: &[u8]) -> Result<Item, Error> {
    let mut item = Item::new(Code::from_trusted(String::new()));
    visit_item(bytes, &mut item)?;
    Ok(item)
}

/// The code of an encoded item, read without decoding the rest: the `str(code)` right after
/// the leading `u8(1)`. `None` when the bytes do not start like an item or the code is not
/// UTF-8; the rest of the bytes is not looked at, so `Some` does not mean they decode.
pub fn encoded_code(bytes: &[u8]) -> Option<&str> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != 1 {
        return None;
    }
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_be_bytes(*len)).ok()?;
    std::str::from_utf8(rest.get(..len)?).ok()
}

/// An attribute value as [`visit_item`] reads it, borrowing its text from the encoding.
pub enum ValueRef<'a> {
    /// Text.
    String(&'a str),
    /// A whole number.
    Integer(i64),
    /// A decimal number.
    Decimal(Decimal),
    /// True or false.
    Boolean(bool),
    /// A calendar day.
    Date(Date),
    /// A code of another classifier.
    CodeRef(&'a str),
}

impl ValueRef<'_> {
    fn into_owned(self) -> AttributeValue {
        match self {
            ValueRef::String(s) => AttributeValue::String(s.to_string()),
            ValueRef::Integer(n) => AttributeValue::Integer(n),
            ValueRef::Decimal(d) => AttributeValue::Decimal(d),
            ValueRef::Boolean(b) => AttributeValue::Boolean(b),
            ValueRef::Date(d) => AttributeValue::Date(d),
            ValueRef::CodeRef(c) => AttributeValue::CodeRef(Code::from_trusted(c.to_string())),
        }
    }
}

/// What [`visit_item`] does with each part of an item once it has checked it: build an
/// [`Item`] ([`decode_item`]), nothing
/// ([`ContentHasher::add_encoded`](super::hash::ContentHasher::add_encoded)), or a message of
/// the API straight from the encoding (no [`Item`] in between, on the path of every lookup).
pub trait ItemParts<'a> {
    /// The item's code.
    fn code(&mut self, code: &'a str);
    /// Its parent's code.
    fn parent(&mut self, code: &'a str);
    /// One of its names, in ascending order of language tag.
    fn name(&mut self, language: Language, name: &'a str);
    /// Its description.
    fn description(&mut self, text: &'a str);
    /// One of its attributes, in ascending order of key.
    fn attribute(&mut self, key: &'a str, value: ValueRef<'a>);
    /// The first day it is valid.
    fn valid_from(&mut self, date: Date);
    /// The last day it is valid.
    fn valid_to(&mut self, date: Date);
    /// Its status.
    fn status(&mut self, status: ItemStatus);
    /// One of its successors, in order.
    fn successor(&mut self, code: &'a str);
}

impl<'a> ItemParts<'a> for Item {
    fn code(&mut self, code: &'a str) {
        self.code = Code::from_trusted(code.to_string());
    }
    fn parent(&mut self, code: &'a str) {
        self.parent = Some(Code::from_trusted(code.to_string()));
    }
    fn name(&mut self, language: Language, name: &'a str) {
        self.names.insert(language, name.to_string());
    }
    fn description(&mut self, text: &'a str) {
        self.description = Some(text.to_string());
    }
    fn attribute(&mut self, key: &'a str, value: ValueRef<'a>) {
        self.attributes.insert(key.to_string(), value.into_owned());
    }
    fn valid_from(&mut self, date: Date) {
        self.valid_from = Some(date);
    }
    fn valid_to(&mut self, date: Date) {
        self.valid_to = Some(date);
    }
    fn status(&mut self, status: ItemStatus) {
        self.status = status;
    }
    fn successor(&mut self, code: &'a str) {
        self.successors.push(Code::from_trusted(code.to_string()));
    }
}

/// Checks an encoding and keeps nothing.
pub(super) struct Check;

impl<'a> ItemParts<'a> for Check {
    fn code(&mut self, _: &'a str) {}
    fn parent(&mut self, _: &'a str) {}
    fn name(&mut self, _: Language, _: &'a str) {}
    fn description(&mut self, _: &'a str) {}
    fn attribute(&mut self, _: &'a str, _: ValueRef<'a>) {}
    fn valid_from(&mut self, _: Date) {}
    fn valid_to(&mut self, _: Date) {}
    fn status(&mut self, _: ItemStatus) {}
    fn successor(&mut self, _: &'a str) {}
}

/// Reads and checks one whole encoded item, handing its parts to `parts`; returns its code.
/// An encoding that does not decode is an error as [`decode_item`] says.
pub fn visit_item<'a>(bytes: &'a [u8], parts: &mut impl ItemParts<'a>) -> Result<&'a str, Error> {
    let mut d = Decoder { bytes, pos: 0 };
    let tag = d.u8("the item tag")?;
    if tag != 1 {
        return Err(corrupt(0, format!("the item tag is {tag}, not 1")));
    }
    let code = d.code("the code")?;
    parts.code(code);
    if d.flag("the parent flag")? {
        parts.parent(d.code("the parent")?);
    }

    let mut previous: Option<&str> = None;
    for _ in 0..d.len("the number of names")? {
        let at = d.pos;
        let tag = d.str("a language tag")?;
        let language = tag
            .parse::<Language>()
            .map_err(|()| corrupt(at, format!("unknown language tag {tag:?}")))?;
        if previous.is_some_and(|p| p >= tag) {
            return Err(corrupt(
                at,
                format!("name {tag:?} is out of order or repeated"),
            ));
        }
        previous = Some(tag);
        parts.name(language, d.str("a name")?);
    }

    if d.flag("the description flag")? {
        parts.description(d.str("the description")?);
    }

    let mut previous: Option<&str> = None;
    for _ in 0..d.len("the number of attributes")? {
        let at = d.pos;
        let key = d.str("an attribute key")?;
        if previous.is_some_and(|p| p >= key) {
            return Err(corrupt(
                at,
                format!("attribute {key:?} is out of order or repeated"),
            ));
        }
        previous = Some(key);
        let value = d.value()?;
        parts.attribute(key, value);
    }

    if d.flag("the valid_from flag")? {
        parts.valid_from(d.date("valid_from")?);
    }
    if d.flag("the valid_to flag")? {
        parts.valid_to(d.date("valid_to")?);
    }
    let at = d.pos;
    parts.status(match d.u8("the status")? {
        1 => ItemStatus::Active,
        2 => ItemStatus::Deprecated,
        other => return Err(corrupt(at, format!("unknown status {other}"))),
    });
    for _ in 0..d.len("the number of successors")? {
        parts.successor(d.code("a successor")?);
    }
    if d.pos != bytes.len() {
        return Err(corrupt(
            d.pos,
            format!("{} trailing bytes", bytes.len() - d.pos),
        ));
    }
    Ok(code)
}

fn corrupt(at: usize, what: impl std::fmt::Display) -> Error {
    Error::Internal(format!("corrupt item encoding: {what} at byte {at}"))
}

/// Reads the primitives of the encoding from a slice, refusing to read past its end.
struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        let slice = self
            .pos
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or_else(|| corrupt(self.pos, format_args!("{what} is truncated")))?;
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Error> {
        let at = self.pos;
        self.take(N, what)?
            .try_into()
            .map_err(|_| corrupt(at, format_args!("{what} is truncated")))
    }

    fn u8(&mut self, what: &str) -> Result<u8, Error> {
        self.array::<1>(what).map(|[b]| b)
    }

    fn flag(&mut self, what: &str) -> Result<bool, Error> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(corrupt(at, format_args!("{what} is {other}, not 0 or 1"))),
        }
    }

    fn len(&mut self, what: &str) -> Result<usize, Error> {
        let at = self.pos;
        let n = u64::from_be_bytes(self.array(what)?);
        usize::try_from(n).map_err(|_| corrupt(at, format_args!("{what} is too large")))
    }

    fn str(&mut self, what: &str) -> Result<&'a str, Error> {
        let at = self.pos;
        let len = self.len(what)?;
        std::str::from_utf8(self.take(len, what)?)
            .map_err(|_| corrupt(at, format_args!("{what} is not UTF-8")))
    }

    fn code(&mut self, what: &str) -> Result<&'a str, Error> {
        let at = self.pos;
        let code = self.str(what)?;
        check_code(code).map_err(|p| corrupt(at, format_args!("{what} {code:?} {p}")))?;
        Ok(code)
    }

    fn date(&mut self, what: &str) -> Result<Date, Error> {
        let at = self.pos;
        let text = self.str(what)?;
        Date::parse(text).map_err(|p| corrupt(at, format_args!("{what} {text:?} {p}")))
    }

    fn value(&mut self) -> Result<ValueRef<'a>, Error> {
        let at = self.pos;
        Ok(match self.u8("an attribute value's type")? {
            1 => ValueRef::String(self.str("a string value")?),
            2 => ValueRef::Integer(i64::from_be_bytes(self.array("an integer value")?)),
            3 => {
                let text = self.str("a decimal value")?;
                let decimal = Decimal::parse(text)
                    .map_err(|p| corrupt(at, format_args!("decimal value {text:?} {p}")))?;
                ValueRef::Decimal(decimal)
            }
            4 => ValueRef::Boolean(self.flag("a boolean value")?),
            5 => ValueRef::Date(self.date("a date value")?),
            6 => ValueRef::CodeRef(self.code("a code value")?),
            other => return Err(corrupt(at, format_args!("unknown value type {other}"))),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::classifier::hash::ContentHasher;
    use crate::classifier::item::Decimal;
    use crate::classifier::name::Code;
    use crate::text::Language;
    use crate::time::Date;

    pub(crate) fn code(s: &str) -> Code {
        Code::from_trusted(s.to_string())
    }

    pub(crate) fn full_item(c: &str) -> Item {
        Item {
            code: code(c),
            parent: Some(code("17")),
            names: BTreeMap::from([
                (Language::UzLatn, "Toshkent".to_string()),
                (Language::Ru, "Ташкент".to_string()),
            ]),
            description: Some("capital".into()),
            attributes: BTreeMap::from([
                ("a".to_string(), AttributeValue::String("x".into())),
                ("b".to_string(), AttributeValue::Integer(-2)),
                (
                    "c".to_string(),
                    AttributeValue::Decimal(Decimal::parse("1.50").unwrap()),
                ),
                ("d".to_string(), AttributeValue::Boolean(true)),
                (
                    "e".to_string(),
                    AttributeValue::Date(Date::parse("2024-02-29").unwrap()),
                ),
                ("f".to_string(), AttributeValue::CodeRef(code("100"))),
            ]),
            valid_from: Date::parse("2020-01-01").ok(),
            valid_to: Date::parse("2030-12-31").ok(),
            status: ItemStatus::Deprecated,
            successors: vec![code("1727"), code("1728")],
        }
    }

    #[test]
    fn a_minimal_item_encodes_exactly_as_documented() {
        let mut out = Vec::new();
        encode_item(&Item::new(code("7")), &mut out);
        let mut expected = vec![1u8];
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.push(b'7');
        expected.push(0); // no parent
        expected.extend_from_slice(&0u64.to_be_bytes()); // no names
        expected.push(0); // no description
        expected.extend_from_slice(&0u64.to_be_bytes()); // no attributes
        expected.push(0); // no valid_from
        expected.push(0); // no valid_to
        expected.push(1); // ACTIVE
        expected.extend_from_slice(&0u64.to_be_bytes()); // no successors
        assert_eq!(out, expected);
    }

    #[test]
    fn names_are_encoded_in_byte_order_of_their_tags() {
        let mut out = Vec::new();
        encode_item(&full_item("1726"), &mut out);
        let text = String::from_utf8_lossy(&out);
        let ru = text.find("ru").unwrap();
        let uz = text.find("uz-Latn").unwrap();
        assert!(ru < uz);
    }

    /// An item with every part set: all five names, every attribute type, both dates, a
    /// deprecated status and two successors.
    pub(crate) fn every_part(c: &str) -> Item {
        let mut item = full_item(c);
        for (i, language) in Language::ALL.into_iter().enumerate() {
            item.names.insert(language, format!("Nom {i} ʻ\u{2019}"));
        }
        item.description = Some("line 1\nline 2, \"quoted\"".into());
        item.attributes
            .insert("g".to_string(), AttributeValue::Integer(i64::MIN));
        item.attributes
            .insert("h".to_string(), AttributeValue::Boolean(false));
        item.attributes
            .insert("é".to_string(), AttributeValue::String(String::new()));
        item
    }

    pub(crate) fn round_trip_cases() -> Vec<Item> {
        vec![
            Item::new(code("7")),
            full_item("1726"),
            every_part("Ҳ1.2-x"),
            Item {
                valid_to: Date::parse("9999-12-31").ok(),
                valid_from: Date::parse("0001-01-01").ok(),
                ..Item::new(code(&"я".repeat(64)))
            },
        ]
    }

    #[test]
    fn decoding_an_encoding_gives_the_item_back() {
        for item in round_trip_cases() {
            let bytes = encoded_item(&item);
            assert_eq!(decode_item(&bytes), Ok(item.clone()));
            assert_eq!(encoded_code(&bytes), Some(item.code.as_str()));
        }
    }

    #[test]
    fn every_truncation_of_an_encoding_is_refused_without_panicking() {
        for item in round_trip_cases() {
            let bytes = encoded_item(&item);
            let code_end = 9 + item.code.as_str().len();
            for len in 0..bytes.len() {
                let prefix = &bytes[..len];
                match decode_item(prefix) {
                    Err(Error::Internal(m)) => {
                        assert!(m.starts_with("corrupt item encoding: "), "{m}")
                    }
                    other => panic!("prefix of {len} bytes decoded to {other:?}"),
                }
                assert!(ContentHasher::new().add_encoded(prefix).is_err());
                let expected = (len >= code_end).then_some(item.code.as_str());
                assert_eq!(encoded_code(prefix), expected, "prefix of {len} bytes");
            }
        }
    }

    #[test]
    fn trailing_bytes_after_an_item_are_refused() {
        let mut bytes = encoded_item(&full_item("1726"));
        bytes.push(0);
        assert!(matches!(decode_item(&bytes), Err(Error::Internal(_))));
        assert!(ContentHasher::new().add_encoded(&bytes).is_err());
        // Two items back to back are not one item either.
        let mut two = encoded_item(&Item::new(code("1")));
        two.extend(encoded_item(&Item::new(code("2"))));
        assert!(decode_item(&two).is_err());
        assert_eq!(encoded_code(&two), Some("1"));
    }

    /// The encoding of a minimal item with code `c`, with `middle` in place of everything from
    /// the parent flag up to (excluding) the status byte, and `end` after the status.
    fn hand_encoded(c: &[u8], middle: &[u8], status: u8, end: &[u8]) -> Vec<u8> {
        let mut out = vec![1u8];
        out.extend_from_slice(&(c.len() as u64).to_be_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(middle);
        out.push(status);
        out.extend_from_slice(end);
        out
    }

    fn raw_str(s: &[u8]) -> Vec<u8> {
        let mut out = (s.len() as u64).to_be_bytes().to_vec();
        out.extend_from_slice(s);
        out
    }

    /// parent flag 0, the given names, no description, the given attributes, no dates.
    fn middle(names: &[(&[u8], &[u8])], attributes: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![0u8];
        out.extend_from_slice(&(names.len() as u64).to_be_bytes());
        for (tag, name) in names {
            out.extend(raw_str(tag));
            out.extend(raw_str(name));
        }
        out.push(0);
        out.extend_from_slice(&(attributes.len() as u64).to_be_bytes());
        for (key, value) in attributes {
            out.extend(raw_str(key));
            out.extend_from_slice(value);
        }
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn hand_built_encodings_decode_as_documented() {
        let no_successors = 0u64.to_be_bytes();
        let date = |s: &[u8]| [vec![5u8], raw_str(s)].concat();
        let bytes = hand_encoded(
            b"A1",
            &middle(
                &[(b"en", b"One"), (b"uz-Latn", b"Bir")],
                &[
                    (b"d", date(b"2024-02-29")),
                    (b"n", {
                        let mut v = vec![2u8];
                        v.extend_from_slice(&(-3i64).to_be_bytes());
                        v
                    }),
                ],
            ),
            2,
            &no_successors,
        );
        let item = decode_item(&bytes).unwrap();
        assert_eq!(item.code.as_str(), "A1");
        assert_eq!(item.names[&Language::UzLatn], "Bir");
        assert_eq!(item.attributes["n"], AttributeValue::Integer(-3));
        assert_eq!(item.status, ItemStatus::Deprecated);
        assert_eq!(encoded_item(&item), bytes);
    }

    #[test]
    fn non_canonical_or_invalid_encodings_are_refused() {
        let none = 0u64.to_be_bytes();
        let ok_middle = middle(&[], &[]);
        let string = |s: &[u8]| [vec![1u8], raw_str(s)].concat();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("item tag", {
                let mut b = hand_encoded(b"1", &ok_middle, 1, &none);
                b[0] = 2;
                b
            }),
            ("empty code", hand_encoded(b"", &ok_middle, 1, &none)),
            (
                "code with space",
                hand_encoded(b"a b", &ok_middle, 1, &none),
            ),
            (
                "code not UTF-8",
                hand_encoded(b"\xff", &ok_middle, 1, &none),
            ),
            ("status 0", hand_encoded(b"1", &ok_middle, 0, &none)),
            ("status 3", hand_encoded(b"1", &ok_middle, 3, &none)),
            ("parent flag 2", {
                let mut m = ok_middle.clone();
                m[0] = 2;
                hand_encoded(b"1", &m, 1, &none)
            }),
            (
                "unknown language",
                hand_encoded(b"1", &middle(&[(b"de", b"Eins")], &[]), 1, &none),
            ),
            (
                "language tag in another case",
                hand_encoded(b"1", &middle(&[(b"uz-latn", b"Bir")], &[]), 1, &none),
            ),
            (
                "names out of order",
                hand_encoded(
                    b"1",
                    &middle(&[(b"ru", b"Odin"), (b"en", b"One")], &[]),
                    1,
                    &none,
                ),
            ),
            (
                "name repeated",
                hand_encoded(
                    b"1",
                    &middle(&[(b"en", b"a"), (b"en", b"b")], &[]),
                    1,
                    &none,
                ),
            ),
            (
                "name not UTF-8",
                hand_encoded(b"1", &middle(&[(b"en", b"\xc3")], &[]), 1, &none),
            ),
            (
                "attributes out of order",
                hand_encoded(
                    b"1",
                    &middle(&[], &[(b"b", string(b"")), (b"a", string(b""))]),
                    1,
                    &none,
                ),
            ),
            (
                "attribute repeated",
                hand_encoded(
                    b"1",
                    &middle(&[], &[(b"a", string(b"")), (b"a", string(b""))]),
                    1,
                    &none,
                ),
            ),
            (
                "unknown value type",
                hand_encoded(b"1", &middle(&[], &[(b"a", vec![7, 0])]), 1, &none),
            ),
            (
                "boolean 2",
                hand_encoded(b"1", &middle(&[], &[(b"a", vec![4, 2])]), 1, &none),
            ),
            (
                "bad decimal",
                hand_encoded(
                    b"1",
                    &middle(&[], &[(b"a", [vec![3u8], raw_str(b"01")].concat())]),
                    1,
                    &none,
                ),
            ),
            (
                "bad date value",
                hand_encoded(
                    b"1",
                    &middle(&[], &[(b"a", [vec![5u8], raw_str(b"2023-02-29")].concat())]),
                    1,
                    &none,
                ),
            ),
            (
                "bad code value",
                hand_encoded(
                    b"1",
                    &middle(&[], &[(b"a", [vec![6u8], raw_str(b"a/b")].concat())]),
                    1,
                    &none,
                ),
            ),
            ("bad valid_from", {
                let mut m = ok_middle.clone();
                m.truncate(m.len() - 2);
                m.push(1);
                m.extend(raw_str(b"2024-1-01"));
                m.push(0);
                hand_encoded(b"1", &m, 1, &none)
            }),
            ("bad successor", {
                let mut end = 1u64.to_be_bytes().to_vec();
                end.extend(raw_str(b"x y"));
                hand_encoded(b"1", &ok_middle, 1, &end)
            }),
            ("huge count", {
                hand_encoded(b"1", &ok_middle, 1, &u64::MAX.to_be_bytes())
            }),
            ("huge string length", {
                let mut m = ok_middle.clone();
                m[0] = 1;
                m.splice(1..1, u64::MAX.to_be_bytes());
                hand_encoded(b"1", &m, 1, &none)
            }),
        ];
        assert!(decode_item(&hand_encoded(b"1", &ok_middle, 1, &none)).is_ok());
        for (what, bytes) in cases {
            match decode_item(&bytes) {
                Err(Error::Internal(m)) => {
                    assert!(m.starts_with("corrupt item encoding: "), "{what}: {m}")
                }
                other => panic!("{what}: decoded to {other:?}"),
            }
            assert!(ContentHasher::new().add_encoded(&bytes).is_err(), "{what}");
        }
    }

    #[test]
    fn encoded_code_reads_only_the_code_and_refuses_what_is_not_an_item() {
        assert_eq!(encoded_code(&[]), None);
        assert_eq!(encoded_code(&[0]), None);
        let item = full_item("1726");
        let mut bytes = encoded_item(&item);
        // Damage after the code does not matter to encoded_code.
        let last = bytes.len() - 1;
        bytes[last] = 0xff;
        assert_eq!(encoded_code(&bytes), Some("1726"));
        bytes[0] = 2;
        assert_eq!(encoded_code(&bytes), None);
        let mut huge = vec![1u8];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(encoded_code(&huge), None);
        assert_eq!(encoded_code(&hand_encoded(b"\xff", &[], 1, &[])), None);
    }

    #[test]
    fn changing_any_single_byte_either_fails_to_decode_or_decodes_canonically() {
        for item in round_trip_cases() {
            let bytes = encoded_item(&item);
            for i in 0..bytes.len() {
                for b in [0u8, 1, 2, 7, 0x80, 0xff, bytes[i].wrapping_add(1)] {
                    let mut changed = bytes.clone();
                    changed[i] = b;
                    if let Ok(decoded) = decode_item(&changed) {
                        assert_eq!(encoded_item(&decoded), changed, "byte {i} set to {b}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::classifier::hash::{ContentHasher, content_hash};
    use crate::text::Language;

    fn code() -> impl Strategy<Value = Code> {
        "[0-9A-Za-zҲя._-]{1,10}".prop_map(Code::from_trusted)
    }

    fn date() -> impl Strategy<Value = Date> {
        (1u16..=9999, 1u8..=12, 1u8..=31)
            .prop_filter_map("no such day", |(y, m, d)| Date::new(y, m, d))
    }

    fn value() -> impl Strategy<Value = AttributeValue> {
        prop_oneof![
            any::<String>().prop_map(AttributeValue::String),
            any::<i64>().prop_map(AttributeValue::Integer),
            "-?(0|[1-9][0-9]{0,8})(\\.[0-9]{1,4})?"
                .prop_filter_map("negative zero", |t| Decimal::parse(&t).ok())
                .prop_map(AttributeValue::Decimal),
            any::<bool>().prop_map(AttributeValue::Boolean),
            date().prop_map(AttributeValue::Date),
            code().prop_map(AttributeValue::CodeRef),
        ]
    }

    fn item() -> impl Strategy<Value = Item> {
        (
            code(),
            proptest::option::of(code()),
            proptest::collection::btree_map(
                proptest::sample::select(Language::ALL.to_vec()),
                any::<String>(),
                0..6,
            ),
            proptest::option::of(any::<String>()),
            proptest::collection::btree_map(any::<String>(), value(), 0..6),
            proptest::option::of(date()),
            proptest::option::of(date()),
            proptest::sample::select(ItemStatus::ALL.to_vec()),
            proptest::collection::vec(code(), 0..4),
        )
            .prop_map(
                |(code, parent, names, description, attributes, from, to, status, successors)| {
                    Item {
                        code,
                        parent,
                        names,
                        description,
                        attributes,
                        valid_from: from,
                        valid_to: to,
                        status,
                        successors,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_items_round_trip_through_their_encoding(item in item()) {
            let bytes = encoded_item(&item);
            prop_assert_eq!(encoded_code(&bytes), Some(item.code.as_str()));
            prop_assert_eq!(decode_item(&bytes), Ok(item.clone()));
            let mut from_bytes = ContentHasher::new();
            from_bytes.add_encoded(&bytes)?;
            prop_assert_eq!(from_bytes.finish(), content_hash(std::slice::from_ref(&item)));
        }

        #[test]
        fn random_bytes_never_panic_and_decode_only_canonically(
            item in item(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = encoded_item(&item);
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let _ = encoded_code(&bytes);
            if let Ok(decoded) = decode_item(&bytes) {
                prop_assert_eq!(encoded_item(&decoded), bytes);
            }
        }
    }
}
