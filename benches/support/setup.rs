//! Records the benchmarks create through a running server's API: the owner organisation, a
//! classifier of the generated shape, its import and its publication.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reestr::client::{Target, describe};
use reestr::proto::v1 as pb;

use super::generated::{CODE_PATTERN, CsvSource, Shape};

/// The organisation that owns what the benchmarks create.
pub const ORGANIZATION: &str = "bench-owner";
/// The version every benchmark classifier imports and publishes.
pub const VERSION: &str = "2026-1";

/// An information system of the owner organisation [`ORGANIZATION`] providing one gRPC
/// service.
pub fn system(short_name: &str, display_name: &str, purpose: &str) -> pb::InformationSystem {
    pb::InformationSystem {
        short_name: short_name.into(),
        display_name: [("en".to_string(), display_name.to_string())].into(),
        purpose: purpose.into(),
        owner: format!("organizations/{ORGANIZATION}"),
        provided_services: vec![pb::ProvidedService {
            name: "api".into(),
            protocol: pb::provided_service::Protocol::Grpc as i32,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Creates the owner organisation [`ORGANIZATION`] unless it exists.
pub async fn create_organization(target: &Target) {
    let mut orgs = target.organizations().await.expect("organization client");
    let created = orgs
        .create_organization(pb::CreateOrganizationRequest {
            organization_id: ORGANIZATION.into(),
            organization: Some(pb::Organization {
                display_name: [("en".to_string(), "Benchmark owner".to_string())].into(),
                tin: "300000001".into(),
                kind: pb::organization::Kind::StateBody as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await;
    match created {
        Ok(_) => {}
        Err(s) if s.code() == tonic::Code::AlreadyExists => {}
        Err(s) => panic!("create organisation: {}", describe(&s)),
    }
}

/// Creates the owner organisation (unless it exists) and classifier `id` with the generated
/// classifier's rules: hierarchical, 3 levels, names required in uz-Latn, ru and en.
pub async fn create_classifier(target: &Target, id: &str) {
    create_organization(target).await;
    let mut classifiers = target.classifiers().await.expect("classifier client");
    classifiers
        .create_classifier(pb::CreateClassifierRequest {
            classifier_id: id.into(),
            classifier: Some(pb::Classifier {
                owner: format!("organizations/{ORGANIZATION}"),
                display_name: [("en".to_string(), format!("Benchmark {id}"))].into(),
                code_pattern: CODE_PATTERN.into(),
                hierarchical: true,
                max_depth: 3,
                required_languages: vec!["uz-Latn".into(), "ru".into(), "en".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("create classifier: {}", describe(&s)));
}

/// What an import of the generated classifier sent and took.
pub struct Imported {
    /// Bytes of CSV streamed.
    pub csv_bytes: u64,
    /// The ImportItems call, from the first byte read to the answer.
    pub took: Duration,
}

/// Imports the items of `shape` into the draft [`VERSION`] of classifier `id` through
/// ImportItems (`reestr::client::import_csv`), the CSV generated while it is streamed, and
/// checks the counts the server reports.
pub async fn import(target: &Target, id: &str, shape: Shape) -> Imported {
    let produced = Arc::new(AtomicU64::new(0));
    let source = CsvSource::new(shape, produced.clone());
    let started = Instant::now();
    let report = reestr::client::import_csv(target, id, VERSION, source, 0, false, false)
        .await
        .unwrap_or_else(|e| panic!("import of {id}: {e}"));
    let took = started.elapsed();
    assert_eq!(report.items as usize, shape.total(), "items imported");
    assert_eq!(
        report.version.item_count as usize,
        shape.total(),
        "item_count"
    );
    Imported {
        csv_bytes: produced.load(Ordering::Relaxed),
        took,
    }
}

/// Publishes the draft [`VERSION`] of classifier `id`; returns the published version and how
/// long PublishClassifierVersion took.
pub async fn publish(target: &Target, id: &str) -> (pb::ClassifierVersion, Duration) {
    let mut client = target.classifiers().await.expect("client");
    let started = Instant::now();
    let published = client
        .publish_classifier_version(pb::PublishClassifierVersionRequest {
            name: format!("classifiers/{id}/versions/{VERSION}"),
            etag: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("publish {id}: {}", describe(&s)))
        .into_inner();
    (published, started.elapsed())
}

/// grpcurl's answer (stdout and stderr) to one call of `method` (e.g.
/// `reestr.v1.ClassifierService/GetItem`) on `addr` with the JSON request `json`, carrying
/// `authorization: Bearer <token>` unless `token` is empty; `None` when grpcurl cannot run.
/// The method is described by the server's reflection, or by the file `proto` when given (for a
/// server without reflection).
pub fn grpcurl(
    addr: &str,
    token: &str,
    proto: Option<&Path>,
    method: &str,
    json: &str,
) -> Option<String> {
    let mut command = std::process::Command::new("grpcurl");
    command.arg("-plaintext");
    if let Some(proto) = proto {
        let dir = proto.parent().expect("the proto file's directory");
        let file = proto.file_name().expect("the proto file's name");
        command.arg("-import-path").arg(dir).arg("-proto").arg(file);
    }
    if !token.is_empty() {
        command
            .arg("-H")
            .arg(format!("authorization: Bearer {token}"));
    }
    let output = command
        .arg("-d")
        .arg(json)
        .arg(addr)
        .arg(method)
        .output()
        .ok()?;
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
