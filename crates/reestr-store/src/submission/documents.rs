//! Documents of submissions: their versions, and the uploads that make them.
//!
//! The content is in the document store ([`crate::blob`]); these rows say what it is. An
//! upload is begun ([`SubmissionRepo::begin_upload`]), grows by the segments its streams keep
//! ([`SubmissionRepo::record_segment`]), and becomes the next version of its document
//! ([`SubmissionRepo::complete_upload`]) once its bytes are all there and checked. Documents
//! change only while the submission is a DRAFT or has changes requested, so the newest
//! version of each document is what the next round reviews, and a version, once written,
//! never changes.
//!
//! Beginning an upload and recording its segments are staging, not changes of the register:
//! they commit without an audit event. Completing it is the change, audited, with an
//! `UPLOADED` event in the submission's timeline.

use std::collections::BTreeMap;
use std::time::Duration;

use reestr_domain::Error;
use reestr_domain::audit::FieldChange;
use reestr_domain::change::ChangeKind;
use reestr_domain::error::Reason;
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey};
use reestr_domain::submission::{
    Document, DocumentId, DocumentSpec, EventKind, RoundDocument, Submission, SubmissionId,
    SubmissionName, SubmissionState, Upload,
};
use reestr_domain::system::SystemId;
use reestr_domain::time::Timestamp;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;

use super::{SubmissionRepo, commit_change, live_for_update};
use crate::audit::AuditContext;
use crate::entity::submission_document as doc_row;
use crate::entity::submission_upload as upload_row;
use crate::{db_err, keyset};

/// Version `version` of document `id` of `name`, or its newest with `None` (NOT_FOUND when
/// there is none), as `conn` (a connection or a write's transaction) sees it.
pub(super) async fn find_document(
    conn: &impl ConnectionTrait,
    name: &SubmissionName,
    id: &DocumentId,
    version: Option<u32>,
) -> Result<Document, Error> {
    let mut q = doc_row::Entity::find()
        .filter(doc_row::Column::SystemId.eq(name.system.as_str()))
        .filter(doc_row::Column::SubmissionId.eq(name.submission.as_str()))
        .filter(doc_row::Column::DocumentId.eq(id.as_str()));
    if let Some(v) = version {
        q = q.filter(doc_row::Column::Version.eq(i32::try_from(v).unwrap_or(i32::MAX)));
    }
    q.order_by(doc_row::Column::Version, Order::Desc)
        .one(conn)
        .await
        .map_err(db_err)?
        .map(document_from_row)
        .transpose()?
        .ok_or_else(|| Error::NotFound {
            resource: match version {
                Some(v) => format!("{name}/documents/{}@{v}", id.as_str()),
                None => format!("{name}/documents/{}", id.as_str()),
            },
        })
}

/// A list of a submission's documents: every version, by document id and then version.
pub type DocumentQuery = ListQuery<SubmissionName>;

fn name_of(system: String, submission: String) -> SubmissionName {
    SubmissionName {
        system: SystemId::from_trusted(system),
        submission: SubmissionId::from_trusted(submission),
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {detail}"))
}

fn spec_of(
    what: &str,
    document_type: &str,
    file_name: String,
    media_type: String,
    size_bytes: i64,
    sha256: String,
    restricted: bool,
) -> Result<DocumentSpec, Error> {
    Ok(DocumentSpec {
        document_type: document_type
            .parse()
            .map_err(|()| corrupt(what, format!("bad document type {document_type:?}")))?,
        file_name,
        media_type,
        size_bytes: u64::try_from(size_bytes).map_err(|_| corrupt(what, "negative size"))?,
        sha256,
        restricted,
    })
}

fn document_from_row(m: doc_row::Model) -> Result<Document, Error> {
    let submission = name_of(m.system_id, m.submission_id);
    let what = format!("{submission}/documents/{}", m.document_id);
    Ok(Document {
        spec: spec_of(
            &what,
            &m.document_type,
            m.file_name,
            m.media_type,
            m.size_bytes,
            m.sha256,
            m.restricted,
        )?,
        version: u32::try_from(m.version).map_err(|_| corrupt(&what, "bad version"))?,
        id: DocumentId::from_trusted(m.document_id),
        caller: m.caller,
        create_time: Timestamp::from_micros(m.create_time),
        submission,
    })
}

fn upload_from_row(m: upload_row::Model) -> Result<Upload, Error> {
    let submission = name_of(m.system_id, m.submission_id);
    let what = format!("{submission}/uploads/{}", m.upload_id);
    let segments: Vec<u64> = serde_json::from_str(&m.segments)
        .map_err(|e| corrupt(&what, format!("bad segments: {e}")))?;
    Ok(Upload {
        spec: spec_of(
            &what,
            &m.document_type,
            m.file_name,
            m.media_type,
            m.size_bytes,
            m.sha256,
            m.restricted,
        )?,
        committed_size: u64::try_from(m.committed_size)
            .map_err(|_| corrupt(&what, "negative committed size"))?,
        segments,
        id: m.upload_id,
        document: DocumentId::from_trusted(m.document_id),
        caller: m.caller,
        create_time: Timestamp::from_micros(m.create_time),
        expire_time: Timestamp::from_micros(m.expire_time),
        submission,
    })
}

fn size_column(n: u64) -> Result<i64, Error> {
    i64::try_from(n).map_err(|_| Error::Internal(format!("size {n} overflows")))
}

/// FAILED_PRECONDITION `DOCUMENTS_FROZEN` unless `s` takes documents now.
fn check_uploadable(s: &Submission) -> Result<(), Error> {
    match s.status.state {
        SubmissionState::Draft | SubmissionState::ChangesRequested => Ok(()),
        state => Err(Error::Precondition {
            reason: Reason::DocumentsFrozen,
            resource: s.name.name(),
            message: format!(
                "{} is {state}: its documents change only while it is a DRAFT or changes are \
                 requested",
                s.name
            ),
        }),
    }
}

/// The newest version of each document of `name`: what a round started now reviews.
pub(super) async fn current_documents(
    conn: &impl ConnectionTrait,
    name: &SubmissionName,
) -> Result<Vec<RoundDocument>, Error> {
    let mut newest: BTreeMap<String, Document> = BTreeMap::new();
    for m in doc_row::Entity::find()
        .filter(doc_row::Column::SystemId.eq(name.system.as_str()))
        .filter(doc_row::Column::SubmissionId.eq(name.submission.as_str()))
        .all(conn)
        .await
        .map_err(db_err)?
    {
        let d = document_from_row(m)?;
        match newest.get(d.id.as_str()) {
            Some(have) if have.version >= d.version => {}
            _ => {
                newest.insert(d.id.as_str().to_string(), d);
            }
        }
    }
    Ok(newest
        .into_values()
        .map(|d| RoundDocument {
            name: d.name(),
            version: u64::from(d.version),
            sha256: d.spec.sha256,
        })
        .collect())
}

/// The upload `upload_id` of `name`; NOT_FOUND when there is none (never begun, completed,
/// expired, or of another submission).
async fn find_upload(
    conn: &impl ConnectionTrait,
    name: &SubmissionName,
    upload_id: &str,
) -> Result<Upload, Error> {
    upload_row::Entity::find_by_id(upload_id.to_string())
        .one(conn)
        .await
        .map_err(db_err)?
        .map(upload_from_row)
        .transpose()?
        .filter(|u| u.submission == *name)
        .ok_or_else(|| Error::NotFound {
            resource: format!("{name}/uploads/{upload_id}"),
        })
}

impl SubmissionRepo<'_> {
    /// Begins the upload `upload_id` of the next version of document `document` of `name`, or
    /// returns it as it stands when it was begun before with the same document and metadata
    /// (a resumption). `authorize` approves the submission as it is in this transaction; the
    /// submission must take documents (FAILED_PRECONDITION `DOCUMENTS_FROZEN`). An id in use
    /// for another upload is INVALID_ARGUMENT. A new upload expires `lifetime` from now.
    #[allow(clippy::too_many_arguments)]
    pub async fn begin_upload(
        &self,
        ctx: &AuditContext,
        name: &SubmissionName,
        upload_id: &str,
        document: &DocumentId,
        spec: &DocumentSpec,
        lifetime: Duration,
        authorize: impl FnOnce(&Submission) -> Result<(), Error>,
    ) -> Result<Upload, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = live_for_update(txn, name).await?;
        authorize(&current)?;
        check_uploadable(&current)?;
        if let Some(existing) = upload_row::Entity::find_by_id(upload_id.to_string())
            .one(txn)
            .await
            .map_err(db_err)?
        {
            let existing = upload_from_row(existing)?;
            if existing.submission != *name
                || existing.document != *document
                || existing.spec != *spec
            {
                return Err(Error::invalid(
                    "start.upload_id",
                    "is the id of another upload (of another document, or with other \
                     metadata); choose a new id",
                ));
            }
            return Ok(existing);
        }
        let now = write.now();
        let lifetime = i64::try_from(lifetime.as_micros()).unwrap_or(i64::MAX);
        let upload = Upload {
            submission: name.clone(),
            id: upload_id.to_string(),
            document: document.clone(),
            spec: spec.clone(),
            committed_size: 0,
            segments: Vec::new(),
            caller: ctx.caller.clone(),
            create_time: now,
            expire_time: Timestamp::from_micros(now.micros().saturating_add(lifetime)),
        };
        upload_row::ActiveModel {
            upload_id: Set(upload.id.clone()),
            system_id: Set(name.system.as_str().to_string()),
            submission_id: Set(name.submission.as_str().to_string()),
            document_id: Set(document.as_str().to_string()),
            committed_size: Set(0),
            segments: Set("[]".into()),
            expire_time: Set(upload.expire_time.micros()),
            document_type: Set(spec.document_type.as_str().to_string()),
            file_name: Set(spec.file_name.clone()),
            media_type: Set(spec.media_type.clone()),
            size_bytes: Set(size_column(spec.size_bytes)?),
            sha256: Set(spec.sha256.clone()),
            restricted: Set(spec.restricted),
            caller: Set(upload.caller.clone()),
            create_time: Set(now.micros()),
        }
        .insert(txn)
        .await
        .map_err(db_err)?;
        write.commit_unaudited().await?;
        Ok(upload)
    }

    /// The upload `upload_id` of `name`. NOT_FOUND when there is none (never begun,
    /// completed, or expired).
    pub async fn upload(&self, name: &SubmissionName, upload_id: &str) -> Result<Upload, Error> {
        find_upload(self.store.conn(), name, upload_id).await
    }

    /// Records that the segment starting at `offset` holds the upload's bytes up to
    /// `committed_size`.
    pub async fn record_segment(
        &self,
        ctx: &AuditContext,
        upload_id: &str,
        offset: u64,
        committed_size: u64,
    ) -> Result<(), Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let row = upload_row::Entity::find_by_id(upload_id.to_string())
            .one(txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::NotFound {
                resource: format!("uploads/{upload_id}"),
            })?;
        let mut upload = upload_from_row(row)?;
        upload.segments.retain(|s| *s < offset);
        upload.segments.push(offset);
        upload_row::Entity::update_many()
            .col_expr(
                upload_row::Column::CommittedSize,
                sea_orm::sea_query::Expr::value(size_column(committed_size)?),
            )
            .col_expr(
                upload_row::Column::Segments,
                sea_orm::sea_query::Expr::value(
                    serde_json::to_string(&upload.segments)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                ),
            )
            .filter(upload_row::Column::UploadId.eq(upload_id))
            .exec(txn)
            .await
            .map_err(db_err)?;
        write.commit_unaudited().await
    }

    /// Makes the upload `upload_id`, whose content the document store now holds, the next
    /// version of its document, in one audited transaction with its `UPLOADED` event; the
    /// upload row goes. The submission must still take documents, and `authorize` approve it.
    pub async fn complete_upload(
        &self,
        ctx: &AuditContext,
        name: &SubmissionName,
        upload_id: &str,
        authorize: impl FnOnce(&Submission) -> Result<(), Error>,
    ) -> Result<Document, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = live_for_update(txn, name).await?;
        authorize(&current)?;
        check_uploadable(&current)?;
        let upload = find_upload(txn, name, upload_id).await?;
        let last: Option<i32> = doc_row::Entity::find()
            .select_only()
            .column(doc_row::Column::Version)
            .filter(doc_row::Column::SystemId.eq(name.system.as_str()))
            .filter(doc_row::Column::SubmissionId.eq(name.submission.as_str()))
            .filter(doc_row::Column::DocumentId.eq(upload.document.as_str()))
            .order_by(doc_row::Column::Version, Order::Desc)
            .limit(1)
            .into_tuple()
            .one(txn)
            .await
            .map_err(db_err)?;
        let version = last.unwrap_or(0) + 1;
        let now = write.now();
        let document = Document {
            submission: name.clone(),
            id: upload.document.clone(),
            version: u32::try_from(version).map_err(|_| corrupt(upload_id, "bad version"))?,
            spec: upload.spec.clone(),
            caller: ctx.caller.clone(),
            create_time: now,
        };
        let spec = &document.spec;
        doc_row::ActiveModel {
            system_id: Set(name.system.as_str().to_string()),
            submission_id: Set(name.submission.as_str().to_string()),
            document_id: Set(document.id.as_str().to_string()),
            version: Set(version),
            document_type: Set(spec.document_type.as_str().to_string()),
            file_name: Set(spec.file_name.clone()),
            media_type: Set(spec.media_type.clone()),
            size_bytes: Set(size_column(spec.size_bytes)?),
            sha256: Set(spec.sha256.clone()),
            restricted: Set(spec.restricted),
            caller: Set(document.caller.clone()),
            create_time: Set(now.micros()),
        }
        .insert(txn)
        .await
        .map_err(db_err)?;
        upload_row::Entity::delete_by_id(upload_id.to_string())
            .exec(txn)
            .await
            .map_err(db_err)?;
        let next = Submission {
            update_time: now,
            revision: current.revision + 1,
            ..current.clone()
        };
        let detail = json!({
            "document": document.name(),
            "version": document.version,
            "sha256": spec.sha256,
            "size_bytes": spec.size_bytes,
        });
        let change = FieldChange {
            field: format!("documents[{}]", document.id.as_str()),
            old: if version > 1 {
                format!("v{}", version - 1)
            } else {
                String::new()
            },
            new: format!("v{version} sha256:{}", spec.sha256),
        };
        // The change feed names the document (a new version of it) beside its submission.
        let kind = if version > 1 {
            ChangeKind::Updated
        } else {
            ChangeKind::Created
        };
        write.also_changed(document.name(), kind);
        commit_change(
            write,
            &current,
            &next,
            EventKind::Uploaded,
            detail,
            vec![change],
        )
        .await?;
        Ok(document)
    }

    /// Drops the upload row `upload_id` (its content was refused, or it expired); the caller
    /// discards its staged content.
    pub async fn drop_upload(&self, ctx: &AuditContext, upload_id: &str) -> Result<(), Error> {
        let write = self.store.write(ctx).await?;
        upload_row::Entity::delete_by_id(upload_id.to_string())
            .exec(write.txn())
            .await
            .map_err(db_err)?;
        write.commit_unaudited().await
    }

    /// Up to `limit` uploads that expired before `now`.
    pub async fn expired_uploads(&self, now: Timestamp, limit: u64) -> Result<Vec<String>, Error> {
        upload_row::Entity::find()
            .select_only()
            .column(upload_row::Column::UploadId)
            .filter(upload_row::Column::ExpireTime.lt(now.micros()))
            .limit(limit)
            .into_tuple()
            .all(self.store.conn())
            .await
            .map_err(db_err)
    }

    /// Version `version` of document `id` of `name`, or its newest with `None`.
    pub async fn document(
        &self,
        name: &SubmissionName,
        id: &DocumentId,
        version: Option<u32>,
    ) -> Result<Document, Error> {
        find_document(self.store.conn(), name, id, version).await
    }

    /// One page of the documents of a submission: every version, by document id, then
    /// version.
    pub async fn documents(&self, query: &DocumentQuery) -> Result<Page<Document>, Error> {
        let name = &query.selection;
        self.get(name).await?;
        keyset::page(
            self.store,
            doc_row::Entity::find()
                .filter(doc_row::Column::SystemId.eq(name.system.as_str()))
                .filter(doc_row::Column::SubmissionId.eq(name.submission.as_str())),
            &query.page(vec![
                PageKey::asc(doc_row::Column::DocumentId, KeyKind::Text),
                PageKey::asc(doc_row::Column::Version, KeyKind::Int),
            ]),
            document_from_row,
            |d: &Document, c| match c {
                doc_row::Column::Version => KeyValue::Int(i64::from(d.version)),
                _ => KeyValue::Text(d.id.as_str().to_string()),
            },
        )
        .await
    }
}
