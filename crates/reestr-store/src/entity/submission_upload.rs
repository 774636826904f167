//! `submission_uploads` table: uploads of documents under way.

use sea_orm::entity::prelude::*;

/// One upload.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "submission_uploads")]
pub struct Model {
    /// The client's id of the upload.
    #[sea_orm(primary_key, auto_increment = false)]
    pub upload_id: String,
    /// System id.
    pub system_id: String,
    /// Submission id.
    pub submission_id: String,
    /// The document it makes a version of.
    pub document_id: String,
    /// Bytes received and kept so far.
    pub committed_size: i64,
    /// JSON array of the start offsets of the staged segments.
    pub segments: String,
    /// Microseconds since the epoch: when an unfinished upload is dropped.
    pub expire_time: i64,
    /// Declared type name.
    pub document_type: String,
    /// Declared file name.
    pub file_name: String,
    /// Declared media type.
    pub media_type: String,
    /// Declared size in bytes.
    pub size_bytes: i64,
    /// Declared SHA-256.
    pub sha256: String,
    /// Restricted.
    pub restricted: bool,
    /// Who started it.
    pub caller: String,
    /// Microseconds since the epoch.
    pub create_time: i64,
}

impl ActiveModelBehavior for ActiveModel {}
