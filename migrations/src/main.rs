//! Stand-alone migration runner (`cargo run -p reestr-migrations -- up`), reading
//! `DATABASE_URL`. The server's own `reestr migrate` is the usual way.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(reestr_migrations::Migrator).await;
}
