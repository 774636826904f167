//! `organizations` table.

use sea_orm::entity::prelude::*;

/// One organisation row.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    /// Organisation id (last segment of the name).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Canonical JSON object of names by language tag.
    pub display_name: String,
    /// Folded names for search, derived from `display_name`.
    pub search_text: String,
    /// Taxpayer number.
    pub tin: String,
    /// Kind name, e.g. `STATE_BODY`.
    pub kind: String,
    /// Parent organisation id.
    pub parent_id: Option<String>,
    /// SOATO region code.
    pub region_code: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Web site.
    pub website: Option<String>,
    /// Microseconds since the epoch.
    pub create_time: i64,
    /// Microseconds since the epoch.
    pub update_time: i64,
    /// Microseconds since the epoch, when soft-deleted.
    pub delete_time: Option<i64>,
    /// Change counter.
    pub revision: i64,
}

impl ActiveModelBehavior for ActiveModel {}
