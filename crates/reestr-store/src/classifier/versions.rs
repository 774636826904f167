//! Versions: drafts opened (empty or copied), edited, discarded, published and retired, and
//! the claim every write of a draft starts with.

use reestr_domain::Error;
use reestr_domain::audit::{FieldChange, diff_fields};
use reestr_domain::classifier::version::version_name;
use reestr_domain::classifier::{Classifier, ClassifierId, Version, VersionId, VersionState};
use reestr_domain::error::Reason;
use reestr_domain::revision::Revisioned;
use reestr_domain::time::Timestamp;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, SqlErr};

use super::classifiers::{find_classifier_row, live_classifier};
use super::items::{copy_items, delete_all_items};
use super::stored::{version_audit_fields, version_from_row, version_to_active};
use super::{ClassifierRepo, DraftGuard, unchanged_since};
use crate::audit::AuditContext;
use crate::entity::classifier_version as version_row;
use crate::error::{OrNotFound, not_found};
use crate::idempotency::{self, Created, Idempotency, Outcome};
use crate::{Write, db_err};

/// The partial unique index allowing one draft per classifier (see the migration).
const DRAFT_INDEX: &str = "ux_classifier_versions_draft";

impl ClassifierRepo<'_> {
    /// Every version of a classifier, in no particular order. NotFound if the classifier does
    /// not exist.
    pub async fn versions(&self, id: &ClassifierId) -> Result<Vec<Version>, Error> {
        let conn = self.store.conn();
        let rows = version_row::Entity::find()
            .filter(version_row::Column::ClassifierId.eq(id.as_str()))
            .all(conn)
            .await
            .map_err(db_err)?;
        if rows.is_empty() && find_classifier_row(conn, id).await?.is_none() {
            return Err(not_found(id.name()));
        }
        rows.into_iter().map(version_from_row).collect()
    }

    /// The version `v` of `id`.
    pub async fn version(&self, id: &ClassifierId, v: &VersionId) -> Result<Version, Error> {
        find_version(self.store.conn(), id, v)
            .await?
            .or_not_found(|| version_name(id, v))
    }

    /// The classifier's open draft, if it has one. NotFound if the classifier does not exist.
    pub async fn draft(&self, id: &ClassifierId) -> Result<Option<Version>, Error> {
        let conn = self.store.conn();
        match find_draft(conn, id).await? {
            Some(d) => Ok(Some(d)),
            None if find_classifier_row(conn, id).await?.is_none() => Err(not_found(id.name())),
            None => Ok(None),
        }
    }

    /// Opens a draft version of a live classifier that has no draft: empty, or with the items
    /// of `source`, a published (or retired) version of the same classifier, copied in one
    /// statement. With `idempotency`, a retry returns the first response.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_version(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: VersionId,
        description: String,
        effective_time: Option<Timestamp>,
        source: Option<VersionId>,
        authorize: &(dyn Fn(&Classifier) -> Result<(), Error> + Send + Sync),
        idempotency: Option<&Idempotency>,
        encode: impl Fn(&Version) -> Vec<u8>,
    ) -> Result<Outcome<Version>, Error> {
        idempotency::create(self.store, ctx, idempotency, encode, async |write| {
            let txn = write.txn();
            authorize(&live_classifier(txn, id).await?)?;
            if find_version(txn, id, &v).await?.is_some() {
                return Err(Error::AlreadyExists {
                    resource: version_name(id, &v),
                    field: None,
                });
            }
            let item_count = match &source {
                None => 0,
                Some(s) => {
                    let src = find_version(txn, id, s).await?.ok_or_else(|| {
                        Error::ReferenceNotFound {
                            field: "source_version".into(),
                            reference: version_name(id, s),
                        }
                    })?;
                    if !src.state.is_published() {
                        return Err(Error::Precondition {
                            reason: Reason::VersionNotPublished,
                            resource: src.name(),
                            message: format!(
                                "{} is a draft; only a published version can be copied",
                                src.name()
                            ),
                        });
                    }
                    src.item_count
                }
            };
            if let Some(draft) = find_draft(txn, id).await? {
                return Err(draft_exists(id, Some(&draft.name())));
            }
            let t = self.store.now();
            let version = Version {
                classifier: id.clone(),
                id: v,
                state: VersionState::Draft,
                description,
                effective_time,
                publish_time: None,
                retire_time: None,
                content_hash: String::new(),
                item_count,
                source,
                create_time: t,
                update_time: t,
                revision: 1,
            };
            version_to_active(&version)
                .insert(txn)
                .await
                .map_err(|e| version_insert_err(e, &version))?;
            if let Some(s) = &version.source {
                copy_items(txn, id, s, &version.id).await?;
            }
            let changes = diff_fields(None, &version_audit_fields(&version));
            Ok(Created {
                resource: version.name(),
                changes,
                value: version,
            })
        })
        .await
    }

    /// Changes a draft's description and effective time: each field `change` sets, merged
    /// into the draft as it is in this transaction. Values equal to the current ones leave the
    /// draft (and its revision) as it was.
    pub async fn update_version(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        guard: DraftGuard<'_>,
        change: VersionChange,
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let current = writable_draft(write.txn(), id, v, guard).await?;
        let description = change
            .description
            .unwrap_or_else(|| current.description.clone());
        let effective_time = change.effective_time.unwrap_or(current.effective_time);
        if current.description == description && current.effective_time == effective_time {
            write.commit(&current.name(), Vec::new()).await?;
            return Ok(current);
        }
        let next = Version {
            description,
            effective_time,
            update_time: self.store.now(),
            revision: current.revision + 1,
            ..current.clone()
        };
        save_version(write.txn(), &next, current.revision).await?;
        commit_version(write, &current, &next).await?;
        Ok(next)
    }

    /// Discards a draft and its items; returns the draft as it was.
    pub async fn delete_version(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        guard: DraftGuard<'_>,
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = writable_draft(txn, id, v, guard).await?;
        claim(txn, self.store.now(), &current).await?;
        delete_all_items(txn, id, v).await?;
        version_row::Entity::delete_many()
            .filter(version_row::Column::ClassifierId.eq(id.as_str()))
            .filter(version_row::Column::VersionId.eq(v.as_str()))
            .exec(txn)
            .await
            .map_err(db_err)?;
        let changes = vec![FieldChange {
            field: "state".into(),
            old: current.state.as_str().to_string(),
            new: String::new(),
        }];
        write.commit(&current.name(), changes).await?;
        Ok(current)
    }

    /// Publishes a draft the caller has validated and hashed at `expected_revision`, against
    /// the requirements of the classifier at `classifier_revision`: refused with
    /// [`Error::EtagMismatch`] if either changed since, so that what is published was checked
    /// against the requirements in force when it commits (the caller checks again and
    /// retries). `authorize` approves the caller for the classifier as it is then. Sets the
    /// state, content hash and times; the revision goes up by one.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        authorize: &(dyn Fn(&Classifier) -> Result<(), Error> + Send + Sync),
        classifier_revision: i64,
        expected_revision: i64,
        content_hash: String,
        effective_time: Timestamp,
        publish_time: Timestamp,
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let classifier = live_classifier(txn, id).await?;
        authorize(&classifier)?;
        unchanged_since(id.name(), classifier.revision, classifier_revision)?;
        let current = find_version_for_update(txn, id, v).await?;
        let state = current
            .state
            .publish()
            .map_err(|e| e.into_error(current.name()))?;
        unchanged_since(current.name(), current.revision, expected_revision)?;
        let next = Version {
            state,
            content_hash,
            effective_time: Some(effective_time),
            publish_time: Some(publish_time),
            update_time: self.store.now(),
            revision: current.revision + 1,
            ..current.clone()
        };
        save_version(txn, &next, current.revision).await?;
        commit_version(write, &current, &next).await?;
        Ok(next)
    }

    /// Retires a published version: it stays readable but is never again in effect.
    pub async fn retire(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        guard: DraftGuard<'_>,
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        (guard.authorize)(&live_classifier(txn, id).await?)?;
        let current = find_version_for_update(txn, id, v).await?;
        let state = current
            .state
            .retire()
            .map_err(|e| e.into_error(current.name()))?;
        current.check_etag(guard.etag)?;
        let t = self.store.now();
        let next = Version {
            state,
            retire_time: Some(t),
            update_time: t,
            revision: current.revision + 1,
            ..current.clone()
        };
        save_version(txn, &next, current.revision).await?;
        commit_version(write, &current, &next).await?;
        Ok(next)
    }
}

/// The fields an UpdateClassifierVersion sets: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionChange {
    /// The new description.
    pub description: Option<String>,
    /// The new effective time (`Some(None)` clears it).
    pub effective_time: Option<Option<Timestamp>>,
}

fn draft_exists(id: &ClassifierId, draft: Option<&str>) -> Error {
    let message = match draft {
        Some(d) => format!(
            "{} already has a draft, {d}; publish or delete it first",
            id.name()
        ),
        None => format!(
            "{} already has a draft (created concurrently); publish or delete it first",
            id.name()
        ),
    };
    Error::Precondition {
        reason: Reason::DraftExists,
        resource: id.name(),
        message,
    }
}

/// A failed version insert: the draft index or the primary key caught a concurrent creation
/// (PostgreSQL; SQLite writers are serialised and were checked first).
fn version_insert_err(err: sea_orm::DbErr, version: &Version) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) if msg.contains(DRAFT_INDEX) => {
            draft_exists(&version.classifier, None)
        }
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::AlreadyExists {
            resource: version.name(),
            field: None,
        },
        _ => db_err(err),
    }
}

/// The version `v` of a live classifier the caller may write (`guard`), which must be a draft
/// and at the guard's etag (if set).
pub(super) async fn writable_draft(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    v: &VersionId,
    guard: DraftGuard<'_>,
) -> Result<Version, Error> {
    (guard.authorize)(&live_classifier(conn, id).await?)?;
    let version = find_version_for_update(conn, id, v).await?;
    if !version.state.is_editable() {
        return Err(Error::Precondition {
            reason: Reason::VersionNotEditable,
            resource: version.name(),
            message: format!(
                "{} is {}; published versions never change",
                version.name(),
                version.state
            ),
        });
    }
    version.check_etag(guard.etag)?;
    Ok(version)
}

/// Claims a version for this transaction: bumps its revision and update time if it is still
/// at `current.revision` (else [`Error::EtagMismatch`]). Returns the claimed state.
pub(super) async fn claim(
    conn: &impl ConnectionTrait,
    now: Timestamp,
    current: &Version,
) -> Result<Version, Error> {
    let next = Version {
        update_time: now,
        revision: current.revision + 1,
        ..current.clone()
    };
    save_version(conn, &next, current.revision).await?;
    Ok(next)
}

/// Writes `next` if the row is still at `expected_revision`; otherwise someone else changed
/// it since it was read.
pub(super) async fn save_version(
    conn: &impl ConnectionTrait,
    next: &Version,
    expected_revision: i64,
) -> Result<(), Error> {
    let result = version_row::Entity::update_many()
        .set(version_to_active(next))
        .filter(version_row::Column::ClassifierId.eq(next.classifier.as_str()))
        .filter(version_row::Column::VersionId.eq(next.id.as_str()))
        .filter(version_row::Column::Revision.eq(expected_revision))
        .exec(conn)
        .await
        .map_err(db_err)?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::EtagMismatch {
            resource: next.name(),
        })
    }
}

pub(super) async fn commit_version(
    write: Write<'_>,
    before: &Version,
    after: &Version,
) -> Result<(), Error> {
    let changes = diff_fields(
        Some(&version_audit_fields(before)),
        &version_audit_fields(after),
    );
    write.commit(&after.name(), changes).await
}

async fn find_version(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    v: &VersionId,
) -> Result<Option<Version>, Error> {
    version_row::Entity::find_by_id((id.as_str().to_string(), v.as_str().to_string()))
        .one(conn)
        .await
        .map_err(db_err)?
        .map(version_from_row)
        .transpose()
}

/// The version as a write in this transaction finds it: its row locked on PostgreSQL until the
/// transaction ends, so that a concurrent write is waited for and read as it committed (on
/// SQLite writers are serialised anyway).
async fn find_version_for_update(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    v: &VersionId,
) -> Result<Version, Error> {
    let select = version_row::Entity::find_by_id((id.as_str().to_string(), v.as_str().to_string()));
    crate::find_for_update(conn, select, version_from_row)
        .await?
        .or_not_found(|| version_name(id, v))
}

async fn find_draft(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
) -> Result<Option<Version>, Error> {
    version_row::Entity::find()
        .filter(version_row::Column::ClassifierId.eq(id.as_str()))
        .filter(version_row::Column::State.eq(VersionState::Draft.as_str()))
        .one(conn)
        .await
        .map_err(db_err)?
        .map(version_from_row)
        .transpose()
}
