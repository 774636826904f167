//! OrganizationService: every method's success path and every error path.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use prost_types::FieldMask;
use reestr::proto::v1::information_system_service_client::InformationSystemServiceClient;
use reestr::proto::v1::organization::Kind;
use reestr::proto::v1::provided_service::Protocol;
use reestr::proto::v1::{
    Classifier, Contacts, CreateClassifierRequest, CreateOrganizationRequest, CreateSystemRequest,
    DeleteClassifierRequest, DeleteOrganizationRequest, DeleteSystemRequest,
    GetOrganizationRequest, InformationSystem, ListOrganizationsRequest, ListOrganizationsResponse,
    Organization, ProvidedService, Role, UndeleteOrganizationRequest, UpdateOrganizationRequest,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{Authed, Bearer, TestApp, spawn_app};

/// A valid organisation with the given TIN.
fn org(tin: &str) -> Organization {
    Organization {
        display_name: BTreeMap::from([
            ("uz-Latn".to_string(), "Statistika agentligi".to_string()),
            ("ru".to_string(), "Агентство статистики".to_string()),
        ]),
        tin: tin.to_string(),
        kind: Kind::StateBody as i32,
        region_code: "1726".to_string(),
        contacts: Some(Contacts {
            email: "info@stat.uz".into(),
            phone: "+998712020000".into(),
            website: "https://stat.uz".into(),
        }),
        ..Default::default()
    }
}

async fn create(
    app: &mut TestApp,
    id: &str,
    organization: Organization,
) -> Result<Organization, Status> {
    app.organizations
        .create_organization(CreateOrganizationRequest {
            organization: Some(organization),
            organization_id: id.to_string(),
            request_id: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(app: &mut TestApp, name: &str) -> Result<Organization, Status> {
    app.organizations
        .get_organization(GetOrganizationRequest {
            name: name.to_string(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn list(
    app: &mut TestApp,
    request: ListOrganizationsRequest,
) -> Result<ListOrganizationsResponse, Status> {
    app.organizations
        .list_organizations(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn update(
    app: &mut TestApp,
    organization: Organization,
    paths: &[&str],
) -> Result<Organization, Status> {
    app.organizations
        .update_organization(UpdateOrganizationRequest {
            organization: Some(organization),
            update_mask: (!paths.is_empty()).then(|| FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn delete(app: &mut TestApp, name: &str, etag: &str) -> Result<Organization, Status> {
    app.organizations
        .delete_organization(DeleteOrganizationRequest {
            name: name.into(),
            etag: etag.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn undelete(app: &mut TestApp, name: &str, etag: &str) -> Result<Organization, Status> {
    app.organizations
        .undelete_organization(UndeleteOrganizationRequest {
            name: name.into(),
            etag: etag.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Asserts the status code and the ErrorInfo reason (and its fixed domain).
#[track_caller]
fn assert_error(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "reestr.uz");
}

/// The fields named by the BadRequest violations of an INVALID_ARGUMENT status.
#[track_caller]
fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

#[tokio::test]
async fn create_returns_the_organization_with_server_fields() {
    let mut app = spawn_app().await;
    let created = create(&mut app, "stat", org("201234567")).await.unwrap();
    assert_eq!(created.name, "organizations/stat");
    assert_eq!(created.tin, "201234567");
    assert_eq!(created.kind, Kind::StateBody as i32);
    assert_eq!(created.display_name["ru"], "Агентство статистики");
    assert_eq!(created.contacts.as_ref().unwrap().email, "info@stat.uz");
    assert!(created.create_time.is_some());
    assert_eq!(created.create_time, created.update_time);
    assert!(created.delete_time.is_none());
    assert!(!created.etag.is_empty());

    let fetched = get(&mut app, "organizations/stat").await.unwrap();
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn output_only_fields_sent_on_create_are_ignored() {
    let mut app = spawn_app().await;
    let mut o = org("201234567");
    o.name = "organizations/other".into();
    o.etag = "forged".into();
    o.delete_time = Some(prost_types::Timestamp {
        seconds: 1,
        nanos: 0,
    });
    let created = create(&mut app, "stat", o).await.unwrap();
    assert_eq!(created.name, "organizations/stat");
    assert_ne!(created.etag, "forged");
    assert!(created.delete_time.is_none());
}

#[tokio::test]
async fn get_of_an_unknown_organization_is_not_found() {
    let mut app = spawn_app().await;
    let err = get(&mut app, "organizations/nobody").await.unwrap_err();
    assert_error(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    assert_eq!(
        err.get_details_error_info().unwrap().metadata["resource"],
        "organizations/nobody"
    );
}

#[tokio::test]
async fn malformed_names_are_invalid_argument() {
    let mut app = spawn_app().await;
    for name in [
        "",
        "systems/stat",
        "organizations/",
        "organizations/Stat",
        "organizations/a/b",
        "organizations/-x",
    ] {
        let err = get(&mut app, name).await.unwrap_err();
        assert_eq!(violated_fields(&err), ["name"], "{name:?}");
    }
    for id in [
        "",
        "Stat",
        "9lives",
        "with_underscore",
        "ends-",
        &"a".repeat(64),
    ] {
        let err = create(&mut app, id, org("201234567")).await.unwrap_err();
        assert_eq!(violated_fields(&err), ["organization_id"], "{id:?}");
    }
}

#[tokio::test]
async fn every_invalid_field_is_reported_in_one_answer() {
    let mut app = spawn_app().await;
    let bad = Organization {
        display_name: BTreeMap::from([
            ("de".to_string(), "Statistikamt".to_string()),
            ("en".to_string(), "x".repeat(301)),
        ]),
        tin: "12345678X".into(),
        kind: 99,
        parent: "systems/x".into(),
        region_code: "17".into(),
        contacts: Some(Contacts {
            email: "not-an-email".into(),
            phone: "712020000".into(),
            website: "stat.uz".into(),
        }),
        ..Default::default()
    };
    let err = create(&mut app, "stat", bad).await.unwrap_err();
    assert_error(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    let fields: BTreeSet<String> = violated_fields(&err).into_iter().collect();
    let expected: BTreeSet<String> = [
        "organization.display_name[\"de\"]",
        "organization.display_name[\"en\"]",
        "organization.tin",
        "organization.kind",
        "organization.parent",
        "organization.region_code",
        "organization.contacts.email",
        "organization.contacts.phone",
        "organization.contacts.website",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(fields, expected);
}

#[tokio::test]
async fn required_fields_are_required() {
    let mut app = spawn_app().await;
    let err = create(&mut app, "stat", Organization::default())
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&err),
        [
            "organization.display_name",
            "organization.tin",
            "organization.kind"
        ]
    );
    let err = app
        .organizations
        .create_organization(CreateOrganizationRequest {
            organization: None,
            organization_id: "stat".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["organization"]);
}

#[tokio::test]
async fn duplicate_id_is_already_exists() {
    let mut app = spawn_app().await;
    create(&mut app, "stat", org("201234567")).await.unwrap();
    let err = create(&mut app, "stat", org("309876543"))
        .await
        .unwrap_err();
    assert_error(&err, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn duplicate_tin_is_already_exists_naming_the_holder() {
    let mut app = spawn_app().await;
    create(&mut app, "stat", org("201234567")).await.unwrap();
    let err = create(&mut app, "minfin", org("201234567"))
        .await
        .unwrap_err();
    assert_error(&err, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
    let info = err.get_details_error_info().unwrap();
    assert_eq!(info.metadata["field"], "tin");
    assert_eq!(info.metadata["resource"], "organizations/stat");
}

#[tokio::test]
async fn a_retried_request_id_returns_the_first_result_and_creates_nothing() {
    let mut app = spawn_app().await;
    let request = CreateOrganizationRequest {
        organization: Some(org("201234567")),
        organization_id: "stat".into(),
        request_id: "4d2f1c9e-8b0a-4c51-9a4e-0b7f3a2d6c11".into(),
    };
    let first = app
        .organizations
        .create_organization(request.clone())
        .await
        .unwrap()
        .into_inner();
    // The organisation changes between the two calls; the retry still answers what the
    // first call answered.
    let mut changed = first.clone();
    changed.region_code = "1703".into();
    update(&mut app, changed, &["region_code"]).await.unwrap();
    let retry = app
        .organizations
        .create_organization(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry, first);
    let all = list(&mut app, ListOrganizationsRequest::default())
        .await
        .unwrap();
    assert_eq!(all.organizations.len(), 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_request_id_create_once() {
    let app = spawn_app().await;
    let request = CreateOrganizationRequest {
        organization: Some(org("201234567")),
        organization_id: "stat".into(),
        request_id: "0b7f3a2d-6c11-4d2f-9a4e-1c9e8b0a4c51".into(),
    };
    let calls = (0..8).map(|_| {
        let mut client = app.admin_organizations();
        let request = request.clone();
        async move {
            client
                .create_organization(request)
                .await
                .map(tonic::Response::into_inner)
        }
    });
    let results = join_all(calls).await;
    let first = results[0].as_ref().expect("every retry succeeds").clone();
    for r in &results {
        assert_eq!(r.as_ref().expect("every retry succeeds"), &first);
    }
}

#[tokio::test]
async fn a_request_id_reused_for_a_different_request_is_invalid_argument() {
    let mut app = spawn_app().await;
    let key = "9a4e0b7f-3a2d-4c11-8b0a-4d2f1c9e6c11".to_string();
    app.organizations
        .create_organization(CreateOrganizationRequest {
            organization: Some(org("201234567")),
            organization_id: "stat".into(),
            request_id: key.clone(),
        })
        .await
        .unwrap();
    let err = app
        .organizations
        .create_organization(CreateOrganizationRequest {
            organization: Some(org("309876543")),
            organization_id: "minfin".into(),
            request_id: key,
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::InvalidArgument, "REQUEST_ID_REUSED");
    assert_eq!(violated_fields(&err), ["request_id"]);
    assert!(get(&mut app, "organizations/minfin").await.is_err());
}

#[tokio::test]
async fn a_request_id_must_be_a_uuid() {
    let mut app = spawn_app().await;
    let err = app
        .organizations
        .create_organization(CreateOrganizationRequest {
            organization: Some(org("201234567")),
            organization_id: "stat".into(),
            request_id: "retry-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["request_id"]);
}

#[tokio::test]
async fn update_with_a_mask_changes_only_the_masked_fields() {
    let mut app = spawn_app().await;
    let created = create(&mut app, "stat", org("201234567")).await.unwrap();
    let mut change = Organization {
        name: created.name.clone(),
        tin: "309876543".into(),
        region_code: "1703".into(),
        kind: Kind::Other as i32,
        ..Default::default()
    };
    change.etag = created.etag.clone();
    let updated = update(&mut app, change, &["tin", "region_code"])
        .await
        .unwrap();
    assert_eq!(updated.tin, "309876543");
    assert_eq!(updated.region_code, "1703");
    assert_eq!(
        updated.kind,
        Kind::StateBody as i32,
        "kind was not in the mask"
    );
    assert_eq!(updated.display_name, created.display_name);
    assert_ne!(updated.etag, created.etag);
    let micros = |t: &Option<prost_types::Timestamp>| {
        t.map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000)
    };
    assert!(micros(&updated.update_time) > micros(&created.update_time));
    assert_eq!(updated.create_time, created.create_time);
    assert_eq!(get(&mut app, "organizations/stat").await.unwrap(), updated);
}

#[tokio::test]
async fn update_without_a_mask_changes_the_fields_that_are_set() {
    let mut app = spawn_app().await;
    let created = create(&mut app, "stat", org("201234567")).await.unwrap();
    let change = Organization {
        name: created.name.clone(),
        display_name: BTreeMap::from([("en".to_string(), "Statistics Agency".to_string())]),
        ..Default::default()
    };
    let updated = update(&mut app, change, &[]).await.unwrap();
    assert_eq!(updated.display_name.len(), 1);
    assert_eq!(updated.display_name["en"], "Statistics Agency");
    assert_eq!(updated.tin, created.tin);
    assert_eq!(updated.contacts, created.contacts);
}

#[tokio::test]
async fn a_masked_field_left_empty_is_cleared_unless_required() {
    let mut app = spawn_app().await;
    let created = create(&mut app, "stat", org("201234567")).await.unwrap();
    let cleared = update(
        &mut app,
        Organization {
            name: created.name.clone(),
            ..Default::default()
        },
        &["region_code", "contacts.phone"],
    )
    .await
    .unwrap();
    assert_eq!(cleared.region_code, "");
    assert_eq!(cleared.contacts.as_ref().unwrap().phone, "");
    assert_eq!(cleared.contacts.as_ref().unwrap().email, "info@stat.uz");

    let err = update(
        &mut app,
        Organization {
            name: created.name.clone(),
            ..Default::default()
        },
        &["tin", "display_name"],
    )
    .await
    .unwrap_err();
    assert_eq!(
        violated_fields(&err),
        ["organization.display_name", "organization.tin"]
    );
}

/// The `(field, description)` of every field violation of an INVALID_ARGUMENT status.
fn violations(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

#[tokio::test]
async fn output_only_and_unknown_fields_in_the_mask_are_invalid_argument() {
    let mut app = spawn_app().await;
    let created = create(&mut app, "stat", org("201234567")).await.unwrap();
    for (path, problem) in [
        ("etag", "is output only and cannot be updated"),
        ("create_time", "is output only and cannot be updated"),
        ("update_time", "is output only and cannot be updated"),
        ("delete_time", "is output only and cannot be updated"),
        ("name", "is output only and cannot be updated"),
        ("colour", "is not a field of Organization"),
        ("contacts.fax", "is not a field of Organization"),
    ] {
        // Alone, and beside `*` and a valid path: every path is checked.
        for paths in [&[path][..], &["*", "tin", path][..]] {
            let err = update(&mut app, created.clone(), paths).await.unwrap_err();
            assert_eq!(
                violations(&err),
                [(
                    format!("update_mask.paths[{}]", paths.len() - 1),
                    format!("{path:?} {problem}")
                )],
                "{paths:?}"
            );
        }
    }
    let unchanged = get(&mut app, "organizations/stat").await.unwrap();
    assert_eq!(
        unchanged.etag, created.etag,
        "a refused mask changes nothing"
    );
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_etag() {
    let mut app = spawn_app().await;
    let created = create(&mut app, "stat", org("201234567")).await.unwrap();
    let same = update(&mut app, created.clone(), &["*"]).await.unwrap();
    assert_eq!(same, created);
}

#[tokio::test]
async fn stale_etag_is_aborted() {
    let mut app = spawn_app().await;
    let created = create(&mut app, "stat", org("201234567")).await.unwrap();
    let mut first = created.clone();
    first.region_code = "1703".into();
    update(&mut app, first, &["region_code"]).await.unwrap();

    let mut stale = created.clone();
    stale.region_code = "1706".into();
    let err = update(&mut app, stale, &["region_code"]).await.unwrap_err();
    assert_error(&err, Code::Aborted, "ETAG_MISMATCH");
    let err = delete(&mut app, "organizations/stat", &created.etag)
        .await
        .unwrap_err();
    assert_error(&err, Code::Aborted, "ETAG_MISMATCH");
    assert_eq!(
        get(&mut app, "organizations/stat")
            .await
            .unwrap()
            .region_code,
        "1703"
    );
}

#[tokio::test]
async fn update_and_delete_of_an_unknown_organization_are_not_found() {
    let mut app = spawn_app().await;
    let mut ghost = org("201234567");
    ghost.name = "organizations/ghost".into();
    assert_error(
        &update(&mut app, ghost, &["tin"]).await.unwrap_err(),
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    assert_error(
        &delete(&mut app, "organizations/ghost", "")
            .await
            .unwrap_err(),
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    assert_error(
        &undelete(&mut app, "organizations/ghost", "")
            .await
            .unwrap_err(),
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    let err = update(&mut app, org("201234567"), &["tin"])
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["organization.name"]);
}

#[tokio::test]
async fn a_tin_change_to_a_taken_tin_is_already_exists() {
    let mut app = spawn_app().await;
    create(&mut app, "stat", org("201234567")).await.unwrap();
    let minfin = create(&mut app, "minfin", org("309876543")).await.unwrap();
    let mut change = minfin.clone();
    change.tin = "201234567".into();
    let err = update(&mut app, change, &["tin"]).await.unwrap_err();
    assert_error(&err, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn a_parent_must_exist_and_be_live() {
    let mut app = spawn_app().await;
    let mut child = org("201234567");
    child.parent = "organizations/ministry".into();
    let err = create(&mut app, "committee", child.clone())
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "REFERENCE_NOT_FOUND");

    let ministry = create(&mut app, "ministry", org("309876543"))
        .await
        .unwrap();
    delete(&mut app, "organizations/ministry", &ministry.etag)
        .await
        .unwrap();
    let err = create(&mut app, "committee", child.clone())
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "REFERENCE_NOT_FOUND");

    undelete(&mut app, "organizations/ministry", "")
        .await
        .unwrap();
    let created = create(&mut app, "committee", child).await.unwrap();
    assert_eq!(created.parent, "organizations/ministry");
}

#[tokio::test]
async fn a_parent_cycle_is_refused() {
    let mut app = spawn_app().await;
    create(&mut app, "a", org("100000001")).await.unwrap();
    let mut b = org("100000002");
    b.parent = "organizations/a".into();
    create(&mut app, "b", b).await.unwrap();
    let mut c = org("100000003");
    c.parent = "organizations/b".into();
    create(&mut app, "c", c).await.unwrap();

    for parent in ["organizations/c", "organizations/a"] {
        let change = Organization {
            name: "organizations/a".into(),
            parent: parent.into(),
            ..Default::default()
        };
        let err = update(&mut app, change, &["parent"]).await.unwrap_err();
        assert_error(&err, Code::FailedPrecondition, "HIERARCHY_CYCLE");
    }
}

#[tokio::test]
async fn delete_is_soft_and_undelete_restores() {
    let mut app = spawn_app().await;
    let created = create(&mut app, "stat", org("201234567")).await.unwrap();
    let deleted = delete(&mut app, "organizations/stat", &created.etag)
        .await
        .unwrap();
    assert!(deleted.delete_time.is_some());
    assert_ne!(deleted.etag, created.etag);

    // Get still answers, with delete_time; List hides it unless asked.
    assert_eq!(get(&mut app, "organizations/stat").await.unwrap(), deleted);
    assert!(
        list(&mut app, ListOrganizationsRequest::default())
            .await
            .unwrap()
            .organizations
            .is_empty()
    );
    let with_deleted = list(
        &mut app,
        ListOrganizationsRequest {
            show_deleted: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(with_deleted.organizations, std::slice::from_ref(&deleted));

    // The name and the TIN stay taken while deleted.
    assert_error(
        &create(&mut app, "stat", org("309876543"))
            .await
            .unwrap_err(),
        Code::AlreadyExists,
        "RESOURCE_ALREADY_EXISTS",
    );
    assert_error(
        &create(&mut app, "other", org("201234567"))
            .await
            .unwrap_err(),
        Code::AlreadyExists,
        "RESOURCE_ALREADY_EXISTS",
    );

    // A deleted organisation cannot be changed or deleted again.
    assert_error(
        &update(&mut app, deleted.clone(), &["tin"])
            .await
            .unwrap_err(),
        Code::FailedPrecondition,
        "RESOURCE_DELETED",
    );
    assert_error(
        &delete(&mut app, "organizations/stat", "")
            .await
            .unwrap_err(),
        Code::FailedPrecondition,
        "RESOURCE_DELETED",
    );
    assert_error(
        &undelete(&mut app, "organizations/stat", &created.etag)
            .await
            .unwrap_err(),
        Code::Aborted,
        "ETAG_MISMATCH",
    );

    let restored = undelete(&mut app, "organizations/stat", &deleted.etag)
        .await
        .unwrap();
    assert!(restored.delete_time.is_none());
    assert_eq!(restored.display_name, created.display_name);
    assert_error(
        &undelete(&mut app, "organizations/stat", "")
            .await
            .unwrap_err(),
        Code::FailedPrecondition,
        "RESOURCE_NOT_DELETED",
    );
    assert_eq!(
        list(&mut app, ListOrganizationsRequest::default())
            .await
            .unwrap()
            .organizations
            .len(),
        1
    );
}

#[tokio::test]
async fn an_organization_with_live_children_cannot_be_deleted() {
    let mut app = spawn_app().await;
    create(&mut app, "ministry", org("100000001"))
        .await
        .unwrap();
    let mut child = org("100000002");
    child.parent = "organizations/ministry".into();
    let child = create(&mut app, "committee", child).await.unwrap();

    let err = delete(&mut app, "organizations/ministry", "")
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "RESOURCE_IN_USE");
    assert_eq!(
        err.get_details_error_info().unwrap().metadata["referenced_by"],
        "organizations/committee"
    );

    delete(&mut app, "organizations/committee", &child.etag)
        .await
        .unwrap();
    delete(&mut app, "organizations/ministry", "")
        .await
        .unwrap();
    // The child cannot come back while its parent is deleted.
    let err = undelete(&mut app, "organizations/committee", "")
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "REFERENCE_NOT_FOUND");
}

/// A valid system `id` owned by `owner`, operated by `operator` when not empty.
fn system_request(id: &str, owner: &str, operator: &str) -> CreateSystemRequest {
    CreateSystemRequest {
        system: Some(InformationSystem {
            short_name: id.to_uppercase(),
            display_name: BTreeMap::from([("en".to_string(), format!("System {id}"))]),
            purpose: "Serves citizens".into(),
            owner: format!("organizations/{owner}"),
            operator: if operator.is_empty() {
                String::new()
            } else {
                format!("organizations/{operator}")
            },
            provided_services: vec![ProvidedService {
                name: "api".into(),
                protocol: Protocol::Grpc as i32,
                ..Default::default()
            }],
            ..Default::default()
        }),
        system_id: id.into(),
        request_id: String::new(),
    }
}

/// A valid flat classifier `id` owned by `owner`.
fn classifier_request(id: &str, owner: &str) -> CreateClassifierRequest {
    CreateClassifierRequest {
        classifier: Some(Classifier {
            owner: format!("organizations/{owner}"),
            display_name: BTreeMap::from([("en".to_string(), format!("Classifier {id}"))]),
            code_pattern: "[0-9]{2}".into(),
            required_languages: vec!["en".into()],
            ..Default::default()
        }),
        classifier_id: id.into(),
        request_id: String::new(),
    }
}

fn systems_as(app: &TestApp, secret: &str) -> InformationSystemServiceClient<Authed> {
    InformationSystemServiceClient::with_interceptor(app.channel(), Bearer::new(Some(secret)))
}

/// The `referenced_by` and `referenced_by_count` metadata of an in-use error.
#[track_caller]
fn referrers(err: &Status) -> (Vec<String>, String) {
    assert_error(err, Code::FailedPrecondition, "RESOURCE_IN_USE");
    let metadata = err.get_details_error_info().unwrap().metadata;
    let named = metadata["referenced_by"]
        .split(',')
        .map(str::to_string)
        .collect();
    let count = metadata
        .get("referenced_by_count")
        .cloned()
        .unwrap_or_default();
    (named, count)
}

#[tokio::test]
async fn an_organization_owning_or_operating_live_systems_or_owning_live_classifiers_cannot_be_deleted()
 {
    let mut app = spawn_app().await;
    create(&mut app, "ministry", org("100000001"))
        .await
        .unwrap();
    create(&mut app, "operator", org("100000002"))
        .await
        .unwrap();
    let mut systems = app.admin_systems();
    let mut classifiers = app.classifiers();
    systems
        .create_system(system_request("e-gov", "ministry", "operator"))
        .await
        .unwrap();
    classifiers
        .create_classifier(classifier_request("regions", "ministry"))
        .await
        .unwrap();

    let err = delete(&mut app, "organizations/ministry", "")
        .await
        .unwrap_err();
    assert_eq!(
        referrers(&err),
        (
            vec![
                "systems/e-gov".to_string(),
                "classifiers/regions".to_string()
            ],
            "2".to_string()
        )
    );
    let err = delete(&mut app, "organizations/operator", "")
        .await
        .unwrap_err();
    assert_eq!(
        referrers(&err),
        (vec!["systems/e-gov".to_string()], "1".to_string())
    );

    // Deleted systems and classifiers do not hold their organisations.
    systems
        .delete_system(DeleteSystemRequest {
            name: "systems/e-gov".into(),
            etag: String::new(),
        })
        .await
        .unwrap();
    delete(&mut app, "organizations/operator", "")
        .await
        .unwrap();
    let err = delete(&mut app, "organizations/ministry", "")
        .await
        .unwrap_err();
    assert_eq!(
        referrers(&err),
        (vec!["classifiers/regions".to_string()], "1".to_string())
    );
    classifiers
        .delete_classifier(DeleteClassifierRequest {
            name: "classifiers/regions".into(),
            etag: String::new(),
        })
        .await
        .unwrap();
    delete(&mut app, "organizations/ministry", "")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_in_use_error_names_the_first_ten_referrers_and_counts_them_all() {
    let mut app = spawn_app().await;
    create(&mut app, "ministry", org("100000001"))
        .await
        .unwrap();
    let mut child = org("100000002");
    child.parent = "organizations/ministry".into();
    create(&mut app, "committee", child).await.unwrap();
    let mut systems = app.admin_systems();
    for i in 0..12 {
        systems
            .create_system(system_request(&format!("s{i:02}"), "ministry", ""))
            .await
            .unwrap();
    }
    let err = delete(&mut app, "organizations/ministry", "")
        .await
        .unwrap_err();
    let (named, count) = referrers(&err);
    assert_eq!(count, "13");
    let mut expected = vec!["organizations/committee".to_string()];
    expected.extend((0..9).map(|i| format!("systems/s{i:02}")));
    assert_eq!(named, expected);
    assert!(err.message().contains("and 3 more"), "{err:?}");
}

#[tokio::test]
async fn a_deleted_organizations_tokens_may_only_read_from_the_moment_it_is_deleted() {
    let mut app = spawn_app().await;
    create(&mut app, "stat", org("100000001")).await.unwrap();
    let (_, editor) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let (_, admin_of_stat) = app.create_token(Some("stat"), &[Role::RegistryAdmin]).await;
    let read = |name: &str| GetOrganizationRequest {
        name: name.into(),
        ..Default::default()
    };
    // Both tokens are used (and so trusted for a while by this server) before the deletion.
    for secret in [&editor, &admin_of_stat] {
        app.organizations_as(Some(secret))
            .get_organization(read("organizations/stat"))
            .await
            .unwrap();
    }

    delete(&mut app, "organizations/stat", "").await.unwrap();

    let err = systems_as(&app, &editor)
        .create_system(system_request("stat-reports", "stat", ""))
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "ORGANIZATION_DELETED");
    assert!(
        err.message().contains("organizations/stat is deleted"),
        "{err:?}"
    );
    let mut as_admin_of_stat = app.organizations_as(Some(&admin_of_stat));
    let err = as_admin_of_stat
        .create_organization(CreateOrganizationRequest {
            organization: Some(org("100000002")),
            organization_id: "other".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "ORGANIZATION_DELETED");
    let err = as_admin_of_stat
        .undelete_organization(UndeleteOrganizationRequest {
            name: "organizations/stat".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "ORGANIZATION_DELETED");
    // Reads go on.
    let read_back = app
        .organizations_as(Some(&editor))
        .get_organization(read("organizations/stat"))
        .await
        .unwrap()
        .into_inner();
    assert!(read_back.delete_time.is_some());

    // Undeleted, the organisation's tokens write again at once.
    undelete(&mut app, "organizations/stat", "").await.unwrap();
    systems_as(&app, &editor)
        .create_system(system_request("stat-reports", "stat", ""))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_delete_racing_creates_that_refer_to_the_organization_never_leaves_them_orphaned() {
    let mut app = spawn_app().await;
    for round in 0..10 {
        let id = format!("org{round}");
        create(&mut app, &id, org(&format!("1000000{round:02}")))
            .await
            .unwrap();
        let creates = (0..4).map(|i| {
            let mut systems = app.admin_systems();
            let request = system_request(&format!("r{round}s{i}"), &id, "");
            async move { systems.create_system(request).await.map(|_| ()) }
        });
        let mut organizations = app.admin_organizations();
        let deletion = organizations.delete_organization(DeleteOrganizationRequest {
            name: format!("organizations/{id}"),
            etag: String::new(),
        });
        let (created, deleted) = tokio::join!(join_all(creates), deletion);
        let live = app
            .query_i64(&format!(
                "SELECT COUNT(*) FROM systems WHERE owner_id = '{id}' AND delete_time IS NULL"
            ))
            .await;
        let created = created.iter().filter(|r| r.is_ok()).count() as i64;
        assert_eq!(live, created, "round {round}");
        match deleted {
            Ok(_) => assert_eq!(live, 0, "round {round}: a deleted owner has live systems"),
            Err(e) => {
                assert_error(&e, Code::FailedPrecondition, "RESOURCE_IN_USE");
                assert!(live > 0, "round {round}");
            }
        }
    }
}

/// Creates the organisations of the filter tests.
async fn seed_for_filters(app: &mut TestApp) {
    let mut ministry = org("100000001");
    ministry.display_name = BTreeMap::from([
        ("ru".into(), "Министерство финансов".into()),
        ("en".into(), "Ministry of Finance".into()),
    ]);
    create(app, "minfin", ministry).await.unwrap();

    let mut treasury = org("100000002");
    treasury.parent = "organizations/minfin".into();
    treasury.kind = Kind::EconomicBody as i32;
    treasury.region_code = "1703".into();
    treasury.display_name = BTreeMap::from([("uz-Latn".into(), "Gʻaznachilik".into())]);
    create(app, "treasury", treasury).await.unwrap();

    let mut khokimiyat = org("100000003");
    khokimiyat.kind = Kind::LocalGovernment as i32;
    khokimiyat.region_code = String::new();
    khokimiyat.display_name =
        BTreeMap::from([("uz-Cyrl".into(), "Тошкент шаҳар ҳокимлиги".into())]);
    create(app, "tashkent", khokimiyat).await.unwrap();
}

async fn names(app: &mut TestApp, filter: &str) -> Vec<String> {
    let response = list(
        app,
        ListOrganizationsRequest {
            filter: filter.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{filter}: {e:?}"));
    response.organizations.into_iter().map(|o| o.name).collect()
}

#[tokio::test]
async fn list_filters_by_kind_parent_region_tin_and_name() {
    let mut app = spawn_app().await;
    seed_for_filters(&mut app).await;
    let cases: &[(&str, &[&str])] = &[
        ("", &["minfin", "tashkent", "treasury"]),
        ("kind = STATE_BODY", &["minfin"]),
        ("kind != STATE_BODY", &["tashkent", "treasury"]),
        ("parent = \"organizations/minfin\"", &["treasury"]),
        ("parent = \"\"", &["minfin", "tashkent"]),
        (
            "parent != \"organizations/minfin\"",
            &["minfin", "tashkent"],
        ),
        ("region_code = \"1703\"", &["treasury"]),
        ("region_code = \"\"", &["tashkent"]),
        ("tin = \"100000003\"", &["tashkent"]),
        // Case-insensitive, in every language, Cyrillic included.
        ("display_name:\"МИНИСТЕРСТВО\"", &["minfin"]),
        ("display_name:\"finance\"", &["minfin"]),
        ("display_name:\"ҲОКИМЛИГИ\"", &["tashkent"]),
        // Uzbek apostrophe variants match one another.
        ("display_name:\"g'azna\"", &["treasury"]),
        // LIKE wildcards are literal.
        ("display_name:\"%\"", &[]),
        (
            "kind = STATE_BODY OR kind = LOCAL_GOVERNMENT",
            &["minfin", "tashkent"],
        ),
        (
            "NOT kind = STATE_BODY AND region_code = \"1703\"",
            &["treasury"],
        ),
        ("-kind = ECONOMIC_BODY", &["minfin", "tashkent"]),
        (
            "kind = ECONOMIC_BODY OR (kind = STATE_BODY AND display_name:\"finance\")",
            &["minfin", "treasury"],
        ),
    ];
    for (filter, expected) in cases {
        let expected: Vec<String> = expected
            .iter()
            .map(|n| format!("organizations/{n}"))
            .collect();
        assert_eq!(names(&mut app, filter).await, expected, "filter {filter:?}");
    }
}

#[tokio::test]
async fn filter_errors_are_invalid_argument_on_the_filter_field() {
    let mut app = spawn_app().await;
    for filter in [
        "kind =",
        "kind = PLANET",
        "(kind = STATE_BODY",
        "colour = red",
        "display_name = \"x\"",
        "tin > 5",
        "\"bare text\"",
        "display_name:\"unterminated",
        "kind = STATE_BODY AND",
    ] {
        let err = list(
            &mut app,
            ListOrganizationsRequest {
                filter: filter.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&err), ["filter"], "{filter:?}");
    }
}

#[tokio::test]
async fn order_by_sorts_and_unknown_fields_are_refused() {
    let mut app = spawn_app().await;
    seed_for_filters(&mut app).await;
    let by_tin_desc = list(
        &mut app,
        ListOrganizationsRequest {
            order_by: "tin desc".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let tins: Vec<_> = by_tin_desc
        .organizations
        .iter()
        .map(|o| o.tin.as_str())
        .collect();
    assert_eq!(tins, ["100000003", "100000002", "100000001"]);
    let by_created = list(
        &mut app,
        ListOrganizationsRequest {
            order_by: "create_time".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ids: Vec<_> = by_created
        .organizations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "organizations/minfin",
            "organizations/treasury",
            "organizations/tashkent"
        ]
    );
    for bad in ["display_name", "tin sideways", "tin, tin"] {
        let err = list(
            &mut app,
            ListOrganizationsRequest {
                order_by: bad.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&err), ["order_by"], "{bad}");
    }
}

#[tokio::test]
async fn page_size_is_checked_defaulted_and_capped() {
    let mut app = spawn_app().await;
    seed_for_filters(&mut app).await;
    let err = list(
        &mut app,
        ListOrganizationsRequest {
            page_size: -1,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_size"]);
    let page = list(
        &mut app,
        ListOrganizationsRequest {
            page_size: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(page.organizations.len(), 2);
    assert!(!page.next_page_token.is_empty());
    let rest = list(
        &mut app,
        ListOrganizationsRequest {
            page_size: 2,
            page_token: page.next_page_token,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rest.organizations.len(), 1);
    assert!(
        rest.next_page_token.is_empty(),
        "an empty token alone marks the end"
    );
    let huge = list(
        &mut app,
        ListOrganizationsRequest {
            page_size: i32::MAX,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(huge.organizations.len(), 3);
}

#[tokio::test]
async fn a_tampered_or_foreign_page_token_is_invalid_argument() {
    let mut app = spawn_app().await;
    seed_for_filters(&mut app).await;
    let page = list(
        &mut app,
        ListOrganizationsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let token = page.next_page_token;

    let mut tampered: Vec<char> = token.chars().collect();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
    for bad in [
        tampered.into_iter().collect::<String>(),
        "garbage".to_string(),
        format!("{token}x"),
    ] {
        let err = list(
            &mut app,
            ListOrganizationsRequest {
                page_size: 1,
                page_token: bad,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&err), ["page_token"]);
    }

    // The filter, the order and show_deleted may not change between pages; page_size may.
    for changed in [
        ListOrganizationsRequest {
            filter: "kind = STATE_BODY".into(),
            ..Default::default()
        },
        ListOrganizationsRequest {
            order_by: "tin".into(),
            ..Default::default()
        },
        ListOrganizationsRequest {
            show_deleted: true,
            ..Default::default()
        },
    ] {
        let err = list(
            &mut app,
            ListOrganizationsRequest {
                page_token: token.clone(),
                page_size: 1,
                ..changed
            },
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&err), ["page_token"]);
    }
    let next = list(
        &mut app,
        ListOrganizationsRequest {
            page_size: 5,
            page_token: token,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(next.organizations.len(), 2);
}

/// Creates organisations `{prefix}{i}` for `range`, eight at a time.
async fn create_many(app: &TestApp, prefix: &str, range: std::ops::Range<u32>) {
    // TINs must be unique across prefixes too.
    let tin_base: u32 = match prefix {
        "aaa" => 300_000_000,
        "zzz" => 600_000_000,
        _ => 100_000_000,
    };
    let ids: Vec<u32> = range.collect();
    for chunk in ids.chunks(8) {
        let calls = chunk.iter().map(|i| {
            let mut client = app.admin_organizations();
            let id = format!("{prefix}{i:05}");
            let tin = format!("{:09}", tin_base + i);
            async move {
                client
                    .create_organization(CreateOrganizationRequest {
                        organization: Some(org(&tin)),
                        organization_id: id,
                        request_id: String::new(),
                    })
                    .await
                    .expect("create")
            }
        });
        join_all(calls).await;
    }
}

#[tokio::test]
async fn paging_through_1000_organizations_with_inserts_between_pages_loses_and_repeats_nothing() {
    let mut app = spawn_app().await;
    create_many(&app, "org", 0..1000).await;

    for order_by in ["", "create_time desc", "tin"] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut round = 0u32;
        loop {
            let page = list(
                &mut app,
                ListOrganizationsRequest {
                    page_size: 97,
                    page_token: token.clone(),
                    order_by: order_by.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            seen.extend(page.organizations.into_iter().map(|o| o.name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
            // Writes between pages: new organisations that sort before and after the cursor.
            let base = 2000 + round * 10 + order_by.len() as u32 * 1000;
            create_many(&app, "aaa", base..base + 2).await;
            create_many(&app, "zzz", base..base + 2).await;
            round += 1;
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{order_by:?}: an organisation was repeated"
        );
        for i in 0..1000 {
            let name = format!("organizations/org{i:05}");
            assert!(unique.contains(&name), "{order_by:?}: {name} was skipped");
        }
    }
}

#[tokio::test]
async fn concurrent_updaters_with_etags_lose_no_update() {
    let mut app = spawn_app().await;
    let mut start = org("201234567");
    start.region_code = "10000".into();
    create(&mut app, "stat", start).await.unwrap();
    let workers = (0..16).map(|_| {
        let mut client = app.admin_organizations();
        async move {
            let mut conflicts = 0;
            loop {
                let current = client
                    .get_organization(GetOrganizationRequest {
                        name: "organizations/stat".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let n: u32 = current.region_code.parse().unwrap();
                let mut next = current.clone();
                next.region_code = (n + 1).to_string();
                match client
                    .update_organization(UpdateOrganizationRequest {
                        organization: Some(next),
                        update_mask: Some(FieldMask {
                            paths: vec!["region_code".into()],
                        }),
                    })
                    .await
                {
                    Ok(_) => return conflicts,
                    Err(e) if e.code() == Code::Aborted => conflicts += 1,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        }
    });
    join_all(workers).await;
    // Each of the 16 accepted updates was made against the value it replaced.
    assert_eq!(
        get(&mut app, "organizations/stat")
            .await
            .unwrap()
            .region_code,
        "10016"
    );
}
