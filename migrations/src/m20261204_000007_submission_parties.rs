//! The parties of a submission on its row: `owner_id`, the owner organisation (the system's
//! owner, kept in step when the system changes hands, so that reads, filters and the
//! authorisation of writes need no join), and `decided_reviewers`, a JSON array of the
//! required reviewers that have decided on the current round (cleared when a round starts),
//! so that a submission shows who has not decided yet without reading its reviews.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BACKFILL_OWNER: &str = "UPDATE submissions SET owner_id = \
     (SELECT owner_id FROM systems WHERE systems.id = submissions.system_id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new("owner_id")
                .string_len(63)
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new("decided_reviewers")
                .text()
                .not_null()
                .default("[]")
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("submissions")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Reviews were only ever written through the API that arrives with this migration, so
        // every existing row's current round has no decision yet: `[]` is right for all.
        manager
            .get_connection()
            .execute_unprepared(BACKFILL_OWNER)
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_submissions_owner")
                    .table("submissions")
                    .col("owner_id")
                    .col("system_id")
                    .col("submission_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_submissions_owner")
                    .table("submissions")
                    .to_owned(),
            )
            .await?;
        for column in ["decided_reviewers", "owner_id"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("submissions")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
