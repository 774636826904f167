//! The classifier records: create, read, list, update, delete and undelete.

use reestr_domain::Error;
use reestr_domain::audit::diff_fields;
use reestr_domain::classifier::filter::ClassifierCondition;
use reestr_domain::classifier::{Classifier, ClassifierId, ClassifierSpec};
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey};
use reestr_domain::query::{Equality, Predicate};
use reestr_domain::revision::{Deletion, Revisioned};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};

use super::ClassifierRepo;
use super::stored::{audit_fields, from_row, to_active};
use crate::audit::AuditContext;
use crate::entity::classifier::{self as row, Column};
use crate::error::{OrNotFound, not_found};
use crate::filter_sql::{self, SqlLeaf};
use crate::idempotency::{self, Created, Idempotency, Outcome};
use crate::{Write, db_err, keyset};

/// A ListClassifiers query: selects by the typed filter (see
/// [`reestr_domain::classifier::filter::compile_classifier_filter`]); ordered by id.
pub type ClassifierQuery = ListQuery<Option<Predicate<ClassifierCondition>>>;

impl ClassifierRepo<'_> {
    /// Creates a classifier (without versions). The owner must be a live organisation. With
    /// `idempotency`, a retry returns the first response (encoded by `encode`) instead of
    /// creating again.
    pub async fn create(
        &self,
        ctx: &AuditContext,
        id: ClassifierId,
        spec: ClassifierSpec,
        idempotency: Option<&Idempotency>,
        encode: impl Fn(&Classifier) -> Vec<u8>,
    ) -> Result<Outcome<Classifier>, Error> {
        idempotency::create(self.store, ctx, idempotency, encode, async |write| {
            let txn = write.txn();
            if find_classifier(txn, &id).await?.is_some() {
                return Err(Error::AlreadyExists {
                    resource: id.name(),
                    field: None,
                });
            }
            check_owner(txn, &spec.owner).await?;
            let t = self.store.now();
            let classifier = Classifier {
                id,
                spec,
                create_time: t,
                update_time: t,
                delete_time: None,
                revision: 1,
            };
            to_active(&classifier)?.insert(txn).await.map_err(db_err)?;
            let changes = diff_fields(None, &audit_fields(&classifier)?);
            Ok(Created {
                resource: classifier.id.name(),
                changes,
                value: classifier,
            })
        })
        .await
    }

    /// The classifier `id`, deleted or not.
    pub async fn get(&self, id: &ClassifierId) -> Result<Classifier, Error> {
        find_classifier(self.store.conn(), id)
            .await?
            .or_not_found(|| id.name())
    }

    /// One page of classifiers, ordered by id.
    pub async fn list(&self, query: &ClassifierQuery) -> Result<Page<Classifier>, Error> {
        keyset::page(
            self.store,
            row::Entity::find().filter(filter_sql::selection(query, Column::DeleteTime)),
            &query.page(vec![PageKey::asc(Column::Id, KeyKind::Text)]),
            from_row,
            |c: &Classifier, _| KeyValue::Text(c.id.as_str().to_string()),
        )
        .await
    }

    /// Changes a live classifier's requirements: `change` gets the classifier as it is in
    /// this transaction (its row locked on PostgreSQL, writers serialised on SQLite) and
    /// returns the new requirements, so an update merges into what it overwrites and a
    /// concurrent change outside its mask is kept. `etag`, when not empty, must be current.
    /// The (new) owner must be a live organisation. Requirements equal to the current ones
    /// leave the classifier (and its etag) as it was.
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        etag: &str,
        change: impl FnOnce(&Classifier) -> Result<ClassifierSpec, Error>,
    ) -> Result<Classifier, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = crate::find_for_update(txn, row::Entity::find_by_id(id.as_str()), from_row)
            .await?
            .or_not_found(|| id.name())?;
        if current.delete_time.is_some() {
            return Err(Error::Deleted {
                resource: id.name(),
            });
        }
        current.check_etag(etag)?;
        let spec = change(&current)?;
        check_owner(txn, &spec.owner).await?;
        if spec == current.spec {
            write.commit(&id.name(), Vec::new()).await?;
            return Ok(current);
        }
        let next = Classifier {
            spec,
            update_time: self.store.now(),
            revision: current.revision + 1,
            ..current.clone()
        };
        self.save(write, &current, next).await
    }

    /// Soft-deletes a classifier (its versions stay readable, nothing of it can be written) or
    /// restores one (its owner must be live), by the one rule of [`Deletion`], after
    /// `authorize` approves the classifier as it is in this transaction.
    pub async fn set_deleted(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        etag: &str,
        deletion: Deletion,
        authorize: impl FnOnce(&Classifier) -> Result<(), Error>,
    ) -> Result<Classifier, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = crate::find_for_update(txn, row::Entity::find_by_id(id.as_str()), from_row)
            .await?
            .or_not_found(|| id.name())?;
        authorize(&current)?;
        let t = self.store.now();
        let delete_time = deletion.apply(&current, etag, t)?;
        if deletion == Deletion::Undelete {
            check_owner(txn, &current.spec.owner).await?;
        }
        let next = Classifier {
            update_time: t,
            delete_time,
            revision: current.revision + 1,
            ..current.clone()
        };
        self.save(write, &current, next).await
    }

    /// Writes `next` over `current` (guarded by its revision) and commits with the diff.
    async fn save(
        &self,
        write: Write<'_>,
        current: &Classifier,
        next: Classifier,
    ) -> Result<Classifier, Error> {
        let result = row::Entity::update_many()
            .set(to_active(&next)?)
            .filter(Column::Id.eq(next.id.as_str()))
            .filter(Column::Revision.eq(current.revision))
            .exec(write.txn())
            .await
            .map_err(db_err)?;
        if result.rows_affected != 1 {
            return Err(Error::EtagMismatch {
                resource: next.id.name(),
            });
        }
        let changes = diff_fields(Some(&audit_fields(current)?), &audit_fields(&next)?);
        write.commit(&next.id.name(), changes).await?;
        Ok(next)
    }
}

async fn check_owner(conn: &impl ConnectionTrait, owner: &OrganizationId) -> Result<(), Error> {
    crate::organization::check_live(conn, owner, "classifier.owner").await
}

/// The classifier as it is in this transaction; it must exist and be live. On PostgreSQL its
/// row is share-locked until the transaction ends, so that it can be neither deleted nor
/// changed while its versions are written (on SQLite writers are serialised anyway).
pub(super) async fn live_classifier(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
) -> Result<Classifier, Error> {
    let found = row::Entity::find_by_id(id.as_str())
        .lock_shared()
        .one(conn)
        .await
        .map_err(db_err)?
        .map(from_row)
        .transpose()?;
    match found {
        None => Err(not_found(id.name())),
        Some(c) if c.delete_time.is_some() => Err(Error::Deleted {
            resource: id.name(),
        }),
        Some(c) => Ok(c),
    }
}

pub(super) async fn find_classifier_row(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
) -> Result<Option<row::Model>, Error> {
    row::Entity::find_by_id(id.as_str())
        .one(conn)
        .await
        .map_err(db_err)
}

async fn find_classifier(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
) -> Result<Option<Classifier>, Error> {
    find_classifier_row(conn, id)
        .await?
        .map(from_row)
        .transpose()
}

impl SqlLeaf for ClassifierCondition {
    fn condition(&self) -> Condition {
        match self {
            ClassifierCondition::Owner(eq, o) => {
                filter_sql::equals(Column::OwnerId, *eq, o.as_str())
            }
            ClassifierCondition::Hierarchical(b) => {
                filter_sql::equals(Column::Hierarchical, Equality::Eq, *b)
            }
            // `search` is the folded id on the first line, then one name per line: a name
            // matches when the text occurs after a line break.
            ClassifierCondition::DisplayNameContains(folded) => filter_sql::like(
                Column::Search,
                format!("%\n{}", keyset::like_contains(folded)),
            ),
            ClassifierCondition::Text(folded) => filter_sql::contains(Column::Search, folded),
        }
    }
}
