//! Numbered series: the one counter that issues registration numbers of systems (`IS`) and
//! conclusion numbers of submissions (`EX`), per series and year.

use reestr_domain::Error;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};

use crate::db_err;
use crate::entity::number_counter::{self as row, Column};

/// The series of registration numbers of systems.
pub(crate) const REGISTRATION: &str = "IS";

/// The series of conclusion numbers of submissions.
pub(crate) const CONCLUSION: &str = reestr_domain::submission::ConclusionNumber::PREFIX;

/// The next number of `series` in `year`, from 1, inside `conn`'s transaction. One atomic
/// upsert: concurrent writers (PostgreSQL) queue on the year's row and each gets the next
/// number; none is issued twice or skipped, and a number whose transaction rolls back is
/// issued again.
pub(crate) async fn next(
    conn: &impl ConnectionTrait,
    series: &str,
    year: i32,
) -> Result<i64, Error> {
    let insert = Query::insert()
        .into_table(row::Entity)
        .columns([Column::Series, Column::Year, Column::Last])
        .values([series.into(), year.into(), 1i64.into()])
        .map_err(|e| Error::Internal(e.to_string()))?
        .on_conflict(
            OnConflict::columns([Column::Series, Column::Year])
                .value(Column::Last, Expr::col((row::Entity, Column::Last)).add(1))
                .to_owned(),
        )
        .returning_col(Column::Last)
        .to_owned();
    let statement = conn.get_database_backend().build(&insert);
    let row = conn
        .query_one_raw(statement)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::Internal(format!("counter {series} returned no row")))?;
    row.try_get("", "last").map_err(db_err)
}
