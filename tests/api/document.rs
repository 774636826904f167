//! DocumentService: documents of submissions uploaded in resumable streams into the document
//! store (a directory in the test's data directory) and downloaded whole or by range.

use std::time::Duration;

use futures::StreamExt;
use reestr::proto::v1::document_service_client::DocumentServiceClient;
use reestr::proto::v1::upload_document_request::Message;
use reestr::proto::v1::{
    Decision, Document, DocumentType, DownloadDocumentRequest, GetDocumentRequest,
    GetUploadRequest, ListAuditEventsRequest, ListDocumentsRequest, Role, SubmissionKind,
    UploadDocumentRequest, UploadDocumentResponse, UploadStart, VerifyConclusionRequest,
};
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::helpers::{Authed, Bearer, TestApp, assert_status, bad_request_fields, spawn_app_with};
use crate::submission;
use crate::system;

/// A DocumentService client.
pub type Client = DocumentServiceClient<Authed>;

/// A DocumentService client calling with `secret`.
pub fn client(app: &TestApp, secret: Option<&str>) -> Client {
    DocumentServiceClient::with_interceptor(app.channel(), Bearer::new(secret))
}

/// Chunks of an upload.
pub const CHUNK: usize = 256 * 1024;

/// The `start` of an upload of `content` as document `id` of `parent`.
pub fn start(
    parent: &str,
    id: &str,
    upload_id: &str,
    content: &[u8],
    restricted: bool,
) -> UploadStart {
    UploadStart {
        parent: parent.into(),
        document_id: id.into(),
        upload_id: upload_id.into(),
        document: Some(Document {
            document_type: DocumentType::TechnicalAssignment as i32,
            file_name: format!("{id}.pdf"),
            media_type: "application/pdf".into(),
            size_bytes: content.len() as i64,
            sha256: hex::encode(Sha256::digest(content)),
            restricted,
            ..Default::default()
        }),
        offset: 0,
    }
}

/// Sends `start` and then `data` in chunks of [`CHUNK`].
pub async fn send(
    c: &mut Client,
    start: UploadStart,
    data: &[u8],
) -> Result<UploadDocumentResponse, tonic::Status> {
    let mut messages = vec![UploadDocumentRequest {
        message: Some(Message::Start(start)),
    }];
    messages.extend(data.chunks(CHUNK).map(|c| UploadDocumentRequest {
        message: Some(Message::Data(c.to_vec().into())),
    }));
    c.upload_document(futures::stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

/// Uploads `content` whole as document `id` of `parent`.
pub async fn upload(
    c: &mut Client,
    parent: &str,
    id: &str,
    content: &[u8],
    restricted: bool,
) -> Result<Document, tonic::Status> {
    let upload_id = uuid::Uuid::new_v4().to_string();
    let response = send(
        c,
        start(parent, id, &upload_id, content, restricted),
        content,
    )
    .await?;
    Ok(response
        .document
        .expect("a complete upload makes a document"))
}

/// The bytes of `name` (version 0 = newest) from `offset`, `length` (0 = to the end).
pub async fn download(
    c: &mut Client,
    name: &str,
    offset: i64,
    length: i64,
) -> Result<Vec<u8>, tonic::Status> {
    let mut stream = c
        .download_document(DownloadDocumentRequest {
            name: name.into(),
            version: 0,
            offset,
            length,
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    let mut first = true;
    while let Some(message) = stream.message().await? {
        assert_eq!(
            message.document.is_some(),
            first,
            "the document comes first, once"
        );
        assert_eq!(message.offset, offset + out.len() as i64);
        first = false;
        out.extend_from_slice(&message.data);
    }
    Ok(out)
}

/// Deterministic, incompressible-looking bytes.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// The cast of [`crate::submission`], with a CREATION draft `tz` of `e-soliq` reviewed by
/// `csec`, and document clients.
struct Docs {
    app: TestApp,
    owner: Client,
    owner_submissions: submission::Client,
    csec: Client,
    csec_submissions: submission::Client,
    outsider: Client,
    admin: Client,
}

const TZ: &str = "systems/e-soliq/submissions/tz";

async fn docs(configure: impl FnOnce(&mut reestr::server::ServerConfig)) -> Docs {
    let mut app = spawn_app_with(configure).await;
    for (id, tin) in [
        ("stat", "201234567"),
        ("csec", "202345678"),
        ("minfin", "204567890"),
    ] {
        app.create_organization(id, tin).await;
    }
    system::create(
        &mut app.admin_systems(),
        "e-soliq",
        system::system("stat", "E-SOLIQ"),
    )
    .await
    .expect("system");
    let (_, owner) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let (_, csec) = app.create_token(Some("csec"), &[Role::Reviewer]).await;
    let (_, outsider) = app.create_token(Some("minfin"), &[Role::Reader]).await;
    let mut owner_submissions = submission::client(&app, Some(&owner));
    submission::create(
        &mut owner_submissions,
        "e-soliq",
        "tz",
        submission::submission(SubmissionKind::Creation, &["csec"]),
    )
    .await
    .expect("draft");
    Docs {
        owner: client(&app, Some(&owner)),
        owner_submissions,
        csec: client(&app, Some(&csec)),
        csec_submissions: submission::client(&app, Some(&csec)),
        outsider: client(&app, Some(&outsider)),
        admin: client(&app, Some(&app.admin_secret)),
        app,
    }
}

/// Files under the document store's finished content.
fn stored_contents(app: &TestApp) -> usize {
    let root = app.data_dir.join("documents/content");
    walk(&root)
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() { walk(&p) } else { 1 }
            })
            .sum()
    })
}

#[tokio::test]
async fn an_upload_downloads_identically_whole_and_by_range_and_versions_freeze_under_review() {
    let mut d = docs(|_| {}).await;
    let bytes = content(3 * 1024 * 1024 + 123, 1);
    let v1 = upload(&mut d.owner, TZ, "tz-doc", &bytes, false)
        .await
        .expect("upload");
    assert_eq!(v1.name, format!("{TZ}/documents/tz-doc"));
    assert_eq!((v1.version, v1.size_bytes), (1, bytes.len() as i64));
    assert_eq!(v1.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(
        download(&mut d.owner, &v1.name, 0, 0).await.expect("whole"),
        bytes
    );
    let (from, len) = (1_000_000usize, 300_001usize);
    assert_eq!(
        download(&mut d.outsider, &v1.name, from as i64, len as i64)
            .await
            .expect("range"),
        bytes[from..from + len]
    );
    let tail = download(&mut d.owner, &v1.name, bytes.len() as i64 - 10, 1000)
        .await
        .expect("a range past the end stops at the end");
    assert_eq!(tail, bytes[bytes.len() - 10..]);
    let err = download(&mut d.owner, &v1.name, bytes.len() as i64, 0)
        .await
        .expect_err("offset at the end");
    assert_eq!(bad_request_fields(&err), ["offset"]);

    // The same document again is its next version; identical content is stored once.
    let second = content(1000, 2);
    let v2 = upload(&mut d.owner, TZ, "tz-doc", &second, false)
        .await
        .expect("v2");
    assert_eq!(v2.version, 2);
    upload(&mut d.owner, TZ, "copy", &second, false)
        .await
        .expect("a copy");
    assert_eq!(stored_contents(&d.app), 2, "two distinct contents");
    assert_eq!(
        download(&mut d.owner, &v1.name, 0, 0)
            .await
            .expect("newest"),
        second
    );
    let listed = d
        .owner
        .list_documents(ListDocumentsRequest {
            parent: TZ.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .documents;
    let listed: Vec<(String, i32)> = listed.into_iter().map(|d| (d.name, d.version)).collect();
    assert_eq!(
        listed,
        [
            (format!("{TZ}/documents/copy"), 1),
            (format!("{TZ}/documents/tz-doc"), 1),
            (format!("{TZ}/documents/tz-doc"), 2),
        ]
    );
    let old = d
        .owner
        .get_document(GetDocumentRequest {
            name: v1.name.clone(),
            version: 1,
        })
        .await
        .expect("version 1")
        .into_inner();
    assert_eq!(old.sha256, v1.sha256);

    // Under review, documents are frozen; the conclusion covers the round's versions.
    submission::submit(&mut d.owner_submissions, TZ)
        .await
        .expect("submit");
    let err = upload(&mut d.owner, TZ, "tz-doc", &content(10, 3), false)
        .await
        .expect_err("frozen");
    assert_status(&err, Code::FailedPrecondition, "DOCUMENTS_FROZEN");
    submission::review(&mut d.csec_submissions, TZ, "", Decision::Approve, "")
        .await
        .expect("approve");
    let conclusion = submission::get(&mut d.owner_submissions, TZ)
        .await
        .expect("get")
        .conclusion
        .expect("conclusion");
    let verified = d
        .csec_submissions
        .verify_conclusion(VerifyConclusionRequest {
            number: conclusion.number.clone(),
            digest: conclusion.digest.clone(),
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(verified.valid);
    // A document version changed behind the register's back no longer gives the digest.
    d.app
        .execute_sql(&format!(
            "UPDATE submission_documents SET sha256 = '{}' WHERE document_id = 'copy'",
            "0".repeat(64)
        ))
        .await
        .expect("tamper with a document row");
    let verified = d
        .csec_submissions
        .verify_conclusion(VerifyConclusionRequest {
            number: conclusion.number,
            digest: conclusion.digest,
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(!verified.valid, "the digest covers the round's documents");
}

#[tokio::test]
async fn a_checksum_mismatch_keeps_nothing() {
    let mut d = docs(|_| {}).await;
    let bytes = content(700_000, 4);
    let upload_id = uuid::Uuid::new_v4().to_string();
    let mut declared = start(TZ, "doc", &upload_id, &bytes, false);
    declared.document.as_mut().expect("metadata").sha256 = hex::encode(Sha256::digest(b"other"));
    let err = send(&mut d.owner, declared, &bytes)
        .await
        .expect_err("mismatch");
    assert_eq!(bad_request_fields(&err), ["start.document.sha256"]);
    assert_eq!(stored_contents(&d.app), 0);
    let err = d
        .owner
        .get_upload(GetUploadRequest {
            name: format!("{TZ}/uploads/{upload_id}"),
        })
        .await
        .expect_err("the upload is gone");
    assert_eq!(err.code(), Code::NotFound);
    let listed = d
        .owner
        .list_documents(ListDocumentsRequest {
            parent: TZ.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.documents.is_empty());
    let staged = walk(&d.app.data_dir.join("documents/uploads"));
    assert_eq!(staged, 0, "no staging left");

    // The refusal is audited under the submission the upload named.
    let events = d
        .app
        .audit
        .list_audit_events(ListAuditEventsRequest {
            filter: "method = \"/reestr.v1.DocumentService/UploadDocument\"".into(),
            ..Default::default()
        })
        .await
        .expect("audit events")
        .into_inner()
        .events;
    let refused: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.resource.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(refused, [(TZ, "INVALID_ARGUMENT")]);
}

#[tokio::test]
async fn an_oversize_upload_stops_before_its_bytes_or_as_soon_as_they_pass_the_declared_size() {
    let mut d = docs(|c| c.documents.max_bytes = 1024 * 1024).await;
    let big = content(1024 * 1024 + 1, 5);
    let err = send(
        &mut d.owner,
        start(TZ, "big", &uuid::Uuid::new_v4().to_string(), &big, false),
        &[],
    )
    .await
    .expect_err("over the limit");
    assert_status(&err, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");

    // Declares 1000 bytes, then streams 40 chunks lazily: the server answers after the first.
    let declared = content(1000, 6);
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = pulled.clone();
    let first = UploadDocumentRequest {
        message: Some(Message::Start(start(
            TZ,
            "liar",
            &uuid::Uuid::new_v4().to_string(),
            &declared,
            false,
        ))),
    };
    let chunks = futures::stream::iter(0..40).then(move |i| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            UploadDocumentRequest {
                message: Some(Message::Data(content(64 * 1024, i).into())),
            }
        }
    });
    let err = d
        .owner
        .upload_document(futures::stream::iter([first]).chain(chunks))
        .await
        .expect_err("more than declared");
    assert_eq!(bad_request_fields(&err), ["data"]);
    let sent = pulled.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < 40, "the server answered after {sent} of 40 chunks");

    // A media type outside the list.
    let mut odd = start(
        TZ,
        "odd",
        &uuid::Uuid::new_v4().to_string(),
        &declared,
        false,
    );
    odd.document.as_mut().expect("metadata").media_type = "application/x-msdownload".into();
    let err = send(&mut d.owner, odd, &declared)
        .await
        .expect_err("media type");
    assert_eq!(bad_request_fields(&err), ["start.document.media_type"]);
}

#[tokio::test]
async fn an_interrupted_upload_resumes_from_its_committed_offset_to_the_same_sha256() {
    let mut d = docs(|_| {}).await;
    let bytes = content(5 * 1024 * 1024 + 77, 7);
    let upload_id = uuid::Uuid::new_v4().to_string();
    let name = format!("{TZ}/uploads/{upload_id}");

    // A stream the client ends on purpose after 1 MiB: the upload is kept, not complete.
    let first_part = &bytes[..1024 * 1024];
    let response = send(
        &mut d.owner,
        start(TZ, "big", &upload_id, &bytes, false),
        first_part,
    )
    .await
    .expect("part 1");
    assert!(response.document.is_none());
    assert_eq!(response.upload.expect("upload").committed_size, 1024 * 1024);

    // A stream that breaks off: the client sends two more MiB, then its connection is cut.
    let (tx, rx) = tokio::sync::mpsc::channel::<UploadDocumentRequest>(4);
    let mut resumed = start(TZ, "big", &upload_id, &bytes, false);
    resumed.offset = 1024 * 1024;
    tx.send(UploadDocumentRequest {
        message: Some(Message::Start(resumed)),
    })
    .await
    .expect("send");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", d.app.addr))
        .expect("endpoint")
        .connect()
        .await
        .expect("a connection of its own");
    let secret = d.app.create_token(Some("stat"), &[Role::Editor]).await.1;
    let mut own = DocumentServiceClient::with_interceptor(channel, Bearer::new(Some(&secret)));
    let call = tokio::spawn(async move {
        own.upload_document(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    for chunk in bytes[1024 * 1024..3 * 1024 * 1024].chunks(CHUNK) {
        tx.send(UploadDocumentRequest {
            message: Some(Message::Data(chunk.to_vec().into())),
        })
        .await
        .expect("send");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort();
    drop(tx);
    // The server keeps what it received: the committed size grows past the first part.
    let mut committed = 0;
    for _ in 0..100 {
        committed = d
            .owner
            .get_upload(GetUploadRequest { name: name.clone() })
            .await
            .expect("get upload")
            .into_inner()
            .committed_size;
        if committed > 1024 * 1024 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        committed > 1024 * 1024 && committed <= 3 * 1024 * 1024,
        "committed {committed}"
    );

    // Resuming from anywhere else is refused, naming where to continue.
    let mut wrong = start(TZ, "big", &upload_id, &bytes, false);
    wrong.offset = 7;
    let err = send(&mut d.owner, wrong, &bytes[7..])
        .await
        .expect_err("wrong offset");
    assert_eq!(bad_request_fields(&err), ["start.offset"]);
    assert!(err.message().contains(&committed.to_string()), "{err:?}");

    let mut rest = start(TZ, "big", &upload_id, &bytes, false);
    rest.offset = committed;
    let done = send(&mut d.owner, rest, &bytes[committed as usize..])
        .await
        .expect("the rest");
    let document = done.document.expect("complete");
    assert_eq!(document.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(
        download(&mut d.owner, &document.name, 0, 0)
            .await
            .expect("download"),
        bytes
    );
    let err = d
        .owner
        .get_upload(GetUploadRequest { name })
        .await
        .expect_err("a completed upload is gone");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn restricted_documents_are_refused_to_outsiders() {
    let mut d = docs(|_| {}).await;
    let bytes = content(10_000, 8);
    let open = upload(&mut d.owner, TZ, "open", &bytes, false)
        .await
        .expect("open");
    let secret = upload(&mut d.owner, TZ, "secret", &bytes, true)
        .await
        .expect("restricted");
    assert!(secret.restricted);
    download(&mut d.outsider, &open.name, 0, 0)
        .await
        .expect("an open document");
    let err = download(&mut d.outsider, &secret.name, 0, 0)
        .await
        .expect_err("restricted");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = d
        .outsider
        .get_document(GetDocumentRequest {
            name: secret.name.clone(),
            version: 0,
        })
        .await
        .expect_err("restricted");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    assert_eq!(
        download(&mut d.csec, &secret.name, 0, 0)
            .await
            .expect("reviewer"),
        bytes
    );
    assert_eq!(
        download(&mut d.admin, &secret.name, 0, 0)
            .await
            .expect("admin"),
        bytes
    );
    // Only the owner's editors upload.
    let err = upload(&mut d.csec, TZ, "x", &bytes, false)
        .await
        .expect_err("a reviewer");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
}

/// The peak resident memory of this process (nextest runs each test in a process of its
/// own), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM")
        * 1024
}

#[tokio::test]
async fn fifty_mib_stream_through_with_memory_growth_well_below_the_file_size() {
    const SIZE: usize = 50 * 1024 * 1024;
    let mut d = docs(|_| {}).await;
    // The content is made chunk by chunk from its index, on the fly, never held whole.
    let chunk_of = |i: usize| -> Vec<u8> {
        let len = CHUNK.min(SIZE - i * CHUNK);
        content(len, i as u64 + 1000)
    };
    let chunks = SIZE.div_ceil(CHUNK);
    let mut hasher = Sha256::new();
    for i in 0..chunks {
        hasher.update(chunk_of(i));
    }
    let sha256 = hex::encode(hasher.finalize());
    let before = peak_rss();
    let start = UploadStart {
        parent: TZ.into(),
        document_id: "big".into(),
        upload_id: uuid::Uuid::new_v4().to_string(),
        document: Some(Document {
            document_type: DocumentType::TechnicalProject as i32,
            file_name: "project.pdf".into(),
            media_type: "application/pdf".into(),
            size_bytes: SIZE as i64,
            sha256: sha256.clone(),
            ..Default::default()
        }),
        offset: 0,
    };
    let messages = futures::stream::iter(
        std::iter::once(UploadDocumentRequest {
            message: Some(Message::Start(start)),
        })
        .chain((0..chunks).map(move |i| UploadDocumentRequest {
            message: Some(Message::Data(chunk_of(i).into())),
        })),
    );
    let document = d
        .owner
        .upload_document(messages)
        .await
        .expect("upload")
        .into_inner()
        .document
        .expect("complete");
    let mut stream = d
        .owner
        .download_document(DownloadDocumentRequest {
            name: document.name,
            ..Default::default()
        })
        .await
        .expect("download")
        .into_inner();
    let mut back = Sha256::new();
    let mut total = 0usize;
    while let Some(m) = stream.message().await.expect("chunk") {
        total += m.data.len();
        back.update(&m.data);
    }
    assert_eq!((total, hex::encode(back.finalize())), (SIZE, sha256));
    let growth = peak_rss().saturating_sub(before);
    eprintln!(
        "peak memory growth streaming 50 MiB up and down: {} MiB",
        growth >> 20
    );
    assert!(
        growth < (SIZE as u64) / 2,
        "peak memory grew by {} MiB streaming 50 MiB up and down",
        growth >> 20
    );
}

#[tokio::test]
async fn the_cli_resumes_the_upload_it_began_and_downloads_the_same_bytes_verified() {
    let mut d = docs(|_| {}).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = content(2 * 1024 * 1024 + 17, 5);
    let file = dir.path().join("tz-doc.pdf");
    std::fs::write(&file, &bytes).expect("write the file");

    // An earlier run of the same command broke off after its first MiB: the server kept it.
    let start = start(TZ, "tz-doc", "", &bytes, false);
    let request = reestr::client::document::UploadRequest {
        submission: TZ.into(),
        document_id: "tz-doc".into(),
        document_type: DocumentType::TechnicalAssignment,
        media_type: None,
        restricted: false,
    };
    let id = reestr::client::document::upload_id(&request, start.document.as_ref().expect("doc"));
    let partial = send(
        &mut d.owner,
        UploadStart {
            upload_id: id.clone(),
            ..start
        },
        &bytes[..1024 * 1024],
    )
    .await
    .expect("a first part");
    assert!(partial.document.is_none(), "the upload is not complete");
    let upload = format!("{TZ}/uploads/{id}");
    let kept = d
        .owner
        .get_upload(GetUploadRequest {
            name: upload.clone(),
        })
        .await
        .expect("the upload")
        .into_inner();
    assert_eq!(kept.committed_size, 1024 * 1024);

    // The command continues from the server's offset: starting from 0 would be refused.
    let path = file.to_str().expect("UTF-8 path");
    let out = d
        .app
        .run_client(&[
            "upload",
            path,
            "--submission",
            TZ,
            "--document",
            "tz-doc",
            "--type",
            "TECHNICAL-ASSIGNMENT",
        ])
        .await;
    assert_eq!(out.code, Some(0), "upload failed: {}", out.stderr);
    let sha = hex::encode(Sha256::digest(&bytes));
    assert!(
        out.stdout
            .contains(&format!("{TZ}/documents/tz-doc version 1"))
            && out.stdout.contains(&sha),
        "{}",
        out.stdout
    );
    let err = d
        .owner
        .get_upload(GetUploadRequest { name: upload })
        .await
        .expect_err("a completed upload is gone");
    assert_eq!(err.code(), Code::NotFound);

    let target = dir.path().join("downloaded.pdf");
    let out = d
        .app
        .run_client(&[
            "download",
            &format!("{TZ}/documents/tz-doc"),
            "--output",
            target.to_str().expect("UTF-8 path"),
        ])
        .await;
    assert_eq!(out.code, Some(0), "download failed: {}", out.stderr);
    assert!(out.stderr.contains("SHA-256 verified"), "{}", out.stderr);
    assert!(std::fs::read(&target).expect("the download") == bytes);
    assert!(
        !dir.path().join("downloaded.pdf.part").exists(),
        "the partial file was renamed into place"
    );

    // A file whose type the command cannot tell, and a document that does not exist.
    let odd = dir.path().join("scheme.dwg");
    std::fs::write(&odd, b"drawing").expect("write");
    let out = d
        .app
        .run_client(&[
            "upload",
            odd.to_str().expect("UTF-8 path"),
            "--submission",
            TZ,
            "--document",
            "scheme",
            "--type",
            "other",
        ])
        .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("--media-type"), "{}", out.stderr);
    let out = d
        .app
        .run_client(&[
            "download",
            &format!("{TZ}/documents/nothing"),
            "--output",
            dir.path().join("nothing").to_str().expect("UTF-8 path"),
        ])
        .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("NotFound"), "{}", out.stderr);
    assert!(!dir.path().join("nothing.part").exists());
}
