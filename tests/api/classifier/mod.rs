//! ClassifierService: classifiers and their requirements, versions and their lifecycle, items,
//! publication checks, lookups by version and by date, translation and differences, import and
//! export, and who may write.
//!
//! The fixtures and calls every topic uses are here; the tests are in one module per topic.

mod access;
mod classifiers;
mod items;
mod lookups;
mod publication;
mod races;
mod transfer;
mod versions;

use std::collections::{BTreeMap, BTreeSet};

use futures::stream;
use prost_types::FieldMask;
use reestr::proto::v1::attribute_value::Value;
use reestr::proto::v1::classifier::State as ClassifierState;
use reestr::proto::v1::classifier_service_client::ClassifierServiceClient;
use reestr::proto::v1::classifier_version::State as VersionState;
use reestr::proto::v1::export_items_response::Data as ExportData;
use reestr::proto::v1::import_items_request::Data as ImportData;
use reestr::proto::v1::item_change::Kind as ChangeKind;
use reestr::proto::v1::translate_code_response::Outcome;
use reestr::proto::v1::validate_code_response::Reason;
use reestr::proto::v1::{
    AttributeDefinition, AttributeType, AttributeValue, BatchDeleteItemsRequest,
    BatchDeleteItemsResponse, BatchGetItemsRequest, BatchUpsertItemsRequest,
    BatchUpsertItemsResponse, Classifier, ClassifierVersion, CreateClassifierRequest,
    CreateClassifierVersionRequest, DeleteClassifierRequest, DeleteClassifierVersionRequest,
    DiffClassifierVersionsRequest, ExportItemsRequest, GetClassifierRequest,
    GetClassifierVersionRequest, GetItemAncestorsRequest, GetItemRequest, ImportItemsRequest,
    ImportItemsResponse, Item, ItemBatch, ItemChange, ItemFormat, ItemStatus,
    ListAuditEventsRequest, ListClassifierVersionsRequest, ListClassifiersRequest,
    ListItemsRequest, ListItemsResponse, PublishClassifierVersionRequest,
    RetireClassifierVersionRequest, Role, SearchMode, TranslateCodeRequest, TranslateCodeResponse,
    UndeleteClassifierRequest, UpdateClassifierRequest, UpdateClassifierVersionRequest,
    ValidateClassifierVersionRequest, ValidateClassifierVersionResponse, ValidateCodeRequest,
    ValidateCodeResponse,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::{
    Authed, TestApp, assert_status, bad_request_fields, spawn_app, spawn_app_with,
};

/// A ClassifierService client.
pub(crate) type Client = ClassifierServiceClient<Authed>;

/// A register with organisation `stat`, and an administrator's ClassifierService client.
async fn setup() -> (TestApp, Client) {
    let mut app = spawn_app().await;
    app.create_organization("stat", "201234567").await;
    let admin = app.classifiers();
    (app, admin)
}

/// A map of language tag (or key) to text.
fn text(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

/// A valid hierarchical classifier of `stat`: codes of 2 to 6 digits, up to 3 levels, names
/// required in English and Russian.
pub(crate) fn spec() -> Classifier {
    Classifier {
        owner: "organizations/stat".into(),
        display_name: text(&[("en", "Test classifier"), ("ru", "Тестовый классификатор")]),
        code_pattern: "[0-9]{2,6}".into(),
        hierarchical: true,
        max_depth: 3,
        required_languages: strings(&["en", "ru"]),
        ..Default::default()
    }
}

/// [`spec`], flat.
fn flat_spec() -> Classifier {
    Classifier {
        hierarchical: false,
        max_depth: 0,
        ..spec()
    }
}

/// An active item under `parent` ("" for the top level) named `en` and `ru`.
pub(crate) fn item(code: &str, parent: &str, en: &str, ru: &str) -> Item {
    Item {
        code: code.into(),
        parent: parent.into(),
        names: text(&[("en", en), ("ru", ru)]),
        ..Default::default()
    }
}

/// An active top-level item with the same name in English and Russian.
pub(crate) fn top(code: &str, name: &str) -> Item {
    item(code, "", name, name)
}

/// `item`, deprecated in favour of `successors`.
pub(crate) fn deprecated(item: Item, successors: &[&str]) -> Item {
    Item {
        status: ItemStatus::Deprecated as i32,
        successors: strings(successors),
        ..item
    }
}

fn string_value(s: &str) -> AttributeValue {
    AttributeValue {
        value: Some(Value::StringValue(s.into())),
    }
}

fn decimal_value(s: &str) -> AttributeValue {
    AttributeValue {
        value: Some(Value::DecimalValue(s.into())),
    }
}

fn attribute(key: &str, kind: AttributeType) -> AttributeDefinition {
    AttributeDefinition {
        key: key.into(),
        r#type: kind as i32,
        ..Default::default()
    }
}

pub(crate) fn version_name(classifier: &str, version: &str) -> String {
    format!("classifiers/{classifier}/versions/{version}")
}

/// The start of `date` (`YYYY-MM-DD`) in the register's default time zone, Asia/Tashkent.
fn midnight(date: &str) -> prost_types::Timestamp {
    format!("{date}T00:00:00+05:00")
        .parse()
        .expect("an RFC 3339 time")
}

/// The `as_of` of a test's shorthand: empty is unset, a `YYYY-MM-DD` day its first moment in
/// Asia/Tashkent, anything else an RFC 3339 time.
pub(crate) fn moment(at: &str) -> Option<prost_types::Timestamp> {
    match at {
        "" => None,
        day if day.len() == 10 => Some(midnight(day)),
        time => Some(time.parse().expect("an RFC 3339 time")),
    }
}

fn codes(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.code.as_str()).collect()
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: strings(paths),
    })
}

pub(crate) async fn create_classifier(
    c: &mut Client,
    id: &str,
    spec: Classifier,
) -> Result<Classifier, Status> {
    c.create_classifier(CreateClassifierRequest {
        classifier: Some(spec),
        classifier_id: id.into(),
        request_id: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn get_classifier(c: &mut Client, id: &str) -> Result<Classifier, Status> {
    c.get_classifier(GetClassifierRequest {
        name: format!("classifiers/{id}"),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Opens the draft `version` of `classifier`, taking effect at the start of `effective` (at
/// publication if `None`).
pub(crate) async fn create_draft(
    c: &mut Client,
    classifier: &str,
    version: &str,
    effective: Option<&str>,
) -> Result<ClassifierVersion, Status> {
    c.create_classifier_version(CreateClassifierVersionRequest {
        parent: format!("classifiers/{classifier}"),
        version_id: version.into(),
        version: Some(ClassifierVersion {
            effective_time: effective.map(midnight),
            ..Default::default()
        }),
        source_version: String::new(),
        request_id: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn get_version(c: &mut Client, name: &str) -> Result<ClassifierVersion, Status> {
    c.get_classifier_version(GetClassifierVersionRequest { name: name.into() })
        .await
        .map(tonic::Response::into_inner)
}

pub(crate) async fn upsert(
    c: &mut Client,
    parent: &str,
    items: Vec<Item>,
) -> Result<BatchUpsertItemsResponse, Status> {
    c.batch_upsert_items(BatchUpsertItemsRequest {
        parent: parent.into(),
        items,
        etag: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn delete_items(
    c: &mut Client,
    parent: &str,
    codes: &[&str],
    allow_missing: bool,
) -> Result<BatchDeleteItemsResponse, Status> {
    c.batch_delete_items(BatchDeleteItemsRequest {
        parent: parent.into(),
        codes: strings(codes),
        allow_missing,
        etag: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

pub(crate) async fn publish(c: &mut Client, name: &str) -> Result<ClassifierVersion, Status> {
    c.publish_classifier_version(PublishClassifierVersionRequest {
        name: name.into(),
        etag: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn validate(c: &mut Client, name: &str) -> ValidateClassifierVersionResponse {
    c.validate_classifier_version(ValidateClassifierVersionRequest { name: name.into() })
        .await
        .unwrap_or_else(|e| panic!("validate {name}: {e:?}"))
        .into_inner()
}

async fn retire(c: &mut Client, name: &str) -> Result<ClassifierVersion, Status> {
    c.retire_classifier_version(RetireClassifierVersionRequest {
        name: name.into(),
        etag: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Opens draft `version` of `classifier` effective at the start of `effective` (now if
/// `None`), fills it with `items` and publishes it.
pub(crate) async fn published(
    c: &mut Client,
    classifier: &str,
    version: &str,
    effective: Option<&str>,
    items: Vec<Item>,
) -> ClassifierVersion {
    let draft = create_draft(c, classifier, version, effective)
        .await
        .unwrap_or_else(|e| panic!("draft {classifier}/{version}: {e:?}"));
    upsert(c, &draft.name, items)
        .await
        .unwrap_or_else(|e| panic!("items of {}: {e:?}", draft.name));
    publish(c, &draft.name)
        .await
        .unwrap_or_else(|e| panic!("publish {}: {e:?}", draft.name))
}

pub(crate) async fn get_item(c: &mut Client, name: &str, as_of: &str) -> Result<Item, Status> {
    c.get_item(GetItemRequest {
        name: name.into(),
        as_of: moment(as_of),
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn list_items(
    c: &mut Client,
    request: ListItemsRequest,
) -> Result<ListItemsResponse, Status> {
    c.list_items(request).await.map(tonic::Response::into_inner)
}

/// Every item of `parent` in pages of `page_size` with `filter`; also returns the number of
/// pages.
async fn all_items(
    c: &mut Client,
    parent: &str,
    filter: &str,
    page_size: i32,
) -> (Vec<Item>, usize) {
    let mut request = ListItemsRequest {
        parent: parent.into(),
        page_size,
        filter: filter.into(),
        ..Default::default()
    };
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let page = list_items(c, request.clone())
            .await
            .unwrap_or_else(|e| panic!("list {parent} {filter:?}: {e:?}"));
        pages += 1;
        assert!(page.items.len() <= page_size as usize, "{page:?}");
        items.extend(page.items);
        if page.next_page_token.is_empty() {
            return (items, pages);
        }
        assert!(pages < 100, "paging does not end");
        request.page_token = page.next_page_token;
    }
}

/// The codes of the items of `parent` that `filter` and `search` select (one page of 1,000).
async fn selected(
    c: &mut Client,
    parent: &str,
    filter: &str,
    search: &str,
    mode: SearchMode,
) -> Vec<String> {
    let page = list_items(
        c,
        ListItemsRequest {
            parent: parent.into(),
            page_size: 1000,
            filter: filter.into(),
            search: search.into(),
            search_mode: mode as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("list {filter:?} {search:?}: {e:?}"));
    page.items.into_iter().map(|i| i.code).collect()
}

async fn import(
    c: &mut Client,
    messages: Vec<ImportItemsRequest>,
) -> Result<ImportItemsResponse, Status> {
    c.import_items(stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

/// An ITEMS import into `parent`: the first message names the draft and carries the first
/// batch, each later one the next batch.
fn items_import(parent: &str, batches: Vec<Vec<Item>>) -> Vec<ImportItemsRequest> {
    let mut messages = vec![ImportItemsRequest {
        parent: parent.into(),
        format: ItemFormat::Items as i32,
        ..Default::default()
    }];
    for (i, items) in batches.into_iter().enumerate() {
        let data = Some(ImportData::Items(ItemBatch { items }));
        if i == 0 {
            messages[0].data = data;
        } else {
            messages.push(ImportItemsRequest {
                data,
                ..Default::default()
            });
        }
    }
    messages
}

/// A CSV import of `csv` into `parent`, in pieces of `piece` bytes after a first message
/// that only names the draft.
fn csv_import(
    parent: &str,
    csv: &str,
    piece: usize,
    validate_only: bool,
) -> Vec<ImportItemsRequest> {
    let mut messages = vec![ImportItemsRequest {
        parent: parent.into(),
        format: ItemFormat::Csv as i32,
        validate_only,
        ..Default::default()
    }];
    messages.extend(
        csv.as_bytes()
            .chunks(piece)
            .map(|chunk| ImportItemsRequest {
                data: Some(ImportData::CsvChunk(chunk.to_vec())),
                ..Default::default()
            }),
    );
    messages
}

async fn export(c: &mut Client, name: &str, format: ItemFormat) -> Vec<ExportData> {
    let mut stream = c
        .export_items(ExportItemsRequest {
            name: name.into(),
            format: format as i32,
        })
        .await
        .unwrap_or_else(|e| panic!("export {name}: {e:?}"))
        .into_inner();
    let mut out = Vec::new();
    while let Some(message) = stream.message().await.expect("an export message") {
        out.push(message.data.expect("export data"));
    }
    out
}

async fn export_csv(c: &mut Client, name: &str) -> String {
    let mut bytes = Vec::new();
    for data in export(c, name, ItemFormat::Csv).await {
        let ExportData::CsvChunk(chunk) = data else {
            panic!("a CSV export sent items");
        };
        assert!(
            chunk.ends_with(b"\n"),
            "a CSV piece ends at a line end: {chunk:?}"
        );
        bytes.extend(chunk);
    }
    String::from_utf8(bytes).expect("UTF-8 CSV")
}

async fn export_items(c: &mut Client, name: &str) -> Vec<Item> {
    let mut items = Vec::new();
    for data in export(c, name, ItemFormat::Items).await {
        let ExportData::Items(batch) = data else {
            panic!("an ITEMS export sent CSV");
        };
        items.extend(batch.items);
    }
    items
}

async fn diff(c: &mut Client, base: &str, target: &str) -> Vec<ItemChange> {
    let mut stream = c
        .diff_classifier_versions(DiffClassifierVersionsRequest {
            base_version: base.into(),
            target_version: target.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("diff {base} {target}: {e:?}"))
        .into_inner();
    let mut out = Vec::new();
    while let Some(change) = stream.message().await.expect("a change") {
        out.push(change);
    }
    out
}

async fn translate(
    c: &mut Client,
    source: &str,
    code: &str,
    target: &str,
) -> Result<TranslateCodeResponse, Status> {
    c.translate_code(TranslateCodeRequest {
        source_version: source.into(),
        code: code.into(),
        target_version: target.into(),
    })
    .await
    .map(tonic::Response::into_inner)
}

pub(crate) async fn validate_code(
    c: &mut Client,
    classifier: &str,
    code: &str,
    as_of: &str,
) -> Result<ValidateCodeResponse, Status> {
    c.validate_code(ValidateCodeRequest {
        classifier: format!("classifiers/{classifier}"),
        code: code.into(),
        as_of: moment(as_of),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// The CSV lines an import's refusal names (each violation's description says `(CSV line N…`).
fn refused_lines(status: &Status) -> BTreeSet<i64> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .iter()
        .map(|v| {
            v.description
                .split_once("(CSV line ")
                .and_then(|(_, rest)| rest.split([',', ')']).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{v:?} names no line"))
        })
        .collect()
}

/// `regions` with one published version `v1`: 17 (Tashkent) with children 1701, 1702
/// (deprecated in favour of 1701) and grandchild 170101; 18 (Samarkand) with child 1801.
async fn tashkent(admin: &mut Client) -> ClassifierVersion {
    create_classifier(admin, "regions", spec()).await.unwrap();
    published(
        admin,
        "regions",
        "v1",
        None,
        vec![
            item("17", "", "Tashkent City", "Город Ташкент"),
            item("1701", "17", "Yunusabad District", "Юнусабадский район"),
            deprecated(
                item("1702", "17", "Old District", "Старый район"),
                &["1701"],
            ),
            item("170101", "1701", "Mahalla", "Махалля"),
            item("18", "", "Samarkand Region", "Самаркандская область"),
            item("1801", "18", "Urgut District", "Ургутский район"),
        ],
    )
    .await
}

/// `letters`: v1 (2020) has 01 A, 02 B, 03 C, 04 D and 07 G (deprecated for 02); v2 (2024)
/// keeps 01 as it was, deprecates 02 for the new 05 E, drops 03 and 07, renames 04.
async fn letters(admin: &mut Client) -> (ClassifierVersion, ClassifierVersion) {
    create_classifier(admin, "letters", flat_spec())
        .await
        .unwrap();
    let v1 = published(
        admin,
        "letters",
        "v1",
        Some("2020-01-01"),
        vec![
            top("01", "A"),
            top("02", "B"),
            top("03", "C"),
            top("04", "D"),
            deprecated(top("07", "G"), &["02"]),
        ],
    )
    .await;
    let v2 = published(
        admin,
        "letters",
        "v2",
        Some("2024-01-01"),
        vec![
            top("01", "A"),
            deprecated(top("02", "B"), &["05"]),
            top("04", "D2"),
            top("05", "E"),
        ],
    )
    .await;
    (v1, v2)
}

/// The `spec` column (JSON) of a classifier stored like [`spec`] but with `max_depth`,
/// `required_languages` and `attribute_schema` (JSON) as given.
fn stored_spec(max_depth: u32, languages: &[&str], attribute_schema: &str) -> String {
    let languages: Vec<String> = languages.iter().map(|l| format!("{l:?}")).collect();
    format!(
        r#"{{"display_name":{{"en":"Test classifier","ru":"Тестовый классификатор"}},"description":{{}},"legal_basis":[],"code_pattern":"[0-9]{{2,6}}","hierarchical":true,"max_depth":{max_depth},"required_languages":[{}],"attribute_schema":{attribute_schema}}}"#,
        languages.join(",")
    )
}

/// A register whose server has a single database connection, so that a call waiting on the
/// database holds it and the health probe cannot ping (see [`until_the_server_waits`]).
async fn setup_with_one_connection() -> (TestApp, Client) {
    let mut app = spawn_app_with(|c| c.database.max_connections = 1).await;
    app.create_organization("stat", "201234567").await;
    let admin = app.classifiers();
    (app, admin)
}

/// Returns once the server's only database connection has been held for a while by a call
/// waiting on a lock: the health probe, which needs that connection too, then turns
/// NOT_SERVING. This is how a test knows, without guessing at timings, that a call has read
/// what it reads first and is stuck on a lock the test holds.
async fn until_the_server_waits(app: &mut TestApp) {
    app.wait_for_health("", ServingStatus::NotServing).await;
}
