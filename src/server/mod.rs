//! The server: start-up, services, limits, health, graceful shutdown.
//!
//! [`run`] takes an already-bound listener, so tests bind `127.0.0.1:0` and learn the port
//! before the server starts. The sequence is:
//! 1. Serve at once, with health NOT_SERVING for `""` and every service, and every reestr call
//!    UNAVAILABLE, so orchestrators can watch start-up.
//! 2. Connect to the database (retrying while it does not answer), apply migrations (or,
//!    with `--no-migrate`, refuse to start on a schema that is behind), open the store.
//! 3. Turn SERVING. A background probe pings the database and turns health NOT_SERVING while
//!    it does not answer, SERVING again when it does.
//! 4. On the shutdown signal: NOT_SERVING first, then stop accepting connections, give
//!    in-flight calls the grace period to finish, and close the database pool.

pub mod auth;
pub mod bootstrap;
pub mod connection;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod rpc;
pub mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reestr_domain::Error;
use reestr_domain::time::Calendar;
use reestr_store::{Clock, ConnectionSettings, Database, Store};
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::api::ReadyStore;
use crate::api::audit::AuditApi;
use crate::api::binding::{BindingApi, Vocabulary};
use crate::api::change::ChangeApi;
use crate::api::classifier::ClassifierApi;
use crate::api::document::{DocumentApi, DocumentSettings};
use crate::api::organization::OrganizationApi;
use crate::api::server_info::ServerInfoApi;
use crate::api::submission::{ReviewSettings, SubmissionApi};
use crate::api::system::SystemApi;
use crate::api::token::TokenApi;
use crate::proto;
use crate::proto::v1::audit_service_server::AuditServiceServer;
use crate::proto::v1::change_service_server::ChangeServiceServer;
use crate::proto::v1::classifier_service_server::ClassifierServiceServer;
use crate::proto::v1::document_service_server::DocumentServiceServer;
use crate::proto::v1::field_binding_service_server::FieldBindingServiceServer;
use crate::proto::v1::information_system_service_server::InformationSystemServiceServer;
use crate::proto::v1::organization_service_server::OrganizationServiceServer;
use crate::proto::v1::server_info_service_server::ServerInfoServiceServer;
use crate::proto::v1::submission_service_server::SubmissionServiceServer;
use crate::proto::v1::token_service_server::TokenServiceServer;

/// The largest HTTP/2 frame the server takes.
const MAX_FRAME_BYTES: u32 = 1024 * 1024 + 1024;

/// Fully qualified names of the register's own gRPC services, as health reports them.
pub const SERVICE_NAMES: [&str; 10] = [
    "reestr.v1.OrganizationService",
    "reestr.v1.InformationSystemService",
    "reestr.v1.SubmissionService",
    "reestr.v1.DocumentService",
    "reestr.v1.ClassifierService",
    "reestr.v1.TokenService",
    "reestr.v1.FieldBindingService",
    "reestr.v1.AuditService",
    "reestr.v1.ChangeService",
    "reestr.v1.ServerInfoService",
];

/// Transport and admission limits. Every one is explicit, so the server's behaviour under
/// abuse is known; the README's operations section lists them with their flags.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request message accepted (decoded size); larger ones get RESOURCE_EXHAUSTED.
    pub max_message_bytes: usize,
    /// Largest request metadata (headers, as HTTP/2 counts them) answered with a gRPC
    /// status: larger ones get RESOURCE_EXHAUSTED. HTTP/2 itself refuses (HTTP 431) header
    /// lists above four times this.
    pub max_header_bytes: usize,
    /// HTTP/2 streams (concurrent calls) one connection may have open.
    pub max_concurrent_streams: u32,
    /// Longest a call may run; a client's shorter `grpc-timeout` wins. DEADLINE_EXCEEDED after.
    pub request_timeout: Duration,
    /// How long a call may wait for its first request message after its headers.
    pub first_message_timeout: Duration,
    /// Calls in flight across all connections (health and reflection not counted).
    pub max_concurrent_requests: usize,
    /// Calls in flight of one authenticated caller.
    pub max_calls_per_caller: usize,
    /// Calls in flight from one network address without valid credentials.
    pub max_anonymous_calls_per_address: usize,
    /// Request rate of each authenticated caller.
    pub rate_limit: limits::RateLimit,
    /// Request rate of each network address, for calls without valid credentials.
    pub anonymous_rate_limit: limits::RateLimit,
    /// Connections open at once, how long one may take to start, and how long one may idle.
    pub connections: connection::ConnectionLimits,
    /// Interval of HTTP/2 keepalive pings to idle clients.
    pub keepalive_interval: Duration,
    /// How long a keepalive ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
            max_concurrent_streams: 200,
            max_concurrent_requests: 1024,
            max_calls_per_caller: 256,
            max_anonymous_calls_per_address: 32,
            rate_limit: limits::RateLimit {
                per_second: 200,
                burst: 400,
            },
            anonymous_rate_limit: limits::RateLimit {
                per_second: 20,
                burst: 50,
            },
            request_timeout: Duration::from_secs(30),
            first_message_timeout: Duration::from_secs(10),
            connections: connection::ConnectionLimits {
                max_connections: 1000,
                handshake_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(300),
            },
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

impl Limits {
    pub(crate) fn admission(&self) -> limits::AdmissionLimits {
        limits::AdmissionLimits {
            caller_rate: self.rate_limit,
            anonymous_rate: self.anonymous_rate_limit,
            calls_per_caller: self.max_calls_per_caller,
            anonymous_calls_per_address: self.max_anonymous_calls_per_address,
            calls: self.max_concurrent_requests,
        }
    }
}

/// Everything `reestr serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Directory for the SQLite file and other server-owned files.
    pub data_dir: PathBuf,
    /// The database.
    pub database: ConnectionSettings,
    /// Apply pending migrations on start.
    pub migrate: bool,
    /// Transport limits.
    pub limits: Limits,
    /// How long in-flight calls may take to finish after the shutdown signal.
    pub shutdown_grace: Duration,
    /// How often the health probe pings the database.
    pub health_probe_interval: Duration,
    /// How long the change feed keeps a change (the newest is always kept).
    pub change_retention: Duration,
    /// TLS, and client certificates.
    pub tls: Option<TlsFiles>,
    /// Memory budget of the classifier content held for lookups, in bytes.
    pub classifier_cache_bytes: usize,
    /// Where "now" comes from (tests set a manual clock).
    pub clock: Clock,
    /// The register's time zone.
    pub calendar: Calendar,
    /// How submissions are reviewed: the calendar of days off, the working days of a round,
    /// the default reviewers.
    pub review: ReviewSettings,
    /// Where documents are kept, how large they may be and of which media types.
    pub documents: DocumentSettings,
    /// Where the Prometheus endpoint listens (`metrics`); off when `None`.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// PEM files for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
    /// CA whose certificates clients must present; `None` accepts clients without one.
    pub client_ca: Option<PathBuf>,
}

impl ServerConfig {
    /// A configuration with the defaults for `database`.
    pub fn new(data_dir: PathBuf, database: ConnectionSettings) -> Self {
        Self {
            data_dir,
            database,
            migrate: true,
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(10),
            health_probe_interval: Duration::from_secs(2),
            change_retention: Duration::from_secs(30 * 86_400),
            tls: None,
            classifier_cache_bytes: crate::api::classifier::DEFAULT_CACHE_BYTES,
            clock: Clock::system(),
            calendar: Calendar::default(),
            review: ReviewSettings::default(),
            documents: DocumentSettings::default(),
            metrics_listen: None,
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The database could not be prepared.
    #[error("start-up failed: {0}")]
    Startup(Error),
    /// The gRPC transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not load the descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A TLS file could not be read.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server task panicked or was cancelled.
    #[error("server task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Serves the register on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = health::Health::new(reporter);
    health.set_all(false).await;

    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let ready = ReadyStore::default();
    let limits = &config.limits;
    let cache = Arc::new(crate::api::callers::CallerCache::default());
    // The server's copies of the register, kept in step with the change feed.
    let feed = Arc::new(crate::api::fresh::Feed::default());
    let classifier_api =
        ClassifierApi::new(ready.clone(), config.classifier_cache_bytes, feed.clone());
    // Bound fields are checked against the classifiers' versions held by `classifier_api`.
    let vocabulary = Arc::new(Vocabulary::new(classifier_api.clone()));
    let organization_api = OrganizationApi::new(
        ready.clone(),
        cache.clone(),
        feed.clone(),
        vocabulary.clone(),
    );
    let system_api = SystemApi::new(ready.clone(), feed.clone(), vocabulary.clone());
    let mut copies: Vec<Arc<dyn crate::api::fresh::Follows>> = organization_api.follows();
    copies.extend(system_api.follows());
    copies.push(vocabulary.follows());
    let bindings = FieldBindingServiceServer::new(BindingApi::new(ready.clone(), vocabulary))
        .max_decoding_message_size(limits.max_message_bytes);
    let organizations = OrganizationServiceServer::new(organization_api)
        .max_decoding_message_size(limits.max_message_bytes);
    let systems = InformationSystemServiceServer::new(system_api)
        .max_decoding_message_size(limits.max_message_bytes);
    let tokens = TokenServiceServer::new(TokenApi::new(ready.clone(), cache.clone()))
        .max_decoding_message_size(limits.max_message_bytes);
    let audit = AuditServiceServer::new(AuditApi::new(ready.clone()))
        .max_decoding_message_size(limits.max_message_bytes);
    // Watches end when the server begins to shut down, so that they do not hold the grace
    // period.
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let watchers = Arc::new(crate::api::change::Watchers::default());
    let changes = ChangeServiceServer::new(ChangeApi::new(
        ready.clone(),
        stopping,
        watchers.clone(),
        feed.clone(),
    ))
    .max_decoding_message_size(limits.max_message_bytes);
    copies.push(cache.clone());
    copies.push(classifier_api.follows());
    // The Prometheus endpoint, when asked for: bound now, so that a taken port stops the start.
    let _metrics = match config.metrics_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                ServerError::Startup(Error::Unavailable(format!(
                    "metrics: cannot listen on {addr}: {e}"
                )))
            })?;
            tracing::info!(address = %addr, "metrics at /metrics");
            Some(AbortOnDrop(tokio::spawn(metrics::serve(
                listener,
                metrics::Sources {
                    store: ready.clone(),
                    feed: feed.clone(),
                    copies: copies.clone(),
                    watchers,
                    classifiers: classifier_api.clone(),
                },
            ))))
        }
        None => None,
    };
    let classifiers = ClassifierServiceServer::new(classifier_api)
        .max_decoding_message_size(limits.max_message_bytes);
    let submissions =
        SubmissionServiceServer::new(SubmissionApi::new(ready.clone(), config.review.clone()))
            .max_decoding_message_size(limits.max_message_bytes);
    let blobs = reestr_store::blob::Blobs::open(
        config.documents.store_url.as_deref(),
        &config.data_dir.join("documents"),
    )
    .map_err(ServerError::Startup)?;
    tracing::info!(store = blobs.describe(), "document store");
    let documents = DocumentServiceServer::new(DocumentApi::new(
        ready.clone(),
        blobs,
        config.documents.clone(),
    ))
    .max_decoding_message_size(limits.max_message_bytes);
    let server_info = ServerInfoServiceServer::new(ServerInfoApi::new(ready.clone()))
        .max_decoding_message_size(limits.max_message_bytes);
    let mut builder = Server::builder();
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls_config(tls)?)?;
    }

    let local = listener.local_addr().ok();
    let incoming = connection::Incoming::new(listener, limits.connections);
    let admission = Arc::new(limits::CallLimits::new(limits.admission()));
    let _housekeeping = AbortOnDrop(tokio::spawn(forget_idle_callers(admission.clone())));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        // A document chunk (up to 1 MiB) arrives in one frame instead of 64 of the default
        // 16 KiB; what a connection may hold unread stays bounded by its flow-control window.
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .http2_max_header_list_size(
            u32::try_from(limits.max_header_bytes.saturating_mul(4)).unwrap_or(u32::MAX),
        )
        .layer(rpc::RpcLayer::new(
            rpc::RpcSettings {
                timeout: limits.request_timeout,
                first_message_timeout: limits.first_message_timeout,
                max_message_bytes: limits.max_message_bytes,
                max_header_bytes: limits.max_header_bytes,
            },
            auth::Authenticator::new(ready.clone(), cache),
            admission,
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(organizations)
        .add_service(systems)
        .add_service(submissions)
        .add_service(documents)
        .add_service(tokens)
        .add_service(audit)
        .add_service(changes)
        .add_service(classifiers)
        .add_service(bindings)
        .add_service(server_info)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = stop_rx.await;
        });
    let mut server = tokio::spawn(server);
    if let Some(address) = local {
        tracing::info!(%address, "listening");
    }

    tokio::pin!(shutdown);
    let database = tokio::select! {
        prepared = prepare(&config, &ready) => match prepared {
            Ok(db) => db,
            Err(err) => {
                let _ = stop_tx.send(());
                let _ = server.await;
                return Err(ServerError::Startup(err));
            }
        },
        () = &mut shutdown => {
            health.set_all(false).await;
            let _ = stopping_tx.send(true);
            let _ = stop_tx.send(());
            return finish(server, config.shutdown_grace).await;
        }
        done = &mut server => {
            done??;
            return Ok(());
        }
    };
    health.set_all(true).await;
    tracing::info!("serving");
    let probe = tokio::spawn(health::probe(
        database.clone(),
        health.clone(),
        config.health_probe_interval,
    ));
    // The change feed's housekeeping: removing what is past its retention, on PostgreSQL
    // waking this server's watchers when another server commits, and keeping the server's
    // copies in step with it.
    let _feed = match ready.get() {
        Ok(store) => {
            let follower = store.clone();
            Some((
                AbortOnDrop(tokio::spawn(compact_changes(
                    store.clone(),
                    config.change_retention,
                ))),
                AbortOnDrop(tokio::spawn(async move { follower.follow_commits().await })),
                AbortOnDrop(tokio::spawn(crate::api::fresh::follow(
                    store.clone(),
                    feed,
                    copies,
                ))),
            ))
        }
        Err(_) => None,
    };

    let result = tokio::select! {
        () = &mut shutdown => {
            tracing::info!("shutdown requested: NOT_SERVING, draining in-flight calls");
            probe.abort();
            health.set_all(false).await;
            let _ = stopping_tx.send(true);
            let _ = stop_tx.send(());
            finish(server, config.shutdown_grace).await
        }
        done = &mut server => {
            probe.abort();
            done.map_err(ServerError::from).and_then(|r| r.map_err(ServerError::from))
        }
    };
    if let Err(err) = database.close().await {
        tracing::warn!(error = %err, "closing the database pool");
    }
    tracing::info!("stopped");
    result
}

/// Stops a background task when the server stops, however `run` returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every minute, drops the rate-limit state of callers that have gone quiet.
async fn forget_idle_callers(admission: Arc<limits::CallLimits>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        admission.forget_idle();
    }
}

/// Reflection over every service the server has (reestr, health, both reflection versions) and
/// the `google.rpc` error details, so that grpcurl can list, describe, and print error details
/// with no proto files at hand.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
}

/// The rustls configuration of `files`. Handshakes are cut off after
/// [`tls::HANDSHAKE_TIMEOUT`]: tonic runs each one in a task of its own and by default waits
/// for ever, so connections that never finish theirs would pile up.
fn tls_config(files: &TlsFiles) -> Result<ServerTlsConfig, ServerError> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| ServerError::Tls(format!("{}: {e}", p.display())))
    };
    let mut config = ServerTlsConfig::new()
        .identity(Identity::from_pem(read(&files.cert)?, read(&files.key)?))
        .timeout(tls::HANDSHAKE_TIMEOUT);
    if let Some(ca) = &files.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}

/// Removes the changes older than `retention` from the change feed now and then (every tenth of
/// the retention, at most every hour), for as long as the server runs. Several servers on one
/// database may do it at once: removing is idempotent.
async fn compact_changes(store: reestr_store::Store, retention: Duration) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let cutoff = store
            .now()
            .micros()
            .saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX));
        match store
            .compact_changes(reestr_domain::time::Timestamp::from_micros(cutoff))
            .await
        {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "change feed compacted"),
            Err(e) => tracing::warn!(error = %e, "change feed compaction failed; retrying later"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits up to `grace` for the server to finish its in-flight calls, then drops the rest.
async fn finish(
    mut server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    grace: Duration,
) -> Result<(), ServerError> {
    match tokio::time::timeout(grace, &mut server).await {
        Ok(done) => Ok(done??),
        Err(_) => {
            tracing::warn!(
                ?grace,
                "grace period over: cancelling the calls still running"
            );
            server.abort();
            Ok(())
        }
    }
}

/// Connects (retrying while the database does not answer), migrates or checks the schema, and
/// opens the store.
async fn prepare(config: &ServerConfig, ready: &ReadyStore) -> Result<Database, Error> {
    let mut delay = Duration::from_millis(200);
    let database = loop {
        match Database::connect(&config.database).await {
            Ok(db) => break db,
            Err(Error::Unavailable(detail)) => {
                tracing::warn!(error = %detail, retry_in = ?delay, "database not answering");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(other) => return Err(other),
        }
    };
    if config.migrate {
        database.migrate_up().await?;
        tracing::info!("migrations applied");
    } else {
        let pending: Vec<String> = database
            .migration_status()
            .await?
            .into_iter()
            .filter(|m| !m.applied)
            .map(|m| m.name)
            .collect();
        if !pending.is_empty() {
            return Err(Error::Internal(format!(
                "the database schema is behind (pending: {}); run `reestr migrate up`",
                pending.join(", ")
            )));
        }
    }
    let store = Store::open(
        database.clone(),
        config.clock.clone(),
        config.calendar.clone(),
    )
    .await?;
    bootstrap::ensure_admin_token(&store, &config.data_dir).await?;
    ready.set(store);
    Ok(database)
}
