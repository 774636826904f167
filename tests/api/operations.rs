//! What an operator meets first: the `reestr` binary started and run as the README says, with
//! the mistakes a new user makes. Each test runs the real binary.
//!
//! - A data directory whose `admin.token` belongs to another register is never overwritten:
//!   the start stops and says what to do; a token file this register does not know is warned
//!   about.
//! - A database URL of another engine is refused before anything is made; PostgreSQL that
//!   does not answer is retried, with the cause in the log and the delay the log names; a
//!   database that does not exist stops the start at once.
//! - Errors are said once; `--role` takes any case; `reestr probe` answers for health checks;
//!   `reestr seed` run again names its own version.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reestr::proto::v1::ListOrganizationsRequest;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{CliOutput, spawn_app};

/// Runs `reestr` with `args`, without input, within 60 s.
async fn reestr(args: &[&str]) -> CliOutput {
    let output = Command::new(env!("CARGO_BIN_EXE_reestr"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("reestr finished within 60 s")
        .expect("run the reestr binary");
    CliOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A `reestr serve` process with JSON logs, read line by line.
struct Serving {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    seen: Vec<serde_json::Value>,
}

impl Serving {
    fn start(data_dir: &Path, database_url: &str) -> Serving {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reestr"))
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--database-url", database_url])
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start reestr serve");
        let stderr = child.stderr.take().expect("stderr");
        Serving {
            child,
            lines: BufReader::new(stderr).lines(),
            seen: Vec::new(),
        }
    }

    /// The next log event that `wanted` accepts, within `within`; panics with the log so far
    /// otherwise.
    async fn wait_for(
        &mut self,
        within: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match tokio::time::timeout(left, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                other => panic!(
                    "no such log line within {within:?} ({other:?}); the log:\n{:#?}",
                    self.seen
                ),
            };
            let event: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
            self.seen.push(event.clone());
            if wanted(&event) {
                return event;
            }
        }
    }

    /// The address the server listens on, from its `listening` line.
    async fn address(&mut self) -> String {
        let event = self
            .wait_for(Duration::from_secs(30), |e| e["message"] == "listening")
            .await;
        event["address"]
            .as_str()
            .unwrap_or_else(|| panic!("the address is a plain string: {event}"))
            .to_string()
    }

    async fn stop(mut self) -> Vec<serde_json::Value> {
        let _ = self.child.kill().await;
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.next_line()).await
        {
            if let Ok(event) = serde_json::from_str(&line) {
                self.seen.push(event);
            }
        }
        self.seen
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn message(event: &serde_json::Value) -> &str {
    event["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_start_on_a_data_directory_of_another_register_stops_and_keeps_its_token() {
    let app = spawn_app().await;
    let token_file = app.data_dir.join("admin.token");
    let before = std::fs::read(&token_file).expect("the app's admin.token");
    let other = tempfile::tempdir().expect("temporary directory");

    let out = reestr(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        app.data_dir.to_str().unwrap(),
        "--database-url",
        &sqlite_url(&other.path().join("other.db")),
    ])
    .await;

    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("admin.token exists")
            && out.stderr.contains("another register")
            && out.stderr.contains("--data-dir"),
        "the error says what happened and what to do: {}",
        out.stderr
    );
    assert_eq!(
        std::fs::read(&token_file).unwrap(),
        before,
        "the file is untouched"
    );
    // The register the file belongs to still takes it.
    app.organizations_as(Some(&app.admin_secret))
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("the administrator's token still works");
}

#[tokio::test]
async fn a_token_file_of_another_register_is_warned_about_and_kept() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, "rst_not-a-token-of-this-register\n").unwrap();

    let mut server = Serving::start(dir.path(), &app.database_url);
    let warning = server
        .wait_for(Duration::from_secs(30), |e| {
            message(e).contains("no token of this register")
        })
        .await;
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(warning["file"], token_file.display().to_string());
    server
        .wait_for(Duration::from_secs(30), |e| e["message"] == "serving")
        .await;
    server.stop().await;
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap(),
        "rst_not-a-token-of-this-register\n"
    );
}

#[tokio::test]
async fn a_url_of_another_engine_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data_dir = dir.path().join("new");
    let out = reestr(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--database-url",
        "mysql://root:secret@127.0.0.1:3306/reestr",
    ])
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("\"mysql\""), "{}", out.stderr);
    assert!(!out.stderr.contains("secret"), "the password is not shown");
    assert!(!out.stderr.contains("listening"), "{}", out.stderr);
    assert!(!data_dir.exists(), "no data directory was made");
}

#[tokio::test]
async fn an_unreachable_postgresql_is_retried_with_its_cause_and_calls_meanwhile_are_logged_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // Nothing listens on port 1.
    let mut server = Serving::start(dir.path(), "postgres://postgres@127.0.0.1:1/reestr");
    let started = Instant::now();
    let address = server.address().await;
    let first = server
        .wait_for(Duration::from_secs(10), |e| {
            e["message"] == "database not answering"
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the first warning comes at once, not after a pool's timeout: {:?}",
        started.elapsed()
    );
    let cause = first["error"].as_str().unwrap_or_default();
    assert!(
        cause.contains("127.0.0.1:1") && cause.to_lowercase().contains("refused"),
        "the warning names the cause: {first}"
    );
    assert!(!cause.contains("pool timed out"), "{first}");
    assert_eq!(first["retry_in"], "200ms", "{first}");
    let second = server
        .wait_for(Duration::from_secs(10), |e| {
            e["message"] == "database not answering"
        })
        .await;
    assert_eq!(second["retry_in"], "400ms", "the delay doubles: {second}");

    // A call while the register is starting: UNAVAILABLE, logged once.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut client =
        reestr::proto::v1::organization_service_client::OrganizationServiceClient::new(channel);
    let mut request = tonic::Request::new(ListOrganizationsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Bearer rst_whatever".parse().unwrap());
    let status = client.list_organizations(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("starting"), "{status:?}");
    let call = server
        .wait_for(Duration::from_secs(10), |e| e["message"] == "rpc")
        .await;
    // Latency in milliseconds, to the microsecond: no float noise in the log.
    let latency = call["latency_ms"].as_f64().expect("latency_ms");
    assert_eq!(call["latency_ms"].to_string(), format!("{latency}"));
    assert!(
        call["latency_ms"]
            .to_string()
            .split('.')
            .nth(1)
            .is_none_or(|decimals| decimals.len() <= 3),
        "{call}"
    );
    let log = server.stop().await;
    let about_the_call: Vec<_> = log
        .iter()
        .filter(|e| {
            e.to_string().contains("ListOrganizations")
                || message(e).contains("storage unavailable")
        })
        .collect();
    assert_eq!(about_the_call.len(), 1, "{about_the_call:#?}");
}

#[tokio::test]
async fn a_postgresql_database_that_does_not_exist_stops_the_start_at_once() {
    let Some(base) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        return; // a PostgreSQL-only mistake; run with TEST_DATABASE_URL set
    };
    let (server, _) = base.rsplit_once('/').expect("a URL with a database");
    let missing = format!("reestr_no_such_{}", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    let out = reestr(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--database-url",
        &format!("{server}/{missing}"),
    ])
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out.stderr
            .contains(&format!("database \"{missing}\" does not exist")),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("does not exist").count(),
        1,
        "said once: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("not answering"), "not retried");
}

#[tokio::test]
async fn cli_errors_are_said_once_and_roles_take_any_case() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201122919").await;
    let refused = app
        .run_cli(&["token", "create", "--role", "superuser"])
        .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert_eq!(
        refused.stderr.matches("superuser").count(),
        1,
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.starts_with("error: "), "{}", refused.stderr);

    for (organization, role) in [(None, "registry-admin"), (Some("stat"), "editor")] {
        let mut args = vec!["token", "create", "--role", role];
        if let Some(org) = organization {
            args.extend(["--organization", org]);
        }
        let out = app.run_cli(&args).await;
        assert_eq!(out.code, Some(0), "{role}: {out:?}");
        let secret = out.stdout.trim();
        app.organizations_as(Some(secret))
            .list_organizations(ListOrganizationsRequest::default())
            .await
            .unwrap_or_else(|s| panic!("{role}: the new token works: {s:?}"));
    }
}

#[tokio::test]
async fn probe_says_serving_or_fails() {
    let app = spawn_app().await;
    let server = format!("http://{}", app.addr);
    for service in ["", "reestr.v1.OrganizationService"] {
        let out = reestr(&["probe", "--server", &server, "--service", service]).await;
        assert_eq!(out.code, Some(0), "{service:?}: {out:?}");
        assert_eq!(out.stdout.trim(), "SERVING");
    }
    let unknown = reestr(&["probe", "--server", &server, "--service", "no.Such"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(unknown.stderr.contains("NotFound"), "{unknown:?}");

    let started = Instant::now();
    let nobody = reestr(&["probe", "--server", "http://127.0.0.1:1", "--timeout", "2s"]).await;
    assert_eq!(nobody.code, Some(1), "{nobody:?}");
    assert!(nobody.stderr.contains("cannot connect"), "{nobody:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn seed_run_again_names_its_own_version() {
    let app = spawn_app().await;
    let first = app.run_client(&["seed"]).await;
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(first.stdout.contains("classifiers/soato/versions/2026-1"));
    let csv: PathBuf = [env!("CARGO_MANIFEST_DIR"), "seed", "soato-regions.csv"]
        .iter()
        .collect();
    let newer = app
        .run_client(&[
            "import",
            csv.to_str().unwrap(),
            "--classifier",
            "soato",
            "--version",
            "2027-1",
            "--publish",
        ])
        .await;
    assert_eq!(newer.code, Some(0), "{newer:?}");
    let again = app.run_client(&["seed"]).await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(
        again
            .stdout
            .contains("classifiers/soato/versions/2026-1 is already published"),
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("2027-1"), "{}", again.stdout);
}

/// Every table of a database, as sorted lines of SQL: SQLite through Python's `iterdump`
/// (schema and rows), PostgreSQL through `pg_dump --data-only` (rows and sequence values; a
/// restored schema's CHECK constraints print differently, though they are the same). Row
/// order is not compared.
async fn dump(url: &str) -> Vec<String> {
    let output = if let Some(path) = url.strip_prefix("sqlite://") {
        Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1])\n\
                 print('\\n'.join(c.iterdump()))",
                path,
            ])
            .output()
            .await
    } else {
        Command::new("pg_dump")
            .args(["--data-only", "--column-inserts", "--dbname", url])
            .output()
            .await
    }
    .expect("run the dump");
    assert!(
        output.status.success(),
        "dump of {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        // pg_dump's comments and its per-run `\restrict` keys differ between any two dumps.
        .filter(|l| !l.is_empty() && !l.starts_with("--") && !l.starts_with('\\'))
        .map(str::to_string)
        .collect();
    lines.sort_unstable();
    lines
}

/// A database for a restore, made and dropped by the test: a new SQLite file, or a new
/// PostgreSQL database beside the test's own.
struct RestoreTarget {
    url: String,
    postgres: Option<(String, String)>,
}

impl RestoreTarget {
    async fn new(dir: &Path) -> RestoreTarget {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if admin.starts_with("postgres") => {
                let name = format!("reestr_restore_{}", uuid::Uuid::new_v4().simple());
                psql(&admin, &format!("CREATE DATABASE {name}")).await;
                let (server, _) = admin.rsplit_once('/').expect("a URL with a database");
                RestoreTarget {
                    url: format!("{server}/{name}"),
                    postgres: Some((admin, name)),
                }
            }
            _ => RestoreTarget {
                url: sqlite_url(&dir.join("restored").join("reestr.db")),
                postgres: None,
            },
        }
    }

    async fn drop_database(self) {
        if let Some((admin, name)) = self.postgres {
            psql(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}

async fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args(["--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-c", sql, url])
        .output()
        .await
        .expect("run psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn backup_then_restore_gives_identical_tables_and_a_verifying_audit_chain() {
    let mut app = spawn_app().await;
    // Something in most tables: organisations, tokens, a published classifier with its
    // items, the audit trail and the change feed.
    let seeded = app.run_client(&["seed"]).await;
    assert_eq!(seeded.code, Some(0), "{seeded:?}");
    app.create_organization("soliq", "200000001").await;
    let token = app
        .run_cli(&[
            "token",
            "create",
            "--organization",
            "soliq",
            "--role",
            "EDITOR",
        ])
        .await;
    assert_eq!(token.code, Some(0), "{token:?}");

    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("reestr.backup");
    let file_arg = file.to_str().unwrap();
    let backed_up = app.run_cli(&["backup", "--output", file_arg]).await;
    assert_eq!(backed_up.code, Some(0), "{backed_up:?}");
    assert!(backed_up.stdout.contains("backed up to"), "{backed_up:?}");
    // Never over an existing file.
    let again = app.run_cli(&["backup", "--output", file_arg]).await;
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(again.stderr.contains("never overwrites"), "{again:?}");

    let target = RestoreTarget::new(dir.path()).await;
    let restore_dir = dir.path().join("restore-data");
    let restore = |url: String| {
        let restore_dir = restore_dir.clone();
        async move {
            reestr(&[
                "restore",
                "--input",
                file_arg,
                "--data-dir",
                restore_dir.to_str().unwrap(),
                "--database-url",
                &url,
            ])
            .await
        }
    };
    let restored = restore(target.url.clone()).await;
    assert_eq!(restored.code, Some(0), "{restored:?}");
    assert!(
        restored.stdout.contains("audit chain intact"),
        "{restored:?}"
    );
    let source = dump(&app.database_url).await;
    let copy = dump(&target.url).await;
    for table in [
        "organizations",
        "tokens",
        "classifier_versions",
        "audit_events",
        "change_events",
    ] {
        assert!(
            source
                .iter()
                .any(|l| l.starts_with("INSERT INTO") && l.contains(table)),
            "the dump has rows of {table}: {source:#?}"
        );
    }
    if source != copy {
        let only_source: Vec<_> = source.iter().filter(|l| !copy.contains(l)).collect();
        let only_copy: Vec<_> = copy.iter().filter(|l| !source.contains(l)).collect();
        panic!(
            "the restored tables differ:\nonly in the source: {only_source:#?}\nonly in the copy: {only_copy:#?}"
        );
    }
    // A restore never goes over a database that has tables.
    let over = restore(target.url.clone()).await;
    assert_eq!(over.code, Some(1), "{over:?}");
    let verified = reestr(&[
        "audit",
        "verify",
        "--data-dir",
        restore_dir.to_str().unwrap(),
        "--database-url",
        &target.url,
    ])
    .await;
    assert_eq!(verified.code, Some(0), "{verified:?}");
    target.drop_database().await;
}

/// The migrations of the register's first release (2026-11-28): organisations, access and
/// audit, systems, classifiers.
const FIRST_RELEASE_MIGRATIONS: u32 = 4;

#[tokio::test]
async fn a_database_of_the_first_release_is_migrated_forward_and_serves() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let target = RestoreTarget::new(dir.path()).await;
    std::fs::create_dir_all(dir.path().join("restored")).expect("the database's directory");
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let on_db = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--data-dir".into(), data.into()]);
        all.extend(["--database-url".into(), target.url.clone()]);
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            reestr(&refs).await
        }
    };
    let first = on_db(&[
        "migrate",
        "up",
        "--steps",
        &FIRST_RELEASE_MIGRATIONS.to_string(),
    ])
    .await;
    assert_eq!(first.code, Some(0), "{first:?}");
    let status = on_db(&["migrate", "status"]).await;
    let lines: Vec<&str> = status.stdout.lines().collect();
    let applied = lines.iter().filter(|l| l.starts_with("applied ")).count();
    assert_eq!(applied, FIRST_RELEASE_MIGRATIONS as usize, "{lines:#?}");
    assert!(
        lines.len() > applied && lines[applied..].iter().all(|l| l.starts_with("pending ")),
        "migrate status says what is pending: {lines:#?}"
    );

    // An organisation as the first release stored it.
    let database =
        reestr_store::Database::connect(&reestr_store::ConnectionSettings::new(target.url.clone()))
            .await
            .expect("connect");
    sea_orm::ConnectionTrait::execute_unprepared(
        database.connection(),
        "INSERT INTO organizations (id, display_name, search_text, tin, kind, parent_id, \
         region_code, email, phone, website, create_time, update_time, delete_time, revision) \
         VALUES ('legacy', '{\"en\":\"Legacy Agency\"}', 'legacy agency', '200000009', \
         'STATE_BODY', NULL, '1726', 'info@legacy.uz', NULL, NULL, 1764547200000000, \
         1764547200000000, NULL, 1)",
    )
    .await
    .expect("insert a first-release organisation");
    database.close().await.expect("close");

    let mut server = Serving::start(&data_dir, &target.url);
    let address = server.address().await;
    server
        .wait_for(Duration::from_secs(60), |e| e["message"] == "serving")
        .await;
    let secret = std::fs::read_to_string(data_dir.join("admin.token")).expect("admin.token");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let mut client =
        reestr::proto::v1::organization_service_client::OrganizationServiceClient::with_interceptor(
            channel,
            crate::helpers::Bearer::new(Some(secret.trim())),
        );
    let legacy = client
        .get_organization(reestr::proto::v1::GetOrganizationRequest {
            name: "organizations/legacy".into(),
            ..Default::default()
        })
        .await
        .expect("the first release's organisation is served")
        .into_inner();
    assert_eq!(legacy.display_name["en"], "Legacy Agency");
    assert_eq!(legacy.tin, "200000009");
    assert_eq!(legacy.region_code, "1726");
    server.stop().await;

    let status = on_db(&["migrate", "status"]).await;
    assert!(
        status.stdout.lines().all(|l| l.starts_with("applied ")),
        "{status:?}"
    );
    let verified = on_db(&["audit", "verify"]).await;
    assert_eq!(verified.code, Some(0), "{verified:?}");
    target.drop_database().await;
}
