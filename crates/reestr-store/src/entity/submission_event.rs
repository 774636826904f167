//! `submission_events` table: the timeline of each submission.

use sea_orm::entity::prelude::*;

/// One event of a submission's timeline.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "submission_events")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: String,
    /// Submission id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub submission_id: String,
    /// From 1 per submission.
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    /// Microseconds since the epoch.
    pub event_time: i64,
    /// Who made the change.
    pub caller: String,
    /// Event kind name, e.g. `SUBMITTED`.
    pub kind: String,
    /// The submission's round after the change.
    pub round: i32,
    /// JSON object with what the event adds to its kind.
    pub detail: String,
}

impl ActiveModelBehavior for ActiveModel {}
