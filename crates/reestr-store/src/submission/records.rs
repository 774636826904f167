//! Submission records: create, read, list, update and soft delete.

use reestr_domain::Error;
use reestr_domain::audit::diff_fields;
use reestr_domain::error::Reason;
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey};
use reestr_domain::query::{Equality, Predicate};
use reestr_domain::revision::{Deletion, Revisioned};
use reestr_domain::submission::{
    EventKind, Submission, SubmissionCondition, SubmissionName, SubmissionSpec, SubmissionState,
    SubmissionStatus, is_open,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde_json::json;

use super::stored::{from_row, to_active};
use super::{
    SubmissionRepo, already_open, append_event, commit_change, find, find_for_update, find_open,
    live_for_update, refuse_if_open, write_err,
};
use crate::audit::AuditContext;
use crate::entity::submission::{self as row, Column};
use crate::error::OrNotFound;
use crate::filter_sql::{self, SqlLeaf};
use crate::idempotency::{self, Created, Idempotency, Outcome};
use crate::keyset;

/// A ListSubmissions query: selects by the typed filter (see
/// [`reestr_domain::submission::compile_submission_filter`]); ordered by `create_time`,
/// `update_time` and `name` (system, then submission id), the tie breaker.
pub type SubmissionQuery = ListQuery<Option<Predicate<SubmissionCondition>>>;

impl SubmissionRepo<'_> {
    /// Creates a DRAFT submission (round 0) of a live system, owned by the system's owner,
    /// after `authorize` approves that owner as the system is in this transaction. Its
    /// required reviewers must be live organisations, and the system may have no other open
    /// submission of its kind (FAILED_PRECONDITION `SUBMISSION_OPEN`). With `idempotency`, a
    /// retry returns the first response (encoded by `encode`) instead of creating again.
    pub async fn create(
        &self,
        ctx: &AuditContext,
        name: SubmissionName,
        spec: SubmissionSpec,
        idempotency: Option<&Idempotency>,
        encode: impl Fn(&Submission) -> Vec<u8>,
        authorize: impl Fn(&OrganizationId) -> Result<(), Error>,
    ) -> Result<Outcome<Submission>, Error> {
        idempotency::create(self.store, ctx, idempotency, encode, async |write| {
            let txn = write.txn();
            let owner = crate::system::live(txn, &name.system).await?.owner();
            authorize(&owner)?;
            if find(txn, &name).await?.is_some() {
                return Err(Error::AlreadyExists {
                    resource: name.name(),
                    field: None,
                });
            }
            check_reviewers(txn, &spec).await?;
            if let Some(open) = find_open(txn, &name.system, spec.kind, None).await? {
                return Err(already_open(&name.system, spec.kind, Some(&open)));
            }
            let t = write.now();
            let submission = Submission {
                name,
                spec,
                owner,
                decided: Vec::new(),
                status: SubmissionStatus::NEW,
                round_start_time: None,
                due_time: None,
                owner_due_time: None,
                conclusion: None,
                create_time: t,
                update_time: t,
                submit_time: None,
                delete_time: None,
                revision: 1,
            };
            to_active(&submission)?.insert(txn).await.map_err(|e| {
                match write_err(e, &submission) {
                    Error::AlreadyExists { .. } => Error::AlreadyExists {
                        resource: submission.name.name(),
                        field: None,
                    },
                    other => other,
                }
            })?;
            append_event(
                write,
                &submission,
                EventKind::Created,
                json!({ "kind": submission.kind().as_str() }),
            )
            .await?;
            Ok(Created {
                resource: submission.name.name(),
                changes: diff_fields(None, &submission.audit_fields()),
                value: submission,
            })
        })
        .await
    }

    /// The submission `name`, deleted or not.
    pub async fn get(&self, name: &SubmissionName) -> Result<Submission, Error> {
        find(self.store.conn(), name)
            .await?
            .or_not_found(|| name.name())
    }

    /// One page of a filtered, ordered list.
    pub async fn list(&self, query: &SubmissionQuery) -> Result<Page<Submission>, Error> {
        let keys = query
            .order_by
            .iter()
            .flat_map(|k| {
                let key = |c, kind| PageKey {
                    key: c,
                    kind,
                    descending: k.descending,
                };
                match k.field {
                    "create_time" => vec![key(Column::CreateTime, KeyKind::Int)],
                    "update_time" => vec![key(Column::UpdateTime, KeyKind::Int)],
                    _ => vec![
                        key(Column::SystemId, KeyKind::Text),
                        key(Column::SubmissionId, KeyKind::Text),
                    ],
                }
            })
            .collect();
        keyset::page(
            self.store,
            row::Entity::find().filter(filter_sql::selection(query, Column::DeleteTime)),
            &query.page(keys),
            from_row,
            sort_value,
        )
        .await
    }

    /// Changes a DRAFT's title, description and required reviewers: `change` gets the
    /// submission as it is in this transaction and returns its new fields (and may refuse,
    /// e.g. for permission). `etag`, when not empty, must be current; the kind cannot change;
    /// the reviewers must be live organisations. Fields equal to the current ones leave the
    /// submission (and its etag) as it was.
    pub async fn update(
        &self,
        ctx: &AuditContext,
        name: &SubmissionName,
        etag: &str,
        change: impl FnOnce(&Submission) -> Result<SubmissionSpec, Error>,
    ) -> Result<Submission, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = live_for_update(txn, name).await?;
        current.check_etag(etag)?;
        if current.status.state != SubmissionState::Draft {
            return Err(not_draft(&current, "changed"));
        }
        let spec = change(&current)?;
        if spec.kind != current.spec.kind {
            return Err(Error::invalid(
                "submission.kind",
                format!(
                    "is {} and cannot change; create a new submission instead",
                    current.spec.kind
                ),
            ));
        }
        if spec == current.spec {
            write.commit(&name.name(), Vec::new()).await?;
            return Ok(current);
        }
        check_reviewers(txn, &spec).await?;
        let next = Submission {
            spec,
            update_time: write.now(),
            revision: current.revision + 1,
            ..current.clone()
        };
        commit_change(
            write,
            &current,
            &next,
            EventKind::Updated,
            json!({}),
            Vec::new(),
        )
        .await?;
        Ok(next)
    }

    /// Soft-deletes a submission that is a DRAFT or WITHDRAWN (FAILED_PRECONDITION
    /// `ILLEGAL_STATE_TRANSITION` otherwise: what was submitted stays on record), or restores
    /// one (a restored draft must not be a second open submission of its kind), by the one
    /// rule of [`Deletion`], after `authorize` approves the submission as it is in this
    /// transaction.
    pub async fn set_deleted(
        &self,
        ctx: &AuditContext,
        name: &SubmissionName,
        etag: &str,
        deletion: Deletion,
        authorize: impl FnOnce(&Submission) -> Result<(), Error>,
    ) -> Result<Submission, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = find_for_update(txn, name).await?;
        authorize(&current)?;
        let t = write.now();
        let delete_time = deletion.apply(&current, etag, t)?;
        let kind = match deletion {
            Deletion::Delete => {
                if !matches!(
                    current.status.state,
                    SubmissionState::Draft | SubmissionState::Withdrawn
                ) {
                    return Err(not_draft(&current, "deleted (unless WITHDRAWN)"));
                }
                EventKind::Deleted
            }
            Deletion::Undelete => {
                if is_open(current.status.state) {
                    refuse_if_open(txn, &current).await?;
                }
                EventKind::Undeleted
            }
        };
        let next = Submission {
            update_time: t,
            delete_time,
            revision: current.revision + 1,
            ..current.clone()
        };
        commit_change(write, &current, &next, kind, json!({}), Vec::new()).await?;
        Ok(next)
    }
}

/// FAILED_PRECONDITION `ILLEGAL_STATE_TRANSITION`: only a DRAFT can be `what`.
fn not_draft(s: &Submission, what: &str) -> Error {
    Error::Precondition {
        reason: Reason::IllegalStateTransition,
        resource: s.name.name(),
        message: format!(
            "{} is {}: only a DRAFT can be {what}",
            s.name, s.status.state
        ),
    }
}

/// Every required reviewer must be a live organisation.
async fn check_reviewers(conn: &impl ConnectionTrait, spec: &SubmissionSpec) -> Result<(), Error> {
    for (i, reviewer) in spec.required_reviewers.iter().enumerate() {
        crate::organization::check_live(
            conn,
            reviewer,
            &format!("submission.required_reviewers[{i}]"),
        )
        .await?;
    }
    Ok(())
}

fn sort_value(s: &Submission, c: Column) -> KeyValue {
    match c {
        Column::CreateTime => KeyValue::Int(s.create_time.micros()),
        Column::UpdateTime => KeyValue::Int(s.update_time.micros()),
        Column::SubmissionId => KeyValue::Text(s.name.submission.as_str().to_string()),
        _ => KeyValue::Text(s.name.system.as_str().to_string()),
    }
}

/// The reviewers' deadline (under review) or the owner's (changes requested) passed at `now`,
/// as [`Submission::is_overdue`] says.
fn overdue(now: reestr_domain::time::Timestamp) -> Condition {
    let late = |state: SubmissionState, due: Column| {
        Condition::all()
            .add(Column::State.eq(state.as_str()))
            .add(due.is_not_null())
            .add(filter_sql::time_before(due, now, true))
    };
    Condition::any()
        .add(late(SubmissionState::UnderReview, Column::DueTime))
        .add(late(
            SubmissionState::ChangesRequested,
            Column::OwnerDueTime,
        ))
}

impl SqlLeaf for SubmissionCondition {
    fn condition(&self) -> Condition {
        match self {
            SubmissionCondition::State(eq, s) => filter_sql::equals(Column::State, *eq, s.as_str()),
            SubmissionCondition::Kind(eq, k) => filter_sql::equals(Column::Kind, *eq, k.as_str()),
            SubmissionCondition::System(eq, s) => {
                filter_sql::equals(Column::SystemId, *eq, s.as_str())
            }
            SubmissionCondition::Owner(eq, o) => {
                filter_sql::equals(Column::OwnerId, *eq, o.as_str())
            }
            // The column is a JSON array of ids, and an id never contains a quote: the quoted
            // id occurs in it exactly when the organisation is one of the reviewers.
            SubmissionCondition::Reviewer(eq, o) => {
                let listed =
                    filter_sql::contains(Column::RequiredReviewers, &format!("\"{}\"", o.as_str()));
                match eq {
                    Equality::Eq => listed,
                    Equality::Ne => listed.not(),
                }
            }
            SubmissionCondition::Overdue { overdue: true, now } => overdue(*now),
            SubmissionCondition::Overdue {
                overdue: false,
                now,
            } => overdue(*now).not(),
        }
    }
}
