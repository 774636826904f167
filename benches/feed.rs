//! Benchmark of the change feed (issue 12; see BENCHMARKS.md).
//!
//! Starts `reestr serve` (the release binary Cargo builds for the benchmark) as a child
//! process on a fresh SQLite data directory, or with `REESTR_BENCH_PG` on a fresh PostgreSQL
//! database, and measures:
//!
//! 1. **Delivery to many watchers.** `REESTR_BENCH_WATCHERS` (1,000) WatchChanges streams,
//!    100 to a connection, all from the register's head; then one writer creates
//!    `REESTR_BENCH_WRITES` (200) organisations, one every 20 ms. Each watcher notes when each
//!    change arrives; its latency is that moment minus the change's `change_time` (the moment
//!    its transaction began, on the same machine's clock). Every watcher must receive every
//!    change once and in order. Prints p50, p99 and the largest latency over all deliveries.
//! 2. **Catch-up.** Appends `REESTR_BENCH_CHANGES` (1,000,000) changes straight into the
//!    feed's table (one `INSERT … SELECT` over a generated series, as if that many writes had
//!    committed), then times a WatchChanges from revision 1 until it has received them all,
//!    against a plain `SELECT … ORDER BY revision, position` of the same rows streamed
//!    through sqlx on one connection, decoding the same columns. The goal is the SELECT's
//!    time over the watch's ≥ 0.5.
//!
//! Run: `cargo bench --bench feed` (with `REESTR_BENCH_PG=postgres://postgres@127.0.0.1:5432/postgres`
//! for PostgreSQL).

#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::TryStreamExt as _;
use reestr::client::describe;
use reestr::proto::v1 as pb;
use reestr::proto::v1::change_service_client::ChangeServiceClient;
use sea_orm::sqlx::{self, Row as _};
use tokio::sync::Mutex;

use support::env_or;
use support::report::{Table, thousands, verdict};
use support::server::{Options, PgDatabases, Server};
use support::setup::{ORGANIZATION, create_organization, system};

fn micros(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1_000_000 + i64::from(t.nanos / 1000)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The value at quantile `q` of sorted `values`.
fn quantile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// The register's newest revision.
async fn head(changes: &mut ChangeServiceClient<reestr::client::Authed>) -> i64 {
    changes
        .list_changes(pb::ListChangesRequest {
            start_revision: i64::MAX,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("head: {}", describe(&s)))
        .into_inner()
        .head_revision
}

/// Part 1: `watchers` watches, `writes` paced writes; returns every delivery's latency in
/// microseconds, sorted.
async fn delivery(server: &Server, watchers: usize, writes: usize) -> Vec<i64> {
    let target = server.target();
    let mut changes = ChangeServiceClient::new(target.channel().await.expect("channel"));
    let start = head(&mut changes).await + 1;
    let mut channels = Vec::new();
    for _ in 0..watchers.div_ceil(100) {
        channels.push(target.channel().await.expect("channel"));
    }
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(watchers * writes)));
    let mut tasks = tokio::task::JoinSet::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    for w in 0..watchers {
        let mut client = ChangeServiceClient::new(channels[w / 100].clone());
        let latencies = latencies.clone();
        let ready = ready_tx.clone();
        tasks.spawn(async move {
            let mut stream = client
                .watch_changes(pb::WatchChangesRequest {
                    start_revision: start,
                    resource_types: vec!["Organization".into()],
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|s| panic!("watch {w}: {}", describe(&s)))
                .into_inner();
            let _ = ready.send(()).await;
            let mut mine = Vec::with_capacity(writes);
            let mut expected = start;
            while mine.len() < writes {
                let message = stream
                    .message()
                    .await
                    .unwrap_or_else(|s| panic!("watch {w}: {}", describe(&s)))
                    .expect("the watch goes on");
                let arrived = now_micros();
                for c in message.changes {
                    assert_eq!(c.revision, expected, "watcher {w}: in order, once each");
                    expected += 1;
                    let began = c.change_time.as_ref().map_or(arrived, micros);
                    mine.push(arrived - began);
                }
            }
            latencies.lock().await.extend(mine);
        });
    }
    drop(ready_tx);
    for _ in 0..watchers {
        ready_rx.recv().await.expect("every watch started");
    }
    let mut organizations = target.organizations().await.expect("client");
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..writes {
        tick.tick().await;
        organizations
            .create_organization(pb::CreateOrganizationRequest {
                organization_id: format!("watched-{i}"),
                organization: Some(pb::Organization {
                    display_name: [("en".to_string(), format!("Watched {i}"))].into(),
                    tin: format!("{:09}", 400_000_000 + i),
                    kind: pb::organization::Kind::StateBody as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap_or_else(|s| panic!("create: {}", describe(&s)));
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("watcher");
    }
    let mut all = std::mem::take(&mut *latencies.lock().await);
    all.sort_unstable();
    all
}

/// Appends `n` changes after revision `after` straight into the feed's table.
async fn append_changes(url: &str, after: i64, n: i64) {
    let now = now_micros();
    let sql = if url.starts_with("postgres") {
        format!(
            "INSERT INTO change_events (revision, position, resource, resource_type, kind, method, caller, change_time) \
             SELECT {after} + g, 0, 'organizations/bulk-' || g, 'Organization', 'CREATED', \
             '/reestr.v1.OrganizationService/CreateOrganization', 'tokens/bench', {now} \
             FROM generate_series(1, {n}) AS g"
        )
    } else {
        format!(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {n}) \
             INSERT INTO change_events (revision, position, resource, resource_type, kind, method, caller, change_time) \
             SELECT {after} + x, 0, 'organizations/bulk-' || x, 'Organization', 'CREATED', \
             '/reestr.v1.OrganizationService/CreateOrganization', 'tokens/bench', {now} FROM g"
        )
    };
    let db = reestr_store::Database::connect(&reestr_store::ConnectionSettings::new(url))
        .await
        .expect("connect");
    use sea_orm::ConnectionTrait as _;
    db.connection()
        .execute_unprepared(&sql)
        .await
        .expect("append changes");
    db.close().await.expect("close");
}

/// A classifier client of `server`.
async fn target_classifiers(
    server: &Server,
) -> reestr::proto::v1::classifier_service_client::ClassifierServiceClient<reestr::client::Authed> {
    server
        .target()
        .classifiers()
        .await
        .expect("classifier client")
}

/// Streams every change from revision `from` with one SELECT; returns how many and the time.
async fn plain_select(url: &str, from: i64) -> (usize, Duration) {
    const SELECT: &str = "SELECT revision, position, resource, resource_type, kind, method, caller, change_time \
                          FROM change_events WHERE revision >= $1 ORDER BY revision, position";
    const SELECT_SQLITE: &str = "SELECT revision, position, resource, resource_type, kind, method, caller, change_time \
                                 FROM change_events WHERE revision >= ? ORDER BY revision, position";
    let started = Instant::now();
    let mut count = 0usize;
    let mut bytes = 0usize;
    // Every row decoded as the watch decodes it: the same columns into the same types.
    macro_rules! decode_all {
        ($rows:expr) => {
            while let Some(row) = $rows.try_next().await.expect("row") {
                let strings: [String; 5] =
                    [row.get(2), row.get(3), row.get(4), row.get(5), row.get(6)];
                let _: (i64, i32, i64) = (row.get(0), row.get(1), row.get(7));
                bytes += strings.iter().map(String::len).sum::<usize>();
                count += 1;
            }
        };
    }
    use sqlx::Connection as _;
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        let mut rows = sqlx::query(SELECT).bind(from).fetch(&mut conn);
        decode_all!(rows);
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        let mut rows = sqlx::query(SELECT_SQLITE).bind(from).fetch(&mut conn);
        decode_all!(rows);
    }
    assert!(bytes > 0);
    (count, started.elapsed())
}

/// Watches from revision `from` until revision `to` has arrived; returns how many changes and
/// the time.
async fn catch_up(server: &Server, from: i64, to: i64) -> (usize, Duration) {
    let target = server.target();
    let mut changes = ChangeServiceClient::new(target.channel().await.expect("channel"))
        .max_decoding_message_size(64 * 1024 * 1024);
    let started = Instant::now();
    let mut stream = changes
        .watch_changes(pb::WatchChangesRequest {
            start_revision: from,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("watch: {}", describe(&s)))
        .into_inner();
    let mut count = 0usize;
    let mut last = from - 1;
    while last < to {
        let message = stream
            .message()
            .await
            .unwrap_or_else(|s| panic!("catch-up: {}", describe(&s)))
            .expect("the watch goes on");
        for c in &message.changes {
            assert_eq!(c.revision, last + 1, "in order, without gaps");
            last = c.revision;
        }
        count += message.changes.len();
    }
    (count, started.elapsed())
}

/// What the soak's callers saw.
#[derive(Default)]
struct Soaked {
    /// Latencies of reads, in microseconds.
    reads: Vec<i64>,
    /// Latencies of writes, in microseconds.
    writes: Vec<i64>,
    /// Calls that failed, with their code.
    errors: Vec<String>,
    /// Changes the watchers received.
    delivered: usize,
}

/// One read of the mix: GetSystem, GetOrganization or ListSystems' first page, in turn.
async fn one_read(
    systems: &mut reestr::proto::v1::information_system_service_client::InformationSystemServiceClient<reestr::client::Authed>,
    organizations: &mut reestr::proto::v1::organization_service_client::OrganizationServiceClient<
        reestr::client::Authed,
    >,
    i: usize,
) -> Result<(), tonic::Status> {
    match i % 3 {
        0 => systems
            .get_system(pb::GetSystemRequest {
                name: "systems/soak-0".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        1 => organizations
            .get_organization(pb::GetOrganizationRequest {
                name: format!("organizations/{ORGANIZATION}"),
                ..Default::default()
            })
            .await
            .map(drop),
        _ => systems
            .list_systems(pb::ListSystemsRequest {
                page_size: 10,
                ..Default::default()
            })
            .await
            .map(drop),
    }
}

/// Readers for `seconds`, each read paced at `every` (none: as fast as they can), beside
/// `writers` writers making one write each per 100 ms and `watchers` watchers.
async fn mix(
    server: &Server,
    seconds: u64,
    readers: usize,
    every: Option<Duration>,
    writers: usize,
    watchers: usize,
) -> (Soaked, Duration) {
    let target = server.target();
    let start = head(&mut ChangeServiceClient::new(
        target.channel().await.expect("channel"),
    ))
    .await
        + 1;
    let soaked = Arc::new(Mutex::new(Soaked::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let channel = target.channel().await.expect("channel");
    for r in 0..readers {
        let channel = if r % 2 == 0 {
            channel.clone()
        } else {
            target.channel().await.expect("channel")
        };
        let soaked = soaked.clone();
        tasks.spawn(async move {
            let mut systems = reestr::proto::v1::information_system_service_client::InformationSystemServiceClient::new(channel.clone());
            let mut organizations = reestr::proto::v1::organization_service_client::OrganizationServiceClient::new(channel);
            let mut tick = every.map(tokio::time::interval);
            let (mut mine, mut errors) = (Vec::new(), Vec::new());
            let mut i = r;
            while Instant::now() < deadline {
                if let Some(tick) = &mut tick {
                    tick.tick().await;
                }
                let started = Instant::now();
                match one_read(&mut systems, &mut organizations, i).await {
                    Ok(()) => mine.push(started.elapsed().as_micros() as i64),
                    Err(s) => errors.push(format!("{:?}", s.code())),
                }
                i += 1;
            }
            let mut s = soaked.lock().await;
            s.reads.extend(mine);
            s.errors.extend(errors);
        });
    }
    for w in 0..writers {
        let mut systems = reestr::proto::v1::information_system_service_client::InformationSystemServiceClient::new(channel.clone());
        let soaked = soaked.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let (mut mine, mut errors) = (Vec::new(), Vec::new());
            let mut i = 0usize;
            while Instant::now() < deadline {
                tick.tick().await;
                let started = Instant::now();
                let written = systems
                    .update_system(pb::UpdateSystemRequest {
                        // Each writer its own system: two writes of one row at once are
                        // ABORTED on PostgreSQL (the client retries), which is not what
                        // the soak measures.
                        system: Some(pb::InformationSystem {
                            name: format!("systems/soak-{w}"),
                            purpose: format!("Soak write {w}-{i}"),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["purpose".into()],
                        }),
                    })
                    .await;
                match written {
                    Ok(_) => mine.push(started.elapsed().as_micros() as i64),
                    Err(s) => errors.push(format!("{:?}", s.code())),
                }
                i += 1;
            }
            let mut s = soaked.lock().await;
            s.writes.extend(mine);
            s.errors.extend(errors);
        });
    }
    for _ in 0..watchers {
        let mut changes = ChangeServiceClient::new(channel.clone());
        let soaked = soaked.clone();
        tasks.spawn(async move {
            let mut stream = changes
                .watch_changes(pb::WatchChangesRequest {
                    start_revision: start,
                    ..Default::default()
                })
                .await;
            let mut delivered = 0usize;
            if let Ok(stream) = &mut stream {
                let stream = stream.get_mut();
                while let Ok(Some(Ok(message))) =
                    tokio::time::timeout_at(deadline.into(), stream.message())
                        .await
                        .map(|m| m.transpose())
                {
                    delivered += message.changes.len();
                }
            }
            let mut s = soaked.lock().await;
            s.delivered += delivered;
            if let Err(e) = stream {
                s.errors.push(format!("{:?}", e.code()));
            }
        });
    }
    let started = Instant::now();
    while let Some(done) = tasks.join_next().await {
        done.expect("soak task");
    }
    let took = started.elapsed();
    let mut s = std::mem::take(&mut *soaked.lock().await);
    s.reads.sort_unstable();
    s.writes.sort_unstable();
    (s, took)
}

async fn run() {
    let watchers: usize = env_or("REESTR_BENCH_WATCHERS", 1000).max(1);
    let writes: usize = env_or("REESTR_BENCH_WRITES", 200).max(1);
    let bulk: i64 = env_or("REESTR_BENCH_CHANGES", 1_000_000).max(1);
    let pg_admin = std::env::var("REESTR_BENCH_PG")
        .ok()
        .filter(|url| !url.is_empty() && url != "off");
    let root = tempfile::tempdir().expect("tempdir");
    let mut databases = pg_admin.clone().map(PgDatabases::new);
    let database_url = match &mut databases {
        Some(d) => d.create().await,
        None => format!("sqlite://{}", root.path().join("reestr.db").display()),
    };
    let server = Server::reestr(
        root.path(),
        Options {
            database_url: Some(&database_url),
            ..Options::default()
        },
    )
    .await;
    println!(
        "reestr {} (pid {}) on {}",
        server.addr,
        server.pid,
        if pg_admin.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    // 1. Delivery to many watchers.
    let rss_before = server.mem().rss;
    let latencies = delivery(&server, watchers, writes).await;
    let rss_after = server.mem().rss;
    assert_eq!(latencies.len(), watchers * writes, "every delivery");
    let ms = |us: i64| format!("{:.2} ms", us as f64 / 1000.0);
    let mut table = Table::with_header(&["delivery", "figure"]);
    table.row(vec!["watchers".into(), thousands(watchers as f64)]);
    table.row(vec![
        "changes, one every 20 ms".into(),
        thousands(writes as f64),
    ]);
    table.row(vec![
        "deliveries (each once, in order)".into(),
        thousands(latencies.len() as f64),
    ]);
    table.row(vec!["latency p50".into(), ms(quantile(&latencies, 0.5))]);
    table.row(vec!["latency p99".into(), ms(quantile(&latencies, 0.99))]);
    table.row(vec![
        "latency max".into(),
        ms(*latencies.last().unwrap_or(&0)),
    ]);
    table.row(vec![
        "server RSS before / after the watchers".into(),
        format!("{} / {} MiB", rss_before >> 20, rss_after >> 20),
    ]);
    println!();
    table.print();

    // 2. Catch-up.
    let mut changes = ChangeServiceClient::new(server.target().channel().await.expect("channel"));
    let before = head(&mut changes).await;
    let appended = Instant::now();
    append_changes(&database_url, before, bulk).await;
    println!(
        "{} changes appended in {:.1?}",
        thousands(bulk as f64),
        appended.elapsed()
    );
    // From revision 1: the delivery part's changes, then the appended ones.
    let from = 1;
    let to = before + bulk;
    // Written behind the server's back, they reach its follower (which keeps its caches and
    // feeds its watchers) at its next read of the table, within a second, and it reads them
    // all: wait until it has (its classifier list then reflects the last), as it would have
    // followed them one commit at a time.
    let mut classifiers = target_classifiers(&server).await;
    let followed = Instant::now();
    loop {
        let listed = classifiers
            .list_classifiers(pb::ListClassifiersRequest::default())
            .await
            .unwrap_or_else(|s| panic!("list classifiers: {}", describe(&s)))
            .into_inner();
        if listed.revision >= to {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "the server's follower read them in {:.1?}",
        followed.elapsed()
    );
    // Each read warms the same pages; one of each first, then the measured pair.
    let _ = plain_select(&database_url, from).await;
    let (selected, select_took) = plain_select(&database_url, from).await;
    let (watched, watch_took) = catch_up(&server, from, to).await;
    assert_eq!(selected, watched, "the same rows");
    let ratio = select_took.as_secs_f64() / watch_took.as_secs_f64();
    let mut table = Table::with_header(&["catch-up of the same rows", "time", "changes/s"]);
    table.row(vec![
        "plain SELECT … ORDER BY revision (sqlx stream)".into(),
        format!("{:.2} s", select_took.as_secs_f64()),
        thousands(selected as f64 / select_took.as_secs_f64()),
    ]);
    table.row(vec![
        "WatchChanges from revision 1 (gRPC)".into(),
        format!("{:.2} s", watch_took.as_secs_f64()),
        thousands(watched as f64 / watch_took.as_secs_f64()),
    ]);
    println!();
    table.print();
    println!(
        "\nSELECT time / watch time: {ratio:.2} (goal ≥ 0.5: {})",
        verdict(ratio >= 0.5)
    );
    // 3. Soak.
    let soak_seconds: u64 = env_or("REESTR_BENCH_SOAK_SECONDS", 60).max(1);
    let target = server.target();
    create_organization(&target).await;
    let mut systems =
        reestr::proto::v1::information_system_service_client::InformationSystemServiceClient::new(
            target.channel().await.expect("channel"),
        );
    for w in 0..2 {
        systems
            .create_system(pb::CreateSystemRequest {
                system_id: format!("soak-{w}"),
                system: Some(system(
                    &format!("SOAK{w}"),
                    "Soak",
                    "Read, written and watched",
                )),
                request_id: String::new(),
            })
            .await
            .unwrap_or_else(|s| panic!("create the soak system: {}", describe(&s)));
    }
    const READERS: usize = 16;
    let (max, took) = mix(&server, 5, READERS, None, 0, 0).await;
    assert!(max.errors.is_empty(), "{:?}", max.errors);
    let max_rate = max.reads.len() as f64 / took.as_secs_f64();
    let rate = max_rate * 0.8;
    // Paced callers wait for each answer before the next tick: four times as many, each at a
    // quarter of the pace, keep the rate when answers slow down under the mix.
    const PACED: usize = 4 * READERS;
    let every = Duration::from_secs_f64(PACED as f64 / rate);
    let rss_start = server.mem().rss;
    let (soak, took) = mix(&server, soak_seconds, PACED, Some(every), 2, 100).await;
    let rss_end = server.mem().rss;
    let mut table = Table::with_header(&["soak", "figure"]);
    table.row(vec![
        "reads alone, 5 s, 16 callers (GetSystem, GetOrganization, ListSystems in turn)".into(),
        format!("{} /s", thousands(max_rate)),
    ]);
    table.row(vec![
        format!("soak: {soak_seconds} s, reads paced at 80 % of that by 64 callers, 2 writers at 10 writes/s each, 100 watchers"),
        format!("{} reads/s, {} writes", thousands(soak.reads.len() as f64 / took.as_secs_f64()), thousands(soak.writes.len() as f64)),
    ]);
    table.row(vec![
        "errors".into(),
        format!(
            "{} {:?}",
            soak.errors.len(),
            soak.errors.iter().take(5).collect::<Vec<_>>()
        ),
    ]);
    table.row(vec![
        "read p50 / p99".into(),
        format!(
            "{} / {}",
            ms(quantile(&soak.reads, 0.5)),
            ms(quantile(&soak.reads, 0.99))
        ),
    ]);
    table.row(vec![
        "write p50 / p99".into(),
        format!(
            "{} / {}",
            ms(quantile(&soak.writes, 0.5)),
            ms(quantile(&soak.writes, 0.99))
        ),
    ]);
    table.row(vec![
        "changes delivered to the watchers".into(),
        thousands(soak.delivered as f64),
    ]);
    table.row(vec![
        "server RSS at the start / end of the soak".into(),
        format!("{} / {} MiB", rss_start >> 20, rss_end >> 20),
    ]);
    println!();
    table.print();

    server.stop().await;
    if let Some(d) = &mut databases {
        d.drop_now().await;
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
