//! Appending to, reading and verifying the audit trail.

use reestr_domain::Error;
use reestr_domain::audit::{
    AuditEvent, AuditRecord, ChainCursor, FieldChange, GENESIS_HASH, chain_hash, verify_chain,
};
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey};
use reestr_domain::query::{Equality, Predicate};
use reestr_domain::time::Timestamp;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

pub use reestr_domain::audit::AuditCondition;

use crate::entity::audit_event::{self as row, Column};
use crate::filter_sql::{self, SqlLeaf};
use crate::{Store, db_err, keyset};

/// Who is making a change, carried by every write so that its audit event is written in the
/// same transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditContext {
    /// Caller id.
    pub caller: String,
    /// Caller's organisation id, or empty.
    pub organization: String,
    /// Full gRPC method name.
    pub method: String,
    /// The request's `request_id`, or empty.
    pub request_id: String,
    /// The call, from [`CallId::next`]; [`CallId::NONE`] outside a call.
    pub call: CallId,
}

/// Names one call among all the calls of every server of the register: a random prefix drawn
/// once per process and a counter. A call writes exactly one audit event; its id lets the
/// recorder of a call dropped in flight see that the call's own event committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallId(u64);

impl CallId {
    /// No call (events the register writes for itself).
    pub const NONE: CallId = CallId(0);

    /// The next call of this process.
    pub fn next() -> CallId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        CallId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// The stored form: empty for [`CallId::NONE`], else `{process}-{counter}`.
    fn stored(self) -> String {
        static PROCESS: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| format!("{:016x}", rand::random::<u64>()));
        if self == CallId::NONE {
            String::new()
        } else {
            format!("{}-{:x}", *PROCESS, self.0)
        }
    }
}

impl AuditContext {
    pub(crate) fn record(
        &self,
        resource: &str,
        outcome: &str,
        reason: &str,
        changes: Vec<FieldChange>,
    ) -> AuditRecord {
        AuditRecord {
            caller: self.caller.clone(),
            organization: self.organization.clone(),
            method: self.method.clone(),
            resource: resource.to_string(),
            request_id: self.request_id.clone(),
            outcome: outcome.to_string(),
            reason: reason.to_string(),
            changes,
        }
    }
}

fn conn_is_postgres(conn: &impl ConnectionTrait) -> bool {
    conn.get_database_backend() == DatabaseBackend::Postgres
}

/// Appends one event inside `conn`'s transaction. On PostgreSQL the transaction first locks
/// `audit_lock`, so that concurrent writers append one after another: each then sees the
/// previous one's event, and sequence numbers have no gaps. (SQLite writers are serialised
/// already.) Names longer than their columns are cut to fit ([`AuditRecord::fitted`]), so
/// that no request can make its own event fail.
pub(crate) async fn append(
    conn: &impl ConnectionTrait,
    event_time: Timestamp,
    record: AuditRecord,
    call: CallId,
) -> Result<AuditEvent, Error> {
    let record = record.fitted();
    if conn_is_postgres(conn) {
        conn.execute_unprepared("SELECT id FROM audit_lock WHERE id = 1 FOR UPDATE")
            .await
            .map_err(db_err)?;
    }
    let last = row::Entity::find()
        .order_by(Column::Sequence, Order::Desc)
        .limit(1)
        .one(conn)
        .await
        .map_err(db_err)?;
    let (sequence, previous) = match last {
        Some(l) => (l.sequence + 1, l.hash),
        None => (1, GENESIS_HASH.to_string()),
    };
    let hash = chain_hash(&previous, sequence, event_time, &record);
    let event = AuditEvent {
        sequence,
        event_time,
        record,
        hash,
    };
    let mut row = to_active(&event);
    row.call_id = Set(call.stored());
    row.insert(conn).await.map_err(db_err)?;
    Ok(event)
}

/// A ListAuditEvents query: selects by the typed filter; ordered by `sequence`, descending when
/// its one sort key says so.
pub type AuditQuery = ListQuery<Option<Predicate<AuditCondition>>>;

/// The result of a chain verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Events checked and found in order.
    pub verified: i64,
    /// The first event that breaks the chain, if any.
    pub first_broken: Option<i64>,
    /// Hash of the last verified event.
    pub head_hash: String,
}

/// How many events a verification reads per query.
const VERIFY_BATCH: u64 = 1000;

impl Store {
    /// Records, in a transaction of its own, a call that changed nothing: one that failed or
    /// was refused (its own transaction, if it had one, was rolled back), a retry answered
    /// from its `request_id`, or a call dropped unfinished. Writes nothing when the call
    /// already has its event: a call dropped while its successful COMMIT was in flight did
    /// change something, and that change's event is the call's one event. (This transaction
    /// waits for that COMMIT's outcome: on PostgreSQL on the audit lock, on SQLite as every
    /// writer waits for the one before.) Returns whether it wrote the event.
    pub async fn record_call(
        &self,
        ctx: &AuditContext,
        resource: &str,
        outcome: &str,
        reason: &str,
    ) -> Result<bool, Error> {
        let write = self.begin_write().await?;
        if conn_is_postgres(write.txn()) {
            write
                .txn()
                .execute_unprepared("SELECT id FROM audit_lock WHERE id = 1 FOR UPDATE")
                .await
                .map_err(db_err)?;
        }
        if ctx.call != CallId::NONE {
            let recorded = row::Entity::find()
                .filter(Column::CallId.eq(ctx.call.stored()))
                .one(write.txn())
                .await
                .map_err(db_err)?;
            if recorded.is_some() {
                return Ok(false);
            }
        }
        append(
            write.txn(),
            write.now(),
            ctx.record(resource, outcome, reason, Vec::new()),
            ctx.call,
        )
        .await?;
        write.commit_unaudited().await?;
        Ok(true)
    }

    /// One page of the audit trail.
    pub async fn list_audit_events(&self, query: &AuditQuery) -> Result<Page<AuditEvent>, Error> {
        let mut condition = Condition::all();
        if let Some(f) = &query.selection {
            condition = condition.add(filter_sql::condition(f));
        }
        let descending = query.order_by.first().is_some_and(|k| k.descending);
        keyset::page(
            self,
            row::Entity::find().filter(condition),
            &query.page(vec![PageKey {
                key: Column::Sequence,
                kind: KeyKind::Int,
                descending,
            }]),
            from_row,
            |e: &AuditEvent, _| KeyValue::Int(e.sequence),
        )
        .await
    }

    /// Recomputes the whole chain and reports the first event that breaks it.
    pub async fn verify_audit_chain(&self) -> Result<ChainReport, Error> {
        let mut cursor = ChainCursor::default();
        loop {
            let rows = row::Entity::find()
                .filter(Column::Sequence.gt(cursor.sequence))
                .order_by(Column::Sequence, Order::Asc)
                .limit(VERIFY_BATCH)
                .all(self.conn())
                .await
                .map_err(db_err)?;
            if rows.is_empty() {
                break;
            }
            let events = rows
                .into_iter()
                .map(from_row)
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(broken) = verify_chain(&mut cursor, &events) {
                return Ok(ChainReport {
                    verified: cursor.sequence,
                    first_broken: Some(broken),
                    head_hash: cursor.previous,
                });
            }
        }
        Ok(ChainReport {
            verified: cursor.sequence,
            first_broken: None,
            head_hash: cursor.previous,
        })
    }
}

impl SqlLeaf for AuditCondition {
    fn condition(&self) -> Condition {
        let eq = Equality::Eq;
        match self {
            AuditCondition::Resource(v) => filter_sql::equals(Column::Resource, eq, v.as_str()),
            AuditCondition::Caller(v) => filter_sql::equals(Column::Caller, eq, v.as_str()),
            AuditCondition::Organization(v) => {
                filter_sql::equals(Column::Organization, eq, v.as_str())
            }
            AuditCondition::Method(v) => filter_sql::equals(Column::Method, eq, v.as_str()),
            AuditCondition::Outcome(v) => filter_sql::equals(Column::Outcome, eq, v.as_str()),
            AuditCondition::TimeAfter(t, inclusive) => {
                filter_sql::time_after(Column::EventTime, *t, *inclusive)
            }
            AuditCondition::TimeBefore(t, inclusive) => {
                filter_sql::time_before(Column::EventTime, *t, *inclusive)
            }
        }
    }
}

fn to_active(e: &AuditEvent) -> row::ActiveModel {
    row::ActiveModel {
        sequence: Set(e.sequence),
        event_time: Set(e.event_time.micros()),
        caller: Set(e.record.caller.clone()),
        organization: Set(e.record.organization.clone()),
        method: Set(e.record.method.clone()),
        resource: Set(e.record.resource.clone()),
        request_id: Set(e.record.request_id.clone()),
        outcome: Set(e.record.outcome.clone()),
        reason: Set(e.record.reason.clone()),
        changes: Set(serde_json::to_string(&e.record.changes).unwrap_or_default()),
        hash: Set(e.hash.clone()),
        call_id: Set(String::new()),
    }
}

fn from_row(m: row::Model) -> Result<AuditEvent, Error> {
    // A row whose changes no longer parse is still returned (with no changes) so that
    // verification reports it as a broken link instead of failing the whole call.
    let changes: Vec<FieldChange> = serde_json::from_str(&m.changes).unwrap_or_else(|_| {
        vec![FieldChange {
            field: "<unreadable>".into(),
            old: String::new(),
            new: m.changes.clone(),
        }]
    });
    Ok(AuditEvent {
        sequence: m.sequence,
        event_time: Timestamp::from_micros(m.event_time),
        record: AuditRecord {
            caller: m.caller,
            organization: m.organization,
            method: m.method,
            resource: m.resource,
            request_id: m.request_id,
            outcome: m.outcome,
            reason: m.reason,
            changes,
        },
        hash: m.hash,
    })
}

#[cfg(test)]
mod tests {
    use reestr_domain::paging::ListQuery;

    use super::*;
    use crate::testing::on_every_engine;

    fn ctx(call: CallId) -> AuditContext {
        AuditContext {
            caller: "test".into(),
            method: "/reestr.v1.Test/Write".into(),
            call,
            ..AuditContext::default()
        }
    }

    async fn events(store: &Store) -> Vec<String> {
        let page = store
            .list_audit_events(&ListQuery {
                selection: None,
                order_by: Vec::new(),
                show_deleted: false,
                page_size: 100,
                page_token: String::new(),
                fingerprint: "fp".into(),
            })
            .await
            .unwrap();
        page.items.into_iter().map(|e| e.record.outcome).collect()
    }

    #[tokio::test]
    async fn a_call_whose_change_committed_is_not_recorded_again_as_abandoned() {
        on_every_engine(|store| async move {
            let committed = ctx(CallId::next());
            let write = store.write(&committed).await.unwrap();
            write.commit("things/a", Vec::new()).await.unwrap();
            // The call's future was dropped while that COMMIT was in flight: its recorder
            // runs afterwards and finds the call's event.
            let wrote = store
                .record_call(&committed, "things/a", "CANCELLED", "CANCELLED")
                .await
                .unwrap();
            assert!(!wrote);
            assert_eq!(events(&store).await, ["OK"]);

            // Another call, which changed nothing, gets its event; so do calls outside any call.
            let refused = ctx(CallId::next());
            assert!(
                store
                    .record_call(&refused, "things/a", "CANCELLED", "CANCELLED")
                    .await
                    .unwrap()
            );
            let outside = ctx(CallId::NONE);
            for _ in 0..2 {
                assert!(
                    store
                        .record_call(&outside, "things/a", "INTERNAL", "INTERNAL")
                        .await
                        .unwrap()
                );
            }
            assert_eq!(
                events(&store).await,
                ["OK", "CANCELLED", "INTERNAL", "INTERNAL"]
            );
            assert_eq!(store.verify_audit_chain().await.unwrap().first_broken, None);
        })
        .await;
    }
}
