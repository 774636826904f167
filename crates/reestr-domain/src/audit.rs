//! The audit trail: one event per mutating call, chained by hashes.
//!
//! Every event carries `hash = SHA-256(previous hash ‖ canonical bytes of the event)`, the
//! first event chaining from [`GENESIS_HASH`]. The canonical bytes are the UTF-8 JSON array
//! `[sequence, event_time_micros, caller, organization, method, resource, request_id,
//! outcome, reason, [[field, old, new], …]]` with no white space, strings escaped as JSON does
//! (serde_json), integers in decimal. Changing any stored field of any event, removing one, or
//! reordering them breaks the chain from that event on, which [`verify_chain`] reports.

use crate::text::shorten;
use crate::time::Timestamp;

/// The hash the first event chains from: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One changed field of a resource, values as display text (empty when absent).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange {
    /// Field path, e.g. `tin`, `contacts.email`.
    pub field: String,
    /// Value before the change.
    pub old: String,
    /// Value after the change.
    pub new: String,
}

/// The differences between two flattened views of a resource (`None` = did not exist).
pub fn diff_fields(
    old: Option<&[(&'static str, String)]>,
    new: &[(&'static str, String)],
) -> Vec<FieldChange> {
    new.iter()
        .filter_map(|(field, value)| {
            let before = old
                .and_then(|o| o.iter().find(|(f, _)| f == field))
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            (before != value).then(|| FieldChange {
                field: (*field).to_string(),
                old: before.to_string(),
                new: value.clone(),
            })
        })
        .collect()
}

/// Longest caller id an event stores, in bytes (and so in characters: the `audit_events`
/// columns are sized in characters).
pub const MAX_CALLER_LEN: usize = 400;
/// Longest organisation id an event stores.
pub const MAX_ORGANIZATION_LEN: usize = 63;
/// Longest method an event stores.
pub const MAX_METHOD_LEN: usize = 200;
/// Longest resource name an event stores: well above the longest legal name (an item's, about
/// 220), so only a name a request made up is ever cut.
pub const MAX_RESOURCE_LEN: usize = 400;
/// Longest `request_id` an event stores (a UUID's length).
pub const MAX_REQUEST_ID_LEN: usize = 36;
/// Longest outcome an event stores.
pub const MAX_OUTCOME_LEN: usize = 32;
/// Longest reason an event stores.
pub const MAX_REASON_LEN: usize = 64;

/// What is known of a call before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Caller id (see `Caller::id`).
    pub caller: String,
    /// The caller's organisation id, or empty.
    pub organization: String,
    /// Full gRPC method.
    pub method: String,
    /// The resource the call was about (may be empty when the request named none validly).
    pub resource: String,
    /// The request's `request_id`, or empty.
    pub request_id: String,
    /// `OK` or the gRPC status code name of the failure, e.g. `PERMISSION_DENIED`.
    pub outcome: String,
    /// The ErrorInfo reason of a failure, or empty.
    pub reason: String,
    /// Changed fields (successful calls only).
    pub changes: Vec<FieldChange>,
}

impl AuditRecord {
    /// The record with every name cut to what an event stores (see [`shorten`]): a refused
    /// request's names are recorded as it sent them, of any length. Changes are kept whole
    /// (they come from validated resources, and their column has no limit).
    pub fn fitted(self) -> AuditRecord {
        AuditRecord {
            caller: shorten(&self.caller, MAX_CALLER_LEN),
            organization: shorten(&self.organization, MAX_ORGANIZATION_LEN),
            method: shorten(&self.method, MAX_METHOD_LEN),
            resource: shorten(&self.resource, MAX_RESOURCE_LEN),
            request_id: shorten(&self.request_id, MAX_REQUEST_ID_LEN),
            outcome: shorten(&self.outcome, MAX_OUTCOME_LEN),
            reason: shorten(&self.reason, MAX_REASON_LEN),
            changes: self.changes,
        }
    }
}

/// An event of the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the trail, from 1, without gaps.
    pub sequence: i64,
    /// When it was recorded.
    pub event_time: Timestamp,
    /// The call.
    pub record: AuditRecord,
    /// Chain hash (hex).
    pub hash: String,
}

/// The canonical bytes of an event (see the module documentation).
pub fn canonical_bytes(sequence: i64, event_time: Timestamp, r: &AuditRecord) -> Vec<u8> {
    let changes: Vec<[&str; 3]> = r
        .changes
        .iter()
        .map(|c| [c.field.as_str(), c.old.as_str(), c.new.as_str()])
        .collect();
    let value = serde_json::json!([
        sequence,
        event_time.micros(),
        r.caller,
        r.organization,
        r.method,
        r.resource,
        r.request_id,
        r.outcome,
        r.reason,
        changes,
    ]);
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The hash of an event chained after `previous`.
pub fn chain_hash(previous: &str, sequence: i64, event_time: Timestamp, r: &AuditRecord) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(canonical_bytes(sequence, event_time, r));
    hex::encode(h.finalize())
}

/// Verification state carried across batches of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCursor {
    /// Hash of the last verified event.
    pub previous: String,
    /// Sequence of the last verified event (0 before the first).
    pub sequence: i64,
}

impl Default for ChainCursor {
    fn default() -> Self {
        Self {
            previous: GENESIS_HASH.to_string(),
            sequence: 0,
        }
    }
}

/// Checks `events` (in sequence order) continuing from `cursor`. Returns the sequence of the
/// first event that does not follow the chain (wrong hash, or a gap or repeat in sequence),
/// advancing `cursor` over the events that do.
pub fn verify_chain(cursor: &mut ChainCursor, events: &[AuditEvent]) -> Option<i64> {
    for e in events {
        if e.sequence != cursor.sequence + 1 {
            return Some(cursor.sequence + 1);
        }
        if chain_hash(&cursor.previous, e.sequence, e.event_time, &e.record) != e.hash {
            return Some(e.sequence);
        }
        cursor.previous = e.hash.clone();
        cursor.sequence = e.sequence;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_names_are_cut_to_what_an_event_stores() {
        let record = AuditRecord {
            caller: "c".repeat(1000),
            organization: "o".repeat(1000),
            method: "m".repeat(1000),
            resource: "ж".repeat(1000),
            request_id: "r".repeat(1000),
            outcome: "OK".into(),
            reason: String::new(),
            changes: Vec::new(),
        }
        .fitted();
        assert_eq!(record.caller.len(), MAX_CALLER_LEN);
        assert_eq!(record.organization.len(), MAX_ORGANIZATION_LEN);
        assert_eq!(record.method.len(), MAX_METHOD_LEN);
        assert!(record.resource.len() <= MAX_RESOURCE_LEN && record.resource.ends_with('…'));
        assert_eq!(record.request_id.len(), MAX_REQUEST_ID_LEN);
        assert_eq!(record.outcome, "OK");
    }

    fn record(resource: &str) -> AuditRecord {
        AuditRecord {
            caller: "tokens/abc".into(),
            organization: "stat".into(),
            method: "/reestr.v1.OrganizationService/UpdateOrganization".into(),
            resource: resource.into(),
            request_id: String::new(),
            outcome: "OK".into(),
            reason: String::new(),
            changes: vec![FieldChange {
                field: "tin".into(),
                old: "1".into(),
                new: "2".into(),
            }],
        }
    }

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let r = record(&format!("organizations/o{seq}"));
                let t = Timestamp::from_micros(seq * 10);
                let hash = chain_hash(&prev, seq, t, &r);
                prev = hash.clone();
                AuditEvent {
                    sequence: seq,
                    event_time: t,
                    record: r,
                    hash,
                }
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_across_batches() {
        let events = chain(10);
        let mut cursor = ChainCursor::default();
        assert_eq!(verify_chain(&mut cursor, &events[..4]), None);
        assert_eq!(verify_chain(&mut cursor, &events[4..]), None);
        assert_eq!(cursor.sequence, 10);
    }

    #[test]
    fn any_edited_field_breaks_the_chain_at_that_event() {
        let edits: [fn(&mut AuditEvent); 5] = [
            |e| e.record.caller = "tokens/evil".into(),
            |e| e.record.changes[0].new = "3".into(),
            |e| e.record.outcome = "PERMISSION_DENIED".into(),
            |e| e.event_time = Timestamp::from_micros(1),
            |e| e.record.resource.push('x'),
        ];
        for edit in edits {
            let mut events = chain(6);
            edit(&mut events[3]);
            assert_eq!(verify_chain(&mut ChainCursor::default(), &events), Some(4));
        }
    }

    #[test]
    fn a_removed_event_is_reported_as_a_gap() {
        let mut events = chain(5);
        events.remove(2);
        assert_eq!(verify_chain(&mut ChainCursor::default(), &events), Some(3));
    }

    #[test]
    fn field_separators_cannot_be_shifted() {
        let mut a = record("x");
        a.caller = "ab".into();
        a.organization = "c".into();
        let mut b = record("x");
        b.caller = "a".into();
        b.organization = "bc".into();
        let t = Timestamp::from_micros(1);
        assert_ne!(canonical_bytes(1, t, &a), canonical_bytes(1, t, &b));
    }

    #[test]
    fn diff_lists_only_changed_fields() {
        let old = [("tin", "1".to_string()), ("kind", "A".to_string())];
        let new = [("tin", "2".to_string()), ("kind", "A".to_string())];
        assert_eq!(
            diff_fields(Some(&old), &new),
            [FieldChange {
                field: "tin".into(),
                old: "1".into(),
                new: "2".into()
            }]
        );
        assert_eq!(diff_fields(None, &new).len(), 2);
    }
}

/// One condition of a ListAuditEvents filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditCondition {
    /// `resource = "organizations/stat"`
    Resource(String),
    /// `caller = "tokens/…"`
    Caller(String),
    /// `organization = "organizations/stat"` (stored as the bare id).
    Organization(String),
    /// `method = "/reestr.v1.OrganizationService/UpdateOrganization"`
    Method(String),
    /// `outcome = "PERMISSION_DENIED"`
    Outcome(String),
    /// `event_time > t` (false) or `>= t` (true).
    TimeAfter(Timestamp, bool),
    /// `event_time < t` (false) or `<= t` (true).
    TimeBefore(Timestamp, bool),
}

/// Parses a ListAuditEvents filter. Fields: `resource`, `caller`, `organization`, `method`,
/// `outcome` (all `=`), and `event_time` (`<`, `<=`, `>`, `>=` against an RFC 3339 time such as
/// `2026-11-28T00:00:00Z`).
pub fn compile_filter(
    raw: &str,
) -> Result<Option<crate::query::Predicate<AuditCondition>>, crate::FieldViolation> {
    use crate::filter::CompareOp;
    crate::query::compile(raw, &|field, op, value| {
        let text = crate::query::value_text(value).to_string();
        let eq = || {
            if op == CompareOp::Eq {
                Ok(())
            } else {
                Err(format!("{field} supports only ="))
            }
        };
        match field {
            "resource" => eq().map(|()| AuditCondition::Resource(text)),
            "caller" => eq().map(|()| AuditCondition::Caller(text)),
            "organization" => eq().map(|()| {
                AuditCondition::Organization(
                    text.strip_prefix("organizations/")
                        .unwrap_or(&text)
                        .to_string(),
                )
            }),
            "method" => eq().map(|()| AuditCondition::Method(text)),
            "outcome" => eq().map(|()| AuditCondition::Outcome(text)),
            "event_time" => {
                let t = Timestamp::parse_rfc3339(&text).ok_or_else(|| {
                    format!("{text:?} is not an RFC 3339 time such as 2026-11-28T09:00:00Z")
                })?;
                match op {
                    CompareOp::Gt => Ok(AuditCondition::TimeAfter(t, false)),
                    CompareOp::Ge => Ok(AuditCondition::TimeAfter(t, true)),
                    CompareOp::Lt => Ok(AuditCondition::TimeBefore(t, false)),
                    CompareOp::Le => Ok(AuditCondition::TimeBefore(t, true)),
                    _ => Err("event_time supports <, <=, > and >=".into()),
                }
            }
            other => Err(format!(
                "cannot filter on {other:?}; fields: resource, caller, organization, method, outcome, event_time"
            )),
        }
    })
}
