//! The content hash of a published version: lowercase hex SHA-256 over a canonical encoding of
//! its items.
//!
//! The hash certifies the items alone. The classifier's requirements are mutable metadata and
//! stay out of it, and so do the version's id and times: two versions with the same items
//! have the same hash, which tells a reader at a glance that nothing changed between them.
//! Attribute values carry their type in the encoding, so the hash does not depend on the
//! schema to be read.
//!
//! # Content (version 1)
//!
//! In the notation of the item encoding ([`super::codec`]), the content is
//!
//! ```text
//! str("reestr.classifier.content.v1")
//! item*                 one per item, in ascending byte order of code
//! u8(0) u64(number of items)
//! ```
//!
//! where each `item` is an item's canonical encoding. "Ascending byte order" compares the
//! UTF-8 bytes (equivalently, Unicode code points): a store streaming items into
//! [`ContentHasher`] must sort them that way — SQLite's default `BINARY` collation does;
//! PostgreSQL needs `ORDER BY code COLLATE "C"`. [`ContentHasher::add_encoded`] hashes stored
//! encodings as they are, after checking them as [`decode_item`](super::codec::decode_item)
//! does.

use sha2::{Digest, Sha256};

use super::codec::{Check, encode_item, encoded_item, put_str, put_u8, put_u64, visit_item};
use super::item::Item;
use crate::error::Error;

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
        self.advance(item.code.as_str())?;
        self.push(item);
        Ok(())
    }

    /// Adds the next item given as its encoding (as [`encode_item`] writes it, e.g. read back
    /// from the store): the same hash as [`ContentHasher::add`] of the decoded item, without
    /// decoding it into an [`Item`].
    ///
    /// The bytes are checked exactly as [`decode_item`](super::codec::decode_item) checks them, so that only canonical
    /// encodings enter the hash; corrupt bytes, like a code out of order, are an
    /// [`Error::Internal`] and add nothing.
    pub fn add_encoded(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let code = visit_item(bytes, &mut Check)?;
        self.advance(code)?;
        self.buffer.extend_from_slice(bytes);
        self.count_and_flush();
        Ok(())
    }

    /// Checks that `code` comes strictly after the previous item's code and remembers it.
    fn advance(&mut self, code: &str) -> Result<(), Error> {
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
        Ok(())
    }

    fn push(&mut self, item: &Item) {
        encode_item(item, &mut self.buffer);
        self.count_and_flush();
    }

    fn count_and_flush(&mut self) {
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
        hex::encode(self.sha.finalize())
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
            .then_with(|| encoded_item(a).cmp(&encoded_item(b)))
    });
    let mut hasher = ContentHasher::new();
    for item in sorted {
        hasher.push(item);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::codec::encoded_item;
    use crate::classifier::codec::tests::{code, every_part, full_item, round_trip_cases};
    use crate::classifier::item::{AttributeValue, Decimal, ItemStatus};
    use crate::text::Language;
    use crate::time::Date;

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
        assert_eq!(h, hex::encode(Sha256::digest(&bytes)));
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
    fn hashing_encodings_equals_hashing_items_and_refuses_disorder() {
        let mut items = round_trip_cases();
        items.push(every_part("1727"));
        items.sort_by(|a, b| a.code.cmp(&b.code));
        let mut from_items = ContentHasher::new();
        let mut from_bytes = ContentHasher::new();
        let mut mixed = ContentHasher::new();
        for (i, item) in items.iter().enumerate() {
            from_items.add(item).unwrap();
            from_bytes.add_encoded(&encoded_item(item)).unwrap();
            if i % 2 == 0 {
                mixed.add(item).unwrap();
            } else {
                mixed.add_encoded(&encoded_item(item)).unwrap();
            }
        }
        let expected = content_hash(&items);
        assert_eq!(from_items.finish(), expected);
        assert_eq!(from_bytes.finish(), expected);
        assert_eq!(mixed.finish(), expected);

        let mut out_of_order = ContentHasher::new();
        out_of_order
            .add_encoded(&encoded_item(&Item::new(code("2"))))
            .unwrap();
        let ten = encoded_item(&Item::new(code("10")));
        assert!(matches!(
            out_of_order.add_encoded(&ten),
            Err(Error::Internal(_))
        ));
        assert!(out_of_order.add(&Item::new(code("2"))).is_err());
        // A refused item adds nothing: the hash is that of the one accepted item.
        assert_eq!(out_of_order.finish(), content_hash(&[Item::new(code("2"))]));
    }

    #[test]
    fn corrupt_bytes_are_refused_by_the_hasher_without_changing_it() {
        let mut hasher = ContentHasher::new();
        hasher.add(&Item::new(code("1"))).unwrap();
        let mut bad = encoded_item(&Item::new(code("2")));
        bad.push(9);
        assert!(hasher.add_encoded(&bad).is_err());
        // "2" was not remembered as the last code: it may still come next.
        hasher
            .add_encoded(&encoded_item(&Item::new(code("2"))))
            .unwrap();
        assert_eq!(
            hasher.finish(),
            content_hash(&[Item::new(code("1")), Item::new(code("2"))])
        );
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
