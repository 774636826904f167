//! `settings` table: server-wide values shared by every replica (e.g. the page-token key).

use sea_orm::entity::prelude::*;

/// One setting.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "settings")]
pub struct Model {
    /// Setting name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Value bytes.
    pub value: Vec<u8>,
}

impl ActiveModelBehavior for ActiveModel {}
