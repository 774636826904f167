//! Submissions of design documentation, their reviews and timelines, and one counter table for
//! every numbered series.
//!
//! `submissions` holds each submission of a system (`systems/{system}/submissions/{submission}`):
//! its fields (the required reviewers as a JSON array of organisation ids), its state and review
//! round, the deadlines of the round (`due_time`, the reviewers') and of a revision
//! (`owner_due_time`, the owner's, while changes are requested), and the conclusion of a final
//! round (`conclusion_*`, NULL until one is issued). A partial unique index allows one open
//! (DRAFT, UNDER_REVIEW or CHANGES_REQUESTED) live submission per kind and system; the
//! repository checks first to name the open one, the index is the backstop against concurrent
//! creation (PostgreSQL).
//!
//! `submission_reviews` holds each required reviewer's decision on each round; a reviewer
//! replaces its own decision while the round is open. `submission_events` is the timeline of a
//! submission, numbered from 1 per submission, written in the transaction of each change.
//!
//! `number_counters` issues the numbers of every series per year: `IS` (registration numbers of
//! systems) and `EX` (conclusion numbers). It replaces `registration_counters`, whose rows
//! become the `IS` series; a number is never reused.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// At most one open live submission of each kind per system.
const OPEN_INDEX: &str = "CREATE UNIQUE INDEX ux_submissions_open \
     ON submissions (system_id, kind) \
     WHERE state IN ('DRAFT', 'UNDER_REVIEW', 'CHANGES_REQUESTED') AND delete_time IS NULL";

const STATES: [&str; 6] = [
    "DRAFT",
    "UNDER_REVIEW",
    "APPROVED",
    "REJECTED",
    "CHANGES_REQUESTED",
    "WITHDRAWN",
];

const KINDS: [&str; 4] = [
    "CREATION",
    "MODERNIZATION",
    "COMMISSIONING",
    "DECOMMISSIONING",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("submissions")
                    .col(ColumnDef::new("system_id").string_len(63).not_null())
                    .col(ColumnDef::new("submission_id").string_len(63).not_null())
                    .col(
                        ColumnDef::new("kind")
                            .string_len(32)
                            .not_null()
                            .check(Expr::col("kind").is_in(KINDS)),
                    )
                    .col(ColumnDef::new("title").text().not_null())
                    .col(ColumnDef::new("description").text().not_null())
                    // JSON array of organisation ids, in the order given.
                    .col(ColumnDef::new("required_reviewers").text().not_null())
                    .col(
                        ColumnDef::new("state")
                            .string_len(32)
                            .not_null()
                            .check(Expr::col("state").is_in(STATES)),
                    )
                    .col(ColumnDef::new("round").integer().not_null())
                    .col(ColumnDef::new("round_start_time").big_integer().null())
                    .col(ColumnDef::new("due_time").big_integer().null())
                    .col(ColumnDef::new("owner_due_time").big_integer().null())
                    .col(
                        ColumnDef::new("conclusion_number")
                            .string_len(32)
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new("conclusion_outcome").string_len(32).null())
                    .col(
                        ColumnDef::new("conclusion_decided_time")
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new("conclusion_text").text().null())
                    // Lowercase hex SHA-256 of the conclusion content.
                    .col(ColumnDef::new("conclusion_digest").string_len(64).null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("update_time").big_integer().not_null())
                    .col(ColumnDef::new("submit_time").big_integer().null())
                    .col(ColumnDef::new("delete_time").big_integer().null())
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .primary_key(Index::create().col("system_id").col("submission_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_submissions_system")
                            .from("submissions", "system_id")
                            .to("systems", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(OPEN_INDEX)
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_submissions_state")
                    .table("submissions")
                    .col("state")
                    .col("system_id")
                    .col("submission_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("submission_reviews")
                    .col(ColumnDef::new("system_id").string_len(63).not_null())
                    .col(ColumnDef::new("submission_id").string_len(63).not_null())
                    .col(ColumnDef::new("round").integer().not_null())
                    .col(ColumnDef::new("reviewer_id").string_len(63).not_null())
                    .col(ColumnDef::new("decision").string_len(32).not_null().check(
                        Expr::col("decision").is_in(["APPROVE", "REQUEST_CHANGES", "REJECT"]),
                    ))
                    .col(ColumnDef::new("comment").text().not_null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("update_time").big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col("system_id")
                            .col("submission_id")
                            .col("round")
                            .col("reviewer_id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_submission_reviews_submission")
                            .from("submission_reviews", ("system_id", "submission_id"))
                            .to("submissions", ("system_id", "submission_id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_submission_reviews_reviewer")
                            .from("submission_reviews", "reviewer_id")
                            .to("organizations", "id"),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("submission_events")
                    .col(ColumnDef::new("system_id").string_len(63).not_null())
                    .col(ColumnDef::new("submission_id").string_len(63).not_null())
                    // From 1 per submission, in the order the changes committed.
                    .col(ColumnDef::new("sequence").big_integer().not_null())
                    .col(ColumnDef::new("event_time").big_integer().not_null())
                    .col(ColumnDef::new("caller").string_len(400).not_null())
                    .col(ColumnDef::new("kind").string_len(32).not_null())
                    .col(ColumnDef::new("round").integer().not_null())
                    // JSON object: what the event adds to its kind.
                    .col(ColumnDef::new("detail").text().not_null())
                    .primary_key(
                        Index::create()
                            .col("system_id")
                            .col("submission_id")
                            .col("sequence"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_submission_events_submission")
                            .from("submission_events", ("system_id", "submission_id"))
                            .to("submissions", ("system_id", "submission_id")),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("number_counters")
                    .col(ColumnDef::new("series").string_len(8).not_null())
                    .col(ColumnDef::new("year").integer().not_null())
                    .col(ColumnDef::new("last").big_integer().not_null())
                    .primary_key(Index::create().col("series").col("year"))
                    .to_owned(),
            )
            .await?;
        let conn = manager.get_connection();
        conn.execute_unprepared(
            "INSERT INTO number_counters (series, year, last) \
             SELECT 'IS', year, last FROM registration_counters",
        )
        .await?;
        manager
            .drop_table(Table::drop().table("registration_counters").to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("registration_counters")
                    .col(ColumnDef::new("year").integer().not_null().primary_key())
                    .col(ColumnDef::new("last").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO registration_counters (year, last) \
                 SELECT year, last FROM number_counters WHERE series = 'IS'",
            )
            .await?;
        for table in [
            "number_counters",
            "submission_events",
            "submission_reviews",
            "submissions",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
