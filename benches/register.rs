//! Benchmark of the register of information systems (see BENCHMARKS.md).
//!
//! Starts a real server in process (release build) on a fresh SQLite file, or on PostgreSQL
//! when `BENCH_DATABASE_URL` names a server-level URL, registers `BENCH_SYSTEMS` systems
//! (default 100,000) directly through the store, then measures over gRPC, in one run:
//! 1. a filtered List (`owner = …`, 50 per page): the latency of page 1 and of page 1,000,
//!    each as the median of repeated requests, and their ratio;
//! 2. throughput of GetSystem, ListSystems (first page) and grpc.health.v1.Health/Check under
//!    the same client load (`BENCH_CONCURRENCY` concurrent calls over 4 connections, for
//!    `BENCH_SECONDS` each).
//!
//! Run: `cargo bench --bench register` (see BENCHMARKS.md for the figures).

// Test and benchmark arithmetic converts small counts and clock readings it controls; the
// cast lints guard the server's own code.
#![allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reestr::proto::v1::information_system_service_client::InformationSystemServiceClient;
use reestr::proto::v1::{GetSystemRequest, ListSystemsRequest};
use reestr::server::{self, ServerConfig};
use reestr_domain::input::Choice;
use reestr_domain::organization::{OrganizationDraft, OrganizationId, OrganizationKind};
use reestr_domain::system::{Protocol, ProvidedService, SystemId, SystemSpec};
use reestr_store::{AuditContext, ConnectionSettings, Database, Outcome, Store};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const OWNERS: usize = 2;
const PAGE_SIZE: i32 = 50;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let systems: usize = env_or("BENCH_SYSTEMS", 100_000);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 32);
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, cleanup) = database_url(&dir).await;
    println!(
        "database: {}",
        if cleanup.is_some() {
            "PostgreSQL"
        } else {
            "SQLite (synchronous=FULL)"
        }
    );

    // Seed through the store: the same code path as CreateSystem, without the network.
    // Seeding need not survive a power cut: synchronous=NORMAL while seeding; the server
    // measured below runs with the default synchronous=FULL.
    let mut seed = ConnectionSettings::new(&url);
    seed.sqlite_synchronous_full = false;
    let database = Database::connect(&seed).await.expect("connect");
    database.migrate_up().await.expect("migrate");
    let store = Store::open(
        database.clone(),
        reestr_store::Clock::system(),
        Default::default(),
    )
    .await
    .expect("store");
    let ctx = AuditContext {
        caller: "operator:bench".into(),
        method: "bench".into(),
        ..Default::default()
    };
    for o in 0..OWNERS {
        let spec = OrganizationDraft {
            display_name: BTreeMap::from([("en".to_string(), format!("Owner {o}"))]),
            tin: format!("{:09}", 300_000_000 + o),
            kind: Choice::Known(OrganizationKind::StateBody),
            ..Default::default()
        }
        .validate("organization")
        .expect("valid organisation");
        store
            .organizations()
            .create(
                &ctx,
                OrganizationId::from_trusted(format!("owner{o}")),
                spec,
                None,
                |_| Vec::new(),
            )
            .await
            .expect("create organisation");
    }
    let started = Instant::now();
    for i in 0..systems {
        let spec = SystemSpec {
            short_name: format!("SYS-{i:06}"),
            display_name: BTreeMap::from([("en".to_string(), format!("Information system {i}"))]),
            purpose: "Benchmark".into(),
            owner: format!("organizations/owner{}", i % OWNERS),
            provided_services: vec![ProvidedService {
                name: "api".into(),
                protocol: Protocol::Grpc,
                ..Default::default()
            }],
            ..Default::default()
        };
        let id = SystemId::from_trusted(format!("sys-{i:06}"));
        match store
            .systems()
            .create(&ctx, id, spec, None, |_| Vec::new())
            .await
            .expect("create system")
        {
            Outcome::Fresh(_) | Outcome::Replayed(_) => {}
        }
        if (i + 1) % 10_000 == 0 {
            eprintln!("seeded {} systems in {:.0?}", i + 1, started.elapsed());
        }
    }
    println!("seeded {systems} systems in {:.1?}", started.elapsed());
    database.close().await.expect("close");

    let mut config = ServerConfig::new(dir.path().to_path_buf(), ConnectionSettings::new(&url));
    config.limits.rate_limit.per_second = 0;
    config.limits.max_calls_per_caller = 0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))
                .expect("uri")
                .connect()
                .await
                .expect("connect"),
        );
    }
    let mut health = HealthClient::new(channels[0].clone());
    while health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(0)
        != 1
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secret = std::fs::read_to_string(dir.path().join("admin.token")).expect("admin.token");
    let bearer: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", secret.trim()).parse().expect("header");
    let systems_client = move |ch: Channel| {
        let bearer = bearer.clone();
        InformationSystemServiceClient::with_interceptor(ch, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", bearer.clone());
            Ok(r)
        })
    };

    // 1. Page 1 against page 1,000 of a filtered list.
    let filter = "owner = \"organizations/owner1\"".to_string();
    let mut client = systems_client(channels[0].clone());
    let list = |token: String| ListSystemsRequest {
        page_size: PAGE_SIZE,
        page_token: token,
        filter: filter.clone(),
        ..Default::default()
    };
    let mut token = String::new();
    let target_page = (systems / OWNERS / PAGE_SIZE as usize).min(1000);
    let mut page_tokens = vec![String::new()];
    for _ in 1..target_page {
        token = client
            .list_systems(list(token))
            .await
            .expect("list")
            .into_inner()
            .next_page_token;
        page_tokens.push(token.clone());
    }
    let late_token = page_tokens.last().cloned().unwrap_or_default();
    let rounds = 300;
    let mut first = Vec::with_capacity(rounds);
    let mut late = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // Interleaved, so that any drift of the machine hits both alike.
        let t = Instant::now();
        let p = client
            .list_systems(list(String::new()))
            .await
            .expect("page 1")
            .into_inner();
        first.push(t.elapsed());
        assert_eq!(p.systems.len(), PAGE_SIZE as usize);
        let t = Instant::now();
        let p = client
            .list_systems(list(late_token.clone()))
            .await
            .expect("late page")
            .into_inner();
        late.push(t.elapsed());
        assert_eq!(p.systems.len(), PAGE_SIZE as usize);
    }
    let m1 = median(&mut first);
    let ml = median(&mut late);
    println!(
        "filtered List, {PAGE_SIZE} per page: page 1 median {:.3} ms, page {target_page} median {:.3} ms, ratio {:.2}",
        ms(m1),
        ms(ml),
        ms(ml) / ms(m1)
    );

    // 2. Throughput under the same load.
    let check = throughput("Health/Check", concurrency, seconds, &channels, |ch| {
        let mut c = HealthClient::new(ch);
        async move {
            c.check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .is_ok()
        }
    })
    .await;
    let get_client = systems_client.clone();
    let get = throughput("GetSystem", concurrency, seconds, &channels, move |ch| {
        let mut c = get_client(ch);
        async move {
            c.get_system(GetSystemRequest {
                name: "systems/sys-050000".into(),
                ..Default::default()
            })
            .await
            .is_ok()
        }
    })
    .await;
    let list_filter = filter.clone();
    let list_rate = throughput(
        "ListSystems (filtered, page 1)",
        concurrency,
        seconds,
        &channels,
        move |ch| {
            let mut c = systems_client(ch);
            let filter = list_filter.clone();
            let request = ListSystemsRequest {
                page_size: PAGE_SIZE,
                filter: filter.clone(),
                ..Default::default()
            };
            async move { c.list_systems(request).await.is_ok() }
        },
    )
    .await;
    println!(
        "GetSystem / Health.Check = {:.2}; ListSystems / Health.Check = {:.2}",
        get / check,
        list_rate / check
    );

    let _ = stop.send(());
    let _ = server.await;
    if let Some(cleanup) = cleanup {
        cleanup.await;
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Calls `call` from `concurrency` tasks spread over the channels for `seconds`; prints and
/// returns requests per second (failed calls abort the benchmark).
async fn throughput<F, Fut>(
    name: &str,
    concurrency: usize,
    seconds: u64,
    channels: &[Channel],
    call: F,
) -> f64
where
    F: Fn(Channel) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let ch = channels[i % channels.len()].clone();
            let call = call.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    assert!(call(ch.clone()).await, "a call failed");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("{name}: {rate:.0} req/s ({total} calls, {concurrency} concurrent)");
    rate
}

type Cleanup = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// The database URL to use, and how to drop it afterwards (PostgreSQL).
async fn database_url(dir: &tempfile::TempDir) -> (String, Option<Cleanup>) {
    use sea_orm::ConnectionTrait;
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("reestr_bench_{}", uuid::Uuid::new_v4().simple());
            let db = Database::connect(&ConnectionSettings::new(&admin))
                .await
                .expect("connect admin");
            db.connection()
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create db");
            db.close().await.expect("close");
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(b, _)| b)
                .to_string();
            let url = format!("{base}/{name}");
            let cleanup: Cleanup = Box::pin(async move {
                if let Ok(db) = Database::connect(&ConnectionSettings::new(&admin)).await {
                    let _ = db
                        .connection()
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = db.close().await;
                }
            });
            (url, Some(cleanup))
        }
        _ => (
            format!("sqlite://{}", dir.path().join("reestr.db").display()),
            None,
        ),
    }
}
