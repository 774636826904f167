//! The submission repository: submissions of design documentation, the reviewers' decisions on
//! each round, and each submission's timeline.
//!
//! The rules are the domain's ([`reestr_domain::submission`]): this module reads the row a
//! write changes inside the write's transaction (locked on PostgreSQL, writers serialised on
//! SQLite), asks the caller's `authorize` closure about it, applies the domain's rule and
//! writes the result, one timeline event and, through [`Write::commit`], the audit event, all
//! in that one transaction.
//!
//! Layout:
//! - [`records`]: create, read, list, update and soft delete.
//! - [`lifecycle`]: submit, resubmit and withdraw; reviews, the outcome of a round, its
//!   conclusion and its effect on the system; the lists of reviews and events.
//! - [`discussion`]: reviewers' remarks and the parties' comments.
//! - [`documents`]: document versions and their uploads.
//! - [`stored`]: how submissions, reviews and events are stored in their rows.

mod discussion;
mod documents;
mod lifecycle;
mod records;
mod stored;
#[cfg(test)]
mod tests;

use reestr_domain::Error;
use reestr_domain::audit::{FieldChange, diff_fields};
use reestr_domain::error::Reason;
use reestr_domain::submission::{EventKind, Submission, SubmissionKind, SubmissionName, is_open};
use reestr_domain::system::SystemId;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use self::discussion::{CommentQuery, RemarkQuery, RemarkSelection};
pub use self::documents::DocumentQuery;
pub use self::lifecycle::{Deadlines, EventQuery, ReviewOutcome, ReviewQuery, ReviewSelection};
pub use self::records::SubmissionQuery;
use self::stored::{from_row, to_active};
use crate::entity::submission::{self as row, Column};
use crate::entity::submission_event as event_row;
use crate::error::OrNotFound;
use crate::{Store, Write, db_err};

/// The partial unique index allowing one open submission of each kind per system (see the
/// migration).
const OPEN_INDEX: &str = "ux_submissions_open";

/// Reads and writes submissions, their reviews and their timelines.
pub struct SubmissionRepo<'s> {
    store: &'s Store,
}

impl<'s> SubmissionRepo<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self { store }
    }
}

fn key(name: &SubmissionName) -> (String, String) {
    (
        name.system.as_str().to_string(),
        name.submission.as_str().to_string(),
    )
}

async fn find(
    conn: &impl ConnectionTrait,
    name: &SubmissionName,
) -> Result<Option<Submission>, Error> {
    row::Entity::find_by_id(key(name))
        .one(conn)
        .await
        .map_err(db_err)?
        .map(from_row)
        .transpose()
}

/// The submission as a write in this transaction finds it: its row locked on PostgreSQL until
/// the transaction ends, so that a concurrent write is waited for and read as it committed (on
/// SQLite writers are serialised anyway).
async fn find_for_update(
    conn: &impl ConnectionTrait,
    name: &SubmissionName,
) -> Result<Submission, Error> {
    crate::find_for_update(conn, row::Entity::find_by_id(key(name)), from_row)
        .await?
        .or_not_found(|| name.name())
}

/// Like [`find_for_update`], for a write that needs a live submission.
async fn live_for_update(
    conn: &impl ConnectionTrait,
    name: &SubmissionName,
) -> Result<Submission, Error> {
    let current = find_for_update(conn, name).await?;
    if current.delete_time.is_some() {
        return Err(Error::Deleted {
            resource: name.name(),
        });
    }
    Ok(current)
}

/// The open live submission of `kind` of `system` other than `except`, if there is one.
async fn find_open(
    conn: &impl ConnectionTrait,
    system: &SystemId,
    kind: SubmissionKind,
    except: Option<&SubmissionName>,
) -> Result<Option<SubmissionName>, Error> {
    let open: Vec<&str> = reestr_domain::submission::SubmissionState::ALL
        .into_iter()
        .filter(|s| is_open(*s))
        .map(|s| s.as_str())
        .collect();
    let mut q = row::Entity::find()
        .filter(Column::SystemId.eq(system.as_str()))
        .filter(Column::Kind.eq(kind.as_str()))
        .filter(Column::State.is_in(open))
        .filter(Column::DeleteTime.is_null());
    if let Some(except) = except {
        q = q.filter(Column::SubmissionId.ne(except.submission.as_str()));
    }
    Ok(q.one(conn).await.map_err(db_err)?.map(|m| SubmissionName {
        system: SystemId::from_trusted(m.system_id),
        submission: reestr_domain::submission::SubmissionId::from_trusted(m.submission_id),
    }))
}

/// FAILED_PRECONDITION `SUBMISSION_OPEN`: `system` already has the open submission `open` of
/// `kind` (`None`: one created concurrently).
fn already_open(system: &SystemId, kind: SubmissionKind, open: Option<&SubmissionName>) -> Error {
    let message = match open {
        Some(o) => format!(
            "{} already has an open {kind} submission, {o}; withdraw it or wait for its \
             conclusion first",
            system.name()
        ),
        None => format!(
            "{} already has an open {kind} submission (created concurrently)",
            system.name()
        ),
    };
    Error::Precondition {
        reason: Reason::SubmissionOpen,
        resource: system.name(),
        message,
    }
}

/// Refuses a submission that would be a second open one of its kind for its system.
async fn refuse_if_open(conn: &impl ConnectionTrait, s: &Submission) -> Result<(), Error> {
    match find_open(conn, &s.name.system, s.kind(), Some(&s.name)).await? {
        Some(open) => Err(already_open(&s.name.system, s.kind(), Some(&open))),
        None => Ok(()),
    }
}

/// A failed insert or update of a submission row: the open index caught a concurrent
/// submission of the same kind (PostgreSQL), or the key a concurrent creation.
fn write_err(err: sea_orm::DbErr, s: &Submission) -> Error {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(msg)) if msg.contains(OPEN_INDEX) => {
            already_open(&s.name.system, s.kind(), None)
        }
        _ => db_err(err),
    }
}

/// Makes `owner` the owner of every submission of `system`, in the transaction that gives
/// the system to it: a submission's owner is its system's owner.
pub(crate) async fn follow_owner(
    write: &Write<'_>,
    system: &SystemId,
    owner: &reestr_domain::organization::OrganizationId,
) -> Result<(), Error> {
    use sea_orm::sea_query::{Expr, ExprTrait as _};
    let conn = write.txn();
    let moved: Vec<String> = row::Entity::find()
        .filter(Column::SystemId.eq(system.as_str()))
        .filter(Column::OwnerId.ne(owner.as_str()))
        .select_only()
        .column(Column::SubmissionId)
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    if moved.is_empty() {
        return Ok(());
    }
    // Each submission changes with its system: a new revision (its etag), and a change of
    // its own in the feed, so that a copy kept per owner learns of the move.
    row::Entity::update_many()
        .col_expr(Column::OwnerId, Expr::value(owner.as_str()))
        .col_expr(Column::Revision, Expr::col(Column::Revision).add(1))
        .col_expr(Column::UpdateTime, Expr::value(write.now().micros()))
        .filter(Column::SystemId.eq(system.as_str()))
        .filter(Column::OwnerId.ne(owner.as_str()))
        .exec(conn)
        .await
        .map_err(db_err)?;
    for submission in moved {
        write.also_changed(
            format!("{}/submissions/{submission}", system.name()),
            reestr_domain::change::ChangeKind::Updated,
        );
    }
    Ok(())
}

/// Writes `next` if the row is still at `expected` (else [`Error::EtagMismatch`]).
async fn save_guarded(
    conn: &impl ConnectionTrait,
    next: &Submission,
    expected: i64,
) -> Result<(), Error> {
    let result = row::Entity::update_many()
        .set(to_active(next)?)
        .filter(Column::SystemId.eq(next.name.system.as_str()))
        .filter(Column::SubmissionId.eq(next.name.submission.as_str()))
        .filter(Column::Revision.eq(expected))
        .exec(conn)
        .await
        .map_err(|e| write_err(e, next))?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::EtagMismatch {
            resource: next.name.name(),
        })
    }
}

/// Appends the next event of `s`'s timeline inside `write`'s transaction (which has the
/// submission's row, so its events are numbered one after another).
async fn append_event(
    write: &Write<'_>,
    s: &Submission,
    kind: EventKind,
    detail: serde_json::Value,
) -> Result<(), Error> {
    let txn = write.txn();
    let (system, submission) = key(&s.name);
    let last: Option<i64> = event_row::Entity::find()
        .select_only()
        .column(event_row::Column::Sequence)
        .filter(event_row::Column::SystemId.eq(system.as_str()))
        .filter(event_row::Column::SubmissionId.eq(submission.as_str()))
        .order_by(event_row::Column::Sequence, Order::Desc)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await
        .map_err(db_err)?;
    event_row::ActiveModel {
        system_id: sea_orm::Set(system),
        submission_id: sea_orm::Set(submission),
        sequence: sea_orm::Set(last.unwrap_or(0) + 1),
        event_time: sea_orm::Set(write.now().micros()),
        caller: sea_orm::Set(write.ctx.caller.clone()),
        kind: sea_orm::Set(kind.as_str().to_string()),
        round: sea_orm::Set(stored::round_column(s.status.round)?),
        detail: sea_orm::Set(detail.to_string()),
    }
    .insert(txn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Writes `next` over `current` (guarded by its revision), appends its timeline event and
/// commits with the audit event of the diff and `more` changes.
async fn commit_change(
    write: Write<'_>,
    current: &Submission,
    next: &Submission,
    kind: EventKind,
    detail: serde_json::Value,
    more: Vec<FieldChange>,
) -> Result<(), Error> {
    save_guarded(write.txn(), next, current.revision).await?;
    append_event(&write, next, kind, detail).await?;
    let mut changes = diff_fields(Some(&current.audit_fields()), &next.audit_fields());
    changes.extend(more);
    write.commit(&next.name.name(), changes).await
}
