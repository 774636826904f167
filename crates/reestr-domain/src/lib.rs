//! The register's domain: resource types, the rules they obey, and the error model.
//!
//! This crate is pure: it performs no I/O and knows nothing of gRPC or SQL. The gRPC layer
//! converts protobuf messages into the drafts defined here, the rules here validate them, and
//! the store persists what they produce.
//!
//! Layout:
//! - [`error`]: the one error enum every layer speaks, with field violations.
//! - [`text`]: language tags and multilingual text (`display_name` maps), search folding.
//! - [`contact`]: e-mail, phone and web-site validation.
//! - [`filter`]: the AIP-160 filter parser (untyped syntax tree); [`query`]: typed filters.
//! - [`input`]: enumerated request values before validation.
//! - [`paging`]: page sizes, `order_by`, and signed keyset page tokens.
//! - [`request_id`]: idempotency keys for safe retries.
//! - [`time`]: the one calendar: timestamps (UTC), dates, and the register's time zone.
//! - [`update_mask`]: AIP-134 update masks: the paths of a resource and the fields they name.
//! - [`organization`]: organisations, their names, validation, update masks and filters.
//! - [`access`]: callers, roles and the one authorisation policy; [`token`]: API tokens.
//! - [`audit`]: the hash-chained audit trail.
//! - [`system`]: information systems: records, lifecycle, registration numbers, filters.
//! - [`classifier`]: classifiers, versions and items: names, requirements, the version
//!   lifecycle, the publication validator, content hashes, diff and code translation.
//! - [`submission`]: submissions of design documentation: their lifecycle, review rounds and
//!   outcomes, the effect of an approval on the system, working-day deadlines, conclusion
//!   numbers and digests.

pub mod access;
pub mod audit;
pub mod binding;
pub mod change;
pub mod classifier;
pub mod contact;
pub mod error;
pub mod filter;
pub mod input;
pub mod organization;
pub mod paging;
pub mod query;
pub mod request_id;
pub mod resource_id;
pub mod revision;
pub mod submission;
pub mod system;
pub mod text;
pub mod time;
pub mod token;
pub mod update_mask;

pub use error::{Error, FieldViolation};
