//! sea-orm entities, one per table. They mirror `migrations/` exactly and never leave this
//! crate: repositories convert them to domain types.

pub mod audit_event;
pub mod change_event;
pub mod classifier;
pub mod classifier_item;
pub mod classifier_version;
pub mod field_binding;
pub mod idempotency_key;
pub mod number_counter;
pub mod organization;
pub mod setting;
pub mod submission;
pub mod submission_comment;
pub mod submission_document;
pub mod submission_event;
pub mod submission_remark;
pub mod submission_review;
pub mod submission_upload;
pub mod system;
pub mod system_dependency;
pub mod system_label;
pub mod system_revision;
pub mod token;
