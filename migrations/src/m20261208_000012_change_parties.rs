//! Who a change concerns: the owner organisation of the changed resource, and for a
//! submission (and its documents, remarks and comments) its required reviewers.
//!
//! `change_events.owner` is the organisation id as the transaction left the resource: an
//! organisation's own id, the owner of a system, classifier (and its versions) or submission,
//! the organisation of a token; NULL for an operator token. `change_events.reviewers` lists the
//! required reviewers of a submission as `,a,b,` (so that `LIKE '%,a,%'` finds one), and is
//! empty for every other resource. Changes made before this migration have neither; the
//! owner and reviewer filters of the feed pass them by. The index serves the owner filter in
//! revision order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("change_events")
                    .add_column(ColumnDef::new("owner").string_len(63).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("change_events")
                    .add_column(ColumnDef::new("reviewers").text().not_null().default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_change_events_owner")
                    .table("change_events")
                    .col("owner")
                    .col("revision")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_change_events_owner")
                    .table("change_events")
                    .to_owned(),
            )
            .await?;
        for column in ["reviewers", "owner"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("change_events")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
