//! `idempotency_keys` table: the first response of every create sent with a `request_id`.

use sea_orm::entity::prelude::*;

/// One remembered response.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// The caller that sent the request.
    #[sea_orm(primary_key, auto_increment = false)]
    pub caller: String,
    /// Full gRPC method name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub method: String,
    /// The client's key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: String,
    /// SHA-256 (hex) of the encoded request.
    pub request_hash: String,
    /// Encoded response.
    pub response: Vec<u8>,
    /// Microseconds since the epoch.
    pub create_time: i64,
}

impl ActiveModelBehavior for ActiveModel {}
