//! `number_counters` table: the last number issued in each numbered series and year.

use sea_orm::entity::prelude::*;

/// The last number issued in a series in a year.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "number_counters")]
pub struct Model {
    /// The series, e.g. `IS` (registration numbers) or `EX` (conclusion numbers).
    #[sea_orm(primary_key, auto_increment = false)]
    pub series: String,
    /// Year.
    #[sea_orm(primary_key, auto_increment = false)]
    pub year: i32,
    /// Last sequence issued.
    pub last: i64,
}

impl ActiveModelBehavior for ActiveModel {}
