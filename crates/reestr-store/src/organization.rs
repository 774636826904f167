//! The organisation repository.

use std::collections::BTreeMap;

use reestr_domain::Error;
use reestr_domain::audit::diff_fields;
use reestr_domain::classifier::ClassifierId;
use reestr_domain::contact::Contacts;
use reestr_domain::organization::{
    Organization, OrganizationCondition, OrganizationId, OrganizationKind, OrganizationSpec,
};
use reestr_domain::paging::{KeyValue, ListQuery, Page, PageKey, SortKey};
use reestr_domain::query::Predicate;
use reestr_domain::revision::{Deletion, Revisioned};
use reestr_domain::system::SystemId;
use reestr_domain::text::LocalizedText;
use reestr_domain::time::Timestamp;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::audit::AuditContext;
use crate::entity::classifier as classifier_row;
use crate::entity::organization::{self as row, Column};
use crate::entity::system as system_row;
use crate::error::OrNotFound;
use crate::filter_sql::{self, SqlLeaf};
use crate::idempotency::{self, Created, Idempotency, Outcome};
use crate::{Store, db_err, keyset};

/// How far up the parent chain a cycle check walks before it calls the hierarchy too deep.
const MAX_HIERARCHY_DEPTH: usize = 64;
/// How many referring resources an in-use error names (it counts them all).
const MAX_REFERRERS_NAMED: u64 = 10;

/// A ListOrganizations query: selects by the typed filter.
pub type OrganizationQuery = ListQuery<Option<Predicate<OrganizationCondition>>>;

/// Reads and writes organisations.
pub struct OrganizationRepo<'s> {
    store: &'s Store,
}

impl<'s> OrganizationRepo<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self { store }
    }

    /// Creates an organisation. With `idempotency`, a retry returns the first response
    /// (encoded by `encode`) instead of creating again.
    pub async fn create(
        &self,
        ctx: &AuditContext,
        id: OrganizationId,
        spec: OrganizationSpec,
        idempotency: Option<&Idempotency>,
        encode: impl Fn(&Organization) -> Vec<u8>,
    ) -> Result<Outcome<Organization>, Error> {
        idempotency::create(self.store, ctx, idempotency, encode, async |write| {
            let txn = write.txn();
            if find(txn, &id).await?.is_some() {
                return Err(Error::AlreadyExists {
                    resource: id.name(),
                    field: None,
                });
            }
            check_tin_free(txn, &spec.tin, None).await?;
            if let Some(parent) = &spec.parent {
                check_live(txn, parent, "organization.parent").await?;
            }
            let t = write.now();
            let org = Organization {
                id,
                spec,
                create_time: t,
                update_time: t,
                delete_time: None,
                revision: 1,
            };
            to_active(&org).insert(txn).await.map_err(db_err)?;
            Ok(Created {
                resource: org.id.name(),
                changes: diff_fields(None, &org.audit_fields()),
                value: org,
            })
        })
        .await
    }

    /// The organisation `id`, deleted or not.
    pub async fn get(&self, id: &OrganizationId) -> Result<Organization, Error> {
        find(self.store.conn(), id)
            .await?
            .or_not_found(|| id.name())
    }

    /// Changes an organisation: `change` gets the current state and returns the new fields.
    /// `etag`, when not empty, must be the current etag. A change that alters nothing leaves
    /// the organisation (and its etag) as it was.
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: &OrganizationId,
        etag: &str,
        change: impl FnOnce(&Organization) -> Result<OrganizationSpec, Error>,
    ) -> Result<Organization, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = find(txn, id).await?.or_not_found(|| id.name())?;
        if current.delete_time.is_some() {
            return Err(Error::Deleted {
                resource: id.name(),
            });
        }
        current.check_etag(etag)?;
        let spec = change(&current)?;
        if spec == current.spec {
            write.commit(&id.name(), Vec::new()).await?;
            return Ok(current);
        }
        if spec.tin != current.spec.tin {
            check_tin_free(txn, &spec.tin, Some(id)).await?;
        }
        if spec.parent != current.spec.parent
            && let Some(parent) = &spec.parent
        {
            check_live(txn, parent, "organization.parent").await?;
            check_no_cycle(txn, id, parent).await?;
        }
        let next = Organization {
            spec,
            update_time: self.store.now(),
            revision: current.revision + 1,
            ..current.clone()
        };
        save_guarded(txn, &next, current.revision).await?;
        let changes = diff_fields(Some(&current.audit_fields()), &next.audit_fields());
        write.commit(&id.name(), changes).await?;
        Ok(next)
    }

    /// Soft-deletes an organisation (refused while anything live refers to it) or restores one
    /// (its parent, if any, must be live), by the one rule of [`Deletion`].
    pub async fn set_deleted(
        &self,
        ctx: &AuditContext,
        id: &OrganizationId,
        etag: &str,
        deletion: Deletion,
    ) -> Result<Organization, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = crate::find_for_update(txn, row::Entity::find_by_id(id.as_str()), from_row)
            .await?
            .or_not_found(|| id.name())?;
        let t = self.store.now();
        let delete_time = deletion.apply(&current, etag, t)?;
        match deletion {
            Deletion::Delete => refuse_if_referred_to(txn, id).await?,
            Deletion::Undelete => {
                if let Some(parent) = &current.spec.parent {
                    check_live(txn, parent, "organization.parent").await?;
                }
            }
        }
        let next = Organization {
            update_time: t,
            delete_time,
            revision: current.revision + 1,
            ..current.clone()
        };
        save_guarded(txn, &next, current.revision).await?;
        let changes = diff_fields(Some(&current.audit_fields()), &next.audit_fields());
        write.commit(&id.name(), changes).await?;
        Ok(next)
    }

    /// One page of a filtered, ordered list.
    pub async fn list(&self, query: &OrganizationQuery) -> Result<Page<Organization>, Error> {
        let condition = filter_sql::selection(query, Column::DeleteTime);
        keyset::page(
            self.store,
            row::Entity::find().filter(condition),
            &query.page(query.order_by.iter().map(|k| page_key(*k)).collect()),
            from_row,
            sort_value,
        )
        .await
    }
}

fn sort_column(field: &str) -> Column {
    match field {
        "tin" => Column::Tin,
        "create_time" => Column::CreateTime,
        "update_time" => Column::UpdateTime,
        _ => Column::Id,
    }
}

/// The keyset component `key` sorts by.
fn page_key(key: SortKey) -> PageKey<Column> {
    keyset::sort_key(key, sort_column, |c| {
        matches!(c, Column::CreateTime | Column::UpdateTime)
    })
}

fn sort_value(org: &Organization, c: Column) -> KeyValue {
    match c {
        Column::Tin => KeyValue::Text(org.spec.tin.clone()),
        Column::CreateTime => KeyValue::Int(org.create_time.micros()),
        Column::UpdateTime => KeyValue::Int(org.update_time.micros()),
        _ => KeyValue::Text(org.id.as_str().to_string()),
    }
}

impl SqlLeaf for OrganizationCondition {
    fn condition(&self) -> Condition {
        match self {
            OrganizationCondition::Kind(eq, k) => filter_sql::equals(Column::Kind, *eq, k.as_str()),
            OrganizationCondition::Parent(eq, p) => filter_sql::equals_nullable(
                Column::ParentId,
                *eq,
                p.as_ref().map(OrganizationId::as_str),
            ),
            OrganizationCondition::Tin(eq, t) => filter_sql::equals(Column::Tin, *eq, t.as_str()),
            OrganizationCondition::RegionCode(eq, r) => filter_sql::equals_nullable(
                Column::RegionCode,
                *eq,
                (!r.is_empty()).then_some(r.as_str()),
            ),
            OrganizationCondition::DisplayNameContains(folded) => {
                filter_sql::contains(Column::SearchText, folded)
            }
        }
    }
}

async fn find(
    conn: &impl ConnectionTrait,
    id: &OrganizationId,
) -> Result<Option<Organization>, Error> {
    row::Entity::find_by_id(id.as_str())
        .one(conn)
        .await
        .map_err(db_err)?
        .map(from_row)
        .transpose()
}

/// Refuses with RESOURCE_IN_USE while live resources refer to organisation `id`: organisations
/// that name it as their parent, systems it owns or operates, classifiers it owns. The error
/// names the first [`MAX_REFERRERS_NAMED`] of them, in that order and by name within a kind,
/// and counts them all.
///
/// The caller has locked the organisation's row for update (see [`check_live`]).
async fn refuse_if_referred_to(
    conn: &impl ConnectionTrait,
    id: &OrganizationId,
) -> Result<(), Error> {
    let mut referrers = Referrers::default();
    referrers
        .add(
            conn,
            row::Entity::find()
                .filter(Column::ParentId.eq(id.as_str()))
                .filter(Column::DeleteTime.is_null()),
            Column::Id,
            |c| OrganizationId::from_trusted(c).name(),
        )
        .await?;
    referrers
        .add(
            conn,
            system_row::Entity::find()
                .filter(
                    Condition::any()
                        .add(system_row::Column::OwnerId.eq(id.as_str()))
                        .add(system_row::Column::OperatorId.eq(id.as_str())),
                )
                .filter(system_row::Column::DeleteTime.is_null()),
            system_row::Column::Id,
            |s| SystemId::from_trusted(s).name(),
        )
        .await?;
    referrers
        .add(
            conn,
            classifier_row::Entity::find()
                .filter(classifier_row::Column::OwnerId.eq(id.as_str()))
                .filter(classifier_row::Column::DeleteTime.is_null()),
            classifier_row::Column::Id,
            |c| ClassifierId::from_trusted(c).name(),
        )
        .await?;
    if referrers.count == 0 {
        return Ok(());
    }
    Err(Error::InUse {
        resource: id.name(),
        referenced_by: referrers.named,
        count: referrers.count,
    })
}

/// The live resources that refer to one resource: the first few by name, and how many.
#[derive(Default)]
struct Referrers {
    named: Vec<String>,
    count: u64,
}

impl Referrers {
    /// Counts the rows of `query` and names the first of them (by `id`) while there is room.
    async fn add<E>(
        &mut self,
        conn: &impl ConnectionTrait,
        query: sea_orm::Select<E>,
        id: E::Column,
        name: impl Fn(String) -> String,
    ) -> Result<(), Error>
    where
        E: EntityTrait,
        E::Model: Sync,
    {
        let count = query.clone().count(conn).await.map_err(db_err)?;
        let room = MAX_REFERRERS_NAMED.saturating_sub(self.named.len() as u64);
        if count > 0 && room > 0 {
            let ids: Vec<String> = query
                .select_only()
                .column(id)
                .order_by(id, Order::Asc)
                .limit(room)
                .into_tuple()
                .all(conn)
                .await
                .map_err(db_err)?;
            self.named.extend(ids.into_iter().map(name));
        }
        self.count += count;
        Ok(())
    }
}

async fn check_tin_free(
    conn: &impl ConnectionTrait,
    tin: &str,
    except: Option<&OrganizationId>,
) -> Result<(), Error> {
    let mut q = row::Entity::find().filter(Column::Tin.eq(tin));
    if let Some(id) = except {
        q = q.filter(Column::Id.ne(id.as_str()));
    }
    match q.one(conn).await.map_err(db_err)? {
        Some(holder) => Err(Error::AlreadyExists {
            resource: OrganizationId::from_trusted(holder.id).name(),
            field: Some("tin".into()),
        }),
        None => Ok(()),
    }
}

/// Checks that organisation `id`, which the request's `field` refers to, exists and is live:
/// the one check of every write that makes a resource refer to an organisation. On PostgreSQL
/// the row stays share-locked until the transaction ends, so that a concurrent delete of the
/// organisation (which locks the row for update before it looks for referrers) either waits
/// for this write and finds it, or is seen by this check.
pub(crate) async fn check_live(
    conn: &impl ConnectionTrait,
    id: &OrganizationId,
    field: &str,
) -> Result<(), Error> {
    let live = row::Entity::find_by_id(id.as_str())
        .filter(Column::DeleteTime.is_null())
        .lock_shared()
        .one(conn)
        .await
        .map_err(db_err)?;
    match live {
        Some(_) => Ok(()),
        None => Err(Error::ReferenceNotFound {
            field: field.into(),
            reference: id.name(),
        }),
    }
}

/// Walks up from `parent`; reaching `id` means the new parent is `id` itself or one of its
/// descendants.
async fn check_no_cycle(
    conn: &impl ConnectionTrait,
    id: &OrganizationId,
    parent: &OrganizationId,
) -> Result<(), Error> {
    let mut cursor = Some(parent.clone());
    for _ in 0..MAX_HIERARCHY_DEPTH {
        let Some(at) = cursor else { return Ok(()) };
        if &at == id {
            return Err(Error::HierarchyCycle {
                resource: id.name(),
                parent: parent.name(),
            });
        }
        cursor = find(conn, &at).await?.and_then(|o| o.spec.parent);
    }
    Err(Error::HierarchyCycle {
        resource: id.name(),
        parent: parent.name(),
    })
}

/// Writes `next` only if the row is still at `expected_revision`; otherwise someone else
/// changed it since it was read, and the caller must read again.
async fn save_guarded(
    conn: &impl ConnectionTrait,
    next: &Organization,
    expected_revision: i64,
) -> Result<(), Error> {
    let result = row::Entity::update_many()
        .set(to_active(next))
        .filter(Column::Id.eq(next.id.as_str()))
        .filter(Column::Revision.eq(expected_revision))
        .exec(conn)
        .await
        .map_err(db_err)?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(Error::EtagMismatch {
            resource: next.id.name(),
        })
    }
}

fn to_active(org: &Organization) -> row::ActiveModel {
    let names = org.spec.display_name.to_tag_map();
    row::ActiveModel {
        id: Set(org.id.as_str().to_string()),
        display_name: Set(serde_json::to_string(&names).unwrap_or_default()),
        search_text: Set(org.spec.display_name.search_text()),
        tin: Set(org.spec.tin.clone()),
        kind: Set(org.spec.kind.as_str().to_string()),
        parent_id: Set(org.spec.parent.as_ref().map(|p| p.as_str().to_string())),
        region_code: Set(org.spec.region_code.clone()),
        email: Set(org.spec.contacts.email.clone()),
        phone: Set(org.spec.contacts.phone.clone()),
        website: Set(org.spec.contacts.website.clone()),
        create_time: Set(org.create_time.micros()),
        update_time: Set(org.update_time.micros()),
        delete_time: Set(org.delete_time.map(Timestamp::micros)),
        revision: Set(org.revision),
    }
}

pub(crate) fn from_row(m: row::Model) -> Result<Organization, Error> {
    let names: BTreeMap<String, String> = serde_json::from_str(&m.display_name)
        .map_err(|e| Error::Internal(format!("organization {}: bad display_name: {e}", m.id)))?;
    let kind: OrganizationKind = m
        .kind
        .parse()
        .map_err(|()| Error::Internal(format!("organization {}: bad kind {}", m.id, m.kind)))?;
    Ok(Organization {
        id: OrganizationId::from_trusted(m.id),
        spec: OrganizationSpec {
            display_name: LocalizedText::from_trusted(names),
            tin: m.tin,
            kind,
            parent: m.parent_id.map(OrganizationId::from_trusted),
            region_code: m.region_code,
            contacts: Contacts {
                email: m.email,
                phone: m.phone,
                website: m.website,
            },
        },
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        delete_time: m.delete_time.map(Timestamp::from_micros),
        revision: m.revision,
    })
}
