//! A first start killed at any moment: the next start serves.
//!
//! The test runs the real `reestr serve` binary on a fresh data directory (and, when
//! `TEST_DATABASE_URL` is set, a fresh PostgreSQL database of its own) and SIGKILLs it at a
//! random moment of its start-up — creating the database, applying the migrations, writing
//! `admin.token` — again and again on the same data directory, as a crash loop would, until
//! one start gets as far as serving. Then it starts the server once more and requires it to
//! serve: health SERVING, a ListOrganizations call answered, and `reestr migrate status`
//! listing every migration as applied. No start in between may fail on its own either (such a
//! failure ends the crash loop of that data directory). It repeats this on new data
//! directories until it has killed enough starts.
//!
//! The kill moments come from a seeded generator. The seed is printed, and
//! `FIRST_START_SEED=<seed>` replays the same moments.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reestr::proto::v1::ListOrganizationsRequest;
use reestr::proto::v1::organization_service_client::OrganizationServiceClient;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Bearer, TestDatabase};

/// How many starts the test kills in all. PostgreSQL kills fewer: each of its data
/// directories costs a second or two more (a database to create, slower starts).
fn kills_wanted(postgres: bool) -> usize {
    if postgres { 8 } else { 40 }
}

/// Kills land uniformly within this many times the duration of an unkilled first start
/// (the median of [`TIMED_FIRST_STARTS`], measured at the beginning of the test on the same
/// machine): about two in three during the start-up, the others on a server that already
/// serves. A first start takes 25–270 ms on SQLite and 0.35–1.2 s on PostgreSQL (debug
/// build, two cores shared with other builds), so a fixed window would miss either most of
/// the start-up or most of the kills.
const WINDOW_PER_FIRST_START: f64 = 1.5;

/// How many unkilled first starts are timed; the first of them also loads the binary from
/// disk, which the median leaves out.
const TIMED_FIRST_STARTS: usize = 3;

/// How long the start after the kills may take to serve.
const SERVE_WITHIN: Duration = Duration::from_secs(20);

/// The log filter of every start: the start-up milestones, and errors.
const LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

#[tokio::test]
async fn a_start_after_kills_at_random_moments_of_the_first_start_serves() {
    let seed = match std::env::var("FIRST_START_SEED") {
        Ok(s) => s.parse().expect("FIRST_START_SEED is a number"),
        Err(_) => rand::rng().random(),
    };
    eprintln!("FIRST_START_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    let started = Instant::now();
    let mut timed = Vec::with_capacity(TIMED_FIRST_STARTS);
    for _ in 0..TIMED_FIRST_STARTS {
        timed.push(Register::fresh().await.time_a_first_start().await);
    }
    timed.sort();
    let first_start = timed[timed.len() / 2];
    let window = first_start
        .mul_f64(WINDOW_PER_FIRST_START)
        .max(Duration::from_millis(20));
    let mut report = Vec::new();
    let (mut kills, mut broken, mut directories) = (0, 0, 0);
    let mut register = Register::fresh().await;
    let kills_wanted = kills_wanted(register.database_url.is_some());
    loop {
        directories += 1;
        report.push(format!("data directory {directories}:"));
        let mut failures = Vec::new();
        while kills < kills_wanted {
            kills += 1;
            let after = Duration::from_micros(rng.random_range(0..duration_micros(window)));
            let round = register.start_and_kill(kills, after).await;
            report.push(round.describe());
            if round.exited.is_some() {
                // The data directory is broken: the start after the kills shows whether
                // for good.
                failures.push(format!("start {} failed on its own", round.number));
                break;
            }
            if round.reached == Milestone::Serving {
                break;
            }
        }
        if let Err(why) = register.serves().await {
            failures.push(format!("the start after the kills {why}"));
        }
        if failures.is_empty() {
            report.push("  then a start serves".into());
        } else {
            broken += 1;
            report.push(format!("  BROKEN: {}", failures.join("; ")));
        }
        if kills == kills_wanted {
            break;
        }
        register = Register::fresh().await;
    }
    let summary = format!(
        "seed {seed} (FIRST_START_SEED={seed} replays it): unkilled first starts took \
         {timed:.1?}; {kills} starts killed within {window:.1?} of their spawn, on \
         {directories} fresh data directories, in {:.1?}; {broken} data directories broken\n{}",
        started.elapsed(),
        report.join("\n")
    );
    eprintln!("{summary}");
    assert_eq!(broken, 0, "{summary}");
}

/// A data directory and database the test starts `reestr serve` on.
struct Register {
    data_dir: PathBuf,
    /// `None`: the server's default, SQLite in the data directory.
    database_url: Option<String>,
    /// Where each start's log is written.
    logs: PathBuf,
    _database: DroppedAtEnd,
    _dir: TempDir,
}

/// How far a start got, by the milestones its log names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Milestone {
    Spawned,
    Listening,
    Migrated,
    Serving,
}

/// What one killed start did.
struct Round {
    number: usize,
    killed_after: Duration,
    reached: Milestone,
    /// Set when the start ended on its own before the kill: a failed start.
    exited: Option<(ExitStatus, String)>,
}

impl Round {
    fn describe(&self) -> String {
        let reached = match self.reached {
            Milestone::Spawned => "before it listened",
            Milestone::Listening => "while it connected or migrated",
            Milestone::Migrated => "after the migrations, before serving",
            Milestone::Serving => "while serving",
        };
        match &self.exited {
            None => format!(
                "  start {:>2}: killed at {:>6.1?}, {reached}",
                self.number, self.killed_after
            ),
            Some((status, error)) => format!(
                "  start {:>2}: FAILED before its kill at {:.1?} ({status}): {error}",
                self.number, self.killed_after
            ),
        }
    }
}

impl Register {
    /// A data directory that does not exist yet, and on PostgreSQL an empty database.
    async fn fresh() -> Register {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database = DroppedAtEnd(TestDatabase::create(&dir).await);
        Register {
            data_dir: dir.path().join("data"),
            // On SQLite the server's default: `reestr.db` in the data directory it creates.
            database_url: database
                .0
                .url
                .starts_with("postgres")
                .then(|| database.0.url.clone()),
            logs: dir.path().to_path_buf(),
            _database: database,
            _dir: dir,
        }
    }

    /// The `reestr` binary with `args`, on this register's data directory and database.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_reestr"));
        command
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("NO_COLOR", "1")
            .env_remove("REESTR_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = &self.database_url {
            command.arg("--database-url").arg(url);
        }
        command
    }

    /// `reestr serve` (on `127.0.0.1:0`, JSON logs) on this register, with `stderr`.
    fn serve(&self, stderr: Stdio) -> Command {
        let mut command =
            self.command(&["--log-format", "json", "serve", "--listen", "127.0.0.1:0"]);
        command.env("RUST_LOG", LOG_FILTER).stderr(stderr);
        command
    }

    /// Starts the server and SIGKILLs it `after` the spawn, unless it ended on its own.
    async fn start_and_kill(&self, number: usize, after: Duration) -> Round {
        let log_path = self.logs.join(format!("start-{number}.log"));
        let log = std::fs::File::create(&log_path).expect("start log");
        let mut child = self.serve(Stdio::from(log)).spawn().expect("spawn reestr");
        tokio::time::sleep(after).await;
        let exited = child.try_wait().expect("poll the server");
        if exited.is_none() {
            child.kill().await.expect("SIGKILL the server");
        }
        let lines = log_lines(&log_path);
        Round {
            number,
            killed_after: after,
            reached: milestone(&lines),
            exited: exited.map(|status| (status, last_error(&lines))),
        }
    }

    /// Starts the server and checks that it serves: health SERVING, ListOrganizations
    /// answered for an administrator, and every migration applied. `Err` says what failed.
    ///
    /// The administrator's token is made with `reestr token create`, not read from the
    /// `admin.token` of the first start: that start commits the token before it writes the
    /// file, and a kill in between leaves a register whose bootstrap secret is nowhere (no
    /// later start writes it again). That is the bootstrap's own matter, not the schema's.
    async fn serves(&self) -> Result<(), String> {
        let mut server = self.start();
        server.wait_serving().await?;
        let secret = match self
            .reestr(&["token", "create", "--role", "REGISTRY_ADMIN"])
            .await
        {
            Ok(secret) => secret,
            Err(why) => {
                server.stop().await;
                return Err(format!("serves, but `reestr token create` fails: {why}"));
            }
        };
        let mut organizations = OrganizationServiceClient::with_interceptor(
            server.channel().await,
            Bearer::new(Some(secret.trim())),
        );
        let listed = organizations
            .list_organizations(ListOrganizationsRequest::default())
            .await;
        server.stop().await;
        if let Err(status) = listed {
            return Err(format!(
                "serves, but ListOrganizations as an administrator fails: {status:?}"
            ));
        }
        let status = self.reestr(&["migrate", "status"]).await;
        match status {
            Ok(status)
                if status.lines().count() > 0
                    && status.lines().all(|line| line.starts_with("applied ")) =>
            {
                Ok(())
            }
            Ok(status) => Err(format!(
                "serves, but `reestr migrate status` says:\n{status}"
            )),
            Err(why) => Err(format!("serves, but `reestr migrate status` fails: {why}")),
        }
    }

    /// How long a first start takes from spawn to its `serving` line, on this (fresh)
    /// register.
    async fn time_a_first_start(self) -> Duration {
        let spawned = Instant::now();
        let mut server = self.start();
        let serving = tokio::time::timeout(SERVE_WITHIN, async {
            while let Some(line) = server.lines.recv().await {
                let said_serving = serde_json::from_str::<serde_json::Value>(&line)
                    .is_ok_and(|l| l["message"] == "serving");
                server.log.push(line);
                if said_serving {
                    return Some(spawned.elapsed());
                }
            }
            None
        })
        .await;
        server.stop().await;
        match serving {
            Ok(Some(took)) => took,
            _ => panic!(
                "an unkilled first start did not serve within {SERVE_WITHIN:?}:\n{}",
                server.log.join("\n")
            ),
        }
    }

    /// Starts the server, reading its log as it comes.
    fn start(&self) -> Server {
        let mut child = self.serve(Stdio::piped()).spawn().expect("spawn reestr");
        let stderr = child.stderr.take().expect("piped stderr");
        let (lines_tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            lines,
            log: Vec::new(),
            addr: None,
        }
    }

    /// What `reestr ARGS` on this register prints on standard output; `Err` with its exit
    /// status and standard error when it fails.
    async fn reestr(&self, args: &[&str]) -> Result<String, String> {
        let mut command = self.command(args);
        command.env("RUST_LOG", "error").stdout(Stdio::piped());
        let output = tokio::time::timeout(Duration::from_secs(30), command.output())
            .await
            .map_err(|_| format!("`reestr {}` did not finish within 30 s", args.join(" ")))?
            .expect("run the reestr binary");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// A running `reestr serve` whose log the test reads.
struct Server {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    log: Vec<String>,
    addr: Option<String>,
}

impl Server {
    /// Waits until health says SERVING; `Err` says why it never did (the start failed, or
    /// the time ran out), with the server's log.
    async fn wait_serving(&mut self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + SERVE_WITHIN;
        let mut health: Option<HealthClient<Channel>> = None;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                if self.addr.is_none() {
                    self.addr = listening_address(&line);
                }
                self.log.push(line);
            }
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                // Whatever the pipe still holds explains the exit.
                while let Some(line) = self.lines.recv().await {
                    self.log.push(line);
                }
                return Err(format!("exited ({status}): {}", last_error(&self.log)));
            }
            if health.is_none()
                && let Some(addr) = &self.addr
            {
                health = Channel::from_shared(format!("http://{addr}"))
                    .expect("server URI")
                    .connect()
                    .await
                    .ok()
                    .map(HealthClient::new);
            }
            if let Some(client) = health.as_mut() {
                let status = client
                    .check(HealthCheckRequest::default())
                    .await
                    .map(|r| r.into_inner().status());
                if matches!(status, Ok(ServingStatus::Serving)) {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "is not SERVING within {SERVE_WITHIN:?}:\n{}",
                    self.log.join("\n")
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A channel to the server (after [`Server::wait_serving`]).
    async fn channel(&self) -> Channel {
        let addr = self.addr.as_ref().expect("the server logged its address");
        Channel::from_shared(format!("http://{addr}"))
            .expect("server URI")
            .connect()
            .await
            .expect("connect to the server")
    }

    async fn stop(&mut self) {
        self.child.kill().await.expect("stop the server");
    }
}

/// The address in the server's `listening` line (`"address":"127.0.0.1:PORT"`).
fn listening_address(line: &str) -> Option<String> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    if event["message"] != "listening" {
        return None;
    }
    Some(event["address"].as_str()?.to_string())
}

/// The log of a finished start (a kill can cut its last line short).
fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// How far a start got, by the milestones its JSON log names.
fn milestone(lines: &[String]) -> Milestone {
    let said = |message: &str| {
        lines.iter().any(|line| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|l| l["message"] == message)
        })
    };
    if said("serving") {
        Milestone::Serving
    } else if said("migrations applied") {
        Milestone::Migrated
    } else if said("listening") {
        Milestone::Listening
    } else {
        Milestone::Spawned
    }
}

/// The error a failed start printed (`error: …`), or its last line.
fn last_error(lines: &[String]) -> String {
    lines
        .iter()
        .rev()
        .find(|line| line.starts_with("error: "))
        .or(lines.last())
        .map_or_else(|| "(no log)".to_string(), Clone::clone)
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).expect("a short duration")
}

/// The test's database, dropped (on PostgreSQL) when the test ends, passed or not.
struct DroppedAtEnd(TestDatabase);

impl Drop for DroppedAtEnd {
    fn drop(&mut self) {
        self.0.drop_now();
    }
}
