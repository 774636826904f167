//! The information-system repository: records, revisions, dependencies, statistics.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reestr_domain::Error;
use reestr_domain::audit::{FieldChange, diff_fields};
use reestr_domain::change::ChangeKind;
use reestr_domain::error::Violations;
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey, SortKey};
use reestr_domain::query::{Equality, Predicate};
use reestr_domain::revision::{Deletion, Revisioned};
use reestr_domain::system::{
    InformationSystem, SystemCondition, SystemId, SystemSpec, SystemState, changed_fields,
    check_transition, registration_number,
};
use reestr_domain::text::fold;
use reestr_domain::time::Timestamp;
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::audit::AuditContext;
use crate::entity::organization as org_row;
use crate::entity::system::{self as row, Column};
use crate::entity::system_dependency as dep_row;
use crate::entity::system_label as label_row;
use crate::entity::system_revision as rev_row;
use crate::error::OrNotFound;
use crate::filter_sql::{self, SqlLeaf};
use crate::idempotency::{self, Created, Idempotency, Outcome};
use crate::{Store, Write, counter, db_err, keyset};

/// How many dependents an in-use error names.
const MAX_NAMED: usize = 20;

/// A ListSystems query: selects by the typed filter.
pub type SystemQuery = ListQuery<Option<Predicate<SystemCondition>>>;

/// A recorded revision (without its body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionInfo {
    /// Revision number.
    pub revision: i64,
    /// When.
    pub create_time: Timestamp,
    /// Who.
    pub caller: String,
    /// Method.
    pub method: String,
    /// Changed top-level fields.
    pub changed_fields: Vec<String>,
    /// Reason.
    pub reason: String,
}

/// A ListSystemRevisions query: selects the revisions of one system.
pub type RevisionQuery = ListQuery<SystemId>;

/// A system depending on another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependentInfo {
    /// The consumer.
    pub system: SystemId,
    /// Its short name.
    pub short_name: String,
    /// Its state.
    pub state: SystemState,
    /// Links from the requested system.
    pub distance: u32,
    /// The provider it consumes on the path.
    pub via: SystemId,
    /// Services of `via` it consumes.
    pub services: Vec<String>,
}

/// A node of a dependency graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNode {
    /// System.
    pub system: SystemId,
    /// Short name.
    pub short_name: String,
    /// State.
    pub state: SystemState,
}

/// An edge: `consumer` uses `service` of `provider`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GraphEdge {
    /// Consumer.
    pub consumer: SystemId,
    /// Provider.
    pub provider: SystemId,
    /// Service.
    pub service: String,
}

/// Counts of systems.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    /// All live systems.
    pub total: i64,
    /// By state.
    pub by_state: Vec<(String, i64)>,
    /// By owner kind.
    pub by_owner_kind: Vec<(String, i64)>,
    /// By owner id.
    pub by_owner: Vec<(String, i64)>,
    /// Processing personal data.
    pub personal_data: i64,
    /// Registrations by year.
    pub by_year: Vec<(String, i64)>,
}

/// A requested state change.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Target state.
    pub to: SystemState,
    /// Current etag, if the caller sent one.
    pub etag: String,
    /// Decommission despite live dependents (the API allows it to administrators only).
    pub force: bool,
    /// Why.
    pub reason: String,
}

/// Reads and writes information systems.
pub struct SystemRepo<'s> {
    store: &'s Store,
}

impl<'s> SystemRepo<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self { store }
    }

    /// Registers a system: checks its references, issues its registration number, records
    /// revision 1.
    pub async fn create(
        &self,
        ctx: &AuditContext,
        id: SystemId,
        spec: SystemSpec,
        idempotency: Option<&Idempotency>,
        encode: impl Fn(&InformationSystem) -> Vec<u8>,
    ) -> Result<Outcome<InformationSystem>, Error> {
        idempotency::create(self.store, ctx, idempotency, encode, async |write| {
            let txn = write.txn();
            if row::Entity::find_by_id(id.as_str())
                .one(txn)
                .await
                .map_err(db_err)?
                .is_some()
            {
                return Err(Error::AlreadyExists {
                    resource: id.name(),
                    field: None,
                });
            }
            check_references(txn, &id, &spec).await?;
            let t = self.store.now();
            let year = self
                .store
                .calendar()
                .date_of(t)
                .map_or(1970, |d| i32::from(d.year()));
            let number =
                registration_number(year, counter::next(txn, counter::REGISTRATION, year).await?);
            let system = InformationSystem {
                id,
                spec,
                state: SystemState::Planned,
                registration_number: number,
                create_time: t,
                update_time: t,
                delete_time: None,
                revision: 1,
            };
            to_active(&system).insert(txn).await.map_err(db_err)?;
            project(txn, &system, true).await?;
            record_revision(txn, ctx, &system, changed_fields(None, &system.spec), "").await?;
            Ok(Created {
                resource: system.id.name(),
                changes: diff_fields(None, &system.audit_fields()),
                value: system,
            })
        })
        .await
    }

    /// The current state of `id`, deleted or not.
    pub async fn get(&self, id: &SystemId) -> Result<InformationSystem, Error> {
        find(self.store.conn(), id)
            .await?
            .or_not_found(|| id.name())
    }

    /// Revision `revision` of `id`.
    pub async fn get_revision(
        &self,
        id: &SystemId,
        revision: i64,
    ) -> Result<InformationSystem, Error> {
        let current = self.get(id).await?;
        let rev = rev_row::Entity::find_by_id((id.as_str().to_string(), revision))
            .one(self.store.conn())
            .await
            .map_err(db_err)?
            .or_not_found(|| format!("{}@{revision}", id.name()))?;
        from_revision(&current, rev)
    }

    /// The state of `id` as of `t`: its newest revision recorded at or before `t`.
    pub async fn get_as_of(&self, id: &SystemId, t: Timestamp) -> Result<InformationSystem, Error> {
        let current = self.get(id).await?;
        let rev = rev_row::Entity::find()
            .filter(rev_row::Column::SystemId.eq(id.as_str()))
            .filter(rev_row::Column::CreateTime.lte(t.micros()))
            .order_by(rev_row::Column::Revision, Order::Desc)
            .limit(1)
            .one(self.store.conn())
            .await
            .map_err(db_err)?
            // NOT_FOUND names the resource alone (its metadata is a name, not prose).
            .or_not_found(|| id.name())?;
        from_revision(&current, rev)
    }

    /// The system with this registration number or (folded) short name.
    pub async fn lookup(
        &self,
        registration_number: Option<&str>,
        short_name: Option<&str>,
    ) -> Result<InformationSystem, Error> {
        let mut q = row::Entity::find();
        let what = if let Some(n) = registration_number {
            q = q.filter(Column::RegistrationNumber.eq(n));
            format!("registration number {n}")
        } else if let Some(s) = short_name {
            q = q.filter(Column::ShortNameFolded.eq(fold(s)));
            format!("short name {s}")
        } else {
            return Err(Error::invalid(
                "registration_number",
                "set registration_number or short_name",
            ));
        };
        q.one(self.store.conn())
            .await
            .map_err(db_err)?
            .map(from_row)
            .transpose()?
            .or_not_found(|| format!("system with {what}"))
    }

    /// Changes a system; `change` gets the current state and returns the new spec (and may
    /// refuse, e.g. for permission).
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: &SystemId,
        etag: &str,
        change: impl FnOnce(&InformationSystem) -> Result<SystemSpec, Error>,
    ) -> Result<InformationSystem, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = live(txn, id).await?;
        current.check_etag(etag)?;
        let spec = change(&current)?;
        if spec == current.spec {
            write.commit(&id.name(), Vec::new()).await?;
            return Ok(current);
        }
        check_references(txn, id, &spec).await?;
        let changed = changed_fields(Some(&current.spec), &spec);
        let next = InformationSystem {
            spec,
            update_time: self.store.now(),
            revision: current.revision + 1,
            ..current.clone()
        };
        save_guarded(txn, &next, current.revision).await?;
        project(txn, &next, false).await?;
        if next.owner() != current.owner() {
            crate::submission::follow_owner(&write, id, &next.owner()).await?;
        }
        record_revision(txn, ctx, &next, changed, "").await?;
        write
            .commit(
                &id.name(),
                diff_fields(Some(&current.audit_fields()), &next.audit_fields()),
            )
            .await?;
        Ok(next)
    }

    /// Runs `authorize` on the current state (before anything is changed), then applies a
    /// lifecycle transition.
    pub async fn transition(
        &self,
        ctx: &AuditContext,
        id: &SystemId,
        t: &Transition,
        authorize: impl FnOnce(&InformationSystem) -> Result<(), Error>,
    ) -> Result<InformationSystem, Error> {
        let write = self.store.write(ctx).await?;
        let (next, changes) = transition_in(&write, id, t, authorize).await?;
        write.commit(&id.name(), changes).await?;
        Ok(next)
    }

    /// Soft-deletes or restores a system by the one rule of [`Deletion`], after `authorize`
    /// approves the current state. A system live systems depend on cannot be deleted; a
    /// restored one's references must be live.
    pub async fn set_deleted(
        &self,
        ctx: &AuditContext,
        id: &SystemId,
        etag: &str,
        deletion: Deletion,
        authorize: impl FnOnce(&InformationSystem) -> Result<(), Error>,
    ) -> Result<InformationSystem, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = find(txn, id).await?.or_not_found(|| id.name())?;
        authorize(&current)?;
        let t = self.store.now();
        let delete_time = deletion.apply(&current, etag, t)?;
        match deletion {
            Deletion::Delete => refuse_if_live_dependents(txn, id).await?,
            Deletion::Undelete => check_references(txn, id, &current.spec).await?,
        }
        let next = InformationSystem {
            update_time: t,
            delete_time,
            revision: current.revision + 1,
            ..current.clone()
        };
        save_guarded(txn, &next, current.revision).await?;
        record_revision(txn, ctx, &next, vec!["delete_time".into()], "").await?;
        write
            .commit(
                &id.name(),
                diff_fields(Some(&current.audit_fields()), &next.audit_fields()),
            )
            .await?;
        Ok(next)
    }

    /// One page of a filtered, ordered list.
    pub async fn list(&self, query: &SystemQuery) -> Result<Page<InformationSystem>, Error> {
        keyset::page(
            self.store,
            row::Entity::find().filter(filter_sql::selection(query, Column::DeleteTime)),
            &query.page(query.order_by.iter().map(|k| page_key(*k)).collect()),
            from_row,
            sort_value,
        )
        .await
    }

    /// Revisions of one system, newest first.
    pub async fn revisions(&self, query: &RevisionQuery) -> Result<Page<RevisionInfo>, Error> {
        let id = &query.selection;
        self.get(id).await?;
        keyset::page(
            self.store,
            rev_row::Entity::find().filter(rev_row::Column::SystemId.eq(id.as_str())),
            &query.page(vec![PageKey::desc(rev_row::Column::Revision, KeyKind::Int)]),
            |r| {
                Ok(RevisionInfo {
                    revision: r.revision,
                    create_time: Timestamp::from_micros(r.create_time),
                    caller: r.caller,
                    method: r.method,
                    changed_fields: serde_json::from_str(&r.changed_fields).unwrap_or_default(),
                    reason: r.reason,
                })
            },
            |r: &RevisionInfo, _| KeyValue::Int(r.revision),
        )
        .await
    }

    /// Live (not deleted) systems that consume `id`'s services, up to `depth` links away,
    /// nearest first.
    pub async fn dependents(&self, id: &SystemId, depth: u32) -> Result<Vec<DependentInfo>, Error> {
        self.get(id).await?;
        let conn = self.store.conn();
        let mut seen: BTreeSet<String> = [id.as_str().to_string()].into();
        let mut frontier = vec![id.as_str().to_string()];
        let mut out = Vec::new();
        for distance in 1..=depth {
            if frontier.is_empty() {
                break;
            }
            let edges = dep_row::Entity::find()
                .filter(dep_row::Column::ProviderId.is_in(frontier.clone()))
                .all(conn)
                .await
                .map_err(db_err)?;
            // consumer -> (via, services); the first provider on the path wins.
            let mut found: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
            for e in edges {
                if seen.contains(&e.consumer_id) {
                    continue;
                }
                let entry = found
                    .entry(e.consumer_id.clone())
                    .or_insert_with(|| (e.provider_id.clone(), Vec::new()));
                if entry.0 == e.provider_id {
                    entry.1.push(e.service);
                }
            }
            let nodes = nodes_of(conn, found.keys().cloned().collect()).await?;
            frontier = Vec::new();
            for (consumer, (via, mut services)) in found {
                let Some(node) = nodes.get(&consumer) else {
                    continue;
                };
                seen.insert(consumer.clone());
                frontier.push(consumer.clone());
                services.sort();
                out.push(DependentInfo {
                    system: node.system.clone(),
                    short_name: node.short_name.clone(),
                    state: node.state,
                    distance,
                    via: SystemId::from_trusted(via),
                    services,
                });
            }
        }
        Ok(out)
    }

    /// The live systems and dependencies up to `depth` links from `id`, both directions.
    pub async fn graph(
        &self,
        id: &SystemId,
        depth: u32,
    ) -> Result<(Vec<GraphNode>, Vec<GraphEdge>), Error> {
        self.get(id).await?;
        let conn = self.store.conn();
        let mut visited: BTreeSet<String> = [id.as_str().to_string()].into();
        let mut frontier = vec![id.as_str().to_string()];
        let mut edges = BTreeSet::new();
        for _ in 0..depth {
            if frontier.is_empty() {
                break;
            }
            let rows = dep_row::Entity::find()
                .filter(
                    Condition::any()
                        .add(dep_row::Column::ProviderId.is_in(frontier.clone()))
                        .add(dep_row::Column::ConsumerId.is_in(frontier.clone())),
                )
                .all(conn)
                .await
                .map_err(db_err)?;
            let mut next = Vec::new();
            for r in rows {
                for end in [&r.consumer_id, &r.provider_id] {
                    if visited.insert(end.clone()) {
                        next.push(end.clone());
                    }
                }
                edges.insert((r.consumer_id, r.provider_id, r.service));
            }
            frontier = next;
        }
        let nodes = nodes_of(conn, visited.into_iter().collect()).await?;
        let edges = edges
            .into_iter()
            .filter(|(c, p, _)| nodes.contains_key(c) && nodes.contains_key(p))
            .map(|(c, p, s)| GraphEdge {
                consumer: SystemId::from_trusted(c),
                provider: SystemId::from_trusted(p),
                service: s,
            })
            .collect();
        Ok((nodes.into_values().collect(), edges))
    }

    /// Counts of the live systems.
    pub async fn statistics(&self) -> Result<Statistics, Error> {
        let conn = self.store.conn();
        let rows: Vec<(String, String, bool, i64)> = row::Entity::find()
            .select_only()
            .column(Column::State)
            .column(Column::OwnerId)
            .column(Column::PersonalData)
            .column(Column::CreateTime)
            .filter(Column::DeleteTime.is_null())
            .into_tuple()
            .all(conn)
            .await
            .map_err(db_err)?;
        let kinds: HashMap<String, String> = org_row::Entity::find()
            .select_only()
            .column(org_row::Column::Id)
            .column(org_row::Column::Kind)
            .into_tuple::<(String, String)>()
            .all(conn)
            .await
            .map_err(db_err)?
            .into_iter()
            .collect();
        let mut by_state: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_owner: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_kind: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_year: BTreeMap<String, i64> = BTreeMap::new();
        let mut personal = 0;
        for (state, owner, pd, created) in &rows {
            *by_state.entry(state.clone()).or_default() += 1;
            *by_kind
                .entry(kinds.get(owner).cloned().unwrap_or_default())
                .or_default() += 1;
            *by_owner.entry(owner.clone()).or_default() += 1;
            let year = self
                .store
                .calendar()
                .date_of(Timestamp::from_micros(*created))
                .map_or_else(String::new, |d| d.year().to_string());
            *by_year.entry(year).or_default() += 1;
            if *pd {
                personal += 1;
            }
        }
        Ok(Statistics {
            total: reestr_domain::input::count_i64(rows.len()),
            by_state: by_state.into_iter().collect(),
            by_owner_kind: by_kind.into_iter().collect(),
            by_owner: by_owner.into_iter().collect(),
            personal_data: personal,
            by_year: by_year.into_iter().collect(),
        })
    }
}

async fn find(
    conn: &impl ConnectionTrait,
    id: &SystemId,
) -> Result<Option<InformationSystem>, Error> {
    row::Entity::find_by_id(id.as_str())
        .one(conn)
        .await
        .map_err(db_err)?
        .map(from_row)
        .transpose()
}

/// The system `id`; it must exist and be live.
pub(crate) async fn live(
    conn: &impl ConnectionTrait,
    id: &SystemId,
) -> Result<InformationSystem, Error> {
    let current = find(conn, id).await?.or_not_found(|| id.name())?;
    if current.delete_time.is_some() {
        return Err(Error::Deleted {
            resource: id.name(),
        });
    }
    Ok(current)
}

/// A lifecycle transition of `id` inside `write`'s transaction, after `authorize` approves the
/// system as it is there (its row locked on PostgreSQL): the one rule of every state change of
/// a system, whether asked for directly or caused by an approved submission. Records the new
/// revision and returns the system after the change and the changes its audit event lists;
/// the caller commits.
pub(crate) async fn transition_in(
    write: &Write<'_>,
    id: &SystemId,
    t: &Transition,
    authorize: impl FnOnce(&InformationSystem) -> Result<(), Error>,
) -> Result<(InformationSystem, Vec<FieldChange>), Error> {
    let txn = write.txn();
    let current = crate::find_for_update(txn, row::Entity::find_by_id(id.as_str()), from_row)
        .await?
        .or_not_found(|| id.name())?;
    authorize(&current)?;
    if current.delete_time.is_some() {
        return Err(Error::Deleted {
            resource: id.name(),
        });
    }
    current.check_etag(&t.etag)?;
    check_transition(&id.name(), current.state, t.to)?;
    if t.to == SystemState::Decommissioned && !t.force {
        refuse_if_live_dependents(txn, id).await?;
    }
    let next = InformationSystem {
        state: t.to,
        update_time: write.now(),
        revision: current.revision + 1,
        ..current.clone()
    };
    save_guarded(txn, &next, current.revision).await?;
    record_revision(txn, &write.ctx, &next, vec!["state".into()], &t.reason).await?;
    // Named in the change feed whichever resource the transaction commits under (the system
    // itself, or the submission whose approval moved it).
    write.also_changed(id.name(), ChangeKind::StateChanged);
    let mut changes = diff_fields(Some(&current.audit_fields()), &next.audit_fields());
    if t.force {
        changes.push(FieldChange {
            field: "force".into(),
            old: String::new(),
            new: "true".into(),
        });
    }
    Ok((next, changes))
}

async fn nodes_of(
    conn: &impl ConnectionTrait,
    ids: Vec<String>,
) -> Result<BTreeMap<String, GraphNode>, Error> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<(String, String, String)> = row::Entity::find()
        .select_only()
        .column(Column::Id)
        .column(Column::ShortName)
        .column(Column::State)
        .filter(Column::Id.is_in(ids))
        .filter(Column::DeleteTime.is_null())
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, short, state)| {
            let state = state.parse().ok()?;
            Some((
                id.clone(),
                GraphNode {
                    system: SystemId::from_trusted(id),
                    short_name: short,
                    state,
                },
            ))
        })
        .collect())
}

/// Owner and operator must be live organisations; the short name free; every dependency an
/// existing, live system providing the named service (INVALID_ARGUMENT otherwise, naming each
/// bad entry).
async fn check_references(
    conn: &impl ConnectionTrait,
    id: &SystemId,
    spec: &SystemSpec,
) -> Result<(), Error> {
    let taken = row::Entity::find()
        .filter(Column::ShortNameFolded.eq(fold(&spec.short_name)))
        .filter(Column::Id.ne(id.as_str()))
        .one(conn)
        .await
        .map_err(db_err)?;
    if let Some(holder) = taken {
        return Err(Error::AlreadyExists {
            resource: SystemId::from_trusted(holder.id).name(),
            field: Some("short_name".into()),
        });
    }
    for (field, org) in [
        ("system.owner", &spec.owner),
        ("system.operator", &spec.operator),
    ] {
        if org.is_empty() {
            continue;
        }
        let org_id = org.strip_prefix("organizations/").unwrap_or(org);
        crate::organization::check_live(
            conn,
            &OrganizationId::from_trusted(org_id.to_string()),
            field,
        )
        .await?;
    }
    let mut v = Violations::new();
    let targets: BTreeSet<&str> = spec
        .dependencies
        .iter()
        .filter_map(|d| d.system.strip_prefix("systems/"))
        .collect();
    let providers: HashMap<String, InformationSystem> = if targets.is_empty() {
        HashMap::new()
    } else {
        row::Entity::find()
            .filter(Column::Id.is_in(targets.iter().map(|s| s.to_string())))
            .filter(Column::DeleteTime.is_null())
            .all(conn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(from_row)
            .map(|s| s.map(|s| (s.id.as_str().to_string(), s)))
            .collect::<Result<_, _>>()?
    };
    for (i, d) in spec.dependencies.iter().enumerate() {
        let target = d.system.strip_prefix("systems/").unwrap_or(&d.system);
        match providers.get(target) {
            None => v.add(
                format!("system.dependencies[{i}].system"),
                format!("{} does not exist or is deleted", d.system),
            ),
            Some(p) if !p.spec.provided_services.iter().any(|s| s.name == d.service) => v.add(
                format!("system.dependencies[{i}].service"),
                format!("{} provides no service {:?}", d.system, d.service),
            ),
            Some(_) => {}
        }
    }
    v.into_result()
}

async fn refuse_if_live_dependents(
    conn: &impl ConnectionTrait,
    id: &SystemId,
) -> Result<(), Error> {
    let consumers: Vec<String> = dep_row::Entity::find()
        .select_only()
        .column(dep_row::Column::ConsumerId)
        .filter(dep_row::Column::ProviderId.eq(id.as_str()))
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    if consumers.is_empty() {
        return Ok(());
    }
    let live: Vec<String> = row::Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Id.is_in(consumers))
        .filter(Column::DeleteTime.is_null())
        .filter(Column::State.ne(SystemState::Decommissioned.as_str()))
        .order_by(Column::Id, Order::Asc)
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    if live.is_empty() {
        return Ok(());
    }
    Err(Error::InUse {
        resource: id.name(),
        count: live.len() as u64,
        referenced_by: live
            .into_iter()
            .take(MAX_NAMED)
            .map(|s| SystemId::from_trusted(s).name())
            .collect(),
    })
}

/// Rewrites the label and dependency projections of `system`.
async fn project(
    conn: &impl ConnectionTrait,
    system: &InformationSystem,
    fresh: bool,
) -> Result<(), Error> {
    let id = system.id.as_str();
    if !fresh {
        label_row::Entity::delete_many()
            .filter(label_row::Column::SystemId.eq(id))
            .exec(conn)
            .await
            .map_err(db_err)?;
        dep_row::Entity::delete_many()
            .filter(dep_row::Column::ConsumerId.eq(id))
            .exec(conn)
            .await
            .map_err(db_err)?;
    }
    if !system.spec.labels.is_empty() {
        label_row::Entity::insert_many(system.spec.labels.iter().map(|(k, v)| {
            label_row::ActiveModel {
                system_id: Set(id.to_string()),
                key: Set(k.clone()),
                value: Set(v.clone()),
            }
        }))
        .exec_without_returning(conn)
        .await
        .map_err(db_err)?;
    }
    let deps: BTreeSet<(String, String)> = system
        .spec
        .dependencies
        .iter()
        .map(|d| {
            (
                d.system
                    .strip_prefix("systems/")
                    .unwrap_or(&d.system)
                    .to_string(),
                d.service.clone(),
            )
        })
        .collect();
    if !deps.is_empty() {
        dep_row::Entity::insert_many(deps.into_iter().map(|(p, s)| dep_row::ActiveModel {
            consumer_id: Set(id.to_string()),
            provider_id: Set(p),
            service: Set(s),
        }))
        .exec_without_returning(conn)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

async fn record_revision(
    conn: &impl ConnectionTrait,
    ctx: &AuditContext,
    system: &InformationSystem,
    changed: Vec<String>,
    reason: &str,
) -> Result<(), Error> {
    rev_row::ActiveModel {
        system_id: Set(system.id.as_str().to_string()),
        revision: Set(system.revision),
        create_time: Set(system.update_time.micros()),
        caller: Set(ctx.caller.clone()),
        method: Set(ctx.method.clone()),
        changed_fields: Set(serde_json::to_string(&changed).unwrap_or_default()),
        reason: Set(reason.to_string()),
        state: Set(system.state.as_str().to_string()),
        delete_time: Set(system.delete_time.map(Timestamp::micros)),
        body: Set(serde_json::to_string(&system.spec).unwrap_or_default()),
    }
    .insert(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn save_guarded(
    conn: &impl ConnectionTrait,
    next: &InformationSystem,
    expected: i64,
) -> Result<(), Error> {
    let result = row::Entity::update_many()
        .set(to_active(next))
        .filter(Column::Id.eq(next.id.as_str()))
        .filter(Column::Revision.eq(expected))
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

fn sort_column(field: &str) -> Column {
    match field {
        "short_name" => Column::ShortNameFolded,
        "registration_number" => Column::RegistrationNumber,
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

fn sort_value(s: &InformationSystem, c: Column) -> KeyValue {
    match c {
        Column::ShortNameFolded => KeyValue::Text(fold(&s.spec.short_name)),
        Column::RegistrationNumber => KeyValue::Text(s.registration_number.clone()),
        Column::CreateTime => KeyValue::Int(s.create_time.micros()),
        Column::UpdateTime => KeyValue::Int(s.update_time.micros()),
        _ => KeyValue::Text(s.id.as_str().to_string()),
    }
}

/// The systems that carry label `key` (with `value`, when given).
fn labelled(key: &str, value: Option<&str>) -> SelectStatement {
    let mut sub = Query::select();
    sub.column(label_row::Column::SystemId)
        .from(label_row::Entity)
        .and_where(label_row::Column::Key.eq(key));
    if let Some(value) = value {
        sub.and_where(label_row::Column::Value.eq(value));
    }
    sub.to_owned()
}

impl SqlLeaf for SystemCondition {
    fn condition(&self) -> Condition {
        match self {
            SystemCondition::Owner(eq, o) => filter_sql::equals(Column::OwnerId, *eq, o.as_str()),
            SystemCondition::Operator(eq, o) => filter_sql::equals_nullable(
                Column::OperatorId,
                *eq,
                o.as_ref().map(OrganizationId::as_str),
            ),
            SystemCondition::State(eq, s) => filter_sql::equals(Column::State, *eq, s.as_str()),
            SystemCondition::PersonalData(b) => {
                filter_sql::equals(Column::PersonalData, Equality::Eq, *b)
            }
            SystemCondition::Label(eq, key, value) => {
                filter_sql::in_subquery(Column::Id, *eq, labelled(key, Some(value)))
            }
            SystemCondition::HasLabel(key) => {
                filter_sql::in_subquery(Column::Id, Equality::Eq, labelled(key, None))
            }
            SystemCondition::ShortName(eq, folded) => {
                filter_sql::equals(Column::ShortNameFolded, *eq, folded.as_str())
            }
            SystemCondition::NameContains(folded) | SystemCondition::Text(folded) => {
                filter_sql::contains(Column::SearchText, folded)
            }
        }
    }
}

fn to_active(s: &InformationSystem) -> row::ActiveModel {
    let owner = s.owner();
    row::ActiveModel {
        id: Set(s.id.as_str().to_string()),
        short_name: Set(s.spec.short_name.clone()),
        short_name_folded: Set(fold(&s.spec.short_name)),
        owner_id: Set(owner.as_str().to_string()),
        operator_id: Set((!s.spec.operator.is_empty()).then(|| {
            s.spec
                .operator
                .strip_prefix("organizations/")
                .unwrap_or(&s.spec.operator)
                .to_string()
        })),
        state: Set(s.state.as_str().to_string()),
        registration_number: Set(s.registration_number.clone()),
        personal_data: Set(s.spec.security.processes_personal_data),
        search_text: Set(s.search_text()),
        body: Set(serde_json::to_string(&s.spec).unwrap_or_default()),
        create_time: Set(s.create_time.micros()),
        update_time: Set(s.update_time.micros()),
        delete_time: Set(s.delete_time.map(Timestamp::micros)),
        revision: Set(s.revision),
    }
}

pub(crate) fn from_row(m: row::Model) -> Result<InformationSystem, Error> {
    let spec: SystemSpec = serde_json::from_str(&m.body)
        .map_err(|e| Error::Internal(format!("system {}: bad body: {e}", m.id)))?;
    let state = m
        .state
        .parse()
        .map_err(|()| Error::Internal(format!("system {}: bad state {}", m.id, m.state)))?;
    Ok(InformationSystem {
        id: SystemId::from_trusted(m.id),
        spec,
        state,
        registration_number: m.registration_number,
        create_time: Timestamp::from_micros(m.create_time),
        update_time: Timestamp::from_micros(m.update_time),
        delete_time: m.delete_time.map(Timestamp::from_micros),
        revision: m.revision,
    })
}

fn from_revision(
    current: &InformationSystem,
    r: rev_row::Model,
) -> Result<InformationSystem, Error> {
    let spec: SystemSpec = serde_json::from_str(&r.body)
        .map_err(|e| Error::Internal(format!("revision {}: bad body: {e}", r.revision)))?;
    Ok(InformationSystem {
        id: current.id.clone(),
        spec,
        state: r
            .state
            .parse()
            .map_err(|()| Error::Internal(format!("revision {}: bad state", r.revision)))?,
        registration_number: current.registration_number.clone(),
        create_time: current.create_time,
        update_time: Timestamp::from_micros(r.create_time),
        delete_time: r.delete_time.map(Timestamp::from_micros),
        revision: r.revision,
    })
}
