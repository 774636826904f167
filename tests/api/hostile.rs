//! Clients that are careless or hostile: bodies that are not protobuf, strings that are not
//! UTF-8, oversize metadata, streams that never send their message, connections that never
//! start, stay idle or come in floods, anonymous floods. Each must get a clear gRPC status
//! (or, below gRPC, a closed connection), and the server must go on serving everyone else.
//!
//! Raw calls go through the `h2` crate, so that a test sends exactly the bytes it means.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;
use reestr::proto::v1::{
    ClassifierVersion, CreateClassifierVersionRequest, ImportItemsRequest, ItemFormat,
    ListOrganizationsRequest, import_items_request::Data as ImportData,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// What a raw call was answered.
#[derive(Debug)]
struct Answer {
    /// The gRPC status, from the headers (trailers-only) or the trailers; `None` if the
    /// answer had none (e.g. HTTP 431).
    code: Option<i32>,
    /// The HTTP status.
    http: u16,
    /// `grpc-message`.
    message: String,
    /// The decoded `grpc-status-details-bin`, as a status.
    status: Option<tonic::Status>,
}

impl Answer {
    fn code(&self) -> Code {
        Code::from_i32(self.code.unwrap_or(-1))
    }
}

/// A gRPC frame: uncompressed, 4-byte big-endian length, the bytes.
fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// An HTTP/2 connection of our own to the server.
async fn raw_connection(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Sends one call: `headers` beside the gRPC ones, then `body` (and END_STREAM), or, if
/// `body` is `None`, nothing after the headers (the stream stays open until it is answered).
async fn raw_call(
    client: &mut h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    path: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
) -> Answer {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let mut ready = client.clone().ready().await.expect("connection ready");
    let (response, mut stream) = ready
        .send_request(request.body(()).unwrap(), false)
        .expect("send headers");
    if let Some(body) = body {
        stream
            .send_data(Bytes::from(body), true)
            .expect("send body");
    }
    let response = response.await.expect("a response");
    drop(stream);
    let (parts, mut received) = response.into_parts();
    let mut source = parts.headers.clone();
    if !parts.headers.contains_key("grpc-status") {
        while let Some(chunk) = received.data().await {
            let chunk = chunk.expect("response data");
            let _ = received.flow_control().release_capacity(chunk.len());
        }
        if let Some(trailers) = received.trailers().await.expect("trailers") {
            source = trailers;
        }
    }
    let code = source
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Answer {
        code,
        http: parts.status.as_u16(),
        message: source
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        status: tonic::Status::from_header_map(&source),
    }
}

fn bearer(app: &TestApp) -> Vec<(String, String)> {
    vec![(
        "authorization".to_string(),
        format!("Bearer {}", app.admin_secret),
    )]
}

/// Every method of the register's services.
fn every_method() -> Vec<String> {
    let mut methods: Vec<String> = reestr::server::rpc::methods().keys().cloned().collect();
    methods.sort();
    assert!(methods.len() > 40, "{methods:?}");
    methods
}

#[tokio::test]
async fn bodies_that_are_not_protobuf_are_invalid_argument_on_every_method() {
    let mut app = spawn_app().await;
    let mut client = raw_connection(app.addr).await;
    // 0xff… is no valid field key; a frame announcing more bytes than it carries is cut short.
    let garbage = frame(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let mut truncated = frame(&[0x0a, 0x03, b'a', b'b', b'c']);
    truncated.truncate(7);
    for method in every_method() {
        for token in [Vec::new(), bearer(&app)] {
            for (what, body) in [("garbage", &garbage), ("truncated", &truncated)] {
                let answer =
                    raw_call(&mut client, app.addr, &method, &token, Some(body.clone())).await;
                assert_eq!(
                    answer.code(),
                    Code::InvalidArgument,
                    "{method} ({what}, token: {}): {answer:?}",
                    !token.is_empty()
                );
                let status = answer.status.as_ref().expect("status details");
                let info = status.get_details_error_info().expect("ErrorInfo");
                assert_eq!(info.reason, "INVALID_ARGUMENT", "{method}: {answer:?}");
            }
        }
    }
    assert_eq!(app.health_of("").await, ServingStatus::Serving);
}

#[tokio::test]
async fn strings_that_are_not_utf8_are_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let mut client = raw_connection(app.addr).await;
    let bad = b"organizations/\xff\xfe".to_vec();
    // GetOrganizationRequest.name (1).
    let mut get = vec![0x0a, u8::try_from(bad.len()).unwrap()];
    get.extend_from_slice(&bad);
    // CreateOrganizationRequest.organization_id (2).
    let mut create_id = vec![0x12, u8::try_from(bad.len()).unwrap()];
    create_id.extend_from_slice(&bad);
    // CreateOrganizationRequest.organization (1) { name (1) }.
    let mut inner = vec![0x0a, u8::try_from(bad.len()).unwrap()];
    inner.extend_from_slice(&bad);
    let mut create_nested = vec![0x0a, u8::try_from(inner.len()).unwrap()];
    create_nested.extend_from_slice(&inner);
    for (path, body, field) in [
        (
            "/reestr.v1.OrganizationService/GetOrganization",
            get,
            "name",
        ),
        (
            "/reestr.v1.OrganizationService/CreateOrganization",
            create_id,
            "organization_id",
        ),
        (
            "/reestr.v1.OrganizationService/CreateOrganization",
            create_nested,
            "organization.name",
        ),
    ] {
        let answer = raw_call(
            &mut client,
            app.addr,
            path,
            &bearer(&app),
            Some(frame(&body)),
        )
        .await;
        assert_eq!(answer.code(), Code::InvalidArgument, "{path}: {answer:?}");
        let status = answer.status.expect("details");
        let bad_request = status.get_details_bad_request().expect("BadRequest");
        assert_eq!(bad_request.field_violations.len(), 1, "{bad_request:?}");
        assert_eq!(bad_request.field_violations[0].field, field);
        assert!(
            bad_request.field_violations[0]
                .description
                .contains("UTF-8"),
            "{bad_request:?}"
        );
    }
}

#[tokio::test]
async fn a_unary_call_without_its_message_is_invalid_argument() {
    let app = spawn_app().await;
    let mut client = raw_connection(app.addr).await;
    let answer = raw_call(
        &mut client,
        app.addr,
        "/reestr.v1.OrganizationService/GetOrganization",
        &bearer(&app),
        Some(Vec::new()),
    )
    .await;
    assert_eq!(answer.code(), Code::InvalidArgument, "{answer:?}");
}

#[tokio::test]
async fn a_second_import_message_over_the_limit_is_resource_exhausted() {
    let mut app = spawn_app_with(|c| c.limits.max_message_bytes = 16 * 1024).await;
    app.create_organization("stat", "201234567").await;
    let mut classifiers = app.classifiers();
    crate::classifier::create_classifier(&mut classifiers, "big", crate::classifier::spec())
        .await
        .expect("classifier");
    classifiers
        .create_classifier_version(CreateClassifierVersionRequest {
            parent: "classifiers/big".into(),
            version_id: "v1".into(),
            version: Some(ClassifierVersion::default()),
            source_version: String::new(),
            request_id: String::new(),
        })
        .await
        .expect("draft");
    let messages = vec![
        ImportItemsRequest {
            parent: "classifiers/big/versions/v1".into(),
            format: ItemFormat::Csv as i32,
            ..Default::default()
        },
        ImportItemsRequest {
            data: Some(ImportData::CsvChunk(vec![b'x'; 20 * 1024])),
            ..Default::default()
        },
    ];
    let err = classifiers
        .import_items(futures::stream::iter(messages))
        .await
        .expect_err("too large");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "MESSAGE_TOO_LARGE");
    assert_eq!(info.metadata["limit_bytes"], "16384");
    assert_eq!(info.metadata["part"], "message");
}

#[tokio::test]
async fn oversize_metadata_is_resource_exhausted_and_the_connection_keeps_serving() {
    let app = spawn_app().await;
    let mut client = raw_connection(app.addr).await;
    let path = "/reestr.v1.OrganizationService/ListOrganizations";
    let body = frame(&ListOrganizationsRequest::default().encode_to_vec());
    let long_token = vec![(
        "authorization".to_string(),
        format!("Bearer {}", "x".repeat(32 * 1024)),
    )];
    let many: Vec<(String, String)> = (0..200)
        .map(|i| (format!("x-custom-{i}"), "v".repeat(100)))
        .collect();
    for headers in [long_token, many] {
        let answer = raw_call(&mut client, app.addr, path, &headers, Some(body.clone())).await;
        assert_eq!(answer.code(), Code::ResourceExhausted, "{answer:?}");
        let info = answer
            .status
            .as_ref()
            .and_then(|s| s.get_details_error_info())
            .expect("ErrorInfo");
        assert_eq!(info.reason, "MESSAGE_TOO_LARGE");
        assert_eq!(info.metadata["part"], "metadata");
    }
    let answer = raw_call(&mut client, app.addr, path, &bearer(&app), Some(body)).await;
    assert_eq!(answer.code(), Code::Ok, "{answer:?}");
    assert_eq!(answer.http, 200);
    assert!(answer.message.is_empty(), "{answer:?}");
}

/// How long a health check and an administrator's call take while stalled streams are open.
async fn answers_while(app: &mut TestApp) -> Duration {
    let started = Instant::now();
    assert_eq!(app.health_of("").await, ServingStatus::Serving);
    app.organizations
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("an authenticated call is served");
    started.elapsed()
}

#[tokio::test]
async fn streams_that_never_send_their_message_neither_starve_the_server_nor_stay() {
    let mut app = spawn_app_with(|c| {
        c.limits.first_message_timeout = Duration::from_millis(500);
        c.limits.max_anonymous_calls_per_address = 16;
        c.limits.max_concurrent_requests = 64;
    })
    .await;
    let addr = app.addr;
    // 4 connections x 100 streams of headers only, as anonymous callers.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let client = raw_connection(addr).await;
        for path in [
            "/reestr.v1.OrganizationService/GetOrganization",
            "/reestr.v1.ClassifierService/ImportItems",
        ] {
            for _ in 0..50 {
                let mut client = client.clone();
                stalled.push(tokio::spawn(async move {
                    raw_call(&mut client, addr, path, &[], None).await
                }));
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let took = answers_while(&mut app).await;
    assert!(took < Duration::from_secs(2), "served in {took:?}");
    let mut by_code = std::collections::BTreeMap::<String, usize>::new();
    for call in stalled {
        let answer = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("every stalled stream is ended by the server")
            .expect("task");
        match answer.code() {
            // Past the per-address limit, streams are refused at once ...
            Code::ResourceExhausted => {}
            // ... and those admitted are ended when their first message is late.
            Code::InvalidArgument => assert!(
                answer
                    .status
                    .as_ref()
                    .is_some_and(|s| s.message().contains("no request message arrived")),
                "{answer:?}"
            ),
            other => panic!("{other:?}: {answer:?}"),
        }
        *by_code.entry(format!("{:?}", answer.code())).or_default() += 1;
    }
    assert!(by_code.get("InvalidArgument") >= Some(&16), "{by_code:?}");
    assert!(
        by_code.get("ResourceExhausted") >= Some(&200),
        "{by_code:?}"
    );
    answers_while(&mut app).await;
}

#[tokio::test]
async fn anonymous_floods_are_rate_limited_per_address_and_leave_no_audit_trail() {
    let mut app = spawn_app_with(|c| {
        c.limits.anonymous_rate_limit.per_second = 5;
        c.limits.anonymous_rate_limit.burst = 5;
    })
    .await;
    let before = app.audit_event_count().await;
    let mut client = raw_connection(app.addr).await;
    let mut refused = 0;
    let mut limited = 0;
    for i in 0..100 {
        let request = reestr::proto::v1::DeleteOrganizationRequest {
            name: format!("organizations/o{i}"),
            ..Default::default()
        };
        let answer = raw_call(
            &mut client,
            app.addr,
            "/reestr.v1.OrganizationService/DeleteOrganization",
            &[],
            Some(frame(&request.encode_to_vec())),
        )
        .await;
        match answer.code() {
            Code::Unauthenticated => refused += 1,
            Code::ResourceExhausted => {
                let info = answer
                    .status
                    .as_ref()
                    .and_then(|s| s.get_details_error_info())
                    .expect("ErrorInfo");
                assert_eq!(info.reason, "RATE_LIMITED");
                limited += 1;
            }
            other => panic!("{other:?}: {answer:?}"),
        }
    }
    assert!(refused <= 10, "refused {refused}, limited {limited}");
    assert_eq!(refused + limited, 100);
    let after = app.audit_event_count().await;
    assert_eq!(
        after - before,
        i64::from(refused),
        "only calls that reached a handler are audited"
    );
    // The administrator is not limited by what anonymous callers from the same address did.
    app.organizations
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("the administrator is served");
}

/// Whether the server closes `tcp` within `within` (reads end or fail).
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // The server's SETTINGS and the like: go on reading.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn connections_that_never_start_or_stay_idle_are_closed() {
    let mut app = spawn_app_with(|c| {
        c.limits.connections.handshake_timeout = Duration::from_millis(300);
        c.limits.connections.idle_timeout = Duration::from_millis(600);
    })
    .await;
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "silent connection"
    );
    assert!(
        closed_within(&mut half, Duration::from_secs(3)).await,
        "half preface"
    );

    // A connection that made one call and then idles is closed after the idle timeout,
    // however promptly it answers HTTP/2 pings.
    let mut client = raw_connection(app.addr).await;
    let body = frame(&ListOrganizationsRequest::default().encode_to_vec());
    let answer = raw_call(
        &mut client,
        app.addr,
        "/reestr.v1.OrganizationService/ListOrganizations",
        &bearer(&app),
        Some(body.clone()),
    )
    .await;
    assert_eq!(answer.code(), Code::Ok);
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if client.clone().ready().await.is_err() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "an idle connection is closed"
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // The server still takes new connections.
    assert_eq!(app.health_of("").await, ServingStatus::Serving);
    answers_while(&mut app).await;
}

#[tokio::test]
async fn connections_above_the_limit_are_closed_as_they_arrive() {
    let mut app = spawn_app_with(|c| c.limits.connections.max_connections = 4).await;
    // The harness's own channel holds one connection.
    assert_eq!(app.health_of("").await, ServingStatus::Serving);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(app.addr).await.unwrap();
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        held.push(tcp);
    }
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)).await,
        "a fifth connection is closed"
    );
    for tcp in &mut held {
        assert!(
            !closed_within(tcp, Duration::from_millis(100)).await,
            "held ones stay"
        );
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut next = TcpStream::connect(app.addr).await.unwrap();
    next.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    assert!(
        !closed_within(&mut next, Duration::from_millis(300)).await,
        "a slot freed is taken again"
    );
    answers_while(&mut app).await;
}

#[tokio::test]
async fn a_list_page_ends_early_rather_than_outgrow_the_message_limit() {
    let mut app = spawn_app_with(|c| c.limits.max_message_bytes = 32 * 1024).await;
    let long = "Ў".repeat(300);
    for i in 0..40 {
        let mut organization = crate::helpers::organization(&format!("2012345{i:02}"));
        organization.display_name = ["en", "ru", "uz-Latn", "uz-Cyrl", "kaa"]
            .into_iter()
            .map(|l| (l.to_string(), long.clone()))
            .collect();
        app.organizations
            .create_organization(reestr::proto::v1::CreateOrganizationRequest {
                organization: Some(organization),
                organization_id: format!("org{i:02}"),
                request_id: String::new(),
            })
            .await
            .expect("create");
    }
    let mut names = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .organizations
            .list_organizations(ListOrganizationsRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        pages += 1;
        assert!(
            page.encoded_len() <= 32 * 1024,
            "page {pages} is {} bytes",
            page.encoded_len()
        );
        assert!(!page.organizations.is_empty(), "a page holds at least one");
        names.extend(page.organizations.into_iter().map(|o| o.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
        assert!(pages < 100);
    }
    assert!(pages >= 3, "{pages} pages");
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "no organisation twice");
    assert_eq!(names.len(), 40);
}
