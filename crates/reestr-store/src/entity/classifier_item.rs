//! `classifier_items` table: the items of every version. The repository writes and reads it
//! with raw SQL for speed; the entity documents the shape and serves simple lookups.

use sea_orm::entity::prelude::*;

/// One item.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "classifier_items")]
pub struct Model {
    /// Classifier id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub classifier_id: String,
    /// Version id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub version_id: String,
    /// Item code (byte order).
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// Parent code.
    pub parent: Option<String>,
    /// Canonical encoding of the whole item.
    pub body: Vec<u8>,
}

impl ActiveModelBehavior for ActiveModel {}
