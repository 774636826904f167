//! Classifier and version writes: requirements, drafts, publication, retirement, item edits.

use std::collections::HashSet;

use prost::Message as _;
use reestr_domain::access::Action;
use reestr_domain::classifier::{
    self as domain, AttributeKind, ClassifierId, Code, ContentHasher, Item, Problem, Version,
    VersionId, VersionName, VersionRef, VersionState, problems_to_error, spec, validate_version,
    version::{MAX_VERSION_DESCRIPTION_CHARS, VERSION_UPDATE_MASK, VersionField},
};
use reestr_domain::error::{Error, Violations};
use reestr_domain::paging::{self, KeyKind, KeyValue, PageKey, PageQuery, query_fingerprint};
use reestr_domain::request_id::RequestId;
use reestr_domain::time::Timestamp;
use reestr_store::{ClassifierQuery, Idempotency, Outcome, Store};
use tonic::{Request, Response, Status};

use super::cache::{ClassifierMeta, LoadedVersion};
use super::convert::{
    ClassifierView, classifier_draft, classifier_etag, classifier_to_proto, item_draft,
    item_to_proto, problem_to_proto, version_etag, version_to_proto,
};
use super::{
    ClassifierApi, authorize_owner, expected_revision, find_version, invalid, require_draft,
};
use crate::api::call::{Audit, Call};
use crate::api::error::{LISTED_PROBLEM_BYTES, fitting};
use crate::api::request_hash;
use crate::proto::v1 as pb;

/// Most items (or codes) one batch call takes.
pub const MAX_BATCH: usize = 1000;

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

/// The message of a version of `meta`'s classifier.
pub(super) fn version_message(
    meta: &ClassifierMeta,
    v: &Version,
    now: Timestamp,
) -> pb::ClassifierVersion {
    version_to_proto(v, &meta.timeline, now)
}

fn timestamp_of(
    t: Option<prost_types::Timestamp>,
    field: &str,
) -> Result<Option<Timestamp>, Error> {
    t.map(|t| {
        Timestamp::from_seconds_nanos(t.seconds, t.nanos)
            .ok_or_else(|| Error::invalid(field, "is not a valid timestamp"))
    })
    .transpose()
}

fn check_description(d: &str, field: &str, v: &mut Violations) {
    if d.chars().count() > MAX_VERSION_DESCRIPTION_CHARS {
        v.add(
            field,
            format!("must be at most {MAX_VERSION_DESCRIPTION_CHARS} characters"),
        );
    }
    if d.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        v.add(field, "must not contain control characters");
    }
}

/// The CODE_REF check of publication: every referenced classifier's version in effect now,
/// loaded.
async fn referenced_versions(
    api: &ClassifierApi,
    store: &Store,
    meta: &ClassifierMeta,
) -> Result<Vec<(ClassifierId, Option<std::sync::Arc<LoadedVersion>>)>, Error> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for def in &meta.classifier.spec.attribute_schema {
        let AttributeKind::CodeRef(target) = &def.kind else {
            continue;
        };
        if !seen.insert(target.clone()) {
            continue;
        }
        let loaded = match api.meta(store, target, false).await {
            Ok(target_meta) => match target_meta.in_effect(store.now()) {
                Some(v) => Some(api.content(store, v).await?),
                None => None,
            },
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        out.push((target.clone(), loaded));
    }
    Ok(out)
}

/// Every problem of the draft `version` against its classifier's requirements, with the
/// draft's content.
async fn check_draft(
    api: &ClassifierApi,
    store: &Store,
    meta: &ClassifierMeta,
    version: &Version,
) -> Result<(Vec<Problem>, std::sync::Arc<LoadedVersion>), Error> {
    let content = api.content(store, version).await?;
    let refs = referenced_versions(api, store, meta).await?;
    let items: Vec<Item> = (0..content.len())
        .map(|i| content.item(i))
        .collect::<Result<_, _>>()?;
    let exists = |classifier: &ClassifierId, code: &str| {
        refs.iter()
            .find(|(id, _)| id == classifier)
            .and_then(|(_, v)| v.as_ref())
            .is_some_and(|v| v.find(code).is_some())
    };
    let problems = validate_version(&meta.classifier.spec, &items, &exists);
    Ok((problems, content))
}

fn version_name_of(raw: &str, field: &str) -> Result<VersionName, Error> {
    VersionName::from_name(raw, field).map_err(invalid)
}

/// The answer of an idempotent create: the resource made now, or the first answer again (the
/// replay recorded in the audit trail).
async fn settle<T, M: prost::Message + Default>(
    audit: &Audit,
    outcome: Outcome<T>,
    message: impl FnOnce(&T) -> M,
) -> Result<M, Error> {
    match outcome {
        Outcome::Fresh(created) => Ok(message(&created)),
        Outcome::Replayed(bytes) => {
            audit.record_replay().await;
            M::decode(bytes.as_slice())
                .map_err(|e| Error::Internal(format!("stored response: {e}")))
        }
    }
}

fn idempotency_of(call: &Call, request_id: Option<RequestId>, hash: String) -> Option<Idempotency> {
    request_id.map(|request_id| Idempotency {
        caller: call.ctx.caller.clone(),
        method: call.ctx.method.clone(),
        request_id,
        request_hash: hash,
    })
}

/// The keyset of ListClassifierVersions, newest first: the draft, then by effective time,
/// then by creation, then by id (all descending).
fn version_keys() -> Vec<PageKey<&'static str>> {
    vec![
        PageKey::desc("draft", KeyKind::Int),
        PageKey::desc("effective_time", KeyKind::Int),
        PageKey::desc("create_time", KeyKind::Int),
        PageKey::desc("name", KeyKind::Text),
    ]
}

/// A version's position in [`version_keys`].
fn version_key(v: &Version) -> Vec<KeyValue> {
    vec![
        KeyValue::Int(i64::from(v.state == VersionState::Draft)),
        KeyValue::Int(v.effective_time.map_or(i64::MAX, Timestamp::micros)),
        KeyValue::Int(v.create_time.micros()),
        KeyValue::Text(v.id.as_str().to_string()),
    ]
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
            let mut v = Violations::new();
            let size = v.check(paging::page_size(page_size));
            let compiled = v.check(domain::filter::compile_classifier_filter(&filter));
            v.into_result()?;
            let (Some(page_size), Some(filter_tree)) = (size, compiled) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let fingerprint = query_fingerprint(&[
                domain::name::COLLECTION,
                &filter,
                if show_deleted { "deleted" } else { "live" },
            ]);
            let page = store
                .classifiers()
                .list(&ClassifierQuery {
                    filter: filter_tree,
                    show_deleted,
                    page_size,
                    page_token,
                    fingerprint,
                })
                .await?;
            let mut classifiers = Vec::with_capacity(page.classifiers.len());
            for c in &page.classifiers {
                let meta = self.meta(store, &c.id, false).await?;
                classifiers.push(classifier_message(&meta, store.now()));
            }
            Ok(pb::ListClassifiersResponse {
                classifiers,
                next_page_token: page.next_page_token,
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
            let meta = self.meta(store, &id, true).await?;
            let current = &meta.classifier;
            authorize_owner(&call, &current.spec.owner)?;
            let expected =
                expected_revision(&etag, &classifier_etag(current), current.revision, &name)?;
            let repo = store.classifiers();
            if deleted {
                repo.delete(&call.ctx, &id, expected).await?;
            } else {
                repo.undelete(&call.ctx, &id, expected).await?;
            }
            self.changed(&id);
            let meta = self.meta(store, &id, true).await?;
            Ok(classifier_message(&meta, store.now()))
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_create_version(
        &self,
        request: Request<pb::CreateClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        let store = self.store.get()?;
        let mut call = Call::of(&request);
        let hash = request_hash(request.get_ref());
        let pb::CreateClassifierVersionRequest {
            parent,
            version_id,
            version,
            source_version,
            request_id,
        } = request.into_inner();
        call.ctx.request_id = request_id.clone();
        let resource = format!("{parent}/versions/{version_id}");
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let mut v = Violations::new();
            let id = v.check(ClassifierId::from_name(&parent, "parent"));
            let vid = v.check(VersionId::parse(&version_id, "version_id"));
            let request_id = v.check(RequestId::parse(&request_id, "request_id"));
            let source = if source_version.is_empty() {
                Some(None)
            } else {
                v.check(VersionName::from_name(&source_version, "source_version"))
                    .map(Some)
            };
            let (description, effective) = match version {
                Some(pb::ClassifierVersion {
                    description,
                    effective_time,
                    ..
                }) => {
                    check_description(&description, "version.description", &mut v);
                    let t = timestamp_of(effective_time, "version.effective_time")
                        .map_err(|e| v.add("version.effective_time", e.to_string()))
                        .ok()
                        .flatten();
                    (description, t)
                }
                None => (String::new(), None),
            };
            v.into_result()?;
            let (Some(id), Some(vid), Some(request_id), Some(source)) =
                (id, vid, request_id, source)
            else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let meta = self.meta(store, &id, true).await?;
            authorize_owner(&call, &meta.classifier.spec.owner)?;
            let source_id = match source {
                None => None,
                Some(s) => {
                    if s.classifier != id {
                        return Err(Error::invalid(
                            "source_version",
                            "must be a version of the same classifier",
                        ));
                    }
                    let (_, sv) = self.resolve(store, &s, None).await.map_err(|e| match e {
                        Error::NotFound { resource } => Error::ReferenceNotFound {
                            field: "source_version".into(),
                            reference: resource,
                        },
                        other => other,
                    })?;
                    Some(sv.id.clone())
                }
            };
            let idempotency = idempotency_of(&call, request_id, hash);
            let outcome = store
                .classifiers()
                .create_version(
                    &call.ctx,
                    &id,
                    vid,
                    description,
                    effective,
                    source_id,
                    idempotency.as_ref(),
                    |v| version_to_proto(v, &meta.timeline, store.now()).encode_to_vec(),
                )
                .await?;
            self.changed(&id);
            settle(&audit, outcome, |v| version_message(&meta, v, store.now())).await
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_get_version(
        &self,
        request: Request<pb::GetClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::GetClassifierVersionRequest { name } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let name = version_name_of(&name, "name")?;
            let (meta, v) = self.resolve(store, &name, None).await?;
            Ok(version_message(&meta, &v, store.now()))
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_list_versions(
        &self,
        request: Request<pb::ListClassifierVersionsRequest>,
    ) -> Result<Response<pb::ListClassifierVersionsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListClassifierVersionsRequest {
            parent,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            let id = v.check(ClassifierId::from_name(&parent, "parent"));
            let size = v.check(paging::page_size(page_size));
            v.into_result()?;
            let (Some(id), Some(size)) = (id, size) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let fingerprint = query_fingerprint(&["versions", &parent]);
            let query = PageQuery {
                keys: version_keys(),
                size,
                token: &page_token,
                fingerprint: &fingerprint,
            };
            // Refuse a bad token before reading the classifier.
            query.start(store.page_tokens()).map_err(invalid)?;
            let meta = self.meta(store, &id, true).await?;
            let mut sorted: Vec<(Vec<KeyValue>, &Version)> = meta
                .versions
                .iter()
                .map(|v| (version_key(v), &**v))
                .collect();
            sorted.sort_by(|(a, _), (b, _)| query.compare(a, b));
            let page = query
                .page_sorted(store.page_tokens(), |_| sorted, |(k, _)| k.clone())
                .map_err(invalid)?;
            Ok(pb::ListClassifierVersionsResponse {
                versions: page
                    .items
                    .iter()
                    .map(|(_, v)| version_message(&meta, v, store.now()))
                    .collect(),
                next_page_token: page.next_page_token,
            })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    /// Resolves a draft for a write by `call`: checks the owner and the etag.
    pub(super) async fn writable_draft(
        &self,
        store: &Store,
        call: &Call,
        name: &str,
        field: &str,
        etag: &str,
    ) -> Result<
        (
            std::sync::Arc<ClassifierMeta>,
            std::sync::Arc<Version>,
            Option<i64>,
        ),
        Error,
    > {
        call.authorize(Action::WriteResources)?;
        let name = version_name_of(name, field)?;
        let meta = self.meta(store, &name.classifier, true).await?;
        authorize_owner(call, &meta.classifier.spec.owner)?;
        let version = find_version(&meta, &name, store.now(), None)?;
        require_draft(&version)?;
        let expected = expected_revision(
            etag,
            &version_etag(&version),
            version.revision,
            &version.name(),
        )?;
        Ok((meta, version, expected))
    }

    pub(super) async fn do_update_version(
        &self,
        request: Request<pb::UpdateClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::UpdateClassifierVersionRequest {
            version,
            update_mask,
        } = request.into_inner();
        let resource = version.as_ref().map(|v| v.name.clone()).unwrap_or_default();
        let audit = call.audit(store, &resource);
        let result = async {
            let version = version.ok_or_else(|| Error::invalid("version", "is required"))?;
            let (meta, current, expected) = self
                .writable_draft(store, &call, &version.name, "version.name", &version.etag)
                .await?;
            let paths = update_mask.map(|m| m.paths).unwrap_or_default();
            let fields = VERSION_UPDATE_MASK.resolve(&paths, |_| true);
            let mut v = Violations::new();
            let fields = match fields {
                Ok(fields) => fields,
                Err(Error::InvalidArgument(mask)) => {
                    mask.into_iter().for_each(|m| v.add(m.field, m.description));
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            check_description(&version.description, "version.description", &mut v);
            v.into_result()?;
            let description = if fields.contains(&VersionField::Description) {
                version.description
            } else {
                current.description.clone()
            };
            let effective = if fields.contains(&VersionField::EffectiveTime) {
                timestamp_of(version.effective_time, "version.effective_time")?
            } else {
                current.effective_time
            };
            let updated = store
                .classifiers()
                .update_version(
                    &call.ctx,
                    &current.classifier,
                    &current.id,
                    expected,
                    description,
                    effective,
                )
                .await?;
            self.changed(&current.classifier);
            Ok(version_message(&meta, &updated, store.now()))
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_delete_version(
        &self,
        request: Request<pb::DeleteClassifierVersionRequest>,
    ) -> Result<Response<pb::DeleteClassifierVersionResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::DeleteClassifierVersionRequest { name, etag } = request.into_inner();
        let audit = call.audit(store, &name);
        let result = async {
            let (_, current, expected) = self
                .writable_draft(store, &call, &name, "name", &etag)
                .await?;
            let deleted = store
                .classifiers()
                .delete_version(&call.ctx, &current.classifier, &current.id, expected)
                .await?;
            self.changed(&current.classifier);
            Ok(pb::DeleteClassifierVersionResponse {
                name: deleted.name(),
                item_count: deleted.item_count,
            })
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_validate_version(
        &self,
        request: Request<pb::ValidateClassifierVersionRequest>,
    ) -> Result<Response<pb::ValidateClassifierVersionResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ValidateClassifierVersionRequest { name } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let name = version_name_of(&name, "name")?;
            let (meta, version) = self.resolve(store, &name, None).await?;
            require_draft(&version)?;
            let (problems, content) = check_draft(self, store, &meta, &version).await?;
            Ok(pb::ValidateClassifierVersionResponse {
                valid: problems.is_empty(),
                problems: problems.iter().map(problem_to_proto).collect(),
                item_count: reestr_domain::input::count_i64(content.len()),
            })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_publish_version(
        &self,
        request: Request<pb::PublishClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::PublishClassifierVersionRequest { name, etag } = request.into_inner();
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let vname = version_name_of(&name, "name")?;
            let meta = self.meta(store, &vname.classifier, true).await?;
            authorize_owner(&call, &meta.classifier.spec.owner)?;
            if meta.classifier.delete_time.is_some() {
                return Err(Error::Deleted {
                    resource: meta.classifier.id.name(),
                });
            }
            let version = find_version(&meta, &vname, store.now(), None)?;
            let state = meta.timeline.state(&version, store.now());
            if let Err(e) = state.publish() {
                return Err(e.into_error(version.name()));
            }
            expected_revision(
                &etag,
                &version_etag(&version),
                version.revision,
                &version.name(),
            )?;
            let (problems, content) = check_draft(self, store, &meta, &version).await?;
            let listed = fitting(
                problems.iter().map(|p| (p.field.len(), p.message.len())),
                LISTED_PROBLEM_BYTES,
            );
            problems_to_error(&problems, listed)?;
            let mut hasher = ContentHasher::new();
            for i in 0..content.len() {
                hasher.add_encoded(content.encoded(i))?;
            }
            let t = store.now();
            let published = store
                .classifiers()
                .publish(
                    &call.ctx,
                    &version.classifier,
                    &version.id,
                    // The requirements the draft was just checked against.
                    meta.classifier.revision,
                    version.revision,
                    hasher.finish(),
                    version.effective_time.unwrap_or(t),
                    t,
                )
                .await?;
            self.shared
                .versions
                .rekey(&version, published.revision, content)
                .await;
            self.changed(&version.classifier);
            let meta = self.meta(store, &version.classifier, true).await?;
            Ok(version_message(&meta, &published, store.now()))
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_retire_version(
        &self,
        request: Request<pb::RetireClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::RetireClassifierVersionRequest { name, etag } = request.into_inner();
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let vname = version_name_of(&name, "name")?;
            if vname.version == VersionRef::Latest {
                return Err(Error::invalid(
                    "name",
                    "name the version to retire by its id, not `latest`",
                ));
            }
            let meta = self.meta(store, &vname.classifier, true).await?;
            authorize_owner(&call, &meta.classifier.spec.owner)?;
            let version = find_version(&meta, &vname, store.now(), None)?;
            let state = meta.timeline.state(&version, store.now());
            if let Err(e) = state.retire() {
                return Err(e.into_error(version.name()));
            }
            let expected = expected_revision(
                &etag,
                &version_etag(&version),
                version.revision,
                &version.name(),
            )?;
            let retired = store
                .classifiers()
                .retire(&call.ctx, &version.classifier, &version.id, expected)
                .await?;
            self.changed(&version.classifier);
            let meta = self.meta(store, &version.classifier, true).await?;
            Ok(version_message(&meta, &retired, store.now()))
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_batch_upsert_items(
        &self,
        request: Request<pb::BatchUpsertItemsRequest>,
    ) -> Result<Response<pb::BatchUpsertItemsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::BatchUpsertItemsRequest {
            parent,
            items,
            etag,
        } = request.into_inner();
        let audit = call.audit(store, &parent);
        let result = async {
            let (meta, draft, expected) = self
                .writable_draft(store, &call, &parent, "parent", &etag)
                .await?;
            let mut v = Violations::new();
            if items.is_empty() || items.len() > MAX_BATCH {
                v.add("items", format!("must hold 1 to {MAX_BATCH} items"));
            }
            let mut seen = HashSet::new();
            let mut valid = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let prefix = format!("items[{i}]");
                if let Some(item) = item_draft(item).validate_into(&prefix, &mut v) {
                    if !seen.insert(item.code.clone()) {
                        v.add(
                            format!("{prefix}.code"),
                            format!("{} occurs twice in this request", item.code),
                        );
                    }
                    valid.push(item);
                }
            }
            v.into_result()?;
            let updated = store
                .classifiers()
                .upsert_items(&call.ctx, &draft.classifier, &draft.id, expected, &valid)
                .await?;
            self.changed(&draft.classifier);
            let name = updated.name();
            Ok(pb::BatchUpsertItemsResponse {
                items: valid.iter().map(|i| item_to_proto(i, &name, 0)).collect(),
                version: Some(version_message(&meta, &updated, store.now())),
            })
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_batch_delete_items(
        &self,
        request: Request<pb::BatchDeleteItemsRequest>,
    ) -> Result<Response<pb::BatchDeleteItemsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::BatchDeleteItemsRequest {
            parent,
            codes,
            allow_missing,
            etag,
        } = request.into_inner();
        let audit = call.audit(store, &parent);
        let result = async {
            let (meta, draft, expected) = self
                .writable_draft(store, &call, &parent, "parent", &etag)
                .await?;
            let mut v = Violations::new();
            if codes.is_empty() || codes.len() > MAX_BATCH {
                v.add("codes", format!("must hold 1 to {MAX_BATCH} codes"));
            }
            let parsed: Vec<Code> = codes
                .iter()
                .enumerate()
                .filter_map(|(i, c)| v.check(Code::parse(c, &format!("codes[{i}]"))))
                .collect();
            v.into_result()?;
            let (deleted, updated) = store
                .classifiers()
                .delete_items(
                    &call.ctx,
                    &draft.classifier,
                    &draft.id,
                    expected,
                    &parsed,
                    allow_missing,
                )
                .await?;
            self.changed(&draft.classifier);
            Ok(pb::BatchDeleteItemsResponse {
                deleted_count: reestr_domain::input::count_i64(deleted),
                version: Some(version_message(&meta, &updated, store.now())),
            })
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }
}
