//! What the benchmarks that drive a server as a child process share (`benches/classifier.rs`,
//! `benches/stack.rs`): starting the servers, the generated classifier and its import and
//! publication, h2load and its figures, and the report. Each benchmark uses a part of it.

#![allow(dead_code)]

pub mod generated;
pub mod h2load;
pub mod report;
pub mod server;
pub mod setup;

/// The environment variable `name` parsed, or `default` when it is unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
