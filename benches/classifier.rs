//! Benchmark of the register of reference classifiers (see BENCHMARKS.md).
//!
//! Runs the release server as a child process (`reestr serve`, the binary Cargo builds for the
//! benchmark) on fresh data directories, and measures, in one run:
//! 1. lookups: GetItem of a known and of an unknown code on a warm 100,000-item published
//!    version against `grpc.health.v1.Health/Check` of the same server, under identical h2load
//!    load (requests per second, p50 and p99 from h2load's per-request log);
//! 2. import: ImportItems of a generated hierarchical classifier (`REESTR_BENCH_ITEMS`, default
//!    1,000,000 items; 3 levels, names in uz-Latn, ru and en), its CSV generated on the fly and
//!    streamed through `reestr::client::import_csv`, on SQLite and on PostgreSQL, against the
//!    plain engines on the same schema: one prepared `INSERT` executed per row in one
//!    transaction (SQLite; run in a child process pinned to one CPU, see `run`) and
//!    `COPY classifier_items FROM STDIN` (PostgreSQL); publication
//!    (validation and hash) timed separately; the server's peak RSS during the import (for the
//!    small and the large classifier) and during publication;
//! 3. memory: `LoadedVersion::heap_bytes() / encoded_bytes()` of the large version, the
//!    server's RSS growth when it first loads the version after a restart, and the peak RSS of
//!    import and publication against the RSS of a server holding the published version (after
//!    a restart and its first GetItem), on both databases.
//!
//! Beside the goals it reports what explains them: the server's CPU time per call and per
//! imported row (and PostgreSQL's backends', read from `/proc`), GetItem against Check once
//! more with `RUST_LOG=warn` (no log line per call), the PostgreSQL part again with
//! `sslmode=disable`, and the memory of the large version decoded into a `Vec<Item>` (what
//! publication held besides the cached version before it validated over that version).
//! Everything ends in one table; compare figures within a run, not across runs.
//!
//! Needs `h2load` (apt `nghttp2-client`) for part 1 and optionally `grpcurl` to cross-check one
//! lookup; `benches/classifier-h2load.sh` installs both and runs this benchmark.
//!
//! Options (environment):
//! - `REESTR_BENCH_ITEMS` (1000000): items of the large classifier (e.g. 100000 for a quick
//!   check);
//! - `REESTR_BENCH_SMALL_ITEMS` (100000): items of the classifier the lookups run on;
//! - `REESTR_BENCH_H2LOAD` (`-n 200000 -c 4 -m 32 -t 1`): h2load's load options;
//! - `REESTR_BENCH_ROUNDS` (2): h2load rounds (Check, GetItem, GetItem unknown in turn);
//! - `REESTR_BENCH_PG` (`postgres://postgres@127.0.0.1:5432/postgres`): a server-level URL where
//!   the benchmark creates and drops its databases; `off` skips PostgreSQL;
//! - `REESTR_BENCH_PG_PLAIN` (1): also run the PostgreSQL part with `sslmode=disable`;
//! - `REESTR_BENCH_PIN_CPU` (0): the CPU the SQLite INSERT loop is pinned to;
//! - `REESTR_BENCH_UNPINNED` (1): also run that loop unpinned (slow and erratic on a VM);
//! - `REESTR_BENCH_REQUEST_TIMEOUT` (`15m`): the server's `--request-timeout` (its default of
//!   30 s can be shorter than a large import);
//! - `REESTR_BENCH_MEMORY_ONLY` (0): 1 measures memory alone: import and publication of the
//!   large classifier on SQLite and PostgreSQL, then the RSS of the server holding the published
//!   version after a restart, and their ratio; no lookups and no engine baselines.
//!
//! Run: `cargo bench --bench classifier`.

// Test and benchmark arithmetic converts small counts and clock readings it controls; the
// cast lints guard the server's own code.
#![allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use prost::Message as _;
use reestr::api::classifier::cache;
use reestr::client::describe;
use reestr::proto::v1 as pb;
use reestr_domain::classifier::{
    ClassifierDraft, ClassifierId, ContentHasher, Item, VersionId, decode_item, encode_item,
};
use reestr_domain::input::Choice;
use reestr_domain::organization::{OrganizationDraft, OrganizationId, OrganizationKind};
use reestr_store::{AuditContext, ConnectionSettings, Database, Store};
use sea_orm::sqlx::{self, Connection as _};
use tonic_health::pb::HealthCheckRequest;

use support::env_or;
use support::generated::{CODE_PATTERN, Rows, Shape};
use support::h2load::{Load, grpc_frame, have, measured};
use support::report::{Table, mib, thousands, verdict};
use support::server::{Options, PgDatabases, Server, cpu_seconds};
use support::setup::{ORGANIZATION, VERSION, create_classifier, grpcurl};

/// `reestr serve` on the data directory `dir` (SQLite there, or `database_url`), with the
/// server's default log filter unless `rust_log` is given, and `--request-timeout` from
/// `REESTR_BENCH_REQUEST_TIMEOUT` (15m: the default of 30 s can be shorter than a large import).
async fn serve(dir: &Path, database_url: Option<&str>, rust_log: Option<&str>) -> Server {
    let timeout = std::env::var("REESTR_BENCH_REQUEST_TIMEOUT").unwrap_or_else(|_| "15m".into());
    Server::reestr(
        dir,
        Options {
            database_url,
            rust_log,
            request_timeout: Some(&timeout),
            args: &[],
        },
    )
    .await
}

/// h2load's load options: `REESTR_BENCH_H2LOAD`, by default `-n 200000 -c 4 -m 32 -t 1`.
fn h2load_options() -> String {
    std::env::var("REESTR_BENCH_H2LOAD").unwrap_or_else(|_| "-n 200000 -c 4 -m 32 -t 1".into())
}

fn main() {
    if let Ok(items) = std::env::var(DECODE_CHILD) {
        decode_child(items.parse().expect("items"));
        return;
    }
    if let Ok(job) = std::env::var(INSERT_CHILD) {
        let (items, path) = job.split_once(':').expect("items:path");
        insert_child(items.parse().expect("items"), Path::new(path));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

/// One item pre-encoded for the engine baselines.
struct Encoded {
    code: String,
    parent: Option<String>,
    body: Vec<u8>,
}

/// CPU time of PostgreSQL's backends serving the database of `pool` (other than the pool's
/// own connection), by pid.
async fn backend_cpu(pool: &sqlx::PgPool) -> std::collections::HashMap<u32, f64> {
    let pids: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid()",
    )
    .fetch_all(pool)
    .await
    .expect("pg_stat_activity");
    pids.into_iter()
        .filter_map(|p| {
            let p = u32::try_from(p).ok()?;
            Some((p, cpu_seconds(p)?))
        })
        .collect()
}

/// Set in the child process that measures decoded items (see [`decoded_rss`]).
const DECODE_CHILD: &str = "REESTR_BENCH_DECODE_CHILD";

/// RSS growth of a fresh process when it decodes the generated `items` into a `Vec<Item>`,
/// as publication's check (`check_draft`) did besides holding the cached version before it
/// validated over the cached version itself. Measured
/// in a child process, so that neither process's heap is disturbed by the other's frees.
fn decoded_rss(items: usize) -> u64 {
    let output = std::process::Command::new(std::env::current_exe().expect("current_exe"))
        .env(DECODE_CHILD, items.to_string())
        .output()
        .expect("decode child");
    assert!(output.status.success(), "decode child failed");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("decode child output")
}

fn decode_child(items: usize) {
    let encoded: Vec<Vec<u8>> = Rows::new(Shape::of(items))
        .map(|row| {
            let mut body = Vec::new();
            encode_item(&row.item(), &mut body);
            body
        })
        .collect();
    let before = own_rss();
    let decoded: Vec<Item> = encoded
        .iter()
        .map(|e| decode_item(e))
        .collect::<Result<_, _>>()
        .expect("decode");
    println!("{}", own_rss().saturating_sub(before));
    drop(decoded);
}

/// Set in the child process that runs the SQLite INSERT loop (see [`insert_loop_child`]).
const INSERT_CHILD: &str = "REESTR_BENCH_INSERT_CHILD";

/// Runs the SQLite INSERT loop of the generated `items` into a fresh database at `path` in a
/// child process, pinned to one CPU (`REESTR_BENCH_PIN_CPU`, default 0) with `taskset` when
/// there is one. Returns its time, its CPU seconds and how it was pinned.
fn insert_loop_child(path: &Path, items: usize) -> (Duration, f64, Option<String>) {
    let exe = std::env::current_exe().expect("current_exe");
    let cpu = std::env::var("REESTR_BENCH_PIN_CPU").unwrap_or_else(|_| "0".into());
    let pinned = have("taskset").then(|| format!("pinned to CPU {cpu}"));
    let mut command = if pinned.is_some() {
        let mut c = std::process::Command::new("taskset");
        c.arg("-c").arg(&cpu).arg(&exe);
        c
    } else {
        std::process::Command::new(&exe)
    };
    let output = command
        .env(INSERT_CHILD, format!("{items}:{}", path.display()))
        .stderr(Stdio::inherit())
        .output()
        .expect("insert loop child");
    assert!(output.status.success(), "insert loop child failed");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().expect("figure"));
    let (seconds, cpu_seconds) = (fields.next().expect("time"), fields.next().expect("cpu"));
    (Duration::from_secs_f64(seconds), cpu_seconds, pinned)
}

fn insert_child(items: usize, path: &Path) {
    let encoded: Vec<Encoded> = Rows::new(Shape::of(items))
        .map(|row| {
            let mut body = Vec::with_capacity(160);
            encode_item(&row.item(), &mut body);
            Encoded {
                code: row.code,
                parent: row.parent,
                body,
            }
        })
        .collect();
    let url = format!("sqlite://{}", path.display());
    let (elapsed, cpu) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let (database, store) = prepare_database(&url, "large").await;
            let result = sqlite_insert_loop(&database, "large", &encoded).await;
            drop(store);
            database.close().await.expect("close");
            result
        });
    println!("{} {cpu}", elapsed.as_secs_f64());
}

/// This process's resident memory, in bytes.
fn own_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// What importing and publishing one generated classifier through the server took.
struct ServerImport {
    csv_bytes: u64,
    /// CPU seconds the server used during the import.
    server_cpu: f64,
    /// PostgreSQL only: CPU seconds its backends used during the import.
    database_cpu: Option<f64>,
    import: Duration,
    publish: Duration,
    rss_before: u64,
    import_peak: u64,
    publish_peak: u64,
    content_hash: String,
}

/// Creates classifier `id`, imports the generated items into its draft and publishes it. With
/// `postgres`, the server's database (on this machine), whose backends' CPU time is measured.
async fn import_and_publish(
    server: &Server,
    id: &str,
    shape: Shape,
    postgres: Option<&Database>,
) -> ServerImport {
    let target = server.target();
    create_classifier(&target, id).await;
    let rss_before = server.mem().rss;
    server.reset_peak();
    let pool = postgres.map(|db| db.connection().get_postgres_connection_pool());
    let backends_before = match pool {
        Some(pool) => Some(backend_cpu(pool).await),
        None => None,
    };
    let cpu_before = server.cpu_seconds();
    let imported = support::setup::import(&target, id, shape).await;
    let server_cpu = server.cpu_seconds() - cpu_before;
    let database_cpu = match (pool, backends_before) {
        (Some(pool), Some(before)) => Some(
            backend_cpu(pool)
                .await
                .into_iter()
                .map(|(pid, cpu)| cpu - before.get(&pid).copied().unwrap_or(0.0))
                .sum(),
        ),
        _ => None,
    };
    let import_peak = server.mem().peak;
    server.reset_peak();
    let (published, publish) = support::setup::publish(&target, id).await;
    let publish_peak = server.mem().peak;
    ServerImport {
        csv_bytes: imported.csv_bytes,
        server_cpu,
        database_cpu,
        import: imported.took,
        publish,
        rss_before,
        import_peak,
        publish_peak,
        content_hash: published.content_hash,
    }
}

// ------------------------------------------------------------------ the engine baselines

fn audit_ctx() -> AuditContext {
    AuditContext {
        caller: "operator:bench".into(),
        method: "bench".into(),
        ..Default::default()
    }
}

/// A migrated database with an organisation, a classifier `id` and its empty draft: the rows
/// `classifier_items` refers to.
async fn prepare_database(url: &str, id: &str) -> (Database, Store) {
    let database = Database::connect(&ConnectionSettings::new(url))
        .await
        .expect("connect");
    database.migrate_up().await.expect("migrate");
    let store = Store::open(
        database.clone(),
        reestr_store::Clock::system(),
        Default::default(),
    )
    .await
    .expect("store");
    let ctx = audit_ctx();
    let org = OrganizationDraft {
        display_name: BTreeMap::from([("en".to_string(), "Benchmark owner".to_string())]),
        tin: "300000001".into(),
        kind: Choice::Known(OrganizationKind::StateBody),
        ..Default::default()
    }
    .validate("organization")
    .expect("organisation");
    store
        .organizations()
        .create(
            &ctx,
            OrganizationId::from_trusted(ORGANIZATION.into()),
            org,
            None,
            |_| Vec::new(),
        )
        .await
        .expect("create organisation");
    let spec = ClassifierDraft {
        owner: format!("organizations/{ORGANIZATION}"),
        display_name: BTreeMap::from([("en".to_string(), format!("Benchmark {id}"))]),
        code_pattern: CODE_PATTERN.into(),
        hierarchical: true,
        max_depth: 3,
        required_languages: vec!["uz-Latn".into(), "ru".into(), "en".into()],
        ..Default::default()
    }
    .validate("classifier")
    .expect("classifier");
    let cid = ClassifierId::from_trusted(id.into());
    store
        .classifiers()
        .create(&ctx, cid.clone(), spec, None, |_| Vec::new())
        .await
        .expect("create classifier");
    store
        .classifiers()
        .create_version(
            &ctx,
            &cid,
            VersionId::from_trusted(VERSION.into()),
            String::new(),
            None,
            None,
            &|_| Ok(()),
            None,
            |_| Vec::new(),
        )
        .await
        .expect("create draft");
    (database, store)
}

/// One prepared INSERT executed per item, in one transaction.
/// Returns the time and the CPU seconds this process used (SQLite runs in it).
async fn sqlite_insert_loop(database: &Database, id: &str, items: &[Encoded]) -> (Duration, f64) {
    let pool = database.connection().get_sqlite_connection_pool();
    let mut conn = pool.acquire().await.expect("connection");
    let cpu_before = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let started = Instant::now();
    let mut tx = conn.begin().await.expect("begin");
    for e in items {
        sqlx::query(
            "INSERT INTO classifier_items (classifier_id, version_id, code, parent, body) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(VERSION)
        .bind(e.code.as_str())
        .bind(e.parent.as_deref())
        .bind(e.body.as_slice())
        .execute(&mut *tx)
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit");
    (
        started.elapsed(),
        cpu_seconds(std::process::id()).unwrap_or(0.0) - cpu_before,
    )
}

/// `COPY classifier_items FROM STDIN` (text format), fed in 1 MiB pieces.
/// Returns the time and the CPU seconds the connection's backend used.
async fn postgres_copy(database: &Database, id: &str, items: &[Encoded]) -> (Duration, f64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let pool = database.connection().get_postgres_connection_pool();
    let mut conn = pool.acquire().await.expect("connection");
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .expect("pg_backend_pid");
    let backend = u32::try_from(backend).expect("pid");
    let cpu_before = cpu_seconds(backend).unwrap_or(0.0);
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(
            "COPY classifier_items (classifier_id, version_id, code, parent, body) FROM STDIN",
        )
        .await
        .expect("copy");
    let mut buf: Vec<u8> = Vec::with_capacity((1 << 20) + 4096);
    for e in items {
        buf.extend_from_slice(id.as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(VERSION.as_bytes());
        buf.push(b'\t');
        buf.extend_from_slice(e.code.as_bytes());
        buf.push(b'\t');
        match &e.parent {
            Some(p) => buf.extend_from_slice(p.as_bytes()),
            None => buf.extend_from_slice(b"\\N"),
        }
        buf.extend_from_slice(b"\t\\\\x");
        for b in &e.body {
            buf.push(HEX[usize::from(b >> 4)]);
            buf.push(HEX[usize::from(b & 15)]);
        }
        buf.push(b'\n');
        if buf.len() >= 1 << 20 {
            copy.send(buf.as_slice()).await.expect("copy data");
            buf.clear();
        }
    }
    if !buf.is_empty() {
        copy.send(buf.as_slice()).await.expect("copy data");
    }
    let rows = copy.finish().await.expect("copy finish");
    assert_eq!(rows as usize, items.len(), "rows copied");
    let elapsed = started.elapsed();
    let cpu = cpu_seconds(backend).unwrap_or(0.0) - cpu_before;
    (elapsed, cpu)
}

/// Whether the pool's connections to PostgreSQL use TLS.
async fn postgres_tls(database: &Database) -> bool {
    let pool = database.connection().get_postgres_connection_pool();
    sqlx::query_scalar::<_, bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("pg_stat_ssl")
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn rate(items: usize, d: Duration) -> f64 {
    items as f64 / d.as_secs_f64()
}

// ------------------------------------------------------------------ the run

async fn run() {
    let items: usize = env_or("REESTR_BENCH_ITEMS", 1_000_000);
    let small: usize = env_or("REESTR_BENCH_SMALL_ITEMS", 100_000).min(items);
    let rounds: usize = env_or("REESTR_BENCH_ROUNDS", 2).max(1);
    let pg_admin = std::env::var("REESTR_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pg_admin = (pg_admin != "off" && !pg_admin.is_empty()).then_some(pg_admin);
    let pg_plain = env_or("REESTR_BENCH_PG_PLAIN", 1) != 0;
    if env_or("REESTR_BENCH_MEMORY_ONLY", 0) != 0 {
        memory_only(items, pg_admin).await;
        return;
    }
    let large_shape = Shape::of(items);
    let small_shape = Shape::of(small);
    println!(
        "large classifier: {items} items ({} regions, {} districts, {} localities); lookups on {small} items",
        large_shape.regions, large_shape.districts, large_shape.localities
    );
    let mut table = Table::default();
    let root = tempfile::tempdir().expect("tempdir");
    let bench_started = Instant::now();

    // The large classifier, pre-encoded once for the baselines and the memory figure.
    let started = Instant::now();
    let encoded: Vec<Encoded> = Rows::new(large_shape)
        .map(|row| {
            let mut body = Vec::with_capacity(160);
            encode_item(&row.item(), &mut body);
            Encoded {
                code: row.code,
                parent: row.parent,
                body,
            }
        })
        .collect();
    let encoded_bytes: u64 = encoded.iter().map(|e| e.body.len() as u64).sum();
    let mut hasher = ContentHasher::new();
    for e in &encoded {
        hasher.add_encoded(&e.body).expect("codes ascend");
    }
    let expected_hash = hasher.finish();
    let decoded_bytes = decoded_rss(items);
    println!(
        "generated and encoded {items} items in {:.1?}: {} encoded ({:.0} bytes per item)",
        started.elapsed(),
        mib(encoded_bytes),
        encoded_bytes as f64 / items as f64
    );

    // 1. The small classifier: import, publish, then lookups under h2load.
    let small_dir = root.path().join("small");
    std::fs::create_dir_all(&small_dir).expect("dir");
    let server = serve(&small_dir, None, None).await;
    let small_import = import_and_publish(&server, "small", small_shape, None).await;
    println!(
        "SQLite server, {small} items: import {:.2?}, publish {:.2?}, RSS before {}, import peak {}, publish peak {}",
        small_import.import,
        small_import.publish,
        mib(small_import.rss_before),
        mib(small_import.import_peak),
        mib(small_import.publish_peak)
    );
    let looked = lookups(&server, &small_dir, small_shape, rounds).await;
    server.stop().await;
    // The same once more, with no log line per call at all.
    let quiet = if looked.is_some() {
        let server = serve(&small_dir, None, Some("warn")).await;
        let quiet = lookups(&server, &small_dir, small_shape, 1).await;
        server.stop().await;
        quiet
    } else {
        None
    };

    // 2. The large classifier through the server on SQLite.
    let large_dir = root.path().join("large");
    std::fs::create_dir_all(&large_dir).expect("dir");
    let server = serve(&large_dir, None, None).await;
    let sqlite_import = import_and_publish(&server, "large", large_shape, None).await;
    assert_eq!(
        sqlite_import.content_hash, expected_hash,
        "the server's content hash is the hash of the generated items"
    );
    println!(
        "SQLite server, {items} items: import {:.2?} ({} CSV bytes), publish {:.2?}, RSS before {}, import peak {}, publish peak {}",
        sqlite_import.import,
        sqlite_import.csv_bytes,
        sqlite_import.publish,
        mib(sqlite_import.rss_before),
        mib(sqlite_import.import_peak),
        mib(sqlite_import.publish_peak)
    );
    server.stop().await;

    // 3. The first load of the large version after a restart.
    let server = serve(&large_dir, None, None).await;
    let held = first_lookup(&server, "large", &encoded[encoded.len() / 2].code).await;
    let (before, after, first_get) = (held.before, held.after, held.first_get);
    let growth = after.rss.saturating_sub(before.rss);
    println!(
        "restart: RSS {} before the first GetItem, {} after (peak {}); first GetItem {:.2?}, then median {:.2?}",
        mib(before.rss),
        mib(after.rss),
        mib(after.peak),
        first_get,
        held.next_get
    );
    let second_get = held.next_get;
    server.stop().await;

    // 4. The SQLite baseline, and the version's size in memory.
    //    The loop runs in a child process pinned to one CPU: every statement is a hand-off
    //    between the calling thread and sqlx's SQLite worker thread, and across two CPUs of a
    //    virtual machine each hand-off costs a cross-CPU wake-up that varies with what else
    //    runs (measured 10 to 80 s for the same loop). Pinned, the loop measures SQLite and
    //    sqlx themselves. The same loop unpinned, in this process, is reported beside it.
    let base_dir = root.path().join("sqlite-baseline");
    std::fs::create_dir_all(&base_dir).expect("dir");
    let db_path = base_dir.join("reestr.db");
    let (insert_loop, insert_cpu, pinned) = insert_loop_child(&db_path, items);
    println!(
        "SQLite prepared INSERT loop, {items} rows in one transaction ({}): {insert_loop:.2?}",
        pinned.as_deref().unwrap_or("not pinned: taskset missing")
    );
    let unpinned = if env_or("REESTR_BENCH_UNPINNED", 1) != 0 {
        let url = format!("sqlite://{}", base_dir.join("unpinned.db").display());
        let (database, _store) = prepare_database(&url, "large").await;
        let result = sqlite_insert_loop(&database, "large", &encoded).await;
        database.close().await.expect("close");
        println!(
            "SQLite prepared INSERT loop, not pinned, in this process: {:.2?}",
            result.0
        );
        Some(result)
    } else {
        None
    };
    let database = Database::connect(&ConnectionSettings::new(format!(
        "sqlite://{}",
        db_path.display()
    )))
    .await
    .expect("connect");
    let store = Store::open(
        database.clone(),
        reestr_store::Clock::system(),
        Default::default(),
    )
    .await
    .expect("store");
    let started = Instant::now();
    let loaded = cache::load(
        &store,
        &ClassifierId::from_trusted("large".into()),
        &VersionId::from_trusted(VERSION.into()),
    )
    .await
    .expect("load");
    let load_time = started.elapsed();
    assert_eq!(loaded.len(), items);
    assert_eq!(loaded.encoded_bytes() as u64, encoded_bytes);
    let heap = loaded.heap_bytes() as u64;
    drop(loaded);
    drop(store);
    database.close().await.expect("close");

    // 5. PostgreSQL: COPY, and the server's import, with the URL as given (sqlx negotiates TLS
    //    when the server offers it) and with `sslmode=disable`.
    let mut pg_runs: Vec<(String, bool, Duration, f64, ServerImport, Held)> = Vec::new();
    if let Some(admin) = &pg_admin {
        let mut databases = PgDatabases::new(admin.clone());
        let mut variants = vec![("as given", "")];
        if pg_plain {
            variants.push(("sslmode=disable", "?sslmode=disable"));
        }
        for (label, suffix) in variants {
            let url = format!("{}{suffix}", databases.create().await);
            let (database, _) = prepare_database(&url, "large").await;
            let tls = postgres_tls(&database).await;
            let (copy, copy_cpu) = postgres_copy(&database, "large", &encoded).await;
            database.close().await.expect("close");
            println!("PostgreSQL ({label}, TLS {tls}) COPY FROM STDIN, {items} rows: {copy:.2?}");
            let url = format!("{}{suffix}", databases.create().await);
            let pg_dir = root.path().join(format!("postgres-{}", pg_runs.len()));
            std::fs::create_dir_all(&pg_dir).expect("dir");
            let server = serve(&pg_dir, Some(&url), None).await;
            let mut observer = ConnectionSettings::new(&url);
            observer.max_connections = 1;
            let observer = Database::connect(&observer).await.expect("connect");
            let pg_import =
                import_and_publish(&server, "large", large_shape, Some(&observer)).await;
            observer.close().await.expect("close");
            assert_eq!(pg_import.content_hash, expected_hash);
            println!(
                "PostgreSQL ({label}) server, {items} items: import {:.2?}, publish {:.2?}, import peak {}, publish peak {}",
                pg_import.import,
                pg_import.publish,
                mib(pg_import.import_peak),
                mib(pg_import.publish_peak)
            );
            server.stop().await;
            let server = serve(&pg_dir, Some(&url), None).await;
            let held = first_lookup(&server, "large", &encoded[encoded.len() / 2].code).await;
            server.stop().await;
            databases.drop_now().await;
            pg_runs.push((label.to_string(), tls, copy, copy_cpu, pg_import, held));
        }
    }
    println!("benchmark time: {:.0?}", bench_started.elapsed());

    // The report.
    if let Some(l) = &looked {
        let check = mean(&l.check, |x| x.rps);
        let get = mean(&l.get, |x| x.rps);
        let miss = mean(&l.miss, |x| x.rps);
        let (check_p99, get_p99, miss_p99) = (
            mean(&l.check, |x| x.p99_us),
            mean(&l.get, |x| x.p99_us),
            mean(&l.miss, |x| x.p99_us),
        );
        let line = |loads: &[Load]| {
            format!(
                "{} req/s, p50 {:.2} ms, p99 {:.2} ms; server CPU {:.1} µs per call",
                thousands(mean(loads, |x| x.rps)),
                mean(loads, |x| x.p50_us) / 1000.0,
                mean(loads, |x| x.p99_us) / 1000.0,
                mean(loads, |x| x.cpu_us)
            )
        };
        table.add(
            format!("Health/Check (h2load, mean of {rounds})"),
            line(&l.check),
            "",
        );
        table.add(
            format!("GetItem, known code, warm cache, {small} items"),
            line(&l.get),
            "",
        );
        table.add("GetItem, unknown code (NOT_FOUND)", line(&l.miss), "");
        table.add(
            "**GetItem / Check, req/s**",
            format!(
                "**{:.2}** (server CPU per call {:.2} × Check's)",
                get / check,
                mean(&l.get, |x| x.cpu_us) / mean(&l.check, |x| x.cpu_us)
            ),
            format!("≥ 0.70: {}", verdict(get / check >= 0.7)),
        );
        table.add(
            "**GetItem p99 / Check p99**",
            format!("**{:.2}**", get_p99 / check_p99),
            format!("≤ 2: {}", verdict(get_p99 / check_p99 <= 2.0)),
        );
        table.add(
            "**GetItem unknown / known, req/s**",
            format!(
                "**{:.2}** (p99 {:.2} × known)",
                miss / get,
                miss_p99 / get_p99
            ),
            format!("as fast (≥ 0.9): {}", verdict(miss / get >= 0.9)),
        );
        if let Some(q) = &quiet {
            table.add(
                "diagnostic, server with `RUST_LOG=warn` (no per-call log lines): GetItem / Check, unknown / known",
                format!(
                    "{:.2}, {:.2} (Check {} req/s, GetItem {} req/s, unknown {} req/s; server CPU {:.1} / {:.1} / {:.1} µs per call)",
                    mean(&q.get, |x| x.rps) / mean(&q.check, |x| x.rps),
                    mean(&q.miss, |x| x.rps) / mean(&q.get, |x| x.rps),
                    thousands(mean(&q.check, |x| x.rps)),
                    thousands(mean(&q.get, |x| x.rps)),
                    thousands(mean(&q.miss, |x| x.rps)),
                    mean(&q.check, |x| x.cpu_us),
                    mean(&q.get, |x| x.cpu_us),
                    mean(&q.miss, |x| x.cpu_us)
                ),
                "",
            );
        }
    } else {
        table.add("GetItem under h2load", "not measured: h2load missing", "");
    }
    let server_rate = rate(items, sqlite_import.import);
    let insert_rate = rate(items, insert_loop);
    table.add(
        format!(
            "ImportItems, {items} items, SQLite (CSV of {} streamed)",
            mib(sqlite_import.csv_bytes)
        ),
        format!(
            "{:.1} s — {} rows/s",
            sqlite_import.import.as_secs_f64(),
            thousands(server_rate)
        ),
        "",
    );
    table.add(
        format!(
            "plain prepared INSERT loop, one transaction, SQLite ({})",
            pinned.as_deref().unwrap_or("not pinned")
        ),
        format!(
            "{:.1} s — {} rows/s",
            insert_loop.as_secs_f64(),
            thousands(insert_rate)
        ),
        "",
    );
    table.add(
        "CPU per row, SQLite (engine in the calling process)",
        format!(
            "ImportItems: reestr server {:.1} µs; INSERT loop: {:.1} µs",
            per_row(sqlite_import.server_cpu, items),
            per_row(insert_cpu, items)
        ),
        "",
    );
    if let Some((unpinned, unpinned_cpu)) = unpinned {
        table.add(
            "diagnostic: the same INSERT loop not pinned to one CPU",
            format!(
                "{:.1} s — {} rows/s, {:.1} µs CPU per row",
                unpinned.as_secs_f64(),
                thousands(rate(items, unpinned)),
                per_row(unpinned_cpu, items)
            ),
            "",
        );
    }
    table.add(
        "**ImportItems / INSERT loop (SQLite)**",
        format!("**{:.2}**", server_rate / insert_rate),
        format!("≥ 0.50: {}", verdict(server_rate / insert_rate >= 0.5)),
    );
    for (label, tls, copy, copy_cpu, pg_import, _) in &pg_runs {
        let pg_rate = rate(items, pg_import.import);
        let copy_rate = rate(items, *copy);
        let how = format!(
            "PostgreSQL, URL {label} (TLS {})",
            if *tls { "on" } else { "off" }
        );
        table.add(
            format!("ImportItems, {items} items, {how}"),
            format!(
                "{:.1} s — {} rows/s",
                pg_import.import.as_secs_f64(),
                thousands(pg_rate)
            ),
            "",
        );
        table.add(
            format!("COPY classifier_items FROM STDIN, {how}"),
            format!(
                "{:.1} s — {} rows/s",
                copy.as_secs_f64(),
                thousands(copy_rate)
            ),
            "",
        );
        table.add(
            format!("**ImportItems / COPY ({how})**"),
            format!("**{:.2}**", pg_rate / copy_rate),
            format!("≥ 0.50: {}", verdict(pg_rate / copy_rate >= 0.5)),
        );
        table.add(
            format!("CPU per row, {how}"),
            format!(
                "ImportItems: reestr server {:.1} µs + PostgreSQL backends {:.1} µs; COPY: backend {:.1} µs",
                per_row(pg_import.server_cpu, items),
                per_row(pg_import.database_cpu.unwrap_or(0.0), items),
                per_row(*copy_cpu, items)
            ),
            "",
        );
    }
    let mut longest = ("SQLite".to_string(), sqlite_import.import);
    for (label, _, _, _, pg_import, _) in &pg_runs {
        if pg_import.import > longest.1 {
            longest = (format!("PostgreSQL, URL {label}"), pg_import.import);
        }
    }
    table.add(
        "longest ImportItems call vs the server's default `--request-timeout` (30 s)",
        format!("{:.1} s ({})", longest.1.as_secs_f64(), longest.0),
        if longest.1 > Duration::from_secs(30) {
            "**over**: with default settings this import ends DEADLINE_EXCEEDED"
        } else {
            "within"
        },
    );
    table.add(
        format!("PublishClassifierVersion, {items} items (validation + hash), SQLite"),
        secs(sqlite_import.publish),
        "",
    );
    for (label, _, _, _, pg_import, _) in &pg_runs {
        table.add(
            format!("PublishClassifierVersion, {items} items, PostgreSQL, URL {label}"),
            secs(pg_import.publish),
            "",
        );
    }
    let small_growth = small_import
        .import_peak
        .saturating_sub(small_import.rss_before);
    let large_growth = sqlite_import
        .import_peak
        .saturating_sub(sqlite_import.rss_before);
    table.add(
        format!("server peak RSS during ImportItems, {small} items (SQLite)"),
        format!(
            "{} ({} above the {} before)",
            mib(small_import.import_peak),
            mib(small_growth),
            mib(small_import.rss_before)
        ),
        "",
    );
    table.add(
        format!("server peak RSS during ImportItems, {items} items (SQLite)"),
        format!(
            "{} ({} above the {} before)",
            mib(sqlite_import.import_peak),
            mib(large_growth),
            mib(sqlite_import.rss_before)
        ),
        "",
    );
    let import_peak_ratio =
        sqlite_import.import_peak as f64 / small_import.import_peak.max(1) as f64;
    table.add(
        format!("**import peak RSS, {items} / {small} items (SQLite)**"),
        format!("**{import_peak_ratio:.2}**"),
        format!(
            "does not grow (≤ 1.2): {}",
            verdict(import_peak_ratio <= 1.2)
        ),
    );
    for (label, _, _, _, pg_import, _) in &pg_runs {
        table.add(
            format!("server peak RSS during ImportItems, {items} items, PostgreSQL, URL {label}"),
            format!(
                "{} ({} above the {} before)",
                mib(pg_import.import_peak),
                mib(pg_import.import_peak.saturating_sub(pg_import.rss_before)),
                mib(pg_import.rss_before)
            ),
            "",
        );
    }
    table.add(
        format!("server peak RSS during publication, {small} / {items} items (SQLite)"),
        format!(
            "{} / {}",
            mib(small_import.publish_peak),
            mib(sqlite_import.publish_peak)
        ),
        "(publication loads the version, which the cache keeps)",
    );
    table.add(
        format!(
            "diagnostic: {items} items decoded into a `Vec<Item>` (as publication's check did before it read them one at a time)"
        ),
        format!(
            "{} of RSS ({:.0} bytes per item)",
            mib(decoded_bytes),
            decoded_bytes as f64 / items as f64
        ),
        "",
    );
    let ratio = heap as f64 / encoded_bytes as f64;
    table.add(
        format!("**cached version, {items} items: heap_bytes / encoded_bytes**"),
        format!(
            "**{ratio:.2}** ({} / {}; `cache::load` from SQLite took {:.1} s)",
            mib(heap),
            mib(encoded_bytes),
            load_time.as_secs_f64()
        ),
        format!("≤ 3: {}", verdict(ratio <= 3.0)),
    );
    let rss_ratio = growth as f64 / encoded_bytes as f64;
    table.add(
        "**server RSS growth at the first GetItem after a restart / encoded size**",
        format!(
            "**{rss_ratio:.2}** (+{}; peak {} above the RSS before; first GetItem {:.1} s, the next ones {:.2} ms)",
            mib(growth),
            mib(after.peak.saturating_sub(before.rss)),
            first_get.as_secs_f64(),
            second_get.as_secs_f64() * 1000.0
        ),
        format!("≤ 3: {}", verdict(rss_ratio <= 3.0)),
    );
    let sqlite_held = Held {
        before,
        after,
        first_get,
        next_get: second_get,
    };
    peak_over_held(&mut table, items, "SQLite", &sqlite_import, &sqlite_held);
    for (label, _, _, _, pg_import, held) in &pg_runs {
        peak_over_held(
            &mut table,
            items,
            &format!("PostgreSQL, URL {label}"),
            pg_import,
            held,
        );
    }
    table.print();
}

/// A server just started on a data directory holding a published classifier: its memory
/// before and after its first GetItem (which loads the version), and how long lookups took.
struct Held {
    before: support::server::Mem,
    after: support::server::Mem,
    first_get: Duration,
    /// The median of the next 21 GetItem calls.
    next_get: Duration,
}

/// GetItem of `code` in classifier `id` on a server that has not loaded it yet, once and then
/// 21 times more.
async fn first_lookup(server: &Server, id: &str, code: &str) -> Held {
    let before = server.mem();
    server.reset_peak();
    let mut client = server.target().classifiers().await.expect("client");
    let get = || pb::GetItemRequest {
        name: format!("classifiers/{id}/versions/{VERSION}/items/{code}"),
        as_of: None,
    };
    let started = Instant::now();
    let item = client
        .get_item(get())
        .await
        .unwrap_or_else(|s| panic!("GetItem: {}", describe(&s)))
        .into_inner();
    let first_get = started.elapsed();
    assert_eq!(item.code, code);
    let mut warm = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        client.get_item(get()).await.expect("warm GetItem");
        warm.push(started.elapsed());
    }
    warm.sort();
    Held {
        before,
        after: server.mem(),
        first_get,
        next_get: warm[warm.len() / 2],
    }
}

/// The goal of publication in bounded memory: the server's peak RSS during import and
/// publication against the RSS of a server holding the published version.
fn peak_over_held(table: &mut Table, items: usize, db: &str, import: &ServerImport, held: &Held) {
    let peak = import.import_peak.max(import.publish_peak);
    let ratio = peak as f64 / held.after.rss.max(1) as f64;
    table.add(
        format!("server RSS, {items} items, {db}: import peak, publication peak; holding the published version after a restart"),
        format!(
            "{}, {} (from {} before the import); {} ({} before its first GetItem, which took {:.1} s)",
            mib(import.import_peak),
            mib(import.publish_peak),
            mib(import.rss_before),
            mib(held.after.rss),
            mib(held.before.rss),
            held.first_get.as_secs_f64()
        ),
        "",
    );
    table.add(
        format!(
            "**peak RSS of import + publication / RSS holding the version, {items} items, {db}**"
        ),
        format!(
            "**{ratio:.2}** (publication took {:.1} s)",
            import.publish.as_secs_f64()
        ),
        format!("≤ 1.5: {}", verdict(ratio <= 1.5)),
    );
}

/// `REESTR_BENCH_MEMORY_ONLY=1`: import and publication of the large classifier, then a
/// restart and its first GetItem, on SQLite and on PostgreSQL (unless `pg_admin` is `None`).
async fn memory_only(items: usize, pg_admin: Option<String>) {
    let shape = Shape::of(items);
    let mut hasher = ContentHasher::new();
    let mut probe = String::new();
    for (i, row) in Rows::new(shape).enumerate() {
        let mut body = Vec::with_capacity(160);
        encode_item(&row.item(), &mut body);
        hasher.add_encoded(&body).expect("codes ascend");
        if i == items / 2 {
            probe = row.code;
        }
    }
    let expected_hash = hasher.finish();
    println!(
        "memory only: {items} items ({} regions, {} districts, {} localities)",
        shape.regions, shape.districts, shape.localities
    );
    let root = tempfile::tempdir().expect("tempdir");
    let mut table = Table::default();
    let mut databases = pg_admin.map(PgDatabases::new);
    let mut runs: Vec<(&str, Option<String>)> = vec![("SQLite", None)];
    if let Some(databases) = &mut databases {
        runs.push(("PostgreSQL", Some(databases.create().await)));
    }
    for (db, url) in runs {
        let dir = root.path().join(db);
        std::fs::create_dir_all(&dir).expect("dir");
        let server = serve(&dir, url.as_deref(), None).await;
        let imported = import_and_publish(&server, "large", shape, None).await;
        assert_eq!(imported.content_hash, expected_hash, "content hash ({db})");
        server.stop().await;
        let server = serve(&dir, url.as_deref(), None).await;
        let held = first_lookup(&server, "large", &probe).await;
        server.stop().await;
        println!(
            "{db}, {items} items: RSS {} before the import, import peak {}, publication peak {} ({:.2?}); after a restart {} idle, {} holding the version",
            mib(imported.rss_before),
            mib(imported.import_peak),
            mib(imported.publish_peak),
            imported.publish,
            mib(held.before.rss),
            mib(held.after.rss)
        );
        peak_over_held(&mut table, items, db, &imported, &held);
    }
    if let Some(databases) = &mut databases {
        databases.drop_now().await;
    }
    table.print();
}

/// Microseconds of `seconds` per row.
fn per_row(seconds: f64, rows: usize) -> f64 {
    seconds * 1e6 / rows as f64
}

/// grpcurl's answer to one GetItem of item `name` (`None` when grpcurl cannot run).
fn grpcurl_get_item(server: &Server, name: &str) -> Option<String> {
    grpcurl(
        &server.addr,
        &server.token,
        None,
        "reestr.v1.ClassifierService/GetItem",
        &format!("{{\"name\": \"{name}\"}}"),
    )
}

fn mean(loads: &[Load], f: impl Fn(&Load) -> f64) -> f64 {
    loads.iter().map(f).sum::<f64>() / loads.len().max(1) as f64
}

/// h2load runs of one server, interleaved round by round.
struct Lookups {
    check: Vec<Load>,
    get: Vec<Load>,
    miss: Vec<Load>,
}

/// Health/Check and GetItem of a known and of an unknown code under the
/// same h2load load, `rounds` times in turn; `None` without h2load.
async fn lookups(server: &Server, dir: &Path, shape: Shape, rounds: usize) -> Option<Lookups> {
    const GET_ITEM: &str = "/reestr.v1.ClassifierService/GetItem";
    let known = Rows::new(shape)
        .nth(shape.total() / 2)
        .expect("an item")
        .code;
    let unknown = "9999999".to_string();
    let name = |code: &str| format!("classifiers/small/versions/{VERSION}/items/{code}");
    // Warm: one GetItem loads (or finds) the version in memory.
    let mut client = server.target().classifiers().await.expect("client");
    let item = client
        .get_item(pb::GetItemRequest {
            name: name(&known),
            as_of: None,
        })
        .await
        .unwrap_or_else(|s| panic!("GetItem: {}", describe(&s)))
        .into_inner();
    assert_eq!(item.code, known);
    let item_frame_bytes = 5 + item.encoded_len() as u64;
    let status = client
        .get_item(pb::GetItemRequest {
            name: name(&unknown),
            as_of: None,
        })
        .await
        .expect_err("unknown code");
    assert_eq!(status.code(), tonic::Code::NotFound);
    if have("grpcurl") {
        let known_answer = grpcurl_get_item(server, &name(&known)).unwrap_or_default();
        assert!(
            known_answer.contains(&format!("\"code\": \"{known}\"")),
            "grpcurl GetItem: {known_answer}"
        );
        let unknown_answer = grpcurl_get_item(server, &name(&unknown)).unwrap_or_default();
        assert!(
            unknown_answer.contains("NotFound"),
            "grpcurl GetItem: {unknown_answer}"
        );
        println!("grpcurl: GetItem {known} answers the item; GetItem {unknown} answers NotFound");
    } else {
        println!("grpcurl not found: the lookups were checked with the tonic client only");
    }
    if !have("h2load") {
        println!("h2load not found (apt-get install -y nghttp2-client): lookups not measured");
        return None;
    }
    let base = format!("http://{}", server.addr);
    let check_body = grpc_frame(
        &HealthCheckRequest {
            service: String::new(),
        }
        .encode_to_vec(),
    );
    let get_body = |code: &str| {
        grpc_frame(
            &pb::GetItemRequest {
                name: name(code),
                as_of: None,
            }
            .encode_to_vec(),
        )
    };
    let logged_ok = server.log_count(GET_ITEM, "Ok");
    let logged_not_found = server.log_count(GET_ITEM, "NotFound");
    let mut out = Lookups {
        check: Vec::new(),
        get: Vec::new(),
        miss: Vec::new(),
    };
    let options = h2load_options();
    let measured = |label: &str, url: &str, body: &[u8]| {
        measured(server, dir, label, url, body, &server.token, &options)
    };
    let check_url = format!("{base}/grpc.health.v1.Health/Check");
    let get_url = format!("{base}{GET_ITEM}");
    for _ in 0..rounds {
        out.check.push(measured("check", &check_url, &check_body));
        out.get
            .push(measured("get-known", &get_url, &get_body(&known)));
        out.miss
            .push(measured("get-unknown", &get_url, &get_body(&unknown)));
    }
    // Every response must be a real answer: HTTP 200 for all, the item's bytes for the known
    // code and none (a trailers-only NOT_FOUND) for the unknown one; and where the server logs
    // calls, its log agrees on the gRPC status of every one it logs.
    for (label, loads) in [
        ("Check", &out.check),
        ("GetItem", &out.get),
        ("GetItem unknown", &out.miss),
    ] {
        for load in loads {
            assert!(load.done > 0, "{label}: no requests done");
            assert_eq!(load.succeeded, load.done, "{label}: failed requests");
            assert_eq!(load.status_2xx, load.done, "{label}: non-2xx statuses");
        }
    }
    for load in &out.get {
        assert_eq!(
            load.data_bytes,
            load.done * item_frame_bytes,
            "GetItem: every answer carries the item"
        );
    }
    for load in &out.miss {
        assert_eq!(load.data_bytes, 0, "GetItem unknown: a status only");
    }
    let ok = server.log_count(GET_ITEM, "Ok") - logged_ok;
    let not_found = server.log_count(GET_ITEM, "NotFound") - logged_not_found;
    let sent_ok: u64 = out.get.iter().map(|l| l.done).sum();
    let sent_not_found: u64 = out.miss.iter().map(|l| l.done).sum();
    // The server may log only some outcomes (e.g. errors at info, successes at debug): check
    // those it logs.
    if ok > 0 {
        assert_eq!(ok as u64, sent_ok, "GetItem calls logged OK");
    }
    if not_found > 0 {
        assert_eq!(
            not_found as u64, sent_not_found,
            "GetItem calls logged NOT_FOUND"
        );
    }
    println!(
        "server log: {ok} GetItem calls logged OK (of {sent_ok} sent), {not_found} NOT_FOUND (of {sent_not_found})"
    );
    Some(out)
}
