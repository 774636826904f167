//! What the store's tests share: a fresh database on every engine they run on.

use std::future::Future;

use sea_orm::ConnectionTrait;

use crate::{Clock, ConnectionSettings, Database, Store};

/// Runs `scenario` on a fresh SQLite database and, when `TEST_DATABASE_URL` names a
/// PostgreSQL server, on a fresh PostgreSQL database too.
pub(crate) async fn on_every_engine<F, Fut>(scenario: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    on_every_fresh_database(async |db: Database| {
        db.migrate_up().await.unwrap();
        scenario(
            Store::open(db.clone(), Clock::system(), Default::default())
                .await
                .unwrap(),
        )
        .await;
    })
    .await;
}

/// Runs `scenario` on an empty SQLite database (no migrations applied) and, when
/// `TEST_DATABASE_URL` names a PostgreSQL server, on an empty PostgreSQL database too.
pub(crate) async fn on_every_fresh_database(scenario: impl AsyncFn(Database)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("reestr.db").display());
    let db = Database::connect(&ConnectionSettings::new(url))
        .await
        .unwrap();
    scenario(db.clone()).await;
    db.close().await.unwrap();

    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    if admin.is_empty() {
        return;
    }
    let name = format!("reestr_store_{:016x}", rand::random::<u64>());
    let server = Database::connect(&ConnectionSettings::new(&admin))
        .await
        .unwrap();
    server
        .connection()
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let db = Database::connect(&ConnectionSettings::new(format!("{base}/{name}")))
        .await
        .unwrap();
    scenario(db.clone()).await;
    db.close().await.unwrap();
    server
        .connection()
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    server.close().await.unwrap();
}
