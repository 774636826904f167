//! `submission_reviews` table: each required reviewer's decision on each round.

use sea_orm::entity::prelude::*;

/// One reviewer's decision on one round.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "submission_reviews")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: String,
    /// Submission id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub submission_id: String,
    /// Round, from 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub round: i32,
    /// Reviewer organisation id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub reviewer_id: String,
    /// Decision name, e.g. `APPROVE`.
    pub decision: String,
    /// The reviewer's comment, or empty.
    pub comment: String,
    /// Microseconds since the epoch: the first decision of the reviewer in the round.
    pub create_time: i64,
    /// Microseconds since the epoch: the decision as it stands.
    pub update_time: i64,
}

impl ActiveModelBehavior for ActiveModel {}
