//! The items of a version: edits of a draft, whole imports ([`ImportSink`]), reads by code
//! and scans in code order, in raw multi-row SQL.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;

use reestr_domain::Error;
use reestr_domain::classifier::codec::{decode_item, encode_item};
use reestr_domain::classifier::name::ITEMS;
use reestr_domain::classifier::{ClassifierId, Code, Item, Version, VersionId};
use reestr_domain::input::count_i64;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, Value,
};

use super::ClassifierRepo;
use super::DraftGuard;
use super::versions::{claim, commit_version, save_version, writable_draft};
use crate::audit::AuditContext;
use crate::entity::classifier_item as item_row;
use crate::{Write, db_err};

/// Rows per multi-row `INSERT` of items, largest first: 5 bound values per row, so at most
/// 2,500 per statement, far below SQLite's limit of 32,766 bound parameters (and PostgreSQL's
/// 65,535). A statement takes the largest size that fits, so only these few statement shapes
/// are ever prepared (and cached) per connection.
const INSERT_BATCH_ROWS: [usize; 18] = [
    500, 384, 256, 192, 128, 96, 64, 48, 32, 24, 16, 12, 8, 6, 4, 3, 2, 1,
];
/// PostgreSQL: most bytes one item statement sends. sqlx 0.9 opens TCP connections without
/// `TCP_NODELAY`, so a message larger than the socket's send buffer (16 KiB by default on
/// Linux) waits for the server's delayed ACK — 40 ms — before its tail leaves: measured on
/// loopback, a 100-row statement took 1.7 ms and a 110-row one 44 ms. Statements are kept
/// well below that. SQLite has no such bound.
const POSTGRES_STATEMENT_BYTES: usize = 12 * 1024;
/// Codes per `IN (…)` list.
const CODE_BATCH: usize = 500;

impl<'s> ClassifierRepo<'s> {
    /// Adds or replaces items of a draft. When a code repeats in `items`, its last occurrence
    /// wins. An empty `items` changes nothing.
    pub async fn upsert_items(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        guard: DraftGuard<'_>,
        items: &[Item],
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = writable_draft(txn, id, v, guard).await?;
        if items.is_empty() {
            write.commit(&current.name(), Vec::new()).await?;
            return Ok(current);
        }
        let claimed = claim(txn, self.store.now(), &current).await?;
        // The last occurrence of each code, in request order.
        let mut seen = HashSet::with_capacity(items.len());
        let mut unique: Vec<&Item> = items
            .iter()
            .rev()
            .filter(|i| seen.insert(i.code.as_str()))
            .collect();
        unique.reverse();
        let codes: Vec<&str> = unique.iter().map(|i| i.code.as_str()).collect();
        let existing = existing_codes(txn, id, v, &codes).await?.len();
        let rows: Vec<(u64, &Item)> = unique.iter().map(|i| (0, *i)).collect();
        write_items(txn, id, v, rows.into_iter(), Conflict::Replace).await?;
        let next = Version {
            item_count: current.item_count + count_i64(unique.len() - existing),
            ..claimed
        };
        save_version(txn, &next, next.revision).await?;
        commit_version(write, &current, &next).await?;
        Ok(next)
    }

    /// Removes items from a draft; returns how many were removed and the draft. Unless
    /// `allow_missing`, a code the draft does not have is NotFound (naming the item) and
    /// nothing is removed. Removing nothing leaves the draft (and its revision) as it was.
    #[allow(clippy::too_many_arguments)]
    pub async fn delete_items(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        guard: DraftGuard<'_>,
        codes: &[Code],
        allow_missing: bool,
    ) -> Result<(u64, Version), Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = writable_draft(txn, id, v, guard).await?;
        let mut seen = HashSet::with_capacity(codes.len());
        let unique: Vec<&str> = codes
            .iter()
            .map(Code::as_str)
            .filter(|c| seen.insert(*c))
            .collect();
        let present = existing_codes(txn, id, v, &unique).await?;
        if !allow_missing && let Some(missing) = unique.iter().find(|c| !present.contains(**c)) {
            return Err(Error::NotFound {
                resource: format!("{}/{ITEMS}/{missing}", current.name()),
            });
        }
        if present.is_empty() {
            write.commit(&current.name(), Vec::new()).await?;
            return Ok((0, current));
        }
        let claimed = claim(txn, self.store.now(), &current).await?;
        let present: Vec<&str> = present.iter().map(String::as_str).collect();
        let mut removed = 0u64;
        for chunk in present.chunks(CODE_BATCH) {
            let mut sql = Sql::new(txn.get_database_backend());
            sql.push("DELETE FROM classifier_items WHERE classifier_id = ");
            sql.bind(id.as_str());
            sql.push(" AND version_id = ");
            sql.bind(v.as_str());
            sql.push(" AND code IN (");
            sql.bind_list(chunk.iter().copied());
            sql.push(")");
            removed += txn
                .execute_raw(sql.statement())
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        let next = Version {
            item_count: current.item_count - count_i64(removed),
            ..claimed
        };
        save_version(txn, &next, next.revision).await?;
        commit_version(write, &current, &next).await?;
        Ok((removed, next))
    }

    /// Starts replacing a draft's whole content: opens the write transaction, checks the
    /// draft, claims it and removes its items. Feed the new items to
    /// [`ImportSink::insert`] and finish with [`ImportSink::commit`]; dropping the sink rolls
    /// everything back, leaving the old content.
    pub async fn begin_import(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        guard: DraftGuard<'_>,
    ) -> Result<ImportSink<'s>, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = writable_draft(txn, id, v, guard).await?;
        let claimed = claim(txn, self.store.now(), &current).await?;
        delete_all_items(txn, id, v).await?;
        Ok(ImportSink {
            write,
            before: current,
            claimed,
            inserted: 0,
        })
    }

    /// The items of version `v` with the given codes that exist, in no particular order.
    pub async fn items(
        &self,
        id: &ClassifierId,
        v: &VersionId,
        codes: &[&str],
    ) -> Result<Vec<Item>, Error> {
        let conn = self.store.conn();
        self.version(id, v).await?;
        let mut out = Vec::with_capacity(codes.len());
        for chunk in codes.chunks(CODE_BATCH) {
            let mut sql = Sql::new(conn.get_database_backend());
            sql.push("SELECT body FROM classifier_items WHERE classifier_id = ");
            sql.bind(id.as_str());
            sql.push(" AND version_id = ");
            sql.bind(v.as_str());
            sql.push(" AND code IN (");
            sql.bind_list(chunk.iter().copied());
            sql.push(")");
            for r in conn.query_all_raw(sql.statement()).await.map_err(db_err)? {
                let body: Vec<u8> = r.try_get_by_index(0).map_err(db_err)?;
                out.push(decode_item(&body)?);
            }
        }
        Ok(out)
    }

    /// Up to `limit` encoded items of version `v` (see [`encode_item`]), in ascending byte
    /// order of code, starting strictly after the code `after`. Export, validation, hashing
    /// and loading a version into memory read a version with it, batch by batch, passing the
    /// last code of one batch (see `encoded_code`) as `after` of the next.
    pub async fn scan_items(
        &self,
        id: &ClassifierId,
        v: &VersionId,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let conn = self.store.conn();
        self.version(id, v).await?;
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push("SELECT body FROM classifier_items WHERE classifier_id = ");
        sql.bind(id.as_str());
        sql.push(" AND version_id = ");
        sql.bind(v.as_str());
        if let Some(after) = after {
            sql.push(" AND code > ");
            sql.bind(after);
        }
        sql.push(" ORDER BY code LIMIT ");
        sql.bind(i64::try_from(limit).unwrap_or(i64::MAX));
        conn.query_all_raw(sql.statement())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|r| r.try_get_by_index::<Vec<u8>>(0).map_err(db_err))
            .collect()
    }
}

/// An import in progress: the open write transaction of [`ClassifierRepo::begin_import`],
/// into which items are inserted in batches. Dropping it without [`ImportSink::commit`] rolls
/// the whole import back.
pub struct ImportSink<'s> {
    write: Write<'s>,
    /// The draft before the import.
    before: Version,
    /// The draft as claimed (revision bumped).
    claimed: Version,
    /// Rows inserted so far.
    inserted: i64,
}

impl ImportSink<'_> {
    /// Inserts items, given with the line (or position) they came from, in multi-row
    /// statements. A code the draft already has — from an earlier row of this import — is not
    /// inserted; the `(line, code)` of every such duplicate is returned, for the caller to
    /// report. Memory use is bounded by one statement of a few hundred rows.
    pub async fn insert(&mut self, rows: &[(u64, Item)]) -> Result<Vec<(u64, Code)>, Error> {
        // A code repeated within the call is a duplicate at once; the database reports those
        // already inserted by earlier calls.
        let mut seen: HashSet<&str> = HashSet::with_capacity(rows.len());
        let mut duplicates = Vec::new();
        let mut fresh = Vec::with_capacity(rows.len());
        for (line, item) in rows {
            if seen.insert(item.code.as_str()) {
                fresh.push((*line, item));
            } else {
                duplicates.push((*line, item.code.clone()));
            }
        }
        let present = write_items(
            self.write.txn(),
            &self.claimed.classifier,
            &self.claimed.id,
            fresh.into_iter(),
            Conflict::Skip,
        )
        .await?;
        self.inserted += count_i64(seen.len() - present.len());
        duplicates.extend(present);
        duplicates.sort_by_key(|(line, _)| *line);
        Ok(duplicates)
    }

    /// Finishes the import: records `item_count` (which must equal the number of rows
    /// inserted), and commits the new content with the audit event.
    pub async fn commit(self, item_count: i64) -> Result<Version, Error> {
        if item_count != self.inserted {
            return Err(Error::Internal(format!(
                "import of {}: {item_count} items reported, {} inserted",
                self.claimed.name(),
                self.inserted
            )));
        }
        let next = Version {
            item_count,
            update_time: self.write.now(),
            ..self.claimed
        };
        save_version(self.write.txn(), &next, next.revision).await?;
        commit_version(self.write, &self.before, &next).await?;
        Ok(next)
    }
}

/// Raw SQL with placeholders in the engine's syntax.
struct Sql {
    backend: DbBackend,
    sql: String,
    values: Vec<Value>,
}

impl Sql {
    fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            sql: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    fn push(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    fn bind(&mut self, v: impl Into<Value>) {
        self.values.push(v.into());
        push_placeholder(&mut self.sql, self.backend, self.values.len());
    }

    fn bind_list<'a>(&mut self, items: impl Iterator<Item = &'a str>) {
        for (i, s) in items.enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.bind(s);
        }
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql, self.values)
    }
}

/// The `n`-th (1-based) placeholder: `?` on SQLite, `$n` on PostgreSQL.
fn push_placeholder(sql: &mut String, backend: DbBackend, n: usize) {
    match backend {
        DbBackend::Postgres => {
            let _ = write!(sql, "${n}");
        }
        _ => sql.push('?'),
    }
}

/// What an item insert does with a code the version already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conflict {
    /// Replace the stored item.
    Replace,
    /// Keep the stored item, and report the row.
    Skip,
}

/// Writes items (each with its line) to version `v` in multi-row statements of the sizes of
/// [`INSERT_BATCH_ROWS`], encoding them one statement at a time. The codes must differ from
/// each other. With [`Conflict::Skip`], returns the `(line, code)` of the rows not inserted
/// because their code was already present; with [`Conflict::Replace`], nothing.
async fn write_items<'a>(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    v: &VersionId,
    rows: impl Iterator<Item = (u64, &'a Item)>,
    conflict: Conflict,
) -> Result<Vec<(u64, Code)>, Error> {
    let backend = conn.get_database_backend();
    let budget = match backend {
        DbBackend::Postgres => POSTGRES_STATEMENT_BYTES,
        _ => usize::MAX,
    };
    let max_rows = INSERT_BATCH_ROWS[0];
    let fixed = id.as_str().len() + v.as_str().len();
    let mut rows = rows.peekable();
    let mut queue: VecDeque<(u64, &Item, Vec<u8>)> = VecDeque::with_capacity(max_rows);
    let mut queued_bytes = 0usize;
    let mut skipped = Vec::new();
    loop {
        while queue.len() < max_rows && queued_bytes < budget {
            let Some((line, item)) = rows.next() else {
                break;
            };
            let mut body = Vec::with_capacity(256);
            encode_item(item, &mut body);
            queued_bytes += row_bytes(fixed, item, &body);
            queue.push_back((line, item, body));
        }
        if queue.is_empty() {
            return Ok(skipped);
        }
        // As many rows as fit the budget (at least one), rounded down to a statement size.
        let mut fit = 0;
        let mut bytes = 0;
        for (_, item, body) in &queue {
            bytes += row_bytes(fixed, item, body);
            if fit > 0 && bytes > budget {
                break;
            }
            fit += 1;
        }
        let n = INSERT_BATCH_ROWS
            .into_iter()
            .find(|size| *size <= fit)
            .unwrap_or(1);
        let mut values = Vec::with_capacity(n * 5);
        let mut lines = Vec::new();
        for (line, item, body) in queue.drain(..n) {
            queued_bytes -= row_bytes(fixed, item, &body);
            values.push(id.as_str().into());
            values.push(v.as_str().into());
            values.push(item.code.as_str().into());
            values.push(item.parent.as_ref().map(|p| p.as_str().to_string()).into());
            values.push(body.into());
            if conflict == Conflict::Skip {
                lines.push((line, item));
            }
        }
        let sql = insert_items_sql(backend, n, conflict);
        let statement = Statement::from_sql_and_values(backend, sql, values);
        match conflict {
            Conflict::Replace => {
                conn.execute_raw(statement).await.map_err(db_err)?;
            }
            Conflict::Skip => {
                let returned = conn.query_all_raw(statement).await.map_err(db_err)?;
                if returned.len() < lines.len() {
                    let mut inserted = HashSet::with_capacity(returned.len());
                    for r in returned {
                        inserted.insert(r.try_get_by_index::<String>(0).map_err(db_err)?);
                    }
                    skipped.extend(
                        lines
                            .into_iter()
                            .filter(|(_, item)| !inserted.contains(item.code.as_str()))
                            .map(|(line, item)| (line, item.code.clone())),
                    );
                }
            }
        }
    }
}

/// About the bytes one row adds to a statement's message: its values, each with a length
/// and a format code, after `fixed` bytes of classifier and version id.
fn row_bytes(fixed: usize, item: &Item, body: &[u8]) -> usize {
    fixed
        + body.len()
        + item.code.as_str().len()
        + item.parent.as_ref().map_or(0, |p| p.as_str().len())
        + 5 * 6
}

/// `INSERT INTO classifier_items (…) VALUES (…), … ON CONFLICT …` for `rows` rows.
fn insert_items_sql(backend: DbBackend, rows: usize, conflict: Conflict) -> String {
    let mut sql = String::with_capacity(200 + rows * 32);
    sql.push_str(
        "INSERT INTO classifier_items (classifier_id, version_id, code, parent, body) VALUES ",
    );
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..5 {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            push_placeholder(&mut sql, backend, n);
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (classifier_id, version_id, code) ");
    sql.push_str(match conflict {
        Conflict::Replace => "DO UPDATE SET parent = excluded.parent, body = excluded.body",
        Conflict::Skip => "DO NOTHING RETURNING code",
    });
    sql
}

/// The codes among `codes` that version `v` has.
async fn existing_codes(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    v: &VersionId,
    codes: &[&str],
) -> Result<HashSet<String>, Error> {
    let mut out = HashSet::new();
    for chunk in codes.chunks(CODE_BATCH) {
        let mut sql = Sql::new(conn.get_database_backend());
        sql.push("SELECT code FROM classifier_items WHERE classifier_id = ");
        sql.bind(id.as_str());
        sql.push(" AND version_id = ");
        sql.bind(v.as_str());
        sql.push(" AND code IN (");
        sql.bind_list(chunk.iter().copied());
        sql.push(")");
        for r in conn.query_all_raw(sql.statement()).await.map_err(db_err)? {
            out.insert(r.try_get_by_index::<String>(0).map_err(db_err)?);
        }
    }
    Ok(out)
}

/// Copies every item of version `from` into version `to` of the same classifier, in one
/// statement.
pub(super) async fn copy_items(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    from: &VersionId,
    to: &VersionId,
) -> Result<(), Error> {
    let mut sql = Sql::new(conn.get_database_backend());
    sql.push(
        "INSERT INTO classifier_items (classifier_id, version_id, code, parent, body) \
         SELECT classifier_id, ",
    );
    sql.bind(to.as_str());
    sql.push(", code, parent, body FROM classifier_items WHERE classifier_id = ");
    sql.bind(id.as_str());
    sql.push(" AND version_id = ");
    sql.bind(from.as_str());
    conn.execute_raw(sql.statement()).await.map_err(db_err)?;
    Ok(())
}

pub(super) async fn delete_all_items(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    v: &VersionId,
) -> Result<u64, Error> {
    let result = item_row::Entity::delete_many()
        .filter(item_row::Column::ClassifierId.eq(id.as_str()))
        .filter(item_row::Column::VersionId.eq(v.as_str()))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(result.rows_affected)
}
