//! `change_events` table: the change feed.

use sea_orm::entity::prelude::*;

/// One resource changed by a committed transaction.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_events")]
pub struct Model {
    /// The transaction's revision.
    #[sea_orm(primary_key, auto_increment = false)]
    pub revision: i64,
    /// The resource's place among the changes of its revision, from 0.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    /// The resource's name.
    pub resource: String,
    /// Its type (`ResourceType::as_str`).
    pub resource_type: String,
    /// How it changed (`ChangeKind::as_str`).
    pub kind: String,
    /// The gRPC method.
    pub method: String,
    /// The caller id.
    pub caller: String,
    /// Microseconds since the epoch.
    pub change_time: i64,
    /// The owner organisation's id, if the resource has one.
    pub owner: Option<String>,
    /// A submission's required reviewers, `,a,b,`; empty for other resources.
    pub reviewers: String,
    /// The etag of the resource's revision as the change left it; empty for resources without
    /// etags, for one the change removed for good, and for changes recorded before etags.
    pub etag: String,
}

impl ActiveModelBehavior for ActiveModel {}
