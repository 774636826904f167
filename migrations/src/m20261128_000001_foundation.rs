//! Foundation: organisations, idempotency keys for safe retries, and server settings.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("organizations")
                    .col(ColumnDef::new("id").string_len(63).not_null().primary_key())
                    // Canonical JSON object {language tag: name}.
                    .col(ColumnDef::new("display_name").text().not_null())
                    // Folded names for case-insensitive search; derived from display_name by
                    // the store on every write, never written on its own.
                    .col(ColumnDef::new("search_text").text().not_null())
                    .col(ColumnDef::new("tin").string_len(9).not_null())
                    .col(ColumnDef::new("kind").string_len(32).not_null())
                    .col(ColumnDef::new("parent_id").string_len(63).null())
                    .col(ColumnDef::new("region_code").string_len(10).null())
                    .col(ColumnDef::new("email").string_len(254).null())
                    .col(ColumnDef::new("phone").string_len(16).null())
                    .col(ColumnDef::new("website").string_len(2048).null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("update_time").big_integer().not_null())
                    .col(ColumnDef::new("delete_time").big_integer().null())
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_organizations_parent")
                            .from("organizations", "parent_id")
                            .to("organizations", "id")
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_organizations_tin")
                    .table("organizations")
                    .col("tin")
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ix_organizations_parent", &["parent_id", "id"][..]),
            ("ix_organizations_kind", &["kind", "id"][..]),
            ("ix_organizations_create_time", &["create_time", "id"][..]),
            ("ix_organizations_update_time", &["update_time", "id"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table("organizations");
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    // Who sent the request (empty until callers are authenticated), which
                    // method, and the client's key: a key is only ever matched within one
                    // caller and method.
                    .col(ColumnDef::new("caller").string_len(200).not_null())
                    .col(ColumnDef::new("method").string_len(200).not_null())
                    .col(ColumnDef::new("request_id").string_len(36).not_null())
                    // SHA-256 of the encoded request, to tell a retry from a reuse.
                    .col(ColumnDef::new("request_hash").string_len(64).not_null())
                    // The encoded response of the first call.
                    .col(ColumnDef::new("response").blob().not_null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col("caller")
                            .col("method")
                            .col("request_id"),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("settings")
                    .col(
                        ColumnDef::new("key")
                            .string_len(100)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("value").blob().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["settings", "idempotency_keys", "organizations"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
