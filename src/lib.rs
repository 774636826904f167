//! reestr: the state's Unified Register of Information Systems and its Register of reference
//! classifiers, served over gRPC.
//!
//! Layout:
//! - [`proto`]: the generated gRPC contract (`proto/reestr/v1`) and its descriptor set.
//! - [`api`]: one tonic service per resource family; each authorises, converts protobuf to
//!   domain types and back, calls the store, and maps errors to `tonic::Status` in one place.
//! - [`server`]: start-up, health, reflection, limits, graceful shutdown.
//! - [`client`]: the operator commands that call a running server (import, export, seed).
//! - [`telemetry`]: log output (pretty or JSON) and the `RUST_LOG` filter.
//!
//! The rules live in `reestr-domain` and the persistence in `reestr-store`; layers point one
//! way: api → domain, api → store → domain.

pub mod api;
pub mod client;
pub mod proto;
pub mod server;
pub mod telemetry;
