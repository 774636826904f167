//! `reestr.v1.TokenService`.

use std::sync::Arc;

use reestr_domain::access::{Action, Role};
use reestr_domain::error::Error;
use reestr_domain::organization::OrganizationId;
use reestr_domain::token::{Token, TokenChange, TokenDraft, TokenId};
use tonic::{Request, Response, Status};

use super::call::Call;
use super::list;
use super::{ReadyStore, timestamp};
use crate::api::callers::CallerCache;
use crate::proto::v1 as pb;
use crate::proto::v1::token_service_server::TokenService;

/// The token service.
pub struct TokenApi {
    store: ReadyStore,
    cache: Arc<CallerCache>,
}

impl TokenApi {
    /// A service over the store; `cache` is the authentication layer's, emptied on revocation.
    pub fn new(store: ReadyStore, cache: Arc<CallerCache>) -> Self {
        Self { store, cache }
    }
}

#[tonic::async_trait]
impl TokenService for TokenApi {
    #[tracing::instrument(skip_all)]
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::CreateTokenRequest { token } = request.into_inner();
        let audit = call.audit(store, "tokens");
        let result = async {
            call.authorize(Action::ManageTokens)?;
            let token = token.ok_or_else(|| Error::invalid("token", "is required"))?;
            let spec = draft(token)?.validate(store.now())?;
            store.tokens().create(&call.ctx, spec).await
        }
        .await;
        let (token, secret) = audit.finish(result).await?;
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(to_proto(&token)),
            secret,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_token(
        &self,
        request: Request<pb::GetTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let result = async {
            call.authorize(Action::ManageTokens)?;
            let id = TokenId::from_name(&request.get_ref().name, "name")?;
            store.tokens().get(&id).await
        }
        .await;
        Call::read(result).map(|t| Response::new(to_proto(&t)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListTokensRequest {
            page_size,
            page_token,
            organization,
            show_revoked,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ManageTokens)?;
            let organization_id = if organization.is_empty() {
                Ok(None)
            } else {
                OrganizationId::from_name(&organization, "organization").map(Some)
            };
            let query = list::query(
                page_size,
                page_token,
                organization_id,
                Ok(Vec::new()),
                show_revoked,
                &["tokens", &organization],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store.tokens().list(&query).await?.map(|t| to_proto(&t)))
            })
            .await
        }
        .await;
        let list::Listed {
            items: tokens,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens,
            next_page_token,
            revision,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let name = request.into_inner().name;
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::ManageTokens)?;
            let id = TokenId::from_name(&name, "name")?;
            store.tokens().revoke(&call.ctx, &id).await
        }
        .await;
        let token = audit.finish(result).await?;
        self.cache.clear();
        Ok(Response::new(to_proto(&token)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_token(
        &self,
        request: Request<pb::UpdateTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::UpdateTokenRequest { token, update_mask } = request.into_inner();
        let token = token.unwrap_or_default();
        let audit = call.audit(store, &token.name);
        let result = async {
            call.authorize(Action::ManageTokens)?;
            let id = TokenId::from_name(&token.name, "token.name")?;
            let paths = update_mask.map(|m| m.paths).unwrap_or_default();
            let change = TokenChange::validate(
                &paths,
                &token.display_name,
                token.rate_limit.map(|r| (r.requests_per_second, r.burst)),
            )?;
            store.tokens().update(&call.ctx, &id, change).await
        }
        .await;
        let token = audit.finish(result).await?;
        // The token's callers are made again, with the new rate.
        self.cache.clear();
        Ok(Response::new(to_proto(&token)))
    }
}

fn draft(token: pb::Token) -> Result<TokenDraft, Error> {
    let pb::Token {
        name: _,
        organization,
        roles,
        display_name,
        expire_time,
        create_time: _,
        revoke_time: _,
        creator: _,
        rate_limit,
    } = token;
    let roles = roles
        .into_iter()
        .map(|r| match pb::Role::try_from(r) {
            Ok(pb::Role::RegistryAdmin) => Some(Role::RegistryAdmin),
            Ok(pb::Role::Editor) => Some(Role::Editor),
            Ok(pb::Role::Reviewer) => Some(Role::Reviewer),
            Ok(pb::Role::Reader) => Some(Role::Reader),
            Ok(pb::Role::Unspecified) | Err(_) => None,
        })
        .collect();
    let expire_time = super::instant(expire_time, "token.expire_time")?;
    Ok(TokenDraft {
        organization,
        roles,
        display_name,
        expire_time,
        rate_limit: rate_limit.map(|r| (r.requests_per_second, r.burst)),
    })
}

fn to_proto(t: &Token) -> pb::Token {
    pb::Token {
        name: t.id.name(),
        organization: t
            .organization
            .as_ref()
            .map(OrganizationId::name)
            .unwrap_or_default(),
        roles: t
            .roles
            .iter()
            .map(|r| match r {
                Role::RegistryAdmin => pb::Role::RegistryAdmin,
                Role::Editor => pb::Role::Editor,
                Role::Reviewer => pb::Role::Reviewer,
                Role::Reader => pb::Role::Reader,
            } as i32)
            .collect(),
        display_name: t.display_name.clone(),
        expire_time: t.expire_time.map(timestamp),
        create_time: Some(timestamp(t.create_time)),
        revoke_time: t.revoke_time.map(timestamp),
        creator: t.creator.clone(),
        rate_limit: t.rate_limit.map(|q| pb::RateLimit {
            requests_per_second: i32::try_from(q.per_second).unwrap_or(i32::MAX),
            burst: i32::try_from(q.burst).unwrap_or(i32::MAX),
        }),
    }
}
