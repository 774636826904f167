//! The content hash of a published version: lowercase hex SHA-256 over a canonical encoding of
//! its items.
//!
//! The hash certifies the items alone. The classifier's requirements are mutable metadata and
//! stay out of it, and so do the version's id and times: two versions with the same items
//! have the same hash, which tells a reader at a glance that nothing changed between them.
//! Attribute values carry their type in the encoding, so the hash does not depend on the
//! schema to be read.
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
//! The content is
//!
//! ```text
//! str("reestr.classifier.content.v1")
//! item*                 one per item, in ascending byte order of code
//! u8(0) u64(number of items)
//! ```
//!
//! and each item is
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
//! contents never encode to the same bytes. "Ascending byte order" compares the UTF-8 bytes
//! (equivalently, Unicode code points): a store streaming items into [`ContentHasher`] must
//! sort them that way — SQLite's default `BINARY` collation does; PostgreSQL needs
//! `ORDER BY code COLLATE "C"`.

use sha2::{Digest, Sha256};

use crate::error::Error;

use super::item::{AttributeValue, Item, ItemStatus};

/// The first field of the encoding; a new encoding will change it.
pub const ENCODING_TAG: &str = "reestr.classifier.content.v1";

/// Bytes buffered before they are fed to SHA-256.
const BUFFER_BYTES: usize = 64 * 1024;

/// Computes a content hash from items given one at a time in ascending order of code, so that
/// a million-item version is hashed without holding it in memory.
pub struct ContentHasher {
    sha: Sha256,
    buffer: Vec<u8>,
    count: u64,
    last_code: Option<String>,
}

impl Default for ContentHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl ContentHasher {
    /// A hasher with no items yet.
    pub fn new() -> Self {
        let mut buffer = Vec::with_capacity(BUFFER_BYTES);
        put_str(&mut buffer, ENCODING_TAG);
        Self {
            sha: Sha256::new(),
            buffer,
            count: 0,
            last_code: None,
        }
    }

    /// Adds the next item. Its code must come strictly after the previous item's in byte
    /// order; otherwise the items were read in the wrong order (or a code repeats), which is a
    /// fault of the caller: [`Error::Internal`].
    pub fn add(&mut self, item: &Item) -> Result<(), Error> {
        let code = item.code.as_str();
        if let Some(last) = &self.last_code
            && last.as_str() >= code
        {
            return Err(Error::Internal(format!(
                "content hash: item {code:?} came after {last:?}; items must be in ascending byte order of code"
            )));
        }
        match &mut self.last_code {
            Some(last) => {
                last.clear();
                last.push_str(code);
            }
            None => self.last_code = Some(code.to_string()),
        }
        self.push(item);
        Ok(())
    }

    fn push(&mut self, item: &Item) {
        encode_item(item, &mut self.buffer);
        self.count += 1;
        if self.buffer.len() >= BUFFER_BYTES {
            self.sha.update(&self.buffer);
            self.buffer.clear();
        }
    }

    /// The hash: 64 lowercase hex digits.
    pub fn finish(mut self) -> String {
        put_u8(&mut self.buffer, 0);
        put_u64(&mut self.buffer, self.count);
        self.sha.update(&self.buffer);
        hex(&self.sha.finalize())
    }
}

/// The content hash of `items`, in any order (see the [module documentation](self)).
///
/// Published versions have unique codes; should a code repeat, the items with that code are
/// ordered by their encodings, so the hash still does not depend on the input order.
pub fn content_hash(items: &[Item]) -> String {
    let mut sorted: Vec<&Item> = items.iter().collect();
    sorted.sort_by(|a, b| {
        a.code
            .cmp(&b.code)
            .then_with(|| encoded(a).cmp(&encoded(b)))
    });
    let mut hasher = ContentHasher::new();
    for item in sorted {
        hasher.push(item);
    }
    hasher.finish()
}

fn encoded(item: &Item) -> Vec<u8> {
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

fn put_u8(out: &mut Vec<u8>, b: u8) {
    out.push(b);
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    // usize is at most 64 bits on every supported target.
    put_u64(out, n as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
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

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::classifier::date::Date;
    use crate::classifier::item::Decimal;
    use crate::classifier::name::Code;
    use crate::text::Language;

    fn code(s: &str) -> Code {
        Code::from_trusted(s.to_string())
    }

    fn full_item(c: &str) -> Item {
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
    fn the_hash_is_64_lowercase_hex_digits_and_empty_content_is_fixed() {
        let h = content_hash(&[]);
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        // The empty content is str(tag) u8(0) u64(0); computed independently here.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(ENCODING_TAG.len() as u64).to_be_bytes());
        bytes.extend_from_slice(ENCODING_TAG.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&0u64.to_be_bytes());
        assert_eq!(h, hex(&Sha256::digest(&bytes)));
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

    #[test]
    fn the_hash_does_not_depend_on_item_order() {
        let items = vec![full_item("1726"), Item::new(code("01")), full_item("1703")];
        let mut reversed = items.clone();
        reversed.reverse();
        assert_eq!(content_hash(&items), content_hash(&reversed));
        let dup = vec![full_item("1"), Item::new(code("1"))];
        let dup_rev = vec![Item::new(code("1")), full_item("1")];
        assert_eq!(content_hash(&dup), content_hash(&dup_rev));
    }

    #[test]
    fn the_hash_changes_with_any_field() {
        let base = full_item("1726");
        let h = |item: Item| content_hash(&[item, Item::new(code("01"))]);
        let original = h(base.clone());
        let variants: Vec<(&str, Item)> = vec![
            (
                "code",
                Item {
                    code: code("1727"),
                    ..base.clone()
                },
            ),
            (
                "parent",
                Item {
                    parent: None,
                    ..base.clone()
                },
            ),
            (
                "parent value",
                Item {
                    parent: Some(code("18")),
                    ..base.clone()
                },
            ),
            ("names", {
                let mut i = base.clone();
                i.names.insert(Language::En, "Tashkent".into());
                i
            }),
            ("name text", {
                let mut i = base.clone();
                i.names.insert(Language::Ru, "Ташкенд".into());
                i
            }),
            (
                "description",
                Item {
                    description: None,
                    ..base.clone()
                },
            ),
            ("attribute value", {
                let mut i = base.clone();
                i.attributes.insert("b".into(), AttributeValue::Integer(2));
                i
            }),
            ("attribute type", {
                let mut i = base.clone();
                i.attributes
                    .insert("a".into(), AttributeValue::CodeRef(code("x")));
                i
            }),
            ("decimal as written", {
                let mut i = base.clone();
                i.attributes.insert(
                    "c".into(),
                    AttributeValue::Decimal(Decimal::parse("1.5").unwrap()),
                );
                i
            }),
            ("attribute removed", {
                let mut i = base.clone();
                i.attributes.remove("d");
                i
            }),
            (
                "valid_from",
                Item {
                    valid_from: None,
                    ..base.clone()
                },
            ),
            (
                "valid_to",
                Item {
                    valid_to: Date::parse("2030-12-30").ok(),
                    ..base.clone()
                },
            ),
            (
                "status",
                Item {
                    status: ItemStatus::Active,
                    ..base.clone()
                },
            ),
            ("successor order", {
                let mut i = base.clone();
                i.successors.reverse();
                i
            }),
            (
                "successors",
                Item {
                    successors: vec![code("1727")],
                    ..base.clone()
                },
            ),
        ];
        let mut seen = std::collections::BTreeSet::from([original.clone()]);
        for (what, item) in variants {
            let changed = h(item);
            assert_ne!(changed, original, "{what}");
            assert!(seen.insert(changed), "{what} collides with another variant");
        }
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        let a = Item {
            description: Some("ab".into()),
            ..Item::new(code("1"))
        };
        let mut b = Item::new(code("1"));
        b.attributes
            .insert("ab".into(), AttributeValue::String(String::new()));
        assert_ne!(content_hash(&[a]), content_hash(&[b]));
        let one = vec![Item::new(code("12"))];
        let two = vec![Item::new(code("1")), Item::new(code("2"))];
        assert_ne!(content_hash(&one), content_hash(&two));
    }

    #[test]
    fn streaming_equals_the_slice_hash_and_refuses_disorder() {
        let items = vec![Item::new(code("2")), full_item("10"), Item::new(code("1"))];
        let mut sorted = items.clone();
        sorted.sort_by(|a, b| a.code.cmp(&b.code));
        let mut hasher = ContentHasher::new();
        for item in &sorted {
            hasher.add(item).unwrap();
        }
        assert_eq!(hasher.finish(), content_hash(&items));
        let mut out_of_order = ContentHasher::new();
        out_of_order.add(&Item::new(code("2"))).unwrap();
        assert!(matches!(
            out_of_order.add(&Item::new(code("10"))),
            Err(Error::Internal(_))
        ));
        assert!(out_of_order.add(&Item::new(code("2"))).is_err());
    }

    #[test]
    fn streaming_many_items_crosses_the_buffer_boundary_consistently() {
        let items: Vec<Item> = (0..5_000).map(|i| full_item(&format!("{i:06}"))).collect();
        let mut hasher = ContentHasher::new();
        for item in &items {
            hasher.add(item).unwrap();
        }
        assert_eq!(hasher.finish(), content_hash(&items));
    }
}
