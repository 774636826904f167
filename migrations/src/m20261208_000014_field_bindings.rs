//! One vocabulary: `field_bindings`, the coded fields of the register bound to classifiers.
//!
//! One row per binding; `field` (e.g. `Organization.region_code`) is unique, so a field has at
//! most one binding. `classifier_id` names a classifier without a foreign key: a binding may
//! outlive its classifier, and then checks nothing. The register ships one binding, made here
//! so that every database has it once (an administrator may change or delete it, and a
//! deleted one stays deleted): an organisation's `region_code` takes the codes of
//! `classifiers/soato`, the classifier of regions `reestr seed` loads. Until that classifier
//! has a version in effect, the binding checks nothing.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("field_bindings")
                    .col(ColumnDef::new("id").string_len(63).not_null().primary_key())
                    .col(ColumnDef::new("field").string_len(80).not_null())
                    .col(ColumnDef::new("classifier_id").string_len(63).not_null())
                    .col(ColumnDef::new("required").boolean().not_null())
                    .col(ColumnDef::new("deprecated_codes").string_len(16).not_null())
                    .col(ColumnDef::new("create_time").big_integer().not_null())
                    .col(ColumnDef::new("update_time").big_integer().not_null())
                    .col(ColumnDef::new("revision").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_field_bindings_field")
                    .table("field_bindings")
                    .col("field")
                    .unique()
                    .to_owned(),
            )
            .await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| <i64 as TryFrom<u128>>::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("field_bindings")
                    .columns([
                        "id",
                        "field",
                        "classifier_id",
                        "required",
                        "deprecated_codes",
                        "create_time",
                        "update_time",
                        "revision",
                    ])
                    .values_panic([
                        "organization-region".into(),
                        "Organization.region_code".into(),
                        "soato".into(),
                        false.into(),
                        "REFUSE".into(),
                        now.into(),
                        now.into(),
                        1i64.into(),
                    ])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("field_bindings").to_owned())
            .await
    }
}
