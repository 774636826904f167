//! The gRPC services, one file per resource family.
//!
//! A handler does four things, in order: (authorise,) convert the request into domain values
//! (collecting every field violation), call the store, convert the result back. Errors become
//! `tonic::Status` only through [`error::status`].

pub mod audit;
pub mod binding;
pub mod call;
pub mod callers;
pub mod change;
pub mod classifier;
pub mod document;
pub mod error;
pub mod fresh;
pub mod legal_act;
pub mod list;
pub mod organization;
pub mod server_info;
pub mod submission;
pub mod system;
pub mod token;

use std::sync::{Arc, OnceLock};

use reestr_domain::Error;
use reestr_domain::input::{ApiEnum, Choice};
use reestr_domain::request_id::RequestId;
use reestr_store::{Idempotency, Outcome, Store};
use sha2::{Digest, Sha256};
use tonic::Status;

use self::call::{Audit, Call};

/// The store, once start-up has connected and migrated it. Until then every call is
/// UNAVAILABLE (and health says NOT_SERVING).
#[derive(Clone, Default, Debug)]
pub struct ReadyStore(Arc<OnceLock<Store>>);

impl ReadyStore {
    /// The store, or UNAVAILABLE while the server is starting.
    pub fn get(&self) -> Result<&Store, Status> {
        self.0
            .get()
            .ok_or_else(|| error::status(Error::Unavailable(error::STARTING.into())))
    }

    /// Makes the store available; a second call is ignored.
    pub fn set(&self, store: Store) {
        let _ = self.0.set(store);
    }
}

/// Hex SHA-256 of an encoded request, to tell a retry from a reuse of its `request_id`.
pub(crate) fn request_hash(message: &impl prost::Message) -> String {
    hex::encode(Sha256::digest(message.encode_to_vec()))
}

/// `google.protobuf.Timestamp` of a register timestamp.
pub(crate) fn timestamp(t: reestr_domain::time::Timestamp) -> prost_types::Timestamp {
    let (seconds, nanos) = t.seconds_nanos();
    prost_types::Timestamp { seconds, nanos }
}

/// The register timestamp of a `google.protobuf.Timestamp` a request gives in `field`; `None`
/// when it is unset. The one reading of a request's moments (`as_of`, `expire_time`, …).
pub(crate) fn instant(
    t: Option<prost_types::Timestamp>,
    field: &str,
) -> Result<Option<reestr_domain::time::Timestamp>, reestr_domain::FieldViolation> {
    t.map(|t| {
        reestr_domain::time::Timestamp::from_seconds_nanos(t.seconds, t.nanos)
            .ok_or_else(|| reestr_domain::FieldViolation::new(field, "is not a valid timestamp"))
    })
    .transpose()
}

/// The domain value of a request's enum field (the proto's value names are the domain's
/// short names with the enum's prefix, [`ApiEnum`], so this one function serves every enum): `value`, whose proto name `name_of` gives.
pub(crate) fn choice<T: ApiEnum>(
    value: i32,
    name_of: impl Fn(i32) -> Option<&'static str>,
) -> Choice<T> {
    if value == 0 {
        return Choice::Unset;
    }
    match name_of(value).and_then(T::from_name) {
        Some(v) => Choice::Known(v),
        None => Choice::Unknown(value),
    }
}

/// The proto number of `value`, whose enum `number_of` looks up by proto name.
pub(crate) fn number<T: ApiEnum>(value: T, number_of: impl Fn(&str) -> Option<i32>) -> i32 {
    number_of(&format!("{}{}", T::PROTO_PREFIX, value.short_name())).unwrap_or(0)
}

/// The answer of an idempotent create (Create* with a `request_id`): the resource made now, or the first answer again (the
/// replay recorded in the audit trail).
pub(crate) async fn settle<T, M: prost::Message + Default>(
    audit: &Audit,
    outcome: Outcome<T>,
    message: impl FnOnce(&T) -> M,
) -> Result<M, Error> {
    match outcome {
        Outcome::Fresh(created) => Ok(message(&created)),
        Outcome::Replayed(bytes) => {
            audit.record_replay().await;
            M::decode(bytes.as_slice())
                .map_err(|e| Error::Internal(format!("stored response: {e}")))
        }
    }
}

/// The idempotency key of a create by `call` with `request_id` (none without one), and the
/// hash of the request that tells a retry from a reuse of the id.
pub(crate) fn idempotency_of(
    call: &Call,
    request_id: Option<RequestId>,
    hash: String,
) -> Option<Idempotency> {
    request_id.map(|request_id| Idempotency {
        caller: call.ctx.caller.clone(),
        method: call.ctx.method.clone(),
        request_id,
        request_hash: hash,
    })
}
