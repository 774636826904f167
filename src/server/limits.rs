//! How many calls the server takes on, from whom, and how fast: the admission of one call.
//!
//! A call is admitted when it holds a slot of every limit that applies to it, checked in
//! this order, each refusal RESOURCE_EXHAUSTED at once (a client that must wait is told so,
//! with `google.rpc.RetryInfo`, rather than held in a queue that it cannot see):
//!
//! | limit | counted per | refusal reason |
//! |---|---|---|
//! | request rate (`--rate-limit-*`, or the token's own `rate_limit`) | authenticated caller (token or certificate) | `RATE_LIMITED` |
//! | anonymous rate (`--anonymous-rate-limit-*`) | network address, for calls without valid credentials | `RATE_LIMITED` |
//! | calls in flight (`--max-calls-per-caller`) | authenticated caller | `TOO_MANY_CALLS`, scope `caller` |
//! | calls in flight (`--max-anonymous-calls-per-address`) | network address, for calls without valid credentials | `TOO_MANY_CALLS`, scope `caller` |
//! | calls in flight (`--max-concurrent-requests`) | the whole server | `TOO_MANY_CALLS`, scope `server` |
//!
//! Calls with refused credentials count as anonymous: whoever sent them is known only by
//! address. Health and reflection are outside every limit here (HTTP/2's streams per
//! connection still bound them), so an orchestrator's probe is answered however busy the
//! server is. Calls refused here never reach a handler, so they leave no audit event: a
//! flood cannot grow the audit trail.
//!
//! The counters are sharded maps (`dashmap`) and `governor`'s keyed limiters: no lock is
//! shared by all calls. Idle keys are dropped by [`CallLimits::forget_idle`], which the server
//! runs every minute. A token with a rate of its own (set by an administrator, UpdateToken)
//! has a limiter of its own, made again when its rate changes; those are as many as such
//! tokens.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use reestr_domain::Error;
use reestr_domain::token::RateQuota;

/// A request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second; 0 disables the limit.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// The admission limits (see the module documentation); 0 for a count disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Request rate of each authenticated caller.
    pub caller_rate: RateLimit,
    /// Request rate of each network address, for calls without valid credentials.
    pub anonymous_rate: RateLimit,
    /// Calls in flight of each authenticated caller.
    pub calls_per_caller: usize,
    /// Calls in flight of each network address, for calls without valid credentials.
    pub anonymous_calls_per_address: usize,
    /// Calls in flight in all.
    pub calls: usize,
}

/// Who a call is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallerKey {
    /// An authenticated caller, by its id (`tokens/…`, `cert:…`).
    Principal(Arc<str>),
    /// A caller without valid credentials, by its network address (`None`: unknown).
    Address(Option<IpAddr>),
}

impl CallerKey {
    fn is_anonymous(&self) -> bool {
        matches!(self, CallerKey::Address(_))
    }
}

/// Back-off suggested to a caller refused for calls in flight.
const BUSY_RETRY_MS: u64 = 100;

/// The admission state of a server.
pub struct CallLimits {
    limits: AdmissionLimits,
    caller_rate: Option<DefaultKeyedRateLimiter<CallerKey>>,
    anonymous_rate: Option<DefaultKeyedRateLimiter<CallerKey>>,
    /// The limiters of tokens with a rate of their own, with that rate.
    own_rates: DashMap<CallerKey, (RateQuota, DefaultDirectRateLimiter)>,
    in_flight: Arc<InFlight>,
}

struct InFlight {
    all: AtomicUsize,
    by_caller: DashMap<CallerKey, usize>,
}

/// The slots one admitted call holds; dropping it (when the call ends, however it ends)
/// frees them.
pub struct Admission {
    in_flight: Arc<InFlight>,
    key: CallerKey,
    counted_for_caller: bool,
    counted: bool,
}

impl CallLimits {
    /// The admission state for `limits`.
    pub fn new(limits: AdmissionLimits) -> Self {
        let limiter = |rate: RateLimit| {
            NonZeroU32::new(rate.per_second).map(|per_second| {
                let burst = NonZeroU32::new(rate.burst).unwrap_or(per_second);
                RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
            })
        };
        Self {
            caller_rate: limiter(limits.caller_rate),
            anonymous_rate: limiter(limits.anonymous_rate),
            own_rates: DashMap::new(),
            limits,
            in_flight: Arc::new(InFlight {
                all: AtomicUsize::new(0),
                by_caller: DashMap::new(),
            }),
        }
    }

    /// Admits one call of `key`, held to `own_rate` (its token's own rate) if it has one and
    /// is authenticated, or to the default rate of its kind; or says why not.
    pub fn admit(&self, key: CallerKey, own_rate: Option<RateQuota>) -> Result<Admission, Error> {
        let checked = match own_rate.filter(|_| !key.is_anonymous()) {
            Some(quota) => self.check_own_rate(&key, quota),
            None => {
                let rate = if key.is_anonymous() {
                    &self.anonymous_rate
                } else {
                    &self.caller_rate
                };
                match rate {
                    Some(limiter) => limiter.check_key(&key),
                    None => Ok(()),
                }
            }
        };
        if let Err(not_until) = checked {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            return Err(Error::RateLimited { retry_after_ms });
        }
        let per_caller = if key.is_anonymous() {
            self.limits.anonymous_calls_per_address
        } else {
            self.limits.calls_per_caller
        };
        let mut admission = Admission {
            in_flight: self.in_flight.clone(),
            key,
            counted_for_caller: false,
            counted: false,
        };
        if per_caller > 0 {
            let mut count = self
                .in_flight
                .by_caller
                .entry(admission.key.clone())
                .or_insert(0);
            if *count >= per_caller {
                return Err(busy("caller", per_caller));
            }
            *count += 1;
            admission.counted_for_caller = true;
        }
        let all = self.in_flight.all.fetch_add(1, Ordering::AcqRel);
        admission.counted = true;
        if self.limits.calls > 0 && all >= self.limits.calls {
            // The drop gives back both slots.
            drop(admission);
            return Err(busy("server", self.limits.calls));
        }
        Ok(admission)
    }

    /// One call against the limiter of a token with a rate of its own.
    fn check_own_rate(
        &self,
        key: &CallerKey,
        quota: RateQuota,
    ) -> Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>> {
        if let Some(entry) = self.own_rates.get(key)
            && entry.0 == quota
        {
            return entry.1.check();
        }
        // First call, or the rate changed: a new limiter, with a full bucket.
        let limiter = RateLimiter::direct(own_quota(quota));
        let checked = limiter.check();
        self.own_rates.insert(key.clone(), (quota, limiter));
        checked
    }

    /// Calls in flight now, in all.
    pub fn in_flight(&self) -> usize {
        self.in_flight.all.load(Ordering::Acquire)
    }

    /// Drops the rate-limit state of callers that have not called for a while (the state of
    /// the others is kept), so that a flood from many addresses does not grow memory.
    pub fn forget_idle(&self) {
        for limiter in [&self.caller_rate, &self.anonymous_rate]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// `governor`'s quota of a token's own rate (both numbers are at least 1 once validated).
fn own_quota(quota: RateQuota) -> Quota {
    let per_second = NonZeroU32::new(quota.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(quota.burst).unwrap_or(per_second);
    Quota::per_second(per_second).allow_burst(burst)
}

fn busy(scope: &'static str, limit: usize) -> Error {
    Error::TooManyCalls {
        scope,
        limit: u64::try_from(limit).unwrap_or(u64::MAX),
        retry_after_ms: BUSY_RETRY_MS,
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.counted {
            self.in_flight.all.fetch_sub(1, Ordering::AcqRel);
        }
        if self.counted_for_caller {
            self.in_flight
                .by_caller
                .remove_if_mut(&self.key, |_, count| {
                    *count -= 1;
                    *count == 0
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(calls: usize, per_caller: usize, anonymous: usize) -> CallLimits {
        CallLimits::new(AdmissionLimits {
            caller_rate: RateLimit {
                per_second: 0,
                burst: 0,
            },
            anonymous_rate: RateLimit {
                per_second: 0,
                burst: 0,
            },
            calls_per_caller: per_caller,
            anonymous_calls_per_address: anonymous,
            calls,
        })
    }

    fn token(name: &str) -> CallerKey {
        CallerKey::Principal(name.into())
    }

    fn address(last: u8) -> CallerKey {
        CallerKey::Address(Some(IpAddr::from([10, 0, 0, last])))
    }

    fn scope(err: Error) -> &'static str {
        match err {
            Error::TooManyCalls { scope, .. } => scope,
            other => panic!("not TOO_MANY_CALLS: {other:?}"),
        }
    }

    #[test]
    fn a_caller_at_its_limit_is_refused_while_others_are_admitted() {
        let limits = limits(100, 2, 1);
        let a1 = limits.admit(token("tokens/a"), None).unwrap();
        let _a2 = limits.admit(token("tokens/a"), None).unwrap();
        assert_eq!(
            scope(limits.admit(token("tokens/a"), None).err().unwrap()),
            "caller"
        );
        assert_eq!(limits.in_flight(), 2, "a refusal holds nothing");
        let _b = limits.admit(token("tokens/b"), None).unwrap();
        let _x = limits.admit(address(1), None).unwrap();
        assert_eq!(
            scope(limits.admit(address(1), None).err().unwrap()),
            "caller"
        );
        let _y = limits.admit(address(2), None).unwrap();
        drop(a1);
        let _a3 = limits
            .admit(token("tokens/a"), None)
            .expect("a slot was freed");
        assert_eq!(limits.in_flight(), 5);
    }

    #[test]
    fn the_server_limit_counts_every_caller_and_a_refusal_holds_nothing() {
        let limits = limits(2, 10, 10);
        let a = limits.admit(token("tokens/a"), None).unwrap();
        let _b = limits.admit(address(1), None).unwrap();
        assert_eq!(
            scope(limits.admit(token("tokens/c"), None).err().unwrap()),
            "server"
        );
        assert_eq!(limits.in_flight(), 2);
        drop(a);
        assert_eq!(limits.in_flight(), 1);
        let _c = limits.admit(token("tokens/c"), None).unwrap();
        assert!(
            limits.in_flight.by_caller.get(&token("tokens/a")).is_none(),
            "a caller with nothing in flight holds no entry"
        );
    }

    #[test]
    fn anonymous_callers_have_a_rate_of_their_own_per_address() {
        let limits = CallLimits::new(AdmissionLimits {
            caller_rate: RateLimit {
                per_second: 1000,
                burst: 1000,
            },
            anonymous_rate: RateLimit {
                per_second: 1,
                burst: 2,
            },
            calls_per_caller: 0,
            anonymous_calls_per_address: 0,
            calls: 0,
        });
        for _ in 0..2 {
            drop(limits.admit(address(1), None).unwrap());
        }
        assert!(matches!(
            limits.admit(address(1), None).err(),
            Some(Error::RateLimited { retry_after_ms }) if retry_after_ms > 0
        ));
        drop(
            limits
                .admit(address(2), None)
                .expect("another address has its own rate"),
        );
        for _ in 0..10 {
            drop(
                limits
                    .admit(token("tokens/a"), None)
                    .expect("tokens use the caller rate"),
            );
        }
    }

    #[test]
    fn a_token_with_a_rate_of_its_own_is_held_to_it_and_to_a_new_one_at_once() {
        let limits = CallLimits::new(AdmissionLimits {
            caller_rate: RateLimit {
                per_second: 1,
                burst: 1,
            },
            anonymous_rate: RateLimit {
                per_second: 0,
                burst: 0,
            },
            calls_per_caller: 0,
            anonymous_calls_per_address: 0,
            calls: 0,
        });
        let rate_limited =
            |r: Result<Admission, Error>| matches!(r, Err(Error::RateLimited { .. }));
        drop(limits.admit(token("tokens/d"), None).unwrap());
        assert!(
            rate_limited(limits.admit(token("tokens/d"), None)),
            "the default"
        );

        let own = RateQuota {
            per_second: 5,
            burst: 5,
        };
        for i in 0..5 {
            drop(
                limits
                    .admit(token("tokens/o"), Some(own))
                    .unwrap_or_else(|e| panic!("call {i} within the token's own burst: {e:?}")),
            );
        }
        assert!(rate_limited(limits.admit(token("tokens/o"), Some(own))));

        let raised = RateQuota {
            per_second: 10,
            burst: 10,
        };
        for i in 0..10 {
            drop(
                limits
                    .admit(token("tokens/o"), Some(raised))
                    .unwrap_or_else(|e| panic!("call {i} after the raise: {e:?}")),
            );
        }
        assert!(rate_limited(limits.admit(token("tokens/o"), Some(raised))));
        // Other callers keep the default.
        drop(limits.admit(token("tokens/e"), None).unwrap());
        assert!(rate_limited(limits.admit(token("tokens/e"), None)));
    }
}
