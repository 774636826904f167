//! Who may call what: the access policy as the API enforces it.
//!
//! [`POLICY`] is the table the register promises: one row per RPC, one column per kind of
//! caller, the expected status code in each cell. A new RPC adds a row (and its request in
//! [`Rpc::call`]); the test then proves every cell against a running server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::stream;
use prost_types::FieldMask;
use reestr::proto::v1::GetServerInfoRequest;
use reestr::proto::v1::field_binding_service_client::FieldBindingServiceClient;
use reestr::proto::v1::import_items_request::Data as ImportData;
use reestr::proto::v1::information_system::State;
use reestr::proto::v1::information_system_service_client::InformationSystemServiceClient;
use reestr::proto::v1::organization_service_client::OrganizationServiceClient;
use reestr::proto::v1::server_info_service_client::ServerInfoServiceClient;
use reestr::proto::v1::{
    BatchDeleteItemsRequest, BatchGetItemsRequest, BatchUpsertItemsRequest, Classifier,
    ClassifierVersion, CreateClassifierRequest, CreateClassifierVersionRequest,
    DeleteClassifierRequest, DeleteClassifierVersionRequest, DiffClassifierVersionsRequest,
    ExportItemsRequest, GetClassifierRequest, GetClassifierVersionRequest, GetItemAncestorsRequest,
    GetItemRequest, ImportItemsRequest, Item, ItemBatch, ItemFormat, ItemStatus,
    ListClassifierVersionsRequest, ListClassifiersRequest, ListItemsRequest,
    PublishClassifierVersionRequest, RetireClassifierVersionRequest, TranslateCodeRequest,
    UndeleteClassifierRequest, UpdateClassifierRequest, UpdateClassifierVersionRequest,
    ValidateClassifierVersionRequest, ValidateCodeRequest,
};
use reestr::proto::v1::{
    CreateFieldBindingRequest, DeleteFieldBindingRequest, FieldBinding, GetFieldBindingRequest,
    ListCodeUsagesRequest, ListFieldBindingsRequest, UpdateFieldBindingRequest,
};
use reestr::proto::v1::{
    CreateOrganizationRequest, CreateTokenRequest, DeleteOrganizationRequest,
    GetOrganizationRequest, GetTokenRequest, ListAuditEventsRequest, ListOrganizationsRequest,
    ListTokensRequest, Organization, RevokeTokenRequest, Role, Token, UndeleteOrganizationRequest,
    UpdateOrganizationRequest, UpdateTokenRequest, VerifyAuditChainRequest,
};
use reestr::proto::v1::{
    CreateSystemRequest, DeleteSystemRequest, GetDependencyGraphRequest,
    GetRegisterStatisticsRequest, GetSystemRequest, InformationSystem, ListDependentsRequest,
    ListSystemRevisionsRequest, ListSystemsRequest, LookupSystemRequest,
    TransitionSystemStateRequest, UndeleteSystemRequest, UpdateSystemRequest,
};
use reestr::proto::v1::{
    Decision, DeleteSubmissionRequest, ListReviewsRequest, ListSubmissionEventsRequest,
    ListSubmissionsRequest, Submission, SubmissionKind, UndeleteSubmissionRequest,
    UpdateSubmissionRequest, VerifyConclusionRequest,
};
use reestr::proto::v1::{
    GetCommentRequest, GetRemarkRequest, ListCommentsRequest, ListRemarksRequest,
};
use reestr::proto::v1::{GetDocumentRequest, GetUploadRequest, ListDocumentsRequest};
use reestr::proto::v1::{ListChangesRequest, WatchChangesRequest};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_types::StatusExt;

use crate::helpers::{
    TestApp, assert_status, organization, spawn_app, spawn_app_with_manual_clock,
};

/// The kinds of caller, in the order of [`POLICY`]'s columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// No `authorization` header.
    Anonymous,
    /// The bootstrap REGISTRY_ADMIN token.
    Admin,
    /// EDITOR of `stat`.
    OwnEditor,
    /// EDITOR of `minfin`.
    ForeignEditor,
    /// REVIEWER of `stat`.
    Reviewer,
    /// READER of `stat`.
    Reader,
    /// A REGISTRY_ADMIN token that has been revoked.
    Revoked,
    /// A REGISTRY_ADMIN token whose expiry has passed.
    Expired,
}

const CALLERS: [Caller; 8] = [
    Caller::Anonymous,
    Caller::Admin,
    Caller::OwnEditor,
    Caller::ForeignEditor,
    Caller::Reviewer,
    Caller::Reader,
    Caller::Revoked,
    Caller::Expired,
];

impl Caller {
    /// The ErrorInfo reason that must accompany a refusal of this caller with `code`.
    fn reason(self, code: Code) -> &'static str {
        match (code, self) {
            (Code::Unauthenticated, Caller::Anonymous) => "CREDENTIALS_REQUIRED",
            (Code::Unauthenticated, Caller::Revoked) => "TOKEN_REVOKED",
            (Code::Unauthenticated, Caller::Expired) => "TOKEN_EXPIRED",
            (Code::PermissionDenied, _) => "PERMISSION_DENIED",
            _ => "",
        }
    }
}

/// Every RPC the register serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    CreateOrganization,
    GetOrganization,
    ListOrganizations,
    UpdateOrganization,
    DeleteOrganization,
    UndeleteOrganization,
    CreateToken,
    GetToken,
    ListTokens,
    RevokeToken,
    UpdateToken,
    ListAuditEvents,
    VerifyAuditChain,
    CreateSystem,
    GetSystem,
    LookupSystem,
    ListSystems,
    UpdateSystem,
    DeleteSystem,
    UndeleteSystem,
    TransitionSystemState,
    ListSystemRevisions,
    ListDependents,
    GetDependencyGraph,
    GetRegisterStatistics,
    CreateClassifier,
    GetClassifier,
    ListClassifiers,
    UpdateClassifier,
    DeleteClassifier,
    UndeleteClassifier,
    CreateClassifierVersion,
    GetClassifierVersion,
    ListClassifierVersions,
    UpdateClassifierVersion,
    DeleteClassifierVersion,
    ValidateClassifierVersion,
    PublishClassifierVersion,
    RetireClassifierVersion,
    BatchUpsertItems,
    BatchDeleteItems,
    ImportItems,
    ExportItems,
    GetItem,
    BatchGetItems,
    ListItems,
    GetItemAncestors,
    ValidateCode,
    TranslateCode,
    DiffClassifierVersions,
    GetServerInfo,
    CreateSubmission,
    GetSubmission,
    ListSubmissions,
    UpdateSubmission,
    DeleteSubmission,
    UndeleteSubmission,
    SubmitSubmission,
    ResubmitSubmission,
    WithdrawSubmission,
    CreateReview,
    ListReviews,
    CreateRemark,
    GetRemark,
    ListRemarks,
    ResolveRemark,
    CreateComment,
    GetComment,
    ListComments,
    ListSubmissionEvents,
    VerifyConclusion,
    UploadDocument,
    GetUpload,
    GetDocument,
    ListDocuments,
    DownloadDocument,
    WatchChanges,
    ListChanges,
    CreateFieldBinding,
    GetFieldBinding,
    ListFieldBindings,
    UpdateFieldBinding,
    ListCodeUsages,
    DeleteFieldBinding,
}

const OK: Code = Code::Ok;
const DENIED: Code = Code::PermissionDenied;
const UNAUTH: Code = Code::Unauthenticated;

/// The access policy: the status each kind of caller gets from each RPC for a valid request.
#[rustfmt::skip]
const POLICY: &[(Rpc, [Code; 8])] = &[
    //                            anonymous admin own      foreign  reviewer reader   revoked expired
    //                                            editor   editor
    (Rpc::CreateOrganization,   [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetOrganization,      [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListOrganizations,    [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::UpdateOrganization,   [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::DeleteOrganization,   [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::UndeleteOrganization, [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::CreateToken,          [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetToken,             [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ListTokens,           [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::RevokeToken,          [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::UpdateToken,          [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ListAuditEvents,      [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::VerifyAuditChain,     [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    // The change feed: every authenticated caller reads the public changes.
    (Rpc::WatchChanges,         [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListChanges,          [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    // Systems of `stat`: written by its editors and admins, read by every role.
    (Rpc::CreateSystem,         [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetSystem,            [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::LookupSystem,         [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListSystems,          [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::UpdateSystem,         [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::DeleteSystem,         [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::UndeleteSystem,       [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::TransitionSystemState,[UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ListSystemRevisions,  [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListDependents,       [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::GetDependencyGraph,   [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::GetRegisterStatistics,[UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    // Classifiers of `stat`: written by its editors and admins, read by every role.
    (Rpc::CreateClassifier,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetClassifier,        [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListClassifiers,      [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::UpdateClassifier,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::DeleteClassifier,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::UndeleteClassifier,   [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::CreateClassifierVersion,[UNAUTH, OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetClassifierVersion, [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListClassifierVersions,[UNAUTH,  OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::UpdateClassifierVersion,[UNAUTH, OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::DeleteClassifierVersion,[UNAUTH, OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ValidateClassifierVersion,[UNAUTH,OK,  OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::PublishClassifierVersion,[UNAUTH,OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::RetireClassifierVersion,[UNAUTH, OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::BatchUpsertItems,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::BatchDeleteItems,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ImportItems,          [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ExportItems,          [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::GetItem,              [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::BatchGetItems,        [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListItems,            [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::GetItemAncestors,     [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ValidateCode,         [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::TranslateCode,        [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::DiffClassifierVersions,[UNAUTH,  OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::GetServerInfo,        [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    // Submissions of `stat`'s systems, reviewed by `stat` itself (so that the table's
    // reviewer is a required one): written by its editors, decided by its reviewers, read by
    // its callers (the parties), not by `minfin`'s. Every caller lists (its own) and verifies.
    (Rpc::CreateSubmission,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetSubmission,        [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListSubmissions,      [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::UpdateSubmission,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::DeleteSubmission,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::UndeleteSubmission,   [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::SubmitSubmission,     [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ResubmitSubmission,   [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::WithdrawSubmission,   [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::CreateReview,         [UNAUTH,   OK,   DENIED,  DENIED,  OK,      DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ListReviews,          [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    // Remarks: opened and resolved by the reviewer's REVIEWER callers; comments posted by the
    // owner's editors and the reviewers' REVIEWER callers; both read by the parties.
    (Rpc::CreateRemark,         [UNAUTH,   OK,   DENIED,  DENIED,  OK,      DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetRemark,            [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListRemarks,          [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ResolveRemark,        [UNAUTH,   OK,   DENIED,  DENIED,  OK,      DENIED,  UNAUTH, UNAUTH]),
    (Rpc::CreateComment,        [UNAUTH,   OK,   OK,      DENIED,  OK,      DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetComment,           [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListComments,         [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListSubmissionEvents, [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::VerifyConclusion,     [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    // Documents: uploaded by the owner's editors; a restricted one read by the parties.
    (Rpc::UploadDocument,       [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetUpload,            [UNAUTH,   OK,   OK,      DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetDocument,          [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListDocuments,        [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::DownloadDocument,     [UNAUTH,   OK,   OK,      DENIED,  OK,      OK,      UNAUTH, UNAUTH]),
    // Field bindings: managed by administrators, read by every role. Last, because the
    // bindings they make apply to the writes of the rows after them.
    (Rpc::CreateFieldBinding,   [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::GetFieldBinding,      [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::ListFieldBindings,    [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::UpdateFieldBinding,   [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
    (Rpc::ListCodeUsages,       [UNAUTH,   OK,   OK,      OK,      OK,      OK,      UNAUTH, UNAUTH]),
    (Rpc::DeleteFieldBinding,   [UNAUTH,   OK,   DENIED,  DENIED,  DENIED,  DENIED,  UNAUTH, UNAUTH]),
];

/// A CREATION submission of a `stat` system, reviewed by `stat`.
fn stat_submission() -> Submission {
    Submission {
        kind: SubmissionKind::Creation as i32,
        title: "Policy table".into(),
        required_reviewers: vec!["organizations/stat".into()],
        ..Default::default()
    }
}

/// The submission `x` of a new system `system` of `stat`, made by the administrator and
/// taken to `state` (`draft`, `review`, `changes`, `deleted`); returns its name.
async fn submission_in(app: &TestApp, system: &str, state: &str) -> String {
    live_system(app, system).await;
    let mut admin = crate::submission::client(app, Some(&app.admin_secret));
    let name = crate::submission::create(&mut admin, system, "x", stat_submission())
        .await
        .unwrap_or_else(|e| panic!("submission of {system}: {e:?}"))
        .name;
    if matches!(state, "review" | "changes") {
        crate::submission::submit(&mut admin, &name)
            .await
            .expect("submit");
    }
    if state == "changes" {
        crate::submission::review(&mut admin, &name, "stat", Decision::RequestChanges, "More")
            .await
            .expect("request changes");
    }
    if state == "deleted" {
        admin
            .delete_submission(DeleteSubmissionRequest {
                name: name.clone(),
                etag: String::new(),
            })
            .await
            .expect("delete");
    }
    name
}

/// The submission `x` of a new system `system` of `stat` with a document `d`, submitted for
/// review (by the administrator); returns its name and the document's.
async fn under_review_with_document(app: &TestApp, system: &str) -> (String, String) {
    let name = submission_in(app, system, "draft").await;
    let mut documents = crate::document::client(app, Some(&app.admin_secret));
    let bytes = crate::document::content(100, 3);
    let document = crate::document::upload(&mut documents, &name, "d", &bytes, false)
        .await
        .expect("a document")
        .name;
    crate::submission::submit(
        &mut crate::submission::client(app, Some(&app.admin_secret)),
        &name,
    )
    .await
    .expect("submit");
    (name, document)
}

/// A valid system of `stat` with a unique short name.
fn stat_system(short_name: &str) -> InformationSystem {
    InformationSystem {
        short_name: short_name.into(),
        display_name: BTreeMap::from([("en".to_string(), format!("System {short_name}"))]),
        purpose: "Policy table".into(),
        owner: "organizations/stat".into(),
        ..Default::default()
    }
}

/// Creates system `id` of `stat` as the administrator; returns its name.
async fn live_system(app: &TestApp, id: &str) -> String {
    InformationSystemServiceClient::with_interceptor(
        app.channel(),
        crate::helpers::Bearer::new(Some(&app.admin_secret)),
    )
    .create_system(CreateSystemRequest {
        system: Some(stat_system(&id.to_uppercase())),
        system_id: id.to_string(),
        request_id: String::new(),
    })
    .await
    .unwrap_or_else(|e| panic!("create {id}: {e:?}"))
    .into_inner()
    .name
}

/// A valid classifier of `stat`: two-digit codes, English names.
fn stat_classifier() -> Classifier {
    Classifier {
        owner: "organizations/stat".into(),
        display_name: BTreeMap::from([("en".to_string(), "Policy table".to_string())]),
        code_pattern: "[0-9]{2}".into(),
        required_languages: vec!["en".into()],
        ..Default::default()
    }
}

/// A valid item of [`stat_classifier`].
fn classifier_item(code: &str) -> Item {
    Item {
        code: code.into(),
        names: BTreeMap::from([("en".to_string(), format!("Item {code}"))]),
        ..Default::default()
    }
}

/// Creates classifier `id` of `stat` as the administrator; returns its name.
async fn live_classifier(app: &TestApp, id: &str) -> String {
    app.classifiers()
        .create_classifier(CreateClassifierRequest {
            classifier: Some(stat_classifier()),
            classifier_id: id.to_string(),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("create classifier {id}: {e:?}"))
        .into_inner()
        .name
}

/// Creates classifier `id` of `stat` with a draft `d` holding the item `01`, as the
/// administrator; returns the draft's name.
async fn classifier_draft(app: &TestApp, id: &str) -> String {
    let parent = live_classifier(app, id).await;
    let mut admin = app.classifiers();
    let draft = admin
        .create_classifier_version(CreateClassifierVersionRequest {
            parent,
            version_id: "d".into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("draft of {id}: {e:?}"))
        .into_inner()
        .name;
    admin
        .batch_upsert_items(BatchUpsertItemsRequest {
            parent: draft.clone(),
            items: vec![classifier_item("01")],
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("items of {id}: {e:?}"));
    draft
}

/// Creates classifier `id` of `stat` with the published version `d`, as the administrator;
/// returns the version's name.
async fn classifier_published(app: &TestApp, id: &str) -> String {
    let draft = classifier_draft(app, id).await;
    app.classifiers()
        .publish_classifier_version(PublishClassifierVersionRequest {
            name: draft,
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("publish {id}: {e:?}"))
        .into_inner()
        .name
}

/// Reads a server stream to its end.
async fn drain<T>(mut stream: tonic::Streaming<T>) -> Result<(), Status> {
    while stream.message().await?.is_some() {}
    Ok(())
}

/// A TIN no other organisation of the test has.
fn unique_tin() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("4{:08}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The callers' secrets and the resources the table's requests name.
struct Fixture {
    /// Secret per column of [`POLICY`]; `None` for the anonymous caller.
    secrets: [Option<String>; 8],
    /// A token every GetToken cell reads.
    some_token: String,
    /// The registration number of `systems/shared`, which every read of systems names.
    shared_system_number: String,
    /// The submission every read of submissions names (`systems/concluded/submissions/x`,
    /// approved), with its conclusion's number and digest.
    concluded: (String, String, String),
    /// A restricted document of `systems/docs/submissions/x` (a draft), and an upload of it
    /// under way.
    documents: (String, String),
    /// A remark of `stat` on `systems/discussed/submissions/x` (under review) and a comment
    /// answering it.
    discussion: (String, String),
}

impl Fixture {
    /// Creates `stat` and `minfin` and a token for every kind of caller; returns once the
    /// expired caller's token has expired (the app's manual clock is moved past it).
    async fn build(app: &mut TestApp) -> Fixture {
        let since_epoch =
            Duration::from_micros(app.clock.now().micros() as u64) + Duration::from_secs(60);
        let expired = app
            .tokens
            .create_token(CreateTokenRequest {
                token: Some(Token {
                    roles: vec![Role::RegistryAdmin as i32],
                    display_name: "expires at once".into(),
                    expire_time: Some(prost_types::Timestamp {
                        seconds: since_epoch.as_secs() as i64,
                        nanos: since_epoch.subsec_nanos() as i32,
                    }),
                    ..Default::default()
                }),
            })
            .await
            .expect("create the token that expires")
            .into_inner()
            .secret;

        app.create_organization("stat", &unique_tin()).await;
        app.create_organization("minfin", &unique_tin()).await;
        let (_, own_editor) = app.create_token(Some("stat"), &[Role::Editor]).await;
        let (_, foreign_editor) = app.create_token(Some("minfin"), &[Role::Editor]).await;
        let (_, reviewer) = app.create_token(Some("stat"), &[Role::Reviewer]).await;
        let (reader_name, reader) = app.create_token(Some("stat"), &[Role::Reader]).await;
        let (revoked_name, revoked) = app.create_token(None, &[Role::RegistryAdmin]).await;
        app.tokens
            .revoke_token(RevokeTokenRequest { name: revoked_name })
            .await
            .expect("revoke");

        let shared = live_system(app, "shared").await;
        let shared_system_number = InformationSystemServiceClient::with_interceptor(
            app.channel(),
            crate::helpers::Bearer::new(Some(&app.admin_secret)),
        )
        .get_system(GetSystemRequest {
            name: shared,
            ..Default::default()
        })
        .await
        .expect("get the shared system")
        .into_inner()
        .registration_number;
        // `classifiers/shared`, which every read of classifiers names: `d` published (01), and
        // the draft `v2`, a copy of it with 02 added, deprecated for 01.
        let published = classifier_published(app, "shared").await;
        let mut classifiers = app.classifiers();
        classifiers
            .create_classifier_version(CreateClassifierVersionRequest {
                parent: "classifiers/shared".into(),
                version_id: "v2".into(),
                source_version: published,
                ..Default::default()
            })
            .await
            .expect("the shared classifier's draft");
        classifiers
            .batch_upsert_items(BatchUpsertItemsRequest {
                parent: "classifiers/shared/versions/v2".into(),
                items: vec![Item {
                    status: ItemStatus::Deprecated as i32,
                    successors: vec!["01".into()],
                    ..classifier_item("02")
                }],
                etag: String::new(),
            })
            .await
            .expect("the shared classifier's draft items");
        let concluded = submission_in(app, "concluded", "review").await;
        let approved = crate::submission::review(
            &mut crate::submission::client(app, Some(&app.admin_secret)),
            &concluded,
            "stat",
            Decision::Approve,
            "",
        )
        .await
        .expect("approve");
        assert_eq!(approved.round, 1);
        let conclusion = crate::submission::get(
            &mut crate::submission::client(app, Some(&app.admin_secret)),
            &concluded,
        )
        .await
        .expect("the concluded submission")
        .conclusion
        .expect("its conclusion");
        let drafted = submission_in(app, "docs", "draft").await;
        let mut admin_documents = crate::document::client(app, Some(&app.admin_secret));
        let bytes = crate::document::content(1000, 1);
        let document = crate::document::upload(&mut admin_documents, &drafted, "d", &bytes, true)
            .await
            .expect("a restricted document")
            .name;
        let upload_id = uuid::Uuid::new_v4().to_string();
        crate::document::send(
            &mut admin_documents,
            crate::document::start(&drafted, "d", &upload_id, &bytes, true),
            &bytes[..100],
        )
        .await
        .expect("an upload under way");
        let (discussed, discussed_document) = under_review_with_document(app, "discussed").await;
        let mut admin_submissions = crate::submission::client(app, Some(&app.admin_secret));
        let remark = crate::submission::remark(
            &mut admin_submissions,
            &discussed,
            &discussed_document,
            "stat",
            "Name the backup site",
        )
        .await
        .expect("a remark")
        .name;
        let comment =
            crate::submission::comment(&mut admin_submissions, &discussed, &remark, "Done")
                .await
                .expect("a comment")
                .name;
        app.clock.advance(Duration::from_secs(61));
        Fixture {
            discussion: (remark, comment),
            documents: (document, format!("{drafted}/uploads/{upload_id}")),
            concluded: (concluded, conclusion.number, conclusion.digest),
            secrets: [
                None,
                Some(app.admin_secret.clone()),
                Some(own_editor),
                Some(foreign_editor),
                Some(reviewer),
                Some(reader),
                Some(revoked),
                Some(expired),
            ],
            some_token: reader_name,
            shared_system_number,
        }
    }
}

impl Rpc {
    /// Calls the RPC with `secret`, with a valid request (so that only the caller decides the
    /// outcome). `cell` is unique per call: resources a call changes are made for it alone,
    /// by the administrator, before the call.
    async fn call(
        self,
        app: &TestApp,
        fx: &Fixture,
        secret: Option<&str>,
        cell: &str,
    ) -> Result<(), Status> {
        let admin = Some(app.admin_secret.as_str());
        let mut organizations = app.organizations_as(secret);
        let mut tokens = app.tokens_as(secret);
        let mut audit = app.audit_as(secret);
        let mut bindings = FieldBindingServiceClient::with_interceptor(
            app.channel(),
            crate::helpers::Bearer::new(secret),
        );
        let mut systems = InformationSystemServiceClient::with_interceptor(
            app.channel(),
            crate::helpers::Bearer::new(secret),
        );
        let shared = || "systems/shared".to_string();
        let mut classifiers = app.classifiers_as(secret);
        let shared_version = |v: &str| format!("classifiers/shared/versions/{v}");
        let mut submissions = crate::submission::client(app, secret);
        let mut documents = crate::document::client(app, secret);
        let cell_system = format!("s{cell}");
        match self {
            Rpc::CreateOrganization => organizations
                .create_organization(CreateOrganizationRequest {
                    organization: Some(organization(&unique_tin())),
                    organization_id: format!("new-{cell}"),
                    request_id: uuid::Uuid::new_v4().to_string(),
                })
                .await
                .map(drop),
            Rpc::GetOrganization => organizations
                .get_organization(GetOrganizationRequest {
                    name: "organizations/stat".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::ListOrganizations => organizations
                .list_organizations(ListOrganizationsRequest::default())
                .await
                .map(drop),
            // The own editor's own organisation: organisations belong to the register's operator.
            Rpc::UpdateOrganization => organizations
                .update_organization(UpdateOrganizationRequest {
                    organization: Some(Organization {
                        name: "organizations/stat".into(),
                        display_name: BTreeMap::from([(
                            "en".to_string(),
                            format!("Statistics {cell}"),
                        )]),
                        ..Default::default()
                    }),
                    update_mask: Some(FieldMask {
                        paths: vec!["display_name".into()],
                    }),
                })
                .await
                .map(drop),
            Rpc::DeleteOrganization => {
                let name = live_organization(app, &format!("del-{cell}")).await;
                organizations
                    .delete_organization(DeleteOrganizationRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::UndeleteOrganization => {
                let name = live_organization(app, &format!("undel-{cell}")).await;
                app.organizations_as(admin)
                    .delete_organization(DeleteOrganizationRequest {
                        name: name.clone(),
                        etag: String::new(),
                    })
                    .await
                    .expect("delete, to be undeleted");
                organizations
                    .undelete_organization(UndeleteOrganizationRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::CreateToken => tokens
                .create_token(CreateTokenRequest {
                    token: Some(Token {
                        organization: "organizations/stat".into(),
                        roles: vec![Role::Reader as i32],
                        display_name: format!("cell {cell}"),
                        ..Default::default()
                    }),
                })
                .await
                .map(drop),
            Rpc::GetToken => tokens
                .get_token(GetTokenRequest {
                    name: fx.some_token.clone(),
                })
                .await
                .map(drop),
            Rpc::ListTokens => tokens
                .list_tokens(ListTokensRequest::default())
                .await
                .map(drop),
            Rpc::RevokeToken => {
                let name = app
                    .tokens_as(admin)
                    .create_token(CreateTokenRequest {
                        token: Some(Token {
                            organization: "organizations/stat".into(),
                            roles: vec![Role::Reader as i32],
                            display_name: format!("to revoke in {cell}"),
                            ..Default::default()
                        }),
                    })
                    .await
                    .expect("create a token to revoke")
                    .into_inner()
                    .token
                    .expect("token")
                    .name;
                tokens
                    .revoke_token(RevokeTokenRequest { name })
                    .await
                    .map(drop)
            }
            Rpc::UpdateToken => tokens
                .update_token(UpdateTokenRequest {
                    token: Some(Token {
                        name: fx.some_token.clone(),
                        display_name: format!("renamed in {cell}"),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["display_name".into()],
                    }),
                })
                .await
                .map(drop),
            Rpc::CreateFieldBinding => bindings
                .create_field_binding(CreateFieldBindingRequest {
                    field_binding: Some(FieldBinding {
                        field: "InformationSystem.hosting.location".into(),
                        classifier: "classifiers/shared".into(),
                        ..Default::default()
                    }),
                    field_binding_id: format!("new-{cell}"),
                })
                .await
                .map(drop),
            Rpc::GetFieldBinding => bindings
                .get_field_binding(GetFieldBindingRequest {
                    name: "fieldBindings/organization-region".into(),
                })
                .await
                .map(drop),
            Rpc::ListFieldBindings => bindings
                .list_field_bindings(ListFieldBindingsRequest::default())
                .await
                .map(drop),
            Rpc::UpdateFieldBinding => bindings
                .update_field_binding(UpdateFieldBindingRequest {
                    field_binding: Some(FieldBinding {
                        name: "fieldBindings/organization-region".into(),
                        classifier: "classifiers/shared".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["classifier".into()],
                    }),
                })
                .await
                .map(drop),
            Rpc::ListCodeUsages => bindings
                .list_code_usages(ListCodeUsagesRequest {
                    field_binding: "fieldBindings/organization-region".into(),
                    version: "classifiers/shared/versions/v2".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::DeleteFieldBinding => bindings
                .delete_field_binding(DeleteFieldBindingRequest {
                    name: "fieldBindings/organization-region".into(),
                    etag: String::new(),
                })
                .await
                .map(drop),
            Rpc::GetServerInfo => ServerInfoServiceClient::with_interceptor(
                app.channel(),
                crate::helpers::Bearer::new(secret),
            )
            .get_server_info(GetServerInfoRequest {})
            .await
            .map(drop),
            Rpc::ListAuditEvents => audit
                .list_audit_events(ListAuditEventsRequest::default())
                .await
                .map(drop),
            Rpc::VerifyAuditChain => audit
                .verify_audit_chain(VerifyAuditChainRequest {})
                .await
                .map(drop),
            Rpc::CreateSystem => systems
                .create_system(CreateSystemRequest {
                    system: Some(stat_system(&format!("NEW-{cell}"))),
                    system_id: format!("new-{cell}"),
                    request_id: String::new(),
                })
                .await
                .map(drop),
            Rpc::GetSystem => systems
                .get_system(GetSystemRequest {
                    name: shared(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::LookupSystem => systems
                .lookup_system(LookupSystemRequest {
                    registration_number: fx.shared_system_number.clone(),
                    short_name: String::new(),
                })
                .await
                .map(drop),
            Rpc::ListSystems => systems
                .list_systems(ListSystemsRequest::default())
                .await
                .map(drop),
            Rpc::UpdateSystem => {
                let name = live_system(app, &format!("upd-{cell}")).await;
                systems
                    .update_system(UpdateSystemRequest {
                        system: Some(InformationSystem {
                            name,
                            purpose: format!("Changed in {cell}"),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["purpose".into()],
                        }),
                    })
                    .await
                    .map(drop)
            }
            Rpc::DeleteSystem => {
                let name = live_system(app, &format!("del-{cell}")).await;
                systems
                    .delete_system(DeleteSystemRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::UndeleteSystem => {
                let name = live_system(app, &format!("undel-{cell}")).await;
                InformationSystemServiceClient::with_interceptor(
                    app.channel(),
                    crate::helpers::Bearer::new(admin),
                )
                .delete_system(DeleteSystemRequest {
                    name: name.clone(),
                    etag: String::new(),
                })
                .await
                .expect("delete, to be undeleted");
                systems
                    .undelete_system(UndeleteSystemRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::TransitionSystemState => {
                let name = live_system(app, &format!("tr-{cell}")).await;
                systems
                    .transition_system_state(TransitionSystemStateRequest {
                        name,
                        state: State::InDevelopment as i32,
                        ..Default::default()
                    })
                    .await
                    .map(drop)
            }
            Rpc::ListSystemRevisions => systems
                .list_system_revisions(ListSystemRevisionsRequest {
                    name: shared(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::ListDependents => systems
                .list_dependents(ListDependentsRequest {
                    name: shared(),
                    depth: 1,
                })
                .await
                .map(drop),
            Rpc::GetDependencyGraph => systems
                .get_dependency_graph(GetDependencyGraphRequest {
                    name: shared(),
                    depth: 1,
                })
                .await
                .map(drop),
            Rpc::GetRegisterStatistics => systems
                .get_register_statistics(GetRegisterStatisticsRequest {})
                .await
                .map(drop),
            Rpc::CreateClassifier => classifiers
                .create_classifier(CreateClassifierRequest {
                    classifier: Some(stat_classifier()),
                    classifier_id: format!("new-{cell}"),
                    request_id: String::new(),
                })
                .await
                .map(drop),
            Rpc::GetClassifier => classifiers
                .get_classifier(GetClassifierRequest {
                    name: "classifiers/shared".into(),
                })
                .await
                .map(drop),
            Rpc::ListClassifiers => classifiers
                .list_classifiers(ListClassifiersRequest::default())
                .await
                .map(drop),
            Rpc::UpdateClassifier => {
                let name = live_classifier(app, &format!("upd-{cell}")).await;
                classifiers
                    .update_classifier(UpdateClassifierRequest {
                        classifier: Some(Classifier {
                            name,
                            display_name: BTreeMap::from([(
                                "en".to_string(),
                                format!("Changed in {cell}"),
                            )]),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["display_name".into()],
                        }),
                    })
                    .await
                    .map(drop)
            }
            Rpc::DeleteClassifier => {
                let name = live_classifier(app, &format!("del-{cell}")).await;
                classifiers
                    .delete_classifier(DeleteClassifierRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::UndeleteClassifier => {
                let name = live_classifier(app, &format!("undel-{cell}")).await;
                app.classifiers()
                    .delete_classifier(DeleteClassifierRequest {
                        name: name.clone(),
                        etag: String::new(),
                    })
                    .await
                    .expect("delete, to be undeleted");
                classifiers
                    .undelete_classifier(UndeleteClassifierRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::CreateClassifierVersion => {
                let parent = live_classifier(app, &format!("ver-{cell}")).await;
                classifiers
                    .create_classifier_version(CreateClassifierVersionRequest {
                        parent,
                        version_id: "v1".into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop)
            }
            Rpc::GetClassifierVersion => classifiers
                .get_classifier_version(GetClassifierVersionRequest {
                    name: shared_version("latest"),
                })
                .await
                .map(drop),
            Rpc::ListClassifierVersions => classifiers
                .list_classifier_versions(ListClassifierVersionsRequest {
                    parent: "classifiers/shared".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::UpdateClassifierVersion => {
                let name = classifier_draft(app, &format!("uver-{cell}")).await;
                classifiers
                    .update_classifier_version(UpdateClassifierVersionRequest {
                        version: Some(ClassifierVersion {
                            name,
                            description: format!("Changed in {cell}"),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["description".into()],
                        }),
                    })
                    .await
                    .map(drop)
            }
            Rpc::DeleteClassifierVersion => {
                let name = classifier_draft(app, &format!("dver-{cell}")).await;
                classifiers
                    .delete_classifier_version(DeleteClassifierVersionRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::ValidateClassifierVersion => classifiers
                .validate_classifier_version(ValidateClassifierVersionRequest {
                    name: shared_version("draft"),
                })
                .await
                .map(drop),
            Rpc::PublishClassifierVersion => {
                let name = classifier_draft(app, &format!("pub-{cell}")).await;
                classifiers
                    .publish_classifier_version(PublishClassifierVersionRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::RetireClassifierVersion => {
                let name = classifier_published(app, &format!("ret-{cell}")).await;
                classifiers
                    .retire_classifier_version(RetireClassifierVersionRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::BatchUpsertItems => {
                let parent = classifier_draft(app, &format!("ups-{cell}")).await;
                classifiers
                    .batch_upsert_items(BatchUpsertItemsRequest {
                        parent,
                        items: vec![classifier_item("02")],
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::BatchDeleteItems => {
                let parent = classifier_draft(app, &format!("rm-{cell}")).await;
                classifiers
                    .batch_delete_items(BatchDeleteItemsRequest {
                        parent,
                        codes: vec!["01".into()],
                        allow_missing: false,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::ImportItems => {
                let parent = classifier_draft(app, &format!("imp-{cell}")).await;
                classifiers
                    .import_items(stream::iter([ImportItemsRequest {
                        parent,
                        format: ItemFormat::Items as i32,
                        data: Some(ImportData::Items(ItemBatch {
                            items: vec![classifier_item("02")],
                        })),
                        ..Default::default()
                    }]))
                    .await
                    .map(drop)
            }
            Rpc::ExportItems => match classifiers
                .export_items(ExportItemsRequest {
                    name: shared_version("latest"),
                    format: ItemFormat::Csv as i32,
                })
                .await
            {
                Ok(response) => drain(response.into_inner()).await,
                Err(status) => Err(status),
            },
            Rpc::GetItem => classifiers
                .get_item(GetItemRequest {
                    name: format!("{}/items/01", shared_version("latest")),
                    as_of: None,
                })
                .await
                .map(drop),
            Rpc::BatchGetItems => classifiers
                .batch_get_items(BatchGetItemsRequest {
                    parent: shared_version("latest"),
                    codes: vec!["01".into()],
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::ListItems => classifiers
                .list_items(ListItemsRequest {
                    parent: shared_version("latest"),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::GetItemAncestors => classifiers
                .get_item_ancestors(GetItemAncestorsRequest {
                    name: format!("{}/items/01", shared_version("latest")),
                    as_of: None,
                })
                .await
                .map(drop),
            Rpc::ValidateCode => classifiers
                .validate_code(ValidateCodeRequest {
                    classifier: "classifiers/shared".into(),
                    code: "01".into(),
                    as_of: None,
                })
                .await
                .map(drop),
            Rpc::TranslateCode => classifiers
                .translate_code(TranslateCodeRequest {
                    source_version: shared_version("d"),
                    code: "01".into(),
                    target_version: String::new(),
                })
                .await
                .map(drop),
            Rpc::CreateSubmission => {
                live_system(app, &cell_system).await;
                crate::submission::create(&mut submissions, &cell_system, "x", stat_submission())
                    .await
                    .map(drop)
            }
            Rpc::GetSubmission => crate::submission::get(&mut submissions, &fx.concluded.0)
                .await
                .map(drop),
            Rpc::ListSubmissions => submissions
                .list_submissions(ListSubmissionsRequest {
                    parent: "systems/-".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::UpdateSubmission => {
                let name = submission_in(app, &cell_system, "draft").await;
                submissions
                    .update_submission(UpdateSubmissionRequest {
                        submission: Some(Submission {
                            name,
                            title: format!("Title {cell}"),
                            ..Default::default()
                        }),
                        update_mask: Some(FieldMask {
                            paths: vec!["title".into()],
                        }),
                    })
                    .await
                    .map(drop)
            }
            Rpc::DeleteSubmission => {
                let name = submission_in(app, &cell_system, "draft").await;
                submissions
                    .delete_submission(DeleteSubmissionRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::UndeleteSubmission => {
                let name = submission_in(app, &cell_system, "deleted").await;
                submissions
                    .undelete_submission(UndeleteSubmissionRequest {
                        name,
                        etag: String::new(),
                    })
                    .await
                    .map(drop)
            }
            Rpc::SubmitSubmission => {
                let name = submission_in(app, &cell_system, "draft").await;
                crate::submission::submit(&mut submissions, &name)
                    .await
                    .map(drop)
            }
            Rpc::ResubmitSubmission => {
                let name = submission_in(app, &cell_system, "changes").await;
                crate::submission::resubmit(&mut submissions, &name)
                    .await
                    .map(drop)
            }
            Rpc::WithdrawSubmission => {
                let name = submission_in(app, &cell_system, "review").await;
                crate::submission::withdraw(&mut submissions, &name)
                    .await
                    .map(drop)
            }
            Rpc::CreateReview => {
                let name = submission_in(app, &cell_system, "review").await;
                crate::submission::review(&mut submissions, &name, "stat", Decision::Approve, "")
                    .await
                    .map(drop)
            }
            Rpc::ListReviews => submissions
                .list_reviews(ListReviewsRequest {
                    parent: fx.concluded.0.clone(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::CreateRemark => {
                let (name, document) = under_review_with_document(app, &cell_system).await;
                crate::submission::remark(&mut submissions, &name, &document, "stat", "Why?")
                    .await
                    .map(drop)
            }
            Rpc::GetRemark => submissions
                .get_remark(GetRemarkRequest {
                    name: fx.discussion.0.clone(),
                })
                .await
                .map(drop),
            Rpc::ListRemarks => submissions
                .list_remarks(ListRemarksRequest {
                    parent: "systems/discussed/submissions/x".into(),
                    filter: "state = OPEN".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::ResolveRemark => {
                let (name, document) = under_review_with_document(app, &cell_system).await;
                let remark = crate::submission::remark(
                    &mut crate::submission::client(app, Some(&app.admin_secret)),
                    &name,
                    &document,
                    "stat",
                    "Why?",
                )
                .await
                .expect("a remark to resolve");
                crate::submission::resolve(&mut submissions, &remark.name, "Answered")
                    .await
                    .map(drop)
            }
            Rpc::CreateComment => crate::submission::comment(
                &mut submissions,
                "systems/discussed/submissions/x",
                "",
                &format!("Comment {cell}"),
            )
            .await
            .map(drop),
            Rpc::GetComment => submissions
                .get_comment(GetCommentRequest {
                    name: fx.discussion.1.clone(),
                })
                .await
                .map(drop),
            Rpc::ListComments => submissions
                .list_comments(ListCommentsRequest {
                    parent: "systems/discussed/submissions/x".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::ListSubmissionEvents => submissions
                .list_submission_events(ListSubmissionEventsRequest {
                    parent: fx.concluded.0.clone(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::VerifyConclusion => submissions
                .verify_conclusion(VerifyConclusionRequest {
                    number: fx.concluded.1.clone(),
                    digest: fx.concluded.2.clone(),
                })
                .await
                .map(drop),
            Rpc::UploadDocument => {
                let name = submission_in(app, &cell_system, "draft").await;
                let bytes = crate::document::content(100, 2);
                crate::document::upload(&mut documents, &name, "d", &bytes, false)
                    .await
                    .map(drop)
            }
            Rpc::GetUpload => documents
                .get_upload(GetUploadRequest {
                    name: fx.documents.1.clone(),
                })
                .await
                .map(drop),
            Rpc::GetDocument => documents
                .get_document(GetDocumentRequest {
                    name: fx.documents.0.clone(),
                    version: 0,
                })
                .await
                .map(drop),
            Rpc::ListDocuments => documents
                .list_documents(ListDocumentsRequest {
                    parent: "systems/docs/submissions/x".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Rpc::DownloadDocument => {
                crate::document::download(&mut documents, &fx.documents.0, 0, 0)
                    .await
                    .map(drop)
            }
            Rpc::WatchChanges => {
                // The history is not empty: the first message comes at once.
                match crate::change::client(app, secret)
                    .watch_changes(WatchChangesRequest::default())
                    .await
                {
                    Ok(response) => response.into_inner().message().await.map(drop),
                    Err(status) => Err(status),
                }
            }
            Rpc::ListChanges => crate::change::client(app, secret)
                .list_changes(ListChangesRequest::default())
                .await
                .map(drop),
            Rpc::DiffClassifierVersions => match classifiers
                .diff_classifier_versions(DiffClassifierVersionsRequest {
                    base_version: shared_version("d"),
                    target_version: shared_version("draft"),
                })
                .await
            {
                Ok(response) => drain(response.into_inner()).await,
                Err(status) => Err(status),
            },
        }
    }
}

/// Creates a live organisation `id` as the administrator; returns its name.
async fn live_organization(app: &TestApp, id: &str) -> String {
    app.organizations_as(Some(&app.admin_secret))
        .create_organization(CreateOrganizationRequest {
            organization: Some(organization(&unique_tin())),
            organization_id: id.to_string(),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("create {id}: {e:?}"))
        .into_inner()
        .name
}

/// Every method of every reestr service in the published descriptor set, as `Service/Method`.
fn declared_rpcs() -> BTreeSet<String> {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(reestr::proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    set.file
        .iter()
        .filter(|f| f.package() == "reestr.v1")
        .flat_map(|f| &f.service)
        .flat_map(|s| {
            s.method
                .iter()
                .map(move |m| format!("{}/{}", s.name(), m.name()))
        })
        .collect()
}

#[test]
fn the_policy_table_has_a_row_for_every_rpc_the_proto_declares() {
    let declared: BTreeSet<String> = declared_rpcs()
        .into_iter()
        .map(|full| {
            full.split_once('/')
                .map(|(_, m)| m.to_string())
                .unwrap_or(full)
        })
        .collect();
    let tested: BTreeSet<String> = POLICY.iter().map(|(rpc, _)| format!("{rpc:?}")).collect();
    let untested: Vec<_> = declared.difference(&tested).collect();
    let unknown: Vec<_> = tested.difference(&declared).collect();
    assert!(
        untested.is_empty() && unknown.is_empty(),
        "RPCs without an access-policy row: {untested:?}; rows naming no RPC: {unknown:?}"
    );
    assert_eq!(POLICY.len(), tested.len(), "one row per RPC");
}

#[tokio::test]
async fn every_rpc_answers_each_kind_of_caller_as_the_policy_says() {
    let mut app = spawn_app_with_manual_clock().await;
    let fx = Fixture::build(&mut app).await;
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for (row, (rpc, expected_codes)) in POLICY.iter().enumerate() {
        for (column, (caller, expected)) in CALLERS.iter().zip(expected_codes).enumerate() {
            let cell = format!("{row}-{column}");
            let secret = fx.secrets[column].as_deref();
            let got = rpc.call(&app, &fx, secret, &cell).await;
            cells += 1;
            let code = got.as_ref().err().map_or(Code::Ok, Status::code);
            if code != *expected {
                mismatches.push(format!(
                    "{rpc:?} as {caller:?}: expected {expected:?}, got {got:?}"
                ));
                continue;
            }
            if let Err(status) = &got {
                let reason = status
                    .get_details_error_info()
                    .map(|i| i.reason)
                    .unwrap_or_default();
                if reason != caller.reason(code) {
                    mismatches.push(format!(
                        "{rpc:?} as {caller:?}: expected reason {}, got {reason:?} ({status:?})",
                        caller.reason(code)
                    ));
                }
            }
        }
    }
    assert_eq!(cells, POLICY.len() * CALLERS.len());
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ from the policy:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    // The editors' refused updates changed nothing: `stat` carries the admin's display name.
    let stat = app
        .organizations
        .get_organization(GetOrganizationRequest {
            name: "organizations/stat".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let admin_column = CALLERS.iter().position(|c| *c == Caller::Admin).unwrap();
    let update_row = POLICY
        .iter()
        .position(|(rpc, _)| *rpc == Rpc::UpdateOrganization)
        .unwrap();
    assert_eq!(
        stat.display_name["en"],
        format!("Statistics {update_row}-{admin_column}")
    );
}

#[tokio::test]
async fn a_forbidden_caller_is_denied_before_existence_and_validation_are_checked() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let (_, editor) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let (_, reader) = app.create_token(Some("stat"), &[Role::Reader]).await;

    // Each request names a missing or malformed resource: the administrator learns that
    // (NOT_FOUND, INVALID_ARGUMENT); a caller who may not make the call learns only that.
    type Call = fn(&TestApp, Option<&str>) -> futures::future::BoxFuture<'static, Status>;
    let cases: [(&str, Code, Call); 12] = [
        ("update a missing organisation", Code::NotFound, |app, s| {
            let mut c = app.organizations_as(s);
            Box::pin(async move {
                c.update_organization(UpdateOrganizationRequest {
                    organization: Some(Organization {
                        name: "organizations/nobody".into(),
                        tin: "209999999".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(FieldMask {
                        paths: vec!["tin".into()],
                    }),
                })
                .await
                .unwrap_err()
            })
        }),
        (
            "update without an organisation",
            Code::InvalidArgument,
            |app, s| {
                let mut c = app.organizations_as(s);
                Box::pin(async move {
                    c.update_organization(UpdateOrganizationRequest::default())
                        .await
                        .unwrap_err()
                })
            },
        ),
        ("delete a missing organisation", Code::NotFound, |app, s| {
            let mut c = app.organizations_as(s);
            Box::pin(async move {
                c.delete_organization(DeleteOrganizationRequest {
                    name: "organizations/nobody".into(),
                    etag: String::new(),
                })
                .await
                .unwrap_err()
            })
        }),
        (
            "delete by a malformed name",
            Code::InvalidArgument,
            |app, s| {
                let mut c = app.organizations_as(s);
                Box::pin(async move {
                    c.delete_organization(DeleteOrganizationRequest {
                        name: "organisations/Bad Name".into(),
                        etag: String::new(),
                    })
                    .await
                    .unwrap_err()
                })
            },
        ),
        (
            "undelete a missing organisation",
            Code::NotFound,
            |app, s| {
                let mut c = app.organizations_as(s);
                Box::pin(async move {
                    c.undelete_organization(UndeleteOrganizationRequest {
                        name: "organizations/nobody".into(),
                        etag: String::new(),
                    })
                    .await
                    .unwrap_err()
                })
            },
        ),
        (
            "create with a malformed id and no body",
            Code::InvalidArgument,
            |app, s| {
                let mut c = app.organizations_as(s);
                Box::pin(async move {
                    c.create_organization(CreateOrganizationRequest {
                        organization: None,
                        organization_id: "Not_An_Id".into(),
                        request_id: "not-a-uuid".into(),
                    })
                    .await
                    .unwrap_err()
                })
            },
        ),
        ("get a missing token", Code::NotFound, |app, s| {
            let mut c = app.tokens_as(s);
            Box::pin(async move {
                c.get_token(GetTokenRequest {
                    name: format!("tokens/{}", "0".repeat(32)),
                })
                .await
                .unwrap_err()
            })
        }),
        (
            "get a token by a malformed name",
            Code::InvalidArgument,
            |app, s| {
                let mut c = app.tokens_as(s);
                Box::pin(async move {
                    c.get_token(GetTokenRequest {
                        name: "tokens/xyz".into(),
                    })
                    .await
                    .unwrap_err()
                })
            },
        ),
        ("revoke a missing token", Code::NotFound, |app, s| {
            let mut c = app.tokens_as(s);
            Box::pin(async move {
                c.revoke_token(RevokeTokenRequest {
                    name: format!("tokens/{}", "0".repeat(32)),
                })
                .await
                .unwrap_err()
            })
        }),
        (
            "create a token without one",
            Code::InvalidArgument,
            |app, s| {
                let mut c = app.tokens_as(s);
                Box::pin(async move {
                    c.create_token(CreateTokenRequest { token: None })
                        .await
                        .unwrap_err()
                })
            },
        ),
        (
            "list tokens with a negative page size",
            Code::InvalidArgument,
            |app, s| {
                let mut c = app.tokens_as(s);
                Box::pin(async move {
                    c.list_tokens(ListTokensRequest {
                        page_size: -1,
                        ..Default::default()
                    })
                    .await
                    .unwrap_err()
                })
            },
        ),
        (
            "list audit events with a bad filter",
            Code::InvalidArgument,
            |app, s| {
                let mut c = app.audit_as(s);
                Box::pin(async move {
                    c.list_audit_events(ListAuditEventsRequest {
                        filter: "colour = \"red\"".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap_err()
                })
            },
        ),
    ];
    let admin = app.admin_secret.clone();
    for (what, admin_code, call) in cases {
        let err = call(&app, Some(&admin)).await;
        assert_eq!(err.code(), admin_code, "admin: {what}: {err:?}");
        for secret in [&editor, &reader] {
            let err = call(&app, Some(secret)).await;
            assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
        }
        let err = call(&app, None).await;
        assert_status(&err, Code::Unauthenticated, "CREDENTIALS_REQUIRED");
    }
}

/// Sends `authorization` exactly as given, scheme and all.
#[derive(Clone)]
struct RawAuthorization(MetadataValue<Ascii>);

impl Interceptor for RawAuthorization {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// An OrganizationService client whose calls carry the `authorization` header `value`.
fn organizations_with_header(
    app: &TestApp,
    value: &str,
) -> OrganizationServiceClient<InterceptedService<Channel, RawAuthorization>> {
    let value = value.parse().expect("an ASCII header value");
    OrganizationServiceClient::with_interceptor(app.channel(), RawAuthorization(value))
}

#[tokio::test]
async fn unknown_or_malformed_credentials_are_token_invalid() {
    let app = spawn_app().await;
    let admin = app.admin_secret.clone();
    for header in [
        // A well-formed secret the register never issued.
        "Bearer rst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
        "Bearer not-a-token".to_string(),
        "Bearer".to_string(),
        // A real secret, but not as a bearer token.
        format!("Basic {admin}"),
        admin.clone(),
    ] {
        let mut client = organizations_with_header(&app, &header);
        let err = client
            .list_organizations(ListOrganizationsRequest::default())
            .await
            .unwrap_err();
        assert_status(&err, Code::Unauthenticated, "TOKEN_INVALID");
        let err = client
            .create_organization(CreateOrganizationRequest {
                organization: Some(organization("201234567")),
                organization_id: "stat".into(),
                request_id: String::new(),
            })
            .await
            .unwrap_err();
        assert_status(&err, Code::Unauthenticated, "TOKEN_INVALID");
    }
    // The scheme is case-insensitive: the same secret as `bearer` is accepted.
    organizations_with_header(&app, &format!("bearer {admin}"))
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("`bearer` is `Bearer`");
    // Nothing created by the refused calls.
    let err = app
        .organizations_as(Some(&admin))
        .get_organization(GetOrganizationRequest {
            name: "organizations/stat".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
}

#[tokio::test]
async fn health_and_reflection_need_no_credentials() {
    let mut app = spawn_app().await;
    // The harness's health client sends no credentials.
    assert_eq!(app.health_of("").await, ServingStatus::Serving);
    // Nor do refused credentials matter to health.
    let mut health = tonic_health::pb::health_client::HealthClient::with_interceptor(
        app.channel(),
        RawAuthorization(MetadataValue::from_static("Bearer rst_unknown")),
    );
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "reestr.v1.OrganizationService".into(),
        })
        .await
        .expect("health answers whatever the credentials")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);

    let mut reflection = ServerReflectionClient::new(app.channel());
    let mut answers = reflection
        .server_reflection_info(stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("reflection answers anonymous callers")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("a reflection answer")
        .expect("not the end of the stream");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("expected a service list, got {answer:?}");
    };
    let services: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for wanted in [
        "reestr.v1.OrganizationService",
        "reestr.v1.TokenService",
        "reestr.v1.AuditService",
        "reestr.v1.ClassifierService",
    ] {
        assert!(
            services.iter().any(|s| s == wanted),
            "{wanted} in {services:?}"
        );
    }
}
