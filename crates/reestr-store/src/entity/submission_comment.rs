//! `submission_comments` table: the parties' comments on submissions.

use sea_orm::entity::prelude::*;

/// One comment.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "submission_comments")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: String,
    /// Submission id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub submission_id: String,
    /// The comment's number within the submission, from 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    /// The organisation of the caller who posted it; `None` for an administrator without one.
    pub author_id: Option<String>,
    /// The caller id.
    pub creator: String,
    /// The submission's round when it was posted.
    pub round: i32,
    /// The text.
    pub text: String,
    /// The number of the remark it answers.
    pub remark_number: Option<i32>,
    /// The document it is about.
    pub document_id: Option<String>,
    /// Microseconds since the epoch.
    pub create_time: i64,
}

impl ActiveModelBehavior for ActiveModel {}
