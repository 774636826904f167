//! Database errors as register errors.

use reestr_domain::Error;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Maps a sea-orm error to the register's error: unique and foreign-key violations (on either
/// database) to ALREADY_EXISTS and FAILED_PRECONDITION, lost connections to UNAVAILABLE, and
/// anything else to an internal error. Repositories check uniqueness and references
/// themselves first, to name the exact field; this mapping is the backstop for races.
pub fn db_err(err: DbErr) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) => {
            tracing::debug!(error = %msg, "unique violation");
            return Error::AlreadyExists {
                resource: "a resource with the same name or unique value (created concurrently)"
                    .into(),
                field: None,
            };
        }
        Some(SqlErr::ForeignKeyConstraintViolation(msg)) => {
            tracing::debug!(error = %msg, "foreign-key violation");
            return Error::ReferenceNotFound {
                field: "request".into(),
                reference: "a resource that was removed concurrently".into(),
            };
        }
        _ => {}
    }
    match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Error::Unavailable(err.to_string()),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))
            if is_connection_error(e) =>
        {
            Error::Unavailable(err.to_string())
        }
        _ => Error::Internal(err.to_string()),
    }
}

/// Errors that say the database cannot serve now but may soon: lost or refused connections,
/// an exhausted pool, SQLite's busy/locked (the busy timeout ran out), PostgreSQL refusing
/// connections or shutting down.
fn is_connection_error(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match e {
        E::Io(_)
        | E::Tls(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::Protocol(_) => true,
        E::Database(db) => matches!(
            db.code().as_deref(),
            // SQLite: SQLITE_BUSY, SQLITE_LOCKED (and their extended codes).
            Some("5" | "6" | "261" | "262" | "517")
                // PostgreSQL: connection exceptions, admin shutdown, cannot connect now.
                | Some("08000" | "08003" | "08006" | "57P01" | "57P02" | "57P03")
        ),
        _ => false,
    }
}

/// NOT_FOUND naming `resource`.
pub(crate) fn not_found(resource: String) -> Error {
    Error::NotFound { resource }
}

/// What a lookup by id (or by key) found, or NOT_FOUND: the one answer every repository gives
/// when no row has the id asked for.
pub(crate) trait OrNotFound<T> {
    /// The value found, or NOT_FOUND naming the resource `resource` returns.
    fn or_not_found(self, resource: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> OrNotFound<T> for Option<T> {
    fn or_not_found(self, resource: impl FnOnce() -> String) -> Result<T, Error> {
        self.ok_or_else(|| not_found(resource()))
    }
}
