//! `system_revisions` table: every state a system has had.

use sea_orm::entity::prelude::*;

/// One revision.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "system_revisions")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: String,
    /// Revision number.
    #[sea_orm(primary_key, auto_increment = false)]
    pub revision: i64,
    /// When it was recorded.
    pub create_time: i64,
    /// Caller id.
    pub caller: String,
    /// Method.
    pub method: String,
    /// JSON array of changed top-level fields.
    pub changed_fields: String,
    /// Reason given with a transition.
    pub reason: String,
    /// State in this revision.
    pub state: String,
    /// Deletion time in this revision.
    pub delete_time: Option<i64>,
    /// JSON of the spec in this revision.
    pub body: String,
}

impl ActiveModelBehavior for ActiveModel {}
