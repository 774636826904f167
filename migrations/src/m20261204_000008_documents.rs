//! The documents of submissions and their uploads.
//!
//! - `submission_documents`: one row per version of a document, never changed once written
//!   (a version is frozen from the moment it exists; a round reviews the newest version of each
//!   document, and documents change only while the owner prepares or revises the submission).
//!   The content itself is in the document store, addressed by `sha256`.
//! - `submission_uploads`: uploads under way, with the bytes committed so far (`committed_size`)
//!   and the start offsets of the segments staged in the document store (JSON array). A row
//!   goes when its upload completes, fails its checks or expires.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TYPES: [&str; 7] = [
    "TECHNICAL_ASSIGNMENT",
    "TECHNICAL_PROJECT",
    "WORKING_DOCUMENTATION",
    "SECURITY_ASSESSMENT",
    "TEST_REPORT",
    "OPERATING_MANUAL",
    "OTHER",
];

fn metadata(table: TableCreateStatement) -> TableCreateStatement {
    let mut table = table;
    table
        .col(
            ColumnDef::new("document_type")
                .string_len(32)
                .not_null()
                .check(Expr::col("document_type").is_in(TYPES)),
        )
        .col(ColumnDef::new("file_name").string_len(1024).not_null())
        .col(ColumnDef::new("media_type").string_len(255).not_null())
        .col(ColumnDef::new("size_bytes").big_integer().not_null())
        .col(ColumnDef::new("sha256").string_len(64).not_null())
        .col(ColumnDef::new("restricted").boolean().not_null())
        .col(ColumnDef::new("caller").string_len(400).not_null())
        .col(ColumnDef::new("create_time").big_integer().not_null());
    table
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                metadata(
                    Table::create()
                        .table("submission_documents")
                        .col(ColumnDef::new("system_id").string_len(63).not_null())
                        .col(ColumnDef::new("submission_id").string_len(63).not_null())
                        .col(ColumnDef::new("document_id").string_len(63).not_null())
                        .col(ColumnDef::new("version").integer().not_null())
                        .to_owned(),
                )
                .primary_key(
                    Index::create()
                        .col("system_id")
                        .col("submission_id")
                        .col("document_id")
                        .col("version"),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_submission_documents_submission")
                        .from("submission_documents", ("system_id", "submission_id"))
                        .to("submissions", ("system_id", "submission_id")),
                )
                .to_owned(),
            )
            .await?;
        manager
            .create_table(
                metadata(
                    Table::create()
                        .table("submission_uploads")
                        .col(
                            ColumnDef::new("upload_id")
                                .string_len(64)
                                .not_null()
                                .primary_key(),
                        )
                        .col(ColumnDef::new("system_id").string_len(63).not_null())
                        .col(ColumnDef::new("submission_id").string_len(63).not_null())
                        .col(ColumnDef::new("document_id").string_len(63).not_null())
                        .col(ColumnDef::new("committed_size").big_integer().not_null())
                        .col(ColumnDef::new("segments").text().not_null())
                        .col(ColumnDef::new("expire_time").big_integer().not_null())
                        .to_owned(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_submission_uploads_submission")
                        .from("submission_uploads", ("system_id", "submission_id"))
                        .to("submissions", ("system_id", "submission_id")),
                )
                .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_submission_uploads_expire")
                    .table("submission_uploads")
                    .col("expire_time")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["submission_uploads", "submission_documents"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
