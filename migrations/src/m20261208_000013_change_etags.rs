//! What state a change left its resource in: `change_events.etag`, the etag of the resource's
//! revision as the transaction left it, for resources that have etags (organisations,
//! systems, classifiers and their versions, submissions, remarks); empty for the others
//! (tokens, documents, comments), for a resource the transaction removed for good, and for
//! changes made before this migration. A copy kept by a client compares it with its own and
//! reads the resource only when they differ.

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
                    .add_column(ColumnDef::new("etag").string_len(32).not_null().default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("change_events")
                    .drop_column("etag")
                    .to_owned(),
            )
            .await
    }
}
