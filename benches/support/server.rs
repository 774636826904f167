//! The servers a benchmark measures, each a child process: `reestr serve` (the release binary
//! Cargo builds for the benchmark) or the bare tonic health server of `benches/bare-tonic`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reestr::client::Target;
use reestr_store::{ConnectionSettings, Database};
use sea_orm::ConnectionTrait as _;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    /// VmRSS.
    pub rss: u64,
    /// VmHWM: the peak since start, or since [`Server::reset_peak`].
    pub peak: u64,
}

/// How `reestr serve` is started besides its fresh data directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// `--database-url`; SQLite in the data directory when `None`.
    pub database_url: Option<&'a str>,
    /// `RUST_LOG`; the server's default filter when `None`.
    pub rust_log: Option<&'a str>,
    /// `--request-timeout`; the server's default when `None`.
    pub request_timeout: Option<&'a str>,
    /// Further flags of `reestr serve`.
    pub args: &'a [&'a str],
}

/// A server child process, killed when dropped.
pub struct Server {
    child: tokio::process::Child,
    /// Its process id (for `/proc/<pid>/…`).
    pub pid: u32,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Its directory: the data directory of `reestr serve`, and `server.log`.
    pub dir: PathBuf,
    /// The secret of reestr's `REGISTRY_ADMIN` token (`admin.token`); empty for the bare
    /// server.
    pub token: String,
}

impl Server {
    /// Starts `reestr serve` on the data directory `dir`, on a free port of 127.0.0.1, with
    /// `--rate-limit-per-second 0` and `--max-calls-per-caller 1024` (no per-caller limit on
    /// the benchmark's load) and only the
    /// flags in `options` (none of the caller's `REESTR_*` settings), and waits until it
    /// answers Health/Check SERVING. `REESTR_BENCH_REESTR` names another binary to start (an
    /// older build, to compare two in the same conditions).
    pub async fn reestr(dir: &Path, options: Options<'_>) -> Server {
        let addr = free_addr();
        let binary = std::env::var_os("REESTR_BENCH_REESTR").map_or_else(
            || env!("CARGO_BIN_EXE_reestr").into(),
            std::path::PathBuf::from,
        );
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(dir)
            .arg("--listen")
            .arg(&addr)
            .arg("--rate-limit-per-second")
            .arg("0")
            // h2load's 8 connections x 32 streams are one caller: room for all of them.
            .arg("--max-calls-per-caller")
            .arg("1024")
            .env_remove("RUST_LOG");
        for (key, _) in std::env::vars() {
            if key.starts_with("REESTR_") && !key.starts_with("REESTR_BENCH") {
                command.env_remove(key);
            }
        }
        if let Some(timeout) = options.request_timeout {
            command.arg("--request-timeout").arg(timeout);
        }
        if let Some(url) = options.database_url {
            command.arg("--database-url").arg(url);
        }
        if let Some(filter) = options.rust_log {
            command.env("RUST_LOG", filter);
        }
        command.args(options.args);
        let mut server = Server::spawn(command, addr, dir).await;
        server.token = std::fs::read_to_string(dir.join("admin.token"))
            .expect("admin.token")
            .trim()
            .to_string();
        server
    }

    /// Starts the bare tonic health server `binary` (`benches/bare-tonic`) on a free port of
    /// 127.0.0.1, logging to `dir/server.log`, and waits until it answers SERVING.
    pub async fn bare(binary: &Path, dir: &Path) -> Server {
        let addr = free_addr();
        let mut command = tokio::process::Command::new(binary);
        command.arg(&addr);
        Server::spawn(command, addr, dir).await
    }

    /// Spawns `command` with its output in `dir/server.log` and waits until `addr` answers
    /// `grpc.health.v1.Health/Check` SERVING.
    async fn spawn(mut command: tokio::process::Command, addr: String, dir: &Path) -> Server {
        let log_path = dir.join("server.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("server.log");
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start the server");
        let pid = child.id().expect("pid");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                panic!("the server exited ({status}); see {}", log_path.display());
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the server did not start; see {}",
                log_path.display()
            );
            if health_serving(&addr).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Server {
            child,
            pid,
            addr,
            dir: dir.to_path_buf(),
            token: String::new(),
        }
    }

    /// Where reestr's operator clients find this server, with its administrator's token.
    pub fn target(&self) -> Target {
        Target {
            server: format!("http://{}", self.addr),
            token: self.token.clone(),
        }
    }

    /// VmRSS and VmHWM (the peak since start, or since [`Server::reset_peak`]).
    pub fn mem(&self) -> Mem {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("/proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024)
        };
        Mem {
            rss: field("VmRSS:"),
            peak: field("VmHWM:"),
        }
    }

    /// CPU time the server has used (user and system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid).expect("/proc/<pid>/stat")
    }

    /// Resets VmHWM to the current RSS (`/proc/<pid>/clear_refs`, value 5).
    pub fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").expect("clear_refs");
    }

    /// Stops the server the way an operator does (SIGTERM) and waits for it.
    pub async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                let _ = self.child.kill().await;
            }
        }
    }

    /// Calls of `method` (e.g. `/reestr.v1.ClassifierService/GetItem`) the server's log
    /// records with status `code` (e.g. `Ok`).
    pub fn log_count(&self, method: &str, code: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let method = format!("method={method} ");
        let code = format!("code=\"{code}\"");
        log.lines()
            .map(strip_ansi)
            .filter(|l| l.contains(&method) && l.contains(&code))
            .count()
    }
}

/// `127.0.0.1:<a port that was free a moment ago>`.
fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    format!("127.0.0.1:{port}")
}

/// Whether `addr` answers `grpc.health.v1.Health/Check` (the whole server) SERVING.
async fn health_serving(addr: &str) -> bool {
    let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status == 1)
        .unwrap_or(false)
}

/// CPU time (user and system) process `pid` has used, in seconds; `None` once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which ends with the last ')'): utime and stime are
    // the 12th and 13th, in clock ticks.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// `line` without ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Creates databases on a PostgreSQL server and drops them again (also when the benchmark
/// fails half-way).
pub struct PgDatabases {
    admin: String,
    names: Vec<String>,
}

impl PgDatabases {
    /// A databases' keeper on the server whose server-level URL is `admin`.
    pub fn new(admin: String) -> Self {
        Self {
            admin,
            names: Vec::new(),
        }
    }

    /// A new, empty database; its URL.
    pub async fn create(&mut self) -> String {
        let name = format!("reestr_bench_{}", uuid::Uuid::new_v4().simple());
        let db = Database::connect(&ConnectionSettings::new(&self.admin))
            .await
            .expect("connect to PostgreSQL");
        db.connection()
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        db.close().await.expect("close");
        self.names.push(name.clone());
        let base = self
            .admin
            .rsplit_once('/')
            .map_or(self.admin.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    }

    /// Drops every database made so far.
    pub async fn drop_now(&mut self) {
        Self::drop_all(self.admin.clone(), std::mem::take(&mut self.names)).await;
    }

    async fn drop_all(admin: String, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        if let Ok(db) = Database::connect(&ConnectionSettings::new(&admin)).await {
            for name in names {
                let _ = db
                    .connection()
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
            let _ = db.close().await;
        }
    }
}

impl Drop for PgDatabases {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let names = std::mem::take(&mut self.names);
        if names.is_empty() {
            return;
        }
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(PgDatabases::drop_all(admin, names));
        })
        .join();
    }
}
