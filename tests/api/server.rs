//! The server itself: health, limits, deadlines, start-up and shutdown.

use std::collections::BTreeMap;
use std::time::Duration;

use reestr::proto::v1::organization::Kind;
use reestr::proto::v1::{CreateOrganizationRequest, ListOrganizationsRequest, Organization};
use reestr::server::{self, SERVICE_NAMES, ServerConfig};
use reestr_store::ConnectionSettings;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn health_is_serving_overall_and_for_every_service() {
    let mut app = spawn_app().await;
    assert_eq!(app.health_of("").await, ServingStatus::Serving);
    for name in SERVICE_NAMES {
        assert_eq!(app.health_of(name).await, ServingStatus::Serving, "{name}");
    }
    let unknown = app
        .health
        .check(HealthCheckRequest {
            service: "reestr.v1.NoSuchService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn an_oversize_request_is_resource_exhausted_and_the_server_keeps_serving() {
    let mut app = spawn_app_with(|c| c.limits.max_message_bytes = 16 * 1024).await;
    let big = Organization {
        display_name: BTreeMap::from([("en".to_string(), "x".repeat(20 * 1024))]),
        tin: "201234567".into(),
        kind: Kind::StateBody as i32,
        ..Default::default()
    };
    let err = app
        .organizations
        .create_organization(CreateOrganizationRequest {
            organization: Some(big),
            organization_id: "big".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "MESSAGE_TOO_LARGE");
    assert_eq!(info.metadata["limit_bytes"], "16384");

    assert_eq!(app.health_of("").await, ServingStatus::Serving);
    app.organizations
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("the same connection still serves");
}

#[tokio::test]
async fn a_call_stuck_on_the_database_ends_deadline_exceeded_at_the_server_timeout() {
    let mut app = spawn_app_with(|c| c.limits.request_timeout = Duration::from_millis(300)).await;
    // Another client holds the write lock, so the create cannot finish in time.
    let lock = app.hold_write_lock().await;
    let started = std::time::Instant::now();
    let err = app
        .organizations
        .create_organization(CreateOrganizationRequest {
            organization: Some(Organization {
                display_name: BTreeMap::from([("en".to_string(), "Stuck".to_string())]),
                tin: "201234567".into(),
                kind: Kind::StateBody as i32,
                ..Default::default()
            }),
            organization_id: "stuck".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "REQUEST_TIMEOUT");
    assert_eq!(info.metadata["timeout_ms"], "300");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at the timeout, not the lock's end"
    );
    lock.release().await;
    assert_eq!(app.health_of("").await, ServingStatus::Serving);
    let err = app
        .organizations
        .get_organization(reestr::proto::v1::GetOrganizationRequest {
            name: "organizations/stuck".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "the cancelled create left nothing behind"
    );
}

#[tokio::test]
async fn shutdown_turns_health_not_serving_before_the_server_stops() {
    // The Watch stream below is itself an in-flight call: the grace period ends it.
    let mut app = spawn_app_with(|c| c.shutdown_grace = Duration::from_secs(1)).await;
    let mut watch = app
        .health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );
    app.signal_stop();
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("health changed in time")
        .expect("stream still open")
        .expect("a status");
    assert_eq!(next.status(), ServingStatus::NotServing);
    app.stop().await.expect("clean stop");
    // After the stop nothing listens.
    let reconnect = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await;
    assert!(reconnect.is_err());
}

#[tokio::test]
async fn without_migrations_an_empty_database_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("empty.db").display());
    let mut config = ServerConfig::new(dir.path().to_path_buf(), ConnectionSettings::new(url));
    config.migrate = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        server::run(listener, config, std::future::pending()),
    )
    .await
    .expect("start-up decides quickly");
    let err = result.expect_err("a schema behind the server must not be served");
    assert!(err.to_string().contains("reestr migrate up"), "{err}");
}

#[tokio::test]
async fn health_follows_the_database_going_away_and_coming_back() {
    let mut app = spawn_app_with(|c| c.database.max_connections = 1).await;
    if !app.is_postgres() {
        // An embedded SQLite file cannot be taken away from the process that holds it open:
        // the database stops answering the server when its only connection is stuck behind
        // another writer's lock, and answers again when that writer commits.
        app.create_organization("stat", "201234567").await;
        let other = app
            .hold_transaction(&[
                "UPDATE organizations SET revision = revision + 1 WHERE id = 'stat'",
            ])
            .await;
        let mut writer = app.organizations.clone();
        let writing = tokio::spawn(async move {
            writer
                .create_organization(CreateOrganizationRequest {
                    organization_id: "uzstat".into(),
                    organization: Some(Organization {
                        display_name: [("en".to_string(), "Statistics".to_string())].into(),
                        tin: "201234568".into(),
                        kind: Kind::StateBody as i32,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
        });
        app.wait_for_health("", ServingStatus::NotServing).await;
        for name in SERVICE_NAMES {
            assert_eq!(app.health_of(name).await, ServingStatus::NotServing);
        }
        other.commit().await;
        writing
            .await
            .unwrap()
            .expect("the write goes through once the lock is released");
        app.wait_for_health("", ServingStatus::Serving).await;
        app.organizations
            .list_organizations(ListOrganizationsRequest::default())
            .await
            .expect("serving again without a restart");
        return;
    }
    let db = app.database_url.rsplit('/').next().unwrap().to_string();
    // Refuse new connections to the server's database and cut the open ones.
    app.execute_admin_sql(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .await;
    app.execute_admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    ))
    .await;
    app.wait_for_health("", ServingStatus::NotServing).await;
    for name in SERVICE_NAMES {
        assert_eq!(app.health_of(name).await, ServingStatus::NotServing);
    }
    let err = app
        .organizations
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");

    app.execute_admin_sql(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .await;
    app.wait_for_health("", ServingStatus::Serving).await;
    app.organizations
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("serving again without a restart");
}

/// `GET path` on `addr` over plain HTTP/1.1: the status line and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: reestr\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("request");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// The value of the sample `name` (with its labels, as the text writes them) in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_calls_by_method_and_code_and_report_watchers_caches_and_the_feed() {
    use reestr::proto::v1::change_service_client::ChangeServiceClient;
    use reestr::proto::v1::{GetOrganizationRequest, WatchChangesRequest};
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut app = spawn_app_with(|c| c.metrics_listen = Some(addr)).await;
    app.create_organization("stat", "201234567").await;
    for _ in 0..5 {
        app.organizations
            .get_organization(GetOrganizationRequest {
                name: "organizations/stat".into(),
                ..Default::default()
            })
            .await
            .expect("get");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let missing = app
        .organizations
        .get_organization(GetOrganizationRequest {
            name: "organizations/none".into(),
            ..Default::default()
        })
        .await
        .expect_err("not found");
    assert_eq!(missing.code(), Code::NotFound);
    let mut changes = ChangeServiceClient::with_interceptor(
        app.channel(),
        crate::helpers::Bearer::new(Some(&app.admin_secret)),
    );
    let mut stream = changes
        .watch_changes(WatchChangesRequest::default())
        .await
        .expect("watch")
        .into_inner();
    stream.message().await.expect("history").expect("a message");

    let (status, text) = http_get(addr, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    let get = "/reestr.v1.OrganizationService/GetOrganization";
    assert_eq!(
        sample(
            &text,
            &format!("reestr_rpcs_total{{method=\"{get}\",code=\"Ok\"}}")
        ),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("reestr_rpcs_total{{method=\"{get}\",code=\"NotFound\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("reestr_rpc_duration_seconds_count{{method=\"{get}\",code=\"Ok\"}}")
        ),
        Some(5.0)
    );
    assert!(text.contains("# TYPE reestr_rpc_duration_seconds histogram"));
    assert_eq!(sample(&text, "reestr_change_watchers"), Some(1.0));
    // The bootstrap token, then the organisation.
    assert_eq!(sample(&text, "reestr_change_feed_head_revision"), Some(2.0));
    assert_eq!(
        sample(&text, "reestr_change_feed_retained_changes"),
        Some(2.0)
    );
    assert_eq!(sample(&text, "reestr_change_feed_lag_revisions"), Some(0.0));
    // Five reads of one organisation: the first (or the first few, while the follower had
    // not yet applied its creation) from the database, the rest from memory.
    let hits = sample(&text, "reestr_cache_hits_total{cache=\"organizations\"}").expect("hits");
    assert!((1.0..=4.0).contains(&hits), "{hits}");
    assert!(sample(&text, "reestr_database_max_connections").expect("max") >= 1.0);

    drop(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, text) = http_get(addr, "/metrics").await;
        if sample(&text, "reestr_change_watchers") == Some(0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watch is still counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = http_get(addr, "/other").await;
    assert!(status.contains("404"), "{status}");
}
