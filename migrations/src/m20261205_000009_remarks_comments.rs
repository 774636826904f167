//! Reviewers' remarks and the parties' comments on submissions.
//!
//! - `submission_remarks`: one row per remark, numbered within its submission from 1
//!   (`number`); `state` OPEN until the reviewer organisation that opened it resolves it
//!   (`resolution`, `resolve_time`), `revision` 1 then 2.
//! - `submission_comments`: one row per comment, numbered the same way, never changed; it may
//!   name the remark it answers (`remark_number`) or the document it is about.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn submission_key(table: &'static str) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(ColumnDef::new("system_id").string_len(63).not_null())
        .col(ColumnDef::new("submission_id").string_len(63).not_null())
        .col(ColumnDef::new("number").integer().not_null())
        .primary_key(
            Index::create()
                .col("system_id")
                .col("submission_id")
                .col("number"),
        )
        .foreign_key(
            ForeignKey::create()
                .name(format!("fk_{table}_submission"))
                .from(table, ("system_id", "submission_id"))
                .to("submissions", ("system_id", "submission_id")),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut remarks = submission_key("submission_remarks");
        remarks
            .col(ColumnDef::new("reviewer_id").string_len(63).not_null())
            .col(ColumnDef::new("round").integer().not_null())
            .col(ColumnDef::new("document_id").string_len(63).not_null())
            .col(ColumnDef::new("document_version").integer().not_null())
            .col(ColumnDef::new("location").string_len(800).not_null())
            .col(
                ColumnDef::new("normative_reference")
                    .string_len(2000)
                    .not_null(),
            )
            .col(ColumnDef::new("text").text().not_null())
            .col(
                ColumnDef::new("state")
                    .string_len(16)
                    .not_null()
                    .check(Expr::col("state").is_in(["OPEN", "RESOLVED"])),
            )
            .col(ColumnDef::new("resolution").text().not_null())
            .col(ColumnDef::new("creator").string_len(400).not_null())
            .col(ColumnDef::new("create_time").big_integer().not_null())
            .col(ColumnDef::new("resolve_time").big_integer().null())
            .col(ColumnDef::new("revision").big_integer().not_null())
            .foreign_key(
                ForeignKey::create()
                    .name("fk_submission_remarks_reviewer")
                    .from("submission_remarks", "reviewer_id")
                    .to("organizations", "id"),
            );
        manager.create_table(remarks).await?;

        let mut comments = submission_key("submission_comments");
        comments
            .col(ColumnDef::new("author_id").string_len(63).null())
            .col(ColumnDef::new("creator").string_len(400).not_null())
            .col(ColumnDef::new("round").integer().not_null())
            .col(ColumnDef::new("text").text().not_null())
            .col(ColumnDef::new("remark_number").integer().null())
            .col(ColumnDef::new("document_id").string_len(63).null())
            .col(ColumnDef::new("create_time").big_integer().not_null());
        manager.create_table(comments).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["submission_comments", "submission_remarks"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
