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

use std::cmp::Ordering;

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
        n => Ok(u64::from(n.unsigned_abs()).min(MAX_PAGE_SIZE)),
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

impl KeyValue {
    /// What the value holds.
    pub fn kind(&self) -> KeyKind {
        match self {
            KeyValue::Int(_) => KeyKind::Int,
            KeyValue::Text(_) => KeyKind::Text,
        }
    }
}

/// What one component of a keyset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Integers ([`KeyValue::Int`]).
    Int,
    /// Text ([`KeyValue::Text`]), compared byte by byte.
    Text,
}

/// One component of the keyset a list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageKey<C> {
    /// What the component is: a column for a list read from the database, a field name for
    /// one paged in memory.
    pub key: C,
    /// What it holds.
    pub kind: KeyKind,
    /// Descending instead of ascending.
    pub descending: bool,
}

impl<C> PageKey<C> {
    /// An ascending key.
    pub fn asc(key: C, kind: KeyKind) -> Self {
        Self {
            key,
            kind,
            descending: false,
        }
    }

    /// A descending key.
    pub fn desc(key: C, kind: KeyKind) -> Self {
        Self {
            key,
            kind,
            descending: true,
        }
    }
}

/// A List request once it is validated: the one query type every List of the register hands
/// to the store. `selection` is what the resource selects by (a typed AIP-160 filter, a parent,
/// or both); the rest is the same for every list. Built by the API's `list::query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery<S> {
    /// What the resource selects by: its typed filter, its parent.
    pub selection: S,
    /// Sort keys, ending with the resource's unique key (see [`parse_order_by`]).
    pub order_by: Vec<SortKey>,
    /// Include soft-deleted (or revoked) resources.
    pub show_deleted: bool,
    /// Page size, already checked by [`page_size`].
    pub page_size: u64,
    /// The request's `page_token`.
    pub page_token: String,
    /// The query's fingerprint, see [`query_fingerprint`].
    pub fingerprint: String,
}

impl<S> ListQuery<S> {
    /// The page request of this query over `keys` (the list's keyset).
    pub fn page<C>(&self, keys: Vec<PageKey<C>>) -> PageQuery<'_, C> {
        PageQuery {
            keys,
            size: self.page_size,
            token: &self.page_token,
            fingerprint: &self.fingerprint,
        }
    }

    /// The same query with pages of `page_size` items.
    pub fn sized(&self, page_size: u64) -> Self
    where
        S: Clone,
    {
        Self {
            page_size,
            ..self.clone()
        }
    }
}

/// One page request of a List method, the same for every list whether it is read from the
/// database or from memory: the keyset the list is ordered by (unique, so the order is
/// total), the page size, the request's page token and the fingerprint of the query that
/// token must have been issued for.
///
/// The rule is the same everywhere: a page holds the first `size` items that sort strictly
/// after the position the token carries, one item more is read to learn whether another page
/// follows, and the next token carries the position of the page's last item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery<'a, C> {
    /// The keyset, most significant first.
    pub keys: Vec<PageKey<C>>,
    /// Page size, already checked by [`page_size`].
    pub size: u64,
    /// The request's `page_token`, empty for the first page.
    pub token: &'a str,
    /// The query's fingerprint, see [`query_fingerprint`].
    pub fingerprint: &'a str,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The page's items, in the list's order.
    pub items: Vec<T>,
    /// The token of the next page, empty after the last one.
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// The page with each item converted by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_page_token: self.next_page_token,
        }
    }
}

impl<C> PageQuery<'_, C> {
    /// The position this page starts after, `None` for the first page. Refuses (on
    /// `page_token`) a token that was altered, that another query was given, or whose
    /// position does not fit this keyset.
    pub fn start(&self, tokens: &PageTokens) -> Result<Option<Vec<KeyValue>>, FieldViolation> {
        let start = tokens.decode(self.token, self.fingerprint, self.keys.len())?;
        if let Some(position) = &start {
            let fits = position
                .iter()
                .zip(&self.keys)
                .all(|(v, k)| v.kind() == k.kind);
            if !fits {
                return Err(FieldViolation::new(
                    "page_token",
                    "does not match this query",
                ));
            }
        }
        Ok(start)
    }

    /// How many rows to read for this page: one more than it holds, to learn whether another
    /// page follows.
    pub fn limit(&self) -> u64 {
        self.size.saturating_add(1)
    }

    /// How positions `a` and `b` sort under this keyset.
    pub fn compare(&self, a: &[KeyValue], b: &[KeyValue]) -> Ordering {
        for ((x, y), k) in a.iter().zip(b).zip(&self.keys) {
            let order = match (x, y) {
                (KeyValue::Int(x), KeyValue::Int(y)) => x.cmp(y),
                (KeyValue::Text(x), KeyValue::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
                (KeyValue::Int(_), KeyValue::Text(_)) => Ordering::Less,
                (KeyValue::Text(_), KeyValue::Int(_)) => Ordering::Greater,
            };
            let order = if k.descending { order.reverse() } else { order };
            if order != Ordering::Equal {
                return order;
            }
        }
        a.len().cmp(&b.len())
    }

    /// Makes the page from `rows`, the rows after [`start`](Self::start) in keyset order and
    /// at most [`limit`](Self::limit) of them: keeps `size` and, if there were more, issues
    /// the token continuing after the last one kept. `position` gives a row's keyset values.
    pub fn finish<T>(
        &self,
        tokens: &PageTokens,
        mut rows: Vec<T>,
        position: impl Fn(&T) -> Vec<KeyValue>,
    ) -> Page<T> {
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        let more = rows.len() > size;
        rows.truncate(size);
        let next_page_token = match rows.last() {
            Some(last) if more => tokens.encode(self.fingerprint, position(last)),
            _ => String::new(),
        };
        Page {
            items: rows,
            next_page_token,
        }
    }

    /// Pages a list held in memory, the counterpart of a keyset query in the database.
    /// `seek` is given the start position and returns the rows in keyset order from any point
    /// at or before it (the whole list, or a binary search's result); of those, only rows
    /// that sort strictly after the start are taken. `position` gives a row's keyset values.
    pub fn page_sorted<T, I>(
        &self,
        tokens: &PageTokens,
        seek: impl FnOnce(Option<&[KeyValue]>) -> I,
        position: impl Fn(&T) -> Vec<KeyValue>,
    ) -> Result<Page<T>, FieldViolation>
    where
        I: IntoIterator<Item = T>,
    {
        let start = self.start(tokens)?;
        let limit = usize::try_from(self.limit()).unwrap_or(usize::MAX);
        let rows: Vec<T> = seek(start.as_deref())
            .into_iter()
            .filter(|row| {
                start
                    .as_deref()
                    .is_none_or(|s| self.compare(&position(row), s) == Ordering::Greater)
            })
            .take(limit)
            .collect();
        Ok(self.finish(tokens, rows, position))
    }
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

    fn query<'a>(token: &'a str, size: u64) -> PageQuery<'a, &'static str> {
        PageQuery {
            keys: vec![
                PageKey::desc("time", KeyKind::Int),
                PageKey::asc("name", KeyKind::Text),
            ],
            size,
            token,
            fingerprint: "fp",
        }
    }

    fn position(row: &(i64, String)) -> Vec<KeyValue> {
        vec![KeyValue::Int(row.0), KeyValue::Text(row.1.clone())]
    }

    #[test]
    fn compare_follows_each_keys_direction() {
        let q = query("", 1);
        let at = |t, n: &str| vec![KeyValue::Int(t), KeyValue::Text(n.into())];
        assert_eq!(q.compare(&at(2, "a"), &at(1, "a")), Ordering::Less);
        assert_eq!(q.compare(&at(1, "a"), &at(1, "b")), Ordering::Less);
        assert_eq!(q.compare(&at(1, "b"), &at(1, "b")), Ordering::Equal);
        // Text compares byte by byte, as the items of a version are held.
        assert_eq!(q.compare(&at(1, "Z"), &at(1, "a")), Ordering::Less);
    }

    #[test]
    fn paging_in_memory_neither_repeats_nor_skips_while_rows_come_and_go() {
        let tokens = PageTokens::new(vec![3; 32]);
        let mut rows: Vec<(i64, String)> = (0..10).map(|i| (i / 3, format!("r{i}"))).collect();
        let sorted = |rows: &[(i64, String)]| {
            let mut v = rows.to_vec();
            v.sort_by(|a, b| query("", 1).compare(&position(a), &position(b)));
            v
        };
        let original = sorted(&rows);
        let mut token = String::new();
        let mut walked = Vec::new();
        for round in 0.. {
            let q = query(&token, 3);
            let page = q.page_sorted(&tokens, |_| sorted(&rows), position).unwrap();
            assert!(page.items.len() <= 3);
            walked.extend(page.items);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
            // Between pages: a row before the position read so far, one among those still
            // to come, and one removed that was already read.
            rows.push((9, format!("new-first{round}")));
            rows.push((-1, format!("new-last{round}")));
            rows.retain(|r| r != &original[0]);
        }
        let old: Vec<&(i64, String)> = walked.iter().filter(|r| original.contains(r)).collect();
        assert_eq!(old, original.iter().collect::<Vec<_>>());
        assert!(walked.iter().all(|r| !r.1.starts_with("new-first")));
        let new_last = walked
            .iter()
            .filter(|r| r.1.starts_with("new-last"))
            .count();
        assert!(new_last > 0, "rows added after the position are read");
        let sorted_walk = sorted(&walked);
        assert_eq!(walked, sorted_walk, "in order, each once");
    }

    #[test]
    fn a_page_ends_with_a_token_only_when_more_rows_follow() {
        let tokens = PageTokens::new(vec![3; 32]);
        let rows: Vec<(i64, String)> = vec![(2, "a".into()), (1, "a".into())];
        let full = query("", 2)
            .page_sorted(&tokens, |_| rows.clone(), position)
            .unwrap();
        assert_eq!(full.items.len(), 2);
        assert!(full.next_page_token.is_empty());
        let first = query("", 1)
            .page_sorted(&tokens, |_| rows.clone(), position)
            .unwrap();
        assert_eq!(first.items, [(2, "a".to_string())]);
        let second = query(&first.next_page_token, 1)
            .page_sorted(&tokens, |_| rows.clone(), position)
            .unwrap();
        assert_eq!(second.items, [(1, "a".to_string())]);
        assert!(second.next_page_token.is_empty());
    }

    #[test]
    fn a_token_whose_position_does_not_fit_the_keyset_is_refused() {
        let tokens = PageTokens::new(vec![3; 32]);
        let swapped = tokens.encode("fp", vec![KeyValue::Text("a".into()), KeyValue::Int(1)]);
        let short = tokens.encode("fp", vec![KeyValue::Int(1)]);
        for token in [swapped, short, "garbage".to_string()] {
            let err = query(&token, 1).start(&tokens).unwrap_err();
            assert_eq!(err.field, "page_token");
        }
        let other = tokens.encode("other", vec![KeyValue::Int(1), KeyValue::Text("a".into())]);
        let err = query(&other, 1).start(&tokens).unwrap_err();
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
