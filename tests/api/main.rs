//! Integration tests: each drives a real reestr server through its gRPC API.
//!
//! Run on SQLite by default; set `TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres`
//! to run the same tests on PostgreSQL (each test creates and drops its own database).

// Test and benchmark arithmetic converts small counts and clock readings it controls; the
// cast lints guard the server's own code.
#![allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]

mod access;
mod audit;
mod binding;
mod calendar;
mod change;
mod classifier;
mod document;
mod faults;
mod first_start;
mod grpcurl;
mod helpers;
mod hostile;
mod operations;
mod organization;
mod server;
mod submission;
mod system;
mod tls;
mod token;
