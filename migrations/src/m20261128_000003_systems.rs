//! The register of information systems.
//!
//! `systems` holds the current state of every system: the full record as JSON (`body`) plus
//! the columns lists filter and sort on. `system_revisions` keeps every state a system has
//! had, immutable; the current row is always the projection of the newest revision and is
//! written only together with it. `system_labels` and `system_dependencies` are projections
//! of the current body's labels and dependencies, rewritten with it, so that label filters
//! and dependency graphs are indexed queries. `registration_counters` issues registration
//! numbers per year; a number is never reused, deleted systems keep theirs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("systems")
                    .col(ColumnDef::new("id").string_len(63).not_null().primary_key())
                    .col(ColumnDef::new("short_name").string_len(64).not_null())
                    .col(
                        ColumnDef::new("short_name_folded")
                            .string_len(256)
                            .not_null(),
                    )
                    .col(ColumnDef::new("owner_id").string_len(63).not_null())
                    .col(ColumnDef::new("operator_id").string_len(63).null())
                    .col(ColumnDef::new("state").string_len(32).not_null())
                    .col(
                        ColumnDef::new("registration_number")
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new("personal_data").boolean().not_null())
                    .col(ColumnDef::new("search_text").text().not_null())
                    .col(ColumnDef::new("body").text().not_null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("update_time").big_integer().not_null())
                    .col(ColumnDef::new("delete_time").big_integer().null())
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_systems_owner")
                            .from("systems", "owner_id")
                            .to("organizations", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_systems_operator")
                            .from("systems", "operator_id")
                            .to("organizations", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            ("ux_systems_short_name", &["short_name_folded"][..], true),
            (
                "ux_systems_registration_number",
                &["registration_number"][..],
                true,
            ),
            ("ix_systems_owner", &["owner_id", "id"][..], false),
            ("ix_systems_operator", &["operator_id", "id"][..], false),
            ("ix_systems_state", &["state", "id"][..], false),
            ("ix_systems_create_time", &["create_time", "id"][..], false),
            ("ix_systems_update_time", &["update_time", "id"][..], false),
        ] {
            let mut index = Index::create();
            index.name(name).table("systems");
            for c in cols {
                index.col(*c);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("system_revisions")
                    .col(ColumnDef::new("system_id").string_len(63).not_null())
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("caller").string_len(400).not_null())
                    .col(ColumnDef::new("method").string_len(200).not_null())
                    // JSON array of the top-level fields changed from the previous revision.
                    .col(ColumnDef::new("changed_fields").text().not_null())
                    .col(ColumnDef::new("reason").string_len(1000).not_null())
                    .col(ColumnDef::new("state").string_len(32).not_null())
                    .col(ColumnDef::new("delete_time").big_integer().null())
                    .col(ColumnDef::new("body").text().not_null())
                    .primary_key(Index::create().col("system_id").col("revision"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_system_revisions_system")
                            .from("system_revisions", "system_id")
                            .to("systems", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_system_revisions_time")
                    .table("system_revisions")
                    .col("system_id")
                    .col("create_time")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("system_labels")
                    .col(ColumnDef::new("system_id").string_len(63).not_null())
                    .col(ColumnDef::new("key").string_len(63).not_null())
                    .col(ColumnDef::new("value").string_len(256).not_null())
                    .primary_key(Index::create().col("system_id").col("key"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_system_labels_system")
                            .from("system_labels", "system_id")
                            .to("systems", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_system_labels_key_value")
                    .table("system_labels")
                    .col("key")
                    .col("value")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("system_dependencies")
                    .col(ColumnDef::new("consumer_id").string_len(63).not_null())
                    .col(ColumnDef::new("provider_id").string_len(63).not_null())
                    .col(ColumnDef::new("service").string_len(63).not_null())
                    .primary_key(
                        Index::create()
                            .col("consumer_id")
                            .col("provider_id")
                            .col("service"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_system_dependencies_consumer")
                            .from("system_dependencies", "consumer_id")
                            .to("systems", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_system_dependencies_provider")
                            .from("system_dependencies", "provider_id")
                            .to("systems", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_system_dependencies_provider")
                    .table("system_dependencies")
                    .col("provider_id")
                    .col("consumer_id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("registration_counters")
                    .col(ColumnDef::new("year").integer().not_null().primary_key())
                    .col(ColumnDef::new("last").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "registration_counters",
            "system_dependencies",
            "system_labels",
            "system_revisions",
            "systems",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
