//! Paging for List methods (AIP-158): page sizes, `order_by`, and page tokens.
//!
//! Every list is ordered by a keyset, the requested sort fields followed by the resource name,
//! which is unique. A page token carries the sort key of the last item returned, so the next
//! page starts strictly after it: items inserted or deleted between pages never make the walk
//! repeat or skip an item that existed throughout, and page 1,000 costs what page 1 costs.
//!
//! A token is opaque to clients: `base64url(json payload ‖ HMAC-SHA256(payload)[..16])`, keyed
//! with a secret kept in the database, so that any server of the register accepts a token any
//! other issued and a token that was altered is refused. The payload also carries a fingerprint
//! of the query (filter, order, `show_deleted`, parent) so that a token cannot be replayed with
//! a different query.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::FieldViolation;

/// Page size used when the request asks for 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page returned; larger requests are served this many items.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Interprets the request's `page_size`: 0 is the default, values above the maximum are
/// coerced to it, negative values are refused.
pub fn page_size(raw: i32) -> Result<u64, FieldViolation> {
    match raw {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(FieldViolation::new("page_size", "must not be negative")),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

/// One field of the sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The field, one of those the resource allows.
    pub field: &'static str,
    /// Descending instead of ascending.
    pub descending: bool,
}

/// Parses `order_by` (AIP-132): comma-separated fields from `allowed`, each optionally followed
/// by `desc` (or `asc`). `tie_breaker` (the unique resource-name field) is appended when it is
/// not named, so the order is total. Empty means `tie_breaker` ascending.
pub fn parse_order_by(
    raw: &str,
    allowed: &[&'static str],
    tie_breaker: &'static str,
) -> Result<Vec<SortKey>, FieldViolation> {
    let mut keys: Vec<SortKey> = Vec::new();
    if !raw.trim().is_empty() {
        for part in raw.split(',') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let (name, descending) = match words.as_slice() {
                [name] => (*name, false),
                [name, dir] if dir.eq_ignore_ascii_case("desc") => (*name, true),
                [name, dir] if dir.eq_ignore_ascii_case("asc") => (*name, false),
                _ => {
                    return Err(FieldViolation::new(
                        "order_by",
                        format!("{:?} is not `field` or `field desc`", part.trim()),
                    ));
                }
            };
            let Some(field) = allowed.iter().find(|a| **a == name) else {
                return Err(FieldViolation::new(
                    "order_by",
                    format!("cannot order by {name:?}; allowed: {}", allowed.join(", ")),
                ));
            };
            if keys.iter().any(|k| k.field == *field) {
                return Err(FieldViolation::new(
                    "order_by",
                    format!("{name:?} is named twice"),
                ));
            }
            keys.push(SortKey { field, descending });
        }
    }
    if !keys.iter().any(|k| k.field == tie_breaker) {
        keys.push(SortKey {
            field: tie_breaker,
            descending: false,
        });
    }
    Ok(keys)
}

/// One component of a keyset position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyValue {
    /// An integer column (timestamps, counters).
    Int(i64),
    /// A text column.
    Text(String),
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Query fingerprint.
    q: String,
    /// Sort key of the last item of the previous page.
    k: Vec<KeyValue>,
}

const MAC_LEN: usize = 16;

/// Signs and checks page tokens with the register's secret.
#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

/// Identifies a query for the page-token check: every request field except `page_size` and
/// `page_token`, in a fixed order.
pub fn query_fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    hex::encode(&digest[..12])
}

impl PageTokens {
    /// A signer with the given secret key (at least 32 bytes).
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(payload);
        mac
    }

    /// The token for the page after the item whose sort key is `last`.
    pub fn encode(&self, fingerprint: &str, last: Vec<KeyValue>) -> String {
        let payload = Payload {
            q: fingerprint.to_string(),
            k: last,
        };
        let mut bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Checks a token from a request and returns the position it carries; `Ok(None)` for an
    /// empty token (the first page). `arity` is the number of sort-key components the query
    /// uses.
    pub fn decode(
        &self,
        token: &str,
        fingerprint: &str,
        arity: usize,
    ) -> Result<Option<Vec<KeyValue>>, FieldViolation> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid =
            || FieldViolation::new("page_token", "is not a page token this server issued");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if bytes.len() <= MAC_LEN {
            return Err(invalid());
        }
        let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        self.mac(payload)
            .verify_truncated_left(tag)
            .map_err(|_| invalid())?;
        let payload: Payload = serde_json::from_slice(payload).map_err(|_| invalid())?;
        if payload.q != fingerprint {
            return Err(FieldViolation::new(
                "page_token",
                "was issued for a different filter, order_by or show_deleted; only page_size may change between pages",
            ));
        }
        if payload.k.len() != arity {
            return Err(invalid());
        }
        Ok(Some(payload.k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_coerces_and_refuses_negative() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(7), Ok(7));
        assert_eq!(page_size(1_000_000), Ok(MAX_PAGE_SIZE));
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn order_by_appends_the_tie_breaker_and_reads_directions() {
        let keys = parse_order_by(
            "create_time desc, tin",
            &["name", "tin", "create_time"],
            "name",
        )
        .unwrap();
        assert_eq!(
            keys,
            [
                SortKey {
                    field: "create_time",
                    descending: true
                },
                SortKey {
                    field: "tin",
                    descending: false
                },
                SortKey {
                    field: "name",
                    descending: false
                },
            ]
        );
        assert_eq!(parse_order_by("", &["name"], "name").unwrap().len(), 1);
        assert_eq!(
            parse_order_by("name desc", &["name"], "name").unwrap(),
            [SortKey {
                field: "name",
                descending: true
            }]
        );
    }

    #[test]
    fn order_by_refuses_unknown_duplicate_and_malformed_fields() {
        let allowed = ["name", "tin"];
        assert!(parse_order_by("secret", &allowed, "name").is_err());
        assert!(parse_order_by("tin, tin desc", &allowed, "name").is_err());
        assert!(parse_order_by("tin sideways", &allowed, "name").is_err());
        assert!(parse_order_by("tin,", &allowed, "name").is_err());
    }

    #[test]
    fn tokens_round_trip_and_tampering_is_detected() {
        let tokens = PageTokens::new(vec![7; 32]);
        let fp = query_fingerprint(&["organizations", "kind = OTHER", "name", "false"]);
        let key = vec![KeyValue::Int(42), KeyValue::Text("stat".into())];
        let token = tokens.encode(&fp, key.clone());
        assert_eq!(tokens.decode(&token, &fp, 2), Ok(Some(key)));
        assert_eq!(tokens.decode("", &fp, 2), Ok(None));

        let mut chars: Vec<char> = token.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(tokens.decode(&tampered, &fp, 2).is_err());
        assert!(tokens.decode("not a token!", &fp, 2).is_err());
        assert!(PageTokens::new(vec![8; 32]).decode(&token, &fp, 2).is_err());
    }

    #[test]
    fn a_token_is_refused_for_a_different_query() {
        let tokens = PageTokens::new(vec![1; 32]);
        let a = query_fingerprint(&["organizations", "kind = OTHER"]);
        let b = query_fingerprint(&["organizations", "kind = STATE_BODY"]);
        let token = tokens.encode(&a, vec![KeyValue::Text("x".into())]);
        let err = tokens.decode(&token, &b, 1).unwrap_err();
        assert!(err.description.contains("different filter"));
    }

    #[test]
    fn fingerprint_separates_parts_unambiguously() {
        assert_ne!(
            query_fingerprint(&["ab", "c"]),
            query_fingerprint(&["a", "bc"])
        );
    }
}
