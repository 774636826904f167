//! `system_labels` table: projection of the current labels.

use sea_orm::entity::prelude::*;

/// One label.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "system_labels")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: String,
    /// Key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Value.
    pub value: String,
}

impl ActiveModelBehavior for ActiveModel {}
