//! `submissions` table: the design-documentation submissions of each system.

use sea_orm::entity::prelude::*;

/// One submission.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "submissions")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: String,
    /// Submission id, unique within the system.
    #[sea_orm(primary_key, auto_increment = false)]
    pub submission_id: String,
    /// Kind name, e.g. `CREATION`.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Description, or empty.
    pub description: String,
    /// JSON array of the required reviewers' organisation ids.
    pub required_reviewers: String,
    /// State name, e.g. `UNDER_REVIEW`.
    pub state: String,
    /// Current review round (0 for a draft never submitted).
    pub round: i32,
    /// Microseconds since the epoch.
    pub round_start_time: Option<i64>,
    /// Microseconds since the epoch: the end of the reviewers' deadline.
    pub due_time: Option<i64>,
    /// Microseconds since the epoch: the end of the owner's deadline.
    pub owner_due_time: Option<i64>,
    /// Conclusion number, e.g. `EX-2026-000001`.
    pub conclusion_number: Option<String>,
    /// Outcome name of the concluded round.
    pub conclusion_outcome: Option<String>,
    /// Microseconds since the epoch.
    pub conclusion_decided_time: Option<i64>,
    /// Conclusion text.
    pub conclusion_text: Option<String>,
    /// Lowercase hex SHA-256 of the conclusion content.
    pub conclusion_digest: Option<String>,
    /// Microseconds since the epoch.
    pub create_time: i64,
    /// Microseconds since the epoch.
    pub update_time: i64,
    /// Microseconds since the epoch: the first submission for review.
    pub submit_time: Option<i64>,
    /// Microseconds since the epoch.
    pub delete_time: Option<i64>,
    /// Current revision.
    pub revision: i64,
    /// The owner organisation's id (the system's owner).
    pub owner_id: String,
    /// JSON array of the ids of the required reviewers that decided on the current round.
    pub decided_reviewers: String,
}

impl ActiveModelBehavior for ActiveModel {}
