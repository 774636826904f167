//! `reestr.v1.AuditService`.

use reestr_domain::FieldViolation;
use reestr_domain::access::Action;
use reestr_domain::audit::{AuditEvent, compile_filter};
use reestr_domain::paging::SortKey;
use tonic::{Request, Response, Status};

use super::call::Call;
use super::list;
use super::{ReadyStore, timestamp};
use crate::proto::v1 as pb;
use crate::proto::v1::audit_service_server::AuditService;

/// The audit service.
#[derive(Debug, Clone)]
pub struct AuditApi {
    store: ReadyStore,
}

impl AuditApi {
    /// A service over the store.
    pub fn new(store: ReadyStore) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    #[tracing::instrument(skip_all, fields(filter = %request.get_ref().filter))]
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListAuditEventsRequest {
            page_size,
            page_token,
            filter,
            order_by,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadAudit)?;
            let descending = match order_by.split_whitespace().collect::<Vec<_>>().as_slice() {
                [] | ["sequence"] | ["sequence", "asc"] => Ok(false),
                ["sequence", "desc"] => Ok(true),
                _ => Err(FieldViolation::new(
                    "order_by",
                    "must be `sequence` or `sequence desc`",
                )),
            };
            let query = list::query(
                page_size,
                page_token,
                compile_filter(&filter),
                descending.map(|descending| {
                    vec![SortKey {
                        field: "sequence",
                        descending,
                    }]
                }),
                false,
                &["audit_events", &filter, &order_by],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store.list_audit_events(&query).await?.map(|e| to_proto(&e)))
            })
            .await
        }
        .await;
        let list::Listed {
            items: events,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events,
            next_page_token,
            revision,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn verify_audit_chain(
        &self,
        request: Request<pb::VerifyAuditChainRequest>,
    ) -> Result<Response<pb::VerifyAuditChainResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let result = async {
            call.authorize(Action::ReadAudit)?;
            store.verify_audit_chain().await
        }
        .await;
        let report = Call::read(result)?;
        Ok(Response::new(pb::VerifyAuditChainResponse {
            intact: report.first_broken.is_none(),
            verified_events: report.verified,
            first_broken_sequence: report.first_broken.unwrap_or(0),
            head_hash: report.head_hash,
        }))
    }
}

fn to_proto(e: &AuditEvent) -> pb::AuditEvent {
    let r = &e.record;
    pb::AuditEvent {
        sequence: e.sequence,
        event_time: Some(timestamp(e.event_time)),
        caller: r.caller.clone(),
        organization: if r.organization.is_empty() {
            String::new()
        } else {
            format!("organizations/{}", r.organization)
        },
        method: r.method.clone(),
        resource: r.resource.clone(),
        request_id: r.request_id.clone(),
        outcome: r.outcome.clone(),
        reason: r.reason.clone(),
        changes: r
            .changes
            .iter()
            .map(|c| pb::FieldChange {
                field: c.field.clone(),
                old_value: c.old.clone(),
                new_value: c.new.clone(),
            })
            .collect(),
        hash: e.hash.clone(),
    }
}
