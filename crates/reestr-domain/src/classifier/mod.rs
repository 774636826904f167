//! Classifiers: versioned reference books (regions, activity codes, document types …) that
//! every agency's system reads, and the rules their content obeys.
//!
//! A classifier (`classifiers/soato`) declares uniform requirements — its owner, the shape of
//! its codes, its hierarchy, the languages item names are given in, and an attribute schema.
//! Its content lives in versions (`classifiers/soato/versions/2026-1`): one editable draft at a
//! time, then published versions that never change again. Everything here is pure: the store
//! and the API call these rules and persist or transmit what they produce.
//!
//! Layout:
//! - [`name`]: classifier, version and item names; version ids, the `latest` / `draft`
//!   aliases, and item codes.
//! - dates (`YYYY-MM-DD`, for validity and normative acts) are the register's one [`Date`].
//! - [`pattern`]: whole-text regular expressions for codes and string attributes.
//! - [`spec`]: the requirements a classifier declares, from request draft to validated spec.
//! - [`item`]: items, their typed attribute values, and item drafts.
//! - [`state`]: the version lifecycle DRAFT → PUBLISHED → SUPERSEDED → RETIRED.
//! - [`validate`]: every problem that stops a version from being published.
//! - [`codec`]: the canonical encoding of one item, as stored and as hashed.
//! - [`hash`]: the content hash of a published version.
//! - [`csv`](mod@csv): items as CSV text, read incrementally and written row by row.
//! - [`diff`](mod@diff): changes between two versions, and translation of codes along successors.
//! - [`filter`]: the ListClassifiers and ListItems filters.
//! - [`version`]: classifiers and versions as stored, and which version is in effect when.

pub mod codec;
pub mod csv;
pub mod diff;
pub mod filter;
pub mod hash;
pub mod item;
pub mod name;
pub mod pattern;
pub mod spec;
pub mod state;
pub mod validate;
pub mod version;

#[cfg(test)]
mod proptests;

pub use crate::time::Date;
pub use codec::{
    ItemParts, ValueRef, decode_item, encode_item, encoded_code, encoded_item, visit_item,
};
pub use diff::{ItemChange, Translation, diff, translate, translate_with};
pub use hash::{ContentHasher, content_hash};
pub use item::{AttributeValue, AttributeValueDraft, Decimal, Item, ItemDraft, ItemStatus};
pub use name::{ClassifierId, Code, ItemName, VersionId, VersionName, VersionRef};
pub use pattern::Pattern;
pub use spec::{
    AttributeDef, AttributeDefDraft, AttributeKind, AttributeType, ClassifierDraft,
    ClassifierField, ClassifierSpec, LegalAct, LegalActDraft, LegalActKind,
};
pub use state::{TransitionError, VersionState};
pub use validate::{
    ItemSource, Problem, ProblemKind, problems_to_error, validate_items, validate_version,
};
pub use version::{Classifier, Timeline, Version};
