//! The register's database schema, as sea-orm migrations.
//!
//! Every migration is written with sea-query's schema builder so that the same code produces
//! correct DDL for SQLite and PostgreSQL. Timestamps are `BIGINT` microseconds since the Unix
//! epoch (UTC), which order and compare identically on both databases.
//!
//! Migrations are applied by `reestr serve` on start (unless `--no-migrate`) and by
//! `reestr migrate up|down|status`, all through `reestr_store::Database`, which calls
//! [`Migrator`]; this crate's own binary (`cargo run -p reestr-migrations`) is a development
//! tool over the same [`Migrator`].
//!
//! # Each migration commits atomically
//!
//! A migration's DDL and its row in the bookkeeping table `seaql_migrations` commit in one
//! transaction, on SQLite as on PostgreSQL (both have transactional DDL): a process killed at
//! any moment of `up` or `down` leaves each migration wholly applied or not at all, and the
//! next start or `reestr migrate` continues where the last one stopped. `migrate down --steps
//! N` rolls back one migration per transaction, so killed half-way it leaves the migrations it
//! rolled back rolled back and the others applied.
//!
//! sea-orm-migration's own runner wraps a migration in a transaction on PostgreSQL only. Its
//! switch for the other backends, `MigrationTrait::use_transaction` returning `Some(true)`,
//! would have to be repeated in every migration, and its runner reads the pending migrations
//! once, outside any lock, so two servers starting on one fresh PostgreSQL database would
//! still both create `seaql_migrations` and both run the first migration, and one of them
//! would fail to start. So [`Migrator`] overrides `up` and `down` (and `refresh` and `reset`,
//! which are made of them) with the runner in `runner.rs`: one transaction per migration
//! (`BEGIN IMMEDIATE` on SQLite, which waits for another writer), in which it takes the
//! advisory lock [`MIGRATION_LOCK`] on PostgreSQL, reads the applied migrations, runs the next
//! one through a [`SchemaManager`] on the transaction and writes its bookkeeping row. Of two
//! servers starting together, the second waits at each step and then finds the migration the
//! first applied. (The development tool's `fresh`, which drops every table and starts over,
//! is still sea-orm-migration's.)
//!
//! A migration therefore must stay inside its transaction: no `COMMIT` of its own, and no
//! statement that refuses to run in one (PostgreSQL's `CREATE INDEX CONCURRENTLY`, SQLite's
//! `VACUUM`; SQLite's `PRAGMA foreign_keys` does nothing inside one).

pub use runner::MIGRATION_LOCK;
pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261128_000001_foundation;
mod m20261128_000002_access_audit;
mod m20261128_000003_systems;
mod m20261128_000004_classifiers;
mod m20261203_000005_audit_call;
mod m20261203_000006_submissions;
mod m20261204_000007_submission_parties;
mod m20261204_000008_documents;
mod m20261205_000009_remarks_comments;
mod m20261207_000010_change_events;
mod m20261208_000011_token_rate_limits;
mod m20261208_000012_change_parties;
mod m20261208_000013_change_etags;
mod m20261208_000014_field_bindings;
mod runner;

use runner::Direction;

/// The ordered list of the register's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_foundation::Migration),
            Box::new(m20261128_000002_access_audit::Migration),
            Box::new(m20261128_000003_systems::Migration),
            Box::new(m20261128_000004_classifiers::Migration),
            Box::new(m20261203_000005_audit_call::Migration),
            Box::new(m20261203_000006_submissions::Migration),
            Box::new(m20261204_000007_submission_parties::Migration),
            Box::new(m20261204_000008_documents::Migration),
            Box::new(m20261205_000009_remarks_comments::Migration),
            Box::new(m20261207_000010_change_events::Migration),
            Box::new(m20261208_000011_token_rate_limits::Migration),
            Box::new(m20261208_000012_change_parties::Migration),
            Box::new(m20261208_000013_change_etags::Migration),
            Box::new(m20261208_000014_field_bindings::Migration),
        ]
    }

    /// Applies pending migrations (all, or the oldest `steps`), each with its bookkeeping row
    /// in one transaction.
    async fn up<'c, C>(db: C, steps: Option<u32>) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        runner::run::<Self>(&db.into_database_executor(), Direction::Up, steps).await
    }

    /// Rolls back applied migrations (all, or the newest `steps`), each with its bookkeeping
    /// row in one transaction.
    async fn down<'c, C>(db: C, steps: Option<u32>) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        runner::run::<Self>(&db.into_database_executor(), Direction::Down, steps).await
    }

    /// Rolls back every migration, then applies them all again.
    async fn refresh<'c, C>(db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        let db = db.into_database_executor();
        runner::run::<Self>(&db, Direction::Down, None).await?;
        runner::run::<Self>(&db, Direction::Up, None).await
    }

    /// Rolls back every migration and drops the bookkeeping table.
    async fn reset<'c, C>(db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        let db = db.into_database_executor();
        runner::run::<Self>(&db, Direction::Down, None).await?;
        Self::uninstall(db).await
    }
}
