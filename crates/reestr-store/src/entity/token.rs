//! `tokens` table.

use sea_orm::entity::prelude::*;

/// One API token (never its secret).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tokens")]
pub struct Model {
    /// 32 hex digits.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Organisation id, or none for operator tokens.
    pub organization_id: Option<String>,
    /// Comma-separated role names.
    pub roles: String,
    /// What the token is for.
    pub display_name: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// Microseconds since the epoch.
    pub create_time: i64,
    /// Microseconds since the epoch.
    pub expire_time: Option<i64>,
    /// Microseconds since the epoch.
    pub revoke_time: Option<i64>,
    /// Caller id of the creator.
    pub creator: String,
    /// The token's own sustained rate (requests per second); none: the server's default.
    pub rate_per_second: Option<i32>,
    /// The token's own burst, set with `rate_per_second`.
    pub rate_burst: Option<i32>,
}

impl ActiveModelBehavior for ActiveModel {}
