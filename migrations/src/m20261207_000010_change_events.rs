//! The change feed: one row per resource changed by a committed transaction.
//!
//! `revision` is the transaction's: from 1, without gaps, in commit order. It is allocated in
//! the transaction, after the audit event, as the largest revision so far plus one; every
//! writing transaction holds the audit trail's lock (the `audit_lock` row on PostgreSQL, the
//! one writer on SQLite) until it commits, so revisions are handed out one transaction at a
//! time and a transaction that rolls back gives its number back. `position` orders the
//! resources one transaction changed. A register made before this migration starts its feed
//! at revision 1 with its next change.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("change_events")
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .col(ColumnDef::new("position").integer().not_null())
                    .col(ColumnDef::new("resource").string_len(400).not_null())
                    .col(ColumnDef::new("resource_type").string_len(40).not_null())
                    .col(ColumnDef::new("kind").string_len(20).not_null())
                    .col(ColumnDef::new("method").string_len(200).not_null())
                    .col(ColumnDef::new("caller").string_len(400).not_null())
                    .col(ColumnDef::new("change_time").big_integer().not_null())
                    .primary_key(Index::create().col("revision").col("position"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("change_events").to_owned())
            .await
    }
}
