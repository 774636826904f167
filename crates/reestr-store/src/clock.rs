//! Where the register's "now" comes from.
//!
//! Every timestamp the register records (create and update times, audit event times, token
//! expiry checks, which classifier version is in effect, registration-number years) is read
//! from the one [`Clock`] the [`crate::Store`] holds. A server reads the system clock; tests
//! hold a manual clock and set it, so that "19:01 UTC on 31 December" needs no waiting and no
//! luck.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reestr_domain::time::Timestamp;

/// The source of the register's current time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: a manual clock, in microseconds since the epoch.
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands at `start` until it is [`set`](Clock::set) or
    /// [`advance`](Clock::advance)d. Clones share the same time.
    pub fn manual(start: Timestamp) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start.micros()))),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(micros) => Timestamp::from_micros(micros.load(Ordering::Relaxed)),
            None => {
                let micros = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
                    .unwrap_or_default();
                Timestamp::from_micros(micros)
            }
        }
    }

    /// Sets a manual clock to `t`; the system clock cannot be set and ignores this.
    pub fn set(&self, t: Timestamp) {
        if let Some(micros) = &self.manual {
            micros.store(t.micros(), Ordering::Relaxed);
        }
    }

    /// Moves a manual clock forward by `by`; the system clock ignores this.
    pub fn advance(&self, by: Duration) {
        if let Some(micros) = &self.manual {
            let step = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
            let _ = micros.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some(m.saturating_add(step))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_moved_and_its_clones_move_with_it() {
        let clock = Clock::manual(Timestamp::from_micros(1_000));
        let other = clock.clone();
        assert_eq!(clock.now(), Timestamp::from_micros(1_000));
        other.advance(Duration::from_millis(2));
        assert_eq!(clock.now(), Timestamp::from_micros(3_000));
        clock.set(Timestamp::from_micros(-5));
        assert_eq!(other.now(), Timestamp::from_micros(-5));
    }

    #[test]
    fn the_system_clock_is_now_and_cannot_be_set() {
        let clock = Clock::system();
        let before = clock.now();
        clock.set(Timestamp::from_micros(0));
        assert!(clock.now() >= before);
        assert!(before.micros() > 1_700_000_000_000_000);
    }
}
