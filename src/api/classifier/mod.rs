//! `reestr.v1.ClassifierService`: classifiers, their versions, and the lookups every agency
//! makes.
//!
//! Layout:
//! - [`convert`]: messages ↔ domain values.
//! - [`cache`]: versions in memory ([`cache::VersionCache`]) and classifier records for
//!   resolving `latest` and `as_of` ([`cache::MetaCache`]).
//! - [`classifiers`]: the classifier records (create, get, list, update, delete, undelete).
//! - [`versions`]: versions (create, get, list, update, delete) and their lifecycle
//!   (validation, publication, retirement).
//! - [`items`]: item edits of a draft (BatchUpsertItems, BatchDeleteItems).
//! - [`transfer`]: ImportItems and ExportItems.
//! - [`lookups`]: the lookups agencies make (items, ancestors, code checks, translation,
//!   differences between versions), answered from memory.
//! - this module: the service itself, which dispatches to those, and the checks every write
//!   shares (the owner's permission, the etag, the draft).
//!
//! Which version a read uses: a version id names that version; `latest` is the published
//! version in effect now; `latest` with `as_of` a date is the one in effect at the start of that
//! day (UTC); `draft` is the open draft. Published content is served from memory; draft
//! content is read from the database at its current revision (and kept in memory under that
//! revision until it changes).

pub mod cache;
mod classifiers;
pub mod convert;
mod items;
pub(crate) mod lookups;
mod transfer;
mod versions;

use std::sync::Arc;

use reestr_domain::access::Action;
use reestr_domain::classifier::{
    Classifier, ClassifierId, Date, Version, VersionName, VersionRef, VersionState,
};
use reestr_domain::error::{Error, Reason};
use reestr_domain::organization::OrganizationId;
use reestr_domain::time::Timestamp;
use reestr_store::Store;
use tonic::{Request, Response, Status};

use self::cache::{ClassifierMeta, LoadedVersion, MetaCache, VersionCache};
use super::ReadyStore;
use super::call::Call;
use crate::api::fresh::{Feed, Follows};
use crate::proto::v1 as pb;
use crate::proto::v1::classifier_service_server::ClassifierService;

/// Most items (or codes) one batch call takes.
pub const MAX_BATCH: usize = 1000;

/// Default memory budget of the version cache: 512 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 512 << 20;

/// The classifier service.
#[derive(Debug, Clone)]
pub struct ClassifierApi {
    store: ReadyStore,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    versions: VersionCache,
    meta: Arc<MetaCache>,
    feed: Arc<Feed>,
}

impl ClassifierApi {
    /// A service over the store, keeping at most `cache_bytes` of classifier content in
    /// memory; `feed` says how far the server's copies follow the change feed.
    pub fn new(store: ReadyStore, cache_bytes: usize, feed: Arc<Feed>) -> Self {
        Self {
            store,
            shared: Arc::new(Shared {
                versions: VersionCache::new(cache_bytes),
                meta: Arc::default(),
                feed,
            }),
        }
    }

    /// The classifier records this service keeps, for the change-feed follower to keep in
    /// step.
    pub fn follows(&self) -> Arc<dyn Follows> {
        self.shared.meta.clone()
    }

    /// The version cache (for statistics).
    pub fn cache(&self) -> &VersionCache {
        &self.shared.versions
    }

    /// The revision every classifier record this server keeps reflects (see
    /// [`Feed::applied`]): what a List that reads them reflects, read before them.
    fn applied(&self) -> i64 {
        self.shared.feed.applied()
    }

    /// The classifier with its versions, re-read for writes and draft reads, cached otherwise.
    async fn meta(
        &self,
        store: &Store,
        id: &ClassifierId,
        fresh: bool,
    ) -> Result<Arc<ClassifierMeta>, Error> {
        if fresh {
            self.shared.meta.refresh(store, id).await
        } else {
            self.shared.meta.get(store, id).await
        }
    }

    /// Resolves a version name (and an `as_of` date, only with `latest`) to the version it
    /// stands for now.
    async fn resolve(
        &self,
        store: &Store,
        name: &VersionName,
        as_of: Option<Timestamp>,
    ) -> Result<(Arc<ClassifierMeta>, Arc<Version>), Error> {
        let fresh = name.version == VersionRef::Draft;
        let meta = self.meta(store, &name.classifier, fresh).await?;
        let at = as_of.unwrap_or_else(|| store.now());
        match find_version(&meta, name, at, as_of) {
            // A version created or published through another replica moments ago, or a draft
            // whose revision moved on: read again before answering from a stale list.
            Err(Error::NotFound { .. }) if !fresh => {}
            Ok(v) if v.state == VersionState::Draft && !fresh => {}
            found => return found.map(|v| (meta, v)),
        }
        let meta = self.meta(store, &name.classifier, true).await?;
        find_version(&meta, name, at, as_of).map(|v| (meta, v))
    }

    /// The items of `version`, from memory.
    async fn content(&self, store: &Store, version: &Version) -> Result<Arc<LoadedVersion>, Error> {
        self.shared.versions.get(store, version).await
    }

    /// Forgets what this server knows of classifier `id` after a write.
    fn changed(&self, id: &ClassifierId) {
        self.shared.meta.invalidate(id);
    }

    /// Resolves a draft for a write by `call` and refuses early what the store would refuse
    /// anyway (another owner's classifier, a published version); the store decides again, with
    /// the etag, inside the write's transaction ([`DraftGuard`]).
    pub(super) async fn writable_draft(
        &self,
        store: &Store,
        call: &Call,
        name: &str,
        field: &str,
    ) -> Result<(Arc<ClassifierMeta>, Arc<Version>), Error> {
        call.authorize(Action::WriteResources)?;
        let name = version_name_of(name, field)?;
        let meta = self.meta(store, &name.classifier, true).await?;
        authorize_owner(call, &meta.classifier.spec.owner)?;
        let version = find_version(&meta, &name, store.now(), None)?;
        require_draft(&version)?;
        Ok((meta, version))
    }
}

/// The version `name` stands for in `meta` at `at` (`as_of`, or now).
fn find_version(
    meta: &ClassifierMeta,
    name: &VersionName,
    at: Timestamp,
    as_of: Option<Timestamp>,
) -> Result<Arc<Version>, Error> {
    let found = match &name.version {
        VersionRef::Id(id) => meta.version(id),
        VersionRef::Draft => meta.draft(),
        VersionRef::Latest => meta.in_effect(at),
    };
    found.cloned().ok_or_else(|| Error::NotFound {
        resource: match as_of {
            Some(at) => format!("{name} as of {at}"),
            None => name.name(),
        },
    })
}

fn invalid(v: reestr_domain::FieldViolation) -> Error {
    Error::InvalidArgument(vec![v])
}

/// May `call` write the resources of `owner`? (Registry administrators may write any.)
fn authorize_owner(call: &Call, owner: &OrganizationId) -> Result<(), Error> {
    call.authorize(Action::WriteResources)?;
    if call.caller.is_admin() {
        return Ok(());
    }
    call.authorize(Action::WriteOwned { owner })
}

/// The check a classifier write makes inside its transaction: may `call` write the
/// classifier as it is there?
fn owner_check(call: &Call) -> impl Fn(&Classifier) -> Result<(), Error> + Send + Sync + '_ {
    move |c: &Classifier| authorize_owner(call, &c.spec.owner)
}

/// Parses an `as_of` date; it needs the `latest` alias.
fn parse_as_of(
    raw: Option<prost_types::Timestamp>,
    version: &VersionRef,
    field: &str,
) -> Result<Option<Timestamp>, Error> {
    let Some(at) = crate::api::instant(raw, field)? else {
        return Ok(None);
    };
    if *version != VersionRef::Latest {
        return Err(Error::invalid(
            field,
            "needs the version `latest` in the name: as_of picks the version in effect then",
        ));
    }
    Ok(Some(at))
}

/// The day `at` falls on in the register's time zone.
pub(crate) fn day_of(store: &Store, at: Timestamp) -> Result<Date, Error> {
    store
        .calendar()
        .date_of(at)
        .ok_or_else(|| Error::invalid("as_of", "is outside the register's calendar"))
}

/// The draft `name` resolves to, refusing published versions as VERSION_NOT_EDITABLE.
fn require_draft(version: &Version) -> Result<(), Error> {
    if version.state == VersionState::Draft {
        Ok(())
    } else {
        Err(Error::Precondition {
            reason: Reason::VersionNotEditable,
            resource: version.name(),
            message: format!(
                "{} is {}; published versions never change: create a new draft",
                version.name(),
                version.state.as_str()
            ),
        })
    }
}

fn version_name_of(raw: &str, field: &str) -> Result<VersionName, Error> {
    VersionName::from_name(raw, field).map_err(invalid)
}

type Stream<T> = tokio_stream::wrappers::ReceiverStream<Result<T, tonic::Status>>;

#[tonic::async_trait]
impl ClassifierService for ClassifierApi {
    #[tracing::instrument(skip_all, fields(classifier_id = %request.get_ref().classifier_id))]
    async fn create_classifier(
        &self,
        request: Request<pb::CreateClassifierRequest>,
    ) -> Result<Response<pb::Classifier>, Status> {
        self.do_create_classifier(request).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_classifier(
        &self,
        request: Request<pb::GetClassifierRequest>,
    ) -> Result<Response<pb::Classifier>, Status> {
        self.do_get_classifier(request).await
    }

    #[tracing::instrument(skip_all, fields(filter = %request.get_ref().filter))]
    async fn list_classifiers(
        &self,
        request: Request<pb::ListClassifiersRequest>,
    ) -> Result<Response<pb::ListClassifiersResponse>, Status> {
        self.do_list_classifiers(request).await
    }

    #[tracing::instrument(skip_all)]
    async fn update_classifier(
        &self,
        request: Request<pb::UpdateClassifierRequest>,
    ) -> Result<Response<pb::Classifier>, Status> {
        self.do_update_classifier(request).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_classifier(
        &self,
        request: Request<pb::DeleteClassifierRequest>,
    ) -> Result<Response<pb::Classifier>, Status> {
        let call = Call::of(&request);
        let pb::DeleteClassifierRequest { name, etag } = request.into_inner();
        self.do_set_classifier_deleted(call, name, etag, true).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn undelete_classifier(
        &self,
        request: Request<pb::UndeleteClassifierRequest>,
    ) -> Result<Response<pb::Classifier>, Status> {
        let call = Call::of(&request);
        let pb::UndeleteClassifierRequest { name, etag } = request.into_inner();
        self.do_set_classifier_deleted(call, name, etag, false)
            .await
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_classifier_version(
        &self,
        request: Request<pb::CreateClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        self.do_create_version(request).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_classifier_version(
        &self,
        request: Request<pb::GetClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        self.do_get_version(request).await
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_classifier_versions(
        &self,
        request: Request<pb::ListClassifierVersionsRequest>,
    ) -> Result<Response<pb::ListClassifierVersionsResponse>, Status> {
        self.do_list_versions(request).await
    }

    #[tracing::instrument(skip_all)]
    async fn update_classifier_version(
        &self,
        request: Request<pb::UpdateClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        self.do_update_version(request).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_classifier_version(
        &self,
        request: Request<pb::DeleteClassifierVersionRequest>,
    ) -> Result<Response<pb::DeleteClassifierVersionResponse>, Status> {
        self.do_delete_version(request).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn validate_classifier_version(
        &self,
        request: Request<pb::ValidateClassifierVersionRequest>,
    ) -> Result<Response<pb::ValidateClassifierVersionResponse>, Status> {
        self.do_validate_version(request).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn publish_classifier_version(
        &self,
        request: Request<pb::PublishClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        self.do_publish_version(request).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn retire_classifier_version(
        &self,
        request: Request<pb::RetireClassifierVersionRequest>,
    ) -> Result<Response<pb::ClassifierVersion>, Status> {
        self.do_retire_version(request).await
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent, items = request.get_ref().items.len()))]
    async fn batch_upsert_items(
        &self,
        request: Request<pb::BatchUpsertItemsRequest>,
    ) -> Result<Response<pb::BatchUpsertItemsResponse>, Status> {
        self.do_batch_upsert_items(request).await
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent, codes = request.get_ref().codes.len()))]
    async fn batch_delete_items(
        &self,
        request: Request<pb::BatchDeleteItemsRequest>,
    ) -> Result<Response<pb::BatchDeleteItemsResponse>, Status> {
        self.do_batch_delete_items(request).await
    }

    #[tracing::instrument(skip_all)]
    async fn import_items(
        &self,
        request: Request<tonic::Streaming<pb::ImportItemsRequest>>,
    ) -> Result<Response<pb::ImportItemsResponse>, Status> {
        self.do_import(request).await
    }

    type ExportItemsStream = Stream<pb::ExportItemsResponse>;

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn export_items(
        &self,
        request: Request<pb::ExportItemsRequest>,
    ) -> Result<Response<Self::ExportItemsStream>, Status> {
        self.do_export(request).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(name = %request.get_ref().name))]
    async fn get_item(
        &self,
        request: Request<pb::GetItemRequest>,
    ) -> Result<Response<pb::Item>, Status> {
        self.do_get_item(request).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(parent = %request.get_ref().parent, codes = request.get_ref().codes.len()))]
    async fn batch_get_items(
        &self,
        request: Request<pb::BatchGetItemsRequest>,
    ) -> Result<Response<pb::BatchGetItemsResponse>, Status> {
        self.do_batch_get_items(request).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_items(
        &self,
        request: Request<pb::ListItemsRequest>,
    ) -> Result<Response<pb::ListItemsResponse>, Status> {
        self.do_list_items(request).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(name = %request.get_ref().name))]
    async fn get_item_ancestors(
        &self,
        request: Request<pb::GetItemAncestorsRequest>,
    ) -> Result<Response<pb::GetItemAncestorsResponse>, Status> {
        self.do_get_ancestors(request).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(classifier = %request.get_ref().classifier))]
    async fn validate_code(
        &self,
        request: Request<pb::ValidateCodeRequest>,
    ) -> Result<Response<pb::ValidateCodeResponse>, Status> {
        self.do_validate_code(request).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(source = %request.get_ref().source_version))]
    async fn translate_code(
        &self,
        request: Request<pb::TranslateCodeRequest>,
    ) -> Result<Response<pb::TranslateCodeResponse>, Status> {
        self.do_translate_code(request).await
    }

    type DiffClassifierVersionsStream = Stream<pb::ItemChange>;

    #[tracing::instrument(skip_all)]
    async fn diff_classifier_versions(
        &self,
        request: Request<pb::DiffClassifierVersionsRequest>,
    ) -> Result<Response<Self::DiffClassifierVersionsStream>, Status> {
        self.do_diff_versions(request).await
    }
}
