//! The classifier repository: classifiers, their versions, and the items of each version.
//!
//! A classifier's requirements are stored as JSON of the domain's draft shape and read back as
//! stored: the domain's rules are checked on writes, not again on reads. Items are stored as
//! their canonical encoding ([`encode_item`]), the same bytes the content hash is computed
//! over, and read in ascending byte order of code on both engines (see the migration).
//!
//! Every write is one transaction through [`Store::write`], ending with its audit event.
//! Writes to a version first *claim* it: a conditional `UPDATE … WHERE revision = old` that
//! bumps its revision. On PostgreSQL the claim also locks the row, so concurrent writers of
//! one draft queue there, and every one but the first finds the revision changed and fails
//! with [`Error::EtagMismatch`] instead of overwriting. While a transaction holds the claim
//! no other transaction changes that draft's items, which keeps `item_count` exact when it is
//! maintained incrementally.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt::Write as _;

use reestr_domain::Error;
use reestr_domain::audit::{FieldChange, diff_fields};
use reestr_domain::classifier::filter::ClassifierCondition;
use reestr_domain::classifier::hash::{decode_item, encode_item};
use reestr_domain::classifier::name::COLLECTION;
use reestr_domain::classifier::name::ITEMS;
use reestr_domain::classifier::version::version_name;
use reestr_domain::classifier::{
    AttributeDef, AttributeKind, AttributeType, Classifier, ClassifierId, ClassifierSpec, Code,
    Date, Item, LegalAct, Pattern, Version, VersionId, VersionState,
};
use reestr_domain::error::Reason;
use reestr_domain::input::Choice;
use reestr_domain::input::count_i64;
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging::{KeyKind, KeyValue, PageKey, PageQuery};
use reestr_domain::query::{Equality, Predicate};
use reestr_domain::text::{Language, LocalizedText, fold};
use reestr_domain::time::Timestamp;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, SqlErr, Statement, Value,
};
use serde::{Deserialize, Serialize};

use crate::audit::AuditContext;
use crate::entity::classifier::{self as row, Column};
use crate::entity::classifier_item as item_row;
use crate::entity::classifier_version as version_row;
use crate::filter_sql::{self, SqlLeaf};
use crate::idempotency::{self, Idempotency, Outcome};
use crate::{Store, Write, db_err, keyset};

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
/// The partial unique index allowing one draft per classifier (see the migration).
const DRAFT_INDEX: &str = "ux_classifier_versions_draft";

/// A ListClassifiers query, already validated.
#[derive(Debug, Clone)]
pub struct ClassifierQuery {
    /// Typed filter (see [`reestr_domain::classifier::filter::compile_classifier_filter`]).
    pub filter: Option<Predicate<ClassifierCondition>>,
    /// Include soft-deleted classifiers.
    pub show_deleted: bool,
    /// Page size (already coerced).
    pub page_size: u64,
    /// The request's page token.
    pub page_token: String,
    /// Fingerprint of the query, see [`reestr_domain::paging::query_fingerprint`].
    pub fingerprint: String,
}

/// One page of classifiers, ordered by id.
#[derive(Debug, Clone)]
pub struct ClassifierPage {
    /// The classifiers.
    pub classifiers: Vec<Classifier>,
    /// Token of the next page; empty at the end.
    pub next_page_token: String,
}

/// Reads and writes classifiers, versions and items.
pub struct ClassifierRepo<'s> {
    store: &'s Store,
}

impl<'s> ClassifierRepo<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self { store }
    }

    // ---------------------------------------------------------------- classifiers

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
        let result = async {
            let write = self.store.write(ctx).await?;
            let txn = write.txn();
            if let Some(key) = idempotency
                && let Some(response) = idempotency::lookup(txn, key).await?
            {
                return Ok(Outcome::Replayed(response));
            }
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
            if let Some(key) = idempotency {
                idempotency::remember(txn, t, key, encode(&classifier)).await?;
            }
            let changes = diff_fields(None, &audit_fields(&classifier)?);
            write.commit(&classifier.id.name(), changes).await?;
            Ok(Outcome::Fresh(classifier))
        }
        .await;
        match result {
            Err(err) => idempotency::recover(self.store.conn(), idempotency, err).await,
            ok => ok,
        }
    }

    /// The classifier `id`, deleted or not.
    pub async fn get(&self, id: &ClassifierId) -> Result<Classifier, Error> {
        find_classifier(self.store.conn(), id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// One page of classifiers, ordered by id.
    pub async fn list(&self, query: &ClassifierQuery) -> Result<ClassifierPage, Error> {
        let mut condition = Condition::all();
        if !query.show_deleted {
            condition = condition.add(Column::DeleteTime.is_null());
        }
        if let Some(filter) = &query.filter {
            condition = condition.add(filter_sql::condition(filter));
        }
        let page = keyset::page(
            self.store,
            row::Entity::find().filter(condition),
            &PageQuery {
                keys: vec![PageKey::asc(Column::Id, KeyKind::Text)],
                size: query.page_size,
                token: &query.page_token,
                fingerprint: &query.fingerprint,
            },
            from_row,
            |c: &Classifier, _| KeyValue::Text(c.id.as_str().to_string()),
        )
        .await?;
        Ok(ClassifierPage {
            classifiers: page.items,
            next_page_token: page.next_page_token,
        })
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
        let current = find_classifier_for_update(txn, id)
            .await?
            .ok_or_else(|| not_found(id))?;
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

    /// Soft-deletes a classifier: its versions stay readable, nothing of it can be written.
    pub async fn delete(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        expected_revision: Option<i64>,
    ) -> Result<Classifier, Error> {
        self.set_deleted(ctx, id, expected_revision, true).await
    }

    /// Restores a soft-deleted classifier whose owner is live.
    pub async fn undelete(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        expected_revision: Option<i64>,
    ) -> Result<Classifier, Error> {
        self.set_deleted(ctx, id, expected_revision, false).await
    }

    /// Deletes (`deleted`) or restores a classifier; a restore needs a live owner.
    async fn set_deleted(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        expected_revision: Option<i64>,
        deleted: bool,
    ) -> Result<Classifier, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = find_classifier_for_update(txn, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        match (deleted, current.delete_time.is_some()) {
            (true, true) => {
                return Err(Error::Deleted {
                    resource: id.name(),
                });
            }
            (false, false) => {
                return Err(Error::NotDeleted {
                    resource: id.name(),
                });
            }
            _ => {}
        }
        check_revision(id.name(), current.revision, expected_revision)?;
        if !deleted {
            check_owner(txn, &current.spec.owner).await?;
        }
        let t = self.store.now();
        let next = Classifier {
            update_time: t,
            delete_time: deleted.then_some(t),
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

    // ---------------------------------------------------------------- versions

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
            return Err(not_found(id));
        }
        rows.into_iter().map(version_from_row).collect()
    }

    /// The version `v` of `id`.
    pub async fn version(&self, id: &ClassifierId, v: &VersionId) -> Result<Version, Error> {
        find_version(self.store.conn(), id, v)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: version_name(id, v),
            })
    }

    /// The classifier's open draft, if it has one. NotFound if the classifier does not exist.
    pub async fn draft(&self, id: &ClassifierId) -> Result<Option<Version>, Error> {
        let conn = self.store.conn();
        match find_draft(conn, id).await? {
            Some(d) => Ok(Some(d)),
            None if find_classifier_row(conn, id).await?.is_none() => Err(not_found(id)),
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
        idempotency: Option<&Idempotency>,
        encode: impl Fn(&Version) -> Vec<u8>,
    ) -> Result<Outcome<Version>, Error> {
        let result = async {
            let write = self.store.write(ctx).await?;
            let txn = write.txn();
            if let Some(key) = idempotency
                && let Some(response) = idempotency::lookup(txn, key).await?
            {
                return Ok(Outcome::Replayed(response));
            }
            live_classifier(txn, id).await?;
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
                let mut sql = Sql::new(txn.get_database_backend());
                sql.push(
                    "INSERT INTO classifier_items (classifier_id, version_id, code, parent, body) \
                     SELECT classifier_id, ",
                );
                sql.bind(version.id.as_str());
                sql.push(", code, parent, body FROM classifier_items WHERE classifier_id = ");
                sql.bind(id.as_str());
                sql.push(" AND version_id = ");
                sql.bind(s.as_str());
                txn.execute_raw(sql.statement()).await.map_err(db_err)?;
            }
            if let Some(key) = idempotency {
                idempotency::remember(txn, t, key, encode(&version)).await?;
            }
            let changes = diff_fields(None, &version_audit_fields(&version));
            write.commit(&version.name(), changes).await?;
            Ok(Outcome::Fresh(version))
        }
        .await;
        match result {
            Err(err) => idempotency::recover(self.store.conn(), idempotency, err).await,
            ok => ok,
        }
    }

    /// Changes a draft's description and effective time. Values equal to the current ones
    /// leave the draft (and its revision) as it was.
    pub async fn update_version(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        expected_revision: Option<i64>,
        description: String,
        effective_time: Option<Timestamp>,
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let current = writable_draft(write.txn(), id, v, expected_revision).await?;
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
        expected_revision: Option<i64>,
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = writable_draft(txn, id, v, expected_revision).await?;
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
    /// retries). Sets the state, content hash and times; the revision goes up by one.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        classifier_revision: i64,
        expected_revision: i64,
        content_hash: String,
        effective_time: Timestamp,
        publish_time: Timestamp,
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let revision = live_classifier(txn, id).await?;
        check_revision(id.name(), revision, Some(classifier_revision))?;
        let current = find_version(txn, id, v)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: version_name(id, v),
            })?;
        let state = current
            .state
            .publish()
            .map_err(|e| e.into_error(current.name()))?;
        check_revision(current.name(), current.revision, Some(expected_revision))?;
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
        expected_revision: Option<i64>,
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        live_classifier(txn, id).await?;
        let current = find_version(txn, id, v)
            .await?
            .ok_or_else(|| Error::NotFound {
                resource: version_name(id, v),
            })?;
        let state = current
            .state
            .retire()
            .map_err(|e| e.into_error(current.name()))?;
        check_revision(current.name(), current.revision, expected_revision)?;
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

    // ---------------------------------------------------------------- items

    /// Adds or replaces items of a draft. When a code repeats in `items`, its last occurrence
    /// wins. An empty `items` changes nothing.
    pub async fn upsert_items(
        &self,
        ctx: &AuditContext,
        id: &ClassifierId,
        v: &VersionId,
        expected_revision: Option<i64>,
        items: &[Item],
    ) -> Result<Version, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = writable_draft(txn, id, v, expected_revision).await?;
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
        expected_revision: Option<i64>,
        codes: &[Code],
        allow_missing: bool,
    ) -> Result<(u64, Version), Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = writable_draft(txn, id, v, expected_revision).await?;
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
        expected_revision: Option<i64>,
    ) -> Result<ImportSink<'s>, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = writable_draft(txn, id, v, expected_revision).await?;
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

// -------------------------------------------------------------------- SQL helpers

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

async fn delete_all_items(
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

// -------------------------------------------------------------------- checks

fn not_found(id: &ClassifierId) -> Error {
    Error::NotFound {
        resource: id.name(),
    }
}

fn check_revision(resource: String, current: i64, expected: Option<i64>) -> Result<(), Error> {
    match expected {
        Some(e) if e != current => Err(Error::EtagMismatch { resource }),
        _ => Ok(()),
    }
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

async fn check_owner(conn: &impl ConnectionTrait, owner: &OrganizationId) -> Result<(), Error> {
    crate::organization::check_live(conn, owner, "classifier.owner").await
}

/// The classifier's revision; it must exist and be live. On PostgreSQL its row is
/// share-locked until the transaction ends, so that it can be neither deleted nor changed
/// while its versions are written (on SQLite writers are serialised anyway).
async fn live_classifier(conn: &impl ConnectionTrait, id: &ClassifierId) -> Result<i64, Error> {
    let found = row::Entity::find_by_id(id.as_str())
        .lock_shared()
        .one(conn)
        .await
        .map_err(db_err)?;
    match found {
        None => Err(not_found(id)),
        Some(r) if r.delete_time.is_some() => Err(Error::Deleted {
            resource: id.name(),
        }),
        Some(r) => Ok(r.revision),
    }
}

/// The version `v` of a live classifier, which must be a draft at `expected` (if set).
async fn writable_draft(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
    v: &VersionId,
    expected: Option<i64>,
) -> Result<Version, Error> {
    live_classifier(conn, id).await?;
    let version = find_version(conn, id, v)
        .await?
        .ok_or_else(|| Error::NotFound {
            resource: version_name(id, v),
        })?;
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
    check_revision(version.name(), version.revision, expected)?;
    Ok(version)
}

/// Claims a version for this transaction: bumps its revision and update time if it is still
/// at `current.revision` (else [`Error::EtagMismatch`]). Returns the claimed state.
async fn claim(
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
async fn save_version(
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

async fn commit_version(write: Write<'_>, before: &Version, after: &Version) -> Result<(), Error> {
    let changes = diff_fields(
        Some(&version_audit_fields(before)),
        &version_audit_fields(after),
    );
    write.commit(&after.name(), changes).await
}

// -------------------------------------------------------------------- rows

async fn find_classifier_row(
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

/// The classifier `id`, its row locked for this transaction on PostgreSQL (`FOR UPDATE`):
/// another writer of it waits, then reads what this one wrote.
async fn find_classifier_for_update(
    conn: &impl ConnectionTrait,
    id: &ClassifierId,
) -> Result<Option<Classifier>, Error> {
    row::Entity::find_by_id(id.as_str())
        .lock_exclusive()
        .one(conn)
        .await
        .map_err(db_err)?
        .map(from_row)
        .transpose()
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

/// The requirements other than the owner, as the `spec` column stores them: the domain's
/// draft shape with enums by name.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSpec {
    display_name: BTreeMap<String, String>,
    #[serde(default)]
    description: BTreeMap<String, String>,
    #[serde(default)]
    legal_basis: Vec<StoredAct>,
    code_pattern: String,
    hierarchical: bool,
    max_depth: u32,
    required_languages: Vec<String>,
    #[serde(default)]
    attribute_schema: Vec<StoredAttribute>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAct {
    kind: String,
    #[serde(default)]
    number: String,
    date: String,
    title: String,
    #[serde(default)]
    url: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAttribute {
    key: String,
    #[serde(rename = "type")]
    value_type: String,
    #[serde(default)]
    classifier: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    max_length: u32,
}

fn known<T: Copy>(c: Choice<T>, name: impl Fn(T) -> &'static str) -> String {
    match c {
        Choice::Known(k) => name(k).to_string(),
        Choice::Unset | Choice::Unknown(_) => String::new(),
    }
}

impl StoredSpec {
    fn of(spec: &ClassifierSpec) -> StoredSpec {
        let d = spec.to_draft();
        StoredSpec {
            display_name: d.display_name,
            description: d.description,
            legal_basis: d
                .legal_basis
                .into_iter()
                .map(|a| StoredAct {
                    kind: known(a.kind, |k| k.as_str()),
                    number: a.number,
                    date: a.date,
                    title: a.title,
                    url: a.url,
                })
                .collect(),
            code_pattern: d.code_pattern,
            hierarchical: d.hierarchical,
            max_depth: d.max_depth,
            required_languages: d.required_languages,
            attribute_schema: d
                .attribute_schema
                .into_iter()
                .map(|a| StoredAttribute {
                    key: a.key,
                    value_type: known(a.kind, |k| k.as_str()),
                    classifier: a.classifier,
                    required: a.required,
                    pattern: a.pattern,
                    max_length: a.max_length,
                })
                .collect(),
        }
    }

    /// The requirements as they were stored. Only what cannot be represented is refused (an
    /// unknown enum name, language tag or date, a pattern that does not compile); the rules
    /// of [`ClassifierDraft::validate`](reestr_domain::classifier::ClassifierDraft::validate) are for writes, so tightening one never turns a stored
    /// classifier into an error on every read.
    fn into_spec(self, id: &str, owner_id: &str) -> Result<ClassifierSpec, Error> {
        let bad = |what: String| Error::Internal(format!("classifier {id}: stored spec: {what}"));
        let mut legal_basis = Vec::with_capacity(self.legal_basis.len());
        for a in self.legal_basis {
            legal_basis.push(LegalAct {
                kind: a
                    .kind
                    .parse()
                    .map_err(|()| bad(format!("unknown act kind {:?}", a.kind)))?,
                number: a.number,
                date: Date::parse(&a.date)
                    .map_err(|p| bad(format!("act date {:?} {p}", a.date)))?,
                title: a.title,
                url: (!a.url.is_empty()).then_some(a.url),
            });
        }
        let mut attribute_schema = Vec::with_capacity(self.attribute_schema.len());
        for a in self.attribute_schema {
            let value_type: AttributeType = a
                .value_type
                .parse()
                .map_err(|()| bad(format!("unknown attribute type {:?}", a.value_type)))?;
            let kind = match value_type {
                AttributeType::String => AttributeKind::String,
                AttributeType::Integer => AttributeKind::Integer,
                AttributeType::Decimal => AttributeKind::Decimal,
                AttributeType::Boolean => AttributeKind::Boolean,
                AttributeType::Date => AttributeKind::Date,
                AttributeType::CodeRef => {
                    let target = a
                        .classifier
                        .strip_prefix(COLLECTION)
                        .and_then(|rest| rest.strip_prefix('/'))
                        .ok_or_else(|| {
                            bad(format!(
                                "attribute {:?} refers to {:?}, not a classifier name",
                                a.key, a.classifier
                            ))
                        })?;
                    AttributeKind::CodeRef(ClassifierId::from_trusted(target.to_string()))
                }
            };
            let pattern = match a.pattern.as_str() {
                "" => None,
                p => Some(
                    Pattern::from_stored(p)
                        .map_err(|e| bad(format!("pattern of attribute {:?} {e}", a.key)))?,
                ),
            };
            attribute_schema.push(AttributeDef {
                key: a.key,
                kind,
                required: a.required,
                pattern,
                max_length: (a.max_length != 0).then_some(a.max_length),
            });
        }
        let mut required_languages = BTreeSet::new();
        for tag in &self.required_languages {
            required_languages.insert(
                tag.parse::<Language>()
                    .map_err(|()| bad(format!("unknown language tag {tag:?}")))?,
            );
        }
        let description = LocalizedText::from_trusted(self.description);
        Ok(ClassifierSpec {
            owner: OrganizationId::from_trusted(owner_id.to_string()),
            display_name: LocalizedText::from_trusted(self.display_name),
            description: (!description.entries().is_empty()).then_some(description),
            legal_basis,
            code_pattern: Pattern::from_stored(&self.code_pattern)
                .map_err(|e| bad(format!("code_pattern {e}")))?,
            hierarchical: self.hierarchical,
            // A flat classifier is stored with 0, which means one level.
            max_depth: if self.hierarchical { self.max_depth } else { 1 },
            required_languages,
            attribute_schema,
        })
    }
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding {what}: {e}")))
}

fn to_active(c: &Classifier) -> Result<row::ActiveModel, Error> {
    let spec = StoredSpec::of(&c.spec);
    let mut search = fold(c.id.as_str());
    for name in c.spec.display_name.entries().values() {
        search.push('\n');
        search.push_str(&fold(name));
    }
    Ok(row::ActiveModel {
        id: Set(c.id.as_str().to_string()),
        owner_id: Set(c.spec.owner.as_str().to_string()),
        hierarchical: Set(c.spec.hierarchical),
        spec: Set(to_json("classifier spec", &spec)?),
        search: Set(search),
        create_time: Set(c.create_time.micros()),
        update_time: Set(c.update_time.micros()),
        delete_time: Set(c.delete_time.map(Timestamp::micros)),
        revision: Set(c.revision),
    })
}

fn from_row(m: row::Model) -> Result<Classifier, Error> {
    let stored: StoredSpec = serde_json::from_str(&m.spec)
        .map_err(|e| Error::Internal(format!("classifier {}: bad spec: {e}", m.id)))?;
    let spec = stored.into_spec(&m.id, &m.owner_id)?;
    Ok(Classifier {
        id: ClassifierId::from_trusted(m.id),
        spec,
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        delete_time: m.delete_time.map(Timestamp::from_micros),
        revision: m.revision,
    })
}

/// The classifier as `(field, value)` pairs for the audit trail: each top-level field of the
/// requirements (compact JSON for structured ones), and the deletion.
fn audit_fields(c: &Classifier) -> Result<Vec<(&'static str, String)>, Error> {
    let s = StoredSpec::of(&c.spec);
    Ok(vec![
        ("owner", c.spec.owner.name()),
        ("display_name", to_json("display_name", &s.display_name)?),
        ("description", to_json("description", &s.description)?),
        ("legal_basis", to_json("legal_basis", &s.legal_basis)?),
        ("code_pattern", s.code_pattern),
        ("hierarchical", s.hierarchical.to_string()),
        ("max_depth", s.max_depth.to_string()),
        (
            "required_languages",
            to_json("required_languages", &s.required_languages)?,
        ),
        (
            "attribute_schema",
            to_json("attribute_schema", &s.attribute_schema)?,
        ),
        (
            "delete_time",
            c.delete_time
                .map(|t| t.micros().to_string())
                .unwrap_or_default(),
        ),
    ])
}

fn version_audit_fields(v: &Version) -> Vec<(&'static str, String)> {
    let time = |t: Option<Timestamp>| t.map(|t| t.micros().to_string()).unwrap_or_default();
    vec![
        ("state", v.state.as_str().to_string()),
        ("description", v.description.clone()),
        ("effective_time", time(v.effective_time)),
        ("publish_time", time(v.publish_time)),
        ("retire_time", time(v.retire_time)),
        ("content_hash", v.content_hash.clone()),
        ("item_count", v.item_count.to_string()),
        (
            "source_version",
            v.source
                .as_ref()
                .map(|s| version_name(&v.classifier, s))
                .unwrap_or_default(),
        ),
    ]
}

fn version_to_active(v: &Version) -> version_row::ActiveModel {
    version_row::ActiveModel {
        classifier_id: Set(v.classifier.as_str().to_string()),
        version_id: Set(v.id.as_str().to_string()),
        state: Set(v.state.as_str().to_string()),
        description: Set(v.description.clone()),
        effective_time: Set(v.effective_time.map(Timestamp::micros)),
        publish_time: Set(v.publish_time.map(Timestamp::micros)),
        retire_time: Set(v.retire_time.map(Timestamp::micros)),
        content_hash: Set(v.content_hash.clone()),
        item_count: Set(v.item_count),
        source_version: Set(v.source.as_ref().map(|s| s.as_str().to_string())),
        create_time: Set(v.create_time.micros()),
        update_time: Set(v.update_time.micros()),
        revision: Set(v.revision),
    }
}

fn version_from_row(m: version_row::Model) -> Result<Version, Error> {
    let state: VersionState = m
        .state
        .parse()
        .ok()
        .filter(|s| *s != VersionState::Superseded)
        .ok_or_else(|| {
            Error::Internal(format!(
                "version {}/{}: bad state {}",
                m.classifier_id, m.version_id, m.state
            ))
        })?;
    Ok(Version {
        classifier: ClassifierId::from_trusted(m.classifier_id),
        id: VersionId::from_trusted(m.version_id),
        state,
        description: m.description,
        effective_time: m.effective_time.map(Timestamp::from_micros),
        publish_time: m.publish_time.map(Timestamp::from_micros),
        retire_time: m.retire_time.map(Timestamp::from_micros),
        content_hash: m.content_hash,
        item_count: m.item_count,
        source: m.source_version.map(VersionId::from_trusted),
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        revision: m.revision,
    })
}

#[cfg(test)]
mod tests {
    use reestr_domain::classifier::filter::compile_classifier_filter;
    use reestr_domain::classifier::hash::encoded_code;
    use reestr_domain::classifier::{AttributeDefDraft, ClassifierDraft, LegalActDraft};
    use reestr_domain::contact::Contacts;
    use reestr_domain::organization::{OrganizationKind, OrganizationSpec};
    use reestr_domain::request_id::RequestId;
    use reestr_domain::text::{Language, LocalizedText};

    use super::*;
    use crate::testing::on_every_engine;

    fn ctx() -> AuditContext {
        AuditContext {
            caller: "test".into(),
            method: "test".into(),
            ..AuditContext::default()
        }
    }

    fn cid(s: &str) -> ClassifierId {
        ClassifierId::from_trusted(s.into())
    }

    fn vid(s: &str) -> VersionId {
        VersionId::from_trusted(s.into())
    }

    async fn organization(store: &Store, id: &str, tin: &str) {
        let spec = OrganizationSpec {
            display_name: LocalizedText::from_trusted([("en".into(), format!("Org {id}"))].into()),
            tin: tin.into(),
            kind: OrganizationKind::StateBody,
            parent: None,
            region_code: None,
            contacts: Contacts::default(),
        };
        store
            .organizations()
            .create(
                &ctx(),
                OrganizationId::from_trusted(id.into()),
                spec,
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap();
    }

    fn spec(owner: &str, name: &str, hierarchical: bool) -> ClassifierSpec {
        ClassifierDraft {
            owner: format!("organizations/{owner}"),
            display_name: [
                ("en".to_string(), name.to_string()),
                ("ru".to_string(), format!("Классификатор {name}")),
            ]
            .into(),
            description: [("en".to_string(), "About it".to_string())].into(),
            legal_basis: vec![LegalActDraft {
                kind: Choice::Known(reestr_domain::classifier::LegalActKind::CabinetResolution),
                number: "1034".into(),
                date: "1999-12-29".into(),
                title: "On designations".into(),
                url: "https://lex.uz/docs/1".into(),
            }],
            code_pattern: "[0-9A-Za-zä]{1,10}".into(),
            hierarchical,
            max_depth: if hierarchical { 3 } else { 0 },
            required_languages: vec!["ru".into(), "uz-Latn".into()],
            attribute_schema: vec![
                AttributeDefDraft {
                    key: "center".into(),
                    kind: Choice::Known(reestr_domain::classifier::AttributeType::String),
                    required: true,
                    pattern: "[A-Z].*".into(),
                    max_length: 100,
                    ..Default::default()
                },
                AttributeDefDraft {
                    key: "region".into(),
                    kind: Choice::Known(reestr_domain::classifier::AttributeType::CodeRef),
                    classifier: "classifiers/regions".into(),
                    ..Default::default()
                },
            ],
        }
        .validate("classifier")
        .unwrap()
    }

    fn item(code: &str, name: &str) -> Item {
        let mut i = Item::new(Code::from_trusted(code.into()));
        i.names.insert(Language::Ru, name.into());
        i
    }

    async fn new_classifier(store: &Store, id: &str) -> Classifier {
        match store
            .classifiers()
            .create(&ctx(), cid(id), spec("stat", id, true), None, |_| {
                Vec::new()
            })
            .await
            .unwrap()
        {
            Outcome::Fresh(c) => c,
            Outcome::Replayed(_) => panic!("replayed"),
        }
    }

    async fn new_draft(store: &Store, c: &str, v: &str, source: Option<&str>) -> Version {
        match store
            .classifiers()
            .create_version(
                &ctx(),
                &cid(c),
                vid(v),
                format!("version {v}"),
                None,
                source.map(vid),
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap()
        {
            Outcome::Fresh(v) => v,
            Outcome::Replayed(_) => panic!("replayed"),
        }
    }

    async fn codes(store: &Store, c: &str, v: &str) -> Vec<String> {
        let bodies = store
            .classifiers()
            .scan_items(&cid(c), &vid(v), None, 1000)
            .await
            .unwrap();
        bodies
            .iter()
            .map(|b| encoded_code(b).unwrap().to_string())
            .collect()
    }

    fn reason(err: Error) -> Reason {
        match err {
            Error::Precondition { reason, .. } => reason,
            other => panic!("expected a precondition error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn classifiers_are_created_updated_deleted_and_restored_with_etags() {
        on_every_engine(|store| async move {
            let repo = store.classifiers();
            let err = repo
                .create(
                    &ctx(),
                    cid("soato"),
                    spec("stat", "SOATO", true),
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::ReferenceNotFound { field, reference }
                    if field == "classifier.owner" && reference == "organizations/stat"),
                "{err:?}"
            );
            organization(&store, "stat", "200000001").await;
            organization(&store, "soliq", "200000002").await;

            let key = Idempotency {
                caller: "test".into(),
                method: "create".into(),
                request_id: RequestId::parse("9b2f6a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "request_id")
                    .unwrap()
                    .unwrap(),
                request_hash: "h".into(),
            };
            let created = repo
                .create(
                    &ctx(),
                    cid("soato"),
                    spec("stat", "SOATO", true),
                    Some(&key),
                    |c| c.id.name().into_bytes(),
                )
                .await
                .unwrap();
            let Outcome::Fresh(created) = created else {
                panic!("first create replayed")
            };
            assert_eq!(created.revision, 1);
            let replay = repo
                .create(
                    &ctx(),
                    cid("soato"),
                    spec("stat", "SOATO", true),
                    Some(&key),
                    |_| Vec::new(),
                )
                .await
                .unwrap();
            assert!(matches!(replay, Outcome::Replayed(b) if b == b"classifiers/soato"));
            let again = repo
                .create(
                    &ctx(),
                    cid("soato"),
                    spec("stat", "SOATO", true),
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err();
            assert!(matches!(again, Error::AlreadyExists { .. }), "{again:?}");

            // The whole spec survives the round trip through the database.
            let got = repo.get(&cid("soato")).await.unwrap();
            assert_eq!(got, created);
            assert_eq!(got.spec.attribute_schema.len(), 2);
            assert_eq!(got.spec.legal_basis[0].number, "1034");

            let stale = repo
                .update(&ctx(), &cid("soato"), "0123456789abcdef", |_| {
                    Ok(spec("soliq", "SOATO 2", true))
                })
                .await
                .unwrap_err();
            assert!(matches!(stale, Error::EtagMismatch { .. }), "{stale:?}");
            let updated = repo
                .update(&ctx(), &cid("soato"), &created.etag(), |current| {
                    assert_eq!(current, &created, "the change gets the stored classifier");
                    Ok(spec("soliq", "SOATO 2", false))
                })
                .await
                .unwrap();
            assert_eq!(updated.revision, 2);
            assert_eq!(updated.spec.owner.as_str(), "soliq");
            assert_eq!(repo.get(&cid("soato")).await.unwrap(), updated);
            let same = repo
                .update(&ctx(), &cid("soato"), "", |_| {
                    Ok(spec("soliq", "SOATO 2", false))
                })
                .await
                .unwrap();
            assert_eq!(
                same.revision, 2,
                "an update that changes nothing keeps the etag"
            );
            let bad_owner = repo
                .update(&ctx(), &cid("soato"), "", |_| {
                    Ok(spec("nobody", "SOATO", true))
                })
                .await
                .unwrap_err();
            assert!(matches!(bad_owner, Error::ReferenceNotFound { .. }));

            let stale = repo
                .delete(&ctx(), &cid("soato"), Some(1))
                .await
                .unwrap_err();
            assert!(matches!(stale, Error::EtagMismatch { .. }));
            let deleted = repo.delete(&ctx(), &cid("soato"), Some(2)).await.unwrap();
            assert!(deleted.delete_time.is_some());
            assert_eq!(deleted.revision, 3);
            assert_eq!(repo.get(&cid("soato")).await.unwrap(), deleted);
            for err in [
                repo.delete(&ctx(), &cid("soato"), None).await.unwrap_err(),
                repo.update(&ctx(), &cid("soato"), "", |_| Ok(spec("stat", "X", true)))
                    .await
                    .unwrap_err(),
                repo.create_version(
                    &ctx(),
                    &cid("soato"),
                    vid("1"),
                    String::new(),
                    None,
                    None,
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err(),
            ] {
                assert!(matches!(err, Error::Deleted { .. }), "{err:?}");
            }
            let stale = repo
                .undelete(&ctx(), &cid("soato"), Some(2))
                .await
                .unwrap_err();
            assert!(matches!(stale, Error::EtagMismatch { .. }));
            let restored = repo.undelete(&ctx(), &cid("soato"), Some(3)).await.unwrap();
            assert_eq!(restored.delete_time, None);
            assert_eq!(restored.revision, 4);
            let err = repo
                .undelete(&ctx(), &cid("soato"), None)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::NotDeleted { .. }));
            let err = repo.get(&cid("nothing")).await.unwrap_err();
            assert!(
                matches!(err, Error::NotFound { resource } if resource == "classifiers/nothing")
            );
        })
        .await;
    }

    #[tokio::test]
    async fn lists_filter_and_page_by_id() {
        on_every_engine(|store| async move {
            organization(&store, "stat", "200000001").await;
            organization(&store, "soliq", "200000002").await;
            let repo = store.classifiers();
            for (id, owner, name, hierarchical) in [
                ("soato", "stat", "Regions", true),
                ("okved", "stat", "Activities", true),
                ("docs", "soliq", "Document types", false),
                ("units", "soliq", "Units", false),
            ] {
                repo.create(
                    &ctx(),
                    cid(id),
                    spec(owner, name, hierarchical),
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap();
            }
            repo.delete(&ctx(), &cid("units"), None).await.unwrap();
            let list = |filter: &str, show_deleted: bool, page_token: String| {
                let repo = store.classifiers();
                let filter = compile_classifier_filter(filter).unwrap();
                async move {
                    repo.list(&ClassifierQuery {
                        filter,
                        show_deleted,
                        page_size: 2,
                        page_token,
                        fingerprint: "fp".into(),
                    })
                    .await
                    .unwrap()
                }
            };
            let ids = |page: &ClassifierPage| {
                page.classifiers
                    .iter()
                    .map(|c| c.id.as_str().to_string())
                    .collect::<Vec<_>>()
            };
            let first = list("", false, String::new()).await;
            assert_eq!(ids(&first), ["docs", "okved"]);
            let second = list("", false, first.next_page_token.clone()).await;
            assert_eq!(ids(&second), ["soato"]);
            assert!(second.next_page_token.is_empty());
            let all = list("", true, String::new()).await;
            let all = list("", true, all.next_page_token).await;
            assert_eq!(ids(&all), ["soato", "units"]);

            let one = |f: &'static str| {
                let list = &list;
                async move {
                    let p = list(f, true, String::new()).await;
                    assert!(p.next_page_token.is_empty(), "{f}");
                    ids(&p)
                }
            };
            assert_eq!(
                one("owner = \"organizations/soliq\"").await,
                ["docs", "units"]
            );
            assert_eq!(
                one("owner != \"organizations/soliq\"").await,
                ["okved", "soato"]
            );
            assert_eq!(one("hierarchical = false").await, ["docs", "units"]);
            assert_eq!(one("hierarchical != false").await, ["okved", "soato"]);
            assert_eq!(one("display_name:\"REGION\"").await, ["soato"]);
            assert_eq!(one("display_name:\"классификатор u\"").await, ["units"]);
            // The id is searched by a bare text, not by display_name.
            assert!(one("display_name:\"okved\"").await.is_empty());
            assert_eq!(one("\"okved\"").await, ["okved"]);
            assert_eq!(one("\"UNITS\" OR \"docs\"").await, ["docs", "units"]);
            assert_eq!(
                one("NOT hierarchical = true AND \"units\"").await,
                ["units"]
            );
            assert!(one("display_name:\"%\"").await.is_empty());

            for bad in [
                "state = ACTIVE",
                "owner = stat",
                "hierarchical = maybe",
                "display_name = \"x\"",
                "\"\"",
            ] {
                assert!(compile_classifier_filter(bad).is_err(), "{bad}");
            }
        })
        .await;
    }

    #[tokio::test]
    async fn drafts_are_written_published_copied_and_retired() {
        on_every_engine(|store| async move {
            organization(&store, "stat", "200000001").await;
            new_classifier(&store, "soato").await;
            let repo = store.classifiers();
            let (c, v1) = (cid("soato"), vid("2026-1"));
            assert_eq!(repo.draft(&c).await.unwrap(), None);
            assert!(repo.versions(&c).await.unwrap().is_empty());
            assert!(matches!(
                repo.versions(&cid("none")).await.unwrap_err(),
                Error::NotFound { .. }
            ));
            let draft = new_draft(&store, "soato", "2026-1", None).await;
            assert_eq!(draft.state, VersionState::Draft);
            assert_eq!((draft.revision, draft.item_count), (1, 0));
            assert_eq!(repo.draft(&c).await.unwrap(), Some(draft.clone()));
            assert_eq!(repo.version(&c, &v1).await.unwrap(), draft);

            let err = repo
                .create_version(
                    &ctx(),
                    &c,
                    vid("2026-2"),
                    String::new(),
                    None,
                    None,
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err();
            assert_eq!(reason(err.clone()), Reason::DraftExists);
            assert!(
                err.to_string()
                    .contains("classifiers/soato/versions/2026-1"),
                "{err}"
            );
            let err = repo
                .create_version(
                    &ctx(),
                    &c,
                    v1.clone(),
                    String::new(),
                    None,
                    None,
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");

            // Items: upsert, replace, count.
            let v = repo
                .upsert_items(
                    &ctx(),
                    &c,
                    &v1,
                    Some(1),
                    &[
                        item("10", "a"),
                        item("20", "b"),
                        item("30", "c"),
                        item("10", "a2"),
                    ],
                )
                .await
                .unwrap();
            assert_eq!((v.revision, v.item_count), (2, 3));
            let stale = repo
                .upsert_items(&ctx(), &c, &v1, Some(1), &[item("40", "d")])
                .await
                .unwrap_err();
            assert!(matches!(stale, Error::EtagMismatch { .. }));
            let v = repo
                .upsert_items(
                    &ctx(),
                    &c,
                    &v1,
                    Some(2),
                    &[item("20", "b2"), item("40", "d")],
                )
                .await
                .unwrap();
            assert_eq!((v.revision, v.item_count), (3, 4));
            assert_eq!(repo.version(&c, &v1).await.unwrap(), v);
            let mut got = repo.items(&c, &v1, &["10", "20", "99"]).await.unwrap();
            got.sort_by(|a, b| a.code.cmp(&b.code));
            assert_eq!(got, [item("10", "a2"), item("20", "b2")]);

            let missing = repo
                .delete_items(
                    &ctx(),
                    &c,
                    &v1,
                    None,
                    &[
                        Code::from_trusted("10".into()),
                        Code::from_trusted("77".into()),
                    ],
                    false,
                )
                .await
                .unwrap_err();
            assert!(
                matches!(&missing, Error::NotFound { resource }
                    if resource == "classifiers/soato/versions/2026-1/items/77"),
                "{missing:?}"
            );
            assert_eq!(
                codes(&store, "soato", "2026-1").await,
                ["10", "20", "30", "40"]
            );
            let (removed, v) = repo
                .delete_items(
                    &ctx(),
                    &c,
                    &v1,
                    Some(3),
                    &[
                        Code::from_trusted("10".into()),
                        Code::from_trusted("77".into()),
                    ],
                    true,
                )
                .await
                .unwrap();
            assert_eq!((removed, v.revision, v.item_count), (1, 4, 3));
            let (removed, v) = repo
                .delete_items(
                    &ctx(),
                    &c,
                    &v1,
                    None,
                    &[Code::from_trusted("77".into())],
                    true,
                )
                .await
                .unwrap();
            assert_eq!((removed, v.revision, v.item_count), (0, 4, 3));

            let v = repo
                .update_version(
                    &ctx(),
                    &c,
                    &v1,
                    Some(4),
                    "First".into(),
                    Some(Timestamp::from_micros(5)),
                )
                .await
                .unwrap();
            assert_eq!(v.revision, 5);
            assert_eq!(v.description, "First");

            // Publishing re-checks the revisions the caller validated: the classifier's
            // (its requirements) and the draft's (its items).
            let stale_requirements = repo
                .publish(
                    &ctx(),
                    &c,
                    &v1,
                    0,
                    5,
                    "h".into(),
                    Timestamp::from_micros(10),
                    Timestamp::from_micros(9),
                )
                .await
                .unwrap_err();
            assert_eq!(
                stale_requirements,
                Error::EtagMismatch {
                    resource: "classifiers/soato".into()
                }
            );
            let err = repo
                .publish(
                    &ctx(),
                    &c,
                    &v1,
                    1,
                    4,
                    "h".into(),
                    Timestamp::from_micros(10),
                    Timestamp::from_micros(9),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, Error::EtagMismatch { .. }), "{err:?}");
            let published = repo
                .publish(
                    &ctx(),
                    &c,
                    &v1,
                    1,
                    5,
                    "abc".into(),
                    Timestamp::from_micros(10),
                    Timestamp::from_micros(9),
                )
                .await
                .unwrap();
            assert_eq!(published.state, VersionState::Published);
            assert_eq!(published.content_hash, "abc");
            assert_eq!(published.effective_time, Some(Timestamp::from_micros(10)));
            assert_eq!(published.publish_time, Some(Timestamp::from_micros(9)));
            assert_eq!(published.revision, 6);
            assert_eq!(repo.draft(&c).await.unwrap(), None);

            // A published version never changes.
            let refusals = [
                repo.update_version(&ctx(), &c, &v1, None, "x".into(), None)
                    .await
                    .unwrap_err(),
                repo.upsert_items(&ctx(), &c, &v1, None, &[item("50", "e")])
                    .await
                    .unwrap_err(),
                repo.delete_items(
                    &ctx(),
                    &c,
                    &v1,
                    None,
                    &[Code::from_trusted("20".into())],
                    true,
                )
                .await
                .unwrap_err(),
                repo.delete_version(&ctx(), &c, &v1, None)
                    .await
                    .unwrap_err(),
                repo.begin_import(&ctx(), &c, &v1, None)
                    .await
                    .err()
                    .unwrap(),
            ];
            for err in refusals {
                assert!(err.to_string().contains("PUBLISHED"), "{err}");
                assert_eq!(reason(err), Reason::VersionNotEditable);
            }
            let err = repo
                .publish(
                    &ctx(),
                    &c,
                    &v1,
                    1,
                    6,
                    "h".into(),
                    Timestamp::from_micros(1),
                    Timestamp::from_micros(1),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, Error::IllegalTransition { .. }), "{err:?}");
            assert_eq!(repo.version(&c, &v1).await.unwrap(), published);

            // A copy of a published version.
            let copy = new_draft(&store, "soato", "2026-2", Some("2026-1")).await;
            assert_eq!(copy.item_count, 3);
            assert_eq!(copy.source, Some(v1.clone()));
            assert_eq!(codes(&store, "soato", "2026-2").await, ["20", "30", "40"]);
            let mut got = repo.items(&c, &vid("2026-2"), &["20"]).await.unwrap();
            assert_eq!(got.pop(), Some(item("20", "b2")));
            // Writing the copy leaves the source alone.
            repo.upsert_items(&ctx(), &c, &vid("2026-2"), None, &[item("60", "f")])
                .await
                .unwrap();
            assert_eq!(codes(&store, "soato", "2026-1").await, ["20", "30", "40"]);
            let deleted = repo
                .delete_version(&ctx(), &c, &vid("2026-2"), Some(2))
                .await
                .unwrap();
            assert_eq!(deleted.item_count, 4);
            assert!(matches!(
                repo.version(&c, &vid("2026-2")).await.unwrap_err(),
                Error::NotFound { .. }
            ));
            assert!(matches!(
                repo.scan_items(&c, &vid("2026-2"), None, 10)
                    .await
                    .unwrap_err(),
                Error::NotFound { .. }
            ));

            // Copying a draft, or a version that does not exist, is refused.
            new_draft(&store, "soato", "2026-4", None).await;
            let err = repo
                .create_version(
                    &ctx(),
                    &c,
                    vid("2026-5"),
                    String::new(),
                    None,
                    Some(vid("2026-4")),
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err();
            assert_eq!(reason(err), Reason::VersionNotPublished);
            let err = repo
                .create_version(
                    &ctx(),
                    &c,
                    vid("2026-5"),
                    String::new(),
                    None,
                    Some(vid("2026-1")),
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err();
            assert_eq!(reason(err), Reason::DraftExists);
            repo.delete_version(&ctx(), &c, &vid("2026-4"), None)
                .await
                .unwrap();
            let err = repo
                .create_version(
                    &ctx(),
                    &c,
                    vid("2026-5"),
                    String::new(),
                    None,
                    Some(vid("nope")),
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err:?}");

            // Retiring.
            let retired = repo.retire(&ctx(), &c, &v1, Some(6)).await.unwrap();
            assert_eq!(retired.state, VersionState::Retired);
            assert!(retired.retire_time.is_some());
            let err = repo.retire(&ctx(), &c, &v1, None).await.unwrap_err();
            assert!(matches!(err, Error::IllegalTransition { .. }), "{err:?}");
            let mut all = repo.versions(&c).await.unwrap();
            all.sort_by(|a, b| a.id.cmp(&b.id));
            assert_eq!(all, [retired]);
        })
        .await;
    }

    #[tokio::test]
    async fn a_version_cannot_be_copied_from_a_draft() {
        on_every_engine(|store| async move {
            organization(&store, "stat", "200000001").await;
            new_classifier(&store, "soato").await;
            new_classifier(&store, "other").await;
            let repo = store.classifiers();
            new_draft(&store, "soato", "1", None).await;
            let copy = |c: &'static str, source: &'static str| {
                let repo = store.classifiers();
                async move {
                    repo.create_version(
                        &ctx(),
                        &cid(c),
                        vid("2"),
                        String::new(),
                        None,
                        Some(vid(source)),
                        None,
                        |_| Vec::new(),
                    )
                    .await
                    .unwrap_err()
                }
            };
            let err = copy("soato", "1").await;
            assert!(
                matches!(&err, Error::Precondition { reason: Reason::VersionNotPublished, resource, .. }
                    if resource == "classifiers/soato/versions/1"),
                "{err:?}"
            );
            // Versions are named within their classifier.
            let err = copy("other", "1").await;
            assert!(
                matches!(&err, Error::ReferenceNotFound { field, reference }
                    if field == "source_version" && reference == "classifiers/other/versions/1"),
                "{err:?}"
            );
            assert!(matches!(
                repo.version(&cid("other"), &vid("1")).await.unwrap_err(),
                Error::NotFound { resource } if resource == "classifiers/other/versions/1"
            ));
        })
        .await;
    }

    #[tokio::test]
    async fn concurrent_writers_of_one_draft_do_not_both_win() {
        on_every_engine(|store| async move {
            organization(&store, "stat", "200000001").await;
            new_classifier(&store, "soato").await;
            let (c, v) = (cid("soato"), vid("1"));
            new_draft(&store, "soato", "1", None).await;
            let writer = |code: &'static str| {
                let store = store.clone();
                let (c, v) = (c.clone(), v.clone());
                tokio::spawn(async move {
                    store
                        .classifiers()
                        .upsert_items(&ctx(), &c, &v, Some(1), &[item(code, "n")])
                        .await
                })
            };
            let (a, b) = (writer("a"), writer("b"));
            let results = [a.await.unwrap(), b.await.unwrap()];
            let won: Vec<&Version> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(won.len(), 1, "{results:?}");
            assert!(
                results
                    .iter()
                    .any(|r| matches!(r, Err(Error::EtagMismatch { .. })))
            );
            let now = store.classifiers().version(&c, &v).await.unwrap();
            assert_eq!((now.revision, now.item_count), (2, 1));
            assert_eq!(&now, won[0]);

            // Two drafts opened at once: one of them is refused.
            let opener = |id: &'static str| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .classifiers()
                        .create_version(
                            &ctx(),
                            &cid("soato"),
                            vid(id),
                            String::new(),
                            None,
                            None,
                            None,
                            |_| Vec::new(),
                        )
                        .await
                })
            };
            store
                .classifiers()
                .delete_version(&ctx(), &c, &v, None)
                .await
                .unwrap();
            let (a, b) = (opener("x"), opener("y"));
            let results = [a.await.unwrap(), b.await.unwrap()];
            assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
            for r in results {
                if let Err(e) = r {
                    assert_eq!(reason(e), Reason::DraftExists);
                }
            }
        })
        .await;
    }

    #[tokio::test]
    async fn the_migration_rolls_back_and_reapplies() {
        on_every_engine(|store| async move {
            organization(&store, "stat", "200000001").await;
            new_classifier(&store, "soato").await;
            new_draft(&store, "soato", "1", None).await;
            store
                .classifiers()
                .upsert_items(&ctx(), &cid("soato"), &vid("1"), None, &[item("a", "n")])
                .await
                .unwrap();
            let db = store.database();
            db.migrate_down(1).await.unwrap();
            let names: Vec<String> = db
                .migration_status()
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.applied)
                .map(|m| m.name)
                .collect();
            assert!(
                !names.iter().any(|n| n.ends_with("_classifiers")),
                "{names:?}"
            );
            db.migrate_up().await.unwrap();
            assert!(matches!(
                store.classifiers().get(&cid("soato")).await.unwrap_err(),
                Error::NotFound { .. }
            ));
            new_classifier(&store, "soato").await;
        })
        .await;
    }

    #[tokio::test]
    async fn imports_report_duplicates_and_roll_back_when_dropped() {
        on_every_engine(|store| async move {
            organization(&store, "stat", "200000001").await;
            new_classifier(&store, "soato").await;
            let repo = store.classifiers();
            let (c, v) = (cid("soato"), vid("1"));
            new_draft(&store, "soato", "1", None).await;
            repo.upsert_items(&ctx(), &c, &v, None, &[item("old", "x")])
                .await
                .unwrap();

            let err = repo
                .begin_import(&ctx(), &c, &v, Some(1))
                .await
                .err()
                .unwrap();
            assert!(matches!(err, Error::EtagMismatch { .. }), "{err:?}");
            let mut sink = repo.begin_import(&ctx(), &c, &v, Some(2)).await.unwrap();
            // 1,200 rows: more than two statements' worth, with repeats within one call, within
            // one statement, and of an earlier call.
            let rows: Vec<(u64, Item)> = (0..1200u64)
                .map(|i| (i + 1, item(&format!("{:05}", i % 1100), "n")))
                .collect();
            let dups = sink.insert(&rows).await.unwrap();
            assert_eq!(dups.len(), 100);
            assert_eq!(dups[0], (1101, Code::from_trusted("00000".into())));
            let more = vec![
                (2000, item("00005", "again")),
                (2001, item("new", "n")),
                (2002, item("new", "n")),
            ];
            let dups = sink.insert(&more).await.unwrap();
            assert_eq!(
                dups,
                [
                    (2000, Code::from_trusted("00005".into())),
                    (2002, Code::from_trusted("new".into()))
                ]
            );
            let err = sink.commit(5).await.unwrap_err();
            assert!(matches!(err, Error::Internal(_)));
            // That sink is gone, rolled back: the old content is intact.
            assert_eq!(codes(&store, "soato", "1").await, ["old"]);
            let v2 = repo.version(&c, &v).await.unwrap();
            assert_eq!((v2.revision, v2.item_count), (2, 1));

            let mut sink = repo.begin_import(&ctx(), &c, &v, Some(2)).await.unwrap();
            assert!(sink.insert(&rows[..10]).await.unwrap().is_empty());
            drop(sink);
            assert_eq!(codes(&store, "soato", "1").await, ["old"]);
            assert_eq!(repo.version(&c, &v).await.unwrap(), v2);

            let mut sink = repo.begin_import(&ctx(), &c, &v, Some(2)).await.unwrap();
            assert_eq!(sink.insert(&rows).await.unwrap().len(), 100);
            assert!(sink.insert(&more[1..2]).await.unwrap().is_empty());
            let done = sink.commit(1101).await.unwrap();
            assert_eq!((done.revision, done.item_count), (3, 1101));
            assert_eq!(repo.version(&c, &v).await.unwrap(), done);
            let all = codes(&store, "soato", "1").await;
            assert_eq!(all.len(), 1000, "scan_items limit");
            assert_eq!(all[0], "00000");
            let after = repo.scan_items(&c, &v, Some("01099"), 10).await.unwrap();
            assert_eq!(after.len(), 1);
            assert_eq!(encoded_code(&after[0]), Some("new"));
        })
        .await;
    }

    #[tokio::test]
    async fn items_are_scanned_in_byte_order_of_code() {
        on_every_engine(|store| async move {
            organization(&store, "stat", "200000001").await;
            new_classifier(&store, "soato").await;
            let repo = store.classifiers();
            let (c, v) = (cid("soato"), vid("1"));
            new_draft(&store, "soato", "1", None).await;
            let given = ["a", "B", "ä", "10", "9", "Z", "b", "A"];
            let items: Vec<Item> = given.iter().map(|c| item(c, "n")).collect();
            repo.upsert_items(&ctx(), &c, &v, None, &items)
                .await
                .unwrap();
            let mut expected: Vec<&str> = given.to_vec();
            expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            assert_eq!(expected, ["10", "9", "A", "B", "Z", "a", "b", "ä"]);
            assert_eq!(codes(&store, "soato", "1").await, expected);
            // Keyset batches continue after the last code of the previous one.
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let batch = repo.scan_items(&c, &v, after.as_deref(), 3).await.unwrap();
                let Some(last) = batch.last() else { break };
                after = encoded_code(last).map(str::to_string);
                seen.extend(
                    batch
                        .iter()
                        .map(|b| decode_item(b).unwrap().code.into_string()),
                );
            }
            assert_eq!(seen, expected);
        })
        .await;
    }

    /// `cargo test --release -p reestr-store --lib import_speed -- --ignored --nocapture`:
    /// a million rows through [`ImportSink::insert`] against a loop of prepared single-row
    /// inserts in one transaction.
    #[tokio::test]
    #[ignore = "benchmark"]
    async fn import_speed() {
        on_every_engine(|store| async move {
            const N: u64 = 1_000_000;
            organization(&store, "stat", "200000001").await;
            new_classifier(&store, "soato").await;
            let (c, v) = (cid("soato"), vid("1"));
            new_draft(&store, "soato", "1", None).await;
            let make = |i: u64| {
                let mut it = item(&format!("{i:08}"), &format!("Item number {i}"));
                it.names.insert(Language::UzLatn, format!("Element {i}"));
                (i, it)
            };
            let started = std::time::Instant::now();
            let mut sink = store
                .classifiers()
                .begin_import(&ctx(), &c, &v, None)
                .await
                .unwrap();
            let mut chunk = Vec::with_capacity(5000);
            for i in 0..N {
                chunk.push(make(i));
                if chunk.len() == 5000 {
                    assert!(sink.insert(&chunk).await.unwrap().is_empty());
                    chunk.clear();
                }
            }
            let done = sink.commit(N as i64).await.unwrap();
            assert_eq!(done.item_count, N as i64);
            let sink_time = started.elapsed();

            // The baseline: one prepared INSERT per row into a second draft, one transaction.
            let v2 = vid("2");
            store
                .classifiers()
                .delete_version(&ctx(), &c, &v, None)
                .await
                .unwrap();
            new_draft(&store, "soato", "2", None).await;
            let started = std::time::Instant::now();
            let write = store.write(&ctx()).await.unwrap();
            let backend = write.txn().get_database_backend();
            let sql = match backend {
                DbBackend::Postgres => {
                    "INSERT INTO classifier_items (classifier_id, version_id, code, parent, body) \
                     VALUES ($1, $2, $3, $4, $5)"
                }
                _ => {
                    "INSERT INTO classifier_items (classifier_id, version_id, code, parent, body) \
                     VALUES (?, ?, ?, ?, ?)"
                }
            };
            for i in 0..N {
                let (_, it) = make(i);
                let mut body = Vec::new();
                encode_item(&it, &mut body);
                let values: Vec<Value> = vec![
                    c.as_str().into(),
                    v2.as_str().into(),
                    it.code.as_str().into(),
                    it.parent.as_ref().map(|p| p.as_str().to_string()).into(),
                    body.into(),
                ];
                write
                    .txn()
                    .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                    .await
                    .unwrap();
            }
            write.commit("x", Vec::new()).await.unwrap();
            let loop_time = started.elapsed();

            let started = std::time::Instant::now();
            let mut after: Option<String> = None;
            let mut n = 0;
            loop {
                let batch = store
                    .classifiers()
                    .scan_items(&c, &v2, after.as_deref(), 5000)
                    .await
                    .unwrap();
                let Some(last) = batch.last() else { break };
                after = encoded_code(last).map(str::to_string);
                n += batch.len();
            }
            assert_eq!(n as u64, N);
            eprintln!(
                "{:?}: import sink {sink_time:?}, prepared insert loop {loop_time:?}, scan {:?}",
                store.database().backend(),
                started.elapsed()
            );
        })
        .await;
    }
}
