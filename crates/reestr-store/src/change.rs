//! The change feed in the database: `change_events`, appended by [`Write::commit`] in the
//! transaction of every change, and read in revision order.
//!
//! **Gap-free revisions in commit order.** A writing transaction appends its audit event
//! first, which takes the audit trail's lock (the `audit_lock` row, `FOR UPDATE`, on
//! PostgreSQL; on SQLite there is one writer at a time) and holds it until the transaction
//! ends. Its revision is then the largest committed revision plus one. Two transactions can
//! therefore never hold revisions at once: the second reads the first's revision only after
//! the first committed, and a rollback hands its number back to the next writer. A reader that
//! has seen revision N never later sees a committed revision below N, on one server or on
//! several sharing one PostgreSQL. No timer and no gap-skipping is involved.
//!
//! [`Write::commit`]: crate::Write::commit

use reestr_domain::Error;
use reestr_domain::change::{Change, ChangeKind, ResourceType};
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey};
use reestr_domain::time::Timestamp;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::Backend;
use crate::audit::AuditContext;
use crate::entity::change_event::{self as row, Column};
use crate::{Store, db_err, keyset};

/// The PostgreSQL channel every writing transaction notifies, with its revision, as it
/// commits: the wake-up of the other servers' watchers ([`Store::follow_commits`]).
pub(crate) const CHANNEL: &str = "reestr_changes";

/// What a list of changes selects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSelection {
    /// Changes from this revision on (0 and 1 alike: from the first).
    pub start_revision: i64,
    /// Only these types; every type when empty.
    pub types: Vec<ResourceType>,
    /// Only resources whose name starts with this; every resource when empty.
    pub name_prefix: String,
    /// Only this classifier (`classifiers/{id}`) and the resources under it (its versions).
    pub classifier: Option<String>,
    /// Only resources this organisation (an id) owns, as their change left them.
    pub owner: Option<String>,
    /// Only submissions (and their documents, remarks and comments) that require this
    /// organisation's (an id) review.
    pub reviewer: Option<String>,
}

/// A list of changes, in revision order.
pub type ChangeQuery = ListQuery<ChangeSelection>;

/// Appends the changes of the transaction `conn` (the audit event appended, so the audit lock
/// held): `resource`, changed by the call `ctx` describes, then `also`, under one new
/// revision. Resources of no type the feed covers are left out; returns the revision, or
/// `None` when nothing was appended.
pub(crate) async fn append(
    conn: &impl ConnectionTrait,
    now: Timestamp,
    ctx: &AuditContext,
    resource: &str,
    also: &[(String, ChangeKind)],
) -> Result<Option<i64>, Error> {
    let mut changed: Vec<(&str, ResourceType, ChangeKind)> = Vec::new();
    if let Some(of) = ResourceType::of(resource) {
        changed.push((resource, of, ChangeKind::of_method(&ctx.method, of)));
    }
    for (name, kind) in also {
        if let Some(of) = ResourceType::of(name)
            && !changed.iter().any(|(n, _, _)| *n == name.as_str())
        {
            changed.push((name, of, *kind));
        }
    }
    if changed.is_empty() {
        return Ok(None);
    }
    let last: Option<Option<i64>> = row::Entity::find()
        .select_only()
        .column_as(Column::Revision.max(), "last")
        .into_tuple()
        .one(conn)
        .await
        .map_err(db_err)?;
    let revision = last.flatten().unwrap_or(0) + 1;
    for (position, (name, of, kind)) in changed.into_iter().enumerate() {
        let left = left_as(conn, name, of).await?;
        row::ActiveModel {
            revision: Set(revision),
            position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
            resource: Set(name.to_string()),
            resource_type: Set(of.as_str().to_string()),
            kind: Set(kind.as_str().to_string()),
            method: Set(ctx.method.clone()),
            caller: Set(ctx.caller.clone()),
            change_time: Set(now.micros()),
            etag: Set(left
                .revision
                .map(|r| reestr_domain::revision::etag(name, r))
                .unwrap_or_default()),
            owner: Set(left.owner),
            reviewers: Set(reviewers_column(&left.reviewers)),
        }
        .insert(conn)
        .await
        .map_err(db_err)?;
    }
    if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Delivered when (and only if) the transaction commits.
        conn.execute_unprepared(&format!("NOTIFY {CHANNEL}, '{revision}'"))
            .await
            .map_err(db_err)?;
    }
    Ok(Some(revision))
}

/// What the transaction `conn` leaves the resource `name` of type `of` as, read in that
/// transaction: who it concerns (its owner organisation's id, a submission's required
/// reviewers) and its revision, for resources that have one. A resource the transaction
/// removed concerns nobody and has no revision.
#[derive(Debug, Default)]
struct LeftAs {
    owner: Option<String>,
    reviewers: Vec<String>,
    revision: Option<i64>,
}

async fn left_as(
    conn: &impl ConnectionTrait,
    name: &str,
    of: ResourceType,
) -> Result<LeftAs, Error> {
    use crate::entity::{
        classifier, classifier_version, organization, submission, submission_remark, system, token,
    };
    let segments: Vec<&str> = name.split('/').collect();
    let id = |i: usize| segments.get(i).copied().unwrap_or_default();
    let owned = |found: Option<(String, i64)>| match found {
        Some((owner, revision)) => LeftAs {
            owner: Some(owner),
            revision: Some(revision),
            ..LeftAs::default()
        },
        None => LeftAs::default(),
    };
    Ok(match of {
        ResourceType::Organization => {
            let revision: Option<i64> = organization::Entity::find_by_id(id(1))
                .select_only()
                .column(organization::Column::Revision)
                .into_tuple()
                .one(conn)
                .await
                .map_err(db_err)?;
            LeftAs {
                owner: Some(id(1).to_string()),
                revision,
                ..LeftAs::default()
            }
        }
        ResourceType::InformationSystem => owned(
            system::Entity::find_by_id(id(1))
                .select_only()
                .column(system::Column::OwnerId)
                .column(system::Column::Revision)
                .into_tuple()
                .one(conn)
                .await
                .map_err(db_err)?,
        ),
        ResourceType::Classifier => owned(
            classifier::Entity::find_by_id(id(1))
                .select_only()
                .column(classifier::Column::OwnerId)
                .column(classifier::Column::Revision)
                .into_tuple()
                .one(conn)
                .await
                .map_err(db_err)?,
        ),
        ResourceType::ClassifierVersion => {
            let owner: Option<String> = classifier::Entity::find_by_id(id(1))
                .select_only()
                .column(classifier::Column::OwnerId)
                .into_tuple()
                .one(conn)
                .await
                .map_err(db_err)?;
            let revision: Option<i64> = classifier_version::Entity::find()
                .filter(classifier_version::Column::ClassifierId.eq(id(1)))
                .filter(classifier_version::Column::VersionId.eq(id(3)))
                .select_only()
                .column(classifier_version::Column::Revision)
                .into_tuple()
                .one(conn)
                .await
                .map_err(db_err)?;
            LeftAs {
                owner,
                revision,
                ..LeftAs::default()
            }
        }
        ResourceType::FieldBinding => LeftAs {
            revision: crate::entity::field_binding::Entity::find_by_id(id(1))
                .select_only()
                .column(crate::entity::field_binding::Column::Revision)
                .into_tuple()
                .one(conn)
                .await
                .map_err(db_err)?,
            ..LeftAs::default()
        },
        ResourceType::Token => LeftAs {
            owner: token::Entity::find_by_id(id(1))
                .select_only()
                .column(token::Column::OrganizationId)
                .into_tuple::<Option<String>>()
                .one(conn)
                .await
                .map_err(db_err)?
                .flatten(),
            ..LeftAs::default()
        },
        ResourceType::Submission
        | ResourceType::Document
        | ResourceType::Remark
        | ResourceType::Comment => {
            let found: Option<(String, String, i64)> = submission::Entity::find()
                .filter(submission::Column::SystemId.eq(id(1)))
                .filter(submission::Column::SubmissionId.eq(id(3)))
                .select_only()
                .column(submission::Column::OwnerId)
                .column(submission::Column::RequiredReviewers)
                .column(submission::Column::Revision)
                .into_tuple()
                .one(conn)
                .await
                .map_err(db_err)?;
            let Some((owner, reviewers, revision)) = found else {
                return Ok(LeftAs::default());
            };
            let revision = match of {
                ResourceType::Submission => Some(revision),
                ResourceType::Remark => match id(5).parse::<i32>() {
                    Ok(number) => submission_remark::Entity::find_by_id((
                        id(1).to_string(),
                        id(3).to_string(),
                        number,
                    ))
                    .select_only()
                    .column(submission_remark::Column::Revision)
                    .into_tuple()
                    .one(conn)
                    .await
                    .map_err(db_err)?,
                    Err(_) => None,
                },
                _ => None,
            };
            LeftAs {
                owner: Some(owner),
                reviewers: serde_json::from_str(&reviewers).unwrap_or_default(),
                revision,
            }
        }
    })
}

/// `,a,b,` for reviewers `a` and `b`; empty for none.
fn reviewers_column(reviewers: &[String]) -> String {
    if reviewers.is_empty() {
        String::new()
    } else {
        format!(",{},", reviewers.join(","))
    }
}

fn from_row(m: row::Model) -> Result<Change, Error> {
    let bad = |what: &str| Error::Internal(format!("change {}: bad {what}", m.revision));
    Ok(Change {
        resource_type: m.resource_type.parse().map_err(|()| bad("type"))?,
        kind: m.kind.parse().map_err(|()| bad("kind"))?,
        revision: m.revision,
        position: m.position,
        resource: m.resource,
        method: m.method,
        caller: m.caller,
        change_time: Timestamp::from_micros(m.change_time),
        owner: m.owner,
        etag: m.etag,
        reviewers: m
            .reviewers
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

impl ChangeSelection {
    /// Whether `change` is selected: what [`condition`](Self::condition) selects in the
    /// database, decided in memory.
    pub fn matches(&self, change: &Change) -> bool {
        change.revision >= self.start_revision
            && (self.types.is_empty() || self.types.contains(&change.resource_type))
            && change.resource.starts_with(&self.name_prefix)
            && self.classifier.as_ref().is_none_or(|name| {
                change
                    .resource
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            && self
                .owner
                .as_ref()
                .is_none_or(|owner| change.owner.as_ref() == Some(owner))
            && self
                .reviewer
                .as_ref()
                .is_none_or(|reviewer| change.reviewers.contains(reviewer))
    }

    fn condition(&self) -> Condition {
        let mut c = Condition::all().add(Column::Revision.gte(self.start_revision));
        if !self.types.is_empty() {
            c = c.add(Column::ResourceType.is_in(self.types.iter().map(|t| t.as_str())));
        }
        if !self.name_prefix.is_empty() {
            c = c.add(Column::Resource.starts_with(&self.name_prefix));
        }
        if let Some(name) = &self.classifier {
            c = c.add(
                Condition::any()
                    .add(Column::Resource.eq(name.as_str()))
                    .add(Column::Resource.starts_with(format!("{name}/"))),
            );
        }
        if let Some(owner) = &self.owner {
            c = c.add(Column::Owner.eq(owner.as_str()));
        }
        if let Some(reviewer) = &self.reviewer {
            // Organisation ids are lowercase letters, digits and hyphens: nothing LIKE reads
            // as a wildcard.
            c = c.add(Column::Reviewers.like(format!("%,{reviewer},%")));
        }
        c
    }
}

impl Store {
    /// One page of the changes `query` selects, in revision order.
    pub async fn changes(&self, query: &ChangeQuery) -> Result<Page<Change>, Error> {
        keyset::page(
            self,
            row::Entity::find().filter(query.selection.condition()),
            &query.page(vec![
                PageKey::asc(Column::Revision, KeyKind::Int),
                PageKey::asc(Column::Position, KeyKind::Int),
            ]),
            from_row,
            |c: &Change, col| match col {
                Column::Position => KeyValue::Int(i64::from(c.position)),
                _ => KeyValue::Int(c.revision),
            },
        )
        .await
    }

    /// Up to `limit` changes that `selection` selects after revision `after`, in order, and
    /// always whole revisions: a revision is never split between two reads.
    pub async fn changes_after(
        &self,
        selection: &ChangeSelection,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Change>, Error> {
        let mut rows = row::Entity::find()
            .filter(selection.condition())
            .filter(Column::Revision.gt(after))
            .order_by_asc(Column::Revision)
            .order_by_asc(Column::Position)
            .limit(limit)
            .all(self.conn())
            .await
            .map_err(db_err)?;
        if u64::try_from(rows.len()).unwrap_or(u64::MAX) == limit
            && let Some(last) = rows.last().map(|r| r.revision)
        {
            // The last revision may go on past the limit: read the rest of it.
            let rest = row::Entity::find()
                .filter(selection.condition())
                .filter(Column::Revision.eq(last))
                .filter(Column::Position.gt(rows.last().map_or(0, |r| r.position)))
                .order_by_asc(Column::Position)
                .all(self.conn())
                .await
                .map_err(db_err)?;
            rows.extend(rest);
        }
        rows.into_iter().map(from_row).collect()
    }

    /// How many changes the feed holds.
    pub async fn changes_retained(&self) -> Result<u64, Error> {
        use sea_orm::PaginatorTrait as _;
        row::Entity::find().count(self.conn()).await.map_err(db_err)
    }

    /// The newest committed revision (0 before the first change): one step down the primary
    /// key's index.
    pub async fn head_revision(&self) -> Result<i64, Error> {
        let newest: Option<Option<i64>> = row::Entity::find()
            .select_only()
            .column_as(Column::Revision.max(), "newest")
            .into_tuple()
            .one(self.conn())
            .await
            .map_err(db_err)?;
        Ok(newest.flatten().unwrap_or(0))
    }

    /// The oldest revision the feed still holds and the newest committed one, in one read;
    /// `(0, 0)` before the first change.
    ///
    /// Each bound is a subquery of its own: SQLite answers a lone `MIN` or `MAX` from the
    /// index, but `SELECT MIN(…), MAX(…)` by reading the whole table (a million changes took
    /// 100 ms, for every batch of a watch).
    pub async fn revision_bounds(&self) -> Result<(i64, i64), Error> {
        use sea_orm::Statement;
        let conn = self.conn();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT (SELECT MIN(revision) FROM change_events), \
                        (SELECT MAX(revision) FROM change_events)",
            ))
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Ok((0, 0));
        };
        let oldest: Option<i64> = row.try_get_by_index(0).map_err(db_err)?;
        let newest: Option<i64> = row.try_get_by_index(1).map_err(db_err)?;
        Ok((oldest.unwrap_or(0), newest.unwrap_or(0)))
    }

    /// Fails with [`Error::Compacted`] when changes from `start` on are no longer all held:
    /// revisions begin at 1, so an oldest revision above 1 means older ones were removed.
    pub async fn check_held(&self, start: i64) -> Result<(i64, i64), Error> {
        let (oldest, head) = self.revision_bounds().await?;
        if oldest > 1 && start.max(1) < oldest {
            return Err(Error::Compacted {
                requested: start,
                oldest,
            });
        }
        Ok((oldest, head))
    }

    /// Removes the changes made before `cutoff`, except the newest revision (which the next
    /// revision is numbered from); returns how many were removed.
    pub async fn compact_changes(&self, cutoff: Timestamp) -> Result<u64, Error> {
        let head = self.head_revision().await?;
        let removed = row::Entity::delete_many()
            .filter(Column::ChangeTime.lt(cutoff.micros()))
            .filter(Column::Revision.lt(head))
            .exec(self.conn())
            .await
            .map_err(db_err)?;
        Ok(removed.rows_affected)
    }

    /// The newest revision this process knows committed: its own commits, and on PostgreSQL
    /// other servers' as they notify them.
    pub fn newest_known_revision(&self) -> i64 {
        *self.inner.committed.borrow()
    }

    /// A receiver told of every revision this process commits, and on PostgreSQL, while
    /// [`follow_commits`](Self::follow_commits) runs, of every other server's: a watcher's
    /// wake-up. A wake-up can be missed (a notification lost with its connection); a watcher
    /// also reads the table every second.
    pub fn committed(&self) -> tokio::sync::watch::Receiver<i64> {
        self.inner.committed.subscribe()
    }

    /// Tells this process's watchers of the revisions other servers commit on the same
    /// PostgreSQL database (`LISTEN`, on a connection of its own), for as long as it runs (the
    /// server aborts it when it stops); reconnects after a lost connection and wakes the
    /// watchers then, since notifications may have been missed. Returns at once on SQLite.
    pub async fn follow_commits(&self) {
        use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
        if self.inner.db.backend() != Backend::Postgres {
            return;
        }
        // A connection of its own, beside the pool's, with the pool's settings: the listener
        // never takes a connection calls need (a server may run with only one).
        let options = self.conn().get_postgres_connection_pool().connect_options();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*options).clone());
        loop {
            let mut listener = match PgListener::connect_with(&own).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed: cannot listen; retrying in 1 s");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "change feed: LISTEN failed; retrying in 1 s");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        let revision = n.payload().parse::<i64>().unwrap_or(0);
                        self.inner.committed.send_if_modified(|newest| {
                            let newer = revision > *newest;
                            if newer {
                                *newest = revision;
                            }
                            newer
                        });
                    }
                    // The connection was lost and is made again: read the table now.
                    Ok(None) => self.inner.committed.send_modify(|_| {}),
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed: listening failed; again in 1 s");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(revision: i64, resource: &str, of: ResourceType) -> Change {
        Change {
            revision,
            position: 0,
            resource: resource.into(),
            resource_type: of,
            kind: ChangeKind::Created,
            method: String::new(),
            caller: String::new(),
            change_time: Timestamp::from_micros(0),
            owner: None,
            reviewers: Vec::new(),
            etag: String::new(),
        }
    }

    #[test]
    fn a_selection_matches_in_memory_what_it_selects_in_the_database() {
        let every = ChangeSelection::default();
        assert!(every.matches(&change(1, "organizations/a", ResourceType::Organization)));
        let some = ChangeSelection {
            start_revision: 5,
            types: vec![ResourceType::ClassifierVersion],
            name_prefix: "classifiers/soato/".into(),
            ..ChangeSelection::default()
        };
        let soato = "classifiers/soato/versions/1";
        assert!(some.matches(&change(5, soato, ResourceType::ClassifierVersion)));
        assert!(!some.matches(&change(4, soato, ResourceType::ClassifierVersion)));
        assert!(!some.matches(&change(6, "classifiers/soato", ResourceType::Classifier)));
        assert!(!some.matches(&change(
            6,
            "classifiers/okpo/versions/1",
            ResourceType::ClassifierVersion
        )));
        let one = ChangeSelection {
            classifier: Some("classifiers/soato".into()),
            ..ChangeSelection::default()
        };
        assert!(one.matches(&change(1, "classifiers/soato", ResourceType::Classifier)));
        assert!(one.matches(&change(1, soato, ResourceType::ClassifierVersion)));
        assert!(!one.matches(&change(
            1,
            "classifiers/soato2/versions/1",
            ResourceType::ClassifierVersion
        )));
        assert!(!one.matches(&change(
            1,
            "organizations/soato",
            ResourceType::Organization
        )));

        let submission = "systems/x/submissions/1";
        let mut reviewed = change(1, submission, ResourceType::Submission);
        reviewed.owner = Some("soliq".into());
        reviewed.reviewers = vec!["csec".into(), "mitc".into()];
        let of = |owner: Option<&str>, reviewer: Option<&str>| ChangeSelection {
            owner: owner.map(str::to_string),
            reviewer: reviewer.map(str::to_string),
            ..ChangeSelection::default()
        };
        assert!(of(Some("soliq"), None).matches(&reviewed));
        assert!(!of(Some("stat"), None).matches(&reviewed));
        assert!(of(None, Some("mitc")).matches(&reviewed));
        assert!(of(Some("soliq"), Some("csec")).matches(&reviewed));
        assert!(
            !of(None, Some("mit")).matches(&reviewed),
            "a whole id, not a prefix"
        );
        assert!(
            !of(Some("soliq"), None).matches(&change(1, "tokens/t", ResourceType::Token)),
            "an operator token has no owner"
        );
        assert_eq!(reviewers_column(&reviewed.reviewers), ",csec,mitc,");
        assert_eq!(reviewers_column(&[]), "");
    }
}
