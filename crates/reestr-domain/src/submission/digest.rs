//! The conclusion digest: a SHA-256 over what a conclusion certifies, so that anyone holding
//! the conclusion, its documents and its reviews can check that none of them changed.
//!
//! The digest is 64 lowercase hex digits of SHA-256 over the bytes below. `VerifyConclusion`
//! recomputes it from the stored round; an agency can recompute it from what the API returns.
//!
//! # Encoding (version 1)
//!
//! Primitives, all integers big-endian (the notation of the classifier item encoding):
//!
//! | notation | bytes                                                   |
//! |----------|---------------------------------------------------------|
//! | `u64(x)` | eight bytes, unsigned                                   |
//! | `i64(x)` | eight bytes, two's complement                           |
//! | `str(s)` | `u64(byte length of s)`, then the UTF-8 bytes of `s`    |
//!
//! The content is
//!
//! ```text
//! str("reestr.submission.conclusion.v1")
//! str(submission)              its name, systems/{system}/submissions/{submission}
//! str(kind)                    CREATION, MODERNIZATION, COMMISSIONING or DECOMMISSIONING
//! u64(round)                   the round the conclusion ends, from 1
//! str(outcome)                 APPROVED, REJECTED or CHANGES_REQUESTED
//! str(number)                  the conclusion number, e.g. EX-2026-000042
//! u64(number of documents)     then, for each document of the round:
//!     str(document)            its name, systems/{system}/submissions/{submission}/documents/{document}
//!     u64(version)             the version bound to the round, from 1
//!     str(sha256)              the version's content hash, 64 lowercase hex digits
//! u64(number of decisions)     then, for each decision of the round:
//!     str(reviewer)            the reviewer organisation, organizations/{organization}
//!     str(decision)            APPROVE, REQUEST_CHANGES or REJECT
//!     i64(decide_time)         microseconds since 1970-01-01T00:00:00Z
//! ```
//!
//! Names are written as the API gives them; enumerations by their value names without the
//! enum's prefix (`SUBMISSION_KIND_CREATION` is written `CREATION`). Documents are in ascending
//! byte order of name (then of version, then of sha256) and decisions in ascending byte order
//! of reviewer (then of decision, then of time), so the digest does not depend on the order
//! they are given in. A `google.protobuf.Timestamp` is `seconds * 1000000 + nanos / 1000`
//! microseconds (the register keeps times to the microsecond, so the division is exact).
//! Every variable-length part is length-prefixed and each list is counted, so two different
//! contents never encode to the same bytes.

use sha2::{Digest, Sha256};

use super::kind::SubmissionKind;
use super::number::ConclusionNumber;
use super::review::Decision;
use super::state::Outcome;
use crate::classifier::codec::{put_str, put_u64};
use crate::organization::OrganizationId;
use crate::time::Timestamp;

/// The first field of the encoding; a new encoding will change it.
pub const ENCODING_TAG: &str = "reestr.submission.conclusion.v1";

/// A document version bound to the round.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoundDocument {
    /// The document's name, `systems/{system}/submissions/{submission}/documents/{document}`.
    pub name: String,
    /// The version the round reviewed, from 1.
    pub version: u64,
    /// That version's SHA-256, 64 lowercase hex digits.
    pub sha256: String,
}

/// One reviewer's decision in the round.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoundDecision {
    /// The reviewer organisation.
    pub reviewer: OrganizationId,
    /// Its decision.
    pub decision: Decision,
    /// When it was posted.
    pub decide_time: Timestamp,
}

/// What a conclusion certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConclusionContent {
    /// The submission's name, `systems/{system}/submissions/{submission}`.
    pub submission: String,
    /// Its kind.
    pub kind: SubmissionKind,
    /// The round the conclusion ends.
    pub round: u32,
    /// The round's outcome.
    pub outcome: Outcome,
    /// The conclusion's number.
    pub number: ConclusionNumber,
    /// The round's documents, in any order.
    pub documents: Vec<RoundDocument>,
    /// The round's decisions, in any order.
    pub decisions: Vec<RoundDecision>,
}

impl ConclusionContent {
    /// The canonical encoding (see the [module documentation](self)).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_str(&mut out, ENCODING_TAG);
        put_str(&mut out, &self.submission);
        put_str(&mut out, self.kind.as_str());
        put_u64(&mut out, u64::from(self.round));
        put_str(&mut out, self.outcome.as_str());
        put_str(&mut out, self.number.as_str());

        let mut documents: Vec<&RoundDocument> = self.documents.iter().collect();
        documents.sort();
        put_count(&mut out, documents.len());
        for d in documents {
            put_str(&mut out, &d.name);
            put_u64(&mut out, d.version);
            put_str(&mut out, &d.sha256);
        }

        let mut decisions: Vec<(String, &RoundDecision)> = self
            .decisions
            .iter()
            .map(|d| (d.reviewer.name(), d))
            .collect();
        decisions.sort_by(|(a_name, a), (b_name, b)| {
            (a_name, a.decision.as_str(), a.decide_time).cmp(&(
                b_name,
                b.decision.as_str(),
                b.decide_time,
            ))
        });
        put_count(&mut out, decisions.len());
        for (reviewer, d) in decisions {
            put_str(&mut out, &reviewer);
            put_str(&mut out, d.decision.as_str());
            out.extend_from_slice(&d.decide_time.micros().to_be_bytes());
        }
        out
    }

    /// The digest: lowercase hex SHA-256 of [`ConclusionContent::encode`].
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.encode()))
    }

    /// Whether `digest` is exactly this content's digest (lowercase hex, as
    /// [`ConclusionContent::digest`] writes it).
    pub fn verify(&self, digest: &str) -> bool {
        digest == self.digest()
    }
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    // usize is at most 64 bits on every supported target.
    put_u64(out, u64::try_from(n).unwrap_or(u64::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str) -> OrganizationId {
        OrganizationId::from_trusted(id.to_string())
    }

    fn doc(name: &str, version: u64, hash: char) -> RoundDocument {
        RoundDocument {
            name: format!("systems/e-soliq/submissions/tz/documents/{name}"),
            version,
            sha256: hash.to_string().repeat(64),
        }
    }

    fn decision(reviewer: &str, decision: Decision, micros: i64) -> RoundDecision {
        RoundDecision {
            reviewer: org(reviewer),
            decision,
            decide_time: Timestamp::from_micros(micros),
        }
    }

    fn content() -> ConclusionContent {
        ConclusionContent {
            submission: "systems/e-soliq/submissions/tz".into(),
            kind: SubmissionKind::Creation,
            round: 2,
            outcome: Outcome::Approved,
            number: ConclusionNumber::new(2026, 42),
            documents: vec![doc("assignment", 3, 'a'), doc("project", 1, 'b')],
            decisions: vec![
                decision("uzinfocom", Decision::Approve, 1_795_858_215_250_000),
                decision("csec", Decision::Approve, 1_795_858_000_000_000),
            ],
        }
    }

    #[test]
    fn the_encoding_is_exactly_the_documented_one() {
        let c = ConclusionContent {
            documents: vec![doc("a", 1, 'c')],
            decisions: vec![decision("csec", Decision::Reject, 5)],
            outcome: Outcome::Rejected,
            ..content()
        };
        let mut expected = Vec::new();
        let s = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        s(&mut expected, "reestr.submission.conclusion.v1");
        s(&mut expected, "systems/e-soliq/submissions/tz");
        s(&mut expected, "CREATION");
        expected.extend_from_slice(&2u64.to_be_bytes());
        s(&mut expected, "REJECTED");
        s(&mut expected, "EX-2026-000042");
        expected.extend_from_slice(&1u64.to_be_bytes());
        s(&mut expected, "systems/e-soliq/submissions/tz/documents/a");
        expected.extend_from_slice(&1u64.to_be_bytes());
        s(&mut expected, &"c".repeat(64));
        expected.extend_from_slice(&1u64.to_be_bytes());
        s(&mut expected, "organizations/csec");
        s(&mut expected, "REJECT");
        expected.extend_from_slice(&5i64.to_be_bytes());
        assert_eq!(c.encode(), expected);
        assert_eq!(c.digest(), hex::encode(Sha256::digest(&expected)));
        assert_eq!(c.digest().len(), 64);
    }

    #[test]
    fn the_digest_does_not_depend_on_the_order_of_documents_and_decisions() {
        let original = content();
        let mut permuted = content();
        permuted.documents.reverse();
        permuted.decisions.reverse();
        assert_eq!(original.digest(), permuted.digest());
        assert!(permuted.verify(&original.digest()));
    }

    #[test]
    fn the_digest_changes_when_any_input_changes() {
        let base = content().digest();
        let mut changed: Vec<(&str, ConclusionContent)> = Vec::new();
        let mut with = |what: &'static str, change: &dyn Fn(&mut ConclusionContent)| {
            let mut c = content();
            change(&mut c);
            changed.push((what, c));
        };
        with("submission", &|c| {
            c.submission = "systems/e-soliq/submissions/tz2".into()
        });
        with("kind", &|c| c.kind = SubmissionKind::Modernization);
        with("round", &|c| c.round = 3);
        with("outcome", &|c| c.outcome = Outcome::Rejected);
        with("number", &|c| c.number = ConclusionNumber::new(2026, 43));
        with("document name", &|c| c.documents[0].name.push('x'));
        with("document version", &|c| c.documents[0].version = 4);
        with("document hash", &|c| c.documents[1].sha256 = "c".repeat(64));
        with("document added", &|c| {
            c.documents.push(doc("manual", 1, 'd'))
        });
        with("document removed", &|c| {
            c.documents.pop();
        });
        with("reviewer", &|c| c.decisions[0].reviewer = org("mitc"));
        with("decision", &|c| {
            c.decisions[1].decision = Decision::RequestChanges
        });
        with("decide time", &|c| {
            c.decisions[0].decide_time = Timestamp::from_micros(1);
        });
        with("decision removed", &|c| {
            c.decisions.pop();
        });
        for (what, c) in &changed {
            assert_ne!(c.digest(), base, "{what}");
        }
        assert!(!content().verify(&changed[0].1.digest()));
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_digest() {
        // Length prefixes keep "ab" + "c" apart from "a" + "bc".
        let mut a = content();
        a.documents = vec![RoundDocument {
            name: "ab".into(),
            version: 1,
            sha256: "c".into(),
        }];
        let mut b = content();
        b.documents = vec![RoundDocument {
            name: "a".into(),
            version: 1,
            sha256: "bc".into(),
        }];
        assert_ne!(a.digest(), b.digest());
    }
}
