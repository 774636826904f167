//! The field binding repository (`fieldBindings/{id}`), and the scan of the records a binding
//! applies to, for the impact of a classifier version.

use reestr_domain::Error;
use reestr_domain::audit::diff_fields;
use reestr_domain::binding::{
    BindingId, BindingSpec, BoundField, DeprecatedCodes, FieldBinding, Record,
};
use reestr_domain::classifier::ClassifierId;
use reestr_domain::revision::Revisioned;
use reestr_domain::time::Timestamp;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::audit::AuditContext;
use crate::entity::field_binding::{self as row, Column};
use crate::entity::{organization, system};
use crate::error::OrNotFound;
use crate::{Store, db_err};

/// Reads and writes field bindings.
pub struct BindingRepo<'s> {
    store: &'s Store,
}

/// The codes one record holds in a bound field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundCodes {
    /// The record's id.
    pub id: String,
    /// The record's name, e.g. `organizations/stat`.
    pub name: String,
    /// Each code with its path within the record (`security.data_categories[1]`).
    pub codes: Vec<(String, String)>,
}

/// A batch of a scan of the records a field applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanBatch {
    /// The records of the batch that hold codes in the field, by id.
    pub records: Vec<BoundCodes>,
    /// The last record the batch read (with codes or without): the next batch starts after it.
    pub last_scanned: Option<String>,
    /// Whether the scan reached the last record.
    pub end: bool,
}

impl<'s> BindingRepo<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self { store }
    }

    /// Binds `field` as `spec` says. ALREADY_EXISTS for a taken id or an already bound field;
    /// the classifier must exist (FAILED_PRECONDITION otherwise).
    pub async fn create(
        &self,
        ctx: &AuditContext,
        id: BindingId,
        field: BoundField,
        spec: BindingSpec,
    ) -> Result<FieldBinding, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        if find(txn, &id).await?.is_some() {
            return Err(Error::AlreadyExists {
                resource: id.name(),
                field: None,
            });
        }
        if let Some(other) = row::Entity::find()
            .filter(Column::Field.eq(field.as_str()))
            .one(txn)
            .await
            .map_err(db_err)?
        {
            return Err(Error::AlreadyExists {
                resource: format!("{}/{}", reestr_domain::binding::COLLECTION, other.id),
                field: Some("field_binding.field".into()),
            });
        }
        check_classifier(txn, &spec.classifier, "field_binding.classifier").await?;
        let t = write.now();
        let binding = FieldBinding {
            id,
            field,
            spec,
            create_time: t,
            update_time: t,
            revision: 1,
        };
        to_active(&binding).insert(txn).await.map_err(db_err)?;
        let changes = diff_fields(None, &audit_fields(&binding));
        write.commit(&binding.id.name(), changes).await?;
        Ok(binding)
    }

    /// The binding `id`.
    pub async fn get(&self, id: &BindingId) -> Result<FieldBinding, Error> {
        find(self.store.conn(), id)
            .await?
            .or_not_found(|| id.name())
    }

    /// Every binding, by id.
    pub async fn list(&self) -> Result<Vec<FieldBinding>, Error> {
        row::Entity::find()
            .order_by_asc(Column::Id)
            .all(self.store.conn())
            .await
            .map_err(db_err)?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// Changes a binding: `change` gets the current one and returns its new spec. `etag`,
    /// when not empty, must be the current etag. A change that alters nothing leaves the
    /// binding (and its etag) as it was.
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: &BindingId,
        etag: &str,
        change: impl FnOnce(&FieldBinding) -> BindingSpec,
    ) -> Result<FieldBinding, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = find(txn, id).await?.or_not_found(|| id.name())?;
        current.check_etag(etag)?;
        let spec = change(&current);
        if spec == current.spec {
            write.commit(&id.name(), Vec::new()).await?;
            return Ok(current);
        }
        if spec.classifier != current.spec.classifier {
            check_classifier(txn, &spec.classifier, "field_binding.classifier").await?;
        }
        let next = FieldBinding {
            spec,
            update_time: write.now(),
            revision: current.revision + 1,
            ..current.clone()
        };
        let updated = row::Entity::update_many()
            .set(to_active(&next))
            .filter(Column::Id.eq(id.as_str()))
            .filter(Column::Revision.eq(current.revision))
            .exec(txn)
            .await
            .map_err(db_err)?;
        if updated.rows_affected == 0 {
            return Err(Error::EtagMismatch {
                resource: id.name(),
            });
        }
        let changes = diff_fields(Some(&audit_fields(&current)), &audit_fields(&next));
        write.commit(&id.name(), changes).await?;
        Ok(next)
    }

    /// Removes a binding for good; `etag`, when not empty, must be its etag.
    pub async fn delete(
        &self,
        ctx: &AuditContext,
        id: &BindingId,
        etag: &str,
    ) -> Result<(), Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = find(txn, id).await?.or_not_found(|| id.name())?;
        current.check_etag(etag)?;
        row::Entity::delete_by_id(id.as_str())
            .exec(txn)
            .await
            .map_err(db_err)?;
        let changes = diff_fields(Some(&audit_fields(&current)), &[]);
        write.commit(&id.name(), changes).await
    }

    /// Up to `limit` live records of the type `field` belongs to, by id from `start` (`(id,
    /// true)`: from that id on; `(id, false)`: after it), with the codes each holds in the field.
    pub async fn bound_codes(
        &self,
        field: BoundField,
        start: Option<(&str, bool)>,
        limit: u64,
    ) -> Result<ScanBatch, Error> {
        let conn = self.store.conn();
        let mut records = Vec::new();
        let mut last_scanned = None;
        let scanned;
        if field.of_organization() {
            let mut q = organization::Entity::find()
                .filter(organization::Column::DeleteTime.is_null())
                .order_by_asc(organization::Column::Id)
                .limit(limit);
            q = match start {
                Some((id, true)) => q.filter(organization::Column::Id.gte(id)),
                Some((id, false)) => q.filter(organization::Column::Id.gt(id)),
                None => q,
            };
            let rows = q.all(conn).await.map_err(db_err)?;
            scanned = rows.len();
            for m in rows {
                let org = crate::organization::from_row(m)?;
                let codes = owned(field.codes(Record::Organization(&org.spec)));
                last_scanned = Some(org.id.as_str().to_string());
                if !codes.is_empty() {
                    records.push(BoundCodes {
                        id: org.id.as_str().to_string(),
                        name: org.id.name(),
                        codes,
                    });
                }
            }
        } else {
            let mut q = system::Entity::find()
                .filter(system::Column::DeleteTime.is_null())
                .order_by_asc(system::Column::Id)
                .limit(limit);
            q = match start {
                Some((id, true)) => q.filter(system::Column::Id.gte(id)),
                Some((id, false)) => q.filter(system::Column::Id.gt(id)),
                None => q,
            };
            let rows = q.all(conn).await.map_err(db_err)?;
            scanned = rows.len();
            for m in rows {
                let s = crate::system::from_row(m)?;
                let codes = owned(field.codes(Record::System(&s.spec)));
                last_scanned = Some(s.id.as_str().to_string());
                if !codes.is_empty() {
                    records.push(BoundCodes {
                        id: s.id.as_str().to_string(),
                        name: s.id.name(),
                        codes,
                    });
                }
            }
        }
        Ok(ScanBatch {
            records,
            last_scanned,
            end: u64::try_from(scanned).unwrap_or(u64::MAX) < limit,
        })
    }
}

fn owned(codes: Vec<(String, &str)>) -> Vec<(String, String)> {
    codes
        .into_iter()
        .map(|(path, code)| (path, code.to_string()))
        .collect()
}

async fn find(conn: &impl ConnectionTrait, id: &BindingId) -> Result<Option<FieldBinding>, Error> {
    row::Entity::find_by_id(id.as_str())
        .one(conn)
        .await
        .map_err(db_err)?
        .map(from_row)
        .transpose()
}

/// FAILED_PRECONDITION (`REFERENCE_NOT_FOUND`) unless classifier `id` exists and is live.
async fn check_classifier(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    field: &str,
) -> Result<(), Error> {
    use crate::entity::classifier;
    let live = classifier::Entity::find_by_id(id.as_str())
        .filter(classifier::Column::DeleteTime.is_null())
        .one(conn)
        .await
        .map_err(db_err)?
        .is_some();
    if live {
        Ok(())
    } else {
        Err(Error::ReferenceNotFound {
            field: field.into(),
            reference: id.name(),
        })
    }
}

fn audit_fields(b: &FieldBinding) -> Vec<(&'static str, String)> {
    vec![
        ("field", b.field.as_str().to_string()),
        ("classifier", b.spec.classifier.name()),
        ("required", b.spec.required.to_string()),
        (
            "deprecated_codes",
            b.spec.deprecated_codes.as_str().to_string(),
        ),
    ]
}

fn to_active(b: &FieldBinding) -> row::ActiveModel {
    row::ActiveModel {
        id: Set(b.id.as_str().to_string()),
        field: Set(b.field.as_str().to_string()),
        classifier_id: Set(b.spec.classifier.as_str().to_string()),
        required: Set(b.spec.required),
        deprecated_codes: Set(b.spec.deprecated_codes.as_str().to_string()),
        create_time: Set(b.create_time.micros()),
        update_time: Set(b.update_time.micros()),
        revision: Set(b.revision),
    }
}

fn from_row(m: row::Model) -> Result<FieldBinding, Error> {
    let bad = |what: &str| Error::Internal(format!("field binding {}: bad {what}", m.id));
    Ok(FieldBinding {
        field: m.field.parse().map_err(|()| bad("field"))?,
        spec: BindingSpec {
            classifier: ClassifierId::from_trusted(m.classifier_id.clone()),
            required: m.required,
            deprecated_codes: m
                .deprecated_codes
                .parse::<DeprecatedCodes>()
                .map_err(|()| bad("deprecated_codes"))?,
        },
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        revision: m.revision,
        id: BindingId::from_trusted(m.id),
    })
}
