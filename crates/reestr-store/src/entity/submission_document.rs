//! `submission_documents` table: every version of every document of a submission.

use sea_orm::entity::prelude::*;

/// One version of a document.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "submission_documents")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: String,
    /// Submission id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub submission_id: String,
    /// Document id, unique within the submission.
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: String,
    /// Version, from 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    /// Type name, e.g. `TECHNICAL_ASSIGNMENT`.
    pub document_type: String,
    /// File name.
    pub file_name: String,
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
    /// Readable only by the submission's parties.
    pub restricted: bool,
    /// Who uploaded it.
    pub caller: String,
    /// Microseconds since the epoch.
    pub create_time: i64,
}

impl ActiveModelBehavior for ActiveModel {}
