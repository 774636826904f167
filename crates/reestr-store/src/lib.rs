//! Storage of the register on SQLite (the embedded default) or PostgreSQL, through sea-orm.
//!
//! [`Database`] is a connection pool with the schema operations (migrate, status, ping).
//! [`Store`] is built from a migrated database and hands out one repository per aggregate
//! ([`Store::organizations`], [`Store::systems`], [`Store::classifiers`],
//! [`Store::submissions`], …). Every write goes
//! through [`Store::write`], one transaction that the repository fills and that later also
//! carries the audit and change events.
//!
//! SQLite allows one writer at a time; instead of letting concurrent write transactions fail
//! with `SQLITE_BUSY` when they upgrade their lock, the store serialises writes in process
//! (reads stay concurrent thanks to WAL). PostgreSQL needs no such lock: updates are guarded
//! by the row's revision, so a concurrent change makes the loser's update match no row.
//!
//! [`blob`] keeps the content of uploaded documents, apart from the database: in a local
//! directory or an S3 bucket, addressed by SHA-256, with resumable uploads staged in segments.

mod audit;
pub mod backup;
mod binding;
pub mod blob;
mod change;
mod classifier;
mod clock;
mod counter;
mod entity;
mod error;
mod filter_sql;
mod idempotency;
mod keyset;
mod organization;
mod settings;
mod submission;
mod system;
mod token;

#[cfg(test)]
mod testing;

use std::sync::Arc;
use std::time::Duration;

use reestr_domain::Error;
use reestr_domain::audit::FieldChange;
use reestr_domain::change::ChangeKind;
use reestr_domain::paging::PageTokens;
use reestr_domain::time::{Calendar, Timestamp};
use reestr_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard};

pub use audit::{AuditCondition, AuditContext, AuditQuery, CallId, ChainReport};
pub use binding::{BindingRepo, BoundCodes, ScanBatch};
pub use change::{ChangeQuery, ChangeSelection};
pub use classifier::{ClassifierQuery, ClassifierRepo, DraftGuard, ImportSink, VersionChange};
pub use clock::Clock;
pub use error::db_err;
pub use idempotency::{Idempotency, Outcome};
pub use organization::{OrganizationQuery, OrganizationRepo};
pub use submission::{
    CommentQuery, Deadlines, DocumentQuery, EventQuery, RemarkQuery, RemarkSelection,
    ReviewOutcome, ReviewQuery, ReviewSelection, SubmissionQuery, SubmissionRepo,
};
pub use system::{
    DependentInfo, GraphEdge, GraphNode, RevisionInfo, RevisionQuery, Statistics, SystemQuery,
    SystemRepo, Transition,
};
pub use token::{TokenQuery, TokenRepo};

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The engine of a `sqlite:` or `postgres://` URL.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a new connection or a free pooled one.
    pub connect_timeout: Duration,
    /// SQLite: how long a statement waits for a lock before failing.
    pub sqlite_busy_timeout: Duration,
    /// SQLite: `synchronous=FULL` (every commit reaches the disk before it is acknowledged) when
    /// true, `NORMAL` when false.
    pub sqlite_synchronous_full: bool,
}

impl ConnectionSettings {
    /// Settings with the register's defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(10),
            sqlite_synchronous_full: true,
        }
    }
}

/// One PostgreSQL connection made directly, before the pool is: its error says why it failed
/// (connection refused, no such host, TLS, no such database, authentication), where the pool
/// would only say it timed out waiting. A server that cannot be reached now, or that refuses
/// connections for the moment (starting up, shutting down, too many connections), is
/// [`Error::Unavailable`], which the server's start retries; any other refusal (no such
/// database or role, a wrong password, a URL that does not parse) is a mistake no retry mends,
/// an invalid `database_url`.
async fn first_contact(url: &str, timeout: Duration) -> Result<(), Error> {
    use sea_orm::sqlx::error::Error as E;
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _, postgres::PgConnectOptions};
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: E| Error::invalid("database_url", e.to_string()))?;
    let server = format!("{}:{}", options.get_host(), options.get_port());
    match tokio::time::timeout(timeout, options.connect()).await {
        Err(_) => Err(Error::Unavailable(format!(
            "PostgreSQL at {server} did not answer within {timeout:?}"
        ))),
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(E::Io(e))) => Err(Error::Unavailable(format!(
            "cannot reach PostgreSQL at {server}: {e}"
        ))),
        Ok(Err(E::Tls(e))) => Err(Error::Unavailable(format!(
            "TLS with PostgreSQL at {server} failed: {e}"
        ))),
        Ok(Err(E::Database(e))) => {
            let code = e.code().unwrap_or_default();
            let message = format!(
                "PostgreSQL at {server} refused the connection: {} ({code})",
                e.message()
            );
            // 08…: connection exceptions; 53300: too many connections; 57P01–57P03: shutting
            // down or starting up.
            if code.starts_with("08") || matches!(&*code, "53300" | "57P01" | "57P02" | "57P03") {
                Err(Error::Unavailable(message))
            } else {
                Err(Error::invalid("database_url", message))
            }
        }
        Ok(Err(E::Configuration(e))) => Err(Error::invalid("database_url", e.to_string())),
        Ok(Err(other)) => Err(Error::Unavailable(format!(
            "cannot connect to PostgreSQL at {server}: {other}"
        ))),
    }
}

/// A connection pool to the register's database.
#[derive(Clone, Debug)]
pub struct Database {
    conn: DatabaseConnection,
    backend: Backend,
}

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Migration name, e.g. `m20261128_000001_foundation`.
    pub name: String,
    /// Applied to this database.
    pub applied: bool,
}

impl Database {
    /// Opens a pool. A SQLite file is created if missing and opened in WAL mode with foreign
    /// keys enforced, a busy timeout, and `synchronous` as configured.
    pub async fn connect(settings: &ConnectionSettings) -> Result<Database, Error> {
        let backend = Backend::of_url(&settings.url).ok_or_else(|| {
            Error::invalid(
                "database_url",
                "must start with sqlite: or postgres:// (or postgresql://)",
            )
        })?;
        let mut opts = ConnectOptions::new(settings.url.clone());
        opts.max_connections(settings.max_connections)
            .min_connections(1)
            .connect_timeout(settings.connect_timeout)
            .acquire_timeout(settings.connect_timeout)
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            let busy = settings.sqlite_busy_timeout;
            let sync = if settings.sqlite_synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            };
            opts.map_sqlx_sqlite_opts(move |o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .foreign_keys(true)
                    .busy_timeout(busy)
                    .synchronous(sync)
            });
        }
        let conn = match backend {
            Backend::Postgres => {
                first_contact(&settings.url, settings.connect_timeout).await?;
                sea_orm::Database::connect(opts).await.map_err(db_err)?
            }
            // Opening a file fails only for reasons no retry mends (a directory that cannot
            // be made, a file that is not a database, no permission).
            Backend::Sqlite => sea_orm::Database::connect(opts).await.map_err(|e| {
                Error::invalid(
                    "database_url",
                    format!("cannot open the SQLite database: {e}"),
                )
            })?,
        };
        Ok(Database { conn, backend })
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The sea-orm connection, for tests and tools that need raw SQL.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Applies every pending migration, each with its bookkeeping row in one transaction,
    /// so a crash at any moment leaves whole migrations applied and the next call goes on
    /// from there. Safe to run from several processes at once (see [`reestr_migrations`]).
    pub async fn migrate_up(&self) -> Result<(), Error> {
        Migrator::up(&self.conn, None).await.map_err(db_err)
    }

    /// Applies the next `steps` pending migrations (fewer if fewer are pending), as
    /// [`Database::migrate_up`] applies them all.
    pub async fn migrate_up_steps(&self, steps: u32) -> Result<(), Error> {
        Migrator::up(&self.conn, Some(steps)).await.map_err(db_err)
    }

    /// Rolls back the last `steps` migrations, one transaction each: interrupted, it leaves
    /// the ones already rolled back rolled back and the others applied.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), Error> {
        Migrator::down(&self.conn, Some(steps))
            .await
            .map_err(db_err)
    }

    /// Every migration the server knows, and whether it is applied. Only reads: on a fresh
    /// database every migration is pending and nothing is created.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, Error> {
        let list = Migrator::get_migration_with_status_read_only(&self.conn)
            .await
            .map_err(db_err)?;
        Ok(list
            .iter()
            .map(|m| MigrationState {
                name: m.name().to_string(),
                applied: m.status() == reestr_migrations::MigrationStatus::Applied,
            })
            .collect())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        self.conn.ping().await.map_err(db_err)
    }

    /// Closes every pooled connection, waiting for those in use to be returned.
    pub async fn close(&self) -> Result<(), Error> {
        self.conn.close_by_ref().await.map_err(db_err)
    }
}

/// The register's storage: repositories over a migrated database.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    /// Serialises write transactions on SQLite; `None` on PostgreSQL.
    write_lock: Option<Mutex<()>>,
    page_tokens: PageTokens,
    clock: Clock,
    calendar: Calendar,
    /// The newest revision this process committed: wakes the change feed's watchers.
    committed: tokio::sync::watch::Sender<i64>,
}

/// The row `select` finds, read as a write in this transaction must read it: locked until the
/// transaction ends on PostgreSQL (`FOR UPDATE`: a concurrent writer of the row waits, then
/// reads what this one wrote); on SQLite writers are serialised anyway. `convert` makes the
/// domain value of the row.
pub(crate) async fn find_for_update<E, T>(
    conn: &impl sea_orm::ConnectionTrait,
    select: sea_orm::Select<E>,
    convert: impl FnOnce(E::Model) -> Result<T, reestr_domain::Error>,
) -> Result<Option<T>, reestr_domain::Error>
where
    E: sea_orm::EntityTrait,
{
    use sea_orm::QuerySelect;
    select
        .lock_exclusive()
        .one(conn)
        .await
        .map_err(db_err)?
        .map(convert)
        .transpose()
}

/// An open write transaction, carrying who makes the change. Dropping it without
/// [`Write::commit`] rolls back.
pub struct Write<'a> {
    txn: DatabaseTransaction,
    ctx: AuditContext,
    /// The time of the change: one clock read when the transaction began.
    now: Timestamp,
    /// Resources this transaction changes besides the one [`Write::commit`] names.
    also: std::sync::Mutex<Vec<(String, ChangeKind)>>,
    committed: &'a tokio::sync::watch::Sender<i64>,
    _serial: Option<MutexGuard<'a, ()>>,
}

impl Write<'_> {
    /// The transaction, for repository statements.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The time of the change, read from the store's clock when the transaction began.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Records that this transaction also changes `resource`, in the way `kind` says: it
    /// joins the change feed's event of the transaction, after the resource
    /// [`commit`](Self::commit) names (an approval moves the system of its submission).
    pub fn also_changed(&self, resource: String, kind: ChangeKind) {
        if let Ok(mut also) = self.also.lock() {
            also.push((resource, kind));
        }
    }

    /// Appends the change's audit event (outcome `OK`) and its change events
    /// ([`change::append`]: `resource`, then those of [`also_changed`](Self::also_changed),
    /// under one revision) and commits them together.
    pub async fn commit(self, resource: &str, changes: Vec<FieldChange>) -> Result<(), Error> {
        audit::append(
            &self.txn,
            self.now,
            self.ctx.record(resource, "OK", "", changes),
            self.ctx.call,
        )
        .await?;
        let also = self
            .also
            .into_inner()
            .map_err(|_| Error::Internal("the list of changed resources was poisoned".into()))?;
        let revision = change::append(&self.txn, self.now, &self.ctx, resource, &also).await?;
        self.txn.commit().await.map_err(db_err)?;
        if let Some(revision) = revision {
            self.committed.send_if_modified(|newest| {
                let newer = revision > *newest;
                if newer {
                    *newest = revision;
                }
                newer
            });
        }
        Ok(())
    }

    /// Commits without an event of its own (used to record failures, which are the event).
    pub(crate) async fn commit_unaudited(self) -> Result<(), Error> {
        self.txn.commit().await.map_err(db_err)
    }
}

impl Store {
    /// Builds the store on a migrated database, loading (or creating, on first start) the
    /// settings every replica shares. Times come from `clock`; days are days of `calendar`.
    pub async fn open(db: Database, clock: Clock, calendar: Calendar) -> Result<Store, Error> {
        let key = settings::page_token_key(&db.conn).await?;
        let write_lock = (db.backend == Backend::Sqlite).then(|| Mutex::new(()));
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                write_lock,
                page_tokens: PageTokens::new(key),
                clock,
                calendar,
                committed: tokio::sync::watch::Sender::new(0),
            }),
        })
    }

    /// The current time as the register records it.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The register's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The register's calendar: its time zone, and the days timestamps fall on.
    pub fn calendar(&self) -> &Calendar {
        &self.inner.calendar
    }

    /// The database underneath.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.inner.db.conn
    }

    /// The pool's connections: open, idle, and the most it opens (for the metrics).
    pub fn pool_use(&self) -> (u32, u32, u32) {
        let conn = self.conn();
        let (size, idle, max) = if self.inner.db.backend == Backend::Postgres {
            let pool = conn.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        } else {
            let pool = conn.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        };
        (size, u32::try_from(idle).unwrap_or(u32::MAX), max)
    }

    /// The signer of page tokens, for lists the API pages itself.
    pub fn page_tokens(&self) -> &PageTokens {
        &self.inner.page_tokens
    }

    /// Starts the one kind of transaction every change goes through; its commit writes the
    /// audit event of `ctx` in the same transaction.
    pub async fn write(&self, ctx: &AuditContext) -> Result<Write<'_>, Error> {
        let mut write = self.begin_write().await?;
        write.ctx = ctx.clone();
        Ok(write)
    }

    pub(crate) async fn begin_write(&self) -> Result<Write<'_>, Error> {
        let serial = match &self.inner.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        // BEGIN IMMEDIATE on SQLite: take the write lock up front, so a writer outside this
        // process makes us wait (busy timeout) instead of failing at the first write.
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.inner.db.backend == Backend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = self
            .conn()
            .begin_with_options(options)
            .await
            .map_err(db_err)?;
        Ok(Write {
            txn,
            ctx: AuditContext::default(),
            now: self.now(),
            also: std::sync::Mutex::new(Vec::new()),
            committed: &self.inner.committed,
            _serial: serial,
        })
    }

    /// Organisations.
    pub fn organizations(&self) -> OrganizationRepo<'_> {
        OrganizationRepo::new(self)
    }

    /// Information systems.
    pub fn systems(&self) -> SystemRepo<'_> {
        SystemRepo::new(self)
    }

    /// Field bindings.
    pub fn bindings(&self) -> BindingRepo<'_> {
        BindingRepo::new(self)
    }

    /// API tokens.
    pub fn tokens(&self) -> TokenRepo<'_> {
        TokenRepo::new(self)
    }

    /// Reference classifiers, their versions and items.
    pub fn classifiers(&self) -> ClassifierRepo<'_> {
        ClassifierRepo::new(self)
    }

    /// Submissions of design documentation, their reviews and timelines.
    pub fn submissions(&self) -> SubmissionRepo<'_> {
        SubmissionRepo::new(self)
    }
}

#[cfg(test)]
mod tests {
    use reestr_migrations::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Statement};

    use crate::testing::on_every_fresh_database;
    use crate::{Backend, Database};

    #[tokio::test]
    async fn migration_status_on_a_fresh_database_lists_every_migration_pending_and_creates_nothing()
     {
        on_every_fresh_database(async |db: Database| {
            let status = db.migration_status().await.unwrap();
            assert_eq!(status.len(), Migrator::migrations().len());
            assert!(status.iter().all(|m| !m.applied), "{status:?}");
            assert!(
                !bookkeeping_table_exists(&db).await,
                "status created the bookkeeping table"
            );

            db.migrate_up().await.unwrap();
            let status = db.migration_status().await.unwrap();
            assert!(status.iter().all(|m| m.applied), "{status:?}");
        })
        .await;
    }

    /// Whether `seaql_migrations`, the migrations' bookkeeping table, exists.
    async fn bookkeeping_table_exists(db: &Database) -> bool {
        let sql = match db.backend() {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'seaql_migrations'"
            }
        };
        let conn = db.connection();
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap() > 0
    }
}
