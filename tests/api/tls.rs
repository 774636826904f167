//! TLS and client certificates (mTLS): which certificates the server accepts, and who a
//! certificate stands for.
//!
//! Every test makes its own PKI at run time with rcgen — a register CA, a server certificate
//! for `localhost`/`127.0.0.1` and client certificates — writes the PEM files into the test's
//! temporary directory, and starts the server on them, in process, the way `reestr serve
//! --tls-cert … --tls-key … --tls-client-ca …` does. The database is chosen as in
//! [`crate::helpers`]: a SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL`
//! is set.
//!
//! ## Issuing a client certificate
//!
//! The operator keeps the CA given to `--tls-client-ca` and signs one certificate per client
//! system of an agency. The certificate names the organisation it acts for and each role it
//! holds in a subject-alternative-name URI `urn:reestr:organizations:{organization}:{ROLE}`
//! (`{ROLE}` is `EDITOR`, `REVIEWER`, `READER` or `REGISTRY_ADMIN`; one URI per role, all for
//! the same organisation), and should carry the `clientAuth` extended key usage. With OpenSSL:
//!
//! ```text
//! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stat.key \
//!   -subj "/CN=stat-integration/O=Statistics Agency" -out stat.csr
//! openssl x509 -req -in stat.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
//!   -extfile <(printf '%s\n' 'extendedKeyUsage=clientAuth' \
//!     'subjectAltName=URI:urn:reestr:organizations:stat:EDITOR,URI:urn:reestr:organizations:stat:READER') \
//!   -out stat.pem
//! ```
//!
//! The signature is the whole grant: whoever holds a certificate signed by that CA acts for the
//! organisation it names, so take a role away by letting the certificate expire (or by changing
//! the CA). A certificate from another CA, or an expired one, is refused in the TLS handshake; a
//! valid one without such a URI reaches the server but authenticates nobody
//! (UNAUTHENTICATED, `CERTIFICATE_UNMAPPED`). A bearer token, when sent, takes precedence over
//! the certificate. The audit trail records a certificate caller as
//! `cert:{subject} ({sha256 of the DER certificate, hex})`, e.g.
//! `cert:CN=stat-integration, O=Statistics Agency (63c7…)`; the fingerprint of a certificate
//! file is `openssl x509 -in stat.pem -outform der | sha256sum`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, date_time_ymd,
};
use reestr::proto::v1::audit_service_client::AuditServiceClient;
use reestr::proto::v1::organization::Kind;
use reestr::proto::v1::organization_service_client::OrganizationServiceClient;
use reestr::proto::v1::{
    CreateOrganizationRequest, GetOrganizationRequest, ListAuditEventsRequest,
    ListOrganizationsRequest, Organization,
};
use reestr::server::{self, ServerConfig, ServerError, TlsFiles};
use reestr_store::ConnectionSettings;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::helpers::{Authed, Bearer, TestDatabase};

/// How long a TCP connect plus TLS handshake may take before the test fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take before the test fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// A certificate authority made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its private key.
struct Pem {
    cert: String,
    key: String,
    der: Vec<u8>,
}

/// When a client certificate is valid.
#[derive(Clone, Copy)]
enum Validity {
    /// From 2020 to 2100.
    Current,
    /// Throughout 2020 only.
    Expired,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2100, 1, 1);
        let cert = params.self_signed(&key).expect("self-signed CA");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The server's certificate, for `localhost` and `127.0.0.1`.
    fn server(&self) -> Pem {
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()])
            .expect("server names");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "reestr");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2100, 1, 1);
        self.sign(&params)
    }

    /// A client certificate with subject `CN={common_name}, O={organization}` and the SAN URIs
    /// `uris`.
    fn client(
        &self,
        common_name: &str,
        organization: &str,
        uris: &[&str],
        validity: Validity,
    ) -> Pem {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
        params.subject_alt_names = uris
            .iter()
            .map(|u| SanType::URI((*u).try_into().expect("ASCII URI")))
            .collect();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        (params.not_before, params.not_after) = match validity {
            Validity::Current => (date_time_ymd(2020, 1, 1), date_time_ymd(2100, 1, 1)),
            Validity::Expired => (date_time_ymd(2020, 1, 1), date_time_ymd(2021, 1, 1)),
        };
        self.sign(&params)
    }

    fn sign(&self, params: &CertificateParams) -> Pem {
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// How the audit trail names the caller holding `cert` whose subject is `subject`.
fn certificate_caller(subject: &str, cert: &Pem) -> String {
    let fingerprint = hex::encode(Sha256::digest(&cert.der));
    format!("cert:{subject} ({fingerprint})")
}

// ---------------------------------------------------------------------------------------------
// A TLS server
// ---------------------------------------------------------------------------------------------

/// Whether the server asks for client certificates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    /// `--tls-client-ca`: every client must present a certificate from the test CA.
    Required,
    /// Server TLS only; callers authenticate with bearer tokens.
    None,
}

/// A TLS server, its CA, and an administrator's client.
struct TlsApp {
    addr: SocketAddr,
    ca: Ca,
    /// The CA certificate clients trust the server by.
    root: String,
    /// The bootstrap administrator's secret.
    admin_secret: String,
    /// A certificate without a reestr URI: lets the administrator through the handshake when
    /// client certificates are required (the bearer token then names the caller).
    operator: Pem,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
    database: TestDatabase,
    dir: TempDir,
}

async fn spawn_tls_app(client_auth: ClientAuth) -> TlsApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = Ca::new("reestr test client CA");
    let server_cert = ca.server();
    let write = |name: &str, content: &str| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write PEM");
        path
    };
    let tls = TlsFiles {
        cert: write("server.pem", &server_cert.cert),
        key: write("server.key", &server_cert.key),
        client_ca: (client_auth == ClientAuth::Required).then(|| write("client-ca.pem", &ca.pem)),
    };
    let database = TestDatabase::create(&dir).await;
    let mut config = ServerConfig::new(
        dir.path().to_path_buf(),
        ConnectionSettings::new(&database.url),
    );
    config.database.max_connections = 8;
    config.health_probe_interval = Duration::from_millis(200);
    config.tls = Some(tls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let operator = ca.client("operator", "Register operator", &[], Validity::Current);
    let mut app = TlsApp {
        addr,
        root: ca.pem.clone(),
        ca,
        admin_secret: String::new(),
        operator,
        stop: Some(stop),
        task: Some(task),
        database,
        dir,
    };
    app.wait_for_serving().await;
    app.admin_secret = std::fs::read_to_string(app.dir.path().join("admin.token"))
        .expect("the server wrote admin.token on first start")
        .trim()
        .to_string();
    app
}

impl TlsApp {
    /// An endpoint trusting the test CA, presenting `identity` if given.
    fn endpoint(&self, identity: Option<&Pem>) -> Endpoint {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.root))
            .domain_name("localhost");
        if let Some(pem) = identity {
            tls = tls.identity(Identity::from_pem(&pem.cert, &pem.key));
        }
        Endpoint::from_shared(format!("https://{}", self.addr))
            .expect("URI")
            .tls_config(tls)
            .expect("client TLS configuration")
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
    }

    /// Connects, presenting `identity` if given. With TLS 1.3 the server checks the client's
    /// certificate after the client has finished its side of the handshake, so a refused
    /// certificate may only show on the first call.
    async fn connect(&self, identity: Option<&Pem>) -> Result<Channel, tonic::transport::Error> {
        tokio::time::timeout(CONNECT_TIMEOUT * 2, self.endpoint(identity).connect())
            .await
            .expect("connecting hung")
    }

    /// A channel the server accepts: with `identity` when given, else the operator's
    /// certificate when client certificates are required.
    async fn channel(&self, identity: Option<&Pem>) -> Channel {
        let identity = identity.or(Some(&self.operator));
        self.connect(identity).await.expect("connect over TLS")
    }

    /// OrganizationService as the administrator (bearer token over TLS).
    async fn admin_organizations(&self) -> OrganizationServiceClient<Authed> {
        OrganizationServiceClient::with_interceptor(
            self.channel(None).await,
            Bearer::new(Some(&self.admin_secret)),
        )
    }

    /// AuditService as the administrator.
    async fn admin_audit(&self) -> AuditServiceClient<Authed> {
        AuditServiceClient::with_interceptor(
            self.channel(None).await,
            Bearer::new(Some(&self.admin_secret)),
        )
    }

    /// The health of the whole server, asked over a connection with `identity`.
    async fn health(&self, identity: Option<&Pem>) -> Result<ServingStatus, String> {
        let channel = self.connect(identity).await.map_err(|e| e.to_string())?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
        Ok(response.into_inner().status())
    }

    async fn wait_for_serving(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.health(Some(&self.operator)).await;
            if status == Ok(ServingStatus::Serving) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the TLS server never became SERVING: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asserts that a client presenting `identity` cannot complete a call because the server
    /// ended the handshake with the TLS alert `alert` (as rustls names it, e.g. `UnknownCA`):
    /// the connection or the first call fails as a transport error, not with an answer from
    /// the server's services. Health is the call because it needs no credentials: if even it
    /// fails, the connection itself was refused.
    async fn assert_refused_in_handshake(&self, identity: Option<&Pem>, alert: &str) {
        let failure = match self.connect(identity).await {
            Err(e) => format!("{e:?}"),
            Ok(channel) => {
                let status = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .expect_err("the server answered a client it should have refused");
                assert!(
                    matches!(status.code(), Code::Unavailable | Code::Unknown),
                    "expected a transport failure, got {status:?}"
                );
                format!("{status:?}")
            }
        };
        assert!(
            failure.contains(&format!("received fatal alert: {alert}")),
            "expected the server to send the TLS alert {alert}: {failure}"
        );
    }

    /// Asserts that a client with a good certificate is still served.
    async fn assert_still_serving(&self) {
        let good = self.ca.client(
            "stat-integration",
            "Statistics Agency",
            &["urn:reestr:organizations:stat:READER"],
            Validity::Current,
        );
        assert_eq!(self.health(Some(&good)).await, Ok(ServingStatus::Serving));
        let mut organizations = OrganizationServiceClient::new(self.channel(Some(&good)).await);
        organizations
            .list_organizations(ListOrganizationsRequest::default())
            .await
            .expect("a good certificate is still served");
    }
}

impl Drop for TlsApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.database.drop_now();
    }
}

/// A valid organisation.
fn organization(tin: &str) -> Organization {
    Organization {
        display_name: BTreeMap::from([("uz-Latn".to_string(), "Statistika agentligi".to_string())]),
        tin: tin.to_string(),
        kind: Kind::StateBody as i32,
        region_code: "1726".to_string(),
        ..Default::default()
    }
}

fn create_request(id: &str, tin: &str) -> CreateOrganizationRequest {
    CreateOrganizationRequest {
        organization: Some(organization(tin)),
        organization_id: id.to_string(),
        request_id: String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_client_certificate_naming_an_organization_acts_for_it() {
    let app = spawn_tls_app(ClientAuth::Required).await;
    app.admin_organizations()
        .await
        .create_organization(create_request("stat", "201234567"))
        .await
        .expect("the administrator's bearer token works over mTLS");

    let subject = "CN=stat-integration, O=Statistics Agency";
    let cert = app.ca.client(
        "stat-integration",
        "Statistics Agency",
        &[
            "urn:reestr:organizations:stat:READER",
            "urn:reestr:organizations:stat:EDITOR",
        ],
        Validity::Current,
    );
    let mut stat = OrganizationServiceClient::new(app.channel(Some(&cert)).await);

    let listed = stat
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("a READER certificate lists organisations")
        .into_inner();
    let names: Vec<&str> = listed
        .organizations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["organizations/stat"]);
    let got = stat
        .get_organization(GetOrganizationRequest {
            name: "organizations/stat".into(),
            ..Default::default()
        })
        .await
        .expect("a READER certificate reads an organisation")
        .into_inner();
    assert_eq!(got.tin, "201234567");

    let denied = stat
        .create_organization(create_request("minfin", "309876543"))
        .await
        .expect_err("only the registry administrator creates organisations");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let info = denied.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "PERMISSION_DENIED");
    assert!(
        denied.message().contains(subject),
        "the refusal names the certificate: {}",
        denied.message()
    );

    // The refused attempt is in the audit trail, under the certificate's subject and
    // fingerprint, for the organisation the certificate names.
    let caller = certificate_caller(subject, &cert);
    let events = app
        .admin_audit()
        .await
        .list_audit_events(ListAuditEventsRequest {
            filter: format!("caller = \"{caller}\""),
            ..Default::default()
        })
        .await
        .expect("list audit events")
        .into_inner()
        .events;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.caller, caller);
    assert_eq!(event.organization, "organizations/stat");
    assert_eq!(
        event.method,
        "/reestr.v1.OrganizationService/CreateOrganization"
    );
    assert_eq!(event.resource, "organizations/minfin");
    assert_eq!(event.outcome, "PERMISSION_DENIED");
    assert!(event.changes.is_empty(), "{event:#?}");

    // Nothing was created.
    let err = stat
        .get_organization(GetOrganizationRequest {
            name: "organizations/minfin".into(),
            ..Default::default()
        })
        .await
        .expect_err("minfin was not created");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused_in_the_handshake() {
    let app = spawn_tls_app(ClientAuth::Required).await;
    let stranger = Ca::new("some other CA");
    let forged = stranger.client(
        "stat-integration",
        "Statistics Agency",
        &["urn:reestr:organizations:stat:REGISTRY_ADMIN"],
        Validity::Current,
    );
    app.assert_refused_in_handshake(Some(&forged), "UnknownCA")
        .await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn an_expired_client_certificate_is_refused() {
    let app = spawn_tls_app(ClientAuth::Required).await;
    let expired = app.ca.client(
        "stat-integration",
        "Statistics Agency",
        &["urn:reestr:organizations:stat:READER"],
        Validity::Expired,
    );
    app.assert_refused_in_handshake(Some(&expired), "CertificateExpired")
        .await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn a_certificate_without_a_reestr_uri_is_unauthenticated() {
    let app = spawn_tls_app(ClientAuth::Required).await;
    let unmapped = [
        (
            "no URI at all",
            app.ca.client(
                "stat-integration",
                "Statistics Agency",
                &[],
                Validity::Current,
            ),
        ),
        (
            "only a foreign URI",
            app.ca.client(
                "stat-integration",
                "Statistics Agency",
                &["https://stat.uz"],
                Validity::Current,
            ),
        ),
        (
            "two organisations",
            app.ca.client(
                "stat-integration",
                "Statistics Agency",
                &[
                    "urn:reestr:organizations:stat:READER",
                    "urn:reestr:organizations:minfin:READER",
                ],
                Validity::Current,
            ),
        ),
    ];
    for (case, cert) in &unmapped {
        assert_eq!(
            app.health(Some(cert)).await,
            Ok(ServingStatus::Serving),
            "{case}: health needs no credentials"
        );
        let mut organizations = OrganizationServiceClient::new(app.channel(Some(cert)).await);
        let err = organizations
            .list_organizations(ListOrganizationsRequest::default())
            .await
            .expect_err("an unmapped certificate authenticates nobody");
        assert_eq!(err.code(), Code::Unauthenticated, "{case}: {err:?}");
        let info = err.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "CERTIFICATE_UNMAPPED", "{case}");

        let err = organizations
            .create_organization(create_request("stat", "201234567"))
            .await
            .expect_err("an unmapped certificate writes nothing");
        assert_eq!(err.code(), Code::Unauthenticated, "{case}: {err:?}");
        assert_eq!(
            err.get_details_error_info().expect("ErrorInfo").reason,
            "CERTIFICATE_UNMAPPED",
            "{case}"
        );
    }
}

#[tokio::test]
async fn without_a_client_certificate_mtls_refuses_the_connection() {
    let app = spawn_tls_app(ClientAuth::Required).await;
    app.assert_refused_in_handshake(None, "CertificateRequired")
        .await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn tls_without_client_ca_serves_bearer_tokens() {
    let app = spawn_tls_app(ClientAuth::None).await;
    let channel = app
        .connect(None)
        .await
        .expect("no client certificate is needed without --tls-client-ca");
    assert_eq!(app.health(None).await, Ok(ServingStatus::Serving));

    let mut admin = OrganizationServiceClient::with_interceptor(
        channel.clone(),
        Bearer::new(Some(&app.admin_secret)),
    );
    admin
        .create_organization(create_request("stat", "201234567"))
        .await
        .expect("a bearer token works over TLS");
    let listed = admin
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.organizations.len(), 1);

    let mut anonymous = OrganizationServiceClient::new(channel);
    let err = anonymous
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .expect_err("TLS alone authenticates nobody");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(
        err.get_details_error_info().expect("ErrorInfo").reason,
        "CREDENTIALS_REQUIRED"
    );

    // A plaintext client cannot talk to a TLS server.
    let plaintext = Endpoint::from_shared(format!("http://{}", app.addr))
        .expect("URI")
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    let outcome = match tokio::time::timeout(CONNECT_TIMEOUT * 2, plaintext.connect())
        .await
        .expect("connecting hung")
    {
        Err(_) => None,
        Ok(channel) => Some(
            HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await,
        ),
    };
    assert!(
        !matches!(outcome, Some(Ok(_))),
        "a plaintext client was served"
    );
}

#[tokio::test]
async fn a_client_that_stalls_in_the_handshake_is_disconnected() {
    let app = spawn_tls_app(ClientAuth::Required).await;
    // Opens a TCP connection and never sends a ClientHello: the server hangs up once the
    // handshake timeout has passed.
    let mut stalled = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("TCP connect");
    let opened = tokio::time::Instant::now();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(
        server::tls::HANDSHAKE_TIMEOUT + Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut stalled, &mut byte),
    )
    .await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the server kept a stalled handshake open: {read:?}"
    );
    assert!(
        opened.elapsed() >= server::tls::HANDSHAKE_TIMEOUT - Duration::from_secs(1),
        "hung up after {:?}, before the handshake timeout",
        opened.elapsed()
    );
    app.assert_still_serving().await;
}
