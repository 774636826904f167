//! Safe retries (AIP-155): the first response to a request carrying a `request_id` is stored
//! in the same transaction as the change it reports, and returned again for every retry.

use reestr_domain::Error;
use reestr_domain::request_id::RequestId;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use reestr_domain::audit::FieldChange;

use crate::audit::AuditContext;
use crate::entity::idempotency_key;
use crate::{Store, Write, db_err};

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

/// What a create made inside [`create`]'s transaction: the resource, its name and the
/// changes its audit event lists.
pub(crate) struct Created<T> {
    /// The new resource.
    pub value: T,
    /// Its name, for the audit event.
    pub resource: String,
    /// Its fields, for the audit event.
    pub changes: Vec<FieldChange>,
}

/// The one create-with-replay transaction of every Create method: in one write transaction,
/// answers a retry of `key` with the first response; otherwise runs `make` (the resource's
/// checks and inserts), stores the response (`encode`) under `key` and commits with the
/// audit event. A create that fails because a concurrent retry of the same key committed
/// first answers as that retry would.
pub(crate) async fn create<T>(
    store: &Store,
    ctx: &AuditContext,
    key: Option<&Idempotency>,
    encode: impl Fn(&T) -> Vec<u8>,
    make: impl AsyncFnOnce(&Write<'_>) -> Result<Created<T>, Error>,
) -> Result<Outcome<T>, Error> {
    let result = async {
        let write = store.write(ctx).await?;
        if let Some(key) = key
            && let Some(response) = lookup(write.txn(), key).await?
        {
            return Ok(Outcome::Replayed(response));
        }
        let created = make(&write).await?;
        if let Some(key) = key {
            remember(write.txn(), write.now(), key, encode(&created.value)).await?;
        }
        write.commit(&created.resource, created.changes).await?;
        Ok(Outcome::Fresh(created.value))
    }
    .await;
    match result {
        Err(err) => recover(store.conn(), key, err).await,
        ok => ok,
    }
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
