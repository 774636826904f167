//! The register's database schema, as sea-orm migrations.
//!
//! Every migration is written with sea-query's schema builder so that the same code produces
//! correct DDL for SQLite and PostgreSQL. Timestamps are `BIGINT` microseconds since the Unix
//! epoch (UTC), which order and compare identically on both databases.
//!
//! Migrations are applied by `reestr serve` on start (unless `--no-migrate`) and by
//! `reestr migrate up|down|status`.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261128_000001_foundation;
mod m20261128_000002_access_audit;
mod m20261128_000003_systems;
mod m20261128_000004_classifiers;

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
        ]
    }
}
