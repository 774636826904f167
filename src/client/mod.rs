//! The operator commands that talk to a running server: `reestr import`, `reestr export`,
//! `reestr seed`, and `reestr upload` and `reestr download` of documents ([`document`]).
//!
//! They are ordinary gRPC clients: every change goes through the same checks, authorisation
//! and audit trail as any agency's call. The token comes from `--token` (`REESTR_TOKEN`) or,
//! by default, from the `admin.token` file the server writes on its first start.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncReadExt as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::proto::v1 as pb;
use crate::proto::v1::classifier_service_client::ClassifierServiceClient;
use crate::proto::v1::document_service_client::DocumentServiceClient;
use crate::proto::v1::organization_service_client::OrganizationServiceClient;

pub mod document;

/// Bytes per ImportItems message when a file is streamed.
const CHUNK_BYTES: usize = 64 * 1024;

/// The seed classifier: the top-level administrative regions of Uzbekistan (SOATO).
pub const SOATO_REGIONS_CSV: &str = include_str!("../../seed/soato-regions.csv");

/// The largest HTTP/2 frame a command-line client takes: a 256 KiB chunk fits in one.
const TRANSFER_FRAME_BYTES: u32 = 1024 * 1024;

/// The HTTP/2 flow-control window of a command-line client's streams and connection.
const TRANSFER_WINDOW_BYTES: u32 = 4 * 1024 * 1024;

/// Adds `authorization: Bearer <secret>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel whose calls carry the operator's token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Where the server is and who is calling.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port` (or `https://`).
    pub server: String,
    /// The bearer token's secret.
    pub token: String,
}

impl Target {
    /// A target with the token given, or read from `token_file`.
    pub fn new(server: String, token: Option<String>, token_file: &Path) -> Result<Target, String> {
        let token = match token {
            Some(t) => t,
            None => std::fs::read_to_string(token_file)
                .map_err(|e| {
                    format!(
                        "no --token given and {} cannot be read ({e}); pass --token or REESTR_TOKEN",
                        token_file.display()
                    )
                })?
                .trim()
                .to_string(),
        };
        Ok(Target { server, token })
    }

    /// A channel to the server whose calls carry the token.
    pub async fn channel(&self) -> Result<Authed, String> {
        let endpoint = Endpoint::from_str(&self.server)
            .map_err(|e| format!("{}: {e}", self.server))?
            .connect_timeout(Duration::from_secs(5))
            // Bulk transfers (documents, imports, exports) move whole chunks per frame and are
            // not held up by HTTP/2's default 64 KiB windows.
            .max_frame_size(TRANSFER_FRAME_BYTES)
            .initial_stream_window_size(TRANSFER_WINDOW_BYTES)
            .initial_connection_window_size(TRANSFER_WINDOW_BYTES);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.server))?;
        let value: MetadataValue<Ascii> = format!("Bearer {}", self.token)
            .parse()
            .map_err(|_| "the token is not ASCII".to_string())?;
        Ok(InterceptedService::new(channel, Bearer(value)))
    }

    /// A classifier client.
    pub async fn classifiers(&self) -> Result<ClassifierServiceClient<Authed>, String> {
        Ok(ClassifierServiceClient::new(self.channel().await?)
            .max_decoding_message_size(64 * 1024 * 1024))
    }

    /// An organisation client.
    pub async fn organizations(&self) -> Result<OrganizationServiceClient<Authed>, String> {
        Ok(OrganizationServiceClient::new(self.channel().await?))
    }

    /// A document client.
    pub async fn documents(&self) -> Result<DocumentServiceClient<Authed>, String> {
        Ok(DocumentServiceClient::new(self.channel().await?)
            .max_decoding_message_size(4 * 1024 * 1024))
    }
}

/// `reestr probe`: one gRPC health check (`grpc.health.v1.Health/Check`) of `service` (`""`
/// for the whole server) at `server`, as container and service managers run it. `Ok` with
/// the status when it is SERVING; otherwise what was answered, or why nothing was. The whole
/// check, connecting included, is bounded by `timeout`. Plain-text HTTP/2 only: a probe runs
/// next to the server, on its own host or pod.
pub async fn probe(server: &str, service: &str, timeout: Duration) -> Result<String, String> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let endpoint = Endpoint::from_str(server)
        .map_err(|e| format!("{server}: {e}"))?
        .connect_timeout(timeout)
        .timeout(timeout);
    let check = async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {server}: {e}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .map_err(|status| format!("{server}: {:?}: {}", status.code(), status.message()))?;
        let status =
            ServingStatus::try_from(answer.into_inner().status).unwrap_or(ServingStatus::Unknown);
        match status {
            ServingStatus::Serving => Ok(status.as_str_name().to_string()),
            other => Err(format!("{server}: {}", other.as_str_name())),
        }
    };
    tokio::time::timeout(timeout, check)
        .await
        .unwrap_or_else(|_| Err(format!("{server}: no answer within {timeout:?}")))
}

/// A progress bar on standard error drawn with `template` (indicatif's), or a hidden one when
/// `shown` is false.
fn progress_bar(total: u64, template: &str, shown: bool) -> Result<ProgressBar, String> {
    if !shown {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(template)
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    Ok(bar)
}

/// The template of a progress bar counting bytes.
const BYTES_BAR: &str =
    "{spinner} {msg} {bytes}/{total_bytes} [{bar:40}] {bytes_per_sec}, {eta} left";

/// A status as one readable line, with its field violations.
pub fn describe(status: &Status) -> String {
    use tonic_types::StatusExt as _;
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    text
}

fn version_name(classifier: &str, version: &str) -> String {
    format!("classifiers/{classifier}/versions/{version}")
}

/// Makes sure `classifiers/{classifier}/versions/{version}` is a draft, creating it (empty) if
/// it does not exist.
async fn ensure_draft(
    client: &mut ClassifierServiceClient<Authed>,
    classifier: &str,
    version: &str,
) -> Result<pb::ClassifierVersion, String> {
    let name = version_name(classifier, version);
    match client
        .get_classifier_version(pb::GetClassifierVersionRequest { name: name.clone() })
        .await
    {
        Ok(v) => {
            let v = v.into_inner();
            if v.state != pb::classifier_version::State::Draft as i32 {
                return Err(format!("{name} is published; import into a new version"));
            }
            Ok(v)
        }
        Err(s) if s.code() == Code::NotFound => client
            .create_classifier_version(pb::CreateClassifierVersionRequest {
                parent: format!("classifiers/{classifier}"),
                version_id: version.to_string(),
                version: None,
                source_version: String::new(),
                request_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| describe(&s)),
        Err(s) => Err(describe(&s)),
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The draft after the import (or after publication).
    pub version: pb::ClassifierVersion,
    /// Items imported.
    pub items: i64,
}

/// Streams CSV `text` (read from `source`, `total` bytes) into the draft `version` of
/// `classifier` (created if missing), then publishes it if asked. Shows a progress bar on
/// standard error when `progress` is set.
pub async fn import_csv(
    target: &Target,
    classifier: &str,
    version: &str,
    mut source: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    total: u64,
    publish: bool,
    progress: bool,
) -> Result<ImportReport, String> {
    let mut client = target.classifiers().await?;
    let draft = ensure_draft(&mut client, classifier, version).await?;
    let bar = progress_bar(total, BYTES_BAR, progress)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::ImportItemsRequest>(4);
    let parent = draft.name.clone();
    let reader_bar = bar.clone();
    let reader = tokio::spawn(async move {
        let mut first = true;
        loop {
            let mut buf = vec![0u8; CHUNK_BYTES];
            let n = source.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 && !first {
                break;
            }
            buf.truncate(n);
            reader_bar.inc(n as u64);
            let message = pb::ImportItemsRequest {
                parent: if first { parent.clone() } else { String::new() },
                format: pb::ItemFormat::Csv as i32,
                validate_only: false,
                etag: String::new(),
                data: Some(pb::import_items_request::Data::CsvChunk(buf)),
            };
            first = false;
            if tx.send(message).await.is_err() || n == 0 {
                break;
            }
        }
        Ok::<(), String>(())
    });
    let response = client
        .import_items(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    reader.await.map_err(|e| e.to_string())??;
    bar.finish_and_clear();
    let response = response.map_err(|s| describe(&s))?.into_inner();
    let mut version_message = response.version.unwrap_or(draft);
    if publish {
        version_message = client
            .publish_classifier_version(pb::PublishClassifierVersionRequest {
                name: version_message.name.clone(),
                etag: String::new(),
            })
            .await
            .map_err(|s| describe(&s))?
            .into_inner();
    }
    Ok(ImportReport {
        version: version_message,
        items: response.item_count,
    })
}

/// Writes the CSV export of `classifiers/{classifier}/versions/{version}` to `out`; returns
/// the number of bytes written.
pub async fn export_csv(
    target: &Target,
    classifier: &str,
    version: &str,
    out: &mut (dyn std::io::Write + Send),
    progress: bool,
) -> Result<u64, String> {
    let mut client = target.classifiers().await?;
    let name = version_name(classifier, version);
    let meta = client
        .get_classifier_version(pb::GetClassifierVersionRequest { name: name.clone() })
        .await
        .map_err(|s| describe(&s))?
        .into_inner();
    let bar = progress_bar(
        u64::try_from(meta.item_count).unwrap_or_default(),
        "{spinner} {pos}/{len} items [{bar:40}] {per_sec}",
        progress,
    )?;
    let mut stream = client
        .export_items(pb::ExportItemsRequest {
            name,
            format: pb::ItemFormat::Csv as i32,
        })
        .await
        .map_err(|s| describe(&s))?
        .into_inner();
    let mut written = 0u64;
    let mut lines = 0u64;
    while let Some(message) = stream.message().await.map_err(|s| describe(&s))? {
        if let Some(pb::export_items_response::Data::CsvChunk(chunk)) = message.data {
            out.write_all(&chunk).map_err(|e| e.to_string())?;
            written += chunk.len() as u64;
            let chunk_lines = chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            // The header is not an item.
            let items = if lines == 0 {
                chunk_lines.saturating_sub(1)
            } else {
                chunk_lines
            };
            lines += chunk_lines;
            bar.inc(items);
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    Ok(written)
}

/// The version `reestr seed` publishes the SOATO regions as.
const SEED_VERSION: &str = "2026-1";

/// What `reestr seed` did, step by step.
pub async fn seed(target: &Target) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    let mut orgs = target.organizations().await?;
    let org = pb::Organization {
        display_name: [
            (
                "uz-Latn",
                "Oʻzbekiston Respublikasi Prezidenti huzuridagi Statistika agentligi",
            ),
            (
                "uz-Cyrl",
                "Ўзбекистон Республикаси Президенти ҳузуридаги Статистика агентлиги",
            ),
            (
                "ru",
                "Агентство статистики при Президенте Республики Узбекистан",
            ),
            (
                "en",
                "Statistics Agency under the President of the Republic of Uzbekistan",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        tin: "201122919".into(),
        kind: pb::organization::Kind::StateBody as i32,
        region_code: "1726".into(),
        ..Default::default()
    };
    match orgs
        .create_organization(pb::CreateOrganizationRequest {
            organization: Some(org),
            organization_id: "stat".into(),
            request_id: String::new(),
        })
        .await
    {
        Ok(_) => done.push("created organizations/stat".to_string()),
        Err(s) if s.code() == Code::AlreadyExists => {
            done.push("organizations/stat already exists".to_string())
        }
        Err(s) => return Err(describe(&s)),
    }
    let mut client = target.classifiers().await?;
    let languages = ["uz-Latn", "uz-Cyrl", "ru", "en"];
    let names = |pairs: [(&str, &str); 4]| {
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let classifier = pb::Classifier {
        owner: "organizations/stat".into(),
        display_name: names([
            (
                "uz-Latn",
                "Maʼmuriy-hududiy birliklar belgilash tizimi (SOATO)",
            ),
            (
                "uz-Cyrl",
                "Маъмурий-ҳудудий бирликлар белгилаш тизими (СОАТО)",
            ),
            (
                "ru",
                "Система обозначений административно-территориальных единиц (СОАТО)",
            ),
            (
                "en",
                "System of designations of administrative-territorial units (SOATO)",
            ),
        ]),
        code_pattern: "17[0-9]{2}([0-9]{3}([0-9]{3})?)?".into(),
        hierarchical: true,
        max_depth: 3,
        required_languages: languages.iter().map(|l| l.to_string()).collect(),
        ..Default::default()
    };
    match client
        .create_classifier(pb::CreateClassifierRequest {
            classifier: Some(classifier),
            classifier_id: "soato".into(),
            request_id: String::new(),
        })
        .await
    {
        Ok(_) => done.push("created classifiers/soato".to_string()),
        Err(s) if s.code() == Code::AlreadyExists => {
            done.push("classifiers/soato already exists".to_string())
        }
        Err(s) => return Err(describe(&s)),
    }
    // The seed's own version: a newer one published since is none of its business, and a
    // draft of it left by an interrupted seed is filled and published.
    let own = client
        .get_classifier_version(pb::GetClassifierVersionRequest {
            name: version_name("soato", SEED_VERSION),
        })
        .await;
    match own {
        Ok(v) if v.get_ref().state != pb::classifier_version::State::Draft as i32 => {
            done.push(format!("{} is already published", v.into_inner().name));
            return Ok(done);
        }
        Ok(_) => {}
        Err(s) if s.code() == Code::NotFound => {}
        Err(s) => return Err(describe(&s)),
    }
    let report = import_csv(
        target,
        "soato",
        SEED_VERSION,
        std::io::Cursor::new(SOATO_REGIONS_CSV.as_bytes()),
        SOATO_REGIONS_CSV.len() as u64,
        true,
        false,
    )
    .await?;
    done.push(format!(
        "imported {} regions into {} and published it (content hash {})",
        report.items, report.version.name, report.version.content_hash
    ));
    Ok(done)
}
