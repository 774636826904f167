//! FieldBindingService, and the one check of bound fields on write ([`Vocabulary`]).
//!
//! The bindings are few and read on every write of an organisation or system: the server keeps
//! them in memory, forgotten when the change feed says a binding changed. A bound code is looked
//! up in the version of the classifier in effect, from the classifier cache, so a write pays a
//! lookup in memory, not a query.

use std::collections::HashMap;
use std::sync::Arc;

use reestr_domain::Error;
use reestr_domain::access::Action;
use reestr_domain::binding::{
    self as domain, BindingChange, BindingField, BindingId, BindingSpec, BoundField, CodeProblem,
    DeprecatedCodes, FieldBinding, Record, UPDATE_MASK,
};
use reestr_domain::change::ResourceType;
use reestr_domain::classifier::{ClassifierId, VersionName};
use reestr_domain::error::Violations;
use reestr_domain::input::Choice;
use reestr_domain::paging::{self, KeyValue, query_fingerprint};
use reestr_domain::revision::Revisioned;
use reestr_domain::text::Language;
use reestr_domain::time::Date;
use reestr_store::Store;
use tonic::{Request, Response, Status};

use super::call::Call;
use super::classifier::ClassifierApi;
use super::classifier::cache::LoadedVersion;
use super::classifier::lookups::CodeVerdict;
use super::fresh::{Follows, Guarded};
use super::{ReadyStore, choice, number, timestamp};
use crate::proto::v1 as pb;
use crate::proto::v1::field_binding_service_server::FieldBindingService;

/// Records read at once while listing code usages.
const SCAN_BATCH: u64 = 500;

/// The bindings and the classifiers they point to: the check of bound fields on write, shared
/// by the services whose resources have bound fields.
#[derive(Debug)]
pub struct Vocabulary {
    classifiers: ClassifierApi,
    /// Every binding, under the one key `()`. Unlike the answers of reads ([`Answers`](super::fresh::Answers)), the
    /// copy is not set aside while the follower catches up with this server's other writes
    /// (under a stream of writes it always has one to catch up with, and every write would
    /// read the bindings again): only a change of a binding makes it stale, and a binding
    /// written through this server forgets it at once ([`Vocabulary::forget`]), one written
    /// through another within the feed's lag.
    bindings: Guarded<(), Arc<Vec<FieldBinding>>>,
}

/// The codes a write sets in one bound field: each with the request path it came from
/// (`organization.region_code`). A write that does not set the field has no `Setting` for it.
#[derive(Debug)]
pub struct Setting<'a> {
    /// The field.
    pub field: BoundField,
    /// Its request path, for a required field left empty.
    pub path: String,
    /// The codes, each with its request path.
    pub codes: Vec<(String, &'a str)>,
}

impl<'a> Setting<'a> {
    /// What a write that sets every field of `record` (a Create) sets in `field`; `prefix` is
    /// the resource's request field (`organization`).
    pub fn of(field: BoundField, record: Record<'a>, prefix: &str) -> Self {
        Self {
            field,
            path: format!("{prefix}.{}", field.path()),
            codes: field
                .codes(record)
                .into_iter()
                .map(|(path, code)| (format!("{prefix}.{path}"), code))
                .collect(),
        }
    }
}

impl Vocabulary {
    /// The check over `classifiers`' cache; bindings are kept until `feed` says they changed.
    pub fn new(classifiers: ClassifierApi) -> Self {
        Self {
            classifiers,
            bindings: Guarded::new("field_bindings", 1),
        }
    }

    /// The copy this check keeps, for the change-feed follower.
    pub fn follows(self: &Arc<Self>) -> Arc<dyn Follows> {
        Arc::new(BindingsCopy(self.clone()))
    }

    /// Every binding, from memory.
    async fn all(&self, store: &Store) -> Result<Arc<Vec<FieldBinding>>, Error> {
        if let Some(kept) = self.bindings.get(&()) {
            return Ok(kept);
        }
        let generation = self.bindings.generation();
        let all = Arc::new(store.bindings().list().await?);
        self.bindings.put(generation, (), all.clone());
        Ok(all)
    }

    /// For each binding of a system field, by binding name: how many live systems hold each
    /// code (GetRegisterStatistics).
    pub async fn system_counts(&self, store: &Store) -> Result<Vec<pb::BoundFieldCounts>, Error> {
        let mut out = Vec::new();
        for binding in self.all(store).await?.iter() {
            if binding.field.of_organization() {
                continue;
            }
            let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
            scan_records(store, binding.field, None, |record| {
                let mut codes: Vec<&str> = record.codes.iter().map(|(_, c)| c.as_str()).collect();
                codes.sort_unstable();
                codes.dedup();
                for code in codes {
                    *counts.entry(code.to_string()).or_default() += 1;
                }
                Ok(true)
            })
            .await?;
            out.push(pb::BoundFieldCounts {
                field_binding: binding.id.name(),
                field: binding.field.as_str().to_string(),
                counts: counts
                    .into_iter()
                    .map(|(key, count)| pb::Count { key, count })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// The names in `language` of the codes a read returns (`codes`: each bound field, with the
    /// code's path in the resource and the code): path → the name of the code's item in the
    /// version of the bound classifier in effect. Codes without a binding, a version in
    /// effect, an item or a name in that language have none.
    pub async fn labels(
        &self,
        store: &Store,
        language: Language,
        codes: &[(BoundField, String, &str)],
    ) -> Result<std::collections::BTreeMap<String, String>, Error> {
        let mut labels = std::collections::BTreeMap::new();
        if codes.is_empty() {
            return Ok(labels);
        }
        let bindings = self.all(store).await?;
        for binding in bindings.iter() {
            let mut of_field = Vec::new();
            for (field, path, code) in codes {
                if *field == binding.field {
                    of_field.push((path, *code));
                }
            }
            if of_field.is_empty() {
                continue;
            }
            let Some((_, content)) = self
                .classifiers
                .in_effect(store, &binding.spec.classifier)
                .await?
            else {
                continue;
            };
            for (path, code) in of_field {
                let Some(i) = content.find(code) else {
                    continue;
                };
                if let Some(name) = content.item(i)?.names.get(&language) {
                    labels.insert(path.clone(), name.clone());
                }
            }
        }
        Ok(labels)
    }

    /// Forgets the bindings kept (after a write of one through this server).
    fn forget(&self) {
        self.bindings.forget_all();
    }

    /// Checks what a write sets in bound fields: INVALID_ARGUMENT with one field violation
    /// (with its `reason`) per code the version in effect of the bound classifier refuses, and
    /// per required field left empty. Fields without a binding, and bindings whose classifier
    /// has no version in effect, check nothing.
    pub async fn check(&self, store: &Store, settings: &[Setting<'_>]) -> Result<(), Error> {
        if settings.is_empty() {
            return Ok(());
        }
        let bindings = self.all(store).await?;
        let mut v = Violations::new();
        for setting in settings {
            let Some(binding) = bindings.iter().find(|b| b.field == setting.field) else {
                continue;
            };
            let Some((version, content)) = self
                .classifiers
                .in_effect(store, &binding.spec.classifier)
                .await?
            else {
                continue;
            };
            let day = super::classifier::day_of(store, store.now())?;
            let mut verdicts = HashMap::new();
            for (_, code) in &setting.codes {
                if !verdicts.contains_key(code) {
                    verdicts.insert(*code, ClassifierApi::verdict(&content, code, day)?);
                }
            }
            let vname = version.name();
            let refused = domain::check_codes(binding, &setting.path, &setting.codes, |code| {
                verdicts
                    .get(code)
                    .cloned()
                    .flatten()
                    .map(|verdict| (verdict.problem, vname.clone(), verdict.successors))
            });
            for violation in refused {
                v.push(violation);
            }
        }
        v.into_result()
    }
}

/// The bindings kept, as the follower sees them.
struct BindingsCopy(Arc<Vocabulary>);

impl Follows for BindingsCopy {
    fn changed(&self, change: &reestr_domain::change::Change) {
        if change.resource_type == ResourceType::FieldBinding {
            self.0.bindings.forget_all();
        }
    }

    fn forget_all(&self) {
        self.0.bindings.forget_all();
    }

    fn stats(&self) -> Vec<super::fresh::CacheStats> {
        vec![self.0.bindings.stats()]
    }
}

/// FieldBindingService.
#[derive(Debug, Clone)]
pub struct BindingApi {
    store: ReadyStore,
    vocabulary: Arc<Vocabulary>,
}

impl BindingApi {
    /// The service over the store that start-up will provide.
    pub fn new(store: ReadyStore, vocabulary: Arc<Vocabulary>) -> Self {
        Self { store, vocabulary }
    }
}

fn deprecated_name(v: i32) -> Option<&'static str> {
    pb::DeprecatedCodes::try_from(v)
        .ok()
        .map(|t| t.as_str_name())
}

fn deprecated_number(d: DeprecatedCodes) -> i32 {
    number(d, |n| {
        pb::DeprecatedCodes::from_str_name(n).map(|t| t as i32)
    })
}

/// The policy a request's `deprecated_codes` asks for: REFUSE when unset.
fn deprecated_of(value: i32, v: &mut Violations) -> Option<DeprecatedCodes> {
    match choice::<DeprecatedCodes>(value, deprecated_name) {
        Choice::Unset => Some(DeprecatedCodes::Refuse),
        Choice::Known(d) => Some(d),
        Choice::Unknown(n) => {
            v.add(
                "field_binding.deprecated_codes",
                format!("{n} is not a DeprecatedCodes value"),
            );
            None
        }
    }
}

/// The spec a request's binding asks for; violations at `field_binding.*`.
fn spec_of(b: &pb::FieldBinding, v: &mut Violations) -> Option<BindingSpec> {
    let classifier = v.check(ClassifierId::from_name(
        &b.classifier,
        "field_binding.classifier",
    ));
    let deprecated_codes = deprecated_of(b.deprecated_codes, v);
    Some(BindingSpec {
        classifier: classifier?,
        required: b.required,
        deprecated_codes: deprecated_codes?,
    })
}

fn to_proto(b: &FieldBinding) -> pb::FieldBinding {
    pb::FieldBinding {
        name: b.id.name(),
        field: b.field.as_str().to_string(),
        classifier: b.spec.classifier.name(),
        required: b.spec.required,
        deprecated_codes: deprecated_number(b.spec.deprecated_codes),
        create_time: Some(timestamp(b.create_time)),
        update_time: Some(timestamp(b.update_time)),
        etag: b.etag(),
    }
}

fn problem_number(p: CodeProblem) -> i32 {
    (match p {
        CodeProblem::Unknown => pb::CodeProblem::Unknown,
        CodeProblem::Deprecated => pb::CodeProblem::Deprecated,
        CodeProblem::Expired => pb::CodeProblem::Expired,
        CodeProblem::NotYetValid => pb::CodeProblem::NotYetValid,
    }) as i32
}

#[tonic::async_trait]
impl FieldBindingService for BindingApi {
    #[tracing::instrument(skip_all, fields(id = %request.get_ref().field_binding_id))]
    async fn create_field_binding(
        &self,
        request: Request<pb::CreateFieldBindingRequest>,
    ) -> Result<Response<pb::FieldBinding>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::CreateFieldBindingRequest {
            field_binding,
            field_binding_id,
        } = request.into_inner();
        let resource = format!("{}/{field_binding_id}", domain::COLLECTION);
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::ManageBindings)?;
            let mut v = Violations::new();
            let id = v.check(BindingId::parse(&field_binding_id, "field_binding_id"));
            let (field, spec) = match &field_binding {
                Some(b) => (
                    v.check(BoundField::parse(&b.field, "field_binding.field")),
                    spec_of(b, &mut v),
                ),
                None => {
                    v.add("field_binding", "is required");
                    (None, None)
                }
            };
            v.into_result()?;
            let (Some(id), Some(field), Some(spec)) = (id, field, spec) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            store.bindings().create(&call.ctx, id, field, spec).await
        }
        .await;
        self.vocabulary.forget();
        audit
            .finish(result)
            .await
            .map(|b| Response::new(to_proto(&b)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_field_binding(
        &self,
        request: Request<pb::GetFieldBindingRequest>,
    ) -> Result<Response<pb::FieldBinding>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let id = BindingId::from_name(&request.get_ref().name, "name")?;
            let all = self.vocabulary.all(store).await?;
            all.iter()
                .find(|b| b.id == id)
                .map(to_proto)
                .ok_or_else(|| Error::NotFound {
                    resource: id.name(),
                })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    #[tracing::instrument(skip_all)]
    async fn list_field_bindings(
        &self,
        request: Request<pb::ListFieldBindingsRequest>,
    ) -> Result<Response<pb::ListFieldBindingsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListFieldBindingsRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            v.check(paging::page_size(page_size));
            if !page_token.is_empty() {
                v.add(
                    "page_token",
                    "is not a page token this server issued: every binding fits one page",
                );
            }
            v.into_result()?;
            let all = self.vocabulary.all(store).await?;
            Ok(pb::ListFieldBindingsResponse {
                field_bindings: all.iter().map(to_proto).collect(),
                next_page_token: String::new(),
            })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name))]
    async fn update_field_binding(
        &self,
        request: Request<pb::UpdateFieldBindingRequest>,
    ) -> Result<Response<pb::FieldBinding>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::UpdateFieldBindingRequest {
            field_binding,
            update_mask,
        } = request.into_inner();
        let binding = field_binding.unwrap_or_default();
        tracing::Span::current().record("name", binding.name.as_str());
        let audit = call.audit(store, &binding.name);
        let result = async {
            call.authorize(Action::ManageBindings)?;
            let mut v = Violations::new();
            let id = v.check(BindingId::from_name(&binding.name, "field_binding.name"));
            let paths = update_mask.map(|m| m.paths).unwrap_or_default();
            let fields = match UPDATE_MASK.resolve(&paths, |_| true) {
                Ok(fields) => fields,
                Err(Error::InvalidArgument(found)) => {
                    found.into_iter().for_each(|f| v.push(f));
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            // Only the fields the mask names are read from the request.
            let mut change = BindingChange::default();
            for field in &fields {
                match field {
                    BindingField::Classifier => {
                        change.classifier = v.check(ClassifierId::from_name(
                            &binding.classifier,
                            "field_binding.classifier",
                        ));
                    }
                    BindingField::Required => change.required = Some(binding.required),
                    BindingField::DeprecatedCodes => {
                        change.deprecated_codes = deprecated_of(binding.deprecated_codes, &mut v);
                    }
                }
            }
            v.into_result()?;
            let Some(id) = id else {
                return Err(Error::Internal("validated values missing".into()));
            };
            store
                .bindings()
                .update(&call.ctx, &id, &binding.etag, |current| {
                    change.apply(&current.spec)
                })
                .await
        }
        .await;
        self.vocabulary.forget();
        audit
            .finish(result)
            .await
            .map(|b| Response::new(to_proto(&b)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_field_binding(
        &self,
        request: Request<pb::DeleteFieldBindingRequest>,
    ) -> Result<Response<pb::DeleteFieldBindingResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::DeleteFieldBindingRequest { name, etag } = request.into_inner();
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::ManageBindings)?;
            let id = BindingId::from_name(&name, "name")?;
            store.bindings().delete(&call.ctx, &id, &etag).await
        }
        .await;
        self.vocabulary.forget();
        audit
            .finish(result)
            .await
            .map(|()| Response::new(pb::DeleteFieldBindingResponse {}))
    }

    #[tracing::instrument(skip_all, fields(binding = %request.get_ref().field_binding))]
    async fn list_code_usages(
        &self,
        request: Request<pb::ListCodeUsagesRequest>,
    ) -> Result<Response<pb::ListCodeUsagesResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListCodeUsagesRequest {
            field_binding,
            version,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            let id = v.check(BindingId::from_name(&field_binding, "field_binding"));
            let size = v.check(paging::page_size(page_size));
            let named = if version.is_empty() {
                None
            } else {
                v.check(VersionName::from_name(&version, "version"))
            };
            v.into_result()?;
            let (Some(id), Some(size)) = (id, size) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let fingerprint = query_fingerprint(&["codeUsages", &field_binding, &version]);
            let after = store
                .page_tokens()
                .decode(&page_token, &fingerprint, 2)
                .map_err(|e| Error::InvalidArgument(vec![e]))?;
            let binding = store.bindings().get(&id).await?;
            let (version, content) = match named {
                Some(name) => {
                    if name.classifier != binding.spec.classifier {
                        return Err(Error::invalid(
                            "version",
                            format!(
                                "{version:?} is not a version of {}, the classifier of {}",
                                binding.spec.classifier,
                                id.name()
                            ),
                        ));
                    }
                    self.vocabulary
                        .classifiers
                        .named_version(store, &name)
                        .await?
                }
                None => self
                    .vocabulary
                    .classifiers
                    .in_effect(store, &binding.spec.classifier)
                    .await?
                    .ok_or_else(|| Error::Precondition {
                        reason: reestr_domain::error::Reason::VersionNotPublished,
                        resource: binding.spec.classifier.name(),
                        message: format!(
                            "{} has no version in effect: name the version to check against",
                            binding.spec.classifier
                        ),
                    })?,
            };
            let day = super::classifier::day_of(store, store.now())?;
            // Resume at the record of the token (its later fields), or at the first.
            let skip = match after.as_deref() {
                Some([KeyValue::Text(record), KeyValue::Int(index)]) => {
                    Some((record.clone(), *index))
                }
                _ => None,
            };
            let mut usages: Vec<pb::CodeUsage> = Vec::new();
            let mut last: Option<(String, i64)> = None;
            let mut more = false;
            scan_usages(store, binding.field, &content, day, skip, |usage| {
                if u64::try_from(usages.len()).unwrap_or(u64::MAX) >= size {
                    more = true;
                    return false;
                }
                last = Some((usage.id.to_string(), usage.index));
                usages.push(pb::CodeUsage {
                    resource: usage.name.to_string(),
                    field: usage.path.to_string(),
                    code: usage.code.to_string(),
                    problem: problem_number(usage.verdict.problem),
                    suggested_codes: usage.verdict.successors,
                });
                true
            })
            .await?;
            let next_page_token = match (more, last) {
                (true, Some((record, index))) => store.page_tokens().encode(
                    &fingerprint,
                    vec![KeyValue::Text(record), KeyValue::Int(index)],
                ),
                _ => String::new(),
            };
            Ok(pb::ListCodeUsagesResponse {
                usages,
                version: version.name(),
                next_page_token,
            })
        }
        .await;
        Call::read(result).map(Response::new)
    }
}

/// A record's code that a version does not accept, as [`scan_usages`] finds it.
pub(crate) struct Usage<'a> {
    /// The record's id.
    pub id: &'a str,
    /// The record's name.
    pub name: &'a str,
    /// The code's place among the record's codes in the field.
    pub index: i64,
    /// The code's path within the record.
    pub path: &'a str,
    /// The code.
    pub code: &'a str,
    /// Why the version does not accept it.
    pub verdict: CodeVerdict,
}

/// Hands `found` every code of a live record of `field`'s type, by record id then place, that
/// `content` does not accept on `day`, after `skip` (a record id and a place: later places of
/// that record, then later records), until `found` answers false.
pub(crate) async fn scan_usages(
    store: &Store,
    field: BoundField,
    content: &LoadedVersion,
    day: Date,
    skip: Option<(String, i64)>,
    mut found: impl FnMut(Usage<'_>) -> bool,
) -> Result<(), Error> {
    let start = skip.as_ref().map(|(record, _)| record.as_str());
    scan_records(store, field, start, |record| {
        for (index, (path, code)) in record.codes.iter().enumerate() {
            let index = i64::try_from(index).unwrap_or(i64::MAX);
            if skip
                .as_ref()
                .is_some_and(|(id, i)| *id == record.id && index <= *i)
            {
                continue;
            }
            let Some(verdict) = ClassifierApi::verdict(content, code, day)? else {
                continue;
            };
            let usage = Usage {
                id: &record.id,
                name: &record.name,
                index,
                path,
                code,
                verdict,
            };
            if !found(usage) {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await
}

/// Hands `each` every live record of `field`'s type that holds codes in it, by id from `start`
/// (that record included), batch by batch, until `each` answers false.
async fn scan_records(
    store: &Store,
    field: BoundField,
    start: Option<&str>,
    mut each: impl FnMut(&reestr_store::BoundCodes) -> Result<bool, Error>,
) -> Result<(), Error> {
    let mut from = start.map(|id| (id.to_string(), true));
    loop {
        let batch = store
            .bindings()
            .bound_codes(
                field,
                from.as_ref()
                    .map(|(id, inclusive)| (id.as_str(), *inclusive)),
                SCAN_BATCH,
            )
            .await?;
        for record in &batch.records {
            if !each(record)? {
                return Ok(());
            }
        }
        match batch.last_scanned {
            Some(id) if !batch.end => from = Some((id, false)),
            _ => return Ok(()),
        }
    }
}

/// For each binding of classifier `classifier`, how many codes of live records `content` (a
/// draft about to be published) does not accept on `day`: the warnings of
/// ValidateClassifierVersion.
pub(crate) async fn binding_impacts(
    store: &Store,
    classifier: &ClassifierId,
    content: &LoadedVersion,
    day: Date,
) -> Result<Vec<pb::BindingImpact>, Error> {
    let mut impacts = Vec::new();
    for binding in store.bindings().list().await? {
        if &binding.spec.classifier != classifier {
            continue;
        }
        let mut usage_count = 0i64;
        scan_usages(store, binding.field, content, day, None, |_| {
            usage_count += 1;
            true
        })
        .await?;
        impacts.push(pb::BindingImpact {
            field_binding: binding.id.name(),
            usage_count,
        });
    }
    Ok(impacts)
}

/// The language a read asks its labels in: `None` for an empty `label_language`.
pub(crate) fn label_language(tag: &str) -> Result<Option<Language>, Error> {
    if tag.is_empty() {
        return Ok(None);
    }
    tag.parse().map(Some).map_err(|()| {
        Error::invalid(
            "label_language",
            format!(
                "{tag:?} is not a language of the register; one of {}",
                Language::ALL.map(Language::tag).join(", ")
            ),
        )
    })
}

/// The bound codes an organisation's answer holds.
pub(crate) fn organization_codes(o: &pb::Organization) -> Vec<(BoundField, String, &str)> {
    if o.region_code.is_empty() {
        return Vec::new();
    }
    let field = BoundField::OrganizationRegion;
    vec![(field, field.path().to_string(), o.region_code.as_str())]
}

/// The bound codes a system's answer holds.
pub(crate) fn system_codes(s: &pb::InformationSystem) -> Vec<(BoundField, String, &str)> {
    let mut codes = Vec::new();
    if let Some(hosting) = &s.hosting
        && !hosting.location.is_empty()
    {
        let field = BoundField::SystemHostingLocation;
        codes.push((field, field.path().to_string(), hosting.location.as_str()));
    }
    if let Some(security) = &s.security {
        let field = BoundField::SystemDataCategories;
        for (i, c) in security.data_categories.iter().enumerate() {
            codes.push((field, format!("{}[{i}]", field.path()), c.as_str()));
        }
    }
    codes
}
