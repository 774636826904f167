//! `submission_remarks` table: reviewers' remarks on the documents of submissions.

use sea_orm::entity::prelude::*;

/// One remark.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "submission_remarks")]
pub struct Model {
    /// System id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub system_id: String,
    /// Submission id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub submission_id: String,
    /// The remark's number within the submission, from 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    /// The reviewer organisation that opened it.
    pub reviewer_id: String,
    /// The round it was opened in.
    pub round: i32,
    /// The document it is about.
    pub document_id: String,
    /// The document's newest version when it was opened.
    pub document_version: i32,
    /// Page, section or clause, or empty.
    pub location: String,
    /// The normative requirement, or empty.
    pub normative_reference: String,
    /// What is to change.
    pub text: String,
    /// `OPEN` or `RESOLVED`.
    pub state: String,
    /// What the reviewer said resolving it, or empty.
    pub resolution: String,
    /// The caller id that opened it.
    pub creator: String,
    /// Microseconds since the epoch.
    pub create_time: i64,
    /// Microseconds since the epoch; `None` while open.
    pub resolve_time: Option<i64>,
    /// 1 when opened, 2 once resolved.
    pub revision: i64,
}

impl ActiveModelBehavior for ActiveModel {}
