//! `field_bindings` table: coded fields of the register bound to classifiers.

use sea_orm::entity::prelude::*;

/// One binding.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "field_bindings")]
pub struct Model {
    /// Binding id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The bound field (`BoundField::as_str`), unique.
    pub field: String,
    /// The classifier's id.
    pub classifier_id: String,
    /// Whether writes must set the field.
    pub required: bool,
    /// `DeprecatedCodes::as_str`.
    pub deprecated_codes: String,
    /// Microseconds since the epoch.
    pub create_time: i64,
    /// Microseconds since the epoch.
    pub update_time: i64,
    /// Current revision.
    pub revision: i64,
}

impl ActiveModelBehavior for ActiveModel {}
