//! `systems` table: the current state of each information system.

use sea_orm::entity::prelude::*;

/// One system.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "systems")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Short name as entered.
    pub short_name: String,
    /// Folded short name (unique).
    pub short_name_folded: String,
    /// Owner organisation id.
    pub owner_id: String,
    /// Operator organisation id.
    pub operator_id: Option<String>,
    /// State name.
    pub state: String,
    /// Registration number.
    pub registration_number: String,
    /// Processes personal data.
    pub personal_data: bool,
    /// Folded names for search.
    pub search_text: String,
    /// JSON of the spec.
    pub body: String,
    /// Microseconds since the epoch.
    pub create_time: i64,
    /// Microseconds since the epoch.
    pub update_time: i64,
    /// Microseconds since the epoch.
    pub delete_time: Option<i64>,
    /// Current revision.
    pub revision: i64,
}

impl ActiveModelBehavior for ActiveModel {}
