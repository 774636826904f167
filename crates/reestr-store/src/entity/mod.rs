//! sea-orm entities, one per table. They mirror `migrations/` exactly and never leave this
//! crate: repositories convert them to domain types.

pub mod audit_event;
pub mod idempotency_key;
pub mod organization;
pub mod setting;
pub mod token;
