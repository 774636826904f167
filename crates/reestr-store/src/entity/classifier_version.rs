//! `classifier_versions` table: the versions of each classifier.

use sea_orm::entity::prelude::*;

/// One version.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "classifier_versions")]
pub struct Model {
    /// Classifier id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub classifier_id: String,
    /// Version id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub version_id: String,
    /// `DRAFT`, `PUBLISHED` or `RETIRED`.
    pub state: String,
    /// What the version changes.
    pub description: String,
    /// Microseconds since the epoch.
    pub effective_time: Option<i64>,
    /// Microseconds since the epoch.
    pub publish_time: Option<i64>,
    /// Microseconds since the epoch.
    pub retire_time: Option<i64>,
    /// Lowercase hex SHA-256, empty while a draft.
    pub content_hash: String,
    /// Number of items.
    pub item_count: i64,
    /// The version a draft was copied from.
    pub source_version: Option<String>,
    /// Microseconds since the epoch.
    pub create_time: i64,
    /// Microseconds since the epoch.
    pub update_time: i64,
    /// Current revision.
    pub revision: i64,
}

impl ActiveModelBehavior for ActiveModel {}
