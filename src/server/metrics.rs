//! The Prometheus endpoint (`--metrics-listen`, off by default): `GET /metrics` on a port of
//! its own, plain HTTP/1.1, in the Prometheus text format.
//!
//! What it reports:
//! - `reestr_rpcs_total{method, code}` and `reestr_rpc_duration_seconds{method, code}` (a
//!   histogram, 0.5 ms to 16 s): every call the rpc layer answered, with the code it answered
//!   (recorded where the call's log line is written, `rpc::CallLog`);
//! - `reestr_database_connections{state="busy"|"idle"}` and
//!   `reestr_database_max_connections`: the pool;
//! - `reestr_cache_entries`, `reestr_cache_hits_total`, `reestr_cache_misses_total` and
//!   `reestr_cache_evictions_total`, by `cache`: the server's copies of the register
//!   (`crate::api::fresh`) and the classifier versions in memory;
//! - `reestr_change_watchers`: WatchChanges streams open;
//! - `reestr_change_feed_head_revision`, `reestr_change_feed_oldest_revision`,
//!   `reestr_change_feed_retained_changes`: the feed in the database;
//! - `reestr_change_feed_lag_revisions`: the newest revision minus the newest revision every
//!   open watch has delivered (0 without watchers), and
//!   `reestr_change_feed_follower_lag_revisions`: the newest revision minus the one the
//!   server's copies have applied.
//!
//! The gauges are read when scraped. Calls are counted only while the endpoint is on, so a
//! server without it pays nothing for it. The endpoint gives a stalled client 10 s to send
//! its request, and serves at most 16 connections at once.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::api::ReadyStore;
use crate::api::change::Watchers;
use crate::api::fresh::{Feed, Follows};

/// Connections the endpoint serves at once.
const CONNECTIONS: usize = 16;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The labels of a call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Rpc {
    method: &'static str,
    code: &'static str,
}

/// The label of a cache.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Cache {
    cache: &'static str,
}

/// The label of a pool's connections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Connections {
    state: &'static str,
}

/// The calls counted: set once, when the endpoint is turned on.
static CALLS: OnceLock<Calls> = OnceLock::new();

/// Counters of calls.
struct Calls {
    count: Family<Rpc, Counter>,
    duration: Family<Rpc, Histogram>,
}

fn duration_histogram() -> Histogram {
    // 0.5 ms, 1 ms, … 16.4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Counts one call of `method` that answered `code` after `seconds` (nothing while the
/// endpoint is off).
pub fn record_call(method: &'static str, code: &'static str, seconds: f64) {
    if let Some(calls) = CALLS.get() {
        let labels = Rpc { method, code };
        calls.count.get_or_create(&labels).inc();
        calls.duration.get_or_create(&labels).observe(seconds);
    }
}

/// What a scrape reads.
pub struct Sources {
    /// The store (the pool and the feed).
    pub store: ReadyStore,
    /// Where the server's copies stand.
    pub feed: Arc<Feed>,
    /// The server's copies of the register.
    pub copies: Vec<Arc<dyn Follows>>,
    /// The open watches.
    pub watchers: Arc<Watchers>,
    /// The classifier service (its versions in memory).
    pub classifiers: crate::api::classifier::ClassifierApi,
}

/// The registry and the gauges a scrape sets.
struct Exporter {
    registry: Registry,
    sources: Sources,
    connections: Family<Connections, Gauge>,
    max_connections: Gauge,
    cache_entries: Family<Cache, Gauge>,
    cache_hits: Family<Cache, Gauge>,
    cache_misses: Family<Cache, Gauge>,
    cache_evictions: Family<Cache, Gauge>,
    watchers: Gauge,
    head: Gauge,
    oldest: Gauge,
    retained: Gauge,
    lag: Gauge,
    follower_lag: Gauge,
}

impl Exporter {
    fn new(sources: Sources) -> Self {
        let mut registry = Registry::with_prefix("reestr");
        let calls = CALLS.get_or_init(|| Calls {
            count: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
        });
        registry.register(
            "rpcs",
            "Calls answered, by method and gRPC code",
            calls.count.clone(),
        );
        registry.register(
            "rpc_duration_seconds",
            "How long calls took, by method and gRPC code",
            calls.duration.clone(),
        );
        let exporter = Self {
            registry,
            sources,
            connections: Family::default(),
            max_connections: Gauge::default(),
            cache_entries: Family::default(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            cache_evictions: Family::default(),
            watchers: Gauge::default(),
            head: Gauge::default(),
            oldest: Gauge::default(),
            retained: Gauge::default(),
            lag: Gauge::default(),
            follower_lag: Gauge::default(),
        };
        exporter.registered()
    }

    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "database_connections",
            "Connections of the database pool, busy or idle",
            self.connections.clone(),
        );
        r.register(
            "database_max_connections",
            "The most connections the pool opens",
            self.max_connections.clone(),
        );
        r.register(
            "cache_entries",
            "Entries a cache holds",
            self.cache_entries.clone(),
        );
        // Totals read from the caches' own counters at each scrape (gauges that only grow).
        r.register(
            "cache_hits_total",
            "Reads a cache answered",
            self.cache_hits.clone(),
        );
        r.register(
            "cache_misses_total",
            "Reads a cache could not answer",
            self.cache_misses.clone(),
        );
        r.register(
            "cache_evictions_total",
            "Entries a cache dropped to stay within its size",
            self.cache_evictions.clone(),
        );
        r.register(
            "change_watchers",
            "WatchChanges streams open",
            self.watchers.clone(),
        );
        r.register(
            "change_feed_head_revision",
            "The newest revision of the change feed",
            self.head.clone(),
        );
        r.register(
            "change_feed_oldest_revision",
            "The oldest revision the change feed holds",
            self.oldest.clone(),
        );
        r.register(
            "change_feed_retained_changes",
            "Changes the change feed holds",
            self.retained.clone(),
        );
        r.register(
            "change_feed_lag_revisions",
            "The newest revision minus the newest every open watch has delivered",
            self.lag.clone(),
        );
        r.register(
            "change_feed_follower_lag_revisions",
            "The newest revision minus the one the server's copies have applied",
            self.follower_lag.clone(),
        );
        self
    }

    /// The text of one scrape.
    async fn scrape(&self) -> String {
        let i = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for copy in &self.sources.copies {
            for stats in copy.stats() {
                let label = Cache { cache: stats.name };
                self.cache_entries
                    .get_or_create(&label)
                    .set(i(stats.entries));
                self.cache_hits.get_or_create(&label).set(i(stats.hits));
                self.cache_misses.get_or_create(&label).set(i(stats.misses));
                self.cache_evictions
                    .get_or_create(&label)
                    .set(i(stats.evictions));
            }
        }
        let versions = self.sources.classifiers.cache().stats().await;
        self.cache_entries
            .get_or_create(&Cache {
                cache: "classifier_versions",
            })
            .set(i64::try_from(versions.versions).unwrap_or(i64::MAX));
        let (open, delivered) = self.sources.watchers.snapshot();
        self.watchers
            .set(i(u64::try_from(open).unwrap_or(u64::MAX)));
        if let Ok(store) = self.sources.store.get() {
            let (size, idle, max) = store.pool_use();
            self.connections
                .get_or_create(&Connections { state: "busy" })
                .set(i64::from(size.saturating_sub(idle)));
            self.connections
                .get_or_create(&Connections { state: "idle" })
                .set(i64::from(idle));
            self.max_connections.set(i64::from(max));
            if let Ok(((oldest, head), retained)) = async {
                Ok::<_, reestr_domain::Error>((
                    store.revision_bounds().await?,
                    store.changes_retained().await?,
                ))
            }
            .await
            {
                self.head.set(head);
                self.oldest.set(oldest);
                self.retained.set(i(retained));
                self.lag
                    .set(delivered.map_or(0, |d| head.saturating_sub(d).max(0)));
                self.follower_lag
                    .set(head.saturating_sub(self.sources.feed.applied()).max(0));
            }
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// Serves the endpoint on `listener` until the server stops (it aborts the task).
pub async fn serve(listener: TcpListener, sources: Sources) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioIo, TokioTimer};

    let exporter = Arc::new(Exporter::new(sources));
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    loop {
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Busy: the connection is closed unanswered.
            continue;
        };
        let exporter = exporter.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let exporter = exporter.clone();
                async move {
                    let (status, content_type, body) = if request.uri().path() != "/metrics" {
                        (
                            404,
                            "text/plain; charset=utf-8",
                            "not found: GET /metrics\n".to_string(),
                        )
                    } else if request.method() != hyper::Method::GET {
                        (405, "text/plain; charset=utf-8", "only GET\n".to_string())
                    } else {
                        (
                            200,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            exporter.scrape().await,
                        )
                    };
                    hyper::Response::builder()
                        .status(status)
                        .header(hyper::header::CONTENT_TYPE, content_type)
                        .body(Full::new(Bytes::from(body)))
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "metrics: connection ended");
            }
        });
    }
}
