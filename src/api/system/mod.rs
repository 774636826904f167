//! `reestr.v1.InformationSystemService`.
//!
//! The conversions between messages and the domain are in [`convert`].

mod convert;

use std::sync::Arc;

use prost::Message as _;
use reestr_domain::access::Action;
use reestr_domain::binding::{BoundField, Record};
use reestr_domain::change::ResourceType;
use reestr_domain::error::{Error, Reason, Violations};
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging;
use reestr_domain::request_id::RequestId;
use reestr_domain::revision::Deletion;
use reestr_domain::system::{self as domain, SystemId};
use reestr_store::Transition;
use tonic::{Request, Response, Status};

use self::convert::{spec_from_proto, state_from_proto, state_to_proto, to_proto};
use super::binding::{self, Setting, Vocabulary};
use super::call::Call;
use super::fresh::{Answers, Feed, Follows};
use super::list;
use super::{ReadyStore, idempotency_of, request_hash, settle, timestamp};
use crate::proto::v1 as pb;
use crate::proto::v1::information_system_service_server::InformationSystemService;

/// Sort fields ListSystems accepts.
const ORDER_FIELDS: [&str; 5] = [
    "name",
    "short_name",
    "registration_number",
    "create_time",
    "update_time",
];
/// Deepest dependency walk.
const MAX_DEPTH: i32 = 10;

/// The information-system service.
#[derive(Debug, Clone)]
pub struct SystemApi {
    store: ReadyStore,
    /// The check of bound fields (`hosting.location`, `security.data_categories`).
    vocabulary: Arc<Vocabulary>,
    /// GetSystem's answers (current state) by name.
    gets: Arc<Answers<Arc<pb::InformationSystem>>>,
    /// ListSystems' first pages by request.
    first_pages: Arc<Answers<Arc<pb::ListSystemsResponse>>>,
}

impl SystemApi {
    /// A service over the store; `feed` says how far the server's copies follow the change
    /// feed.
    pub fn new(store: ReadyStore, feed: Arc<Feed>, vocabulary: Arc<Vocabulary>) -> Self {
        Self {
            store,
            vocabulary,
            gets: Arc::new(Answers::by_name(
                "systems",
                ResourceType::InformationSystem,
                feed.clone(),
            )),
            first_pages: Arc::new(Answers::lists(
                "system_lists",
                ResourceType::InformationSystem,
                feed,
            )),
        }
    }

    /// The answers this service keeps, for the change-feed follower to keep in step.
    pub fn follows(&self) -> Vec<Arc<dyn Follows>> {
        vec![self.gets.clone(), self.first_pages.clone()]
    }

    /// DeleteSystem and UndeleteSystem: the owner is authorised against the system as it is
    /// in the write's transaction.
    async fn set_deleted(
        &self,
        call: Call,
        name: String,
        etag: String,
        deletion: Deletion,
    ) -> Result<Response<pb::InformationSystem>, Status> {
        let store = self.store.get()?;
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let id = SystemId::from_name(&name, "name")?;
            store
                .systems()
                .set_deleted(&call.ctx, &id, &etag, deletion, |s| {
                    authorize_owner(&call, &s.spec.owner)
                })
                .await
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|s| Response::new(to_proto(&s)))
    }
}

/// May `call` write resources of the organisation named `owner`?
fn authorize_owner(call: &Call, owner: &str) -> Result<(), Error> {
    call.authorize(Action::WriteResources)?;
    if call.caller.is_admin() {
        return Ok(());
    }
    let owner = OrganizationId::from_name(owner, "system.owner").unwrap_or_else(|_| {
        // Not a valid name, so certainly not the caller's organisation.
        OrganizationId::from_trusted(String::new())
    });
    call.authorize(Action::WriteOwned { owner: &owner })
}

fn depth(raw: i32) -> Result<u32, Error> {
    match raw {
        0 => Ok(1),
        1..=MAX_DEPTH => Ok(raw.unsigned_abs()),
        _ => Err(Error::invalid("depth", "must be 1 to 10")),
    }
}

#[tonic::async_trait]
impl InformationSystemService for SystemApi {
    #[tracing::instrument(skip_all, fields(system_id = %request.get_ref().system_id))]
    async fn create_system(
        &self,
        request: Request<pb::CreateSystemRequest>,
    ) -> Result<Response<pb::InformationSystem>, Status> {
        let store = self.store.get()?;
        let mut call = Call::of(&request);
        let hash = request_hash(request.get_ref());
        let pb::CreateSystemRequest {
            system,
            system_id,
            request_id,
        } = request.into_inner();
        call.ctx.request_id = request_id.clone();
        let resource = format!("{}/{system_id}", domain::COLLECTION);
        let audit = call.audit(store, &resource);
        let result = async {
            let owner = system.as_ref().map(|s| s.owner.clone()).unwrap_or_default();
            authorize_owner(&call, &owner)?;
            let mut v = Violations::new();
            let id = v.check(SystemId::parse(&system_id, "system_id"));
            let request_id = v.check(RequestId::parse(&request_id, "request_id"));
            let spec = match system {
                Some(s) => Some(spec_from_proto(s, &mut v)),
                None => {
                    v.add("system", "is required");
                    None
                }
            };
            if let (Some(spec), Some(id)) = (&spec, &id) {
                domain::validate_spec(spec, id, "system", &mut v);
            }
            v.into_result()?;
            let (Some(id), Some(request_id), Some(spec)) = (id, request_id, spec) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let settings = [
                BoundField::SystemHostingLocation,
                BoundField::SystemDataCategories,
            ]
            .map(|field| Setting::of(field, Record::System(&spec), "system"));
            self.vocabulary.check(store, &settings).await?;
            let idempotency = idempotency_of(&call, request_id, hash);
            let outcome = store
                .systems()
                .create(&call.ctx, id, spec, idempotency.as_ref(), |s| {
                    to_proto(s).encode_to_vec()
                })
                .await?;
            settle(&audit, outcome, to_proto).await
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_system(
        &self,
        request: Request<pb::GetSystemRequest>,
    ) -> Result<Response<pb::InformationSystem>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::GetSystemRequest {
            name,
            as_of,
            revision,
            label_language,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let id = SystemId::from_name(&name, "name")?;
            let language = binding::label_language(&label_language)?;
            let system = match (super::instant(as_of, "as_of")?, revision) {
                (Some(_), r) if r != 0 => {
                    return Err(Error::invalid("as_of", "set as_of or revision, not both"));
                }
                (Some(t), _) => Arc::new(to_proto(&store.systems().get_as_of(&id, t).await?)),
                (None, r) if r < 0 => {
                    return Err(Error::invalid("revision", "must be positive"));
                }
                (None, 0) => {
                    self.gets
                        .get_or_read(store, &id.name(), || async {
                            Ok(Arc::new(to_proto(&store.systems().get(&id).await?)))
                        })
                        .await?
                }
                (None, r) => Arc::new(to_proto(&store.systems().get_revision(&id, r).await?)),
            };
            let Some(language) = language else {
                return Ok(Arc::unwrap_or_clone(system));
            };
            let mut system = Arc::unwrap_or_clone(system);
            system.code_labels = self
                .vocabulary
                .labels(store, language, &binding::system_codes(&system))
                .await?;
            Ok(system)
        }
        .await;
        Call::read(result).map(Response::new)
    }

    #[tracing::instrument(skip_all)]
    async fn lookup_system(
        &self,
        request: Request<pb::LookupSystemRequest>,
    ) -> Result<Response<pb::InformationSystem>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::LookupSystemRequest {
            registration_number,
            short_name,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            match (registration_number.is_empty(), short_name.is_empty()) {
                (false, true) => {
                    store
                        .systems()
                        .lookup(Some(&registration_number), None)
                        .await
                }
                (true, false) => store.systems().lookup(None, Some(&short_name)).await,
                _ => Err(Error::invalid(
                    "registration_number",
                    "set exactly one of registration_number and short_name",
                )),
            }
        }
        .await;
        Call::read(result).map(|s| Response::new(to_proto(&s)))
    }

    #[tracing::instrument(skip_all, fields(filter = %request.get_ref().filter))]
    async fn list_systems(
        &self,
        request: Request<pb::ListSystemsRequest>,
    ) -> Result<Response<pb::ListSystemsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListSystemsRequest {
            page_size,
            page_token,
            filter,
            order_by,
            show_deleted,
            label_language,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
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
                    items: systems,
                    next_page_token,
                    revision,
                } = list::page(store, call.max_message_bytes, &query, |query| async move {
                    Ok(store.systems().list(&query).await?.map(|s| to_proto(&s)))
                })
                .await?;
                Ok(Arc::new(pb::ListSystemsResponse {
                    systems,
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
            for system in &mut page.systems {
                system.code_labels = self
                    .vocabulary
                    .labels(store, language, &binding::system_codes(system))
                    .await?;
            }
            Ok(page)
        }
        .await;
        Call::read(result).map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name))]
    async fn update_system(
        &self,
        request: Request<pb::UpdateSystemRequest>,
    ) -> Result<Response<pb::InformationSystem>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::UpdateSystemRequest {
            system,
            update_mask,
        } = request.into_inner();
        let resource = system.as_ref().map(|s| s.name.clone()).unwrap_or_default();
        tracing::Span::current().record("name", resource.as_str());
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let system = system.ok_or_else(|| Error::invalid("system", "is required"))?;
            let id = SystemId::from_name(&system.name, "system.name")?;
            let etag = system.etag.clone();
            let mut v = Violations::new();
            let requested = spec_from_proto(system, &mut v);
            v.into_result()?;
            let paths = update_mask.map(|m| m.paths).unwrap_or_default();
            let fields = domain::resolve_update_mask(&paths, &requested)?;
            let settings: Vec<Setting<'_>> = [
                (
                    domain::SystemField::HostingLocation,
                    BoundField::SystemHostingLocation,
                ),
                (
                    domain::SystemField::SecurityDataCategories,
                    BoundField::SystemDataCategories,
                ),
            ]
            .into_iter()
            .filter(|(named, _)| fields.contains(named))
            .map(|(_, field)| Setting::of(field, Record::System(&requested), "system"))
            .collect();
            self.vocabulary.check(store, &settings).await?;
            store
                .systems()
                .update(&call.ctx, &id, &etag, |current| {
                    authorize_owner(&call, &current.spec.owner)?;
                    let merged = domain::merge(&current.spec, &requested, &fields);
                    if merged.owner != current.spec.owner {
                        authorize_owner(&call, &merged.owner)?;
                    }
                    let mut v = Violations::new();
                    domain::validate_spec(&merged, &current.id, "system", &mut v);
                    v.into_result()?;
                    Ok(merged)
                })
                .await
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|s| Response::new(to_proto(&s)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_system(
        &self,
        request: Request<pb::DeleteSystemRequest>,
    ) -> Result<Response<pb::InformationSystem>, Status> {
        let call = Call::of(&request);
        let pb::DeleteSystemRequest { name, etag } = request.into_inner();
        self.set_deleted(call, name, etag, Deletion::Delete).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn undelete_system(
        &self,
        request: Request<pb::UndeleteSystemRequest>,
    ) -> Result<Response<pb::InformationSystem>, Status> {
        let call = Call::of(&request);
        let pb::UndeleteSystemRequest { name, etag } = request.into_inner();
        self.set_deleted(call, name, etag, Deletion::Undelete).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn transition_system_state(
        &self,
        request: Request<pb::TransitionSystemStateRequest>,
    ) -> Result<Response<pb::InformationSystem>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::TransitionSystemStateRequest {
            name,
            state,
            etag,
            force,
            reason,
        } = request.into_inner();
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::WriteResources)?;
            if force {
                // Forcing past live dependents is the operator's decision alone.
                call.authorize(Action::WriteOrganizations).map_err(|_| {
                    Error::PermissionDenied {
                        reason: Reason::PermissionDenied,
                        action: "force a decommission".into(),
                        message: "only registry administrators may force a decommission".into(),
                    }
                })?;
            }
            let mut v = Violations::new();
            let id = v.check(SystemId::from_name(&name, "name"));
            let to = match state_from_proto(state) {
                Some(s) => Some(s),
                None => {
                    v.add("state", "must be a lifecycle state");
                    None
                }
            };
            if reason.chars().count() > 1000 {
                v.add("reason", "must be at most 1000 characters");
            }
            v.into_result()?;
            let (Some(id), Some(to)) = (id, to) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            store
                .systems()
                .transition(
                    &call.ctx,
                    &id,
                    &Transition {
                        to,
                        etag,
                        force,
                        reason,
                    },
                    |s| authorize_owner(&call, &s.spec.owner),
                )
                .await
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|s| Response::new(to_proto(&s)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn list_system_revisions(
        &self,
        request: Request<pb::ListSystemRevisionsRequest>,
    ) -> Result<Response<pb::ListSystemRevisionsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListSystemRevisionsRequest {
            name,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let query = list::query(
                page_size,
                page_token,
                SystemId::from_name(&name, "name"),
                Ok(Vec::new()),
                false,
                &["system_revisions", &name],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store
                    .systems()
                    .revisions(&query)
                    .await?
                    .map(|r| pb::SystemRevision {
                        revision: r.revision,
                        create_time: Some(timestamp(r.create_time)),
                        caller: r.caller,
                        method: r.method,
                        changed_fields: r.changed_fields,
                        reason: r.reason,
                    }))
            })
            .await
        }
        .await;
        let list::Listed {
            items: revisions,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListSystemRevisionsResponse {
            revisions,
            next_page_token,
            revision,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn list_dependents(
        &self,
        request: Request<pb::ListDependentsRequest>,
    ) -> Result<Response<pb::ListDependentsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListDependentsRequest { name, depth: raw } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let id = SystemId::from_name(&name, "name")?;
            let revision = store.head_revision().await?;
            Ok((
                store.systems().dependents(&id, depth(raw)?).await?,
                revision,
            ))
        }
        .await;
        let (list, revision) = Call::read(result)?;
        Ok(Response::new(pb::ListDependentsResponse {
            dependents: list
                .into_iter()
                .map(|d| pb::Dependent {
                    system: d.system.name(),
                    short_name: d.short_name,
                    state: state_to_proto(d.state) as i32,
                    distance: i32::try_from(d.distance).unwrap_or(i32::MAX),
                    via: d.via.name(),
                    services: d.services,
                })
                .collect(),
            revision,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_dependency_graph(
        &self,
        request: Request<pb::GetDependencyGraphRequest>,
    ) -> Result<Response<pb::DependencyGraph>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::GetDependencyGraphRequest { name, depth: raw } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let id = SystemId::from_name(&name, "name")?;
            store.systems().graph(&id, depth(raw)?).await
        }
        .await;
        let (nodes, edges) = Call::read(result)?;
        Ok(Response::new(pb::DependencyGraph {
            nodes: nodes
                .into_iter()
                .map(|n| pb::GraphNode {
                    system: n.system.name(),
                    short_name: n.short_name,
                    state: state_to_proto(n.state) as i32,
                })
                .collect(),
            edges: edges
                .into_iter()
                .map(|e| pb::GraphEdge {
                    consumer: e.consumer.name(),
                    provider: e.provider.name(),
                    service: e.service,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_register_statistics(
        &self,
        request: Request<pb::GetRegisterStatisticsRequest>,
    ) -> Result<Response<pb::RegisterStatistics>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let s = store.systems().statistics().await?;
            let bound = self.vocabulary.system_counts(store).await?;
            Ok((s, bound))
        }
        .await;
        let (s, by_bound_field) = Call::read(result)?;
        let counts = |v: Vec<(String, i64)>| -> Vec<pb::Count> {
            v.into_iter()
                .map(|(key, count)| pb::Count { key, count })
                .collect()
        };
        Ok(Response::new(pb::RegisterStatistics {
            total: s.total,
            by_state: counts(s.by_state),
            by_owner_kind: counts(s.by_owner_kind),
            by_owner: counts(
                s.by_owner
                    .into_iter()
                    .map(|(o, c)| (format!("organizations/{o}"), c))
                    .collect(),
            ),
            processing_personal_data: s.personal_data,
            registrations_by_year: counts(s.by_year),
            by_bound_field,
        }))
    }
}
