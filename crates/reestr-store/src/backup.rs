//! Backups of the register's database, and restoring one into a new database.
//!
//! - **SQLite**: `VACUUM INTO` writes a consistent copy of the whole database while servers
//!   go on serving (it reads one snapshot; writers are not blocked, thanks to WAL). The copy is
//!   an ordinary SQLite file. Restoring checks it (`PRAGMA integrity_check`, and that it is a
//!   register's database) and puts it in place of a database that does not exist yet.
//! - **PostgreSQL**: `pg_dump --format=custom` of the database (one snapshot, online), and
//!   `pg_restore --single-transaction --exit-on-error --no-owner` into an empty database; both
//!   are PostgreSQL's own client programs, which must be on `PATH`.
//!
//! Either way the file is written under a temporary name and renamed when whole, so an
//! interrupted backup never leaves a file that looks finished, and neither command ever
//! overwrites anything: a backup refuses an existing file, a restore a database that has
//! tables. Documents are not in the database: see the README ("Backup and restore").

use std::path::{Path, PathBuf};

use reestr_domain::Error;
use sea_orm::{ConnectionTrait, Statement};

use crate::{Backend, ConnectionSettings, Database, db_err};

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// Writes a consistent copy of `database` (reached at `url`) to `out`, a file that must not
/// exist yet.
pub async fn backup(database: &Database, url: &str, out: &Path) -> Result<BackupReport, Error> {
    if out.exists() {
        return Err(Error::invalid(
            "--output",
            format!("{} exists; a backup never overwrites a file", out.display()),
        ));
    }
    let partial = partial_path(out);
    let _ = std::fs::remove_file(&partial);
    match database.backend() {
        Backend::Sqlite => {
            let target = partial.to_str().ok_or_else(|| {
                Error::invalid("--output", "the path must be valid UTF-8 for SQLite")
            })?;
            let sql = format!("VACUUM INTO '{}'", target.replace('\'', "''"));
            database
                .connection()
                .execute_unprepared(&sql)
                .await
                .map_err(db_err)?;
        }
        Backend::Postgres => {
            run_tool(
                tokio::process::Command::new("pg_dump")
                    .arg("--format=custom")
                    .arg("--no-owner")
                    .arg(format!("--file={}", partial.display()))
                    .arg(format!("--dbname={url}")),
                "pg_dump",
            )
            .await?;
        }
    }
    finish(&partial, out)?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or_default();
    Ok(BackupReport {
        path: out.to_path_buf(),
        bytes,
    })
}

/// Restores the backup `from` into the database `settings` names, which must be new: on
/// SQLite a file that does not exist, on PostgreSQL a database without tables. The caller then
/// opens it as usual (migrations bring an older backup's schema forward) and verifies the
/// audit chain.
pub async fn restore(settings: &ConnectionSettings, from: &Path) -> Result<(), Error> {
    if !from.is_file() {
        return Err(Error::invalid(
            "--input",
            format!("{} is not a file", from.display()),
        ));
    }
    match Backend::of_url(&settings.url) {
        Some(Backend::Sqlite) => restore_sqlite(&settings.url, from).await,
        Some(Backend::Postgres) => restore_postgres(settings, from).await,
        None => Err(Error::invalid(
            "database_url",
            "must start with sqlite: or postgres://",
        )),
    }
}

async fn restore_sqlite(url: &str, from: &Path) -> Result<(), Error> {
    let target = sqlite_file(url)?;
    for existing in [
        target.clone(),
        with_suffix(&target, "-wal"),
        with_suffix(&target, "-shm"),
    ] {
        if existing.exists() {
            return Err(Error::invalid(
                "--database-url",
                format!(
                    "{} exists; a restore goes into a new database (stop the servers and move \
                     the old files away first)",
                    existing.display()
                ),
            ));
        }
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Internal(format!("{}: {e}", dir.display())))?;
    }
    // The copy is checked, not the backup: the backup file stays as it was.
    let partial = partial_path(&target);
    std::fs::copy(from, &partial)
        .map_err(|e| Error::Internal(format!("copy to {}: {e}", partial.display())))?;
    if let Err(e) = check_sqlite_copy(&partial).await {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    finish(&partial, &target)
}

/// A SQLite file that passes its integrity check and holds a register's schema.
async fn check_sqlite_copy(path: &Path) -> Result<(), Error> {
    let url = format!("sqlite://{}", path.display());
    let database = Database::connect(&ConnectionSettings::new(url))
        .await
        .map_err(|e| Error::invalid("--input", format!("not a SQLite database: {e}")))?;
    let conn = database.connection();
    let backend = conn.get_database_backend();
    let check = conn
        .query_one_raw(Statement::from_string(backend, "PRAGMA integrity_check"))
        .await
        .map_err(|e| Error::invalid("--input", format!("not a SQLite database: {e}")));
    let verdict: String = match check {
        Ok(Some(row)) => row.try_get_by_index(0).unwrap_or_default(),
        Ok(None) => String::new(),
        Err(e) => {
            let _ = database.close().await;
            return Err(e);
        }
    };
    let register = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'seaql_migrations'",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get_by_index::<i64>(0).ok())
        .unwrap_or_default();
    let _ = database.close().await;
    if verdict != "ok" {
        return Err(Error::invalid(
            "--input",
            format!("the backup is damaged: integrity check says {verdict:?}"),
        ));
    }
    if register == 0 {
        return Err(Error::invalid(
            "--input",
            "the file is a SQLite database but not a register's",
        ));
    }
    Ok(())
}

async fn restore_postgres(settings: &ConnectionSettings, from: &Path) -> Result<(), Error> {
    let database = Database::connect(settings).await?;
    let backend = database.connection().get_database_backend();
    let tables = database
        .connection()
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
        ))
        .await
        .map_err(db_err)?
        .and_then(|row| row.try_get_by_index::<i64>(0).ok())
        .unwrap_or_default();
    database.close().await?;
    if tables > 0 {
        return Err(Error::invalid(
            "--database-url",
            format!(
                "the database has {tables} tables; a restore goes into a new, empty database \
                 (createdb NAME)"
            ),
        ));
    }
    run_tool(
        tokio::process::Command::new("pg_restore")
            .arg("--single-transaction")
            .arg("--exit-on-error")
            .arg("--no-owner")
            .arg("--no-privileges")
            .arg(format!("--dbname={}", settings.url))
            .arg(from),
        "pg_restore",
    )
    .await
}

/// Runs one of PostgreSQL's client programs; its standard error is the error's text.
async fn run_tool(command: &mut tokio::process::Command, name: &str) -> Result<(), Error> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Error::invalid(
                "database_url",
                format!(
                    "cannot run {name} ({e}); PostgreSQL backups need PostgreSQL's client \
                     programs on PATH (Debian: apt install postgresql-client)"
                ),
            )
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "{name} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// The path of a SQLite URL's file: `sqlite://PATH`, `sqlite:PATH`, without `?options`.
fn sqlite_file(url: &str) -> Result<PathBuf, Error> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(Error::invalid(
            "--database-url",
            "a restore needs a SQLite file",
        ));
    }
    Ok(PathBuf::from(path))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn partial_path(path: &Path) -> PathBuf {
    with_suffix(path, ".partial")
}

/// Makes `partial` durable and gives it its final name.
fn finish(partial: &Path, path: &Path) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Internal(format!("{}: {e}", path.display()));
    std::fs::File::open(partial)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(partial, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}
