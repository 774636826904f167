//! The classifier records: CreateClassifier, GetClassifier, ListClassifiers, UpdateClassifier,
//! DeleteClassifier and UndeleteClassifier.

use prost::Message as _;
use reestr_domain::access::Action;
use reestr_domain::classifier::{self as domain, ClassifierId, spec};
use reestr_domain::error::{Error, Violations};
use reestr_domain::paging::Page;
use reestr_domain::request_id::RequestId;
use reestr_domain::time::Timestamp;
use tonic::{Request, Response, Status};

use super::cache::ClassifierMeta;
use super::convert::{ClassifierView, classifier_draft, classifier_to_proto};
use super::{ClassifierApi, authorize_owner, invalid, owner_check};
use crate::api::call::Call;
use crate::api::list;
use crate::api::{idempotency_of, request_hash, settle};
use crate::proto::v1 as pb;
use reestr_domain::revision::Deletion;

/// The message of a classifier, with its latest and draft versions from `meta`.
pub(super) fn classifier_message(meta: &ClassifierMeta, now: Timestamp) -> pb::Classifier {
    classifier_to_proto(
        &meta.classifier,
        &ClassifierView {
            latest: meta.in_effect(now).map(|v| &**v),
            draft: meta.draft().map(|v| &**v),
        },
    )
}

impl ClassifierApi {
    pub(super) async fn do_create_classifier(
        &self,
        request: Request<pb::CreateClassifierRequest>,
    ) -> Result<Response<pb::Classifier>, Status> {
        let store = self.store.get()?;
        let mut call = Call::of(&request);
        let hash = request_hash(request.get_ref());
        let pb::CreateClassifierRequest {
            classifier,
            classifier_id,
            request_id,
        } = request.into_inner();
        call.ctx.request_id = request_id.clone();
        let resource = format!("{}/{classifier_id}", domain::name::COLLECTION);
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let mut v = Violations::new();
            let id = v.check(ClassifierId::parse(&classifier_id, "classifier_id"));
            let request_id = v.check(RequestId::parse(&request_id, "request_id"));
            let spec = match classifier {
                Some(c) => classifier_draft(c).validate_into("classifier", &mut v),
                None => {
                    v.add("classifier", "is required");
                    None
                }
            };
            v.into_result()?;
            let (Some(id), Some(request_id), Some(spec)) = (id, request_id, spec) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            authorize_owner(&call, &spec.owner)?;
            let idempotency = idempotency_of(&call, request_id, hash);
            let empty = ClassifierView {
                latest: None,
                draft: None,
            };
            let outcome = store
                .classifiers()
                .create(&call.ctx, id.clone(), spec, idempotency.as_ref(), |c| {
                    classifier_to_proto(c, &empty).encode_to_vec()
                })
                .await?;
            self.changed(&id);
            settle(&audit, outcome, |c| classifier_to_proto(c, &empty)).await
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_get_classifier(
        &self,
        request: Request<pb::GetClassifierRequest>,
    ) -> Result<Response<pb::Classifier>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::GetClassifierRequest { name } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let id = ClassifierId::from_name(&name, "name").map_err(invalid)?;
            let meta = self.meta(store, &id, true).await?;
            Ok(classifier_message(&meta, store.now()))
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_list_classifiers(
        &self,
        request: Request<pb::ListClassifiersRequest>,
    ) -> Result<Response<pb::ListClassifiersResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListClassifiersRequest {
            page_size,
            page_token,
            filter,
            show_deleted,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let query = list::query(
                page_size,
                page_token,
                domain::filter::compile_classifier_filter(&filter),
                Ok(Vec::new()),
                show_deleted,
                &[domain::name::COLLECTION, &filter],
            )?;
            // The version lists come from this server's copies: the page reflects what they
            // reflect, read before anything else.
            let applied = self.applied();
            let list::Listed {
                items: classifiers,
                next_page_token,
                revision,
            } = list::page(store, call.max_message_bytes, &query, |query| async move {
                let page = store.classifiers().list(&query).await?;
                let mut classifiers = Vec::with_capacity(page.items.len());
                for c in &page.items {
                    let meta = self.meta(store, &c.id, false).await?;
                    classifiers.push(classifier_message(&meta, store.now()));
                }
                Ok(Page {
                    items: classifiers,
                    next_page_token: page.next_page_token,
                })
            })
            .await?;
            Ok(pb::ListClassifiersResponse {
                classifiers,
                next_page_token,
                revision: revision.min(applied),
            })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_update_classifier(
        &self,
        request: Request<pb::UpdateClassifierRequest>,
    ) -> Result<Response<pb::Classifier>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::UpdateClassifierRequest {
            classifier,
            update_mask,
        } = request.into_inner();
        let resource = classifier
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let classifier =
                classifier.ok_or_else(|| Error::invalid("classifier", "is required"))?;
            let id =
                ClassifierId::from_name(&classifier.name, "classifier.name").map_err(invalid)?;
            let etag = classifier.etag.clone();
            let requested = classifier_draft(classifier);
            let paths = update_mask.map(|m| m.paths).unwrap_or_default();
            let fields = spec::resolve_update_mask(&paths, &requested)?;
            // Decided inside the write transaction, on the classifier as it is there: the
            // owner's permission, the merge and the check of the result.
            let updated = store
                .classifiers()
                .update(&call.ctx, &id, &etag, |current| {
                    authorize_owner(&call, &current.spec.owner)?;
                    let merged = spec::merge(&current.spec.to_draft(), &requested, &fields);
                    let spec = merged.validate("classifier")?;
                    if spec.owner != current.spec.owner {
                        authorize_owner(&call, &spec.owner)?;
                    }
                    Ok(spec)
                })
                .await?;
            self.changed(&id);
            let meta = self.meta(store, &id, true).await?;
            // The classifier as written (a later write may already be in `meta`).
            Ok(classifier_to_proto(
                &updated,
                &ClassifierView {
                    latest: meta.in_effect(store.now()).map(|v| &**v),
                    draft: meta.draft().map(|v| &**v),
                },
            ))
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_set_classifier_deleted(
        &self,
        call: Call,
        name: String,
        etag: String,
        deleted: bool,
    ) -> Result<Response<pb::Classifier>, Status> {
        let store = self.store.get()?;
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let id = ClassifierId::from_name(&name, "name").map_err(invalid)?;
            // The owner is authorised against the classifier as it is in the write's
            // transaction: a caller who lost the classifier meanwhile is refused.
            store
                .classifiers()
                .set_deleted(
                    &call.ctx,
                    &id,
                    &etag,
                    Deletion::of(deleted),
                    owner_check(&call),
                )
                .await?;
            self.changed(&id);
            let meta = self.meta(store, &id, true).await?;
            Ok(classifier_message(&meta, store.now()))
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }
}
