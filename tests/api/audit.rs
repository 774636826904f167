//! The audit trail: one event per mutating call, written with the change or not at all,
//! append-only in the database, hash-chained, and readable through AuditService.

use futures::future::join_all;
use prost_types::FieldMask;
use reestr::proto::v1::{
    AuditEvent, CreateOrganizationRequest, DeleteOrganizationRequest, FieldChange,
    GetOrganizationRequest, GetTokenRequest, ListAuditEventsRequest, ListOrganizationsRequest,
    ListTokensRequest, Organization, RevokeTokenRequest, Role, UndeleteOrganizationRequest,
    UpdateOrganizationRequest, VerifyAuditChainRequest, VerifyAuditChainResponse,
};
use tonic::{Code, Status};

use crate::helpers::{TestApp, bad_request_fields, organization, spawn_app};

const CREATE: &str = "/reestr.v1.OrganizationService/CreateOrganization";
const UPDATE: &str = "/reestr.v1.OrganizationService/UpdateOrganization";
const DELETE: &str = "/reestr.v1.OrganizationService/DeleteOrganization";
const UNDELETE: &str = "/reestr.v1.OrganizationService/UndeleteOrganization";
const CREATE_TOKEN: &str = "/reestr.v1.TokenService/CreateToken";
const REVOKE_TOKEN: &str = "/reestr.v1.TokenService/RevokeToken";

async fn list_page(
    app: &mut TestApp,
    request: ListAuditEventsRequest,
) -> Result<(Vec<AuditEvent>, String), Status> {
    app.audit.list_audit_events(request).await.map(|r| {
        let r = r.into_inner();
        (r.events, r.next_page_token)
    })
}

/// Every event matching `filter` in `order_by` order, read in pages of `page_size`.
async fn list_all(
    app: &mut TestApp,
    filter: &str,
    order_by: &str,
    page_size: i32,
) -> Vec<AuditEvent> {
    let mut request = ListAuditEventsRequest {
        page_size,
        page_token: String::new(),
        filter: filter.to_string(),
        order_by: order_by.to_string(),
    };
    let mut all = Vec::new();
    loop {
        let (events, next) = list_page(app, request.clone())
            .await
            .unwrap_or_else(|e| panic!("list {filter:?}: {e:?}"));
        assert!(events.len() <= page_size as usize);
        all.extend(events);
        if next.is_empty() {
            return all;
        }
        request.page_token = next;
    }
}

/// Every event matching `filter`, oldest first.
async fn events(app: &mut TestApp, filter: &str) -> Vec<AuditEvent> {
    list_all(app, filter, "", 1000).await
}

/// The newest event.
async fn latest(app: &mut TestApp) -> AuditEvent {
    let (mut events, _) = list_page(
        app,
        ListAuditEventsRequest {
            page_size: 1,
            order_by: "sequence desc".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    events.pop().expect("at least one event")
}

/// Asserts that exactly one event was written since the trail held `before` events, and
/// returns it.
async fn the_one_new_event(app: &mut TestApp, before: i64) -> AuditEvent {
    assert_eq!(
        app.audit_event_count().await,
        before + 1,
        "exactly one event"
    );
    let event = latest(app).await;
    assert_eq!(event.sequence, before + 1, "{event:?}");
    event
}

async fn verify(app: &mut TestApp) -> VerifyAuditChainResponse {
    app.audit
        .verify_audit_chain(VerifyAuditChainRequest {})
        .await
        .expect("verify")
        .into_inner()
}

fn change(field: &str, old: &str, new: &str) -> FieldChange {
    FieldChange {
        field: field.into(),
        old_value: old.into(),
        new_value: new.into(),
    }
}

fn create_request(id: &str, tin: &str) -> CreateOrganizationRequest {
    CreateOrganizationRequest {
        organization: Some(organization(tin)),
        organization_id: id.into(),
        request_id: String::new(),
    }
}

fn tin_update(name: &str, tin: &str) -> UpdateOrganizationRequest {
    UpdateOrganizationRequest {
        organization: Some(Organization {
            name: name.into(),
            tin: tin.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["tin".into()],
        }),
    }
}

fn by_name(name: &str) -> DeleteOrganizationRequest {
    DeleteOrganizationRequest {
        name: name.into(),
        etag: String::new(),
    }
}

#[tokio::test]
async fn every_mutating_rpc_writes_exactly_one_event_with_its_changes() {
    let mut app = spawn_app().await;
    let admin = app.admin_token_name().await;

    // CreateOrganization, with a request_id.
    let before = app.audit_event_count().await;
    let request_id = uuid::Uuid::new_v4().to_string();
    app.organizations
        .create_organization(CreateOrganizationRequest {
            request_id: request_id.clone(),
            ..create_request("stat", "201234567")
        })
        .await
        .unwrap();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!(e.caller, admin);
    assert_eq!(
        e.organization, "",
        "the administrator acts for no organisation"
    );
    assert_eq!(e.method, CREATE);
    assert_eq!(e.resource, "organizations/stat");
    assert_eq!(e.request_id, request_id);
    assert_eq!(e.outcome, "OK");
    assert_eq!(e.reason, "");
    assert!(e.event_time.is_some());
    assert_eq!(e.hash.len(), 64);
    assert!(
        e.changes.contains(&change("tin", "", "201234567")),
        "{:?}",
        e.changes
    );
    assert!(e.changes.iter().all(|c| c.old_value.is_empty()));

    // UpdateOrganization: only the changed field, old and new.
    let before = app.audit_event_count().await;
    app.organizations
        .update_organization(tin_update("organizations/stat", "209999999"))
        .await
        .unwrap();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!(
        (e.method.as_str(), e.resource.as_str(), e.outcome.as_str()),
        (UPDATE, "organizations/stat", "OK")
    );
    assert_eq!(e.request_id, "");
    assert_eq!(e.changes, [change("tin", "201234567", "209999999")]);

    // DeleteOrganization and UndeleteOrganization: the delete time comes and goes.
    let before = app.audit_event_count().await;
    app.organizations
        .delete_organization(by_name("organizations/stat"))
        .await
        .unwrap();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!((e.method.as_str(), e.outcome.as_str()), (DELETE, "OK"));
    let [deleted] = e.changes.as_slice() else {
        panic!("one change: {:?}", e.changes)
    };
    assert_eq!(
        (deleted.field.as_str(), deleted.old_value.as_str()),
        ("delete_time", "")
    );
    assert!(!deleted.new_value.is_empty());
    let before = app.audit_event_count().await;
    app.organizations
        .undelete_organization(UndeleteOrganizationRequest {
            name: "organizations/stat".into(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!((e.method.as_str(), e.outcome.as_str()), (UNDELETE, "OK"));
    assert_eq!(e.changes, [change("delete_time", &deleted.new_value, "")]);

    // CreateToken: the token's fields, never its secret.
    let before = app.audit_event_count().await;
    let created = app
        .tokens
        .create_token(reestr::proto::v1::CreateTokenRequest {
            token: Some(reestr::proto::v1::Token {
                organization: "organizations/stat".into(),
                roles: vec![Role::Editor as i32],
                display_name: "stat.uz publisher".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let token_name = created.token.unwrap().name;
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!(
        (
            e.caller.as_str(),
            e.method.as_str(),
            e.resource.as_str(),
            e.outcome.as_str()
        ),
        (admin.as_str(), CREATE_TOKEN, token_name.as_str(), "OK")
    );
    assert!(e.changes.contains(&change("roles", "", "EDITOR")));
    assert!(
        e.changes
            .contains(&change("organization", "", "organizations/stat"))
    );
    assert!(
        e.changes
            .iter()
            .all(|c| !c.new_value.contains(&created.secret)),
        "the secret is not in the trail"
    );

    // RevokeToken.
    let before = app.audit_event_count().await;
    app.tokens
        .revoke_token(RevokeTokenRequest {
            name: token_name.clone(),
        })
        .await
        .unwrap();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!(
        (e.method.as_str(), e.resource.as_str(), e.outcome.as_str()),
        (REVOKE_TOKEN, token_name.as_str(), "OK")
    );
    assert_eq!(e.changes.len(), 1);
    assert_eq!(e.changes[0].field, "revoke_time");

    // Reads write nothing.
    let before = app.audit_event_count().await;
    app.organizations
        .get_organization(GetOrganizationRequest {
            name: "organizations/stat".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    app.organizations
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .unwrap();
    app.tokens
        .get_token(GetTokenRequest { name: token_name })
        .await
        .unwrap();
    app.tokens
        .list_tokens(ListTokensRequest::default())
        .await
        .unwrap();
    events(&mut app, "").await;
    verify(&mut app).await;
    assert_eq!(
        app.audit_event_count().await,
        before,
        "reads are not recorded"
    );
}

#[tokio::test]
async fn refused_and_failed_attempts_are_recorded_with_their_outcome() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let (editor_name, editor) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let (revoked_name, revoked) = app.create_token(Some("stat"), &[Role::Reader]).await;
    app.tokens
        .revoke_token(RevokeTokenRequest { name: revoked_name })
        .await
        .unwrap();

    // An editor creating an organisation: refused, recorded as its attempt.
    let before = app.audit_event_count().await;
    app.organizations_as(Some(&editor))
        .create_organization(create_request("minfin", "301234567"))
        .await
        .unwrap_err();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!(e.caller, editor_name);
    assert_eq!(e.organization, "organizations/stat");
    assert_eq!(e.method, CREATE);
    assert_eq!(e.resource, "organizations/minfin");
    assert_eq!(e.outcome, "PERMISSION_DENIED");
    assert_eq!(e.reason, "PERMISSION_DENIED");
    assert!(e.changes.is_empty());

    // Without credentials.
    let before = app.audit_event_count().await;
    app.organizations_as(None)
        .update_organization(tin_update("organizations/stat", "209999999"))
        .await
        .unwrap_err();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!(
        (
            e.caller.as_str(),
            e.organization.as_str(),
            e.method.as_str(),
            e.resource.as_str()
        ),
        ("anonymous", "", UPDATE, "organizations/stat")
    );
    assert_eq!(
        (e.outcome.as_str(), e.reason.as_str()),
        ("UNAUTHENTICATED", "CREDENTIALS_REQUIRED")
    );

    // With a revoked token.
    let before = app.audit_event_count().await;
    app.organizations_as(Some(&revoked))
        .delete_organization(by_name("organizations/stat"))
        .await
        .unwrap_err();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!(
        (e.method.as_str(), e.outcome.as_str(), e.reason.as_str()),
        (DELETE, "UNAUTHENTICATED", "TOKEN_REVOKED")
    );

    // The administrator's failures: invalid, duplicate, missing.
    let admin = app.admin_token_name().await;
    let failures = [
        (
            create_request("minfin", "123"),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        ),
        (
            create_request("stat", "301234567"),
            "ALREADY_EXISTS",
            "RESOURCE_ALREADY_EXISTS",
        ),
    ];
    for (request, outcome, reason) in failures {
        let before = app.audit_event_count().await;
        let resource = format!("organizations/{}", request.organization_id);
        app.organizations
            .create_organization(request)
            .await
            .unwrap_err();
        let e = the_one_new_event(&mut app, before).await;
        assert_eq!(e.caller, admin);
        assert_eq!(e.resource, resource);
        assert_eq!((e.outcome.as_str(), e.reason.as_str()), (outcome, reason));
        assert!(e.changes.is_empty());
    }
    let before = app.audit_event_count().await;
    app.organizations
        .delete_organization(by_name("organizations/nobody"))
        .await
        .unwrap_err();
    let e = the_one_new_event(&mut app, before).await;
    assert_eq!(
        (e.resource.as_str(), e.outcome.as_str(), e.reason.as_str()),
        ("organizations/nobody", "NOT_FOUND", "RESOURCE_NOT_FOUND")
    );

    // A refused read is not a mutation: nothing recorded.
    let before = app.audit_event_count().await;
    app.tokens_as(Some(&editor))
        .list_tokens(ListTokensRequest::default())
        .await
        .unwrap_err();
    assert_eq!(app.audit_event_count().await, before);
    assert!(verify(&mut app).await.intact);
}

#[tokio::test]
async fn refused_calls_with_huge_names_get_their_status_and_one_event_with_bounded_names() {
    // The longest resource name and request id an event stores (the columns' lengths).
    const MAX_RESOURCE_CHARS: usize = 400;
    const MAX_REQUEST_ID_CHARS: usize = 36;
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let (_, editor) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let huge = "ж".repeat(50 * 1024); // 100 KiB of two-byte characters
    let huge_name = format!("organizations/{huge}");

    /// Asserts one new event whose names are cut to their maximum on a character boundary.
    async fn assert_bounded_event(app: &mut TestApp, before: i64, requested: &str) {
        let e = the_one_new_event(app, before).await;
        let kept = e.resource.trim_end_matches('…');
        assert!(
            e.resource.chars().count() <= MAX_RESOURCE_CHARS,
            "{}",
            e.resource.len()
        );
        assert!(
            kept.len() > 100 && requested.starts_with(kept),
            "{}",
            e.resource
        );
        assert!(
            e.request_id.chars().count() <= MAX_REQUEST_ID_CHARS,
            "{e:?}"
        );
        assert!(verify(app).await.intact);
    }

    let before = app.audit_event_count().await;
    let err = app
        .organizations_as(None)
        .create_organization(create_request(&huge, "301234567"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_bounded_event(&mut app, before, &huge_name).await;

    let before = app.audit_event_count().await;
    let mut request = create_request(&huge, "301234567");
    request.request_id = huge.clone();
    let err = app
        .organizations_as(Some(&editor))
        .create_organization(request)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_bounded_event(&mut app, before, &huge_name).await;

    let before = app.audit_event_count().await;
    let err = app
        .organizations
        .delete_organization(by_name(&huge_name))
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["name"]);
    assert!(err.message().len() <= 1024, "{}", err.message().len());
    assert_bounded_event(&mut app, before, &huge_name).await;
}

/// Makes every audit insert for `organizations/doomed` fail inside the database.
async fn doom_audit_inserts(app: &TestApp) {
    let statements: &[&str] = if app.is_postgres() {
        &[
            "CREATE OR REPLACE FUNCTION audit_events_doomed() RETURNS trigger LANGUAGE plpgsql \
             AS $$ BEGIN RAISE EXCEPTION 'forced'; END $$",
            "CREATE TRIGGER audit_events_doomed BEFORE INSERT ON audit_events FOR EACH ROW \
             WHEN (NEW.resource = 'organizations/doomed') EXECUTE FUNCTION audit_events_doomed()",
        ]
    } else {
        &[
            "CREATE TRIGGER audit_events_doomed BEFORE INSERT ON audit_events \
           WHEN NEW.resource = 'organizations/doomed' BEGIN SELECT RAISE(ABORT, 'forced'); END",
        ]
    };
    for sql in statements {
        app.execute_sql(sql).await.expect("install the trigger");
    }
}

async fn spare_audit_inserts(app: &TestApp) {
    let sql = if app.is_postgres() {
        "DROP TRIGGER audit_events_doomed ON audit_events"
    } else {
        "DROP TRIGGER audit_events_doomed"
    };
    app.execute_sql(sql).await.expect("drop the trigger");
}

#[tokio::test]
async fn a_change_and_its_audit_event_commit_or_roll_back_together() {
    let mut app = spawn_app().await;
    doom_audit_inserts(&app).await;

    // The create's own insert succeeds, its event's insert fails: neither remains.
    let before = app.audit_event_count().await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let doomed = CreateOrganizationRequest {
        request_id: request_id.clone(),
        ..create_request("doomed", "201234567")
    };
    let err = app
        .organizations
        .create_organization(doomed.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    let err = app
        .organizations
        .get_organization(GetOrganizationRequest {
            name: "organizations/doomed".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "the organisation was rolled back"
    );
    assert_eq!(app.audit_event_count().await, before);

    // Other changes go through.
    app.create_organization("spared", "301234567").await;
    assert_eq!(app.audit_event_count().await, before + 1);

    // Without the trigger, the very same request creates it afresh: neither its TIN nor its
    // request_id was kept by the failed attempt.
    spare_audit_inserts(&app).await;
    let created = app
        .organizations
        .create_organization(doomed)
        .await
        .expect("created once the audit insert works")
        .into_inner();
    assert_eq!(created.tin, "201234567");
    let e = latest(&mut app).await;
    assert_eq!(
        (
            e.resource.as_str(),
            e.request_id.as_str(),
            e.outcome.as_str()
        ),
        ("organizations/doomed", request_id.as_str(), "OK")
    );

    // An update and a delete that cannot be audited leave the organisation as it was.
    doom_audit_inserts(&app).await;
    let before = app.audit_event_count().await;
    let err = app
        .organizations
        .update_organization(tin_update("organizations/doomed", "409999999"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    let err = app
        .organizations
        .delete_organization(by_name("organizations/doomed"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    let now = app
        .organizations
        .get_organization(GetOrganizationRequest {
            name: "organizations/doomed".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now, created, "unchanged: same TIN, etag, no delete time");
    assert_eq!(app.audit_event_count().await, before);

    let report = verify(&mut app).await;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.verified_events, app.audit_event_count().await);
}

/// Removes the trigger that refuses UPDATE (and, on PostgreSQL, DELETE) of audit events, as an
/// intruder with database access could.
async fn drop_append_only_guard(app: &TestApp) {
    let sql = if app.is_postgres() {
        "DROP TRIGGER audit_events_no_update_delete ON audit_events"
    } else {
        "DROP TRIGGER audit_events_no_update"
    };
    app.execute_sql(sql).await.expect("drop the guard");
}

#[tokio::test]
async fn an_event_edited_by_hand_breaks_the_chain_at_its_sequence() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    app.create_organization("minfin", "301234567").await;
    app.organizations
        .update_organization(tin_update("organizations/stat", "209999999"))
        .await
        .unwrap();
    app.create_organization("soliq", "401234567").await;
    let count = app.audit_event_count().await;

    let report = verify(&mut app).await;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.verified_events, count);
    assert_eq!(report.first_broken_sequence, 0);
    assert_eq!(report.head_hash, latest(&mut app).await.hash);
    let run = app.run_cli(&["audit", "verify"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("intact"), "{run:?}");
    assert!(run.stdout.contains(&report.head_hash), "{run:?}");

    let update = events(&mut app, &format!("method = \"{UPDATE}\"")).await;
    let [update] = update.as_slice() else {
        panic!("one update event: {update:?}")
    };
    let edited = update.sequence;
    assert!(edited > 1 && edited < count, "an event in the middle");

    drop_append_only_guard(&app).await;
    app.execute_sql(&format!(
        "UPDATE audit_events SET caller = 'tokens/someone-else' WHERE sequence = {edited}"
    ))
    .await
    .expect("without the guard, the row can be edited");

    let report = verify(&mut app).await;
    assert!(!report.intact, "{report:?}");
    assert_eq!(report.first_broken_sequence, edited);
    assert_eq!(report.verified_events, edited - 1);
    let run = app.run_cli(&["audit", "verify"]).await;
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains(&format!("sequence {edited} ")),
        "names the sequence: {run:?}"
    );

    // Later events still list; the edit is visible, and so is where the chain breaks.
    let listed = events(&mut app, "caller = \"tokens/someone-else\"").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sequence, edited);
}

#[tokio::test]
async fn a_hash_recomputed_by_hand_is_caught_at_the_next_event() {
    // Someone who edits an event and fixes its hash to match must fix every later hash too:
    // the chain breaks at the next event. (Editing the last event and its hash is detected only
    // against a head hash recorded elsewhere, which VerifyAuditChain returns for that purpose.)
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    app.create_organization("minfin", "301234567").await;
    app.create_organization("soliq", "401234567").await;
    let all = events(&mut app, "").await;
    let target = &all[1];
    let forged = "0".repeat(63) + "1";
    drop_append_only_guard(&app).await;
    app.execute_sql(&format!(
        "UPDATE audit_events SET hash = '{forged}' WHERE sequence = {}",
        target.sequence
    ))
    .await
    .unwrap();
    let report = verify(&mut app).await;
    assert_eq!(report.first_broken_sequence, target.sequence);
    assert_eq!(report.verified_events, target.sequence - 1);
}

#[tokio::test]
async fn the_database_refuses_to_change_or_remove_audit_events() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    app.create_organization("minfin", "301234567").await;
    let count = app.audit_event_count().await;
    let mut statements = vec![
        "UPDATE audit_events SET caller = 'tokens/someone-else'".to_string(),
        format!("UPDATE audit_events SET outcome = 'OK' WHERE sequence = {count}"),
        "DELETE FROM audit_events".to_string(),
        format!("DELETE FROM audit_events WHERE sequence = {count}"),
    ];
    if app.is_postgres() {
        statements.push("TRUNCATE audit_events".into());
        statements.push("TRUNCATE audit_events CASCADE".into());
    }
    for sql in &statements {
        let err = app
            .execute_sql(sql)
            .await
            .expect_err(&format!("the database must refuse: {sql}"));
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(app.audit_event_count().await, count);
    let report = verify(&mut app).await;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.verified_events, count);
}

#[tokio::test]
async fn concurrent_creates_take_contiguous_sequences_in_one_intact_chain() {
    let mut app = spawn_app().await;
    let calls = (0..16).map(|i| {
        let mut client = app.admin_organizations();
        async move {
            client
                .create_organization(create_request(&format!("org-{i}"), &format!("5{i:08}")))
                .await
        }
    });
    for result in join_all(calls).await {
        result.expect("every concurrent create succeeds");
    }
    let all = events(&mut app, "").await;
    let count = app.audit_event_count().await;
    assert_eq!(all.len() as i64, count);
    let sequences: Vec<i64> = all.iter().map(|e| e.sequence).collect();
    assert_eq!(
        sequences,
        (1..=count).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
    for i in 0..16 {
        let resource = format!("organizations/org-{i}");
        let of_org: Vec<_> = all.iter().filter(|e| e.resource == resource).collect();
        assert_eq!(of_org.len(), 1, "{resource}");
        assert_eq!(of_org[0].outcome, "OK");
    }
    let report = verify(&mut app).await;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.verified_events, count);
}

#[tokio::test]
async fn list_audit_events_filters_orders_and_pages() {
    let mut app = spawn_app().await;
    let admin = app.admin_token_name().await;
    app.create_organization("stat", "201234567").await;
    app.create_organization("minfin", "301234567").await;
    let (editor_name, editor) = app.create_token(Some("stat"), &[Role::Editor]).await;
    app.organizations
        .update_organization(tin_update("organizations/stat", "209999999"))
        .await
        .unwrap();
    app.organizations_as(Some(&editor))
        .create_organization(create_request("soliq", "401234567"))
        .await
        .unwrap_err();
    let all = events(&mut app, "").await;
    let resources = |events: &[AuditEvent]| {
        events
            .iter()
            .map(|e| (e.resource.clone(), e.outcome.clone()))
            .collect::<Vec<_>>()
    };
    let pair = |r: &str, o: &str| (r.to_string(), o.to_string());

    let stat = events(&mut app, "resource = \"organizations/stat\"").await;
    assert_eq!(
        resources(&stat),
        [
            pair("organizations/stat", "OK"),
            pair("organizations/stat", "OK")
        ]
    );
    assert_eq!(
        stat.iter().map(|e| e.method.as_str()).collect::<Vec<_>>(),
        [CREATE, UPDATE]
    );
    let by_editor = events(&mut app, &format!("caller = \"{editor_name}\"")).await;
    assert_eq!(
        resources(&by_editor),
        [pair("organizations/soliq", "PERMISSION_DENIED")]
    );
    let denied = events(&mut app, "outcome = \"PERMISSION_DENIED\"").await;
    assert_eq!(denied, by_editor);
    let of_stat_callers = events(&mut app, "organization = \"organizations/stat\"").await;
    assert_eq!(of_stat_callers, by_editor);
    let creates = events(&mut app, &format!("method = \"{CREATE}\"")).await;
    assert_eq!(
        resources(&creates),
        [
            pair("organizations/stat", "OK"),
            pair("organizations/minfin", "OK"),
            pair("organizations/soliq", "PERMISSION_DENIED"),
        ]
    );
    let by_admin_ok = events(
        &mut app,
        &format!("caller = \"{admin}\" AND outcome = \"OK\" AND method = \"{CREATE}\""),
    )
    .await;
    assert_eq!(by_admin_ok.len(), 2);
    let either = events(
        &mut app,
        "resource = \"organizations/minfin\" OR resource = \"organizations/soliq\"",
    )
    .await;
    assert_eq!(either.len(), 2);

    // Time ranges, in RFC 3339.
    let update = &stat[1];
    let at = update.event_time.expect("event_time").to_string();
    assert!(at.ends_with('Z'), "{at}");
    let from_update = events(&mut app, &format!("event_time >= \"{at}\"")).await;
    let expected: Vec<_> = all
        .iter()
        .filter(|e| e.sequence >= update.sequence)
        .cloned()
        .collect();
    assert_eq!(from_update, expected);
    let before_update = events(&mut app, &format!("event_time < \"{at}\"")).await;
    assert_eq!(before_update.len() + from_update.len(), all.len());
    let window = events(
        &mut app,
        &format!("event_time >= \"{at}\" AND event_time <= \"{at}\""),
    )
    .await;
    assert!(window.contains(update));
    let future = events(&mut app, "event_time > \"2999-01-01T00:00:00Z\"").await;
    assert!(future.is_empty());

    // Order and pages.
    let newest_first = list_all(&mut app, "", "sequence desc", 1000).await;
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(newest_first, reversed);
    assert_eq!(list_all(&mut app, "", "sequence", 2).await, all);
    assert_eq!(list_all(&mut app, "", "sequence asc", 3).await, all);
    assert_eq!(list_all(&mut app, "", "sequence desc", 2).await, reversed);
    assert_eq!(
        list_all(
            &mut app,
            &format!("method = \"{CREATE}\""),
            "sequence desc",
            1
        )
        .await,
        creates.iter().rev().cloned().collect::<Vec<_>>()
    );

    // Bad requests.
    for (filter, order_by, page_size, field) in [
        ("colour = \"red\"", "", 0, "filter"),
        ("resource > \"organizations/stat\"", "", 0, "filter"),
        ("event_time >= \"yesterday\"", "", 0, "filter"),
        ("event_time = \"2026-01-01T00:00:00Z\"", "", 0, "filter"),
        ("resource = ", "", 0, "filter"),
        ("", "event_time", 0, "order_by"),
        ("", "sequence sideways", 0, "order_by"),
        ("", "", -1, "page_size"),
    ] {
        let err = list_page(
            &mut app,
            ListAuditEventsRequest {
                page_size,
                filter: filter.into(),
                order_by: order_by.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(bad_request_fields(&err), [field], "{filter:?} {order_by:?}");
    }
    let (_, next) = list_page(
        &mut app,
        ListAuditEventsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for (filter, order_by) in [("outcome = \"OK\"", ""), ("", "sequence desc")] {
        let err = list_page(
            &mut app,
            ListAuditEventsRequest {
                page_size: 1,
                page_token: next.clone(),
                filter: filter.into(),
                order_by: order_by.into(),
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            bad_request_fields(&err),
            ["page_token"],
            "a page token of another query: {filter:?} {order_by:?}"
        );
    }
}

#[tokio::test]
async fn paging_the_trail_while_calls_append_to_it_neither_repeats_nor_skips() {
    let mut app = spawn_app().await;
    for i in 0..6 {
        app.create_organization(&format!("org{i}"), &format!("20000000{i}"))
            .await;
    }
    let before: Vec<i64> = events(&mut app, "")
        .await
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert!(before.len() >= 6);
    for order_by in ["", "sequence desc"] {
        let mut request = ListAuditEventsRequest {
            page_size: 2,
            order_by: order_by.into(),
            ..Default::default()
        };
        let mut walked = Vec::new();
        let mut extra = 0;
        loop {
            let (page, next) = list_page(&mut app, request.clone()).await.unwrap();
            assert!(page.len() <= 2);
            walked.extend(page.iter().map(|e| e.sequence));
            if next.is_empty() {
                break;
            }
            request.page_token = next;
            // Every call appends an event after all there were.
            extra += 1;
            let n = extra * 100 + order_by.len();
            app.create_organization(&format!("x{n}"), &format!("3{n:08}"))
                .await;
        }
        if order_by.is_empty() {
            // Oldest first: the walk reads on into the events appended meanwhile.
            assert_eq!(walked[..before.len()], before[..], "{order_by:?}");
            assert!(walked.windows(2).all(|w| w[0] < w[1]), "{walked:?}");
        } else {
            // Newest first: the walk starts at the newest event then and goes down to the
            // first, never seeing those appended meanwhile.
            let first = walked[0];
            let expected: Vec<i64> = (1..=first).rev().collect();
            assert_eq!(walked, expected, "{order_by:?}");
        }
    }
}
