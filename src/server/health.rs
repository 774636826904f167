//! Health (`grpc.health.v1.Health`): the overall status `""` and one per reestr service.

use std::time::Duration;

use reestr_store::Database;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::SERVICE_NAMES;

/// Sets the status of the overall server and of every reestr service together: they all
/// depend on the same database, so they are healthy together.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
}

impl Health {
    /// Wraps tonic-health's reporter.
    pub fn new(reporter: HealthReporter) -> Self {
        Self { reporter }
    }

    /// SERVING when `serving`, NOT_SERVING otherwise.
    pub async fn set_all(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
        for name in SERVICE_NAMES {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

/// Pings the database every `interval`; health follows the answer. Runs until aborted.
pub async fn probe(database: Database, health: Health, interval: Duration) {
    let mut serving = true;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let answer =
            tokio::time::timeout(interval.max(Duration::from_secs(1)), database.ping()).await;
        let ok = matches!(answer, Ok(Ok(())));
        if ok != serving {
            serving = ok;
            health.set_all(ok).await;
            match answer {
                Ok(Ok(())) => tracing::info!("database answers again: SERVING"),
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "database does not answer: NOT_SERVING")
                }
                Err(_) => tracing::error!("database ping timed out: NOT_SERVING"),
            }
        }
    }
}
