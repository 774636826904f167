//! `system_dependencies` table: projection of the current dependencies.

use sea_orm::entity::prelude::*;

/// One consumed service.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "system_dependencies")]
pub struct Model {
    /// Consuming system.
    #[sea_orm(primary_key, auto_increment = false)]
    pub consumer_id: String,
    /// Providing system.
    #[sea_orm(primary_key, auto_increment = false)]
    pub provider_id: String,
    /// Service name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub service: String,
}

impl ActiveModelBehavior for ActiveModel {}
