//! Remarks and comments. Each is written in the transaction of its submission's row (locked
//! on PostgreSQL, writers serialised on SQLite), so that the numbers of a submission's remarks
//! and comments, like its timeline events, follow one another without gaps; each write adds
//! its timeline event and commits with its audit event. The submission itself does not change:
//! its etag stays as it is.

use reestr_domain::Error;
use reestr_domain::audit::{FieldChange, diff_fields};
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey};
use reestr_domain::query::Predicate;
use reestr_domain::revision::Revisioned;
use reestr_domain::submission::{
    Comment, CommentSpec, EventKind, NumberedName, Remark, RemarkCondition, RemarkSpec,
    RemarkState, Submission, SubmissionName, can_open, can_resolve, comment, remark,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use serde_json::json;

use super::stored::{round_column, round_of};
use super::{SubmissionRepo, append_event, key, live_for_update};
use crate::audit::AuditContext;
use crate::entity::submission_comment as comment_row;
use crate::entity::submission_remark as remark_row;
use crate::filter_sql::{self, SqlLeaf};
use crate::idempotency::{self, Created, Idempotency, Outcome};
use crate::{db_err, keyset};

/// What a ListRemarks selects: the remarks of one submission, filtered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemarkSelection {
    /// The submission.
    pub submission: SubmissionName,
    /// The typed filter ([`reestr_domain::submission::compile_remark_filter`]).
    pub filter: Option<Predicate<RemarkCondition>>,
}

/// A list of remarks, in the order they were opened.
pub type RemarkQuery = ListQuery<RemarkSelection>;

/// A list of a submission's comments, oldest first.
pub type CommentQuery = ListQuery<SubmissionName>;

fn number_column(n: u32) -> Result<i32, Error> {
    i32::try_from(n).map_err(|_| Error::Internal(format!("number {n} overflows")))
}

fn number_of(what: &str, n: i32) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| Error::Internal(format!("{what}: bad number {n}")))
}

/// The next number of `table`'s rows of `name` (1 for the first), in the transaction that
/// holds the submission's row.
async fn next_number<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    name: &SubmissionName,
    system: E::Column,
    submission: E::Column,
    number: E::Column,
) -> Result<u32, Error> {
    let last: Option<Option<i32>> = E::find()
        .select_only()
        .column_as(number.max(), "last")
        .filter(system.eq(name.system.as_str()))
        .filter(submission.eq(name.submission.as_str()))
        .into_tuple()
        .one(conn)
        .await
        .map_err(db_err)?;
    let last = last.flatten().unwrap_or(0);
    number_of("last number", last)?
        .checked_add(1)
        .ok_or_else(|| Error::Internal(format!("{name}: numbers exhausted")))
}

fn remark_from_row(m: remark_row::Model) -> Result<Remark, Error> {
    let submission = super::stored::name_of(m.system_id, m.submission_id);
    let name = NumberedName {
        submission,
        collection: remark::COLLECTION,
        number: number_of("remark", m.number)?,
    };
    let what = name.name();
    Ok(Remark {
        reviewer: OrganizationId::from_trusted(m.reviewer_id),
        round: round_of(&what, m.round)?,
        document_version: number_of(&what, m.document_version)?,
        spec: RemarkSpec {
            document: reestr_domain::submission::DocumentId::from_trusted(m.document_id),
            location: m.location,
            normative_reference: m.normative_reference,
            text: m.text,
        },
        state: m
            .state
            .parse()
            .map_err(|()| Error::Internal(format!("{what}: bad state {:?}", m.state)))?,
        resolution: m.resolution,
        creator: m.creator,
        create_time: reestr_domain::time::Timestamp::from_micros(m.create_time),
        resolve_time: m
            .resolve_time
            .map(reestr_domain::time::Timestamp::from_micros),
        revision: m.revision,
        name,
    })
}

fn remark_to_active(r: &Remark) -> Result<remark_row::ActiveModel, Error> {
    let (system, submission) = key(&r.name.submission);
    Ok(remark_row::ActiveModel {
        system_id: Set(system),
        submission_id: Set(submission),
        number: Set(number_column(r.name.number)?),
        reviewer_id: Set(r.reviewer.as_str().to_string()),
        round: Set(round_column(r.round)?),
        document_id: Set(r.spec.document.as_str().to_string()),
        document_version: Set(number_column(r.document_version)?),
        location: Set(r.spec.location.clone()),
        normative_reference: Set(r.spec.normative_reference.clone()),
        text: Set(r.spec.text.clone()),
        state: Set(r.state.as_str().to_string()),
        resolution: Set(r.resolution.clone()),
        creator: Set(r.creator.clone()),
        create_time: Set(r.create_time.micros()),
        resolve_time: Set(r.resolve_time.map(|t| t.micros())),
        revision: Set(r.revision),
    })
}

fn comment_from_row(m: comment_row::Model) -> Result<Comment, Error> {
    let submission = super::stored::name_of(m.system_id, m.submission_id);
    let name = NumberedName {
        submission,
        collection: comment::COLLECTION,
        number: number_of("comment", m.number)?,
    };
    let what = name.name();
    Ok(Comment {
        author: m.author_id.map(OrganizationId::from_trusted),
        creator: m.creator,
        round: round_of(&what, m.round)?,
        spec: CommentSpec {
            text: m.text,
            remark: m.remark_number.map(|n| number_of(&what, n)).transpose()?,
            document: m
                .document_id
                .map(reestr_domain::submission::DocumentId::from_trusted),
        },
        create_time: reestr_domain::time::Timestamp::from_micros(m.create_time),
        name,
    })
}

fn comment_to_active(c: &Comment) -> Result<comment_row::ActiveModel, Error> {
    let (system, submission) = key(&c.name.submission);
    Ok(comment_row::ActiveModel {
        system_id: Set(system),
        submission_id: Set(submission),
        number: Set(number_column(c.name.number)?),
        author_id: Set(c.author.as_ref().map(|o| o.as_str().to_string())),
        creator: Set(c.creator.clone()),
        round: Set(round_column(c.round)?),
        text: Set(c.spec.text.clone()),
        remark_number: Set(c.spec.remark.map(number_column).transpose()?),
        document_id: Set(c.spec.document.as_ref().map(|d| d.as_str().to_string())),
        create_time: Set(c.create_time.micros()),
    })
}

/// The remark `name` as `conn` sees it.
async fn find_remark(conn: &impl ConnectionTrait, name: &NumberedName) -> Result<Remark, Error> {
    let (system, submission) = key(&name.submission);
    remark_row::Entity::find_by_id((system, submission, number_column(name.number)?))
        .one(conn)
        .await
        .map_err(db_err)?
        .map(remark_from_row)
        .transpose()?
        .ok_or_else(|| Error::NotFound {
            resource: name.name(),
        })
}

impl SqlLeaf for RemarkCondition {
    fn condition(&self) -> Condition {
        use remark_row::Column;
        match self {
            RemarkCondition::State(eq, s) => filter_sql::equals(Column::State, *eq, s.as_str()),
            RemarkCondition::Reviewer(eq, o) => {
                filter_sql::equals(Column::ReviewerId, *eq, o.as_str())
            }
            RemarkCondition::Document(eq, d) => {
                filter_sql::equals(Column::DocumentId, *eq, d.as_str())
            }
            RemarkCondition::Round(eq, r) => filter_sql::equals(Column::Round, *eq, i64::from(*r)),
        }
    }
}

impl SubmissionRepo<'_> {
    /// Opens a remark of the required reviewer `reviewer` on a document of the submission
    /// `name`, for its current round: the submission must be live and UNDER_REVIEW
    /// ([`can_open`]), `authorize` approve it, `reviewer` be one of its required reviewers
    /// (PERMISSION_DENIED otherwise) and the document exist (NOT_FOUND); the remark is on the
    /// document's newest version. With `idempotency`, a retry returns the first response.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_remark(
        &self,
        ctx: &AuditContext,
        name: &SubmissionName,
        reviewer: &OrganizationId,
        spec: RemarkSpec,
        idempotency: Option<&Idempotency>,
        encode: impl Fn(&Remark) -> Vec<u8>,
        authorize: impl FnOnce(&Submission) -> Result<(), Error>,
    ) -> Result<Outcome<Remark>, Error> {
        idempotency::create(self.store, ctx, idempotency, encode, async |write| {
            let txn = write.txn();
            let s = live_for_update(txn, name).await?;
            authorize(&s)?;
            super::lifecycle::require_reviewer(&s, reviewer, "open a remark")?;
            can_open(&name.name(), s.status.state)?;
            let document = super::documents::find_document(txn, name, &spec.document, None).await?;
            let number = next_number::<remark_row::Entity>(
                txn,
                name,
                remark_row::Column::SystemId,
                remark_row::Column::SubmissionId,
                remark_row::Column::Number,
            )
            .await?;
            let remark = Remark {
                name: NumberedName {
                    submission: name.clone(),
                    collection: remark::COLLECTION,
                    number,
                },
                reviewer: reviewer.clone(),
                round: s.status.round,
                document_version: document.version,
                spec,
                state: RemarkState::Open,
                resolution: String::new(),
                creator: write.ctx.caller.clone(),
                create_time: write.now(),
                resolve_time: None,
                revision: 1,
            };
            remark_to_active(&remark)?
                .insert(txn)
                .await
                .map_err(db_err)?;
            append_event(
                write,
                &s,
                EventKind::RemarkOpened,
                json!({
                    "remark": remark.name.name(),
                    "reviewer": reviewer.name(),
                    "document": remark.document_name(),
                    "version": remark.document_version,
                }),
            )
            .await?;
            Ok(Created {
                resource: remark.name.name(),
                changes: diff_fields(None, &remark.audit_fields()),
                value: remark,
            })
        })
        .await
    }

    /// The remark `name`, with its submission.
    pub async fn remark(&self, name: &NumberedName) -> Result<(Submission, Remark), Error> {
        let s = self.get(&name.submission).await?;
        Ok((s, find_remark(self.store.conn(), name).await?))
    }

    /// Resolves the remark `name`, after `authorize` approves it (and its submission) as they
    /// are in this transaction and `etag` (when not empty) matches it: the remark must be OPEN
    /// and its submission live and not final ([`can_resolve`]).
    pub async fn resolve_remark(
        &self,
        ctx: &AuditContext,
        name: &NumberedName,
        etag: &str,
        resolution: &str,
        authorize: impl FnOnce(&Submission, &Remark) -> Result<(), Error>,
    ) -> Result<Remark, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let s = live_for_update(txn, &name.submission).await?;
        let current = find_remark(txn, name).await?;
        authorize(&s, &current)?;
        current.check_etag(etag)?;
        let state = current.state.resolve(&name.name())?;
        can_resolve(&s.name.name(), s.status.state)?;
        let next = Remark {
            state,
            resolution: resolution.to_string(),
            resolve_time: Some(write.now()),
            revision: current.revision + 1,
            ..current.clone()
        };
        remark_row::Entity::update(remark_to_active(&next)?)
            .exec(txn)
            .await
            .map_err(db_err)?;
        append_event(
            &write,
            &s,
            EventKind::RemarkResolved,
            json!({ "remark": name.name() }),
        )
        .await?;
        let changes: Vec<FieldChange> =
            diff_fields(Some(&current.audit_fields()), &next.audit_fields());
        write.commit(&name.name(), changes).await?;
        Ok(next)
    }

    /// One page of a submission's remarks, in the order they were opened. NOT_FOUND if the
    /// submission does not exist.
    pub async fn remarks(&self, query: &RemarkQuery) -> Result<Page<Remark>, Error> {
        let s = &query.selection;
        let mut select = remark_row::Entity::find()
            .filter(remark_row::Column::SystemId.eq(s.submission.system.as_str()))
            .filter(remark_row::Column::SubmissionId.eq(s.submission.submission.as_str()));
        if let Some(filter) = &s.filter {
            select = select.filter(filter_sql::condition(filter));
        }
        keyset::page(
            self.store,
            select,
            &query.page(vec![PageKey::asc(remark_row::Column::Number, KeyKind::Int)]),
            remark_from_row,
            |r: &Remark, _| KeyValue::Int(i64::from(r.name.number)),
        )
        .await
    }

    /// Posts a comment of the caller (whose organisation is `author`) on the submission
    /// `name`: live, approved by `authorize`; the remark and the document it names must exist
    /// (NOT_FOUND). With `idempotency`, a retry returns the first response.
    #[allow(clippy::too_many_arguments)]
    pub async fn post_comment(
        &self,
        ctx: &AuditContext,
        name: &SubmissionName,
        author: Option<&OrganizationId>,
        spec: CommentSpec,
        idempotency: Option<&Idempotency>,
        encode: impl Fn(&Comment) -> Vec<u8>,
        authorize: impl FnOnce(&Submission) -> Result<(), Error>,
    ) -> Result<Outcome<Comment>, Error> {
        idempotency::create(self.store, ctx, idempotency, encode, async |write| {
            let txn = write.txn();
            let s = live_for_update(txn, name).await?;
            authorize(&s)?;
            if let Some(number) = spec.remark {
                find_remark(
                    txn,
                    &NumberedName {
                        submission: name.clone(),
                        collection: remark::COLLECTION,
                        number,
                    },
                )
                .await?;
            }
            if let Some(document) = &spec.document {
                super::documents::find_document(txn, name, document, None).await?;
            }
            let number = next_number::<comment_row::Entity>(
                txn,
                name,
                comment_row::Column::SystemId,
                comment_row::Column::SubmissionId,
                comment_row::Column::Number,
            )
            .await?;
            let comment = Comment {
                name: NumberedName {
                    submission: name.clone(),
                    collection: comment::COLLECTION,
                    number,
                },
                author: author.cloned(),
                creator: write.ctx.caller.clone(),
                round: s.status.round,
                spec,
                create_time: write.now(),
            };
            comment_to_active(&comment)?
                .insert(txn)
                .await
                .map_err(db_err)?;
            append_event(
                write,
                &s,
                EventKind::Commented,
                json!({
                    "comment": comment.name.name(),
                    "remark": comment.remark_name(),
                    "document": comment.document_name(),
                }),
            )
            .await?;
            Ok(Created {
                resource: comment.name.name(),
                changes: diff_fields(None, &comment.audit_fields()),
                value: comment,
            })
        })
        .await
    }

    /// The comment `name`, with its submission.
    pub async fn comment(&self, name: &NumberedName) -> Result<(Submission, Comment), Error> {
        let s = self.get(&name.submission).await?;
        let (system, submission) = key(&name.submission);
        let c = comment_row::Entity::find_by_id((system, submission, number_column(name.number)?))
            .one(self.store.conn())
            .await
            .map_err(db_err)?
            .map(comment_from_row)
            .transpose()?
            .ok_or_else(|| Error::NotFound {
                resource: name.name(),
            })?;
        Ok((s, c))
    }

    /// One page of a submission's comments, oldest first.
    pub async fn comments(&self, query: &CommentQuery) -> Result<Page<Comment>, Error> {
        let name = &query.selection;
        keyset::page(
            self.store,
            comment_row::Entity::find()
                .filter(comment_row::Column::SystemId.eq(name.system.as_str()))
                .filter(comment_row::Column::SubmissionId.eq(name.submission.as_str())),
            &query.page(vec![PageKey::asc(
                comment_row::Column::Number,
                KeyKind::Int,
            )]),
            comment_from_row,
            |c: &Comment, _| KeyValue::Int(i64::from(c.name.number)),
        )
        .await
    }
}
