//! Safe retries (AIP-155): the first response to a request carrying a `request_id` is stored
//! in the same transaction as the change it reports, and returned again for every retry.

use reestr_domain::Error;
use reestr_domain::request_id::RequestId;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use crate::db_err;
use crate::entity::idempotency_key;

/// What identifies a retry: who sent it, to which method, with which key, and a hash of the
/// request itself so that reusing a key for a different request is refused.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The authenticated caller (empty for anonymous).
    pub caller: String,
    /// Full gRPC method name.
    pub method: String,
    /// The client's key.
    pub request_id: RequestId,
    /// Hex SHA-256 of the encoded request.
    pub request_hash: String,
}

/// The result of an idempotent write.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The change was made now.
    Fresh(T),
    /// A retry: the encoded response of the first call.
    Replayed(Vec<u8>),
}

/// The stored response for `key`, if the key was used before with the same request.
pub(crate) async fn lookup(
    conn: &impl ConnectionTrait,
    key: &Idempotency,
) -> Result<Option<Vec<u8>>, Error> {
    let found = idempotency_key::Entity::find_by_id((
        key.caller.clone(),
        key.method.clone(),
        key.request_id.as_str().to_string(),
    ))
    .one(conn)
    .await
    .map_err(db_err)?;
    match found {
        None => Ok(None),
        Some(row) if row.request_hash == key.request_hash => Ok(Some(row.response)),
        Some(_) => Err(Error::RequestIdReused {
            request_id: key.request_id.as_str().to_string(),
        }),
    }
}

/// Remembers `response` for `key` (inside the change's transaction).
pub(crate) async fn remember(
    conn: &impl ConnectionTrait,
    create_time: reestr_domain::time::Timestamp,
    key: &Idempotency,
    response: Vec<u8>,
) -> Result<(), Error> {
    idempotency_key::ActiveModel {
        caller: Set(key.caller.clone()),
        method: Set(key.method.clone()),
        request_id: Set(key.request_id.as_str().to_string()),
        request_hash: Set(key.request_hash.clone()),
        response: Set(response),
        create_time: Set(create_time.micros()),
    }
    .insert(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// After a failed idempotent write: if a concurrent call with the same key committed first
/// (so this one collided with it), answer as a retry; otherwise the original error stands.
pub(crate) async fn recover<T>(
    conn: &impl ConnectionTrait,
    key: Option<&Idempotency>,
    err: Error,
) -> Result<Outcome<T>, Error> {
    if let Some(key) = key
        && let Some(response) = lookup(conn, key).await?
    {
        return Ok(Outcome::Replayed(response));
    }
    Err(err)
}
