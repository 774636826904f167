//! `reestr upload` and `reestr download`: the documents of submissions, streamed in chunks
//! with a progress bar, and resumed when a connection breaks.
//!
//! - An upload is named by an id derived from what it uploads (the submission, the document,
//!   the file's metadata, SHA-256 and size). So the command's own retry after a broken stream,
//!   and the same command run again after it was interrupted, continue from the bytes the
//!   server kept (GetUpload's `committed_size`) instead of sending them again. An upload that
//!   completed is gone from the server; running the command again then makes the document's
//!   next version.
//! - A download goes to `FILE.part`, continues from the bytes written after a broken stream
//!   (pinned to the version the first stream sent, so a version uploaded meanwhile never mixes
//!   in), checks the SHA-256 of the whole file against the document's, and only then renames
//!   the file into place: a `FILE` that exists is always whole and verified.
//!
//! A broken connection (UNAVAILABLE, CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, or no connection)
//! is retried up to [`ATTEMPTS`] times in all, a second more patient each time; any other status
//! ends the command with that status.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use tonic::{Code, Status};

use super::{Authed, BYTES_BAR, Target, describe, progress_bar};
use crate::proto::v1 as pb;
use crate::proto::v1::document_service_client::DocumentServiceClient;

/// Bytes per `data` message of an upload: the size the API recommends (64 KiB to 1 MiB).
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Streams a command opens for one transfer before it gives up on a connection that keeps
/// breaking.
pub const ATTEMPTS: u32 = 5;

/// What `reestr upload` uploads, besides the file.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    /// The submission, `systems/{system}/submissions/{submission}`.
    pub submission: String,
    /// The document's id within the submission, e.g. `technical-assignment`.
    pub document_id: String,
    /// What the document is.
    pub document_type: pb::DocumentType,
    /// The media type; `None` to take it from the file's extension ([`media_type_of`]).
    pub media_type: Option<String>,
    /// Readable only by the submission's parties.
    pub restricted: bool,
}

/// The media type of a file of the kinds the register takes by default, from its extension.
pub fn media_type_of(path: &Path) -> Option<&'static str> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match extension.as_str() {
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "txt" => "text/plain",
        _ => return None,
    })
}

/// Whether a status means the connection broke, so that the transfer may go on over a new one.
fn broken(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Cancelled | Code::Unknown | Code::DeadlineExceeded
    )
}

/// How one attempt of a transfer ended, when it did not finish it.
enum Interrupted {
    /// The connection broke: try again.
    Broken(String),
    /// Anything else: give up.
    Failed(String),
}

impl From<Status> for Interrupted {
    fn from(status: Status) -> Self {
        if broken(&status) {
            Interrupted::Broken(describe(&status))
        } else {
            Interrupted::Failed(describe(&status))
        }
    }
}

/// The breaks of one transfer so far.
#[derive(Default)]
struct Retries {
    breaks: u32,
}

impl Retries {
    /// After an attempt was `interrupted`: waits a second longer than last time and says to
    /// try again, or gives the reason to give up (a failure, or [`ATTEMPTS`] breaks).
    async fn after(&mut self, interrupted: Interrupted) -> Result<(), String> {
        match interrupted {
            Interrupted::Failed(why) => Err(why),
            Interrupted::Broken(why) => {
                self.breaks += 1;
                if self.breaks >= ATTEMPTS {
                    return Err(format!("gave up after {ATTEMPTS} broken streams: {why}"));
                }
                tracing::warn!(breaks = self.breaks, %why, "the stream broke; resuming");
                tokio::time::sleep(Duration::from_secs(u64::from(self.breaks))).await;
                Ok(())
            }
        }
    }
}

/// A client, or [`Interrupted::Broken`] when the server cannot be reached.
async fn client(target: &Target) -> Result<DocumentServiceClient<Authed>, Interrupted> {
    target.documents().await.map_err(Interrupted::Broken)
}

/// The SHA-256 (lowercase hex) and size of the file at `path`, read once.
pub async fn digest_of(path: &Path, progress: bool) -> Result<(String, u64), String> {
    let shown = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = tokio::fs::File::open(path).await.map_err(shown)?;
    let size = file.metadata().await.map_err(shown)?.len();
    let bar = progress_bar(size, BYTES_BAR, progress)?;
    bar.set_message("hashing");
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).await.map_err(shown)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok((hex::encode(hasher.finalize()), size))
}

/// The upload id of `document` (its metadata complete) into `request.submission`: a UUID made
/// from all of it, so the same upload gets the same id in every run.
pub fn upload_id(request: &UploadRequest, document: &pb::Document) -> String {
    let mut h = Sha256::new();
    for part in [
        "reestr upload",
        &request.submission,
        &request.document_id,
        &document.file_name,
        &document.media_type,
        &document.sha256,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(document.document_type.to_be_bytes());
    h.update(document.size_bytes.to_be_bytes());
    h.update([u8::from(document.restricted)]);
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Uploads the file at `path` as the next version of `request.document_id`; returns the new
/// version. Shows progress on standard error when `progress` is set.
pub async fn upload_file(
    target: &Target,
    path: &Path,
    request: &UploadRequest,
    progress: bool,
) -> Result<pb::Document, String> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: not a file name in UTF-8", path.display()))?
        .to_string();
    let media_type = match &request.media_type {
        Some(t) => t.clone(),
        None => media_type_of(path)
            .ok_or_else(|| {
                format!(
                    "{}: cannot tell the media type from the extension; pass --media-type",
                    path.display()
                )
            })?
            .to_string(),
    };
    let (sha256, size) = digest_of(path, progress).await?;
    let document = pb::Document {
        document_type: request.document_type as i32,
        file_name,
        media_type,
        size_bytes: i64::try_from(size).map_err(|_| "the file is too large".to_string())?,
        sha256,
        restricted: request.restricted,
        ..Default::default()
    };
    let id = upload_id(request, &document);
    let upload_name = format!("{}/uploads/{id}", request.submission);
    let bar = progress_bar(size, BYTES_BAR, progress)?;
    bar.set_message("uploading");
    let start = pb::UploadStart {
        parent: request.submission.clone(),
        document_id: request.document_id.clone(),
        upload_id: id,
        document: Some(document),
        offset: 0,
    };
    let mut retries = Retries::default();
    let uploaded = loop {
        let attempt = async {
            let mut client = client(target).await?;
            let committed = match client
                .get_upload(pb::GetUploadRequest {
                    name: upload_name.clone(),
                })
                .await
            {
                Ok(upload) => upload.into_inner().committed_size,
                Err(s) if s.code() == Code::NotFound => 0,
                Err(s) => return Err(s.into()),
            };
            bar.set_position(u64::try_from(committed).unwrap_or_default());
            let response = send_from(&mut client, path, start.clone(), committed, &bar).await?;
            response
                .document
                .ok_or_else(|| Interrupted::Broken("the stream ended before the last byte".into()))
        };
        match attempt.await {
            Ok(document) => break Ok(document),
            Err(interrupted) => {
                if let Err(why) = retries.after(interrupted).await {
                    break Err(why);
                }
            }
        }
    };
    bar.finish_and_clear();
    uploaded
}

/// One UploadDocument stream: `start` at `offset`, then the file from `offset` on.
async fn send_from(
    client: &mut DocumentServiceClient<Authed>,
    path: &Path,
    mut start: pb::UploadStart,
    offset: i64,
    bar: &indicatif::ProgressBar,
) -> Result<pb::UploadDocumentResponse, Interrupted> {
    let failed = |e: std::io::Error| Interrupted::Failed(format!("{}: {e}", path.display()));
    let mut file = tokio::fs::File::open(path).await.map_err(failed)?;
    file.seek(std::io::SeekFrom::Start(
        u64::try_from(offset).unwrap_or_default(),
    ))
    .await
    .map_err(failed)?;
    start.offset = offset;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadDocumentRequest>(4);
    let first = pb::UploadDocumentRequest {
        message: Some(pb::upload_document_request::Message::Start(start)),
    };
    let path_shown = path.display().to_string();
    let bar = bar.clone();
    // The file is read ahead of the network by a few chunks, never more.
    let reader = tokio::spawn(async move {
        if tx.send(first).await.is_err() {
            return Ok(());
        }
        loop {
            let mut chunk = vec![0u8; CHUNK_BYTES];
            let mut filled = 0;
            while filled < CHUNK_BYTES {
                let n = file
                    .read(&mut chunk[filled..])
                    .await
                    .map_err(|e| format!("{path_shown}: {e}"))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return Ok(());
            }
            chunk.truncate(filled);
            let message = pb::UploadDocumentRequest {
                message: Some(pb::upload_document_request::Message::Data(chunk.into())),
            };
            if tx.send(message).await.is_err() {
                return Ok(());
            }
            bar.inc(filled as u64);
        }
    });
    let response = client
        .upload_document(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    // The reader ends by itself once the stream is gone.
    match reader.await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return Err(Interrupted::Failed(why)),
        Err(e) => return Err(Interrupted::Failed(format!("the file reader failed: {e}"))),
    }
    Ok(response?.into_inner())
}

/// Where a download goes.
pub enum Destination {
    /// A file: written as `FILE.part`, renamed once whole and verified.
    File(PathBuf),
    /// Standard output: written as it arrives; verified at the end.
    Stdout,
}

/// Downloads `name` (its `version`, or the newest for 0) to `destination`; returns the version
/// downloaded. The SHA-256 of the bytes is checked against the document's.
pub async fn download_file(
    target: &Target,
    name: &str,
    version: i32,
    destination: &Destination,
    progress: bool,
) -> Result<pb::Document, String> {
    let (mut out, partial): (
        Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
        Option<PathBuf>,
    ) = match destination {
        Destination::File(path) => {
            let mut partial = path.clone().into_os_string();
            partial.push(".part");
            let partial = PathBuf::from(partial);
            let file = tokio::fs::File::create(&partial)
                .await
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            (
                Box::new(tokio::io::BufWriter::with_capacity(1 << 20, file)),
                Some(partial),
            )
        }
        Destination::Stdout => (Box::new(tokio::io::stdout()), None),
    };
    let mut state = Download {
        version,
        document: None,
        written: 0,
        hasher: Sha256::new(),
        bar: progress_bar(0, BYTES_BAR, progress)?,
    };
    state.bar.set_message("downloading");
    let mut retries = Retries::default();
    let result = loop {
        match state.attempt(target, name, &mut *out).await {
            Ok(()) => break Ok(()),
            Err(interrupted) => {
                if let Err(why) = retries.after(interrupted).await {
                    break Err(why);
                }
            }
        }
    };
    state.bar.finish_and_clear();
    let verified = result.and_then(|()| state.verified());
    let flushed = async {
        out.flush().await?;
        out.shutdown().await
    }
    .await
    .map_err(|e| format!("writing the download: {e}"));
    let document = verified.and_then(|d| flushed.map(|()| d));
    match (destination, partial) {
        (Destination::File(path), Some(partial)) => match document {
            Ok(document) => {
                tokio::fs::rename(&partial, path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(document)
            }
            Err(why) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(why)
            }
        },
        _ => document,
    }
}

/// A download under way, across the streams it takes.
struct Download {
    /// The version asked for; once the first stream names it, that version.
    version: i32,
    /// The version being downloaded, from the first message of the first stream.
    document: Option<pb::Document>,
    /// Bytes written so far.
    written: i64,
    /// SHA-256 of the bytes written so far.
    hasher: Sha256,
    /// Progress.
    bar: indicatif::ProgressBar,
}

impl Download {
    /// One DownloadDocument stream, from the bytes written so far to the end.
    async fn attempt(
        &mut self,
        target: &Target,
        name: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<(), Interrupted> {
        if let Some(d) = &self.document
            && self.written == d.size_bytes
        {
            return Ok(());
        }
        let mut client = client(target).await?;
        let mut stream = client
            .download_document(pb::DownloadDocumentRequest {
                name: name.to_string(),
                version: self.version,
                offset: self.written,
                length: 0,
            })
            .await?
            .into_inner();
        while let Some(message) = stream.message().await? {
            if let Some(document) = message.document
                && self.document.is_none()
            {
                self.version = document.version;
                self.bar
                    .set_length(u64::try_from(document.size_bytes).unwrap_or_default());
                self.document = Some(document);
            }
            if message.offset != self.written {
                return Err(Interrupted::Failed(format!(
                    "the server sent bytes from offset {}, expected {}",
                    message.offset, self.written
                )));
            }
            out.write_all(&message.data)
                .await
                .map_err(|e| Interrupted::Failed(format!("writing the download: {e}")))?;
            self.hasher.update(&message.data);
            self.written += i64::try_from(message.data.len()).unwrap_or(i64::MAX);
            self.bar
                .set_position(u64::try_from(self.written).unwrap_or_default());
        }
        match &self.document {
            Some(d) if self.written == d.size_bytes => Ok(()),
            _ => Err(Interrupted::Broken(
                "the stream ended before the last byte".into(),
            )),
        }
    }

    /// The document downloaded, once its bytes proved to be the document's.
    fn verified(&mut self) -> Result<pb::Document, String> {
        let document = self
            .document
            .take()
            .ok_or_else(|| "the server sent no document".to_string())?;
        let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if digest != document.sha256 {
            return Err(format!(
                "the {} bytes received have SHA-256 {digest}, not the document's {}: the \
                 download is discarded",
                self.written, document.sha256
            ));
        }
        Ok(document)
    }
}
