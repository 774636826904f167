//! Server-wide settings kept in the database, so that every replica shares them.

use rand::RngCore;
use reestr_domain::Error;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

use crate::db_err;
use crate::entity::setting;

const PAGE_TOKEN_KEY: &str = "page_token_key";

/// The secret that signs page tokens: created at random on first start, then read.
pub(crate) async fn page_token_key(conn: &DatabaseConnection) -> Result<Vec<u8>, Error> {
    if let Some(row) = setting::Entity::find_by_id(PAGE_TOKEN_KEY)
        .one(conn)
        .await
        .map_err(db_err)?
    {
        return Ok(row.value);
    }
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    // Two replicas starting together may both get here; the first insert wins and both read it.
    setting::Entity::insert(setting::ActiveModel {
        key: Set(PAGE_TOKEN_KEY.to_string()),
        value: Set(key),
    })
    .on_conflict(
        OnConflict::column(setting::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await
    .map_err(db_err)?;
    setting::Entity::find_by_id(PAGE_TOKEN_KEY)
        .one(conn)
        .await
        .map_err(db_err)?
        .map(|row| row.value)
        .ok_or_else(|| Error::Internal("page token key vanished after insert".into()))
}
