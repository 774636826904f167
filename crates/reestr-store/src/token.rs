//! The API token repository.

use std::collections::BTreeSet;

use rand::RngCore;
use reestr_domain::Error;
use reestr_domain::access::Role;
use reestr_domain::audit::FieldChange;
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging::{KeyKind, KeyValue, ListQuery, Page, PageKey};
use reestr_domain::time::Timestamp;
use reestr_domain::token::{
    RateQuota, Token, TokenChange, TokenId, TokenSpec, secret_hash, secret_text,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Set,
};

use crate::audit::AuditContext;
use crate::entity::token::{self as row, Column};
use crate::error::OrNotFound;
use crate::{Store, db_err, keyset};

/// A ListTokens query: selects the tokens of one organisation, or all; `show_deleted` shows
/// revoked tokens too. Oldest first.
pub type TokenQuery = ListQuery<Option<OrganizationId>>;

/// Reads and writes API tokens.
pub struct TokenRepo<'s> {
    store: &'s Store,
}

impl<'s> TokenRepo<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self { store }
    }

    /// Creates a token and returns it with its secret, which is not stored and cannot be
    /// shown again.
    pub async fn create(
        &self,
        ctx: &AuditContext,
        spec: TokenSpec,
    ) -> Result<(Token, String), Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        if let Some(org) = &spec.organization {
            crate::organization::check_live(txn, org, "token.organization").await?;
        }
        let mut id_bytes = [0u8; 16];
        let mut secret_bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut id_bytes);
        rand::rng().fill_bytes(&mut secret_bytes);
        let secret = secret_text(&secret_bytes);
        let token = Token {
            id: TokenId::from_random(id_bytes),
            organization: spec.organization,
            roles: spec.roles,
            display_name: spec.display_name,
            expire_time: spec.expire_time,
            create_time: self.store.now(),
            revoke_time: None,
            creator: ctx.caller.clone(),
            rate_limit: spec.rate_limit,
        };
        let (rate_per_second, rate_burst) = rate_columns(token.rate_limit);
        row::ActiveModel {
            id: Set(token.id.as_str().to_string()),
            organization_id: Set(token.organization.as_ref().map(|o| o.as_str().to_string())),
            roles: Set(roles_text(&token.roles)),
            display_name: Set(token.display_name.clone()),
            secret_hash: Set(secret_hash(&secret)),
            create_time: Set(token.create_time.micros()),
            expire_time: Set(token.expire_time.map(Timestamp::micros)),
            revoke_time: Set(None),
            creator: Set(token.creator.clone()),
            rate_per_second: Set(rate_per_second),
            rate_burst: Set(rate_burst),
        }
        .insert(txn)
        .await
        .map_err(db_err)?;
        let changes = vec![
            change(
                "organization",
                token
                    .organization
                    .as_ref()
                    .map(OrganizationId::name)
                    .unwrap_or_default(),
            ),
            change("roles", roles_text(&token.roles)),
            change("display_name", token.display_name.clone()),
            change(
                "expire_time",
                token
                    .expire_time
                    .map(|t| t.micros().to_string())
                    .unwrap_or_default(),
            ),
            change("rate_limit", rate_text(token.rate_limit)),
        ];
        write.commit(&token.id.name(), changes).await?;
        Ok((token, secret))
    }

    /// The token `id`.
    pub async fn get(&self, id: &TokenId) -> Result<Token, Error> {
        row::Entity::find_by_id(id.as_str())
            .one(self.store.conn())
            .await
            .map_err(db_err)?
            .map(from_row)
            .transpose()?
            .or_not_found(|| id.name())
    }

    /// The token whose secret hashes to `hash`, revoked or expired ones included (the caller
    /// decides what to refuse).
    pub async fn find_by_secret_hash(&self, hash: &str) -> Result<Option<Token>, Error> {
        row::Entity::find()
            .filter(Column::SecretHash.eq(hash))
            .one(self.store.conn())
            .await
            .map_err(db_err)?
            .map(from_row)
            .transpose()
    }

    /// Revokes a token; revoking it again is FAILED_PRECONDITION.
    pub async fn revoke(&self, ctx: &AuditContext, id: &TokenId) -> Result<Token, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = row::Entity::find_by_id(id.as_str())
            .one(txn)
            .await
            .map_err(db_err)?
            .map(from_row)
            .transpose()?
            .or_not_found(|| id.name())?;
        if current.revoke_time.is_some() {
            return Err(Error::Deleted {
                resource: id.name(),
            });
        }
        let t = self.store.now();
        row::Entity::update_many()
            .col_expr(
                Column::RevokeTime,
                sea_orm::sea_query::Expr::value(t.micros()),
            )
            .filter(Column::Id.eq(id.as_str()))
            .exec(txn)
            .await
            .map_err(db_err)?;
        write
            .commit(
                &id.name(),
                vec![change("revoke_time", t.micros().to_string())],
            )
            .await?;
        Ok(Token {
            revoke_time: Some(t),
            ..current
        })
    }

    /// Changes a token's display name or own rate; a revoked token is FAILED_PRECONDITION.
    pub async fn update(
        &self,
        ctx: &AuditContext,
        id: &TokenId,
        change: TokenChange,
    ) -> Result<Token, Error> {
        let write = self.store.write(ctx).await?;
        let txn = write.txn();
        let current = crate::find_for_update(txn, row::Entity::find_by_id(id.as_str()), from_row)
            .await?
            .or_not_found(|| id.name())?;
        if current.revoke_time.is_some() {
            return Err(Error::Deleted {
                resource: id.name(),
            });
        }
        let mut updated = current.clone();
        let mut changes = Vec::new();
        if let Some(name) = change.display_name
            && name != current.display_name
        {
            changes.push(FieldChange {
                field: "display_name".into(),
                old: current.display_name.clone(),
                new: name.clone(),
            });
            updated.display_name = name;
        }
        if let Some(rate) = change.rate_limit
            && rate != current.rate_limit
        {
            changes.push(FieldChange {
                field: "rate_limit".into(),
                old: rate_text(current.rate_limit),
                new: rate_text(rate),
            });
            updated.rate_limit = rate;
        }
        if changes.is_empty() {
            // Nothing to change: no write, no event.
            return Ok(current);
        }
        let (rate_per_second, rate_burst) = rate_columns(updated.rate_limit);
        row::Entity::update_many()
            .col_expr(
                Column::DisplayName,
                sea_orm::sea_query::Expr::value(updated.display_name.clone()),
            )
            .col_expr(
                Column::RatePerSecond,
                sea_orm::sea_query::Expr::value(rate_per_second),
            )
            .col_expr(
                Column::RateBurst,
                sea_orm::sea_query::Expr::value(rate_burst),
            )
            .filter(Column::Id.eq(id.as_str()))
            .exec(txn)
            .await
            .map_err(db_err)?;
        write.commit(&id.name(), changes).await?;
        Ok(updated)
    }

    /// One page of tokens, oldest first.
    pub async fn list(&self, query: &TokenQuery) -> Result<Page<Token>, Error> {
        let mut condition = Condition::all();
        if let Some(org) = &query.selection {
            condition = condition.add(Column::OrganizationId.eq(org.as_str()));
        }
        if !query.show_deleted {
            condition = condition.add(Column::RevokeTime.is_null());
        }
        keyset::page(
            self.store,
            row::Entity::find().filter(condition),
            &query.page(vec![
                PageKey::asc(Column::CreateTime, KeyKind::Int),
                PageKey::asc(Column::Id, KeyKind::Text),
            ]),
            from_row,
            |t: &Token, c| match c {
                Column::CreateTime => KeyValue::Int(t.create_time.micros()),
                _ => KeyValue::Text(t.id.as_str().to_string()),
            },
        )
        .await
    }

    /// Whether any token was ever created (bootstrap runs only on a register without one).
    pub async fn any_exist(&self) -> Result<bool, Error> {
        Ok(row::Entity::find()
            .count(self.store.conn())
            .await
            .map_err(db_err)?
            > 0)
    }
}

fn change(field: &str, new: String) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        old: String::new(),
        new,
    }
}

/// The rate columns of a token's own rate.
fn rate_columns(rate: Option<RateQuota>) -> (Option<i32>, Option<i32>) {
    let column = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    match rate {
        Some(q) => (Some(column(q.per_second)), Some(column(q.burst))),
        None => (None, None),
    }
}

/// A rate as the audit trail records it: `200/s burst 400`, or empty for the default.
fn rate_text(rate: Option<RateQuota>) -> String {
    rate.map(|q| format!("{}/s burst {}", q.per_second, q.burst))
        .unwrap_or_default()
}

fn roles_text(roles: &BTreeSet<Role>) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn from_row(m: row::Model) -> Result<Token, Error> {
    let roles = m
        .roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.parse::<Role>()
                .map_err(|()| Error::Internal(format!("token {}: bad role {r}", m.id)))
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(Token {
        id: TokenId::from_trusted(m.id),
        organization: m.organization_id.map(OrganizationId::from_trusted),
        roles,
        display_name: m.display_name,
        expire_time: m.expire_time.map(Timestamp::from_micros),
        create_time: Timestamp::from_micros(m.create_time),
        revoke_time: m.revoke_time.map(Timestamp::from_micros),
        creator: m.creator,
        rate_limit: match (m.rate_per_second, m.rate_burst) {
            (Some(rate), Some(burst)) => Some(RateQuota {
                per_second: u32::try_from(rate).unwrap_or_default(),
                burst: u32::try_from(burst).unwrap_or_default(),
            }),
            _ => None,
        },
    })
}
