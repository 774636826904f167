//! Applies and rolls back migrations one transaction at a time: a migration's DDL and its row
//! in the bookkeeping table commit together, or neither does.
//!
//! sea-orm-migration wraps a migration in a transaction on PostgreSQL only (its
//! `MigrationTrait::use_transaction` defaults to the backend's convention), so on SQLite a
//! crash between a migration's `CREATE TABLE` and its bookkeeping row left tables that no
//! later start could create again. SQLite's DDL is transactional like PostgreSQL's, so each
//! step here is one transaction on both:
//!
//! 1. `BEGIN` (`BEGIN IMMEDIATE` on SQLite: the database's write lock is taken up front, so a
//!    second process migrating the same file waits its busy timeout instead of failing);
//! 2. on PostgreSQL, `pg_advisory_xact_lock(MIGRATION_LOCK)`: another server migrating the
//!    same database waits here until this step commits;
//! 3. create the bookkeeping table if missing and read which migrations are applied — under
//!    the lock, so what another process committed meanwhile is seen;
//! 4. run the next migration (`up`) or the newest applied one (`down`) on a
//!    [`SchemaManager`] over the transaction, and insert or delete its row;
//! 5. `COMMIT`.
//!
//! A crash at any point leaves every migration either wholly applied or not at all, and the
//! next run continues from there.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseExecutor, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use sea_orm_migration::seaql_migrations;

/// The key of the PostgreSQL advisory lock every migration step holds (the bytes of
/// `reestrMG`). Advisory locks are per database, so databases on one server do not contend.
pub const MIGRATION_LOCK: i64 = 0x7265_6573_7472_4d47;

/// Which way a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Apply pending migrations, oldest first.
    Up,
    /// Roll back applied migrations, newest first.
    Down,
}

/// Applies (`Up`) or rolls back (`Down`) up to `steps` migrations of `M` (all, with `None`),
/// each in a transaction of its own.
pub(crate) async fn run<M: MigratorTrait>(
    db: &DatabaseExecutor<'_>,
    direction: Direction,
    steps: Option<u32>,
) -> Result<(), DbErr> {
    let mut done = 0;
    while steps.is_none_or(|steps| done < steps) {
        if !step::<M>(db, direction).await? {
            break;
        }
        done += 1;
    }
    Ok(())
}

/// One migration and its bookkeeping row, in one transaction; `false` when there was nothing
/// left to do in `direction`.
async fn step<M: MigratorTrait>(
    db: &DatabaseExecutor<'_>,
    direction: Direction,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: (backend == DatabaseBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    if backend == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
    }
    // Creates the bookkeeping table if missing, then reads it.
    let applied: HashSet<String> = M::get_migration_models(&txn)
        .await?
        .into_iter()
        .map(|row| row.version)
        .collect();
    let known = M::migrations();
    if let Some(unknown) = applied
        .iter()
        .find(|name| !known.iter().any(|m| m.name() == name.as_str()))
    {
        return Err(DbErr::Migration(format!(
            "migration {unknown} is applied to this database but unknown to this program \
             (was the database migrated by a newer version?)"
        )));
    }
    let next = match direction {
        Direction::Up => known.iter().find(|m| !applied.contains(m.name())),
        Direction::Down => known.iter().rev().find(|m| applied.contains(m.name())),
    };
    let Some(migration) = next else {
        txn.commit().await?;
        return Ok(false);
    };
    let manager = SchemaManager::new(&txn);
    let table = M::migration_table_name();
    match direction {
        Direction::Up => {
            migration.up(&manager).await?;
            let applied_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
                <i64 as TryFrom<u64>>::try_from(d.as_secs()).unwrap_or(i64::MAX)
            });
            let mut insert = Query::insert();
            insert
                .into_table(table)
                .columns([
                    seaql_migrations::Column::Version,
                    seaql_migrations::Column::AppliedAt,
                ])
                .values([migration.name().into(), applied_at.into()])
                .map_err(|e| DbErr::Migration(e.to_string()))?;
            txn.execute(&insert).await?;
        }
        Direction::Down => {
            migration.down(&manager).await?;
            let delete = Query::delete()
                .from_table(table)
                .and_where(Expr::col(seaql_migrations::Column::Version).eq(migration.name()))
                .to_owned();
            txn.execute(&delete).await?;
        }
    }
    txn.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use sea_orm_migration::sea_orm::{
        ConnectionTrait, Database, DatabaseConnection, IntoDatabaseExecutor,
    };

    use super::{Direction, run};
    use crate::{MigrationStatus, Migrator};
    use sea_orm_migration::prelude::*;

    /// A fresh database: a SQLite file, or a PostgreSQL database dropped by [`Fresh::drop`].
    struct Fresh {
        url: String,
        postgres: Option<(DatabaseConnection, String)>,
        _dir: Option<tempfile::TempDir>,
    }

    impl Fresh {
        async fn connect(&self) -> DatabaseConnection {
            Database::connect(&self.url).await.unwrap()
        }

        async fn drop(self) {
            if let Some((server, name)) = self.postgres {
                server
                    .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .await
                    .unwrap();
                server.close().await.unwrap();
            }
        }
    }

    /// A fresh SQLite database and, when `TEST_DATABASE_URL` names a PostgreSQL server, a
    /// fresh PostgreSQL database.
    async fn fresh_databases() -> Vec<Fresh> {
        let dir = tempfile::tempdir().unwrap();
        let mut databases = vec![Fresh {
            url: format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
            postgres: None,
            _dir: Some(dir),
        }];
        if let Ok(admin) = std::env::var("TEST_DATABASE_URL")
            && !admin.is_empty()
        {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let name = format!("reestr_migrations_{nanos:x}_{}", std::process::id());
            let server = Database::connect(&admin).await.unwrap();
            server
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            databases.push(Fresh {
                url: format!("{base}/{name}"),
                postgres: Some((server, name)),
                _dir: None,
            });
        }
        databases
    }

    async fn has_table(db: &DatabaseConnection, table: &str) -> bool {
        SchemaManager::new(db).has_table(table).await.unwrap()
    }

    async fn applied<M: MigratorTrait>(db: &DatabaseConnection) -> Vec<String> {
        M::get_migration_with_status(db)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.status() == MigrationStatus::Applied)
            .map(|m| m.name().to_string())
            .collect()
    }

    /// Two migrations of tables `first` and `second`. The second fails after creating its
    /// table, or after dropping it, while a table `refuse_second` exists.
    struct Fixture;

    struct First;
    struct Second;

    impl MigrationName for First {
        fn name(&self) -> &str {
            "m_first"
        }
    }

    impl MigrationName for Second {
        fn name(&self) -> &str {
            "m_second"
        }
    }

    fn table(name: &'static str) -> TableCreateStatement {
        Table::create()
            .table(name)
            .col(ColumnDef::new("id").integer().not_null().primary_key())
            .to_owned()
    }

    #[async_trait::async_trait]
    impl MigrationTrait for First {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager.create_table(table("first")).await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table("first").to_owned())
                .await
        }
    }

    async fn refused(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        if manager.has_table("refuse_second").await? {
            return Err(DbErr::Migration("refused".into()));
        }
        Ok(())
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Second {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager.create_table(table("second")).await?;
            refused(manager).await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table("second").to_owned())
                .await?;
            refused(manager).await
        }
    }

    impl MigratorTrait for Fixture {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(First), Box::new(Second)]
        }
    }

    async fn fixture(db: &DatabaseConnection, direction: Direction) -> Result<(), DbErr> {
        run::<Fixture>(&db.into_database_executor(), direction, None).await
    }

    #[tokio::test]
    async fn a_migration_failing_half_way_leaves_neither_its_tables_nor_its_row() {
        for fresh in fresh_databases().await {
            let db = fresh.connect().await;
            db.execute(&table("refuse_second")).await.unwrap();

            assert!(fixture(&db, Direction::Up).await.is_err());
            assert!(has_table(&db, "first").await);
            assert!(!has_table(&db, "second").await, "{}", fresh.url);
            assert_eq!(applied::<Fixture>(&db).await, ["m_first"]);

            // The next run continues with the migration that failed.
            db.execute(&Table::drop().table("refuse_second").to_owned())
                .await
                .unwrap();
            fixture(&db, Direction::Up).await.unwrap();
            assert!(has_table(&db, "second").await);
            assert_eq!(applied::<Fixture>(&db).await, ["m_first", "m_second"]);

            db.close().await.unwrap();
            fresh.drop().await;
        }
    }

    #[tokio::test]
    async fn a_rollback_failing_half_way_keeps_its_migration_applied() {
        for fresh in fresh_databases().await {
            let db = fresh.connect().await;
            fixture(&db, Direction::Up).await.unwrap();
            db.execute(&table("refuse_second")).await.unwrap();

            assert!(fixture(&db, Direction::Down).await.is_err());
            assert!(has_table(&db, "second").await, "{}", fresh.url);
            assert_eq!(applied::<Fixture>(&db).await, ["m_first", "m_second"]);

            db.execute(&Table::drop().table("refuse_second").to_owned())
                .await
                .unwrap();
            fixture(&db, Direction::Down).await.unwrap();
            assert!(!has_table(&db, "second").await);
            assert!(!has_table(&db, "first").await);
            assert!(applied::<Fixture>(&db).await.is_empty());

            db.close().await.unwrap();
            fresh.drop().await;
        }
    }

    #[tokio::test]
    async fn an_applied_migration_this_program_does_not_know_is_refused() {
        for fresh in fresh_databases().await {
            let db = fresh.connect().await;
            Migrator::up(&db, None).await.unwrap();
            let err = fixture(&db, Direction::Up).await.unwrap_err();
            assert!(err.to_string().contains("unknown to this program"), "{err}");
            assert!(!has_table(&db, "first").await);
            db.close().await.unwrap();
            fresh.drop().await;
        }
    }

    #[tokio::test]
    async fn the_register_migrations_roll_back_one_by_one_and_apply_again() {
        for fresh in fresh_databases().await {
            let db = fresh.connect().await;
            let all: Vec<String> = Migrator::migrations()
                .iter()
                .map(|m| m.name().to_string())
                .collect();
            Migrator::up(&db, None).await.unwrap();
            assert_eq!(applied::<Migrator>(&db).await, all);
            for left in (0..all.len()).rev() {
                Migrator::down(&db, Some(1)).await.unwrap();
                assert_eq!(applied::<Migrator>(&db).await, all[..left], "{}", fresh.url);
            }
            assert!(!has_table(&db, "organizations").await);
            Migrator::up(&db, Some(2)).await.unwrap();
            assert_eq!(applied::<Migrator>(&db).await, all[..2]);
            Migrator::up(&db, None).await.unwrap();
            assert_eq!(applied::<Migrator>(&db).await, all);
            db.close().await.unwrap();
            fresh.drop().await;
        }
    }

    #[tokio::test]
    async fn two_processes_migrating_one_fresh_database_at_once_both_succeed() {
        for fresh in fresh_databases().await {
            // Separate pools, as two servers would have.
            let (a, b) = (fresh.connect().await, fresh.connect().await);
            let (ran_a, ran_b) = tokio::join!(Migrator::up(&a, None), Migrator::up(&b, None));
            ran_a.unwrap();
            ran_b.unwrap();
            let all: Vec<String> = Migrator::migrations()
                .iter()
                .map(|m| m.name().to_string())
                .collect();
            assert_eq!(applied::<Migrator>(&a).await, all, "{}", fresh.url);
            a.close().await.unwrap();
            b.close().await.unwrap();
            fresh.drop().await;
        }
    }
}
