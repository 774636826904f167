//! `reestr.v1.DocumentService`: the documents of submissions, uploaded in resumable streams
//! into the document store ([`reestr_store::blob`]) and downloaded whole or by range.
//!
//! An upload runs in a task of its own, which owns the request stream: when the client goes
//! away, tonic drops the handler, but the task still sees the stream break, keeps the bytes
//! received (the segment is finished and its size recorded) and ends. That is what makes an
//! interrupted upload resumable from its committed offset. Expired uploads are swept when a
//! new upload begins.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reestr_domain::access::Action;
use reestr_domain::error::{Error, Violations};
use reestr_domain::organization::OrganizationId;
use reestr_domain::request_id::RequestId;
use reestr_domain::submission::{
    Document, DocumentDraft, DocumentId, DocumentType, SubmissionName, Upload,
};
use reestr_store::Store;
use reestr_store::blob::Blobs;
use sha2::{Digest, Sha256};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::call::{Call, CallInfo, RequestEnd};
use super::error::status;
use super::{ReadyStore, choice, list, number, timestamp};
use crate::proto::v1 as pb;
use crate::proto::v1::document_service_server::DocumentService;

/// Largest `data` chunk of an upload.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;

/// How long an upload stream may go without a message.
const UPLOAD_IDLE: Duration = Duration::from_secs(60);

/// How many expired uploads one new upload sweeps.
const SWEEP: u64 = 8;

/// The media types documents may have unless the server is configured otherwise.
pub const DEFAULT_MEDIA_TYPES: [&str; 9] = [
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
    "application/zip",
    "image/png",
    "image/jpeg",
    "text/plain",
];

/// How the register keeps documents (server configuration).
#[derive(Debug, Clone)]
pub struct DocumentSettings {
    /// Where the content is: `None` for `{data_dir}/documents`, else a `file://` or `s3://`
    /// URL ([`Blobs::open`]).
    pub store_url: Option<String>,
    /// Largest document, in bytes.
    pub max_bytes: u64,
    /// The media types a document may have.
    pub media_types: Vec<String>,
    /// How long an unfinished upload is kept.
    pub upload_lifetime: Duration,
}

impl Default for DocumentSettings {
    fn default() -> Self {
        Self {
            store_url: None,
            max_bytes: 100 * 1024 * 1024,
            media_types: DEFAULT_MEDIA_TYPES
                .iter()
                .map(|t| (*t).to_string())
                .collect(),
            upload_lifetime: Duration::from_secs(24 * 3600),
        }
    }
}

/// The document service.
#[derive(Debug, Clone)]
pub struct DocumentApi {
    store: ReadyStore,
    blobs: Blobs,
    settings: Arc<DocumentSettings>,
}

fn type_name(v: i32) -> Option<&'static str> {
    pb::DocumentType::try_from(v).ok().map(|t| t.as_str_name())
}

fn type_number(t: DocumentType) -> i32 {
    number(t, |n| pb::DocumentType::from_str_name(n).map(|t| t as i32))
}

fn size(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_proto(d: &Document) -> pb::Document {
    pb::Document {
        name: d.name(),
        document_type: type_number(d.spec.document_type),
        file_name: d.spec.file_name.clone(),
        media_type: d.spec.media_type.clone(),
        size_bytes: size(d.spec.size_bytes),
        sha256: d.spec.sha256.clone(),
        version: i32::try_from(d.version).unwrap_or(i32::MAX),
        restricted: d.spec.restricted,
        uploader: d.caller.clone(),
        create_time: Some(timestamp(d.create_time)),
    }
}

fn upload_to_proto(u: &Upload) -> pb::Upload {
    pb::Upload {
        name: u.name(),
        document: format!(
            "{}/{}/{}",
            u.submission.name(),
            reestr_domain::submission::document::COLLECTION,
            u.document.as_str()
        ),
        metadata: Some(pb::Document {
            document_type: type_number(u.spec.document_type),
            file_name: u.spec.file_name.clone(),
            media_type: u.spec.media_type.clone(),
            size_bytes: size(u.spec.size_bytes),
            sha256: u.spec.sha256.clone(),
            restricted: u.spec.restricted,
            ..Default::default()
        }),
        committed_size: size(u.committed_size),
        create_time: Some(timestamp(u.create_time)),
        expire_time: Some(timestamp(u.expire_time)),
    }
}

/// `{submission}/{collection}/{id}`, split.
fn child_name(
    name: &str,
    collection: &str,
    field: &str,
) -> Result<(SubmissionName, String), Error> {
    let bad = || {
        Error::invalid(
            field,
            format!("must be systems/{{system}}/submissions/{{submission}}/{collection}/{{id}}"),
        )
    };
    let (parent, id) = name.rsplit_once('/').ok_or_else(bad)?;
    let parent = parent
        .strip_suffix(&format!("/{collection}"))
        .ok_or_else(bad)?;
    let submission = SubmissionName::from_name(parent, field).map_err(|_| bad())?;
    Ok((submission, id.to_string()))
}

fn document_name(name: &str, field: &str) -> Result<(SubmissionName, DocumentId), Error> {
    let (submission, id) =
        child_name(name, reestr_domain::submission::document::COLLECTION, field)?;
    Ok((submission, DocumentId::parse(&id, field)?))
}

fn version(v: i32) -> Result<Option<u32>, Error> {
    match u32::try_from(v) {
        Ok(0) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(_) => Err(Error::invalid(
            "version",
            "must be 0 (the newest) or a version",
        )),
    }
}

/// May `call` write the documents of submissions owned by `owner`?
fn authorize_owner(call: &Call, owner: &OrganizationId) -> Result<(), Error> {
    call.authorize(Action::WriteOwned { owner })
}

impl DocumentApi {
    /// A service over the store and the document store.
    pub fn new(store: ReadyStore, blobs: Blobs, settings: DocumentSettings) -> Self {
        Self {
            store,
            blobs,
            settings: Arc::new(settings),
        }
    }

    /// A document version a caller may read: NOT_FOUND, then, for a restricted one,
    /// PERMISSION_DENIED for a caller that is not one of the submission's parties.
    async fn readable(
        &self,
        store: &Store,
        call: &Call,
        name: &str,
        version_number: i32,
    ) -> Result<Document, Error> {
        call.authorize(Action::ReadRegister)?;
        let (submission, id) = document_name(name, "name")?;
        let document = store
            .submissions()
            .document(&submission, &id, version(version_number)?)
            .await?;
        if document.spec.restricted {
            let s = store.submissions().get(&submission).await?;
            call.authorize(Action::Participate {
                owner: &s.owner,
                reviewers: &s.spec.required_reviewers,
            })?;
        }
        Ok(document)
    }
}

/// What one UploadDocument stream does, in its own task (see the module documentation).
struct UploadRun {
    store: Store,
    blobs: Blobs,
    settings: Arc<DocumentSettings>,
    call: Call,
    stream: Streaming<pb::UploadDocumentRequest>,
    end: Option<RequestEnd>,
    /// Told the submission `start` names, as soon as it arrives: the audit record's resource.
    named: Option<tokio::sync::oneshot::Sender<String>>,
}

/// How a stream's next message came.
enum Next {
    Message(Box<pb::UploadDocumentRequest>),
    /// The client ended the stream.
    End,
    /// The stream broke off, or the client went away.
    Broken,
}

impl UploadRun {
    async fn next(&mut self) -> Result<Next, Error> {
        match tokio::time::timeout(UPLOAD_IDLE, self.stream.message()).await {
            Err(_) => Err(Error::invalid(
                "stream",
                format!(
                    "no message arrived for {} s; what arrived before is kept (GetUpload)",
                    UPLOAD_IDLE.as_secs()
                ),
            )),
            Ok(Ok(Some(m))) => Ok(Next::Message(Box::new(m))),
            Ok(Ok(None)) if self.end.as_ref().is_none_or(RequestEnd::ended_by_client) => {
                Ok(Next::End)
            }
            Ok(Ok(None)) => Ok(Next::Broken),
            Ok(Err(s)) => match super::error::request_refusal(&s, MAX_CHUNK_BYTES * 2) {
                Some(refusal) => Err(refusal),
                None => Ok(Next::Broken),
            },
        }
    }

    /// The upload `start` asks for, checked and begun (or found, to resume).
    async fn begin(&self, start: pb::UploadStart) -> Result<(Upload, i64), Error> {
        self.call.authorize(Action::WriteResources)?;
        let mut v = Violations::new();
        let submission = v.check(SubmissionName::from_name(&start.parent, "start.parent"));
        let document = v.check(DocumentId::parse(&start.document_id, "start.document_id"));
        v.check(RequestId::parse(&start.upload_id, "start.upload_id"));
        let spec = match &start.document {
            Some(d) => DocumentDraft {
                document_type: choice(d.document_type, type_name),
                file_name: d.file_name.clone(),
                media_type: d.media_type.clone(),
                size_bytes: d.size_bytes,
                sha256: d.sha256.clone(),
                restricted: d.restricted,
            }
            .validate_into("start.document", &mut v),
            None => {
                v.add("start.document", "is required");
                None
            }
        };
        if let Some(spec) = &spec
            && !self.settings.media_types.contains(&spec.media_type)
        {
            v.add(
                "start.document.media_type",
                format!(
                    "{} is not an allowed media type; allowed: {}",
                    spec.media_type,
                    self.settings.media_types.join(", ")
                ),
            );
        }
        if start.offset < 0 {
            v.add("start.offset", "must not be negative");
        }
        v.into_result()?;
        let (Some(submission), Some(document), Some(spec)) = (submission, document, spec) else {
            return Err(Error::Internal("validated values missing".into()));
        };
        if spec.size_bytes > self.settings.max_bytes {
            return Err(Error::MessageTooLarge {
                part: "document",
                limit_bytes: self.settings.max_bytes,
            });
        }
        let repo = self.store.submissions();
        for expired in repo.expired_uploads(self.store.now(), SWEEP).await? {
            self.blobs.discard(&expired).await?;
            repo.drop_upload(&self.call.ctx, &expired).await?;
        }
        let upload_id = start.upload_id.to_ascii_lowercase();
        let upload = repo
            .begin_upload(
                &self.call.ctx,
                &submission,
                &upload_id,
                &document,
                &spec,
                self.settings.upload_lifetime,
                |s| authorize_owner(&self.call, &s.owner),
            )
            .await?;
        Ok((upload, start.offset))
    }

    async fn run(mut self) -> Result<pb::UploadDocumentResponse, Error> {
        let start = match self.next().await? {
            Next::Message(m) => match m.message {
                Some(pb::upload_document_request::Message::Start(start)) => start,
                _ => {
                    return Err(Error::invalid(
                        "start",
                        "the first message must be `start`, naming what is uploaded",
                    ));
                }
            },
            Next::End | Next::Broken => {
                return Err(Error::invalid("start", "the stream ended before `start`"));
            }
        };
        if let Some(named) = self.named.take() {
            let _ = named.send(start.parent.clone());
        }
        let (mut upload, offset) = self.begin(start).await?;
        let committed = upload.committed_size;
        if u64::try_from(offset).ok() != Some(committed) {
            return Err(Error::invalid(
                "start.offset",
                format!("the upload has {committed} bytes: continue from offset {committed}"),
            ));
        }
        let declared = upload.spec.size_bytes;
        let mut hasher = if committed > 0 {
            self.blobs
                .rehash(&upload.id, &upload.segments, committed)
                .await?
        } else {
            Sha256::new()
        };
        let mut received = committed;
        let mut failure = None;
        if received < declared {
            let mut writer = self.blobs.segment(&upload.id, committed)?;
            loop {
                let data = match self.next().await {
                    Ok(Next::Message(m)) => match m.message {
                        Some(pb::upload_document_request::Message::Data(data)) => data,
                        _ => {
                            failure = Some(Error::invalid(
                                "data",
                                "after `start`, every message carries `data`",
                            ));
                            break;
                        }
                    },
                    Ok(Next::End) => break,
                    Ok(Next::Broken) => {
                        failure = Some(Error::Cancelled);
                        break;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                };
                if data.len() > MAX_CHUNK_BYTES {
                    failure = Some(Error::invalid(
                        "data",
                        format!("a chunk may hold at most {MAX_CHUNK_BYTES} bytes"),
                    ));
                    break;
                }
                let len = data.len() as u64;
                if received + len > declared {
                    failure = Some(Error::invalid(
                        "data",
                        format!(
                            "more bytes than the declared size_bytes {declared}: the stream \
                             passed it at byte {}",
                            received + len
                        ),
                    ));
                    break;
                }
                hasher.update(&data);
                if let Err(e) = writer.write(data).await {
                    failure = Some(e);
                    break;
                }
                received += len;
            }
            // What arrived is kept, whatever ended the stream: an upload resumes from it.
            let kept = writer.finish().await?;
            if kept > 0 {
                self.store
                    .submissions()
                    .record_segment(&self.call.ctx, &upload.id, committed, committed + kept)
                    .await?;
                upload.segments.retain(|s| *s < committed);
                upload.segments.push(committed);
            }
            upload.committed_size = committed + kept;
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        if upload.committed_size < declared {
            return Ok(pb::UploadDocumentResponse {
                upload: Some(upload_to_proto(&upload)),
                document: None,
            });
        }
        let digest = hex::encode(hasher.finalize());
        if digest != upload.spec.sha256 {
            self.blobs.discard(&upload.id).await?;
            self.store
                .submissions()
                .drop_upload(&self.call.ctx, &upload.id)
                .await?;
            return Err(Error::invalid(
                "start.document.sha256",
                format!(
                    "the {declared} bytes received have SHA-256 {digest}, not the declared one; \
                     nothing was kept: upload again"
                ),
            ));
        }
        self.blobs
            .commit(&upload.id, &upload.segments, declared, &digest)
            .await?;
        let document = self
            .store
            .submissions()
            .complete_upload(&self.call.ctx, &upload.submission, &upload.id, |s| {
                authorize_owner(&self.call, &s.owner)
            })
            .await?;
        Ok(pb::UploadDocumentResponse {
            upload: Some(upload_to_proto(&upload)),
            document: Some(to_proto(&document)),
        })
    }
}

/// The stream DownloadDocument answers with.
pub type DownloadStream =
    Pin<Box<dyn Stream<Item = Result<pb::DownloadDocumentResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl DocumentService for DocumentApi {
    #[tracing::instrument(skip_all)]
    async fn upload_document(
        &self,
        request: Request<Streaming<pb::UploadDocumentRequest>>,
    ) -> Result<Response<pb::UploadDocumentResponse>, Status> {
        let store = self.store.get()?.clone();
        let call = Call::of(&request);
        let end = request
            .extensions()
            .get::<CallInfo>()
            .map(|i| i.end.clone());
        // Audited under the submission once `start` names it; `uploads` until then.
        let mut audit = call.audit(&store, "uploads");
        let (named, submission) = tokio::sync::oneshot::channel();
        let run = UploadRun {
            store,
            blobs: self.blobs.clone(),
            settings: self.settings.clone(),
            call,
            stream: request.into_inner(),
            end,
            named: Some(named),
        };
        // The task outlives this handler when the client goes away (see the module docs).
        let task = tokio::spawn(run.run());
        // Answered when `start` arrives, or dropped when the task ends without one.
        if let Ok(submission) = submission.await {
            audit.set_resource(&submission);
        }
        let result = match task.await {
            Ok(result) => result,
            Err(e) => Err(Error::Internal(format!("upload task: {e}"))),
        };
        audit.finish(result).await.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_upload(
        &self,
        request: Request<pb::GetUploadRequest>,
    ) -> Result<Response<pb::Upload>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let (submission, id) = child_name(
                &request.get_ref().name,
                reestr_domain::submission::document::UPLOADS,
                "name",
            )?;
            let s = store.submissions().get(&submission).await?;
            authorize_owner(&call, &s.owner)?;
            store
                .submissions()
                .upload(&submission, &id.to_ascii_lowercase())
                .await
        }
        .await;
        Call::read(result).map(|u| Response::new(upload_to_proto(&u)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::Document>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let r = request.get_ref();
        let result = self.readable(store, &call, &r.name, r.version).await;
        Call::read(result).map(|d| Response::new(to_proto(&d)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_documents(
        &self,
        request: Request<pb::ListDocumentsRequest>,
    ) -> Result<Response<pb::ListDocumentsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListDocumentsRequest {
            parent,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let name = SubmissionName::from_name(&parent, "parent")?;
            let s = store.submissions().get(&name).await?;
            call.authorize(Action::Participate {
                owner: &s.owner,
                reviewers: &s.spec.required_reviewers,
            })?;
            let query = list::query(
                page_size,
                page_token,
                Ok(name),
                Ok(Vec::new()),
                false,
                &["documents", &parent],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store
                    .submissions()
                    .documents(&query)
                    .await?
                    .map(|d| to_proto(&d)))
            })
            .await
        }
        .await;
        let list::Listed {
            items: documents,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListDocumentsResponse {
            documents,
            next_page_token,
            revision,
        }))
    }

    type DownloadDocumentStream = DownloadStream;

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn download_document(
        &self,
        request: Request<pb::DownloadDocumentRequest>,
    ) -> Result<Response<DownloadStream>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::DownloadDocumentRequest {
            name,
            version,
            offset,
            length,
        } = request.into_inner();
        let result = async {
            let document = self.readable(store, &call, &name, version).await?;
            let total = document.spec.size_bytes;
            let start = u64::try_from(offset)
                .ok()
                .filter(|o| *o < total)
                .ok_or_else(|| {
                    Error::invalid(
                        "offset",
                        format!("must be 0 to {} (the size less 1)", total - 1),
                    )
                })?;
            let length = u64::try_from(length)
                .map_err(|_| Error::invalid("length", "must not be negative"))?;
            let end = if length == 0 {
                total
            } else {
                start.saturating_add(length).min(total)
            };
            let bytes = self.blobs.read(&document.spec.sha256, start..end).await?;
            Ok((document, start, bytes))
        }
        .await;
        let (document, start, bytes) = Call::read(result)?;
        let mut first = Some(to_proto(&document));
        let mut at = start;
        let stream = bytes.map(move |chunk| match chunk {
            Ok(data) => {
                let offset = size(at);
                at += data.len() as u64;
                Ok(pb::DownloadDocumentResponse {
                    document: first.take(),
                    offset,
                    data,
                })
            }
            Err(e) => Err(status(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
