//! TokenService, the bootstrap token, `reestr token create`, and the per-caller rate limit.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reestr::proto::v1::{
    CreateOrganizationRequest, CreateTokenRequest, CreateTokenResponse, DeleteOrganizationRequest,
    GetOrganizationRequest, GetTokenRequest, ListAuditEventsRequest, ListOrganizationsRequest,
    ListTokensRequest, RateLimit as OwnRate, RevokeTokenRequest, Role, Token, UpdateTokenRequest,
};
use reestr::server::limits::RateLimit;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{
    Bearer, TestApp, assert_status, bad_request_fields, organization, spawn_app, spawn_app_with,
    spawn_app_with_manual_clock,
};

/// A token request for `organization` (`""`: none) with `roles`.
fn token(organization: &str, roles: &[Role]) -> Token {
    Token {
        organization: organization.to_string(),
        roles: roles.iter().map(|r| *r as i32).collect(),
        display_name: "soliq.uz integration".into(),
        ..Default::default()
    }
}

async fn create(app: &mut TestApp, token: Token) -> Result<CreateTokenResponse, Status> {
    app.tokens
        .create_token(CreateTokenRequest { token: Some(token) })
        .await
        .map(tonic::Response::into_inner)
}

async fn list(app: &mut TestApp, request: ListTokensRequest) -> Result<Vec<Token>, Status> {
    app.tokens
        .list_tokens(request)
        .await
        .map(|r| r.into_inner().tokens)
}

/// Every token, following `next_page_token` with pages of `page_size`.
async fn list_all(app: &mut TestApp, mut request: ListTokensRequest) -> Vec<Token> {
    let mut all = Vec::new();
    loop {
        let page = app
            .tokens
            .list_tokens(request.clone())
            .await
            .expect("list tokens")
            .into_inner();
        assert!(page.tokens.len() <= request.page_size as usize);
        all.extend(page.tokens);
        if page.next_page_token.is_empty() {
            return all;
        }
        request.page_token = page.next_page_token;
    }
}

/// Whether `secret` has the documented shape: `rst_` and 43 base64url characters.
fn is_secret(secret: &str) -> bool {
    secret.strip_prefix("rst_").is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whether the encoded message contains `secret` anywhere.
fn exposes(message: &impl prost::Message, secret: &str) -> bool {
    let bytes = message.encode_to_vec();
    bytes.windows(secret.len()).any(|w| w == secret.as_bytes())
}

#[tokio::test]
async fn create_returns_the_secret_once_and_get_and_list_never_show_it() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let admin_name = app.admin_token_name().await;
    let before = SystemTime::now();
    let response = create(
        &mut app,
        token("organizations/stat", &[Role::Editor, Role::Reader]),
    )
    .await
    .unwrap();
    assert!(is_secret(&response.secret), "{:?}", response.secret);
    let created = response.token.expect("the token");
    let id = created.name.strip_prefix("tokens/").expect("tokens/{id}");
    assert!(
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{id}"
    );
    assert_eq!(created.organization, "organizations/stat");
    assert_eq!(
        created.roles,
        [Role::Editor as i32, Role::Reader as i32],
        "roles as requested"
    );
    assert_eq!(created.display_name, "soliq.uz integration");
    assert_eq!(created.creator, admin_name);
    assert!(created.revoke_time.is_none());
    assert!(created.expire_time.is_none());
    let create_time = created.create_time.expect("create_time");
    let since_epoch = before.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((since_epoch - 1..=since_epoch + 60).contains(&create_time.seconds));

    let fetched = app
        .tokens
        .get_token(GetTokenRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);
    assert!(!exposes(&fetched, &response.secret));
    let listed = app
        .tokens
        .list_tokens(ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.tokens.contains(&created));
    assert!(!exposes(&listed, &response.secret));
    assert!(!exposes(&listed, &app.admin_secret));

    // Each create makes a new secret.
    let again = create(&mut app, token("organizations/stat", &[Role::Editor]))
        .await
        .unwrap();
    assert_ne!(again.secret, response.secret);
    assert_ne!(again.token.unwrap().name, created.name);
}

#[tokio::test]
async fn a_new_token_works_with_its_roles() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let (_, editor) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let mut as_editor = app.organizations_as(Some(&editor));
    let stat = as_editor
        .get_organization(GetOrganizationRequest {
            name: "organizations/stat".into(),
            ..Default::default()
        })
        .await
        .expect("an editor reads")
        .into_inner();
    assert_eq!(stat.tin, "201234567");
    let err = as_editor
        .create_organization(CreateOrganizationRequest {
            organization: Some(organization("301234567")),
            organization_id: "minfin".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = app
        .tokens_as(Some(&editor))
        .list_tokens(ListTokensRequest::default())
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");

    // A second operator token can do what the bootstrap token can.
    let (_, operator) = app.create_token(None, &[Role::RegistryAdmin]).await;
    app.organizations_as(Some(&operator))
        .create_organization(CreateOrganizationRequest {
            organization: Some(organization("301234567")),
            organization_id: "minfin".into(),
            request_id: String::new(),
        })
        .await
        .expect("an operator token creates organisations");
    let (_, reader) = app
        .tokens_as(Some(&operator))
        .create_token(CreateTokenRequest {
            token: Some(token("organizations/minfin", &[Role::Reader])),
        })
        .await
        .map(|r| {
            let r = r.into_inner();
            (r.token.unwrap().name, r.secret)
        })
        .expect("an operator token creates tokens");
    app.organizations_as(Some(&reader))
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("a reader lists");
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_and_cannot_be_revoked_again() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let (name, secret) = app.create_token(Some("stat"), &[Role::Reader]).await;
    let mut as_reader = app.organizations_as(Some(&secret));
    // A first call, so that the server has the token verified and cached.
    as_reader
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("valid before revocation");

    let revoked = app
        .tokens
        .revoke_token(RevokeTokenRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.name, name);
    assert!(revoked.revoke_time.is_some());

    let err = as_reader
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .unwrap_err();
    assert_status(&err, Code::Unauthenticated, "TOKEN_REVOKED");

    let err = app
        .tokens
        .revoke_token(RevokeTokenRequest { name: name.clone() })
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "RESOURCE_DELETED");

    let fetched = app
        .tokens
        .get_token(GetTokenRequest { name })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched.revoke_time, revoked.revoke_time);

    let err = app
        .tokens
        .revoke_token(RevokeTokenRequest {
            name: format!("tokens/{}", "a".repeat(32)),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err = app
        .tokens
        .revoke_token(RevokeTokenRequest {
            name: "tokens/A".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["name"]);
}

#[tokio::test]
async fn a_connection_that_called_with_a_token_is_refused_once_it_is_revoked_or_its_organisation_deleted()
 {
    // The reader has a connection of its own, on which the server remembers the token it
    // accepted; revocations and deletions arrive through the administrator's connection.
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    app.create_organization("soliq", "201234568").await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = |secret: &str| {
        reestr::proto::v1::organization_service_client::OrganizationServiceClient::with_interceptor(
            channel.clone(),
            Bearer::new(Some(secret)),
        )
    };
    let (name, secret) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let (_, other) = app
        .create_token(Some("soliq"), &[Role::RegistryAdmin])
        .await;
    let mut as_stat = client(&secret);
    for _ in 0..3 {
        as_stat
            .list_organizations(ListOrganizationsRequest::default())
            .await
            .expect("valid before revocation");
    }

    // A deleted organisation's tokens may only read: the remembered caller must not outlive
    // the deletion.
    let mut as_soliq = client(&other);
    as_soliq
        .get_organization(GetOrganizationRequest {
            name: "organizations/soliq".into(),
            ..Default::default()
        })
        .await
        .expect("reads");
    app.organizations
        .delete_organization(DeleteOrganizationRequest {
            name: "organizations/soliq".into(),
            ..Default::default()
        })
        .await
        .expect("deleted");
    let err = as_soliq
        .create_organization(CreateOrganizationRequest {
            organization: Some(organization("201234569")),
            organization_id: "other".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ORGANIZATION_DELETED");

    app.tokens
        .revoke_token(RevokeTokenRequest { name })
        .await
        .unwrap();
    let err = as_stat
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .unwrap_err();
    assert_status(&err, Code::Unauthenticated, "TOKEN_REVOKED");
}

#[tokio::test]
async fn a_revoked_administrator_token_cannot_revoke_or_do_anything_else() {
    let mut app = spawn_app().await;
    let (name, operator) = app.create_token(None, &[Role::RegistryAdmin]).await;
    let (victim, _) = app.create_token(None, &[Role::RegistryAdmin]).await;
    app.tokens
        .revoke_token(RevokeTokenRequest { name })
        .await
        .unwrap();
    let err = app
        .tokens_as(Some(&operator))
        .revoke_token(RevokeTokenRequest {
            name: victim.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::Unauthenticated, "TOKEN_REVOKED");
    let victim = app
        .tokens
        .get_token(GetTokenRequest { name: victim })
        .await
        .unwrap()
        .into_inner();
    assert!(victim.revoke_time.is_none());
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let mut app = spawn_app_with_manual_clock().await;
    let now = Duration::from_micros(app.clock.now().micros() as u64);
    let since_epoch = now + Duration::from_secs(60);
    let response = create(
        &mut app,
        Token {
            expire_time: Some(prost_types::Timestamp {
                seconds: since_epoch.as_secs() as i64,
                nanos: since_epoch.subsec_nanos() as i32,
            }),
            ..token("", &[Role::RegistryAdmin])
        },
    )
    .await
    .unwrap();
    let listed_expiry = response.token.unwrap().expire_time.unwrap();
    assert_eq!(listed_expiry.seconds, since_epoch.as_secs() as i64);
    let mut client = app.organizations_as(Some(&response.secret));
    client
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("valid before its expiry");
    app.clock.advance(Duration::from_secs(59));
    client
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("valid a second before its expiry");
    app.clock.advance(Duration::from_secs(1));
    let err = client
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .unwrap_err();
    assert_status(&err, Code::Unauthenticated, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn invalid_token_requests_are_invalid_argument_with_a_violation_per_field() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let past = prost_types::Timestamp {
        seconds: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 60,
        nanos: 0,
    };
    let cases: Vec<(&str, Token, Vec<&str>)> = vec![
        (
            "no roles",
            token("organizations/stat", &[]),
            vec!["token.roles"],
        ),
        (
            "an unspecified role",
            token("organizations/stat", &[Role::Unspecified]),
            vec!["token.roles[0]"],
        ),
        (
            "an EDITOR without organisation",
            token("", &[Role::Editor]),
            vec!["token.organization"],
        ),
        (
            "a READER and REGISTRY_ADMIN without organisation",
            token("", &[Role::Reader, Role::RegistryAdmin]),
            vec!["token.organization"],
        ),
        (
            "a malformed organisation",
            token("stat", &[Role::Editor]),
            vec!["token.organization"],
        ),
        (
            "an expiry in the past",
            Token {
                expire_time: Some(past),
                ..token("organizations/stat", &[Role::Reader])
            },
            vec!["token.expire_time"],
        ),
        (
            "no display name",
            Token {
                display_name: "  ".into(),
                ..token("organizations/stat", &[Role::Reader])
            },
            vec!["token.display_name"],
        ),
        (
            "everything wrong at once",
            Token {
                display_name: String::new(),
                expire_time: Some(past),
                ..token("", &[])
            },
            vec!["token.roles", "token.display_name", "token.expire_time"],
        ),
    ];
    for (what, request, fields) in cases {
        let err = create(&mut app, request).await.unwrap_err();
        assert_eq!(
            err.get_details_error_info().unwrap().reason,
            "INVALID_ARGUMENT"
        );
        assert_eq!(bad_request_fields(&err), fields, "{what}");
    }
    let err = app
        .tokens
        .create_token(CreateTokenRequest { token: None })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["token"]);
    // Nothing was created: only the bootstrap token exists.
    assert_eq!(
        list(&mut app, ListTokensRequest::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_token_for_an_unknown_or_deleted_organisation_is_failed_precondition() {
    let mut app = spawn_app().await;
    let err = create(&mut app, token("organizations/nobody", &[Role::Editor]))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "REFERENCE_NOT_FOUND");
    assert_eq!(
        err.get_details_error_info().unwrap().metadata["reference"],
        "organizations/nobody"
    );

    app.create_organization("gone", "201234567").await;
    app.organizations
        .delete_organization(DeleteOrganizationRequest {
            name: "organizations/gone".into(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let err = create(&mut app, token("organizations/gone", &[Role::Reader]))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "REFERENCE_NOT_FOUND");
}

#[tokio::test]
async fn list_tokens_pages_filters_by_organisation_and_hides_revoked_ones() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    app.create_organization("minfin", "301234567").await;
    let mut stat = Vec::new();
    let mut minfin = Vec::new();
    for i in 0..5 {
        stat.push(app.create_token(Some("stat"), &[Role::Editor]).await.0);
        if i < 3 {
            minfin.push(app.create_token(Some("minfin"), &[Role::Reader]).await.0);
        }
    }
    app.tokens
        .revoke_token(RevokeTokenRequest {
            name: stat[1].clone(),
        })
        .await
        .unwrap();
    let admin = app.admin_token_name().await;
    let names = |tokens: Vec<Token>| tokens.into_iter().map(|t| t.name).collect::<Vec<_>>();

    // Oldest first, in pages of 2, without the revoked token.
    let all = names(
        list_all(
            &mut app,
            ListTokensRequest {
                page_size: 2,
                ..Default::default()
            },
        )
        .await,
    );
    assert_eq!(all.len(), 1 + 5 + 3 - 1);
    assert_eq!(all[0], admin);
    assert!(!all.contains(&stat[1]));
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "no token twice");

    let only_stat = names(
        list_all(
            &mut app,
            ListTokensRequest {
                page_size: 2,
                organization: "organizations/stat".into(),
                ..Default::default()
            },
        )
        .await,
    );
    let live_stat: Vec<_> = stat
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, n)| n.clone())
        .collect();
    assert_eq!(only_stat, live_stat);

    let with_revoked = names(
        list_all(
            &mut app,
            ListTokensRequest {
                page_size: 3,
                organization: "organizations/stat".into(),
                show_revoked: true,
                ..Default::default()
            },
        )
        .await,
    );
    assert_eq!(with_revoked, stat);

    let only_minfin = list(
        &mut app,
        ListTokensRequest {
            organization: "organizations/minfin".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(names(only_minfin), minfin);
    let nobody = list(
        &mut app,
        ListTokensRequest {
            organization: "organizations/nobody".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(nobody.is_empty());

    // Bad requests.
    let err = list(
        &mut app,
        ListTokensRequest {
            page_size: -1,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["page_size"]);
    let err = list(
        &mut app,
        ListTokensRequest {
            organization: "stat".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["organization"]);
    let first = app
        .tokens
        .list_tokens(ListTokensRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    let err = list(
        &mut app,
        ListTokensRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            organization: "organizations/stat".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["page_token"]);
    let err = list(
        &mut app,
        ListTokensRequest {
            page_size: 1,
            page_token: format!("{}x", first.next_page_token),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["page_token"]);
}

#[tokio::test]
async fn the_bootstrap_token_file_is_private_and_holds_an_operator_secret() {
    use std::os::unix::fs::PermissionsExt;

    let mut app = spawn_app().await;
    let path = app.data_dir.join("admin.token");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("{}\n", app.admin_secret));
    assert!(is_secret(&app.admin_secret));

    let tokens = list(&mut app, ListTokensRequest::default()).await.unwrap();
    let [bootstrap] = tokens.as_slice() else {
        panic!("exactly one token on first start: {tokens:?}");
    };
    assert_eq!(bootstrap.creator, "operator:bootstrap");
    assert_eq!(bootstrap.roles, [Role::RegistryAdmin as i32]);
    assert_eq!(bootstrap.organization, "");
    assert!(bootstrap.expire_time.is_none());
}

#[tokio::test]
async fn the_cli_creates_a_token_that_works_against_the_running_server() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let run = app
        .run_cli(&[
            "token",
            "create",
            "--organization",
            "stat",
            "--role",
            "EDITOR",
            "--display-name",
            "stat.uz publisher",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let secret = run.stdout.trim();
    assert!(is_secret(secret), "stdout: {:?}", run.stdout);
    assert_eq!(run.stdout.lines().count(), 1, "only the secret on stdout");

    let mut as_cli_token = app.organizations_as(Some(secret));
    as_cli_token
        .get_organization(GetOrganizationRequest {
            name: "organizations/stat".into(),
            ..Default::default()
        })
        .await
        .expect("the CLI's token reads");
    let err = as_cli_token
        .create_organization(CreateOrganizationRequest {
            organization: Some(organization("301234567")),
            organization_id: "minfin".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");

    let listed = list(
        &mut app,
        ListTokensRequest {
            organization: "organizations/stat".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let [cli_token] = listed.as_slice() else {
        panic!("one token for stat: {listed:?}");
    };
    assert_eq!(cli_token.roles, [Role::Editor as i32]);
    assert_eq!(cli_token.display_name, "stat.uz publisher");
    assert!(cli_token.creator.starts_with("operator:"), "{cli_token:?}");
    assert!(run.stderr.contains(&cli_token.name), "{run:?}");

    // An operator token from the CLI; and a refusal for an organisation that does not exist.
    let run = app
        .run_cli(&["token", "create", "--role", "REGISTRY_ADMIN"])
        .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    app.tokens_as(Some(run.stdout.trim()))
        .list_tokens(ListTokensRequest::default())
        .await
        .expect("the CLI's operator token manages tokens");
    let run = app
        .run_cli(&[
            "token",
            "create",
            "--organization",
            "nobody",
            "--role",
            "READER",
        ])
        .await;
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(!run.stdout.contains("rst_"), "no secret printed: {run:?}");
    assert!(run.stderr.contains("organizations/nobody"), "{run:?}");
    let run = app
        .run_cli(&[
            "token",
            "create",
            "--organization",
            "stat",
            "--role",
            "OWNER",
        ])
        .await;
    assert_ne!(run.code, Some(0), "{run:?}");
}

#[tokio::test]
async fn a_caller_over_its_rate_is_resource_exhausted_with_retry_info() {
    let mut app = spawn_app_with(|c| {
        c.limits.rate_limit = RateLimit {
            per_second: 1,
            burst: 2,
        }
    })
    .await;
    // The administrator's first call (of a burst of 2): a second token, with a quota of its own.
    let (_, other) = app.create_token(None, &[Role::RegistryAdmin]).await;

    let mut refused = None;
    for _ in 0..10 {
        match app
            .organizations
            .list_organizations(ListOrganizationsRequest::default())
            .await
        {
            Ok(_) => {}
            Err(err) => {
                refused = Some(err);
                break;
            }
        }
    }
    let err = refused.expect("quick successive calls exceed 1/s with a burst of 2");
    assert_status(&err, Code::ResourceExhausted, "RATE_LIMITED");
    let retry = err
        .get_details_retry_info()
        .expect("RetryInfo")
        .retry_delay
        .expect("a retry delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(1),
        "{retry:?}"
    );

    // Another caller has a quota of its own; anonymous callers are refused, not limited.
    app.organizations_as(Some(&other))
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("another token is not limited by the administrator's calls");
    let err = app
        .organizations_as(None)
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_REQUIRED");

    // After the delay, the administrator may call again.
    tokio::time::sleep(retry + Duration::from_millis(50)).await;
    app.organizations
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("allowed again after the retry delay");
}

/// How many of `n` quick successive calls with `secret` are answered before the first
/// RATE_LIMITED.
async fn calls_before_limited(app: &TestApp, secret: &str, n: usize) -> usize {
    let mut client = app.organizations_as(Some(secret));
    for i in 0..n {
        if let Err(err) = client
            .list_organizations(ListOrganizationsRequest::default())
            .await
        {
            assert_status(&err, Code::ResourceExhausted, "RATE_LIMITED");
            return i;
        }
    }
    n
}

#[tokio::test]
async fn a_token_with_a_rate_of_its_own_is_held_to_it_and_only_administrators_change_it() {
    // The server's default: 1/s with a burst of 2.
    let mut app = spawn_app_with(|c| {
        c.limits.rate_limit = RateLimit {
            per_second: 1,
            burst: 2,
        }
    })
    .await;
    // The bootstrap administrator's two calls: the token under test, and an administrator
    // with room for the rest of the test.
    let mut request = token("", &[Role::RegistryAdmin]);
    request.rate_limit = Some(OwnRate {
        requests_per_second: 1,
        burst: 6,
    });
    let created = create(&mut app, request).await.expect("create");
    let mut roomy = token("", &[Role::RegistryAdmin]);
    roomy.rate_limit = Some(OwnRate {
        requests_per_second: 1000,
        burst: 1000,
    });
    let admin = create(&mut app, roomy).await.expect("create").secret;
    let own = created.token.clone().unwrap();
    assert_eq!(
        own.rate_limit,
        Some(OwnRate {
            requests_per_second: 1,
            burst: 6
        })
    );
    assert_eq!(
        calls_before_limited(&app, &created.secret, 20).await,
        6,
        "its own burst, not the default's 2"
    );

    // Raised by another administrator: a new bucket at once, on this server.
    let mut tokens = app.tokens_as(Some(&admin));
    let raised = tokens
        .update_token(UpdateTokenRequest {
            token: Some(Token {
                name: own.name.clone(),
                rate_limit: Some(OwnRate {
                    requests_per_second: 1,
                    burst: 12,
                }),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["rate_limit".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(raised.display_name, own.display_name, "not in the mask");
    assert_eq!(raised.rate_limit.unwrap().burst, 12);
    assert_eq!(calls_before_limited(&app, &created.secret, 30).await, 12);

    // Back to the server's default: the mask names the field, the token leaves it unset.
    let reset = tokens
        .update_token(UpdateTokenRequest {
            token: Some(Token {
                name: own.name.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["rate_limit".into()],
            }),
        })
        .await
        .expect("reset")
        .into_inner();
    assert_eq!(reset.rate_limit, None);
    let got = tokens
        .get_token(GetTokenRequest {
            name: own.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.rate_limit, None);

    // Bad rates name their fields; editors may not change tokens; revoked ones cannot be.
    let err = tokens
        .update_token(UpdateTokenRequest {
            token: Some(Token {
                name: own.name.clone(),
                rate_limit: Some(OwnRate {
                    requests_per_second: 0,
                    burst: -1,
                }),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["rate_limit".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_request_fields(&err),
        [
            "token.rate_limit.requests_per_second",
            "token.rate_limit.burst"
        ]
    );
    app.organizations_as(Some(&admin))
        .create_organization(CreateOrganizationRequest {
            organization: Some(organization("201122919")),
            organization_id: "stat".into(),
            request_id: String::new(),
        })
        .await
        .expect("create organisation");
    let editor = tokens
        .create_token(CreateTokenRequest {
            token: Some(token("organizations/stat", &[Role::Editor])),
        })
        .await
        .expect("create editor token")
        .into_inner()
        .secret;
    let err = app
        .tokens_as(Some(&editor))
        .update_token(UpdateTokenRequest {
            token: Some(Token {
                name: own.name.clone(),
                display_name: "mine now".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    tokens
        .revoke_token(RevokeTokenRequest {
            name: own.name.clone(),
        })
        .await
        .expect("revoke");
    let err = tokens
        .update_token(UpdateTokenRequest {
            token: Some(Token {
                name: own.name.clone(),
                display_name: "again".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
}

#[tokio::test]
async fn paging_tokens_while_others_are_created_and_revoked_neither_repeats_nor_skips() {
    // A manual clock: tokens made in the same microsecond are ordered by id.
    let mut app = spawn_app_with_manual_clock().await;
    app.create_organization("stat", "200000001").await;
    for i in 0..7 {
        if i % 2 == 0 {
            app.clock.advance(Duration::from_millis(1));
        }
        create(&mut app, token("organizations/stat", &[Role::Reader]))
            .await
            .unwrap();
    }
    let before = list_all(
        &mut app,
        ListTokensRequest {
            page_size: 1000,
            show_revoked: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(before.len(), 8, "the bootstrap token and seven");

    let mut request = ListTokensRequest {
        page_size: 3,
        show_revoked: true,
        ..Default::default()
    };
    let mut walked = Vec::new();
    loop {
        let page = app
            .tokens
            .list_tokens(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(page.tokens.len() <= 3);
        walked.extend(page.tokens.iter().map(|t| t.name.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
        // Between pages: a token created now (in the same microsecond as the newest ones,
        // so it sorts among them by id) and one revoked (still listed with show_revoked)
        // move nothing the walk has still to read.
        create(&mut app, token("organizations/stat", &[Role::Reader]))
            .await
            .unwrap();
        let last = before.last().unwrap().name.clone();
        let _ = app
            .tokens
            .revoke_token(RevokeTokenRequest { name: last })
            .await;
    }
    let unique: BTreeSet<&String> = walked.iter().collect();
    assert_eq!(unique.len(), walked.len(), "no token is listed twice");
    let expected: Vec<String> = before.iter().map(|t| t.name.clone()).collect();
    let old: Vec<&String> = walked.iter().filter(|n| expected.contains(n)).collect();
    assert_eq!(
        old,
        expected.iter().collect::<Vec<_>>(),
        "every token there was, once, in order"
    );
}

#[tokio::test]
async fn a_page_token_of_one_list_is_refused_by_another() {
    let mut app = spawn_app().await;
    app.create_organization("stat", "200000001").await;
    create(&mut app, token("organizations/stat", &[Role::Reader]))
        .await
        .unwrap();
    let tokens_page = app
        .tokens
        .list_tokens(ListTokensRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let audit_page = app
        .audit
        .list_audit_events(ListAuditEventsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!tokens_page.next_page_token.is_empty());
    assert!(!audit_page.next_page_token.is_empty());

    let err = app
        .audit
        .list_audit_events(ListAuditEventsRequest {
            page_size: 1,
            page_token: tokens_page.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["page_token"]);
    let err = list(
        &mut app,
        ListTokensRequest {
            page_size: 1,
            page_token: audit_page.next_page_token,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["page_token"]);
    let err = app
        .organizations
        .list_organizations(ListOrganizationsRequest {
            page_size: 1,
            page_token: tokens_page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["page_token"]);
}
