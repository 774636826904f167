//! What a bound field costs a write (see BENCHMARKS.md): CreateOrganization with a
//! `region_code` bound to `classifiers/soato` against the same calls without the binding.
//!
//! Starts the release `reestr serve` as a child process on a fresh data directory (SQLite, or
//! PostgreSQL when `REESTR_BENCH_PG` names a server-level URL), loads the seed SOATO classifier
//! (`reestr seed`'s code), then runs `REESTR_BENCH_ROUNDS` rounds (10). Each round measures both
//! modes, in alternating order (short rounds, so that the growing table slows both alike): **bound** (the shipped binding `fieldBindings/organization-region`
//! in place) and **unbound** (deleted, so no check at all). A mode runs for
//! `REESTR_BENCH_SECONDS` (2) with `REESTR_BENCH_CONCURRENCY` (16) callers over four
//! connections, each creating organisations with fresh ids and TINs and `region_code` 1726;
//! every call must succeed. It prints each mode's req/s and the server's CPU time per call
//! (from `/proc`), per round bound / unbound, and the ratio of the modes' mean rates.
//!
//! Run: `cargo bench --bench vocabulary`.

// Benchmark arithmetic converts counts and clock readings it controls (as the other benches).
#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reestr::proto::v1::field_binding_service_client::FieldBindingServiceClient;
use reestr::proto::v1::organization::Kind;
use reestr::proto::v1::organization_service_client::OrganizationServiceClient;
use reestr::proto::v1::{
    CreateFieldBindingRequest, CreateOrganizationRequest, DeleteFieldBindingRequest, FieldBinding,
    Organization,
};
use support::env_or;
use support::server::{Options, PgDatabases, Server};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

const BINDING: &str = "organization-region";

/// Adds the administrator's bearer token to each request.
#[derive(Clone)]
struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let rounds: usize = env_or("REESTR_BENCH_ROUNDS", 10);
    let seconds: u64 = env_or("REESTR_BENCH_SECONDS", 2);
    let concurrency: usize = env_or("REESTR_BENCH_CONCURRENCY", 16);
    let pg: String = env_or("REESTR_BENCH_PG", String::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut databases = (!pg.is_empty()).then(|| PgDatabases::new(pg.clone()));
    let url = match &mut databases {
        Some(d) => Some(d.create().await),
        None => None,
    };
    let server = Server::reestr(
        dir.path(),
        Options {
            database_url: url.as_deref(),
            ..Default::default()
        },
    )
    .await;
    println!(
        "database: {}; {rounds} rounds of {seconds} s per mode, {concurrency} callers",
        if url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    reestr::client::seed(&server.target())
        .await
        .expect("seed the SOATO classifier");

    let bearer = Bearer(
        format!("Bearer {}", server.token)
            .parse()
            .expect("bearer header"),
    );
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(
            Channel::from_shared(format!("http://{}", server.addr))
                .expect("uri")
                .connect()
                .await
                .expect("connect"),
        );
    }
    let mut bindings =
        FieldBindingServiceClient::with_interceptor(channels[0].clone(), bearer.clone());
    let next = Arc::new(AtomicU64::new(0));
    let mut bound_rates = Vec::new();
    let mut unbound_rates = Vec::new();
    let mut bound_now = true;
    for round in 0..rounds {
        // Alternate which mode goes first, so that neither always follows the other.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for bound in order {
            if bound != bound_now {
                set_binding(&mut bindings, bound).await;
                bound_now = bound;
            }
            let cpu = server.cpu_seconds();
            let before = next.load(Ordering::Relaxed);
            let rate = load(&channels, &bearer, &next, concurrency, seconds).await;
            let calls = next.load(Ordering::Relaxed) - before;
            let cpu_us = (server.cpu_seconds() - cpu) * 1e6 / calls as f64;
            println!(
                "round {} {:>7}: {rate:>8.0} req/s, server CPU {cpu_us:>6.0} µs per call",
                round + 1,
                if bound { "bound" } else { "unbound" }
            );
            if bound {
                bound_rates.push((rate, cpu_us));
            } else {
                unbound_rates.push((rate, cpu_us));
            }
        }
    }
    println!();
    println!(
        "| round | bound req/s | unbound req/s | bound / unbound | server CPU per call, bound / unbound |"
    );
    println!("|---|---|---|---|---|");
    for (i, ((b, bc), (u, uc))) in bound_rates.iter().zip(&unbound_rates).enumerate() {
        println!(
            "| {} | {b:.0} | {u:.0} | **{:.3}** | {bc:.0} / {uc:.0} µs |",
            i + 1,
            b / u
        );
    }
    let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        v.iter().map(f).sum::<f64>() / v.len().max(1) as f64
    };
    let mut ratios: Vec<f64> = bound_rates
        .iter()
        .zip(&unbound_rates)
        .map(|(b, u)| b.0 / u.0)
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "\nall rounds: bound {:.0} req/s, unbound {:.0} req/s: **{:.3}**; median of the rounds' \
         ratios {:.3}; server CPU per call {:.0} / {:.0} µs",
        mean(&bound_rates, |r| r.0),
        mean(&unbound_rates, |r| r.0),
        mean(&bound_rates, |r| r.0) / mean(&unbound_rates, |r| r.0),
        ratios.get(ratios.len() / 2).copied().unwrap_or(0.0),
        mean(&bound_rates, |r| r.1),
        mean(&unbound_rates, |r| r.1),
    );
    let created = next.load(Ordering::Relaxed);
    println!("\n{created} organisations created, every call OK");
    server.stop().await;
    if let Some(d) = &mut databases {
        d.drop_now().await;
    }
}

/// Puts the shipped binding back (`bound`) or deletes it.
async fn set_binding(
    c: &mut FieldBindingServiceClient<
        tonic::service::interceptor::InterceptedService<Channel, Bearer>,
    >,
    bound: bool,
) {
    if bound {
        c.create_field_binding(CreateFieldBindingRequest {
            field_binding: Some(FieldBinding {
                field: "Organization.region_code".into(),
                classifier: "classifiers/soato".into(),
                ..Default::default()
            }),
            field_binding_id: BINDING.into(),
        })
        .await
        .expect("bind region_code");
    } else {
        c.delete_field_binding(DeleteFieldBindingRequest {
            name: format!("fieldBindings/{BINDING}"),
            etag: String::new(),
        })
        .await
        .expect("unbind region_code");
    }
}

/// CreateOrganization calls for `seconds` from `concurrency` callers; the calls per second.
async fn load(
    channels: &[Channel],
    bearer: &Bearer,
    next: &Arc<AtomicU64>,
    concurrency: usize,
    seconds: u64,
) -> f64 {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut c = OrganizationServiceClient::with_interceptor(
            channels[i % channels.len()].clone(),
            bearer.clone(),
        );
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < until {
                let n = next.fetch_add(1, Ordering::Relaxed);
                c.create_organization(CreateOrganizationRequest {
                    organization: Some(Organization {
                        display_name: [("en".to_string(), format!("Organisation {n}"))].into(),
                        tin: format!("{:09}", 400_000_000 + n),
                        kind: Kind::StateBody as i32,
                        region_code: "1726".into(),
                        ..Default::default()
                    }),
                    organization_id: format!("o{n}"),
                    request_id: String::new(),
                })
                .await
                .unwrap_or_else(|e| panic!("create o{n}: {e:?}"));
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("caller");
    }
    total as f64 / started.elapsed().as_secs_f64()
}
