//! `reestr.v1.OrganizationService`.

use std::sync::Arc;

use prost::Message as _;
use reestr_domain::access::Action;
use reestr_domain::binding::{BoundField, Record};
use reestr_domain::change::ResourceType;
use reestr_domain::contact::ContactsDraft;
use reestr_domain::error::{Error, Violations};
use reestr_domain::input::Choice;
use reestr_domain::organization::{
    self as domain, Organization, OrganizationDraft, OrganizationId, OrganizationKind,
};
use reestr_domain::paging;
use reestr_domain::request_id::RequestId;
use reestr_domain::revision::{Deletion, Revisioned};
use tonic::{Request, Response, Status};

use super::binding::{self, Setting, Vocabulary};
use super::call::Call;
use super::list;
use super::{ReadyStore, idempotency_of, request_hash, settle, timestamp};
use crate::api::callers::CallerCache;
use crate::api::fresh::{Answers, Feed, Follows};
use crate::proto::v1 as pb;
use crate::proto::v1::organization::Kind;
use crate::proto::v1::organization_service_server::OrganizationService;

/// Sort fields ListOrganizations accepts.
const ORDER_FIELDS: [&str; 4] = ["name", "tin", "create_time", "update_time"];

/// The organisation service.
pub struct OrganizationApi {
    store: ReadyStore,
    /// The check of `region_code` against its binding.
    vocabulary: Arc<Vocabulary>,
    cache: Arc<CallerCache>,
    /// GetOrganization's answers by name.
    gets: Arc<Answers<Arc<pb::Organization>>>,
    /// ListOrganizations' first pages by request.
    first_pages: Arc<Answers<Arc<pb::ListOrganizationsResponse>>>,
}

impl OrganizationApi {
    /// A service over the store that start-up will provide; `cache` is the authentication
    /// layer's, emptied when an organisation is deleted or undeleted so that its callers' new
    /// rights apply at once; `feed` says how far the server's copies follow the change feed.
    pub fn new(
        store: ReadyStore,
        cache: Arc<CallerCache>,
        feed: Arc<Feed>,
        vocabulary: Arc<Vocabulary>,
    ) -> Self {
        Self {
            store,
            vocabulary,
            cache,
            gets: Arc::new(Answers::by_name(
                "organizations",
                ResourceType::Organization,
                feed.clone(),
            )),
            first_pages: Arc::new(Answers::lists(
                "organization_lists",
                ResourceType::Organization,
                feed,
            )),
        }
    }

    /// The answers this service keeps, for the change-feed follower to keep in step.
    pub fn follows(&self) -> Vec<Arc<dyn Follows>> {
        vec![self.gets.clone(), self.first_pages.clone()]
    }
}

#[tonic::async_trait]
impl OrganizationService for OrganizationApi {
    #[tracing::instrument(skip_all, fields(organization_id = %request.get_ref().organization_id))]
    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let store = self.store.get()?;
        let mut call = Call::of(&request);
        let hash = request_hash(request.get_ref());
        let pb::CreateOrganizationRequest {
            organization,
            organization_id,
            request_id,
        } = request.into_inner();
        call.ctx.request_id = request_id.clone();
        let resource = format!("{}/{organization_id}", domain::COLLECTION);
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::WriteOrganizations)?;
            let mut v = Violations::new();
            let id = v.check(OrganizationId::parse(&organization_id, "organization_id"));
            let request_id = v.check(RequestId::parse(&request_id, "request_id"));
            let spec = match organization {
                Some(org) => draft(org).validate_into("organization", &mut v),
                None => {
                    v.add("organization", "is required");
                    None
                }
            };
            v.into_result()?;
            let (Some(id), Some(request_id), Some(spec)) = (id, request_id, spec) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            self.vocabulary
                .check(
                    store,
                    &[Setting::of(
                        BoundField::OrganizationRegion,
                        Record::Organization(&spec),
                        "organization",
                    )],
                )
                .await?;
            let idempotency = idempotency_of(&call, request_id, hash);
            let outcome = store
                .organizations()
                .create(&call.ctx, id, spec, idempotency.as_ref(), |org| {
                    to_proto(org).encode_to_vec()
                })
                .await?;
            settle(&audit, outcome, to_proto).await
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::GetOrganizationRequest {
            name,
            label_language,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadOrganizations)?;
            let id = OrganizationId::from_name(&name, "name")?;
            let language = binding::label_language(&label_language)?;
            let org = self
                .gets
                .get_or_read(store, &id.name(), || async {
                    Ok(Arc::new(to_proto(&store.organizations().get(&id).await?)))
                })
                .await?;
            let Some(language) = language else {
                return Ok(Arc::unwrap_or_clone(org));
            };
            let mut org = Arc::unwrap_or_clone(org);
            org.code_labels = self
                .vocabulary
                .labels(store, language, &binding::organization_codes(&org))
                .await?;
            Ok(org)
        }
        .await;
        Call::read(result).map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(filter = %request.get_ref().filter))]
    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Result<Response<pb::ListOrganizationsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListOrganizationsRequest {
            page_size,
            page_token,
            filter,
            order_by,
            show_deleted,
            label_language,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadOrganizations)?;
            let language = binding::label_language(&label_language)?;
            let size = page_size.to_string();
            let deleted = show_deleted.to_string();
            let request = [size.as_str(), &filter, &order_by, &deleted];
            let read = || async {
                let query = list::query(
                    page_size,
                    page_token.clone(),
                    domain::compile_filter(&filter),
                    paging::parse_order_by(&order_by, &ORDER_FIELDS, "name"),
                    show_deleted,
                    &[domain::COLLECTION, &filter, &order_by],
                )?;
                let list::Listed {
                    items: organizations,
                    next_page_token,
                    revision,
                } = list::page(store, call.max_message_bytes, &query, |query| async move {
                    Ok(store
                        .organizations()
                        .list(&query)
                        .await?
                        .map(|o| to_proto(&o)))
                })
                .await?;
                Ok(Arc::new(pb::ListOrganizationsResponse {
                    organizations,
                    next_page_token,
                    revision,
                }))
            };
            let page = self
                .first_pages
                .first_page_or_read(store, &page_token, &request, read)
                .await?;
            let Some(language) = language else {
                return Ok(Arc::unwrap_or_clone(page));
            };
            let mut page = Arc::unwrap_or_clone(page);
            for org in &mut page.organizations {
                org.code_labels = self
                    .vocabulary
                    .labels(store, language, &binding::organization_codes(org))
                    .await?;
            }
            Ok(page)
        }
        .await;
        Call::read(result).map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name))]
    async fn update_organization(
        &self,
        request: Request<pb::UpdateOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::UpdateOrganizationRequest {
            organization,
            update_mask,
        } = request.into_inner();
        let resource = organization
            .as_ref()
            .map(|o| o.name.clone())
            .unwrap_or_default();
        tracing::Span::current().record("name", resource.as_str());
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::WriteOrganizations)?;
            let organization =
                organization.ok_or_else(|| Error::invalid("organization", "is required"))?;
            let id = OrganizationId::from_name(&organization.name, "organization.name")?;
            let etag = organization.etag.clone();
            let requested = draft(organization);
            let paths = update_mask.map(|m| m.paths).unwrap_or_default();
            let fields = domain::resolve_update_mask(&paths, &requested)?;
            if fields.contains(&domain::OrganizationField::RegionCode) {
                let path = "organization.region_code".to_string();
                let codes = if requested.region_code.is_empty() {
                    Vec::new()
                } else {
                    vec![(path.clone(), requested.region_code.as_str())]
                };
                let setting = Setting {
                    field: BoundField::OrganizationRegion,
                    path,
                    codes,
                };
                self.vocabulary.check(store, &[setting]).await?;
            }
            store
                .organizations()
                .update(&call.ctx, &id, &etag, |current| {
                    domain::merge(&current.spec.to_draft(), &requested, &fields)
                        .validate("organization")
                })
                .await
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|org| Response::new(to_proto(&org)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_organization(
        &self,
        request: Request<pb::DeleteOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let call = Call::of(&request);
        let pb::DeleteOrganizationRequest { name, etag } = request.into_inner();
        self.set_deleted(call, name, etag, Deletion::Delete).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn undelete_organization(
        &self,
        request: Request<pb::UndeleteOrganizationRequest>,
    ) -> Result<Response<pb::Organization>, Status> {
        let call = Call::of(&request);
        let pb::UndeleteOrganizationRequest { name, etag } = request.into_inner();
        self.set_deleted(call, name, etag, Deletion::Undelete).await
    }
}

impl OrganizationApi {
    /// DeleteOrganization and UndeleteOrganization.
    async fn set_deleted(
        &self,
        call: Call,
        name: String,
        etag: String,
        deletion: Deletion,
    ) -> Result<Response<pb::Organization>, Status> {
        let store = self.store.get()?;
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::WriteOrganizations)?;
            let id = OrganizationId::from_name(&name, "name")?;
            store
                .organizations()
                .set_deleted(&call.ctx, &id, &etag, deletion)
                .await
        }
        .await;
        let org = audit.finish(result).await?;
        self.cache.clear();
        Ok(Response::new(to_proto(&org)))
    }
}

/// The mutable fields of a request's organisation. Destructures the whole message, so a new
/// proto field fails to compile until it is handled here.
fn draft(org: pb::Organization) -> OrganizationDraft {
    let pb::Organization {
        name: _,
        display_name,
        tin,
        kind,
        parent,
        region_code,
        contacts,
        create_time: _,
        update_time: _,
        delete_time: _,
        etag: _,
        code_labels: _,
    } = org;
    let kind = match Kind::try_from(kind) {
        Ok(Kind::Unspecified) => Choice::Unset,
        Ok(Kind::StateBody) => Choice::Known(OrganizationKind::StateBody),
        Ok(Kind::EconomicBody) => Choice::Known(OrganizationKind::EconomicBody),
        Ok(Kind::LocalGovernment) => Choice::Known(OrganizationKind::LocalGovernment),
        Ok(Kind::Other) => Choice::Known(OrganizationKind::Other),
        Err(_) => Choice::Unknown(kind),
    };
    let contacts = contacts
        .map(|c| {
            let pb::Contacts {
                email,
                phone,
                website,
            } = c;
            ContactsDraft {
                email,
                phone,
                website,
            }
        })
        .unwrap_or_default();
    OrganizationDraft {
        display_name: display_name.into_iter().collect(),
        tin,
        kind,
        parent,
        region_code,
        contacts,
    }
}

/// The API form of an organisation.
fn to_proto(org: &Organization) -> pb::Organization {
    let spec = &org.spec;
    let kind = match spec.kind {
        OrganizationKind::StateBody => Kind::StateBody,
        OrganizationKind::EconomicBody => Kind::EconomicBody,
        OrganizationKind::LocalGovernment => Kind::LocalGovernment,
        OrganizationKind::Other => Kind::Other,
    };
    let c = &spec.contacts;
    let contacts =
        (c.email.is_some() || c.phone.is_some() || c.website.is_some()).then(|| pb::Contacts {
            email: c.email.clone().unwrap_or_default(),
            phone: c.phone.clone().unwrap_or_default(),
            website: c.website.clone().unwrap_or_default(),
        });
    pb::Organization {
        name: org.id.name(),
        display_name: spec.display_name.to_tag_map().into_iter().collect(),
        tin: spec.tin.clone(),
        kind: kind as i32,
        parent: spec
            .parent
            .as_ref()
            .map(OrganizationId::name)
            .unwrap_or_default(),
        region_code: spec.region_code.clone().unwrap_or_default(),
        contacts,
        create_time: Some(timestamp(org.create_time)),
        update_time: Some(timestamp(org.update_time)),
        delete_time: org.delete_time.map(timestamp),
        etag: org.etag(),
        code_labels: Default::default(),
    }
}
