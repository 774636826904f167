//! Benchmark of the per-call stack (issue 16, "a lean request path"; see BENCHMARKS.md).
//!
//! How much of a unary call's throughput reestr's stack (the rpc layer, the limits, the
//! authentication, each handler) costs against tonic itself. It starts, as child processes, one
//! process each:
//! - the bare tonic server of `benches/bare-tonic` (`reestr-bench-bare-tonic`: tonic-health's
//!   `grpc.health.v1.Health`, the default `Server::builder()`, nothing else), the limit of a
//!   unary call on this machine;
//! - `reestr serve` (the release binary Cargo builds for the benchmark) on a fresh SQLite data
//!   directory, with `--rate-limit-per-second 0` and otherwise its defaults (log level
//!   included).
//!
//! On reestr it creates an organisation, a classifier whose version of `REESTR_BENCH_ITEMS`
//! generated items is published, and `REESTR_BENCH_SYSTEMS` information systems; it warms and
//! checks every call once with the tonic clients and, when grpcurl is installed, once more with
//! grpcurl. Then, `REESTR_BENCH_RUNS` times, it runs h2load (`REESTR_BENCH_H2LOAD`) on each
//! target in the same order — bare `Health/Check`, reestr `Health/Check`, `GetItem` of a known
//! code, `ValidateCode` of that code, `GetSystem`, `ListSystems` (one page of 10),
//! `GetOrganization`, `ListOrganizations` (one page of 10) — POSTing the
//! gRPC-framed request with `content-type: application/grpc`, `te: trailers` and the
//! administrator's bearer token (the same headers for every target, the bare server included).
//! Every response is checked: all requests done, all HTTP 2xx, and exactly one response
//! message of the expected size per request (a gRPC error is a trailers-only response, without
//! one).
//!
//! It prints, per run, requests per second, p50 and p99 (from h2load's `--log-file`) and the
//! server's CPU time per call (`/proc/<pid>/stat`) of each target, and the ratios of the issue's
//! goals within each run: reestr Check, GetItem and ValidateCode against bare Check (req/s),
//! GetItem's p99 against bare Check's p99; and issue 12's: GetSystem, GetOrganization and the
//! first pages of ListSystems and ListOrganizations against the same server's Check. Compare
//! figures within a run, not across runs.
//!
//! Needs `h2load` (apt `nghttp2-client`) and the bare server built in release
//! (`cargo build --release -p reestr-bench-bare-tonic`); `benches/stack-h2load.sh` installs
//! h2load (and grpcurl), builds the bare server and runs this benchmark.
//!
//! Options (environment):
//! - `REESTR_BENCH_H2LOAD` (`-c 8 -m 32 -t 1 -n 100000`): h2load's load options, the same for
//!   every target;
//! - `REESTR_BENCH_RUNS` (3): runs, each measuring every target once, in the same order;
//! - `REESTR_BENCH_ITEMS` (10000): items of the published classifier version;
//! - `REESTR_BENCH_SYSTEMS` (20): information systems registered (GetSystem reads the first,
//!   ListSystems pages through 10);
//! - `REESTR_BENCH_PG` (unset: SQLite): a PostgreSQL server-level URL, e.g.
//!   `postgres://postgres@127.0.0.1:5432/postgres`; reestr then runs on a fresh database there,
//!   dropped at the end;
//! - `REESTR_BENCH_BARE`: the bare server's binary; by default `reestr-bench-bare-tonic` in
//!   the directory of Cargo's release binaries (where `cargo build --release` puts it).
//!
//! Run: `benches/stack-h2load.sh`, or `cargo bench --bench stack` once h2load and the bare
//! server are there.

// Benchmark arithmetic converts small counts it controls; the cast lints guard the server's
// own code.
#![allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]

mod support;

use std::path::{Path, PathBuf};

use prost::Message;
use reestr::client::describe;
use reestr::proto::v1 as pb;
use reestr::proto::v1::information_system_service_client::InformationSystemServiceClient;
use reestr::proto::v1::organization_service_client::OrganizationServiceClient;
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use support::env_or;
use support::generated::{Rows, Shape};
use support::h2load::{Load, grpc_frame, have, measured};
use support::report::{Table, thousands, verdict};
use support::server::{Options, PgDatabases, Server};
use support::setup::{ORGANIZATION, VERSION, create_classifier, grpcurl, import, publish, system};

/// The classifier the lookups read.
const CLASSIFIER: &str = "stack";
/// The part of `grpc.health.v1` grpcurl needs to call the bare server's Check.
const HEALTH_PROTO: &str = r#"syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
"#;
/// Systems per ListSystems page.
const LIST_PAGE: i32 = 10;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

/// Which server a target is called on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Bare,
    Reestr,
}

/// One measured call: a method of one server with one request.
struct Call {
    /// The label in the report (and of h2load's files).
    label: &'static str,
    side: Side,
    /// `/package.Service/Method`.
    path: &'static str,
    /// The gRPC-framed request.
    body: Vec<u8>,
    /// Bytes of the gRPC-framed response message every call must answer.
    answer_bytes: u64,
}

impl Call {
    fn new<Q: Message, A: Message>(
        label: &'static str,
        side: Side,
        path: &'static str,
        request: &Q,
        answer: &A,
    ) -> Call {
        Call {
            label,
            side,
            path,
            body: grpc_frame(&request.encode_to_vec()),
            answer_bytes: 5 + answer.encoded_len() as u64,
        }
    }
}

/// The bare server's binary: `REESTR_BENCH_BARE`, or `reestr-bench-bare-tonic` beside Cargo's
/// release binaries (this benchmark runs from `<target>/release/deps/`).
fn bare_binary() -> PathBuf {
    if let Ok(path) = std::env::var("REESTR_BENCH_BARE") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("<target>/release/deps/<benchmark>");
    release.join("reestr-bench-bare-tonic")
}

/// Adds the administrator's `authorization: Bearer …` to every call.
#[derive(Clone)]
struct Admin(MetadataValue<Ascii>);

impl Interceptor for Admin {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel to `server` whose calls carry the administrator's token.
async fn admin_channel(server: &Server) -> InterceptedService<Channel, Admin> {
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let bearer = format!("Bearer {}", server.token)
        .parse()
        .expect("ASCII token");
    InterceptedService::new(channel, Admin(bearer))
}

/// A client of the information systems with the administrator's token.
async fn systems_client(
    server: &Server,
) -> InformationSystemServiceClient<InterceptedService<Channel, Admin>> {
    InformationSystemServiceClient::new(admin_channel(server).await)
}

/// Registers systems `bench-system-000`, … owned by the benchmark's organisation.
async fn create_systems(server: &Server, count: usize) {
    let mut client = systems_client(server).await;
    for i in 0..count {
        let id = format!("bench-system-{i:03}");
        client
            .create_system(pb::CreateSystemRequest {
                system_id: id.clone(),
                system: Some(system(
                    &format!("BENCH{i:03}"),
                    &format!("Benchmark system {i}"),
                    "Measures the per-call stack",
                )),
                request_id: String::new(),
            })
            .await
            .unwrap_or_else(|s| panic!("create {id}: {}", describe(&s)));
    }
}

/// Prepares reestr, makes and checks one call of each target with the tonic clients (which
/// also warms them: the first GetItem loads the version into memory), and returns the targets
/// in the order each run measures them.
async fn prepare(bare: &Server, reestr: &Server, items: usize, systems: usize) -> Vec<Call> {
    let target = reestr.target();
    let shape = Shape::of(items);
    create_classifier(&target, CLASSIFIER).await;
    let imported = import(&target, CLASSIFIER, shape).await;
    let (version, published) = publish(&target, CLASSIFIER).await;
    println!(
        "classifier {CLASSIFIER}: {items} items imported in {:.2?} ({} bytes of CSV), published in {published:.2?} as {}",
        imported.took, imported.csv_bytes, version.name
    );
    create_systems(reestr, systems).await;
    println!("{systems} information systems registered");

    let health = HealthCheckRequest {
        service: String::new(),
    };
    let check = |server: &Server| {
        let addr = server.addr.clone();
        let health = health.clone();
        async move {
            let channel = Endpoint::from_shared(format!("http://{addr}"))
                .expect("uri")
                .connect()
                .await
                .expect("connect");
            let answer = HealthClient::new(channel)
                .check(health)
                .await
                .expect("Health/Check")
                .into_inner();
            assert_eq!(answer.status, 1, "{addr}: SERVING");
            answer
        }
    };
    let bare_check = check(bare).await;
    let reestr_check = check(reestr).await;

    let known = Rows::new(shape)
        .nth(shape.total() / 2)
        .expect("an item")
        .code;
    let mut classifiers = target.classifiers().await.expect("classifier client");
    let get_item = pb::GetItemRequest {
        name: format!("classifiers/{CLASSIFIER}/versions/{VERSION}/items/{known}"),
        as_of: None,
    };
    let item = classifiers
        .get_item(get_item.clone())
        .await
        .unwrap_or_else(|s| panic!("GetItem: {}", describe(&s)))
        .into_inner();
    assert_eq!(item.code, known, "GetItem answers the item");
    let validate = pb::ValidateCodeRequest {
        classifier: format!("classifiers/{CLASSIFIER}"),
        code: known.clone(),
        as_of: None,
    };
    let validated = classifiers
        .validate_code(validate.clone())
        .await
        .unwrap_or_else(|s| panic!("ValidateCode: {}", describe(&s)))
        .into_inner();
    assert!(validated.valid, "ValidateCode: {known} is valid");

    let mut systems_api = systems_client(reestr).await;
    let get_system = pb::GetSystemRequest {
        name: "systems/bench-system-000".into(),
        ..Default::default()
    };
    let system = systems_api
        .get_system(get_system.clone())
        .await
        .unwrap_or_else(|s| panic!("GetSystem: {}", describe(&s)))
        .into_inner();
    assert_eq!(system.name, get_system.name, "GetSystem answers the system");
    // The same system at its revision 1: always read from the database (the point-read
    // copies hold current states only), the cost every GetSystem had before them.
    let get_system_revision = pb::GetSystemRequest {
        revision: 1,
        ..get_system.clone()
    };
    let system_revision = systems_api
        .get_system(get_system_revision.clone())
        .await
        .unwrap_or_else(|s| panic!("GetSystem revision 1: {}", describe(&s)))
        .into_inner();
    assert_eq!(system_revision, system, "nothing changed since revision 1");
    let list_systems = pb::ListSystemsRequest {
        page_size: LIST_PAGE,
        ..Default::default()
    };
    let listed = systems_api
        .list_systems(list_systems.clone())
        .await
        .unwrap_or_else(|s| panic!("ListSystems: {}", describe(&s)))
        .into_inner();
    assert_eq!(
        listed.systems.len(),
        systems.min(LIST_PAGE as usize),
        "ListSystems: one page"
    );
    let mut organizations_api = OrganizationServiceClient::new(admin_channel(reestr).await);
    let get_organization = pb::GetOrganizationRequest {
        name: format!("organizations/{ORGANIZATION}"),
        ..Default::default()
    };
    let organization = organizations_api
        .get_organization(get_organization.clone())
        .await
        .unwrap_or_else(|s| panic!("GetOrganization: {}", describe(&s)))
        .into_inner();
    assert_eq!(organization.name, get_organization.name);
    let list_organizations = pb::ListOrganizationsRequest {
        page_size: LIST_PAGE,
        ..Default::default()
    };
    let organizations = organizations_api
        .list_organizations(list_organizations.clone())
        .await
        .unwrap_or_else(|s| panic!("ListOrganizations: {}", describe(&s)))
        .into_inner();
    assert_eq!(
        organizations.organizations.len(),
        1,
        "ListOrganizations: the owner"
    );

    if have("grpcurl") {
        let cross = [
            (
                bare,
                "grpc.health.v1.Health/Check",
                "{}".to_string(),
                "\"SERVING\"".to_string(),
            ),
            (
                reestr,
                "grpc.health.v1.Health/Check",
                "{}".to_string(),
                "\"SERVING\"".to_string(),
            ),
            (
                reestr,
                "reestr.v1.ClassifierService/GetItem",
                format!("{{\"name\": \"{}\"}}", get_item.name),
                format!("\"code\": \"{known}\""),
            ),
            (
                reestr,
                "reestr.v1.ClassifierService/ValidateCode",
                format!(
                    "{{\"classifier\": \"{}\", \"code\": \"{known}\"}}",
                    validate.classifier
                ),
                "\"valid\": true".to_string(),
            ),
            (
                reestr,
                "reestr.v1.InformationSystemService/GetSystem",
                format!("{{\"name\": \"{}\"}}", get_system.name),
                format!("\"name\": \"{}\"", get_system.name),
            ),
            (
                reestr,
                "reestr.v1.InformationSystemService/ListSystems",
                format!("{{\"page_size\": {LIST_PAGE}}}"),
                "\"systems\": [".to_string(),
            ),
        ];
        // The bare server offers no reflection: grpcurl reads the Health service from a file.
        let health_proto = bare.dir.join("health.proto");
        std::fs::write(&health_proto, HEALTH_PROTO).expect("health.proto");
        for (server, method, json, expect) in cross {
            let proto = (server.token.is_empty()).then_some(health_proto.as_path());
            let answer =
                grpcurl(&server.addr, &reestr.token, proto, method, &json).unwrap_or_default();
            assert!(answer.contains(&expect), "grpcurl {method}: {answer}");
        }
        println!("grpcurl: every target answers as expected");
    } else {
        println!("grpcurl not found: the targets were checked with the tonic clients only");
    }

    const CHECK: &str = "/grpc.health.v1.Health/Check";
    vec![
        Call::new("bare Check", Side::Bare, CHECK, &health, &bare_check),
        Call::new("reestr Check", Side::Reestr, CHECK, &health, &reestr_check),
        Call::new(
            "GetItem",
            Side::Reestr,
            "/reestr.v1.ClassifierService/GetItem",
            &get_item,
            &item,
        ),
        Call::new(
            "ValidateCode",
            Side::Reestr,
            "/reestr.v1.ClassifierService/ValidateCode",
            &validate,
            &validated,
        ),
        Call::new(
            "GetSystem",
            Side::Reestr,
            "/reestr.v1.InformationSystemService/GetSystem",
            &get_system,
            &system,
        ),
        Call::new(
            "GetSystem revision 1 (database)",
            Side::Reestr,
            "/reestr.v1.InformationSystemService/GetSystem",
            &get_system_revision,
            &system_revision,
        ),
        Call::new(
            "ListSystems",
            Side::Reestr,
            "/reestr.v1.InformationSystemService/ListSystems",
            &list_systems,
            &listed,
        ),
        Call::new(
            "GetOrganization",
            Side::Reestr,
            "/reestr.v1.OrganizationService/GetOrganization",
            &get_organization,
            &organization,
        ),
        Call::new(
            "ListOrganizations",
            Side::Reestr,
            "/reestr.v1.OrganizationService/ListOrganizations",
            &list_organizations,
            &organizations,
        ),
    ]
}

async fn run() {
    let options =
        std::env::var("REESTR_BENCH_H2LOAD").unwrap_or_else(|_| "-c 8 -m 32 -t 1 -n 100000".into());
    let runs: usize = env_or("REESTR_BENCH_RUNS", 3).max(1);
    let items: usize = env_or("REESTR_BENCH_ITEMS", 10_000);
    let systems: usize = env_or("REESTR_BENCH_SYSTEMS", 20).max(1);
    let pg_admin = std::env::var("REESTR_BENCH_PG")
        .ok()
        .filter(|url| !url.is_empty() && url != "off");
    assert!(
        have("h2load"),
        "h2load not found: apt-get install -y nghttp2-client (benches/stack-h2load.sh does)"
    );
    let binary = bare_binary();
    assert!(
        binary.is_file(),
        "{} not found: cargo build --release -p reestr-bench-bare-tonic (benches/stack-h2load.sh does), or set REESTR_BENCH_BARE",
        binary.display()
    );

    let root = tempfile::tempdir().expect("tempdir");
    let bare_dir = root.path().join("bare");
    let reestr_dir = root.path().join("reestr");
    std::fs::create_dir_all(&bare_dir).expect("dir");
    std::fs::create_dir_all(&reestr_dir).expect("dir");
    let bare = Server::bare(&binary, &bare_dir).await;
    let mut databases = pg_admin.clone().map(PgDatabases::new);
    let database_url = match &mut databases {
        Some(d) => Some(d.create().await),
        None => None,
    };
    let reestr = Server::reestr(
        &reestr_dir,
        Options {
            database_url: database_url.as_deref(),
            ..Options::default()
        },
    )
    .await;
    println!(
        "reestr on {}",
        if database_url.is_some() {
            "PostgreSQL (a fresh database)"
        } else {
            "SQLite"
        }
    );
    println!(
        "bare tonic server {} (pid {}), reestr {} (pid {}); h2load {options}, {runs} runs",
        bare.addr, bare.pid, reestr.addr, reestr.pid
    );
    let calls = prepare(&bare, &reestr, items, systems).await;

    // loads[run][call]
    let mut loads: Vec<Vec<Load>> = Vec::new();
    for run in 1..=runs {
        println!("run {run}");
        let mut this = Vec::new();
        for call in &calls {
            let server = match call.side {
                Side::Bare => &bare,
                Side::Reestr => &reestr,
            };
            let url = format!("http://{}{}", server.addr, call.path);
            let label = format!("run{run}-{}", call.label.replace(' ', "-"));
            let load = measured(
                server,
                root.path(),
                &label,
                &url,
                &call.body,
                &reestr.token,
                &options,
            );
            assert!(load.done > 0, "{label}: no requests done");
            assert_eq!(load.succeeded, load.done, "{label}: failed requests");
            assert_eq!(load.status_2xx, load.done, "{label}: non-2xx statuses");
            assert_eq!(
                load.data_bytes,
                load.done * call.answer_bytes,
                "{label}: every call answers one message of {} bytes (a gRPC error has none)",
                call.answer_bytes
            );
            this.push(load);
        }
        loads.push(this);
    }
    reestr.stop().await;
    bare.stop().await;
    report(&calls, &loads);
}

/// Prints the figures of every run and the ratios of the issue's goals within each run.
fn report(calls: &[Call], loads: &[Vec<Load>]) {
    let index = |label: &str| {
        calls
            .iter()
            .position(|c| c.label == label)
            .expect("a target")
    };
    let (bare, check, get, validate, get_system, list) = (
        index("bare Check"),
        index("reestr Check"),
        index("GetItem"),
        index("ValidateCode"),
        index("GetSystem"),
        index("ListSystems"),
    );
    let (get_organization, list_organizations) =
        (index("GetOrganization"), index("ListOrganizations"));
    let runs: Vec<String> = (1..=loads.len()).map(|r| format!("run {r}")).collect();
    let mut header = vec!["target"];
    header.extend(runs.iter().map(String::as_str));
    let mut figures = Table::with_header(&header);
    for (i, call) in calls.iter().enumerate() {
        let mut row = vec![format!("{} req/s", call.label)];
        row.extend(loads.iter().map(|run| thousands(run[i].rps)));
        figures.row(row);
        let mut row = vec![format!("{} p50 / p99, ms", call.label)];
        row.extend(loads.iter().map(|run| {
            format!(
                "{:.2} / {:.2}",
                run[i].p50_us / 1000.0,
                run[i].p99_us / 1000.0
            )
        }));
        figures.row(row);
        let mut row = vec![format!("{} server CPU, µs per call", call.label)];
        row.extend(loads.iter().map(|run| format!("{:.1}", run[i].cpu_us)));
        figures.row(row);
    }
    println!();
    println!("Figures per run (h2load's req/s; p50 and p99 from its per-request log):");
    figures.print();

    let mut header = vec!["within each run"];
    header.extend(runs.iter().map(String::as_str));
    header.push("goal");
    let mut ratios = Table::with_header(&header);
    let mut goal = |name: &str, f: &dyn Fn(&[Load]) -> f64, limit: Option<(bool, f64)>| {
        let values: Vec<f64> = loads.iter().map(|run| f(run)).collect();
        let mut row = vec![name.to_string()];
        row.extend(values.iter().map(|v| format!("{v:.2}")));
        row.push(match limit {
            Some((at_least, limit)) => {
                let met = values
                    .iter()
                    .filter(|&&v| if at_least { v >= limit } else { v <= limit })
                    .count();
                format!(
                    "{} {limit}: {} ({met} of {} runs)",
                    if at_least { "≥" } else { "≤" },
                    verdict(met == values.len()),
                    values.len()
                )
            }
            None => String::new(),
        });
        ratios.row(row);
    };
    let rps = |a: usize, b: usize| move |run: &[Load]| run[a].rps / run[b].rps;
    let cpu = |a: usize, b: usize| move |run: &[Load]| run[a].cpu_us / run[b].cpu_us;
    goal(
        "**reestr Check / bare Check, req/s**",
        &rps(check, bare),
        Some((true, 0.9)),
    );
    goal(
        "**GetItem / bare Check, req/s**",
        &rps(get, bare),
        Some((true, 0.8)),
    );
    goal(
        "**ValidateCode / bare Check, req/s**",
        &rps(validate, bare),
        Some((true, 0.8)),
    );
    goal(
        "**GetItem p99 / bare Check p99**",
        &|run: &[Load]| run[get].p99_us / run[bare].p99_us,
        Some((false, 1.5)),
    );
    // Issue 12: point reads and first pages against the same server's Check.
    goal(
        "GetSystem revision 1 (database) / reestr Check, req/s",
        &rps(index("GetSystem revision 1 (database)"), check),
        None,
    );
    for (name, at) in [
        ("GetSystem", get_system),
        ("ListSystems (first page)", list),
        ("GetOrganization", get_organization),
        ("ListOrganizations (first page)", list_organizations),
    ] {
        goal(
            &format!("**{name} / reestr Check, req/s**"),
            &rps(at, check),
            Some((true, 0.5)),
        );
    }
    goal(
        "server CPU per call: reestr Check / bare Check",
        &cpu(check, bare),
        None,
    );
    goal(
        "server CPU per call: GetItem / bare Check",
        &cpu(get, bare),
        None,
    );
    goal(
        "server CPU per call: ValidateCode / bare Check",
        &cpu(validate, bare),
        None,
    );
    println!();
    println!("Ratios within each run:");
    ratios.print();
}
