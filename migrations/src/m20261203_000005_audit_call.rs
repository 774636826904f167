//! The call each audit event belongs to.
//!
//! `audit_events.call_id` names the gRPC call that wrote an event (unique per server process
//! and call; empty for events written outside a call, such as the bootstrap token). A call
//! writes exactly one event: a call whose future is dropped while its successful COMMIT is in
//! flight would otherwise add a second, CANCELLED, event for the change that did commit. The
//! recorder of an abandoned or failed call looks its call up first (indexed) and writes
//! nothing when the call's event is there. The column is not part of the hash chain: it says
//! which call wrote an event, not what happened.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("audit_events")
                    .add_column(
                        ColumnDef::new("call_id")
                            .string_len(40)
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_call_id")
                    .table("audit_events")
                    .col("call_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_audit_events_call_id")
                    .table("audit_events")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("audit_events")
                    .drop_column("call_id")
                    .to_owned(),
            )
            .await
    }
}
