//! InformationSystemService: records, lifecycle, revisions, dependencies, statistics.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::future::join_all;
use prost_types::FieldMask;
use reestr::proto::v1::information_system::State;
use reestr::proto::v1::information_system_service_client::InformationSystemServiceClient;
use reestr::proto::v1::organization::Kind;
use reestr::proto::v1::provided_service::Protocol;
use reestr::proto::v1::{
    Contacts, CreateOrganizationRequest, CreateSystemRequest, DeleteSystemRequest, Dependency,
    GetDependencyGraphRequest, GetRegisterStatisticsRequest, GetSystemRequest, Hosting,
    InformationSystem, LegalAct, LegalActKind, ListAuditEventsRequest, ListDependentsRequest,
    ListSystemRevisionsRequest, ListSystemsRequest, LookupSystemRequest, Organization,
    ProvidedService, Role, SecurityLevel, SecurityProfile, TransitionSystemStateRequest,
    UndeleteSystemRequest, UpdateSystemRequest, hosting,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{Authed, TestApp, spawn_app_with, spawn_app_with_manual_clock};

type Client = InformationSystemServiceClient<Authed>;

fn client(app: &TestApp, secret: &str) -> Client {
    InformationSystemServiceClient::with_interceptor(
        app.channel(),
        crate::helpers::Bearer::new(Some(secret)),
    )
}

async fn organization(app: &mut TestApp, id: &str, tin: &str) {
    app.organizations
        .create_organization(CreateOrganizationRequest {
            organization: Some(Organization {
                display_name: BTreeMap::from([("en".to_string(), format!("Organisation {id}"))]),
                tin: tin.into(),
                kind: Kind::StateBody as i32,
                ..Default::default()
            }),
            organization_id: id.into(),
            request_id: String::new(),
        })
        .await
        .expect("create organisation");
}

/// The fields [`system`] sets, sorted: what its first revision names as changed.
const FIELDS_OF_A_NEW_SYSTEM: [&str; 5] = [
    "display_name",
    "owner",
    "provided_services",
    "purpose",
    "short_name",
];

/// A valid system owned by `owner`, providing the service `api`.
pub(crate) fn system(owner: &str, short_name: &str) -> InformationSystem {
    InformationSystem {
        short_name: short_name.into(),
        display_name: BTreeMap::from([
            (
                "uz-Latn".to_string(),
                format!("{short_name} axborot tizimi"),
            ),
            (
                "ru".to_string(),
                format!("Информационная система {short_name}"),
            ),
        ]),
        purpose: "Serves citizens".into(),
        owner: format!("organizations/{owner}"),
        provided_services: vec![ProvidedService {
            name: "api".into(),
            protocol: Protocol::Grpc as i32,
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub(crate) async fn create(
    c: &mut Client,
    id: &str,
    s: InformationSystem,
) -> Result<InformationSystem, Status> {
    c.create_system(CreateSystemRequest {
        system: Some(s),
        system_id: id.into(),
        request_id: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn transition(
    c: &mut Client,
    id: &str,
    state: State,
    force: bool,
) -> Result<InformationSystem, Status> {
    c.transition_system_state(TransitionSystemStateRequest {
        name: format!("systems/{id}"),
        state: state as i32,
        etag: String::new(),
        force,
        reason: "test".into(),
    })
    .await
    .map(tonic::Response::into_inner)
}

fn depends_on(mut s: InformationSystem, provider: &str) -> InformationSystem {
    s.dependencies.push(Dependency {
        system: format!("systems/{provider}"),
        service: "api".into(),
        purpose: "lookups".into(),
    });
    s
}

#[track_caller]
fn assert_error(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, reason, "{status:?}");
}

fn violated(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The `(field, description)` of every field violation of an INVALID_ARGUMENT status.
fn violations(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest")
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect()
}

/// A register with organisation `soliq`, an admin client and a `soliq` editor client.
async fn setup() -> (TestApp, Client, Client) {
    let mut app = spawn_app_with_manual_clock().await;
    organization(&mut app, "soliq", "200000001").await;
    let (_, editor) = app.create_token(Some("soliq"), &[Role::Editor]).await;
    let admin = client(&app, &app.admin_secret.clone());
    let editor = client(&app, &editor);
    (app, admin, editor)
}

#[tokio::test]
async fn registration_issues_a_number_and_starts_planned() {
    let (_app, mut admin, mut editor) = setup().await;
    let created = create(&mut editor, "e-soliq", system("soliq", "E-SOLIQ"))
        .await
        .unwrap();
    assert_eq!(created.name, "systems/e-soliq");
    assert_eq!(created.state, State::Planned as i32);
    assert_eq!(created.revision, 1);
    // IS-{year of registration}-{sequence within the year}
    let parts: Vec<&str> = created.registration_number.split('-').collect();
    assert_eq!(parts.len(), 3, "{}", created.registration_number);
    assert_eq!(parts[0], "IS");
    assert!(parts[1].len() == 4 && parts[1].parse::<u16>().unwrap() >= 2026);
    assert_eq!(parts[2], "000001");
    let second = create(&mut admin, "my-gov", system("soliq", "MY.GOV"))
        .await
        .unwrap();
    assert!(second.registration_number.ends_with("000002"));

    let got = admin
        .get_system(GetSystemRequest {
            name: "systems/e-soliq".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, created);
    for request in [
        LookupSystemRequest {
            registration_number: created.registration_number.clone(),
            short_name: String::new(),
        },
        LookupSystemRequest {
            registration_number: String::new(),
            short_name: "e-Soliq".into(),
        },
    ] {
        let found = admin.lookup_system(request).await.unwrap().into_inner();
        assert_eq!(found, created, "the lookup answers the whole system");
    }
    let err = admin
        .lookup_system(LookupSystemRequest {
            registration_number: "IS-1999-000001".into(),
            short_name: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err = admin
        .lookup_system(LookupSystemRequest::default())
        .await
        .unwrap_err();
    assert_eq!(violated(&err), ["registration_number"]);
}

#[tokio::test]
async fn registration_numbers_are_never_reused() {
    let (_app, mut admin, _) = setup().await;
    let first = create(&mut admin, "a", system("soliq", "A")).await.unwrap();
    admin
        .delete_system(DeleteSystemRequest {
            name: "systems/a".into(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let second = create(&mut admin, "b", system("soliq", "B")).await.unwrap();
    // Deleting the newest system does not free its number either.
    admin
        .delete_system(DeleteSystemRequest {
            name: "systems/b".into(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let third = create(&mut admin, "c", system("soliq", "C")).await.unwrap();
    let issued: Vec<&str> = [&first, &second, &third]
        .iter()
        .map(|s| s.registration_number.as_str())
        .collect();
    // IS-YYYY-NNNNNN: the sequence part of each number is above the one issued before it.
    let sequence = |n: &str| -> u64 {
        n.rsplit('-')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{n} is not IS-YYYY-NNNNNN"))
    };
    assert!(
        issued.windows(2).all(|w| sequence(w[0]) < sequence(w[1])),
        "every number is new: {issued:?}"
    );
    // The deleted systems keep the numbers they were given.
    for (name, number) in [("systems/a", issued[0]), ("systems/b", issued[1])] {
        let got = admin
            .get_system(GetSystemRequest {
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.registration_number, number);
        assert!(got.delete_time.is_some());
    }
}

#[tokio::test]
async fn invalid_systems_report_every_problem() {
    let (_app, mut admin, _) = setup().await;
    let mut bad = system("soliq", "");
    bad.purpose = String::new();
    bad.labels = BTreeMap::from([("Bad Key".to_string(), "x".to_string())]);
    bad.provided_services.push(ProvidedService {
        name: "api".into(),
        protocol: 0,
        ..Default::default()
    });
    bad.security = Some(SecurityProfile {
        confidentiality: 42,
        ..Default::default()
    });
    bad.dependencies.push(Dependency {
        system: "systems/bad".into(),
        service: "api".into(),
        purpose: String::new(),
    });
    let err = create(&mut admin, "bad", bad).await.unwrap_err();
    let fields: BTreeSet<String> = violated(&err).into_iter().collect();
    for expected in [
        "system.short_name",
        "system.purpose",
        "system.labels[\"Bad Key\"]",
        "system.provided_services[1].name",
        "system.provided_services[1].protocol",
        "system.security.confidentiality",
        "system.dependencies[0].system",
    ] {
        assert!(
            fields.contains(expected),
            "{expected} missing from {fields:?}"
        );
    }
}

#[tokio::test]
async fn references_are_checked() {
    let (_app, mut admin, _) = setup().await;
    let err = create(&mut admin, "x", system("nobody", "X"))
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "REFERENCE_NOT_FOUND");

    create(&mut admin, "provider", system("soliq", "PROVIDER"))
        .await
        .unwrap();
    let err = create(&mut admin, "x", depends_on(system("soliq", "X"), "ghost"))
        .await
        .unwrap_err();
    assert_eq!(violated(&err), ["system.dependencies[0].system"]);
    let mut wrong_service = system("soliq", "X");
    wrong_service.dependencies.push(Dependency {
        system: "systems/provider".into(),
        service: "nope".into(),
        purpose: String::new(),
    });
    let err = create(&mut admin, "x", wrong_service).await.unwrap_err();
    assert_eq!(violated(&err), ["system.dependencies[0].service"]);
    let err = create(&mut admin, "x", depends_on(system("soliq", "X"), "x"))
        .await
        .unwrap_err();
    assert_eq!(violated(&err), ["system.dependencies[0].system"]);

    let err = create(&mut admin, "dup", system("soliq", "provider"))
        .await
        .unwrap_err();
    assert_error(&err, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
    assert_eq!(
        err.get_details_error_info().unwrap().metadata["field"],
        "short_name"
    );
    let err = create(&mut admin, "provider", system("soliq", "OTHER"))
        .await
        .unwrap_err();
    assert_error(&err, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn only_the_owners_editors_and_admins_write_a_system() {
    let (mut app, mut admin, mut editor) = setup().await;
    organization(&mut app, "minfin", "200000002").await;
    let (_, foreign) = app.create_token(Some("minfin"), &[Role::Editor]).await;
    let (_, reader) = app.create_token(Some("soliq"), &[Role::Reader]).await;
    let mut foreign = client(&app, &foreign);
    let mut reader = client(&app, &reader);

    let err = create(&mut foreign, "x", system("soliq", "X"))
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = create(&mut reader, "x", system("soliq", "X"))
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "PERMISSION_DENIED");

    let created = create(&mut editor, "x", system("soliq", "X"))
        .await
        .unwrap();
    let mut change = created.clone();
    change.purpose = "Changed".into();
    let err = foreign
        .update_system(UpdateSystemRequest {
            system: Some(change.clone()),
            update_mask: Some(FieldMask {
                paths: vec!["purpose".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    // An editor cannot give its system away to an organisation it does not edit.
    let mut give_away = created.clone();
    give_away.owner = "organizations/minfin".into();
    let err = editor
        .update_system(UpdateSystemRequest {
            system: Some(give_away),
            update_mask: Some(FieldMask {
                paths: vec!["owner".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    // Forbidden before existence: a reader learns nothing from a missing system.
    let err = reader
        .delete_system(DeleteSystemRequest {
            name: "systems/nothing".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = transition(&mut foreign, "x", State::InDevelopment, false)
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "PERMISSION_DENIED");

    editor
        .update_system(UpdateSystemRequest {
            system: Some(change),
            update_mask: Some(FieldMask {
                paths: vec!["purpose".into()],
            }),
        })
        .await
        .unwrap();
    admin
        .get_system(GetSystemRequest {
            name: "systems/x".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Every authenticated role reads.
    reader
        .list_systems(ListSystemsRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_lifecycle_moves_only_along_its_transitions() {
    let (_app, _admin, mut editor) = setup().await;
    create(&mut editor, "x", system("soliq", "X"))
        .await
        .unwrap();
    let err = transition(&mut editor, "x", State::InOperation, false)
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    assert_eq!(
        err.get_details_error_info().unwrap().metadata["allowed_states"],
        "IN_DEVELOPMENT,DECOMMISSIONED"
    );

    for next in [
        State::InDevelopment,
        State::Pilot,
        State::InOperation,
        State::Suspended,
        State::InOperation,
        State::Decommissioned,
    ] {
        let s = transition(&mut editor, "x", next, false).await.unwrap();
        assert_eq!(s.state, next as i32);
    }
    let err = transition(&mut editor, "x", State::InOperation, false)
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    assert_eq!(
        err.get_details_error_info().unwrap().metadata["allowed_states"],
        ""
    );
    let err = transition(&mut editor, "x", State::Unspecified, false)
        .await
        .unwrap_err();
    assert_eq!(violated(&err), ["state"]);
}

#[tokio::test]
async fn decommissioning_a_system_others_depend_on_needs_an_admins_force() {
    let (mut app, mut admin, mut editor) = setup().await;
    create(&mut editor, "provider", system("soliq", "PROVIDER"))
        .await
        .unwrap();
    create(
        &mut editor,
        "consumer",
        depends_on(system("soliq", "CONSUMER"), "provider"),
    )
    .await
    .unwrap();

    let err = transition(&mut editor, "provider", State::Decommissioned, false)
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "RESOURCE_IN_USE");
    assert_eq!(
        err.get_details_error_info().unwrap().metadata["referenced_by"],
        "systems/consumer"
    );
    let err = transition(&mut editor, "provider", State::Decommissioned, true)
        .await
        .unwrap_err();
    assert_error(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = editor
        .delete_system(DeleteSystemRequest {
            name: "systems/provider".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "RESOURCE_IN_USE");

    let forced = transition(&mut admin, "provider", State::Decommissioned, true)
        .await
        .unwrap();
    assert_eq!(forced.state, State::Decommissioned as i32);
    let events = app
        .audit
        .list_audit_events(ListAuditEventsRequest {
            filter: "resource = \"systems/provider\" AND method = \"/reestr.v1.InformationSystemService/TransitionSystemState\" AND outcome = \"OK\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 1);
    assert!(
        events[0]
            .changes
            .iter()
            .any(|c| c.field == "force" && c.new_value == "true"),
        "{:?}",
        events[0].changes
    );

    // A decommissioned consumer no longer holds its provider.
    create(&mut editor, "p2", system("soliq", "P2"))
        .await
        .unwrap();
    create(&mut editor, "c2", depends_on(system("soliq", "C2"), "p2"))
        .await
        .unwrap();
    transition(&mut editor, "c2", State::Decommissioned, false)
        .await
        .unwrap();
    transition(&mut editor, "p2", State::Decommissioned, false)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_change_is_a_revision_readable_by_number_and_as_of() {
    let (app, mut admin, mut editor) = setup().await;
    let v1 = create(&mut editor, "x", system("soliq", "X"))
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(1));
    let mut change = v1.clone();
    change.purpose = "Second purpose".into();
    let v2 = editor
        .update_system(UpdateSystemRequest {
            system: Some(change),
            update_mask: Some(FieldMask {
                paths: vec!["purpose".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    app.clock.advance(Duration::from_secs(1));
    let v3 = transition(&mut editor, "x", State::InDevelopment, false)
        .await
        .unwrap();
    assert_eq!((v2.revision, v3.revision), (2, 3));

    let revisions = admin
        .list_system_revisions(ListSystemRevisionsRequest {
            name: "systems/x".into(),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let numbers: Vec<i64> = revisions.revisions.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [3, 2]);
    assert_eq!(revisions.revisions[0].changed_fields, ["state"]);
    assert_eq!(revisions.revisions[0].reason, "test");
    assert_eq!(revisions.revisions[1].changed_fields, ["purpose"]);
    assert!(revisions.revisions[1].caller.starts_with("tokens/"));
    let rest = admin
        .list_system_revisions(ListSystemRevisionsRequest {
            name: "systems/x".into(),
            page_size: 2,
            page_token: revisions.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.revisions.len(), 1);
    assert_eq!(rest.revisions[0].revision, 1);
    assert!(rest.next_page_token.is_empty());
    // Revision 1 names the fields the create set, and no field it left empty.
    let mut first: Vec<&str> = rest.revisions[0]
        .changed_fields
        .iter()
        .map(String::as_str)
        .collect();
    first.sort_unstable();
    assert_eq!(first, FIELDS_OF_A_NEW_SYSTEM, "{:?}", rest.revisions[0]);

    let r1 = admin
        .get_system(GetSystemRequest {
            name: "systems/x".into(),
            revision: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r1, v1);
    let between = v2.update_time.unwrap();
    let as_of = admin
        .get_system(GetSystemRequest {
            name: "systems/x".into(),
            as_of: Some(between),
            revision: 0,
            label_language: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(as_of.purpose, "Second purpose");
    assert_eq!(as_of.state, State::Planned as i32);
    assert_eq!(as_of.revision, 2);
    let before = prost_types::Timestamp {
        seconds: v1.create_time.unwrap().seconds - 60,
        nanos: 0,
    };
    let err = admin
        .get_system(GetSystemRequest {
            name: "systems/x".into(),
            as_of: Some(before),
            revision: 0,
            label_language: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    // The metadata names the resource, with no prose around it.
    assert_eq!(
        err.get_details_error_info().unwrap().metadata["resource"],
        "systems/x"
    );
    let err = admin
        .get_system(GetSystemRequest {
            name: "systems/x".into(),
            revision: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err = admin
        .get_system(GetSystemRequest {
            name: "systems/x".into(),
            as_of: Some(between),
            revision: 1,
            label_language: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated(&err), ["as_of"]);
}

async fn update(
    c: &mut Client,
    system: InformationSystem,
    paths: &[&str],
) -> Result<InformationSystem, Status> {
    c.update_system(UpdateSystemRequest {
        system: Some(system),
        update_mask: (!paths.is_empty()).then(|| FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
    })
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn sub_message_paths_change_only_their_field() {
    let (_app, _admin, mut editor) = setup().await;
    let mut s = system("soliq", "X");
    s.security = Some(SecurityProfile {
        confidentiality: SecurityLevel::High as i32,
        integrity: SecurityLevel::Low as i32,
        data_categories: vec!["taxpayers".into()],
        ..Default::default()
    });
    s.hosting = Some(Hosting {
        kind: hosting::Kind::Cloud as i32,
        provider: "UZINFOCOM".into(),
        location: "Tashkent".into(),
    });
    s.contacts = Some(Contacts {
        email: "it@soliq.uz".into(),
        phone: "+998712000000".into(),
        website: String::new(),
    });
    let created = create(&mut editor, "x", s).await.unwrap();

    // A masked sub-field changes, its siblings stay; an empty one masked is cleared.
    let mut change = created.clone();
    change.security = Some(SecurityProfile {
        integrity: SecurityLevel::Medium as i32,
        ..Default::default()
    });
    change.contacts = None;
    let updated = update(
        &mut editor,
        change,
        &["security.integrity", "contacts.phone"],
    )
    .await
    .unwrap();
    let security = updated.security.clone().unwrap();
    assert_eq!(security.integrity, SecurityLevel::Medium as i32);
    assert_eq!(security.confidentiality, SecurityLevel::High as i32);
    assert_eq!(security.data_categories, ["taxpayers"]);
    let contacts = updated.contacts.clone().unwrap();
    assert_eq!(contacts.email, "it@soliq.uz");
    assert_eq!(contacts.phone, "", "masked and empty: cleared");
    assert_eq!(updated.hosting, created.hosting);

    // The message's path stands for all of its fields.
    let mut change = updated.clone();
    change.hosting = Some(Hosting {
        kind: hosting::Kind::OnPremises as i32,
        ..Default::default()
    });
    let updated = update(&mut editor, change, &["hosting"]).await.unwrap();
    assert_eq!(
        updated.hosting,
        Some(Hosting {
            kind: hosting::Kind::OnPremises as i32,
            ..Default::default()
        })
    );

    // Without a mask, the fields set change, field by field inside a message.
    let updated = update(
        &mut editor,
        InformationSystem {
            name: "systems/x".into(),
            hosting: Some(Hosting {
                location: "Samarkand".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        &[],
    )
    .await
    .unwrap();
    let hosting = updated.hosting.clone().unwrap();
    assert_eq!(hosting.location, "Samarkand");
    assert_eq!(hosting.kind, hosting::Kind::OnPremises as i32);
    assert_eq!(updated.security, Some(security));
    assert_eq!(updated.short_name, "X");
}

#[tokio::test]
async fn output_only_fields_cannot_be_updated_and_stale_etags_abort() {
    let (_app, _admin, mut editor) = setup().await;
    let created = create(&mut editor, "x", system("soliq", "X"))
        .await
        .unwrap();
    for (path, problem) in [
        ("name", "is output only and cannot be updated"),
        ("state", "is output only and cannot be updated"),
        (
            "registration_number",
            "is output only and cannot be updated",
        ),
        ("revision", "is output only and cannot be updated"),
        ("create_time", "is output only and cannot be updated"),
        ("etag", "is output only and cannot be updated"),
        ("colour", "is not a field of InformationSystem"),
        ("security.colour", "is not a field of InformationSystem"),
        ("labels.env", "is not a field of InformationSystem"),
        (
            "provided_services.name",
            "is not a field of InformationSystem",
        ),
    ] {
        // Alone, and beside `*` and a valid path: every path is checked.
        for paths in [&[path][..], &["*", "purpose", path][..]] {
            let err = editor
                .update_system(UpdateSystemRequest {
                    system: Some(created.clone()),
                    update_mask: Some(FieldMask {
                        paths: paths.iter().map(|p| p.to_string()).collect(),
                    }),
                })
                .await
                .unwrap_err();
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
    transition(&mut editor, "x", State::InDevelopment, false)
        .await
        .unwrap();
    let err = editor
        .update_system(UpdateSystemRequest {
            system: Some(created),
            update_mask: Some(FieldMask {
                paths: vec!["purpose".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::Aborted, "ETAG_MISMATCH");
}

#[tokio::test]
async fn dependents_are_found_transitively_and_the_graph_goes_both_ways() {
    let (_app, mut admin, mut editor) = setup().await;
    // core <- a <- b <- c ; core <- d ; core -> base
    create(&mut editor, "base", system("soliq", "BASE"))
        .await
        .unwrap();
    create(
        &mut editor,
        "core",
        depends_on(system("soliq", "CORE"), "base"),
    )
    .await
    .unwrap();
    create(&mut editor, "a", depends_on(system("soliq", "A"), "core"))
        .await
        .unwrap();
    create(&mut editor, "b", depends_on(system("soliq", "B"), "a"))
        .await
        .unwrap();
    create(&mut editor, "c", depends_on(system("soliq", "C"), "b"))
        .await
        .unwrap();
    create(&mut editor, "d", depends_on(system("soliq", "D"), "core"))
        .await
        .unwrap();

    let direct = admin
        .list_dependents(ListDependentsRequest {
            name: "systems/core".into(),
            depth: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .dependents;
    let names: Vec<_> = direct.iter().map(|d| d.system.as_str()).collect();
    assert_eq!(names, ["systems/a", "systems/d"]);
    assert_eq!(direct[0].services, ["api"]);
    assert_eq!(direct[0].via, "systems/core");

    let deep = admin
        .list_dependents(ListDependentsRequest {
            name: "systems/core".into(),
            depth: 3,
        })
        .await
        .unwrap()
        .into_inner()
        .dependents;
    let pairs: Vec<_> = deep
        .iter()
        .map(|d| (d.system.as_str(), d.distance, d.via.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("systems/a", 1, "systems/core"),
            ("systems/d", 1, "systems/core"),
            ("systems/b", 2, "systems/a"),
            ("systems/c", 3, "systems/b")
        ]
    );
    let err = admin
        .list_dependents(ListDependentsRequest {
            name: "systems/core".into(),
            depth: 11,
        })
        .await
        .unwrap_err();
    assert_eq!(violated(&err), ["depth"]);

    let graph = admin
        .get_dependency_graph(GetDependencyGraphRequest {
            name: "systems/core".into(),
            depth: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let nodes: Vec<_> = graph.nodes.iter().map(|n| n.system.as_str()).collect();
    assert_eq!(
        nodes,
        ["systems/a", "systems/base", "systems/core", "systems/d"]
    );
    let edges: Vec<_> = graph
        .edges
        .iter()
        .map(|e| (e.consumer.as_str(), e.provider.as_str()))
        .collect();
    assert_eq!(
        edges,
        [
            ("systems/a", "systems/core"),
            ("systems/core", "systems/base"),
            ("systems/d", "systems/core")
        ]
    );
}

#[tokio::test]
async fn list_filters_by_owner_state_personal_data_labels_and_text() {
    let (mut app, mut admin, _) = setup().await;
    organization(&mut app, "minfin", "200000002").await;
    let mut a = system("soliq", "E-SOLIQ");
    a.labels = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    a.security = Some(SecurityProfile {
        processes_personal_data: true,
        ..Default::default()
    });
    create(&mut admin, "a", a).await.unwrap();
    let mut b = system("minfin", "BUDGET");
    b.display_name = BTreeMap::from([("uz-Cyrl".to_string(), "Ғазна тизими".to_string())]);
    b.labels = BTreeMap::from([("env".to_string(), "test".to_string())]);
    create(&mut admin, "b", b).await.unwrap();
    create(&mut admin, "c", system("minfin", "REPORTS"))
        .await
        .unwrap();
    transition(&mut admin, "c", State::InDevelopment, false)
        .await
        .unwrap();

    let cases: &[(&str, &[&str])] = &[
        ("owner = \"organizations/minfin\"", &["b", "c"]),
        ("state = IN_DEVELOPMENT", &["c"]),
        ("state != IN_DEVELOPMENT", &["a", "b"]),
        ("personal_data = true", &["a"]),
        ("labels.env = \"prod\"", &["a"]),
        ("labels:env", &["a", "b"]),
        ("-labels:env", &["c"]),
        ("\"ҒАЗНА\"", &["b"]),
        ("\"e-soliq\"", &["a"]),
        ("short_name = \"budget\"", &["b"]),
        ("display_name:\"информационная\"", &["a", "c"]),
        (
            "owner = \"organizations/minfin\" AND NOT state = PLANNED",
            &["c"],
        ),
    ];
    for (filter, expected) in cases {
        let got: Vec<String> = admin
            .list_systems(ListSystemsRequest {
                filter: filter.to_string(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{filter}: {e:?}"))
            .into_inner()
            .systems
            .into_iter()
            .map(|s| s.name)
            .collect();
        let expected: Vec<String> = expected.iter().map(|n| format!("systems/{n}")).collect();
        assert_eq!(got, expected, "filter {filter}");
    }
    for bad in ["state = GONE", "colour = red", "owner = \"stat\""] {
        let err = admin
            .list_systems(ListSystemsRequest {
                filter: bad.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated(&err), ["filter"], "{bad}");
    }
}

#[tokio::test]
async fn statistics_count_the_live_register() {
    let (mut app, mut admin, _) = setup().await;
    organization(&mut app, "minfin", "200000002").await;
    let mut a = system("soliq", "A");
    a.security = Some(SecurityProfile {
        processes_personal_data: true,
        ..Default::default()
    });
    create(&mut admin, "a", a).await.unwrap();
    create(&mut admin, "b", system("soliq", "B")).await.unwrap();
    create(&mut admin, "c", system("minfin", "C"))
        .await
        .unwrap();
    create(&mut admin, "gone", system("minfin", "GONE"))
        .await
        .unwrap();
    admin
        .delete_system(DeleteSystemRequest {
            name: "systems/gone".into(),
            etag: String::new(),
        })
        .await
        .unwrap();
    transition(&mut admin, "c", State::InDevelopment, false)
        .await
        .unwrap();

    let s = admin
        .get_register_statistics(GetRegisterStatisticsRequest {})
        .await
        .unwrap()
        .into_inner();
    let map = |v: &[reestr::proto::v1::Count]| -> BTreeMap<String, i64> {
        v.iter().map(|c| (c.key.clone(), c.count)).collect()
    };
    assert_eq!(s.total, 3);
    assert_eq!(s.processing_personal_data, 1);
    assert_eq!(
        map(&s.by_state),
        BTreeMap::from([("IN_DEVELOPMENT".into(), 1), ("PLANNED".into(), 2)])
    );
    assert_eq!(
        map(&s.by_owner_kind),
        BTreeMap::from([("STATE_BODY".into(), 3)])
    );
    assert_eq!(
        map(&s.by_owner),
        BTreeMap::from([
            ("organizations/minfin".into(), 1),
            ("organizations/soliq".into(), 2)
        ])
    );
    assert_eq!(
        s.registrations_by_year.iter().map(|c| c.count).sum::<i64>(),
        3
    );
}

#[tokio::test]
async fn delete_and_undelete_are_soft() {
    let (_app, mut admin, mut editor) = setup().await;
    create(&mut editor, "x", system("soliq", "X"))
        .await
        .unwrap();
    let deleted = editor
        .delete_system(DeleteSystemRequest {
            name: "systems/x".into(),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.delete_time.is_some());
    assert!(
        admin
            .list_systems(ListSystemsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .systems
            .is_empty()
    );
    let shown = admin
        .list_systems(ListSystemsRequest {
            show_deleted: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.systems.len(), 1);
    let err = transition(&mut editor, "x", State::InDevelopment, false)
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "RESOURCE_DELETED");
    // Nothing may start depending on a deleted system.
    let err = create(&mut editor, "y", depends_on(system("soliq", "Y"), "x"))
        .await
        .unwrap_err();
    assert_eq!(violated(&err), ["system.dependencies[0].system"]);
    let restored = editor
        .undelete_system(UndeleteSystemRequest {
            name: "systems/x".into(),
            etag: deleted.etag,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(restored.delete_time.is_none());
    assert_eq!(restored.revision, 3);
    let err = editor
        .undelete_system(UndeleteSystemRequest {
            name: "systems/x".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&err, Code::FailedPrecondition, "RESOURCE_NOT_DELETED");
}

#[tokio::test]
async fn a_retried_request_id_registers_once() {
    let (_app, mut admin, _) = setup().await;
    let request = CreateSystemRequest {
        system: Some(system("soliq", "X")),
        system_id: "x".into(),
        request_id: "6c2f1c9e-8b0a-4c51-9a4e-0b7f3a2d6c11".into(),
    };
    let first = admin
        .create_system(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = admin.create_system(request).await.unwrap().into_inner();
    assert_eq!(first, again);
    assert_eq!(
        admin
            .list_systems(ListSystemsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .systems
            .len(),
        1
    );
}

#[tokio::test]
async fn sixteen_concurrent_updaters_with_etags_lose_no_update() {
    let (app, mut admin, _) = setup().await;
    let mut start = system("soliq", "X");
    start.purpose = "0".into();
    create(&mut admin, "x", start).await.unwrap();
    let workers = (0..16).map(|_| {
        let mut c = client(&app, &app.admin_secret);
        async move {
            loop {
                let current = c
                    .get_system(GetSystemRequest {
                        name: "systems/x".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let n: u32 = current.purpose.parse().unwrap();
                let mut next = current.clone();
                next.purpose = (n + 1).to_string();
                match c
                    .update_system(UpdateSystemRequest {
                        system: Some(next),
                        update_mask: Some(FieldMask {
                            paths: vec!["purpose".into()],
                        }),
                    })
                    .await
                {
                    Ok(_) => return,
                    Err(e) if e.code() == Code::Aborted => continue,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
    });
    join_all(workers).await;
    let last = admin
        .get_system(GetSystemRequest {
            name: "systems/x".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(last.purpose, "16");
    assert_eq!(last.revision, 17);
}

#[tokio::test]
async fn paging_a_filtered_list_of_10000_systems_with_writes_between_pages_neither_repeats_nor_skips()
 {
    let mut app = spawn_app_with(|c| c.database.sqlite_synchronous_full = false).await;
    organization(&mut app, "soliq", "200000001").await;
    let admin_secret = app.admin_secret.clone();
    let make = |range: std::ops::Range<u32>, prefix: &'static str| {
        let app_channel = app.channel();
        let secret = admin_secret.clone();
        async move {
            let ids: Vec<u32> = range.collect();
            for chunk in ids.chunks(32) {
                let calls = chunk.iter().map(|i| {
                    let mut c = InformationSystemServiceClient::with_interceptor(
                        app_channel.clone(),
                        crate::helpers::Bearer::new(Some(&secret)),
                    );
                    let mut s = system("soliq", &format!("{prefix}{i:05}"));
                    // Two in three systems carry the label the walk filters on.
                    if i % 3 != 0 {
                        s.labels = BTreeMap::from([("tier".to_string(), "gold".to_string())]);
                    }
                    let id = format!("{prefix}{i:05}");
                    async move { create(&mut c, &id, s).await.expect("create") }
                });
                join_all(calls).await;
            }
        }
    };
    make(0..10_000, "m").await;
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut round = 0;
    loop {
        let page = app
            .admin_systems()
            .list_systems(ListSystemsRequest {
                page_size: 250,
                page_token: token.clone(),
                filter: "labels.tier = \"gold\"".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.systems.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        // Writes between pages, sorting before and after the cursor.
        make(round * 3..round * 3 + 3, "a").await;
        make(round * 3..round * 3 + 3, "z").await;
        round += 1;
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a system was repeated");
    for i in (0..10_000u32).filter(|i| i % 3 != 0) {
        assert!(
            unique.contains(&format!("systems/m{i:05}")),
            "m{i:05} was skipped"
        );
    }
}

#[tokio::test]
async fn a_legal_basis_is_the_registers_one_legal_act_with_a_required_kind() {
    let (_app, _admin, mut editor) = setup().await;
    let act = |kind: LegalActKind| LegalAct {
        kind: kind as i32,
        number: "PQ-4699".into(),
        date: "2020-04-28".into(),
        title: "On measures for the digital economy".into(),
        url: String::new(),
    };
    let mut s = system("soliq", "X");
    s.legal_basis = vec![
        act(LegalActKind::PresidentialDecree),
        LegalAct {
            number: String::new(),
            ..act(LegalActKind::Law)
        },
    ];
    let created = create(&mut editor, "x", s.clone()).await.unwrap();
    assert_eq!(created.legal_basis, s.legal_basis);

    let mut bad = system("soliq", "Y");
    bad.legal_basis = vec![
        act(LegalActKind::Unspecified),
        LegalAct {
            kind: 99,
            date: "2020-02-30".into(),
            ..act(LegalActKind::Law)
        },
    ];
    let err = create(&mut editor, "y", bad).await.unwrap_err();
    assert_eq!(
        violated(&err),
        [
            "system.legal_basis[0].kind",
            "system.legal_basis[1].kind",
            "system.legal_basis[1].date",
        ]
    );
}

/// Updates `x`'s purpose to `purpose`, as `c`; returns the new revision.
async fn repurpose(c: &mut Client, purpose: &str) -> i64 {
    let current = c
        .get_system(GetSystemRequest {
            name: "systems/x".into(),
            ..Default::default()
        })
        .await
        .expect("get systems/x")
        .into_inner();
    c.update_system(UpdateSystemRequest {
        system: Some(InformationSystem {
            purpose: purpose.into(),
            ..current
        }),
        update_mask: Some(FieldMask {
            paths: vec!["purpose".into()],
        }),
    })
    .await
    .expect("update systems/x")
    .into_inner()
    .revision
}

#[tokio::test]
async fn paging_revisions_while_new_ones_are_recorded_neither_repeats_nor_skips() {
    let (app, mut admin, mut editor) = setup().await;
    create(&mut editor, "x", system("soliq", "X"))
        .await
        .unwrap();
    for i in 2..=7 {
        app.clock.advance(Duration::from_secs(1));
        assert_eq!(repurpose(&mut editor, &format!("Purpose {i}")).await, i);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = admin
            .list_system_revisions(ListSystemRevisionsRequest {
                name: "systems/x".into(),
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.revisions.len() <= 2);
        seen.extend(page.revisions.iter().map(|r| r.revision));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        // A newer revision sorts before every page still to come: the walk goes on from
        // where it was, without it.
        app.clock.advance(Duration::from_secs(1));
        repurpose(&mut editor, &format!("Between pages {pages}")).await;
    }
    assert_eq!(seen, [7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(pages, 4);

    // A token of this list is refused by another system's, and a tampered one anywhere.
    create(&mut editor, "y", system("soliq", "Y"))
        .await
        .unwrap();
    let first = admin
        .list_system_revisions(ListSystemRevisionsRequest {
            name: "systems/x".into(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    for (name, page_token) in [
        ("systems/y", first.next_page_token.clone()),
        ("systems/x", format!("{}A", first.next_page_token)),
    ] {
        let err = admin
            .list_system_revisions(ListSystemRevisionsRequest {
                name: name.into(),
                page_size: 1,
                page_token,
            })
            .await
            .unwrap_err();
        assert_eq!(violated(&err), ["page_token"], "{name}");
    }
    // Nor does another list take it.
    let err = app
        .audit_as(Some(&app.admin_secret))
        .list_audit_events(ListAuditEventsRequest {
            page_size: 1,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated(&err), ["page_token"]);
}
