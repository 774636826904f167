//! `audit_events` table (append-only).

use sea_orm::entity::prelude::*;

/// One audit event.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Position in the trail.
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    /// Microseconds since the epoch.
    pub event_time: i64,
    /// Caller id.
    pub caller: String,
    /// Caller's organisation id or empty.
    pub organization: String,
    /// gRPC method.
    pub method: String,
    /// Resource name.
    pub resource: String,
    /// Request id or empty.
    pub request_id: String,
    /// `OK` or a status code name.
    pub outcome: String,
    /// Error reason or empty.
    pub reason: String,
    /// JSON array of changes.
    pub changes: String,
    /// Chain hash.
    pub hash: String,
    /// The call that wrote the event (not hashed; see the migration `audit_call`).
    pub call_id: String,
}

impl ActiveModelBehavior for ActiveModel {}
