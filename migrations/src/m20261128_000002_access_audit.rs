//! Identity and audit: API tokens, and the append-only, hash-chained audit trail.
//!
//! The database itself refuses to change or remove audit events: triggers on both engines
//! raise an error on UPDATE and DELETE of `audit_events` (and on TRUNCATE on PostgreSQL).
//! `audit_lock` has one row that every appending transaction locks on PostgreSQL, so
//! concurrent writers take sequence numbers one after another without gaps.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
];

const POSTGRES_TRIGGERS: &[&str] = &[
    "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$",
    "CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events \
     FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events \
     FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tokens")
                    .col(ColumnDef::new("id").string_len(32).not_null().primary_key())
                    .col(ColumnDef::new("organization_id").string_len(63).null())
                    // Comma-separated role names, sorted.
                    .col(ColumnDef::new("roles").string_len(100).not_null())
                    .col(ColumnDef::new("display_name").string_len(400).not_null())
                    // Hex SHA-256 of the secret; the secret itself is never stored.
                    .col(ColumnDef::new("secret_hash").string_len(64).not_null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("expire_time").big_integer().null())
                    .col(ColumnDef::new("revoke_time").big_integer().null())
                    .col(ColumnDef::new("creator").string_len(400).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tokens_organization")
                            .from("tokens", "organization_id")
                            .to("organizations", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_tokens_secret_hash")
                    .table("tokens")
                    .col("secret_hash")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tokens_create_time")
                    .table("tokens")
                    .col("create_time")
                    .col("id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .col(
                        ColumnDef::new("sequence")
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("event_time").big_integer().not_null())
                    .col(ColumnDef::new("caller").string_len(400).not_null())
                    .col(ColumnDef::new("organization").string_len(63).not_null())
                    .col(ColumnDef::new("method").string_len(200).not_null())
                    .col(ColumnDef::new("resource").string_len(400).not_null())
                    .col(ColumnDef::new("request_id").string_len(36).not_null())
                    .col(ColumnDef::new("outcome").string_len(32).not_null())
                    .col(ColumnDef::new("reason").string_len(64).not_null())
                    // JSON array of {field, old, new}.
                    .col(ColumnDef::new("changes").text().not_null())
                    .col(ColumnDef::new("hash").string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_audit_events_resource", "resource"),
            ("ix_audit_events_caller", "caller"),
            ("ix_audit_events_organization", "organization"),
            ("ix_audit_events_method", "method"),
            ("ix_audit_events_event_time", "event_time"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("audit_events")
                        .col(col)
                        .col("sequence")
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("audit_lock")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("INSERT INTO audit_lock (id) VALUES (1)")
            .await?;
        let triggers = match manager.get_database_backend() {
            DatabaseBackend::Postgres => POSTGRES_TRIGGERS,
            _ => SQLITE_TRIGGERS,
        };
        for sql in triggers {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["audit_lock", "audit_events", "tokens"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS audit_events_append_only()")
                .await?;
        }
        Ok(())
    }
}
