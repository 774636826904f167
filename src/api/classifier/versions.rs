//! Versions: CreateClassifierVersion, GetClassifierVersion, ListClassifierVersions,
//! UpdateClassifierVersion, DeleteClassifierVersion, and the lifecycle of a version —
//! ValidateClassifierVersion, PublishClassifierVersion, RetireClassifierVersion.

use std::collections::HashSet;

use prost::Message as _;
use reestr_domain::access::Action;
use reestr_domain::classifier::{
    AttributeKind, ClassifierId, ContentHasher, Problem, Version, VersionId, VersionName,
    VersionRef, VersionState, problems_to_error, validate_items,
    version::{MAX_VERSION_DESCRIPTION_CHARS, VERSION_UPDATE_MASK, VersionField},
};
use reestr_domain::error::{Error, Violations};
use reestr_domain::paging::{self, KeyKind, KeyValue, Page, PageKey, PageQuery, query_fingerprint};
use reestr_domain::request_id::RequestId;
use reestr_domain::revision::Revisioned;
use reestr_domain::time::Timestamp;
use reestr_store::{DraftGuard, Store, VersionChange};
use tonic::{Request, Response, Status};

use super::cache::{ClassifierMeta, LoadedVersion};
use super::convert::{problem_to_proto, version_to_proto};
use super::{
    ClassifierApi, authorize_owner, find_version, invalid, owner_check, require_draft,
    version_name_of,
};
use crate::api::call::Call;
use crate::api::error::{LISTED_PROBLEM_BYTES, fitting};
use crate::api::list;
use crate::api::{idempotency_of, instant, request_hash, settle};
use crate::proto::v1 as pb;

/// The message of a version of `meta`'s classifier.
pub(super) fn version_message(
    meta: &ClassifierMeta,
    v: &Version,
    now: Timestamp,
) -> pb::ClassifierVersion {
    version_to_proto(v, &meta.timeline, now)
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
/// draft's content: validated over the version in memory (the cache's entry, which
/// publication then keeps as the published version's), one item decoded at a time.
async fn check_draft(
    api: &ClassifierApi,
    store: &Store,
    meta: &ClassifierMeta,
    version: &Version,
) -> Result<(Vec<Problem>, std::sync::Arc<LoadedVersion>), Error> {
    let content = api.content(store, version).await?;
    let refs = referenced_versions(api, store, meta).await?;
    let exists = |classifier: &ClassifierId, code: &str| {
        refs.iter()
            .find(|(id, _)| id == classifier)
            .and_then(|(_, v)| v.as_ref())
            .is_some_and(|v| v.find(code).is_some())
    };
    let problems = validate_items(&meta.classifier.spec, &*content, &exists)?;
    Ok((problems, content))
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
                    let t = v
                        .check(instant(effective_time, "version.effective_time"))
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
                    &owner_check(&call),
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
            let revision = self.applied();
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
            let read = |size| {
                let query = PageQuery {
                    size,
                    ..query.clone()
                };
                let page = query.page_sorted(
                    store.page_tokens(),
                    |_| sorted.iter().cloned(),
                    |(k, _)| k.clone(),
                );
                std::future::ready(
                    page.map_err(invalid)
                        .map(|page| page.map(|(_, v)| version_message(&meta, v, store.now()))),
                )
            };
            let Page {
                items: versions,
                next_page_token,
            } = list::within_limit(call.max_message_bytes, size, read).await?;
            Ok(pb::ListClassifierVersionsResponse {
                versions,
                next_page_token,
                revision,
            })
        }
        .await;
        Call::read(result).map(Response::new)
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
            let (meta, current) = self
                .writable_draft(store, &call, &version.name, "version.name")
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
            // Only the masked fields travel: the store merges them into the draft as it is in
            // the write's transaction, so a concurrent change to the other field is kept.
            let change = VersionChange {
                description: fields
                    .contains(&VersionField::Description)
                    .then_some(version.description),
                effective_time: if fields.contains(&VersionField::EffectiveTime) {
                    Some(instant(version.effective_time, "version.effective_time")?)
                } else {
                    None
                },
            };
            let authorize = owner_check(&call);
            let guard = DraftGuard {
                authorize: &authorize,
                etag: &version.etag,
            };
            let updated = store
                .classifiers()
                .update_version(&call.ctx, &current.classifier, &current.id, guard, change)
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
            let (_, current) = self.writable_draft(store, &call, &name, "name").await?;
            let authorize = owner_check(&call);
            let guard = DraftGuard {
                authorize: &authorize,
                etag: &etag,
            };
            let deleted = store
                .classifiers()
                .delete_version(&call.ctx, &current.classifier, &current.id, guard)
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
            let day = super::day_of(store, store.now())?;
            let binding_impacts =
                crate::api::binding::binding_impacts(store, &name.classifier, &content, day)
                    .await?;
            Ok(pb::ValidateClassifierVersionResponse {
                valid: problems.is_empty(),
                problems: problems.iter().map(problem_to_proto).collect(),
                item_count: reestr_domain::input::count_i64(content.len()),
                binding_impacts,
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
            version.check_etag(&etag)?;
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
                    &owner_check(&call),
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
            let authorize = owner_check(&call);
            let guard = DraftGuard {
                authorize: &authorize,
                etag: &etag,
            };
            let retired = store
                .classifiers()
                .retire(&call.ctx, &version.classifier, &version.id, guard)
                .await?;
            self.changed(&version.classifier);
            let meta = self.meta(store, &version.classifier, true).await?;
            Ok(version_message(&meta, &retired, store.now()))
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }
}
