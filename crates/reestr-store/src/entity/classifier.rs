//! `classifiers` table: each classifier's requirements.

use sea_orm::entity::prelude::*;

/// One classifier.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "classifiers")]
pub struct Model {
    /// Classifier id (last segment of the name).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Owner organisation id.
    pub owner_id: String,
    /// Whether items may have parents (repeated from `spec` for filtering).
    pub hierarchical: bool,
    /// JSON of the requirements other than the owner.
    pub spec: String,
    /// Folded id, then every display name, one per line.
    pub search: String,
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
