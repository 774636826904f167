//! The baseline of `benches/stack.rs`: a tonic server that serves `grpc.health.v1.Health`
//! (tonic-health's `health_reporter()`, the whole server reported SERVING) and nothing else —
//! the default `Server::builder()`, no layers, no interceptors, no logging, the default
//! multi-thread tokio runtime. What a unary call costs through tonic itself on this machine.
//!
//! Usage: `reestr-bench-bare-tonic <listen address>`, e.g. `127.0.0.1:50052`. It serves until
//! it is killed.

use std::net::SocketAddr;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(arg) = std::env::args().nth(1) else {
        eprintln!("usage: reestr-bench-bare-tonic <listen address, e.g. 127.0.0.1:50052>");
        return ExitCode::from(2);
    };
    let addr: SocketAddr = match arg.parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("{arg}: not a socket address ({e})");
            return ExitCode::from(2);
        }
    };
    let (_reporter, health) = tonic_health::server::health_reporter();
    match tonic::transport::Server::builder()
        .add_service(health)
        .serve(addr)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serving on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}
