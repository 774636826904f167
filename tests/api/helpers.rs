//! The test harness: a real reestr server, in process, on `127.0.0.1:0`, with a database of
//! its own.
//!
//! Every test gets a fresh database: a SQLite file in a temporary directory, or, when
//! `TEST_DATABASE_URL` names a PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`),
//! a new database `reestr_test_<uuid>` created on it and dropped when the test ends. Server
//! logs go nowhere unless `TEST_LOG` is set.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use reestr::proto::v1::audit_service_client::AuditServiceClient;
use reestr::proto::v1::organization::Kind;
use reestr::proto::v1::organization_service_client::OrganizationServiceClient;
use reestr::proto::v1::token_service_client::TokenServiceClient;
use reestr::proto::v1::{
    CreateOrganizationRequest, CreateTokenRequest, ListTokensRequest, Organization, Role, Token,
};
use reestr::server::{self, ServerConfig, ServerError};
use reestr::telemetry::{self, LogFormat};
use reestr_store::{Clock, ConnectionSettings, Database};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, TransactionTrait};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

/// Adds `authorization: Bearer <secret>` to every call (or nothing, for anonymous clients).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// Calls with `secret`, or anonymous calls.
    pub fn new(secret: Option<&str>) -> Bearer {
        Bearer(secret.map(|s| format!("Bearer {s}").parse().expect("ASCII secret")))
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Another server on a test's database: another process's worth of server (its own pool,
/// caches and change-feed follower), in this process. Stopped when dropped.
pub struct OtherServer {
    /// A channel to it, connected once it serves.
    pub channel: Channel,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
    _dir: TempDir,
}

impl OtherServer {
    /// Stops the server and waits (at most 15 s) until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.task).await;
    }
}

impl Drop for OtherServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A channel whose calls carry a bearer token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// A running server and clients connected to it.
pub struct TestApp {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The bootstrap administrator's secret (read from `admin.token`).
    pub admin_secret: String,
    /// The server's data directory.
    pub data_dir: std::path::PathBuf,
    /// OrganizationService client, as the administrator.
    pub organizations: OrganizationServiceClient<Authed>,
    /// TokenService client, as the administrator.
    pub tokens: TokenServiceClient<Authed>,
    /// AuditService client, as the administrator.
    pub audit: AuditServiceClient<Authed>,
    channel: Channel,
    /// Health client.
    pub health: HealthClient<Channel>,
    /// The server's database URL (for raw SQL in tests).
    pub database_url: String,
    /// The server's clock: the system clock unless the test gave it a manual one.
    pub clock: Clock,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
    database: TestDatabase,
    _dir: TempDir,
}

/// Starts a server with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server whose clock stands at the present moment until the test moves it
/// (`app.clock.advance(…)`).
pub async fn spawn_app_with_manual_clock() -> TestApp {
    let now = reestr_store::Clock::system().now();
    spawn_app_with(|c| c.clock = Clock::manual(now)).await
}

/// Starts a server after `configure` has adjusted its configuration.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServerConfig)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        telemetry::init(LogFormat::Pretty);
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = TestDatabase::create(&dir).await;
    let mut config = ServerConfig::new(
        dir.path().to_path_buf(),
        ConnectionSettings::new(&database.url),
    );
    config.database.max_connections = 8;
    config.health_probe_interval = Duration::from_millis(200);
    // Tests drive hundreds of calls per second with one token; the tests of the rate limit
    // set their own.
    config.limits.rate_limit.per_second = 0;
    config.limits.anonymous_rate_limit.per_second = 0;
    configure(&mut config);
    let clock = config.clock.clone();
    let (addr, stop, task, channel) = serve(config).await;
    let health = HealthClient::new(channel.clone());
    let admin_secret = std::fs::read_to_string(dir.path().join("admin.token"))
        .expect("the server wrote admin.token on first start")
        .trim()
        .to_string();
    let admin = Bearer::new(Some(&admin_secret));
    TestApp {
        addr,
        organizations: OrganizationServiceClient::with_interceptor(channel.clone(), admin.clone()),
        tokens: TokenServiceClient::with_interceptor(channel.clone(), admin.clone()),
        audit: AuditServiceClient::with_interceptor(channel.clone(), admin),
        admin_secret,
        data_dir: dir.path().to_path_buf(),
        channel,
        health,
        database_url: database.url.clone(),
        clock,
        stop: Some(stop),
        task: Some(task),
        database,
        _dir: dir,
    }
}

/// A server with `config` on a free port of 127.0.0.1, SERVING: its address, what stops it,
/// its task and a channel to it.
async fn serve(
    config: ServerConfig,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<Result<(), ServerError>>,
    Channel,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect to the test server");
    wait_for_serving(HealthClient::new(channel.clone())).await;
    (addr, stop, task, channel)
}

async fn wait_for_serving(mut health: HealthClient<Channel>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status());
        if matches!(status, Ok(ServingStatus::Serving)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never became SERVING"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestApp {
    /// The health status of `service` ("" for the whole server).
    pub async fn health_of(&mut self, service: &str) -> ServingStatus {
        let response = self
            .health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .expect("health check");
        response.into_inner().status()
    }

    /// Waits (up to 30 s) until `service` reports `wanted`.
    pub async fn wait_for_health(&mut self, service: &str, wanted: ServingStatus) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if self.health_of(service).await == wanted {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "health of {service:?} never became {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An OrganizationService client calling with `secret` (anonymous with `None`).
    pub fn organizations_as(&self, secret: Option<&str>) -> OrganizationServiceClient<Authed> {
        OrganizationServiceClient::with_interceptor(self.channel.clone(), Bearer::new(secret))
    }

    /// A TokenService client calling with `secret`.
    pub fn tokens_as(&self, secret: Option<&str>) -> TokenServiceClient<Authed> {
        TokenServiceClient::with_interceptor(self.channel.clone(), Bearer::new(secret))
    }

    /// An AuditService client calling with `secret`.
    pub fn audit_as(&self, secret: Option<&str>) -> AuditServiceClient<Authed> {
        AuditServiceClient::with_interceptor(self.channel.clone(), Bearer::new(secret))
    }

    /// A new administrator InformationSystemService client.
    pub fn admin_systems(
        &self,
    ) -> reestr::proto::v1::information_system_service_client::InformationSystemServiceClient<Authed>
    {
        reestr::proto::v1::information_system_service_client::InformationSystemServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer::new(Some(&self.admin_secret)),
        )
    }

    /// A ClassifierService client calling with `secret` (anonymous with `None`).
    pub fn classifiers_as(
        &self,
        secret: Option<&str>,
    ) -> reestr::proto::v1::classifier_service_client::ClassifierServiceClient<Authed> {
        reestr::proto::v1::classifier_service_client::ClassifierServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer::new(secret),
        )
    }

    /// A new administrator ClassifierService client.
    pub fn classifiers(
        &self,
    ) -> reestr::proto::v1::classifier_service_client::ClassifierServiceClient<Authed> {
        self.classifiers_as(Some(&self.admin_secret))
    }

    /// A new administrator OrganizationService client (for concurrent calls).
    pub fn admin_organizations(&self) -> OrganizationServiceClient<Authed> {
        self.organizations_as(Some(&self.admin_secret))
    }

    /// Starts another server on this server's database and waits until it serves.
    pub async fn other_server(&self) -> OtherServer {
        let dir = tempfile::tempdir().expect("data dir of the other server");
        let mut config = ServerConfig::new(
            dir.path().to_path_buf(),
            ConnectionSettings::new(&self.database_url),
        );
        config.database.max_connections = 4;
        config.limits.rate_limit.per_second = 0;
        let (_, stop, task, channel) = serve(config).await;
        OtherServer {
            channel,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    /// Creates a token for `organization` (`None`: operator token) with `roles`, as the
    /// administrator; returns its name and secret.
    pub async fn create_token(
        &mut self,
        organization: Option<&str>,
        roles: &[Role],
    ) -> (String, String) {
        let response = self
            .tokens
            .create_token(CreateTokenRequest {
                token: Some(Token {
                    organization: organization
                        .map(|o| format!("organizations/{o}"))
                        .unwrap_or_default(),
                    roles: roles.iter().map(|r| *r as i32).collect(),
                    display_name: "test".into(),
                    ..Default::default()
                }),
            })
            .await
            .expect("create token")
            .into_inner();
        (response.token.expect("token").name, response.secret)
    }

    /// Creates organisation `id` with TIN `tin`, as the administrator.
    pub async fn create_organization(&mut self, id: &str, tin: &str) -> Organization {
        self.organizations
            .create_organization(CreateOrganizationRequest {
                organization: Some(organization(tin)),
                organization_id: id.to_string(),
                request_id: String::new(),
            })
            .await
            .unwrap_or_else(|e| panic!("create organizations/{id}: {e:?}"))
            .into_inner()
    }

    /// The name of the bootstrap administrator's token (`tokens/{id}`).
    pub async fn admin_token_name(&mut self) -> String {
        self.tokens
            .list_tokens(ListTokensRequest {
                page_size: 1000,
                ..Default::default()
            })
            .await
            .expect("list tokens")
            .into_inner()
            .tokens
            .into_iter()
            .find(|t| t.creator == "operator:bootstrap")
            .expect("the bootstrap token is listed")
            .name
    }

    /// Signals shutdown without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Signals shutdown and waits for the server to stop; returns its result.
    pub async fn stop(&mut self) -> Result<(), ServerError> {
        self.signal_stop();
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }

    /// Runs raw SQL on the PostgreSQL server through the admin connection (not the test's own
    /// database). Panics on SQLite.
    pub async fn execute_admin_sql(&self, sql: &str) {
        let (admin, _) = self.database.admin_url.as_ref().expect("PostgreSQL only");
        let db = Database::connect(&ConnectionSettings::new(admin))
            .await
            .expect("connect as admin");
        db.connection()
            .execute_unprepared(sql)
            .await
            .expect("admin SQL");
        db.close().await.expect("close");
    }

    /// Opens a separate connection that holds the database's write lock (SQLite) or an
    /// exclusive lock on `organizations` (PostgreSQL) until released, so the server's calls
    /// that need it wait.
    pub async fn hold_write_lock(&self) -> WriteLock {
        let db = Database::connect(&ConnectionSettings::new(&self.database_url))
            .await
            .expect("connect for the lock");
        let txn = db.connection().begin().await.expect("begin");
        let sql = if self.is_postgres() {
            "LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE"
        } else {
            "UPDATE settings SET key = key"
        };
        txn.execute_unprepared(sql).await.expect("take the lock");
        WriteLock { txn, db }
    }

    /// Opens a transaction on a connection of its own and runs `statements` in it: what they
    /// write stays invisible, and what they lock stays locked, until [`WriteLock::commit`] (or
    /// [`WriteLock::release`], which rolls back). On SQLite a first write takes the database's
    /// write lock.
    pub async fn hold_transaction(&self, statements: &[&str]) -> WriteLock {
        let db = Database::connect(&ConnectionSettings::new(&self.database_url))
            .await
            .expect("connect for the transaction");
        let txn = db.connection().begin().await.expect("begin");
        for sql in statements {
            txn.execute_unprepared(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        WriteLock { txn, db }
    }

    /// Whether the server runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database.admin_url.is_some()
    }

    /// The channel every client of this app shares, for clients the harness does not build.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Runs one raw SQL statement on the server's database over a connection of its own;
    /// `Err` carries the database's message (e.g. a trigger refusing the statement).
    pub async fn execute_sql(&self, sql: &str) -> Result<(), String> {
        let db = Database::connect(&ConnectionSettings::new(&self.database_url))
            .await
            .expect("connect for raw SQL");
        let result = db
            .connection()
            .execute_unprepared(sql)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        db.close().await.expect("close");
        result
    }

    /// The integer in the first column of the first row of `sql` (e.g. a `COUNT(*)`).
    pub async fn query_i64(&self, sql: &str) -> i64 {
        let db = Database::connect(&ConnectionSettings::new(&self.database_url))
            .await
            .expect("connect for raw SQL");
        let backend = db.connection().get_database_backend();
        let row = db
            .connection()
            .query_one_raw(Statement::from_string(backend, sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: no row"));
        let value = row
            .try_get_by_index::<i64>(0)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        db.close().await.expect("close");
        value
    }

    /// How many events the audit trail holds, counted in the database itself.
    pub async fn audit_event_count(&self) -> i64 {
        self.query_i64("SELECT COUNT(*) FROM audit_events").await
    }

    /// Runs the `reestr` binary with `args`, then `--data-dir` (this server's) and
    /// `--database-url` (this server's database), as an operator would on the server's host.
    pub async fn run_cli(&self, args: &[&str]) -> CliOutput {
        let database = ["--database-url", self.database_url.as_str()];
        self.run_binary(args, &database).await
    }

    /// Runs the `reestr` binary as a client of this server (`upload`, `download`, `import`…):
    /// `args`, then `--server`, `--data-dir` (whose `admin.token` it calls with) and
    /// `--quiet`.
    pub async fn run_client(&self, args: &[&str]) -> CliOutput {
        let server = format!("http://{}", self.addr);
        self.run_binary(args, &["--server", &server, "--quiet"])
            .await
    }

    /// Runs the binary with `args`, `--data-dir` of this server and `more`, without input,
    /// logging only errors; within 60 s.
    async fn run_binary(&self, args: &[&str], more: &[&str]) -> CliOutput {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_reestr"))
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(more)
            .env("NO_COLOR", "1")
            // Logs go to stdout, where the commands print their results: keep them out.
            .env("RUST_LOG", "error")
            .stdin(std::process::Stdio::null())
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), output)
            .await
            .expect("the reestr command finished within 60 s")
            .expect("run the reestr binary");
        CliOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// What one run of the `reestr` binary printed, and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit status (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error (logs and error messages).
    pub stderr: String,
}

/// A valid organisation with TIN `tin` and only the required fields besides.
pub fn organization(tin: &str) -> Organization {
    Organization {
        display_name: BTreeMap::from([("en".to_string(), format!("Organisation {tin}"))]),
        tin: tin.to_string(),
        kind: Kind::StateBody as i32,
        ..Default::default()
    }
}

/// Asserts the status code, the ErrorInfo reason and the register's error domain.
#[track_caller]
pub fn assert_status(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "reestr.uz", "{status:?}");
}

/// The fields named by the BadRequest violations of an INVALID_ARGUMENT status.
#[track_caller]
pub fn bad_request_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.database.drop_now();
    }
}

/// A lock held by [`TestApp::hold_write_lock`] or [`TestApp::hold_transaction`].
pub struct WriteLock {
    txn: DatabaseTransaction,
    db: Database,
}

impl WriteLock {
    /// Rolls back, releasing the lock.
    pub async fn release(self) {
        self.txn.rollback().await.expect("rollback");
        self.db.close().await.expect("close");
    }

    /// Commits what the transaction wrote, releasing its locks.
    pub async fn commit(self) {
        self.txn.commit().await.expect("commit");
        self.db.close().await.expect("close");
    }
}

/// The database of one test (also used by servers the TLS tests start themselves).
pub(crate) struct TestDatabase {
    /// The URL the server connects to.
    pub(crate) url: String,
    /// Server-level URL and database name, on PostgreSQL.
    admin_url: Option<(String, String)>,
}

impl TestDatabase {
    /// A SQLite file in `dir`, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set.
    pub(crate) async fn create(dir: &TempDir) -> TestDatabase {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => {
                let name = format!("reestr_test_{}", uuid::Uuid::new_v4().simple());
                let db = Database::connect(&ConnectionSettings::new(&admin))
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                db.connection()
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                db.close().await.expect("close admin connection");
                TestDatabase {
                    url: with_database(&admin, &name),
                    admin_url: Some((admin, name)),
                }
            }
            _ => TestDatabase {
                url: format!("sqlite://{}", dir.path().join("reestr.db").display()),
                admin_url: None,
            },
        }
    }

    /// Drops a PostgreSQL test database, from a thread of its own: `Drop` cannot await, and
    /// the test's runtime may be shutting down.
    pub(crate) fn drop_now(&mut self) {
        let Some((admin, name)) = self.admin_url.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(db) = Database::connect(&ConnectionSettings::new(&admin)).await {
                    let _ = db
                        .connection()
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = db.close().await;
                }
            });
        })
        .join();
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}
