//! The register of reference classifiers.
//!
//! `classifiers` holds each classifier's requirements as JSON (`spec`) plus the columns lists
//! filter on (`owner_id`, `hierarchical`, `search`). `classifier_versions` holds the versions
//! of a classifier; the stored state is `DRAFT`, `PUBLISHED` or `RETIRED` (a superseded version
//! is a published one whose successor has taken effect, which is derived, never stored), and a
//! partial unique index lets a classifier have at most one draft. `classifier_items` holds the
//! items of every version: `body` is the item's canonical encoding (the same bytes the content
//! hash is computed over), and `code` and `parent` repeat only what SQL must index.
//!
//! Items are always read in ascending byte order of `code`. SQLite's default `BINARY`
//! collation is that order; on PostgreSQL the code columns are declared `COLLATE "C"`, so the
//! primary key index serves ordered scans and keyset comparisons in the same order. On SQLite
//! the items table is `WITHOUT ROWID`: rows are stored in primary-key order, so a version's
//! items are read sequentially and not once through the key index and again by rowid.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// At most one draft per classifier; the repository checks first to name the draft, this is
/// the backstop against concurrent creation (PostgreSQL).
const DRAFT_INDEX: &str = "CREATE UNIQUE INDEX ux_classifier_versions_draft \
     ON classifier_versions (classifier_id) WHERE state = 'DRAFT'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;

        manager
            .create_table(
                Table::create()
                    .table("classifiers")
                    .col(ColumnDef::new("id").string_len(63).not_null().primary_key())
                    .col(ColumnDef::new("owner_id").string_len(63).not_null())
                    .col(ColumnDef::new("hierarchical").boolean().not_null())
                    // JSON of the requirements other than the owner.
                    .col(ColumnDef::new("spec").text().not_null())
                    // Folded id, then every display name, one per line.
                    .col(ColumnDef::new("search").text().not_null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("update_time").big_integer().not_null())
                    .col(ColumnDef::new("delete_time").big_integer().null())
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_classifiers_owner")
                            .from("classifiers", "owner_id")
                            .to("organizations", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_classifiers_owner")
                    .table("classifiers")
                    .col("owner_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("classifier_versions")
                    .col(ColumnDef::new("classifier_id").string_len(63).not_null())
                    .col(ColumnDef::new("version_id").string_len(63).not_null())
                    .col(
                        ColumnDef::new("state")
                            .string_len(16)
                            .not_null()
                            .check(Expr::col("state").is_in(["DRAFT", "PUBLISHED", "RETIRED"])),
                    )
                    .col(ColumnDef::new("description").text().not_null())
                    .col(ColumnDef::new("effective_time").big_integer().null())
                    .col(ColumnDef::new("publish_time").big_integer().null())
                    .col(ColumnDef::new("retire_time").big_integer().null())
                    // Lowercase hex SHA-256, empty while a draft.
                    .col(ColumnDef::new("content_hash").string_len(64).not_null())
                    .col(ColumnDef::new("item_count").big_integer().not_null())
                    .col(ColumnDef::new("source_version").string_len(63).null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("update_time").big_integer().not_null())
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .primary_key(Index::create().col("classifier_id").col("version_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_classifier_versions_classifier")
                            .from("classifier_versions", "classifier_id")
                            .to("classifiers", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(DRAFT_INDEX)
            .await?;

        let mut code = ColumnDef::new("code");
        code.string_len(64).not_null();
        let mut parent = ColumnDef::new("parent");
        parent.string_len(64).null();
        let mut items = Table::create();
        items
            .table("classifier_items")
            .col(ColumnDef::new("classifier_id").string_len(63).not_null())
            .col(ColumnDef::new("version_id").string_len(63).not_null())
            .col(if postgres {
                code.extra("COLLATE \"C\"").take()
            } else {
                code
            })
            .col(if postgres {
                parent.extra("COLLATE \"C\"").take()
            } else {
                parent
            })
            // The canonical encoding of the whole item.
            .col(ColumnDef::new("body").blob().not_null())
            .primary_key(
                Index::create()
                    .col("classifier_id")
                    .col("version_id")
                    .col("code"),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("fk_classifier_items_version")
                    .from("classifier_items", ("classifier_id", "version_id"))
                    .to("classifier_versions", ("classifier_id", "version_id"))
                    .on_delete(ForeignKeyAction::Cascade),
            );
        if !postgres {
            items.extra("WITHOUT ROWID");
        }
        manager.create_table(items.to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_classifier_items_parent")
                    .table("classifier_items")
                    .col("classifier_id")
                    .col("version_id")
                    .col("parent")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["classifier_items", "classifier_versions", "classifiers"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
