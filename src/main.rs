//! `reestr`: the register's server and its operator commands.
//!
//! ```text
//! reestr serve                 run the gRPC server (migrations applied on start)
//! reestr migrate up|down|status
//! reestr token create --organization stat --role EDITOR
//! reestr audit verify
//! reestr backup -o reestr.backup / reestr restore -i reestr.backup
//! reestr probe                 one gRPC health check, for container and service managers
//! reestr seed                  load the SOATO regions classifier into a running server
//! reestr import soato.csv --classifier soato --version 2026-1 [--publish]
//! reestr export --classifier soato --version latest -o soato.csv
//! ```
//! Every flag can also be given as an environment variable `REESTR_*` (see `--help`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use reestr::server::connection::ConnectionLimits;
use reestr::server::limits::RateLimit;
use reestr::server::{self, Limits, ServerConfig, TlsFiles};
use reestr::telemetry::{self, LogFormat};
use reestr_domain::access::Role;
use reestr_domain::time::{Calendar, Timestamp};
use reestr_domain::token::TokenDraft;
use reestr_store::{AuditContext, Clock, ConnectionSettings, Database, Store};

/// The server's allocator. A unary call allocates a few dozen small blocks across HTTP/2, tonic
/// and the handler; glibc's `malloc`, `free` and `malloc_consolidate` were about 9 % of the
/// server's samples in a profile of GetItem under load, and with mimalloc a health check costs
/// a tenth fewer instructions (BENCHMARKS.md, "The per-call stack against bare tonic").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Unified Register of Information Systems and Register of reference classifiers.
#[derive(Parser, Debug)]
#[command(name = "reestr", version, about)]
struct Cli {
    /// Log line format.
    #[arg(
        long,
        env = "REESTR_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gRPC server.
    Serve(Box<ServeArgs>),
    /// Manage API tokens directly in the database (bootstrap and operations).
    Token {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Check the audit trail offline.
    Audit {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Load the SOATO regions of Uzbekistan (and their owner, the Statistics Agency) into a
    /// running server, as a published classifier `classifiers/soato`. Does nothing that is
    /// already done.
    Seed(ClientArgs),
    /// Import a CSV file into a classifier draft through a running server (the draft is created
    /// if it does not exist; its content is replaced).
    Import {
        #[command(flatten)]
        client: ClientArgs,
        /// The CSV file (header: code, parent, name:{language}..., see the API docs).
        file: PathBuf,
        /// The classifier id, e.g. `soato`.
        #[arg(long)]
        classifier: String,
        /// The draft's version id, e.g. `2026-1`.
        #[arg(long)]
        version: String,
        /// Publish the version after the import.
        #[arg(long)]
        publish: bool,
    },
    /// Export a classifier version as CSV through a running server.
    Export {
        #[command(flatten)]
        client: ClientArgs,
        /// The classifier id, e.g. `soato`.
        #[arg(long)]
        classifier: String,
        /// The version id, `latest` or `draft`.
        #[arg(long, default_value = "latest")]
        version: String,
        /// Output file; standard output if not given.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Upload a file as the next version of a document of a submission, through a running
    /// server, with a progress bar. A broken connection is resumed where the server's copy
    /// ends; running the same command again after an interruption resumes too.
    Upload {
        #[command(flatten)]
        client: ClientArgs,
        /// The file.
        file: PathBuf,
        /// The submission, `systems/{system}/submissions/{submission}`.
        #[arg(long)]
        submission: String,
        /// The document's id, e.g. `technical-assignment`; an existing document gets its next
        /// version.
        #[arg(long)]
        document: String,
        /// What the document is.
        #[arg(long = "type", value_enum, ignore_case = true)]
        document_type: DocumentTypeArg,
        /// The media type; by default taken from the file's extension (pdf, doc, docx, xlsx,
        /// odt, zip, png, jpg, txt).
        #[arg(long)]
        media_type: Option<String>,
        /// Readable only by the submission's parties and administrators.
        #[arg(long)]
        restricted: bool,
    },
    /// Download a document version through a running server, with a progress bar; its
    /// SHA-256 is checked before the file is put in place.
    Download {
        #[command(flatten)]
        client: ClientArgs,
        /// The document, `systems/{system}/submissions/{submission}/documents/{document}`.
        name: String,
        /// A version; the newest by default.
        #[arg(long, default_value_t = 0)]
        version: i32,
        /// Output file (written as `FILE.part` until whole and verified); standard output if
        /// not given.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a running server's health with one gRPC health check, as a container's
    /// HEALTHCHECK or a service manager runs it: prints the status; exit status 0 when it is
    /// SERVING, 1 when not or when nothing answers in time.
    Probe {
        /// The server (plain-text HTTP/2).
        #[arg(long, env = "REESTR_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
        /// One service's status, e.g. `reestr.v1.OrganizationService`; the whole server's by
        /// default.
        #[arg(long, default_value = "")]
        service: String,
        /// How long the check may take, connecting included.
        #[arg(long, default_value = "3s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Write a consistent copy of the database while servers go on serving (SQLite: `VACUUM
    /// INTO`; PostgreSQL: `pg_dump --format=custom`). Never overwrites a file.
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The backup file to write; must not exist.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Restore a backup into a new database (SQLite: a file that does not exist yet;
    /// PostgreSQL: an empty database), bring its schema forward and verify its audit chain.
    Restore {
        #[command(flatten)]
        db: DbArgs,
        /// The backup file `reestr backup` wrote.
        #[arg(long, short)]
        input: PathBuf,
    },
    /// Apply, roll back or list database migrations.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: MigrateAction,
    },
}

/// What a document is, as `reestr upload --type` takes it.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum DocumentTypeArg {
    /// Technical assignment.
    TechnicalAssignment,
    /// Technical project.
    TechnicalProject,
    /// Working documentation.
    WorkingDocumentation,
    /// Information security assessment.
    SecurityAssessment,
    /// Report of tests or trial operation.
    TestReport,
    /// Operating manual.
    OperatingManual,
    /// Anything else.
    Other,
}

impl From<DocumentTypeArg> for reestr::proto::v1::DocumentType {
    fn from(arg: DocumentTypeArg) -> Self {
        use reestr::proto::v1::DocumentType as T;
        match arg {
            DocumentTypeArg::TechnicalAssignment => T::TechnicalAssignment,
            DocumentTypeArg::TechnicalProject => T::TechnicalProject,
            DocumentTypeArg::WorkingDocumentation => T::WorkingDocumentation,
            DocumentTypeArg::SecurityAssessment => T::SecurityAssessment,
            DocumentTypeArg::TestReport => T::TestReport,
            DocumentTypeArg::OperatingManual => T::OperatingManual,
            DocumentTypeArg::Other => T::Other,
        }
    }
}

#[derive(Subcommand, Debug)]
enum MigrateAction {
    /// Apply the pending migrations, oldest first.
    Up {
        /// Apply only this many (e.g. to stop at a given release's schema); all by default.
        #[arg(long)]
        steps: Option<u32>,
    },
    /// Roll back the newest migrations.
    Down {
        /// How many to roll back.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Subcommand, Debug)]
enum TokenAction {
    /// Create a token and print its secret (shown once).
    Create {
        /// Organisation the token acts for, `organizations/ID` or `ID`; omit for an operator
        /// token whose only role is REGISTRY_ADMIN.
        #[arg(long)]
        organization: Option<String>,
        /// A role: REGISTRY_ADMIN, EDITOR, REVIEWER or READER; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// What the token is for.
        #[arg(long, default_value = "created with reestr token create")]
        display_name: String,
        /// Expire the token after this many days.
        #[arg(long)]
        expire_days: Option<u32>,
        /// The token's own sustained request rate, in place of the server's
        /// `--rate-limit-per-second`.
        #[arg(long)]
        requests_per_second: Option<u32>,
        /// The token's own burst (with `--requests-per-second`; default: as many as the rate).
        #[arg(long, requires = "requests_per_second", default_value_t = 0)]
        burst: u32,
    },
}

#[derive(Subcommand, Debug)]
enum AuditAction {
    /// Recompute the hash chain; exit status 1 if it is broken.
    Verify,
}

/// Database flags. Global, so that they may follow the subcommand's action as well as precede
/// it: `reestr token create --database-url …` and `reestr token --database-url … create`.
#[derive(Args, Debug)]
struct DbArgs {
    /// Directory for the SQLite database and other server files; created if missing.
    #[arg(
        long,
        env = "REESTR_DATA_DIR",
        default_value = "./reestr-data",
        global = true
    )]
    data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`. Default: `reestr.db`
    /// in the data directory.
    #[arg(long, env = "REESTR_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Database connection pool size.
    #[arg(
        long,
        env = "REESTR_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    db_max_connections: u32,
    /// SQLite `synchronous` mode: `full` makes every acknowledged write survive a power cut;
    /// `normal` is faster and survives a crash of the process but not of the machine.
    #[arg(long, env = "REESTR_SQLITE_SYNCHRONOUS", default_value = "full", value_parser = ["full", "normal"], global = true)]
    sqlite_synchronous: String,
    /// The register's time zone (an IANA name): the days of `as_of` dates, item validity and
    /// registration-number years begin and end here.
    #[arg(long, env = "REESTR_TIME_ZONE", default_value = Calendar::DEFAULT_TIME_ZONE, value_parser = parse_time_zone, global = true)]
    time_zone: Calendar,
}

fn parse_time_zone(name: &str) -> Result<Calendar, String> {
    Calendar::new(name)
}

/// How the client commands reach the server.
#[derive(Args, Debug)]
struct ClientArgs {
    /// The server, e.g. `http://127.0.0.1:50051`.
    #[arg(long, env = "REESTR_SERVER", default_value = "http://127.0.0.1:50051")]
    server: String,
    /// Bearer token secret; default: the `admin.token` file in the data directory.
    #[arg(long, env = "REESTR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The server's data directory (where `admin.token` is).
    #[arg(long, env = "REESTR_DATA_DIR", default_value = "./reestr-data")]
    data_dir: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

impl ClientArgs {
    fn target(&self) -> Result<reestr::client::Target, String> {
        reestr::client::Target::new(
            self.server.clone(),
            self.token.clone(),
            &self
                .data_dir
                .join(reestr::server::bootstrap::ADMIN_TOKEN_FILE),
        )
    }
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "REESTR_LISTEN", default_value = "127.0.0.1:50051")]
    listen: String,
    /// Do not apply migrations on start; refuse to start if the schema is behind.
    #[arg(long, env = "REESTR_NO_MIGRATE")]
    no_migrate: bool,
    /// Largest request message accepted, in bytes.
    #[arg(long, env = "REESTR_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_message_bytes: usize,
    /// Concurrent calls (HTTP/2 streams) per connection.
    #[arg(long, env = "REESTR_MAX_CONCURRENT_STREAMS", default_value_t = 200)]
    max_concurrent_streams: u32,
    /// Longest a call may run, e.g. `30s`, `500ms`.
    #[arg(long, env = "REESTR_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Calls in flight across all connections (health and reflection not counted); more are
    /// refused RESOURCE_EXHAUSTED (TOO_MANY_CALLS). 0 disables.
    #[arg(long, env = "REESTR_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    max_concurrent_requests: usize,
    /// Calls in flight of one authenticated caller (token or certificate); 0 disables.
    #[arg(long, env = "REESTR_MAX_CALLS_PER_CALLER", default_value_t = 256)]
    max_calls_per_caller: usize,
    /// Calls in flight from one network address without valid credentials; 0 disables.
    #[arg(
        long,
        env = "REESTR_MAX_ANONYMOUS_CALLS_PER_ADDRESS",
        default_value_t = 32
    )]
    max_anonymous_calls_per_address: usize,
    /// Requests per second each authenticated caller may send (sustained); 0 disables.
    #[arg(long, env = "REESTR_RATE_LIMIT_PER_SECOND", default_value_t = 200)]
    rate_limit_per_second: u32,
    /// Requests a caller may send at once above its sustained rate.
    #[arg(long, env = "REESTR_RATE_LIMIT_BURST", default_value_t = 400)]
    rate_limit_burst: u32,
    /// Requests per second from one network address without valid credentials (anonymous,
    /// or with refused credentials); 0 disables.
    #[arg(
        long,
        env = "REESTR_ANONYMOUS_RATE_LIMIT_PER_SECOND",
        default_value_t = 20
    )]
    anonymous_rate_limit_per_second: u32,
    /// Requests such an address may send at once above its sustained rate.
    #[arg(long, env = "REESTR_ANONYMOUS_RATE_LIMIT_BURST", default_value_t = 50)]
    anonymous_rate_limit_burst: u32,
    /// How long a call may wait for its first request message after its headers.
    #[arg(long, env = "REESTR_FIRST_MESSAGE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    first_message_timeout: Duration,
    /// Largest request metadata (headers) answered with a gRPC status; HTTP/2 refuses header
    /// lists above four times this with HTTP 431.
    #[arg(long, env = "REESTR_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    max_header_bytes: usize,
    /// Connections open at once; more are closed as they are accepted.
    #[arg(long, env = "REESTR_MAX_CONNECTIONS", default_value_t = 1000)]
    max_connections: usize,
    /// How long a new connection may take to send its first bytes (HTTP/2 preface or TLS
    /// hello).
    #[arg(long, env = "REESTR_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    handshake_timeout: Duration,
    /// How long a connection may serve no call before it is closed.
    #[arg(long, env = "REESTR_IDLE_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// PEM certificate chain of the server: serve TLS.
    #[arg(long, env = "REESTR_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the server.
    #[arg(long, env = "REESTR_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificate: require client certificates signed by it (mutual TLS).
    #[arg(long, env = "REESTR_TLS_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
    /// Interval of HTTP/2 keepalive pings.
    #[arg(long, env = "REESTR_KEEPALIVE_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    keepalive_interval: Duration,
    /// How long a keepalive ping may go unanswered.
    #[arg(long, env = "REESTR_KEEPALIVE_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    keepalive_timeout: Duration,
    /// How long in-flight calls may take to finish on shutdown.
    #[arg(long, env = "REESTR_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    shutdown_grace: Duration,
    /// Serve Prometheus metrics (`GET /metrics`, plain HTTP) on this address, e.g.
    /// `127.0.0.1:9090`; off by default.
    #[arg(long, env = "REESTR_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// How often the health probe pings the database.
    #[arg(long, env = "REESTR_HEALTH_PROBE_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    health_probe_interval: Duration,
    /// How long the change feed keeps a change, e.g. `30d`; older ones are removed (the
    /// newest is always kept), and a watch or list from before them is OUT_OF_RANGE
    /// (`REVISION_COMPACTED`).
    #[arg(long, env = "REESTR_CHANGE_RETENTION", default_value = "30d", value_parser = parse_duration)]
    change_retention: Duration,
    /// Memory budget, in MiB, for classifier versions held in memory for lookups; the least
    /// recently used version is evicted when a new one does not fit.
    #[arg(long, env = "REESTR_CLASSIFIER_CACHE_MIB", default_value_t = 512)]
    classifier_cache_mib: usize,
    /// The calendar of days off that review deadlines skip besides weekends: a text file, one
    /// `YYYY-MM-DD name` (or `YYYY-MM-DD working reason`) a line; default: Uzbekistan's public
    /// holidays, shipped with the server (README, "Review deadlines").
    #[arg(long, env = "REESTR_HOLIDAYS")]
    holidays: Option<PathBuf>,
    /// Working days a review round, and an owner's revision, may take.
    #[arg(long, env = "REESTR_REVIEW_WORKING_DAYS", default_value_t = reestr_domain::submission::DEFAULT_WORKING_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=250))]
    review_working_days: u32,
    /// The reviewers a submission of a kind requires when it names none:
    /// `KIND=organizations/a,organizations/b`, once per kind (the environment variable takes
    /// them separated by spaces).
    #[arg(
        long = "default-reviewers",
        env = "REESTR_DEFAULT_REVIEWERS",
        value_delimiter = ' '
    )]
    default_reviewers: Vec<String>,
    /// Where document content is kept: a local directory `file:///path`, or an S3-compatible
    /// bucket `s3://bucket/prefix?endpoint=…` (credentials from the AWS_* environment
    /// variables); default: `documents/` in the data directory.
    #[arg(long, env = "REESTR_DOCUMENT_STORE")]
    document_store: Option<String>,
    /// Largest document, in MiB.
    #[arg(long, env = "REESTR_MAX_DOCUMENT_MIB", default_value_t = 100)]
    max_document_mib: u64,
    /// The media types documents may have, comma-separated; default: PDF, Word, Excel, ODT,
    /// ZIP, PNG, JPEG and plain text.
    #[arg(long, env = "REESTR_DOCUMENT_MEDIA_TYPES", value_delimiter = ',')]
    document_media_types: Vec<String>,
}

/// Parses `250ms`, `30s`, `5m` or `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 30s, 500ms, 5m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        "d" => Ok(Duration::from_secs(n * 86_400)),
        _ => Err(format!("{s:?}: unit must be ms, s, m, h or d")),
    }
}

impl DbArgs {
    /// Works out the connection settings and creates the data directory, in that order: a
    /// URL of an engine the register does not run on is refused before anything is made.
    fn settings(&self) -> Result<ConnectionSettings, String> {
        if let Some(url) = &self.database_url
            && reestr_store::Backend::of_url(url).is_none()
        {
            // Only the scheme is shown: the rest may hold a password.
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(format!(
                "--database-url: {scheme:?} is not an engine reestr runs on; give \
                 sqlite://PATH or postgres://USER@HOST:PORT/DB"
            ));
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            format!(
                "cannot create data directory {}: {e}",
                self.data_dir.display()
            )
        })?;
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => sqlite_url(&self.data_dir.join("reestr.db")),
        };
        let mut settings = ConnectionSettings::new(url);
        settings.max_connections = self.db_max_connections;
        settings.sqlite_synchronous_full = self.sqlite_synchronous == "full";
        Ok(settings)
    }
}

fn sqlite_url(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("sqlite://{}", absolute.display())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A server's failure goes to its log, the one place its operator reads; the other
    // commands print theirs as `error: …`. Either way it is said once.
    let server = matches!(cli.command, Command::Serve(_));
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) if server => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate { db, action } => migrate(db, action).await,
        Command::Backup { db, output } => backup(db, output).await,
        Command::Restore { db, input } => restore(db, input).await,
        Command::Token { db, action } => token(db, action).await,
        Command::Audit { db, action } => audit(db, action).await,
        Command::Probe {
            server,
            service,
            timeout,
        } => {
            println!(
                "{}",
                reestr::client::probe(&server, &service, timeout).await?
            );
            Ok(())
        }
        Command::Seed(client) => {
            for line in reestr::client::seed(&client.target()?).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Import {
            client,
            file,
            classifier,
            version,
            publish,
        } => {
            let target = client.target()?;
            let handle = tokio::fs::File::open(&file)
                .await
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let total = handle.metadata().await.map(|m| m.len()).unwrap_or_default();
            let report = reestr::client::import_csv(
                &target,
                &classifier,
                &version,
                handle,
                total,
                publish,
                !client.quiet,
            )
            .await?;
            println!(
                "imported {} items into {} ({})",
                report.items,
                report.version.name,
                if publish { "published" } else { "draft" }
            );
            Ok(())
        }
        Command::Upload {
            client,
            file,
            submission,
            document,
            document_type,
            media_type,
            restricted,
        } => {
            let request = reestr::client::document::UploadRequest {
                submission,
                document_id: document,
                document_type: document_type.into(),
                media_type,
                restricted,
            };
            let uploaded = reestr::client::document::upload_file(
                &client.target()?,
                &file,
                &request,
                !client.quiet,
            )
            .await?;
            println!(
                "uploaded {} version {} ({} bytes, SHA-256 {})",
                uploaded.name, uploaded.version, uploaded.size_bytes, uploaded.sha256
            );
            Ok(())
        }
        Command::Download {
            client,
            name,
            version,
            output,
        } => {
            use reestr::client::document::Destination;
            let destination = match &output {
                Some(path) => Destination::File(path.clone()),
                None => Destination::Stdout,
            };
            let document = reestr::client::document::download_file(
                &client.target()?,
                &name,
                version,
                &destination,
                !client.quiet && output.is_some(),
            )
            .await?;
            if let Some(path) = output {
                eprintln!(
                    "wrote {} version {} ({} bytes, SHA-256 verified) to {}",
                    document.name,
                    document.version,
                    document.size_bytes,
                    path.display()
                );
            }
            Ok(())
        }
        Command::Export {
            client,
            classifier,
            version,
            output,
        } => {
            let target = client.target()?;
            let mut out: Box<dyn std::io::Write + Send> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::stdout()),
            };
            let bytes = reestr::client::export_csv(
                &target,
                &classifier,
                &version,
                &mut *out,
                !client.quiet && output.is_some(),
            )
            .await?;
            if let Some(path) = output {
                eprintln!("wrote {bytes} bytes to {}", path.display());
            }
            Ok(())
        }
    }
}

/// Connects to a migrated database and opens the store (for the offline commands).
async fn open_store(db: &DbArgs) -> Result<Store, String> {
    let settings = db.settings()?;
    let database = Database::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    database.migrate_up().await.map_err(|e| e.to_string())?;
    Store::open(database, Clock::system(), db.time_zone.clone())
        .await
        .map_err(|e| e.to_string())
}

async fn token(db: DbArgs, action: TokenAction) -> Result<(), String> {
    let store = open_store(&db).await?;
    match action {
        TokenAction::Create {
            organization,
            roles,
            display_name,
            expire_days,
            requests_per_second,
            burst,
        } => {
            if let Some(unknown) = roles.iter().find(|r| parse_role(r).is_none()) {
                return Err(format!(
                    "--role {unknown}: not a role; give REGISTRY_ADMIN, EDITOR, REVIEWER or \
                     READER (in any case)"
                ));
            }
            let now = store.now();
            let draft = TokenDraft {
                organization: organization
                    .map(|o| {
                        if o.starts_with("organizations/") {
                            o
                        } else {
                            format!("organizations/{o}")
                        }
                    })
                    .unwrap_or_default(),
                roles: roles.iter().map(|r| parse_role(r)).collect(),
                display_name,
                expire_time: expire_days.map(|d| {
                    Timestamp::from_micros(now.micros() + i64::from(d) * 86_400 * 1_000_000)
                }),
                rate_limit: requests_per_second.map(|rate| {
                    let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
                    (int(rate), int(burst))
                }),
            };
            let spec = draft.validate(now).map_err(|e| e.to_string())?;
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let ctx = AuditContext {
                caller: format!("operator:{user}"),
                method: "cli:token create".into(),
                ..Default::default()
            };
            let (token, secret) = store
                .tokens()
                .create(&ctx, spec)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("created {}", token.id.name());
            println!("{secret}");
        }
    }
    store.database().close().await.map_err(|e| e.to_string())
}

/// A role as `--role` takes it: in any case, with `-` or `_` (`editor`, `registry-admin`,
/// `REGISTRY_ADMIN`), as clap's value enums are; `None` (refused by the token's validation,
/// which names the roles) for any other word.
fn parse_role(text: &str) -> Option<Role> {
    text.trim()
        .to_ascii_uppercase()
        .replace('-', "_")
        .parse::<Role>()
        .ok()
}

async fn backup(db: DbArgs, output: PathBuf) -> Result<(), String> {
    let settings = db.settings()?;
    let database = Database::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let report = reestr_store::backup::backup(&database, &settings.url, &output).await;
    database.close().await.map_err(|e| e.to_string())?;
    let report = report.map_err(|e| e.to_string())?;
    println!(
        "backed up to {} ({} bytes)",
        report.path.display(),
        report.bytes
    );
    Ok(())
}

async fn restore(db: DbArgs, input: PathBuf) -> Result<(), String> {
    let settings = db.settings()?;
    reestr_store::backup::restore(&settings, &input)
        .await
        .map_err(|e| e.to_string())?;
    // Opening the store applies the migrations a backup of an older release lacks.
    let store = open_store(&db).await?;
    let report = store
        .verify_audit_chain()
        .await
        .map_err(|e| e.to_string())?;
    store.database().close().await.map_err(|e| e.to_string())?;
    match report.first_broken {
        None => {
            println!(
                "restored {}; audit chain intact: {} events verified, head hash {}",
                input.display(),
                report.verified,
                report.head_hash
            );
            Ok(())
        }
        Some(seq) => Err(format!(
            "restored {}, but its audit chain is broken at sequence {seq}",
            input.display()
        )),
    }
}

async fn audit(db: DbArgs, action: AuditAction) -> Result<(), String> {
    let store = open_store(&db).await?;
    match action {
        AuditAction::Verify => {
            let report = store
                .verify_audit_chain()
                .await
                .map_err(|e| e.to_string())?;
            store.database().close().await.map_err(|e| e.to_string())?;
            match report.first_broken {
                None => {
                    println!(
                        "intact: {} events verified, head hash {}",
                        report.verified, report.head_hash
                    );
                    Ok(())
                }
                Some(seq) => Err(format!(
                    "the audit chain is broken at sequence {seq} ({} events verified before it)",
                    report.verified
                )),
            }
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let database = args.db.settings()?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let mut config = ServerConfig::new(args.db.data_dir.clone(), database);
    config.migrate = !args.no_migrate;
    config.calendar = args.db.time_zone.clone();
    config.limits = Limits {
        max_message_bytes: args.max_message_bytes,
        max_concurrent_streams: args.max_concurrent_streams,
        max_concurrent_requests: args.max_concurrent_requests,
        max_calls_per_caller: args.max_calls_per_caller,
        max_anonymous_calls_per_address: args.max_anonymous_calls_per_address,
        rate_limit: RateLimit {
            per_second: args.rate_limit_per_second,
            burst: args.rate_limit_burst,
        },
        anonymous_rate_limit: RateLimit {
            per_second: args.anonymous_rate_limit_per_second,
            burst: args.anonymous_rate_limit_burst,
        },
        first_message_timeout: args.first_message_timeout,
        max_header_bytes: args.max_header_bytes,
        connections: ConnectionLimits {
            max_connections: args.max_connections,
            handshake_timeout: args.handshake_timeout,
            idle_timeout: args.idle_timeout,
        },
        request_timeout: args.request_timeout,
        keepalive_interval: args.keepalive_interval,
        keepalive_timeout: args.keepalive_timeout,
    };
    config.shutdown_grace = args.shutdown_grace;
    config.classifier_cache_bytes = args.classifier_cache_mib.saturating_mul(1 << 20);
    config.health_probe_interval = args.health_probe_interval;
    config.change_retention = args.change_retention;
    config.metrics_listen = args.metrics_listen;
    config.review = review_settings(
        args.holidays.as_deref(),
        args.review_working_days,
        &args.default_reviewers,
    )?;
    config.documents.store_url = args.document_store.clone();
    config.documents.max_bytes = args.max_document_mib.saturating_mul(1 << 20);
    if !args.document_media_types.is_empty() {
        config.documents.media_types = args
            .document_media_types
            .iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
    }
    config.tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert,
            key,
            client_ca: args.tls_client_ca,
        }),
        (None, None) if args.tls_client_ca.is_none() => None,
        _ => {
            return Err(
                "--tls-cert and --tls-key go together, and --tls-client-ca needs both".into(),
            );
        }
    };
    server::run(listener, config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// The review settings of the `serve` flags.
fn review_settings(
    holidays: Option<&std::path::Path>,
    working_days: u32,
    default_reviewers: &[String],
) -> Result<reestr::api::submission::ReviewSettings, String> {
    use reestr_domain::submission::HolidayCalendar;
    let mut settings = reestr::api::submission::ReviewSettings {
        working_days,
        ..Default::default()
    };
    if let Some(path) = holidays {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--holidays {}: {e}", path.display()))?;
        let calendar = HolidayCalendar::parse(&text)
            .map_err(|e| format!("--holidays {}: {e}", path.display()))?;
        settings.holidays = std::sync::Arc::new(calendar);
    }
    for entry in default_reviewers.iter().filter(|e| !e.is_empty()) {
        let (kind, reviewers) = reestr::api::submission::parse_default_reviewers(entry)
            .map_err(|e| format!("--default-reviewers {entry:?}: {e}"))?;
        if settings.default_reviewers.insert(kind, reviewers).is_some() {
            return Err(format!("--default-reviewers: {kind} is given twice"));
        }
    }
    Ok(settings)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

async fn migrate(db: DbArgs, action: MigrateAction) -> Result<(), String> {
    let settings = db.settings()?;
    let database = Database::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    match action {
        MigrateAction::Up { steps: None } => {
            database.migrate_up().await.map_err(|e| e.to_string())?;
            println!("migrations applied");
        }
        MigrateAction::Up { steps: Some(steps) } => {
            database
                .migrate_up_steps(steps)
                .await
                .map_err(|e| e.to_string())?;
            println!("applied up to {steps} pending migration(s)");
        }
        MigrateAction::Down { steps } => {
            database
                .migrate_down(steps)
                .await
                .map_err(|e| e.to_string())?;
            println!("rolled back {steps} migration(s)");
        }
        MigrateAction::Status => {
            for m in database
                .migration_status()
                .await
                .map_err(|e| e.to_string())?
            {
                println!(
                    "{} {}",
                    if m.applied { "applied" } else { "pending" },
                    m.name
                );
            }
        }
    }
    database.close().await.map_err(|e| e.to_string())
}
