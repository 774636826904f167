//! The lookups: items, ancestors, code checks, translation and differences between
//! versions. Published content comes from memory ([`super::cache`]).

use std::collections::HashMap;
use std::sync::Arc;

use reestr_domain::access::Action;
use reestr_domain::binding::CodeProblem;
use reestr_domain::classifier::diff::{MAX_TRANSLATION_STEPS, changed_fields};
use reestr_domain::classifier::filter::{ItemFacts, compile_item_filter, matches, required_parent};
use reestr_domain::classifier::{
    ClassifierId, Code, Item, ItemName, ItemStatus, Translation, Version, VersionName, VersionRef,
    VersionState, translate_with,
};
use reestr_domain::error::{Error, Reason as ErrorReason, Violations};
use reestr_domain::paging::{self, KeyKind, KeyValue, Page, PageKey, PageQuery, query_fingerprint};
use reestr_domain::text::fold;
use reestr_store::Store;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::MAX_BATCH;
use super::cache::LoadedVersion;
use super::convert::{encoded_item_to_proto, item_to_proto};
use super::{ClassifierApi, day_of, invalid, parse_as_of};
use crate::api::call::Call;
use crate::api::error::status;
use crate::api::instant;
use crate::api::list;
use crate::proto::v1 as pb;
use reestr_domain::time::{Date, Timestamp};

/// Changes per message of a DiffClassifierVersions stream are sent one by one; this many wait
/// in the channel before the producer pauses.
const STREAM_BUFFER: usize = 64;

/// Most characters of a ListItems search text.
const MAX_SEARCH_CHARS: usize = 200;

/// Item `i` of `content` as a message of version `name`.
fn message(content: &LoadedVersion, i: usize, name: &str) -> Result<pb::Item, Error> {
    encoded_item_to_proto(content.encoded(i), name, content.level(i))
}

fn item_not_found(version: &Version, code: &str) -> Error {
    Error::NotFound {
        resource: format!("{}/items/{code}", version.name()),
    }
}

/// Why an item is not acceptable on `day`, the one rule of ValidateCode and of bound fields:
/// not valid yet, expired, or deprecated (in that order); `None` when it is acceptable.
pub(crate) fn item_problem(item: &Item, day: Date) -> Option<CodeProblem> {
    if item.valid_from.is_some_and(|from| day < from) {
        Some(CodeProblem::NotYetValid)
    } else if item.valid_to.is_some_and(|to| to < day) {
        Some(CodeProblem::Expired)
    } else if item.status == ItemStatus::Deprecated {
        Some(CodeProblem::Deprecated)
    } else {
        None
    }
}

/// What a version says of a code a record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeVerdict {
    /// Why the version does not accept it.
    pub problem: CodeProblem,
    /// A deprecated code's successors.
    pub successors: Vec<String>,
}

impl ClassifierApi {
    /// The version of classifier `id` in effect now and its content, from memory; `None` when
    /// the classifier does not exist (or is deleted) or has no version in effect.
    pub(crate) async fn in_effect(
        &self,
        store: &Store,
        id: &ClassifierId,
    ) -> Result<Option<(Arc<Version>, Arc<LoadedVersion>)>, Error> {
        let name = VersionName {
            classifier: id.clone(),
            version: VersionRef::Latest,
        };
        match self.open(store, &name, None).await {
            Ok(found) => Ok(Some(found)),
            Err(Error::NotFound { .. } | Error::Deleted { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The version `name` names (a draft, `latest` or an id) and its content.
    pub(crate) async fn named_version(
        &self,
        store: &Store,
        name: &VersionName,
    ) -> Result<(Arc<Version>, Arc<LoadedVersion>), Error> {
        self.open(store, name, None).await
    }

    /// What `content` says of `code` on `day`: `None` when it accepts it.
    pub(crate) fn verdict(
        content: &LoadedVersion,
        code: &str,
        day: Date,
    ) -> Result<Option<CodeVerdict>, Error> {
        let Some(i) = content.find(code) else {
            return Ok(Some(CodeVerdict {
                problem: CodeProblem::Unknown,
                successors: Vec::new(),
            }));
        };
        let item = content.item(i)?;
        let Some(problem) = item_problem(&item, day) else {
            return Ok(None);
        };
        let successors = match (problem, translate(content, content, code)?) {
            (CodeProblem::Deprecated, Translation::Replaced(codes)) => {
                codes.iter().map(|c| c.as_str().to_string()).collect()
            }
            _ => Vec::new(),
        };
        Ok(Some(CodeVerdict {
            problem,
            successors,
        }))
    }

    /// The version to read for `name` and `as_of`, and its content.
    async fn open(
        &self,
        store: &Store,
        name: &VersionName,
        as_of: Option<Timestamp>,
    ) -> Result<(Arc<Version>, Arc<LoadedVersion>), Error> {
        let (_, version) = self.resolve(store, name, as_of).await?;
        let content = self.content(store, &version).await?;
        Ok((version, content))
    }

    pub(super) async fn do_get_item(
        &self,
        request: Request<pb::GetItemRequest>,
    ) -> Result<Response<pb::Item>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::GetItemRequest { name, as_of } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let item = ItemName::from_name(&name, "name").map_err(invalid)?;
            let as_of = parse_as_of(as_of, &item.version.version, "as_of")?;
            let (_, version) = self.resolve(store, &item.version, as_of).await?;
            let vname = version.name();
            if version.state == VersionState::Draft {
                // Drafts change under their editors: read the one item from the database.
                let found = store
                    .classifiers()
                    .items(&version.classifier, &version.id, &[item.code.as_str()])
                    .await?;
                return match found.first() {
                    Some(i) => Ok(item_to_proto(i, &vname, 0)),
                    None => Err(item_not_found(&version, item.code.as_str())),
                };
            }
            let content = self.content(store, &version).await?;
            match content.find(item.code.as_str()) {
                Some(i) => message(&content, i, &vname),
                None => Err(item_not_found(&version, item.code.as_str())),
            }
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_batch_get_items(
        &self,
        request: Request<pb::BatchGetItemsRequest>,
    ) -> Result<Response<pb::BatchGetItemsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::BatchGetItemsRequest {
            parent,
            codes,
            as_of,
            allow_missing,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            let name = v.check(VersionName::from_name(&parent, "parent"));
            if codes.is_empty() || codes.len() > MAX_BATCH {
                v.add("codes", format!("must hold 1 to {MAX_BATCH} codes"));
            }
            for (i, c) in codes.iter().enumerate() {
                v.check(Code::parse(c, &format!("codes[{i}]")));
            }
            v.into_result()?;
            let Some(name) = name else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let as_of = parse_as_of(as_of, &name.version, "as_of")?;
            let (version, content) = self.open(store, &name, as_of).await?;
            let vname = version.name();
            let mut items = Vec::with_capacity(codes.len());
            let mut missing_codes = Vec::new();
            for code in &codes {
                match content.find(code) {
                    Some(i) => items.push(message(&content, i, &vname)?),
                    None if allow_missing => missing_codes.push(code.clone()),
                    None => return Err(item_not_found(&version, code)),
                }
            }
            Ok(pb::BatchGetItemsResponse {
                items,
                missing_codes,
                version: vname,
            })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_list_items(
        &self,
        request: Request<pb::ListItemsRequest>,
    ) -> Result<Response<pb::ListItemsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListItemsRequest {
            parent,
            page_size,
            page_token,
            filter,
            search,
            search_mode,
            as_of,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let revision = self.applied();
            let mut v = Violations::new();
            let name = v.check(VersionName::from_name(&parent, "parent"));
            let size = v.check(paging::page_size(page_size));
            let compiled = v.check(compile_item_filter(&filter));
            if search.chars().count() > MAX_SEARCH_CHARS {
                v.add(
                    "search",
                    format!("must be at most {MAX_SEARCH_CHARS} characters"),
                );
            }
            let prefix = match pb::SearchMode::try_from(search_mode) {
                Ok(pb::SearchMode::Unspecified | pb::SearchMode::Substring) => false,
                Ok(pb::SearchMode::Prefix) => true,
                Err(_) => {
                    v.add("search_mode", format!("{search_mode} is not a search mode"));
                    false
                }
            };
            v.into_result()?;
            let (Some(name), Some(size), Some(filter_tree)) = (name, size, compiled) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let as_of = parse_as_of(as_of, &name.version, "as_of")?;
            let (version, content) = self.open(store, &name, as_of).await?;
            // The token binds the page to the version actually read, so that `latest` moving
            // on between pages cannot mix two versions.
            let vname = version.name();
            let fingerprint = query_fingerprint(&[
                "items",
                &vname,
                &filter,
                &search,
                if prefix { "prefix" } else { "substring" },
            ]);
            let folded = fold(search.trim());
            let wanted = |i: usize| {
                let parent = content.parent(i).map(|p| content.code(p));
                let facts = ItemFacts {
                    code: content.code(i),
                    parent,
                    level: content.level(i),
                    status: content.status(i),
                };
                filter_tree.as_ref().is_none_or(|f| matches(f, &facts))
                    && (folded.is_empty() || content.name_matches(i, &folded, prefix))
            };
            // Items are held sorted by code: seek to the first code after the token's, in the
            // parent's children when the filter names one, else in the whole version.
            let seek = |start: Option<&[KeyValue]>| {
                let start_code = match start {
                    Some([KeyValue::Text(code)]) => Some(code.as_str()),
                    _ => None,
                };
                let candidates: Box<dyn Iterator<Item = usize>> =
                    match filter_tree.as_ref().and_then(required_parent) {
                        Some(parent_code) => {
                            let group = match parent_code {
                                None => Some(content.children(None)),
                                Some(code) => content.find(code).map(|p| content.children(Some(p))),
                            };
                            let group = group.unwrap_or(&[]);
                            let skip = start_code.map_or(0, |c| {
                                group.partition_point(|&i| {
                                    content.code(i as usize).as_bytes() <= c.as_bytes()
                                })
                            });
                            Box::new(group[skip..].iter().map(|&i| i as usize))
                        }
                        None => {
                            let from = start_code.map_or(0, |c| content.after(c));
                            Box::new(from..content.len())
                        }
                    };
                candidates.filter(|&i| wanted(i))
            };
            let read = |size| {
                let query = PageQuery {
                    keys: vec![PageKey::asc("code", KeyKind::Text)],
                    size,
                    token: &page_token,
                    fingerprint: &fingerprint,
                };
                let page = query.page_sorted(store.page_tokens(), seek, |&i| {
                    vec![KeyValue::Text(content.code(i).to_string())]
                });
                std::future::ready(page.map_err(invalid).and_then(|page| {
                    let items = page
                        .items
                        .iter()
                        .map(|&i| message(&content, i, &vname))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Page {
                        items,
                        next_page_token: page.next_page_token,
                    })
                }))
            };
            let Page {
                items,
                next_page_token,
            } = list::within_limit(call.max_message_bytes, size, read).await?;
            Ok(pb::ListItemsResponse {
                items,
                next_page_token,
                version: vname,
                revision,
            })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_get_ancestors(
        &self,
        request: Request<pb::GetItemAncestorsRequest>,
    ) -> Result<Response<pb::GetItemAncestorsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::GetItemAncestorsRequest { name, as_of } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let item = ItemName::from_name(&name, "name").map_err(invalid)?;
            let as_of = parse_as_of(as_of, &item.version.version, "as_of")?;
            let (version, content) = self.open(store, &item.version, as_of).await?;
            let vname = version.name();
            let mut at = content
                .find(item.code.as_str())
                .ok_or_else(|| item_not_found(&version, item.code.as_str()))?;
            let mut ancestors = Vec::new();
            // A draft's chain may loop; a version has at most `len` distinct ancestors.
            while let Some(p) = content.parent(at) {
                if ancestors.len() >= content.len() {
                    break;
                }
                ancestors.push(message(&content, p, &vname)?);
                at = p;
            }
            Ok(pb::GetItemAncestorsResponse { ancestors })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_validate_code(
        &self,
        request: Request<pb::ValidateCodeRequest>,
    ) -> Result<Response<pb::ValidateCodeResponse>, Status> {
        use pb::validate_code_response::Reason;
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ValidateCodeRequest {
            classifier,
            code,
            as_of,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            let id = v.check(ClassifierId::from_name(&classifier, "classifier"));
            let parsed = v.check(Code::parse(&code, "code"));
            let as_of = v.check(instant(as_of, "as_of"));
            v.into_result()?;
            let (Some(id), Some(code), Some(as_of)) = (id, parsed, as_of) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            // The day validity dates are compared with: the one `as_of` (or now) falls on.
            let day = day_of(store, as_of.unwrap_or_else(|| store.now()))?;
            let name = VersionName {
                classifier: id,
                version: VersionRef::Latest,
            };
            let mut response = pb::ValidateCodeResponse::default();
            let (version, content) = match self.open(store, &name, as_of).await {
                Ok(found) => found,
                Err(Error::NotFound { .. }) => {
                    // The classifier itself must exist; only the version may be missing.
                    self.meta(store, &name.classifier, false).await?;
                    response.reason = Reason::NoVersionInEffect as i32;
                    return Ok(response);
                }
                Err(e) => return Err(e),
            };
            let vname = version.name();
            response.version = vname.clone();
            let Some(i) = content.find(code.as_str()) else {
                response.reason = Reason::UnknownCode as i32;
                return Ok(response);
            };
            let item = content.item(i)?;
            let reason = match item_problem(&item, day) {
                Some(CodeProblem::NotYetValid) => Reason::NotYetValid,
                Some(CodeProblem::Expired) => Reason::Expired,
                Some(CodeProblem::Deprecated) => Reason::Deprecated,
                Some(CodeProblem::Unknown) => Reason::UnknownCode,
                None => Reason::Unspecified,
            };
            if reason == Reason::Deprecated
                && let Translation::Replaced(codes) = translate(&content, &content, code.as_str())?
            {
                response.successors = codes.iter().map(|c| c.as_str().to_string()).collect();
            }
            response.valid = reason == Reason::Unspecified;
            response.reason = reason as i32;
            response.item = Some(item_to_proto(&item, &vname, content.level(i)));
            Ok(response)
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_translate_code(
        &self,
        request: Request<pb::TranslateCodeRequest>,
    ) -> Result<Response<pb::TranslateCodeResponse>, Status> {
        use pb::translate_code_response::Outcome;
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::TranslateCodeRequest {
            source_version,
            code,
            target_version,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            let source = v.check(VersionName::from_name(&source_version, "source_version"));
            let parsed = v.check(Code::parse(&code, "code"));
            let target = match (&source, target_version.as_str()) {
                (Some(s), "") => Some(VersionName {
                    classifier: s.classifier.clone(),
                    version: VersionRef::Latest,
                }),
                (_, raw) => v.check(VersionName::from_name(raw, "target_version")),
            };
            v.into_result()?;
            let (Some(source), Some(code), Some(target)) = (source, parsed, target) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            if source.classifier != target.classifier {
                return Err(Error::invalid(
                    "target_version",
                    "must be a version of the source version's classifier",
                ));
            }
            let (source_v, old) = self.open(store, &source, None).await?;
            if source_v.state == VersionState::Draft {
                return Err(Error::Precondition {
                    reason: ErrorReason::VersionNotPublished,
                    resource: source_v.name(),
                    message: format!(
                        "{} is a draft; translate from a published version",
                        source_v.name()
                    ),
                });
            }
            let (target_v, new) = self.open(store, &target, None).await?;
            let tname = target_v.name();
            let (outcome, codes) = match translate(&old, &new, code.as_str())? {
                Translation::Same => (Outcome::Same, vec![code]),
                Translation::Replaced(codes) => (Outcome::Replaced, codes),
                Translation::Withdrawn => (Outcome::Withdrawn, Vec::new()),
                Translation::Unknown => (Outcome::Unknown, Vec::new()),
            };
            let mut items = Vec::with_capacity(codes.len());
            for c in &codes {
                if let Some(i) = new.find(c.as_str()) {
                    items.push(message(&new, i, &tname)?);
                }
            }
            Ok(pb::TranslateCodeResponse {
                outcome: outcome as i32,
                items,
                target_version: tname,
            })
        }
        .await;
        Call::read(result).map(Response::new)
    }

    pub(super) async fn do_diff_versions(
        &self,
        request: Request<pb::DiffClassifierVersionsRequest>,
    ) -> Result<Response<ReceiverStream<Result<pb::ItemChange, Status>>>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::DiffClassifierVersionsRequest {
            base_version,
            target_version,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            let base = v.check(VersionName::from_name(&base_version, "base_version"));
            let target = v.check(VersionName::from_name(&target_version, "target_version"));
            v.into_result()?;
            let (Some(base), Some(target)) = (base, target) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            if base.classifier != target.classifier {
                return Err(Error::invalid(
                    "target_version",
                    "must be a version of the base version's classifier",
                ));
            }
            let (bv, old) = self.open(store, &base, None).await?;
            let (tv, new) = self.open(store, &target, None).await?;
            Ok((bv.name(), old, tv.name(), new))
        }
        .await;
        let (base_name, old, target_name, new) = Call::read(result)?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            let send = |change: Result<pb::ItemChange, Error>| {
                let tx = tx.clone();
                async move { tx.send(change.map_err(status)).await.is_ok() }
            };
            let (mut i, mut j) = (0, 0);
            while i < old.len() || j < new.len() {
                let order = match (i < old.len(), j < new.len()) {
                    (true, true) => old.code(i).as_bytes().cmp(new.code(j).as_bytes()),
                    (true, false) => std::cmp::Ordering::Less,
                    _ => std::cmp::Ordering::Greater,
                };
                let change = match order {
                    std::cmp::Ordering::Less => {
                        i += 1;
                        removed(&old, i - 1, &base_name)
                    }
                    std::cmp::Ordering::Greater => {
                        j += 1;
                        added(&new, j - 1, &target_name)
                    }
                    std::cmp::Ordering::Equal => {
                        i += 1;
                        j += 1;
                        if old.encoded(i - 1) == new.encoded(j - 1) {
                            continue;
                        }
                        changed(&old, i - 1, &base_name, &new, j - 1, &target_name)
                    }
                };
                let failed = change.is_err();
                if !send(change).await || failed {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn removed(old: &LoadedVersion, i: usize, name: &str) -> Result<pb::ItemChange, Error> {
    Ok(pb::ItemChange {
        kind: pb::item_change::Kind::Removed as i32,
        code: old.code(i).to_string(),
        base: Some(message(old, i, name)?),
        target: None,
        changed_fields: Vec::new(),
    })
}

fn added(new: &LoadedVersion, j: usize, name: &str) -> Result<pb::ItemChange, Error> {
    Ok(pb::ItemChange {
        kind: pb::item_change::Kind::Added as i32,
        code: new.code(j).to_string(),
        base: None,
        target: Some(message(new, j, name)?),
        changed_fields: Vec::new(),
    })
}

fn changed(
    old: &LoadedVersion,
    i: usize,
    base_name: &str,
    new: &LoadedVersion,
    j: usize,
    target_name: &str,
) -> Result<pb::ItemChange, Error> {
    let (a, b) = (old.item(i)?, new.item(j)?);
    Ok(pb::ItemChange {
        kind: pb::item_change::Kind::Changed as i32,
        code: a.code.as_str().to_string(),
        changed_fields: changed_fields(&a, &b)
            .into_iter()
            .map(String::from)
            .collect(),
        base: Some(item_to_proto(&a, base_name, old.level(i))),
        target: Some(item_to_proto(&b, target_name, new.level(j))),
    })
}

/// Translates `code` from `old` into `new` (see `reestr_domain::classifier::translate_with`),
/// decoding only the items the walk can reach.
fn translate(old: &LoadedVersion, new: &LoadedVersion, code: &str) -> Result<Translation, Error> {
    let mut old_items: HashMap<String, Item> = HashMap::new();
    let mut new_items: HashMap<String, Item> = HashMap::new();
    let mut queue = vec![code.to_string()];
    let mut seen = std::collections::HashSet::new();
    while let Some(c) = queue.pop() {
        if !seen.insert(c.clone()) || seen.len() > MAX_TRANSLATION_STEPS * 2 {
            continue;
        }
        for (content, items) in [(old, &mut old_items), (new, &mut new_items)] {
            if let Some(i) = content.find(&c) {
                let item = content.item(i)?;
                if item.status == ItemStatus::Deprecated {
                    queue.extend(item.successors.iter().map(|s| s.as_str().to_string()));
                }
                items.insert(c.clone(), item);
            }
        }
    }
    Ok(translate_with(
        code,
        |c| old_items.get(c),
        |c| new_items.get(c),
    ))
}
