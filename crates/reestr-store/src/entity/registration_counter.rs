//! `registration_counters` table.

use sea_orm::entity::prelude::*;

/// The last registration number issued in a year.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registration_counters")]
pub struct Model {
    /// Year.
    #[sea_orm(primary_key, auto_increment = false)]
    pub year: i32,
    /// Last sequence issued.
    pub last: i64,
}

impl ActiveModelBehavior for ActiveModel {}
