//! ClassifierService: classifiers and their requirements, versions and their lifecycle, items,
//! publication checks, lookups by version and by date, translation and differences, import and
//! export, and who may write.

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

// ------------------------------------------------------------------------------ fixtures

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
fn item(code: &str, parent: &str, en: &str, ru: &str) -> Item {
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
fn deprecated(item: Item, successors: &[&str]) -> Item {
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

fn codes(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.code.as_str()).collect()
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: strings(paths),
    })
}

// ------------------------------------------------------------------------------ calls

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
async fn create_draft(
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

async fn upsert(
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

async fn publish(c: &mut Client, name: &str) -> Result<ClassifierVersion, Status> {
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
        as_of: as_of.into(),
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
    date: &str,
) -> Result<ValidateCodeResponse, Status> {
    c.validate_code(ValidateCodeRequest {
        classifier: format!("classifiers/{classifier}"),
        code: code.into(),
        date: date.into(),
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

// ------------------------------------------------------------------------------ classifiers

#[tokio::test]
async fn creating_a_classifier_checks_its_requirements_and_its_owner() {
    let (_app, mut admin) = setup().await;
    let created = create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    assert_eq!(created.name, "classifiers/regions");
    assert_eq!(created.owner, "organizations/stat");
    assert_eq!(created.code_pattern, "[0-9]{2,6}");
    assert_eq!(created.max_depth, 3);
    assert_eq!(
        created.required_languages.iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([&"en".to_string(), &"ru".to_string()])
    );
    assert_eq!(created.state, ClassifierState::Preparing as i32);
    assert!(created.latest_version.is_empty(), "{created:?}");
    assert!(created.draft_version.is_empty(), "{created:?}");
    assert!(created.delete_time.is_none());
    assert!(!created.etag.is_empty());
    assert_eq!(
        get_classifier(&mut admin, "regions").await.unwrap(),
        created
    );

    let err = create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap_err();
    assert_status(&err, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");

    // A retry with the same request_id returns the first result and creates nothing more.
    let request = CreateClassifierRequest {
        classifier: Some(spec()),
        classifier_id: "okonh".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let first = admin
        .create_classifier(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = admin
        .create_classifier(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    // The same request_id with another request is refused.
    let err = admin
        .create_classifier(CreateClassifierRequest {
            classifier_id: "okpo".into(),
            ..request
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, "REQUEST_ID_REUSED");

    // Every problem of the requirements at once.
    let mut bad = spec();
    bad.code_pattern = "[0-9".into();
    bad.required_languages.clear();
    bad.attribute_schema = vec![attribute("region", AttributeType::CodeRef)];
    let err = create_classifier(&mut admin, "bad", bad).await.unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    let mut fields = bad_request_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "classifier.attribute_schema[0].classifier",
            "classifier.code_pattern",
            "classifier.required_languages",
        ]
    );

    let orphan = Classifier {
        owner: "organizations/nobody".into(),
        ..spec()
    };
    let err = create_classifier(&mut admin, "orphan", orphan)
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "REFERENCE_NOT_FOUND");

    for missing in ["bad", "orphan"] {
        let err = get_classifier(&mut admin, missing).await.unwrap_err();
        assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    }
    let all = admin
        .list_classifiers(ListClassifiersRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = all.classifiers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["classifiers/okonh", "classifiers/regions"]);
}

#[tokio::test]
async fn classifiers_are_listed_by_owner_in_pages() {
    let (mut app, mut admin) = setup().await;
    app.create_organization("minfin", "301234567").await;
    for id in ["a-one", "b-two", "c-three"] {
        create_classifier(&mut admin, id, spec()).await.unwrap();
    }
    let budget = Classifier {
        owner: "organizations/minfin".into(),
        display_name: text(&[
            ("en", "Budget classification"),
            ("ru", "Бюджетная классификация"),
        ]),
        ..flat_spec()
    };
    create_classifier(&mut admin, "d-four", budget)
        .await
        .unwrap();

    let list = |filter: &str, page_size: i32, page_token: String| ListClassifiersRequest {
        page_size,
        page_token,
        filter: filter.into(),
        show_deleted: false,
    };
    let stat = "owner = \"organizations/stat\"";
    let first = admin
        .list_classifiers(list(stat, 2, String::new()))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = first.classifiers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["classifiers/a-one", "classifiers/b-two"]);
    assert!(!first.next_page_token.is_empty());
    let second = admin
        .list_classifiers(list(stat, 2, first.next_page_token.clone()))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = second.classifiers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["classifiers/c-three"]);
    assert!(second.next_page_token.is_empty());

    for (filter, expected) in [
        (
            "owner = \"organizations/minfin\"",
            vec!["classifiers/d-four"],
        ),
        ("hierarchical = false", vec!["classifiers/d-four"]),
        (
            "owner != \"organizations/minfin\"",
            vec![
                "classifiers/a-one",
                "classifiers/b-two",
                "classifiers/c-three",
            ],
        ),
        ("\"four\"", vec!["classifiers/d-four"]),
        ("display_name:\"Budget\"", vec!["classifiers/d-four"]),
    ] {
        let page = admin
            .list_classifiers(list(filter, 0, String::new()))
            .await
            .unwrap_or_else(|e| panic!("{filter}: {e:?}"))
            .into_inner();
        let names: Vec<&str> = page.classifiers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, expected, "{filter}");
    }

    // A token belongs to its query.
    let err = admin
        .list_classifiers(list(
            "owner = \"organizations/minfin\"",
            2,
            first.next_page_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["page_token"]);
    let err = admin
        .list_classifiers(list("", -1, String::new()))
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["page_size"]);
}

#[tokio::test]
async fn updating_a_classifier_changes_only_the_masked_fields_at_the_current_etag() {
    let (_app, mut admin) = setup().await;
    let created = create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();

    let mut change = created.clone();
    change.display_name = text(&[("en", "Regions"), ("ru", "Регионы")]);
    change.code_pattern = "[A-Z]+".into();
    let updated = admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(change.clone()),
            update_mask: mask(&["display_name"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, change.display_name);
    assert_eq!(updated.code_pattern, "[0-9]{2,6}", "not in the mask");
    assert_ne!(updated.etag, created.etag);
    assert_eq!(
        get_classifier(&mut admin, "regions").await.unwrap(),
        updated
    );

    // `created` carries the etag from before the update.
    let err = admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                display_name: text(&[("en", "Stale")]),
                ..created.clone()
            }),
            update_mask: mask(&["display_name"]),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");

    for (paths, field) in [
        (&["state"][..], "update_mask.paths[0]"),
        (
            &["display_name", "latest_version"][..],
            "update_mask.paths[1]",
        ),
        (&["etag"][..], "update_mask.paths[0]"),
    ] {
        let err = admin
            .update_classifier(UpdateClassifierRequest {
                classifier: Some(Classifier {
                    etag: String::new(),
                    ..change.clone()
                }),
                update_mask: mask(paths),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_request_fields(&err), [field], "{paths:?}");
    }

    // An invalid value in a masked field is refused; unmasked ones are not looked at.
    let repatterned = admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                etag: String::new(),
                ..change.clone()
            }),
            update_mask: mask(&["code_pattern", "max_depth"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(repatterned.code_pattern, "[A-Z]+");
    let err = admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                name: "classifiers/regions".into(),
                max_depth: 40,
                ..Default::default()
            }),
            update_mask: mask(&["max_depth"]),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["classifier.max_depth"]);
    let now = get_classifier(&mut admin, "regions").await.unwrap();
    assert_eq!(now.display_name, change.display_name);
    assert_eq!(now.max_depth, 3);
}

#[tokio::test]
async fn a_deleted_classifier_stays_readable_but_is_not_written_until_undeleted() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    published(&mut admin, "regions", "v1", None, vec![top("01", "One")]).await;
    let draft = create_draft(&mut admin, "regions", "v2", None)
        .await
        .unwrap();
    upsert(
        &mut admin,
        &draft.name,
        vec![top("01", "One"), top("02", "Two")],
    )
    .await
    .unwrap();

    let deleted = admin
        .delete_classifier(DeleteClassifierRequest {
            name: "classifiers/regions".into(),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.delete_time.is_some());
    assert!(
        get_classifier(&mut admin, "regions")
            .await
            .unwrap()
            .delete_time
            .is_some()
    );
    let item = get_item(&mut admin, "classifiers/regions/versions/v1/items/01", "")
        .await
        .expect("a deleted classifier's versions stay readable by name");
    assert_eq!(item.names["en"], "One");

    let listed = |show_deleted| ListClassifiersRequest {
        show_deleted,
        ..Default::default()
    };
    let live = admin
        .list_classifiers(listed(false))
        .await
        .unwrap()
        .into_inner();
    assert!(live.classifiers.is_empty(), "{live:?}");
    let all = admin
        .list_classifiers(listed(true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.classifiers.len(), 1);

    get_item(
        &mut admin,
        "classifiers/regions/versions/draft/items/02",
        "",
    )
    .await
    .expect("and so does its draft");
    let refusals = vec![
        create_draft(&mut admin, "regions", "v3", None)
            .await
            .unwrap_err(),
        upsert(&mut admin, &draft.name, vec![top("03", "Three")])
            .await
            .unwrap_err(),
        publish(&mut admin, &draft.name).await.unwrap_err(),
        admin
            .update_classifier(UpdateClassifierRequest {
                classifier: Some(Classifier {
                    name: "classifiers/regions".into(),
                    display_name: text(&[("en", "Renamed")]),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
            })
            .await
            .unwrap_err(),
    ];
    for err in refusals {
        assert_status(&err, Code::FailedPrecondition, "RESOURCE_DELETED");
    }
    let err = admin
        .delete_classifier(DeleteClassifierRequest {
            name: "classifiers/regions".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "RESOURCE_DELETED");

    let restored = admin
        .undelete_classifier(UndeleteClassifierRequest {
            name: "classifiers/regions".into(),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(restored.delete_time.is_none());
    assert_eq!(restored.latest_version, version_name("regions", "v1"));
    let err = admin
        .undelete_classifier(UndeleteClassifierRequest {
            name: "classifiers/regions".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "RESOURCE_NOT_DELETED");
    let v2 = publish(&mut admin, &draft.name)
        .await
        .expect("writable again");
    assert_eq!(v2.item_count, 2);
}

// ------------------------------------------------------------------------------ versions

#[tokio::test]
async fn a_classifier_has_at_most_one_draft_which_the_draft_alias_names() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "2026-1", None)
        .await
        .unwrap();
    assert_eq!(draft.name, "classifiers/regions/versions/2026-1");
    assert_eq!(draft.state, VersionState::Draft as i32);
    assert_eq!(draft.item_count, 0);
    assert!(draft.content_hash.is_empty() && draft.source_version.is_empty());
    assert!(draft.effective_time.is_none() && draft.publish_time.is_none());
    let classifier = get_classifier(&mut admin, "regions").await.unwrap();
    assert_eq!(classifier.draft_version, draft.name);
    assert_eq!(classifier.state, ClassifierState::Preparing as i32);

    let err = create_draft(&mut admin, "regions", "2026-2", None)
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "DRAFT_EXISTS");
    let err = create_draft(&mut admin, "regions", "draft", None)
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["version_id"]);

    assert_eq!(
        get_version(&mut admin, "classifiers/regions/versions/draft")
            .await
            .unwrap(),
        draft
    );
    let err = get_version(&mut admin, "classifiers/regions/versions/latest")
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");

    // Only the masked field changes.
    let described = admin
        .update_classifier_version(UpdateClassifierVersionRequest {
            version: Some(ClassifierVersion {
                name: "classifiers/regions/versions/draft".into(),
                description: "Regions of 2026".into(),
                effective_time: Some(midnight("2030-01-01")),
                ..Default::default()
            }),
            update_mask: mask(&["description"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(described.description, "Regions of 2026");
    assert!(described.effective_time.is_none());
    assert_ne!(described.etag, draft.etag);
    let timed = admin
        .update_classifier_version(UpdateClassifierVersionRequest {
            version: Some(ClassifierVersion {
                name: draft.name.clone(),
                etag: described.etag.clone(),
                effective_time: Some(midnight("2030-01-01")),
                ..Default::default()
            }),
            update_mask: mask(&["effective_time"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(timed.description, "Regions of 2026");
    assert_eq!(timed.effective_time, Some(midnight("2030-01-01")));
    let err = admin
        .update_classifier_version(UpdateClassifierVersionRequest {
            version: Some(ClassifierVersion {
                name: draft.name.clone(),
                etag: draft.etag.clone(),
                description: "Stale".into(),
                ..Default::default()
            }),
            update_mask: mask(&["description"]),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let err = admin
        .update_classifier_version(UpdateClassifierVersionRequest {
            version: Some(ClassifierVersion {
                name: draft.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["state"]),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["update_mask.paths[0]"]);
    // Beside `*` too, every path is checked.
    let err = admin
        .update_classifier_version(UpdateClassifierVersionRequest {
            version: Some(ClassifierVersion {
                name: draft.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["*", "colour"]),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["update_mask.paths[1]"]);

    upsert(
        &mut admin,
        &draft.name,
        vec![top("01", "One"), top("02", "Two")],
    )
    .await
    .unwrap();
    let deleted = admin
        .delete_classifier_version(DeleteClassifierVersionRequest {
            name: "classifiers/regions/versions/draft".into(),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.name, draft.name);
    assert_eq!(deleted.item_count, 2);
    let err = get_version(&mut admin, "classifiers/regions/versions/draft")
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err = get_item(
        &mut admin,
        "classifiers/regions/versions/2026-1/items/01",
        "",
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert!(
        get_classifier(&mut admin, "regions")
            .await
            .unwrap()
            .draft_version
            .is_empty()
    );
    create_draft(&mut admin, "regions", "2026-2", None)
        .await
        .expect("a new draft once the old one is gone");
}

#[tokio::test]
async fn a_draft_copied_from_a_published_version_starts_with_its_items() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    create_classifier(&mut admin, "other", spec())
        .await
        .unwrap();
    let v1 = published(
        &mut admin,
        "regions",
        "v1",
        None,
        vec![
            top("01", "One"),
            item("0101", "01", "One-one", "Один-один"),
            top("02", "Two"),
        ],
    )
    .await;
    let copy = |version_id: &str, source: &str| CreateClassifierVersionRequest {
        parent: "classifiers/regions".into(),
        version_id: version_id.into(),
        version: None,
        source_version: source.into(),
        request_id: String::new(),
    };
    let err = admin
        .create_classifier_version(copy("v2", "classifiers/other/versions/v1"))
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["source_version"]);

    let v2 = admin
        .create_classifier_version(copy("v2", "classifiers/regions/versions/latest"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.state, VersionState::Draft as i32);
    assert_eq!(v2.item_count, 3);
    assert_eq!(v2.source_version, v1.name);
    let (copied, _) = all_items(&mut admin, &v2.name, "", 1000).await;
    let (original, _) = all_items(&mut admin, &v1.name, "", 1000).await;
    assert_eq!(codes(&copied), ["01", "0101", "02"]);
    for (c, o) in copied.iter().zip(&original) {
        assert_eq!(c.name, format!("{}/items/{}", v2.name, c.code));
        assert_eq!((&c.parent, &c.names), (&o.parent, &o.names));
    }
    let got = get_item(
        &mut admin,
        "classifiers/regions/versions/draft/items/0101",
        "",
    )
    .await
    .unwrap();
    assert_eq!(got.name, format!("{}/items/0101", v2.name));
    assert_eq!(got.parent, "01");
    assert_eq!(got.names["ru"], "Один-один");

    // The copy is the draft's own: editing it leaves the source as it was.
    upsert(&mut admin, &v2.name, vec![top("03", "Three")])
        .await
        .unwrap();
    delete_items(&mut admin, &v2.name, &["02"], false)
        .await
        .unwrap();
    assert_eq!(
        get_version(&mut admin, &v2.name).await.unwrap().item_count,
        3
    );
    let (original_after, _) = all_items(&mut admin, &v1.name, "", 1000).await;
    assert_eq!(original_after, original);
    assert_eq!(
        get_version(&mut admin, &v1.name).await.unwrap().item_count,
        3
    );
}

// ------------------------------------------------------------------------------ items

#[tokio::test]
async fn batch_upsert_checks_items_for_form_and_writes_all_or_nothing() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "d", None)
        .await
        .unwrap();
    let written = upsert(
        &mut admin,
        "classifiers/regions/versions/draft",
        vec![top("01", "One"), item("0101", "01", "One-one", "Один-один")],
    )
    .await
    .unwrap();
    assert_eq!(codes(&written.items), ["01", "0101"]);
    assert_eq!(
        written.items[0].name,
        "classifiers/regions/versions/d/items/01"
    );
    let version = written.version.expect("the draft after the change");
    assert_eq!(version.item_count, 2);
    assert_ne!(version.etag, draft.etag);

    // A known code is replaced whole.
    let replaced = upsert(
        &mut admin,
        &draft.name,
        vec![item("01", "", "First", "Первый")],
    )
    .await
    .unwrap();
    assert_eq!(replaced.version.unwrap().item_count, 2);
    let got = get_item(
        &mut admin,
        "classifiers/regions/versions/draft/items/01",
        "",
    )
    .await
    .unwrap();
    assert_eq!(got.name, "classifiers/regions/versions/d/items/01");
    assert_eq!(got.names, text(&[("en", "First"), ("ru", "Первый")]));

    let mut bad_date = top("02", "Two");
    bad_date.valid_from = "2024-02-30".into();
    let too_many: Vec<Item> = (0..1001)
        .map(|i| top(&format!("{:04}", 1000 + i), "Many"))
        .collect();
    for (what, items, expected) in [
        (
            "a code twice",
            vec![top("02", "Two"), top("03", "Three"), top("02", "Two again")],
            vec!["items[2].code"],
        ),
        ("over 1,000 items", too_many, vec!["items"]),
        ("no items", Vec::new(), vec!["items"]),
        (
            "a date that does not exist",
            vec![top("03", "Three"), bad_date],
            vec!["items[1].valid_from"],
        ),
        (
            "a code with a slash",
            vec![top("03/1", "Slash")],
            vec!["items[0].code"],
        ),
    ] {
        let err = upsert(&mut admin, &draft.name, items).await.unwrap_err();
        assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(bad_request_fields(&err), expected, "{what}");
    }
    // Nothing of the refused calls was written.
    assert_eq!(
        get_version(&mut admin, &draft.name)
            .await
            .unwrap()
            .item_count,
        2
    );
    for code in ["02", "03", "1000"] {
        let err = get_item(&mut admin, &format!("{}/items/{code}", draft.name), "")
            .await
            .unwrap_err();
        assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    }
}

#[tokio::test]
async fn batch_delete_removes_every_code_or_none_unless_missing_ones_are_allowed() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "d", None)
        .await
        .unwrap();
    upsert(
        &mut admin,
        &draft.name,
        vec![top("01", "One"), top("02", "Two"), top("03", "Three")],
    )
    .await
    .unwrap();

    let err = delete_items(&mut admin, &draft.name, &["01", "99"], false)
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    get_item(&mut admin, &format!("{}/items/01", draft.name), "")
        .await
        .expect("nothing removed");
    assert_eq!(
        get_version(&mut admin, &draft.name)
            .await
            .unwrap()
            .item_count,
        3
    );

    let removed = delete_items(
        &mut admin,
        "classifiers/regions/versions/draft",
        &["01", "99"],
        true,
    )
    .await
    .unwrap();
    assert_eq!(removed.deleted_count, 1);
    assert_eq!(removed.version.unwrap().item_count, 2);
    let err = get_item(&mut admin, &format!("{}/items/01", draft.name), "")
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let (left, _) = all_items(&mut admin, &draft.name, "", 1000).await;
    assert_eq!(codes(&left), ["02", "03"]);

    let err = delete_items(&mut admin, &draft.name, &[], true)
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["codes"]);
}

// ------------------------------------------------------------------------------ publication

/// The classifier every publication check runs against: `places`, hierarchical to 2 levels,
/// names in English and Russian, a required `center` (STRING, capitalised, at most 8
/// characters), an optional `area` (DECIMAL) and an optional `region` (CODE_REF to `regions`,
/// whose published version has only `01`).
async fn places(admin: &mut Client) {
    create_classifier(admin, "regions", spec()).await.unwrap();
    published(admin, "regions", "v1", None, vec![top("01", "One")]).await;
    let places = Classifier {
        max_depth: 2,
        attribute_schema: vec![
            AttributeDefinition {
                required: true,
                pattern: "[A-Z][a-z]+".into(),
                max_length: 8,
                ..attribute("center", AttributeType::String)
            },
            attribute("area", AttributeType::Decimal),
            AttributeDefinition {
                classifier: "classifiers/regions".into(),
                ..attribute("region", AttributeType::CodeRef)
            },
        ],
        ..spec()
    };
    create_classifier(admin, "places", places).await.unwrap();
}

/// A valid item of `places`.
fn place(code: &str, parent: &str) -> Item {
    let mut i = item(
        code,
        parent,
        &format!("Place {code}"),
        &format!("Место {code}"),
    );
    i.attributes.insert("center".into(), string_value("Centre"));
    i
}

/// `place("17", "")` changed by `change`.
fn place_17(change: impl FnOnce(&mut Item)) -> Item {
    let mut i = place("17", "");
    change(&mut i);
    i
}

#[tokio::test]
async fn publication_is_refused_for_every_kind_of_problem_naming_the_item() {
    let (_app, mut admin) = setup().await;
    places(&mut admin).await;
    create_classifier(&mut admin, "kinds", flat_spec())
        .await
        .unwrap();
    let places_draft = create_draft(&mut admin, "places", "v1", None)
        .await
        .unwrap()
        .name;
    let kinds_draft = create_draft(&mut admin, "kinds", "v1", None)
        .await
        .unwrap()
        .name;

    let cases: Vec<(&str, &str, Vec<Item>, &str, &str)> = vec![
        ("places", "NO_ITEMS", vec![], "", "items"),
        (
            "places",
            "CODE_PATTERN",
            vec![place("1A", "")],
            "1A",
            r#"items["1A"].code"#,
        ),
        (
            "places",
            "MISSING_PARENT",
            vec![place("10", ""), place("17", "99")],
            "17",
            r#"items["17"].parent"#,
        ),
        (
            "kinds",
            "PARENT_IN_FLAT_CLASSIFIER",
            vec![
                top("10", "Ten"),
                item("17", "10", "Seventeen", "Семнадцать"),
            ],
            "17",
            r#"items["17"].parent"#,
        ),
        (
            "places",
            "CYCLE",
            vec![place("17", "18"), place("18", "17")],
            "17",
            r#"items["17"].parent"#,
        ),
        (
            "places",
            "TOO_DEEP",
            vec![
                place("10", ""),
                place("1017", "10"),
                place("101717", "1017"),
            ],
            "101717",
            r#"items["101717"].parent"#,
        ),
        (
            "places",
            "MISSING_NAME",
            vec![place_17(|i| {
                i.names.remove("ru");
            })],
            "17",
            r#"items["17"].names["ru"]"#,
        ),
        (
            "places",
            "UNKNOWN_ATTRIBUTE",
            vec![place_17(|i| {
                i.attributes.insert("colour".into(), string_value("Red"));
            })],
            "17",
            r#"items["17"].attributes["colour"]"#,
        ),
        (
            "places",
            "MISSING_ATTRIBUTE",
            vec![place_17(|i| {
                i.attributes.remove("center");
            })],
            "17",
            r#"items["17"].attributes["center"]"#,
        ),
        (
            "places",
            "ATTRIBUTE_TYPE",
            vec![place_17(|i| {
                i.attributes.insert(
                    "center".into(),
                    AttributeValue {
                        value: Some(Value::IntegerValue(5)),
                    },
                );
            })],
            "17",
            r#"items["17"].attributes["center"]"#,
        ),
        (
            "places",
            "ATTRIBUTE_PATTERN",
            vec![place_17(|i| {
                i.attributes.insert("center".into(), string_value("centre"));
            })],
            "17",
            r#"items["17"].attributes["center"]"#,
        ),
        (
            "places",
            "ATTRIBUTE_TOO_LONG",
            vec![place_17(|i| {
                i.attributes
                    .insert("center".into(), string_value("Samarkandia"));
            })],
            "17",
            r#"items["17"].attributes["center"]"#,
        ),
        (
            "places",
            "CODE_REF_NOT_FOUND",
            vec![place_17(|i| {
                i.attributes.insert(
                    "region".into(),
                    AttributeValue {
                        value: Some(Value::CodeRefValue("99".into())),
                    },
                );
            })],
            "17",
            r#"items["17"].attributes["region"]"#,
        ),
        (
            "places",
            "VALIDITY_RANGE",
            vec![place_17(|i| {
                i.valid_from = "2025-01-01".into();
                i.valid_to = "2024-12-31".into();
            })],
            "17",
            r#"items["17"].valid_to"#,
        ),
        (
            "places",
            "SUCCESSOR_OF_ACTIVE",
            vec![
                place("10", ""),
                place_17(|i| i.successors = strings(&["10"])),
            ],
            "17",
            r#"items["17"].successors"#,
        ),
        (
            "places",
            "SUCCESSOR_NOT_FOUND",
            vec![deprecated(place("17", ""), &["99"])],
            "17",
            r#"items["17"].successors[0]"#,
        ),
    ];
    for (classifier, kind, items, code, field) in cases {
        let draft = if classifier == "kinds" {
            &kinds_draft
        } else {
            &places_draft
        };
        let count = items.len() as i64;
        import(&mut admin, items_import(draft, vec![items]))
            .await
            .unwrap_or_else(|e| panic!("{kind}: import: {e:?}"));

        let report = validate(&mut admin, draft).await;
        assert!(!report.valid, "{kind}: {report:?}");
        assert_eq!(report.item_count, count, "{kind}");
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.kind == kind && p.code == code && p.field == field),
            "{kind}: expected {field} in {:?}",
            report.problems
        );

        let err = publish(&mut admin, draft).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{kind}: {err:?}");
        let fields = bad_request_fields(&err);
        assert!(
            fields.iter().any(|f| f == field),
            "{kind}: {field} in {fields:?}"
        );
        // One violation per problem, in the order ValidateClassifierVersion lists them.
        let listed: Vec<&str> = report.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, listed, "{kind}");
        assert_eq!(
            get_version(&mut admin, draft).await.unwrap().state,
            VersionState::Draft as i32,
            "{kind}: still a draft"
        );
    }

    // Every rule kept, and the same attributes used well: valid, and published.
    let mut good = place("17", "");
    good.attributes
        .insert("area".into(), decimal_value("334.80"));
    good.attributes.insert(
        "region".into(),
        AttributeValue {
            value: Some(Value::CodeRefValue("01".into())),
        },
    );
    good.valid_from = "2024-01-01".into();
    good.valid_to = "2024-01-01".into();
    let content = vec![
        place("10", ""),
        place("1017", "10"),
        deprecated(place("18", ""), &["17", "10"]),
        good,
    ];
    import(&mut admin, items_import(&places_draft, vec![content]))
        .await
        .unwrap();
    let report = validate(&mut admin, &places_draft).await;
    assert!(report.valid, "{report:?}");
    assert!(report.problems.is_empty());
    assert_eq!(report.item_count, 4);
    let published = publish(&mut admin, &places_draft).await.unwrap();
    assert_eq!(published.state, VersionState::Published as i32);
    assert_eq!(published.item_count, 4);
}

#[tokio::test]
async fn validation_lists_every_problem_of_a_draft_and_publishes_nothing() {
    let (_app, mut admin) = setup().await;
    places(&mut admin).await;
    let draft = create_draft(&mut admin, "places", "v1", None)
        .await
        .unwrap();
    let written = upsert(
        &mut admin,
        &draft.name,
        vec![
            place("10", "99"),
            place_17(|i| {
                i.names.clear();
                i.attributes.clear();
            }),
            deprecated(place("18", ""), &["18"]),
        ],
    )
    .await
    .unwrap()
    .version
    .expect("the draft after the change");
    let report = validate(&mut admin, "classifiers/places/versions/draft").await;
    assert!(!report.valid);
    let found: Vec<(&str, &str, &str)> = report
        .problems
        .iter()
        .map(|p| (p.code.as_str(), p.kind.as_str(), p.field.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("10", "MISSING_PARENT", r#"items["10"].parent"#),
            ("17", "MISSING_NAME", r#"items["17"].names["en"]"#),
            ("17", "MISSING_NAME", r#"items["17"].names["ru"]"#),
            (
                "17",
                "MISSING_ATTRIBUTE",
                r#"items["17"].attributes["center"]"#
            ),
            ("18", "SUCCESSOR_IS_SELF", r#"items["18"].successors[0]"#),
        ]
    );
    assert!(report.problems.iter().all(|p| !p.description.is_empty()));
    let after = get_version(&mut admin, &draft.name).await.unwrap();
    assert_eq!(after.state, VersionState::Draft as i32);
    assert_eq!(after.etag, written.etag, "validation changes nothing");
    let err = get_version(&mut admin, "classifiers/places/versions/latest")
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    // Validation is of drafts.
    let err = admin
        .validate_classifier_version(ValidateClassifierVersionRequest {
            name: "classifiers/regions/versions/v1".into(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "VERSION_NOT_EDITABLE");
}

#[tokio::test]
async fn a_refused_publication_lists_the_first_problems_and_counts_the_rest() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "v1", None)
        .await
        .unwrap();
    // 150 codes of seven digits, one too many for the pattern.
    let items: Vec<Item> = (0..150)
        .map(|i| top(&format!("{}", 1_000_000 + i), "Too long a code"))
        .collect();
    upsert(&mut admin, &draft.name, items).await.unwrap();
    assert_eq!(validate(&mut admin, &draft.name).await.problems.len(), 150);
    let err = publish(&mut admin, &draft.name).await.unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    let violations = err
        .get_details_bad_request()
        .expect("BadRequest")
        .field_violations;
    // The first problems, in code order, as many as fit in the error; the last violation
    // counts the rest, so that listed + counted = 150.
    let (count, listed) = violations.split_last().expect("violations");
    assert!(listed.len() >= 50, "{} listed", listed.len());
    for (i, v) in listed.iter().enumerate() {
        assert_eq!(v.field, format!("items[\"{}\"].code", 1_000_000 + i));
    }
    assert!(
        count
            .description
            .contains(&format!("{} more", 150 - listed.len())),
        "{count:?}"
    );
    assert!(
        err.message().len() < 1000,
        "the message does not repeat every violation"
    );
    assert_eq!(
        get_version(&mut admin, &draft.name).await.unwrap().state,
        VersionState::Draft as i32
    );
}

#[tokio::test]
async fn a_published_version_cannot_be_changed_by_any_method() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let v1 = published(
        &mut admin,
        "regions",
        "v1",
        None,
        vec![top("01", "One"), item("0101", "01", "One-one", "Один-один")],
    )
    .await;
    assert_eq!(v1.state, VersionState::Published as i32);
    assert!(v1.publish_time.is_some() && v1.effective_time.is_some());
    assert_eq!(v1.content_hash.len(), 64, "{}", v1.content_hash);
    assert!(
        v1.content_hash
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{}",
        v1.content_hash
    );

    for name in [
        v1.name.clone(),
        "classifiers/regions/versions/latest".to_string(),
    ] {
        let refusals: Vec<(&str, Status)> = vec![
            (
                "BatchUpsertItems",
                upsert(&mut admin, &name, vec![top("02", "Two")])
                    .await
                    .unwrap_err(),
            ),
            (
                "BatchDeleteItems",
                delete_items(&mut admin, &name, &["01"], true)
                    .await
                    .unwrap_err(),
            ),
            (
                "ImportItems",
                import(
                    &mut admin,
                    items_import(&name, vec![vec![top("02", "Two")]]),
                )
                .await
                .unwrap_err(),
            ),
            (
                "UpdateClassifierVersion",
                admin
                    .update_classifier_version(UpdateClassifierVersionRequest {
                        version: Some(ClassifierVersion {
                            name: name.clone(),
                            description: "Changed".into(),
                            ..Default::default()
                        }),
                        update_mask: mask(&["description"]),
                    })
                    .await
                    .unwrap_err(),
            ),
            (
                "DeleteClassifierVersion",
                admin
                    .delete_classifier_version(DeleteClassifierVersionRequest {
                        name: name.clone(),
                        etag: String::new(),
                    })
                    .await
                    .unwrap_err(),
            ),
        ];
        for (method, err) in refusals {
            assert_eq!(
                err.code(),
                Code::FailedPrecondition,
                "{method} {name}: {err:?}"
            );
            assert_status(&err, Code::FailedPrecondition, "VERSION_NOT_EDITABLE");
        }
    }
    let err = publish(&mut admin, &v1.name).await.unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");

    // Still exactly what was published.
    let now = get_version(&mut admin, &v1.name).await.unwrap();
    assert_eq!(now, v1);
    let one = get_item(&mut admin, "classifiers/regions/versions/v1/items/01", "")
        .await
        .unwrap();
    assert_eq!(one.names, text(&[("en", "One"), ("ru", "One")]));
    let err = get_item(&mut admin, "classifiers/regions/versions/v1/items/02", "")
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let (items, _) = all_items(&mut admin, &v1.name, "", 1000).await;
    assert_eq!(codes(&items), ["01", "0101"]);

    // The hash certifies content alone: the same items, written in another order, hash the same.
    let v2 = published(
        &mut admin,
        "regions",
        "v2",
        None,
        vec![item("0101", "01", "One-one", "Один-один"), top("01", "One")],
    )
    .await;
    assert_eq!(v2.content_hash, v1.content_hash);
    let v3 = published(
        &mut admin,
        "regions",
        "v3",
        None,
        vec![top("01", "One"), item("0101", "01", "One-one", "Один-одиН")],
    )
    .await;
    assert_ne!(v3.content_hash, v1.content_hash);

    // A draft is not retired, and a retired version is not published.
    let draft = create_draft(&mut admin, "regions", "v4", None)
        .await
        .unwrap();
    let err = retire(&mut admin, &draft.name).await.unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    retire(&mut admin, &v1.name).await.unwrap();
    let err = publish(&mut admin, &v1.name).await.unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
}

// ------------------------------------------------------------------------------ by date

#[tokio::test]
async fn as_of_reads_the_version_in_effect_at_the_start_of_that_day() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    for (version, effective) in [
        ("v1", "2020-01-01"),
        ("v2", "2024-01-01"),
        ("v3", "2999-01-01"),
    ] {
        let v = published(
            &mut admin,
            "regions",
            version,
            Some(effective),
            vec![top("01", &format!("One {version}"))],
        )
        .await;
        assert_eq!(v.effective_time, Some(midnight(effective)));
    }
    let latest = "classifiers/regions/versions/latest/items/01";
    for (as_of, expected) in [
        ("2021-06-01", "v1"),
        ("2023-12-31", "v1"),
        ("2024-01-01", "v2"),
        ("2025-01-01", "v2"),
        ("", "v2"),
        ("2999-01-01", "v3"),
    ] {
        let got = get_item(&mut admin, latest, as_of)
            .await
            .unwrap_or_else(|e| panic!("as of {as_of:?}: {e:?}"));
        assert_eq!(
            got.name,
            format!("classifiers/regions/versions/{expected}/items/01"),
            "as of {as_of:?}"
        );
        assert_eq!(
            got.names["en"],
            format!("One {expected}"),
            "as of {as_of:?}"
        );
    }
    let err = get_item(&mut admin, latest, "2019-01-01")
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");

    // The other reads pick the same version.
    let listed = list_items(
        &mut admin,
        ListItemsRequest {
            parent: "classifiers/regions/versions/latest".into(),
            as_of: "2021-06-01".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(listed.version, version_name("regions", "v1"));
    let batch = admin
        .batch_get_items(BatchGetItemsRequest {
            parent: "classifiers/regions/versions/latest".into(),
            codes: strings(&["01"]),
            as_of: "2025-01-01".into(),
            allow_missing: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.version, version_name("regions", "v2"));

    let state = |v: &ClassifierVersion| VersionState::try_from(v.state).unwrap();
    let mut states = Vec::new();
    for v in ["v1", "v2", "v3"] {
        states.push(state(
            &get_version(&mut admin, &version_name("regions", v))
                .await
                .unwrap(),
        ));
    }
    assert_eq!(
        states,
        [
            VersionState::Superseded,
            VersionState::Published,
            VersionState::Published
        ]
    );
    assert_eq!(
        get_version(&mut admin, "classifiers/regions/versions/latest")
            .await
            .unwrap()
            .name,
        version_name("regions", "v2")
    );
    let classifier = get_classifier(&mut admin, "regions").await.unwrap();
    assert_eq!(classifier.state, ClassifierState::Active as i32);
    assert_eq!(classifier.latest_version, version_name("regions", "v2"));
    let versions = admin
        .list_classifier_versions(ListClassifierVersionsRequest {
            parent: "classifiers/regions".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = versions.versions.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "classifiers/regions/versions/v3",
            "classifiers/regions/versions/v2",
            "classifiers/regions/versions/v1",
        ]
    );

    // Retiring v2 hands the present back to v1.
    let retired = retire(&mut admin, &version_name("regions", "v2"))
        .await
        .unwrap();
    assert_eq!(state(&retired), VersionState::Retired);
    assert!(retired.retire_time.is_some());
    assert_eq!(
        get_item(&mut admin, latest, "").await.unwrap().name,
        "classifiers/regions/versions/v1/items/01"
    );
    assert_eq!(
        get_item(&mut admin, latest, "2025-01-01")
            .await
            .unwrap()
            .name,
        "classifiers/regions/versions/v1/items/01"
    );
    assert_eq!(
        state(
            &get_version(&mut admin, &version_name("regions", "v1"))
                .await
                .unwrap()
        ),
        VersionState::Published
    );
    assert_eq!(
        get_classifier(&mut admin, "regions")
            .await
            .unwrap()
            .latest_version,
        version_name("regions", "v1")
    );
    // A retired version stays readable by name.
    let v2_item = get_item(&mut admin, "classifiers/regions/versions/v2/items/01", "")
        .await
        .unwrap();
    assert_eq!(v2_item.names["en"], "One v2");
    let err = retire(&mut admin, &version_name("regions", "v2"))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");

    // `as_of` needs `latest`, and a real date.
    for (name, as_of) in [
        ("classifiers/regions/versions/v1/items/01", "2021-06-01"),
        ("classifiers/regions/versions/draft/items/01", "2021-06-01"),
        (latest, "2021-13-01"),
        (latest, "01.06.2021"),
    ] {
        let err = get_item(&mut admin, name, as_of).await.unwrap_err();
        assert_eq!(bad_request_fields(&err), ["as_of"], "{name} as of {as_of}");
    }
}

// ------------------------------------------------------------------------------ reads

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

#[tokio::test]
async fn items_are_listed_in_code_order_by_parent_level_status_and_name() {
    let (_app, mut admin) = setup().await;
    tashkent(&mut admin).await;
    let latest = "classifiers/regions/versions/latest";
    let all = SearchMode::Unspecified;
    for (filter, expected) in [
        ("", &["17", "1701", "170101", "1702", "18", "1801"][..]),
        ("parent = \"17\"", &["1701", "1702"][..]),
        ("parent = \"\"", &["17", "18"][..]),
        ("parent = \"1801\"", &[][..]),
        ("level = 2", &["1701", "1702", "1801"][..]),
        ("level >= 2 AND level < 3", &["1701", "1702", "1801"][..]),
        ("status = DEPRECATED", &["1702"][..]),
        ("parent = \"17\" AND status = ACTIVE", &["1701"][..]),
        ("code = \"17*\"", &["17", "1701", "170101", "1702"][..]),
    ] {
        assert_eq!(
            selected(&mut admin, latest, filter, "", all).await,
            expected,
            "{filter}"
        );
    }
    for (search, mode, expected) in [
        ("таш", SearchMode::Substring, &["17"][..]),
        ("ТАШКЕНТ", SearchMode::Unspecified, &["17"][..]),
        ("  Ташкент ", SearchMode::Substring, &["17"][..]),
        (
            "район",
            SearchMode::Substring,
            &["1701", "1702", "1801"][..],
        ),
        ("город", SearchMode::Prefix, &["17"][..]),
        ("ГОРОД", SearchMode::Prefix, &["17"][..]),
        ("таш", SearchMode::Prefix, &[][..]),
        ("tash", SearchMode::Prefix, &["17"][..]),
        (
            "district",
            SearchMode::Substring,
            &["1701", "1702", "1801"][..],
        ),
    ] {
        assert_eq!(
            selected(&mut admin, latest, "", search, mode).await,
            expected,
            "{search:?} {mode:?}"
        );
    }
    assert_eq!(
        selected(
            &mut admin,
            latest,
            "parent = \"17\"",
            "район",
            SearchMode::Substring
        )
        .await,
        ["1701", "1702"]
    );

    // Published items carry their level.
    let page = list_items(
        &mut admin,
        ListItemsRequest {
            parent: latest.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let levels: Vec<(&str, u32)> = page
        .items
        .iter()
        .map(|i| (i.code.as_str(), i.level))
        .collect();
    assert_eq!(
        levels,
        [
            ("17", 1),
            ("1701", 2),
            ("170101", 3),
            ("1702", 2),
            ("18", 1),
            ("1801", 2)
        ]
    );
    assert_eq!(page.version, version_name("regions", "v1"));

    // Pages of two give every item exactly once, in order.
    let (paged, pages) = all_items(&mut admin, latest, "", 2).await;
    assert_eq!(
        codes(&paged),
        ["17", "1701", "170101", "1702", "18", "1801"]
    );
    assert_eq!(pages, 3);
    let (paged, pages) = all_items(&mut admin, latest, "parent = \"17\"", 1).await;
    assert_eq!(codes(&paged), ["1701", "1702"]);
    assert_eq!(pages, 2);
    let (paged, _) = all_items(&mut admin, latest, "level = 2", 1).await;
    assert_eq!(codes(&paged), ["1701", "1702", "1801"]);

    // A token is the server's, and belongs to its query.
    let first = list_items(
        &mut admin,
        ListItemsRequest {
            parent: latest.into(),
            page_size: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let token = first.next_page_token.clone();
    let mut tampered: Vec<char> = token.chars().collect();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for (page_token, filter) in [
        (tampered, ""),
        ("not a token".to_string(), ""),
        (token.clone(), "parent = \"17\""),
    ] {
        let err = list_items(
            &mut admin,
            ListItemsRequest {
                parent: latest.into(),
                page_size: 2,
                page_token: page_token.clone(),
                filter: filter.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            bad_request_fields(&err),
            ["page_token"],
            "{page_token:?} {filter:?}"
        );
    }
    for (request, field) in [
        (
            ListItemsRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
        (
            ListItemsRequest {
                filter: "colour = \"red\"".into(),
                ..Default::default()
            },
            "filter",
        ),
        (
            ListItemsRequest {
                filter: "status = RETIRED".into(),
                ..Default::default()
            },
            "filter",
        ),
    ] {
        let err = list_items(
            &mut admin,
            ListItemsRequest {
                parent: latest.into(),
                ..request
            },
        )
        .await
        .unwrap_err();
        assert_eq!(bad_request_fields(&err), [field]);
    }
}

#[tokio::test]
async fn items_are_read_one_by_one_in_batches_and_with_their_ancestors() {
    let (_app, mut admin) = setup().await;
    let v1 = tashkent(&mut admin).await;
    let got = get_item(
        &mut admin,
        "classifiers/regions/versions/latest/items/1702",
        "",
    )
    .await
    .unwrap();
    assert_eq!(got.name, format!("{}/items/1702", v1.name));
    assert_eq!(got.parent, "17");
    assert_eq!(got.status, ItemStatus::Deprecated as i32);
    assert_eq!(got.successors, ["1701"]);
    assert_eq!(got.level, 2);
    assert_eq!(got.names["ru"], "Старый район");
    let err = get_item(
        &mut admin,
        "classifiers/regions/versions/latest/items/19",
        "",
    )
    .await
    .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err = get_item(
        &mut admin,
        "classifiers/nothing/versions/latest/items/17",
        "",
    )
    .await
    .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");

    let batch = |codes: &[&str], allow_missing| BatchGetItemsRequest {
        parent: "classifiers/regions/versions/latest".into(),
        codes: strings(codes),
        as_of: String::new(),
        allow_missing,
    };
    let found = admin
        .batch_get_items(batch(&["18", "170101", "17"], false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&found.items), ["18", "170101", "17"]);
    assert!(found.missing_codes.is_empty());
    assert_eq!(found.version, v1.name);
    let partial = admin
        .batch_get_items(batch(&["18", "99", "17", "98"], true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(codes(&partial.items), ["18", "17"]);
    assert_eq!(partial.missing_codes, ["99", "98"]);
    let err = admin
        .batch_get_items(batch(&["18", "99"], false))
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err = admin.batch_get_items(batch(&[], true)).await.unwrap_err();
    assert_eq!(bad_request_fields(&err), ["codes"]);

    let ancestors = |name: &str| GetItemAncestorsRequest {
        name: format!("classifiers/regions/versions/latest/items/{name}"),
        as_of: String::new(),
    };
    let chain = admin
        .get_item_ancestors(ancestors("170101"))
        .await
        .unwrap()
        .into_inner()
        .ancestors;
    assert_eq!(codes(&chain), ["1701", "17"]);
    assert_eq!(chain[1].names["ru"], "Город Ташкент");
    assert_eq!((chain[0].level, chain[1].level), (2, 1));
    let chain = admin
        .get_item_ancestors(ancestors("1801"))
        .await
        .unwrap()
        .into_inner()
        .ancestors;
    assert_eq!(codes(&chain), ["18"]);
    let chain = admin
        .get_item_ancestors(ancestors("17"))
        .await
        .unwrap()
        .into_inner()
        .ancestors;
    assert!(chain.is_empty());
    let err = admin.get_item_ancestors(ancestors("19")).await.unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn validate_code_says_whether_a_code_may_be_used_on_a_day_and_why_not() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "kinds", flat_spec())
        .await
        .unwrap();
    create_classifier(&mut admin, "empty", flat_spec())
        .await
        .unwrap();
    let v1 = published(
        &mut admin,
        "kinds",
        "v1",
        Some("2020-01-01"),
        vec![
            top("10", "Ten"),
            Item {
                valid_from: "2030-01-01".into(),
                ..top("11", "Eleven")
            },
            Item {
                valid_to: "2021-12-31".into(),
                ..top("12", "Twelve")
            },
            deprecated(top("13", "Thirteen"), &["10"]),
            deprecated(top("14", "Fourteen"), &["13"]),
        ],
    )
    .await;
    for (code, date, valid, reason, successors) in [
        ("10", "", true, Reason::Unspecified, &[][..]),
        ("10", "2020-01-01", true, Reason::Unspecified, &[][..]),
        ("11", "", false, Reason::NotYetValid, &[][..]),
        ("11", "2030-01-01", true, Reason::Unspecified, &[][..]),
        ("12", "2021-12-31", true, Reason::Unspecified, &[][..]),
        ("12", "2022-01-01", false, Reason::Expired, &[][..]),
        ("13", "", false, Reason::Deprecated, &["10"][..]),
        // Successors are translated to the active codes of the version.
        ("14", "", false, Reason::Deprecated, &["10"][..]),
    ] {
        let answer = validate_code(&mut admin, "kinds", code, date)
            .await
            .unwrap_or_else(|e| panic!("{code} on {date:?}: {e:?}"));
        assert_eq!(answer.valid, valid, "{code} on {date:?}: {answer:?}");
        assert_eq!(
            answer.reason, reason as i32,
            "{code} on {date:?}: {answer:?}"
        );
        assert_eq!(answer.successors, successors, "{code} on {date:?}");
        assert_eq!(answer.version, v1.name);
        let item = answer.item.expect("the version has the item");
        assert_eq!(item.code, code);
        assert_eq!(item.name, format!("{}/items/{code}", v1.name));
    }
    let unknown = validate_code(&mut admin, "kinds", "99", "").await.unwrap();
    assert!(!unknown.valid);
    assert_eq!(unknown.reason, Reason::UnknownCode as i32);
    assert_eq!(unknown.version, v1.name);
    assert!(unknown.item.is_none());
    for (classifier, date) in [("kinds", "2019-12-31"), ("empty", "")] {
        let none = validate_code(&mut admin, classifier, "10", date)
            .await
            .unwrap();
        assert!(!none.valid);
        assert_eq!(
            none.reason,
            Reason::NoVersionInEffect as i32,
            "{classifier} {date}"
        );
        assert!(none.version.is_empty() && none.item.is_none(), "{none:?}");
    }
    let err = validate_code(&mut admin, "nothing", "10", "")
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    let err = validate_code(&mut admin, "kinds", "10", "2021-02-30")
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["date"]);
}

// ------------------------------------------------------------------------------ between versions

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

#[tokio::test]
async fn translate_code_follows_successors_into_the_newer_version() {
    let (_app, mut admin) = setup().await;
    let (v1, v2) = letters(&mut admin).await;
    for (code, outcome, expected) in [
        ("01", Outcome::Same, &["01"][..]),
        ("02", Outcome::Replaced, &["05"][..]),
        ("03", Outcome::Withdrawn, &[][..]),
        ("04", Outcome::Same, &["04"][..]),
        ("05", Outcome::Same, &["05"][..]),
        // Deprecated in v1 for 02, which v2 deprecates for 05.
        ("07", Outcome::Replaced, &["05"][..]),
        ("99", Outcome::Unknown, &[][..]),
    ] {
        for target in ["", "classifiers/letters/versions/latest", v2.name.as_str()] {
            let answer = translate(&mut admin, &v1.name, code, target)
                .await
                .unwrap_or_else(|e| panic!("{code} to {target:?}: {e:?}"));
            assert_eq!(
                answer.outcome, outcome as i32,
                "{code} to {target:?}: {answer:?}"
            );
            assert_eq!(codes(&answer.items), expected, "{code} to {target:?}");
            assert_eq!(answer.target_version, v2.name);
            for item in &answer.items {
                assert_eq!(item.name, format!("{}/items/{}", v2.name, item.code));
            }
        }
    }
    let answer = translate(&mut admin, &v1.name, "04", "").await.unwrap();
    assert_eq!(
        answer.items[0].names["en"], "D2",
        "the target version's item"
    );

    create_draft(&mut admin, "letters", "v3", None)
        .await
        .unwrap();
    let err = translate(&mut admin, "classifiers/letters/versions/draft", "01", "")
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "VERSION_NOT_PUBLISHED");
    create_classifier(&mut admin, "other", flat_spec())
        .await
        .unwrap();
    let err = translate(
        &mut admin,
        &v1.name,
        "01",
        "classifiers/other/versions/latest",
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["target_version"]);
}

#[tokio::test]
async fn diff_streams_the_added_removed_and_changed_items_in_code_order() {
    let (_app, mut admin) = setup().await;
    let (v1, v2) = letters(&mut admin).await;
    let summary = |changes: &[ItemChange]| -> Vec<(String, ChangeKind, Vec<String>)> {
        changes
            .iter()
            .map(|c| {
                (
                    c.code.clone(),
                    ChangeKind::try_from(c.kind).unwrap(),
                    c.changed_fields.clone(),
                )
            })
            .collect()
    };
    let forward = diff(&mut admin, &v1.name, &v2.name).await;
    let expected = |kind_03, kind_05, kind_07| {
        vec![
            (
                "02".to_string(),
                ChangeKind::Changed,
                strings(&["status", "successors"]),
            ),
            ("03".to_string(), kind_03, vec![]),
            ("04".to_string(), ChangeKind::Changed, strings(&["names"])),
            ("05".to_string(), kind_05, vec![]),
            ("07".to_string(), kind_07, vec![]),
        ]
    };
    assert_eq!(
        summary(&forward),
        expected(ChangeKind::Removed, ChangeKind::Added, ChangeKind::Removed)
    );
    for change in &forward {
        let base = change.base.as_ref().map(|i| i.name.clone());
        let target = change.target.as_ref().map(|i| i.name.clone());
        let in_base = Some(format!("{}/items/{}", v1.name, change.code));
        let in_target = Some(format!("{}/items/{}", v2.name, change.code));
        match ChangeKind::try_from(change.kind).unwrap() {
            ChangeKind::Added => assert_eq!((base, target), (None, in_target)),
            ChangeKind::Removed => assert_eq!((base, target), (in_base, None)),
            _ => assert_eq!((base, target), (in_base, in_target)),
        }
    }
    let renamed = &forward[2];
    assert_eq!(renamed.base.as_ref().unwrap().names["en"], "D");
    assert_eq!(renamed.target.as_ref().unwrap().names["en"], "D2");

    let backward = diff(&mut admin, &v2.name, &v1.name).await;
    assert_eq!(
        summary(&backward),
        expected(ChangeKind::Added, ChangeKind::Removed, ChangeKind::Added)
    );
    assert!(diff(&mut admin, &v1.name, &v1.name).await.is_empty());

    // Against the draft: a copy of v2 with one item added.
    admin
        .create_classifier_version(CreateClassifierVersionRequest {
            parent: "classifiers/letters".into(),
            version_id: "v3".into(),
            version: None,
            source_version: v2.name.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    upsert(
        &mut admin,
        "classifiers/letters/versions/v3",
        vec![top("06", "F")],
    )
    .await
    .unwrap();
    let to_draft = diff(
        &mut admin,
        "classifiers/letters/versions/latest",
        "classifiers/letters/versions/draft",
    )
    .await;
    assert_eq!(
        summary(&to_draft),
        [("06".to_string(), ChangeKind::Added, vec![])]
    );
}

// ------------------------------------------------------------------------------ import, export

#[tokio::test]
async fn an_items_import_replaces_the_drafts_content_batch_by_batch() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "d", None)
        .await
        .unwrap();
    upsert(&mut admin, &draft.name, vec![top("99", "Old")])
        .await
        .unwrap();
    let imported = import(
        &mut admin,
        items_import(
            "classifiers/regions/versions/draft",
            vec![
                vec![top("01", "One"), top("02", "Two")],
                vec![item("0101", "01", "One-one", "Один-один")],
                vec![top("03", "Three"), top("04", "Four")],
            ],
        ),
    )
    .await
    .unwrap();
    assert_eq!(imported.item_count, 5);
    assert!(imported.committed);
    assert!(imported.problems.is_empty());
    assert_eq!(imported.version.unwrap().item_count, 5);
    let (items, _) = all_items(&mut admin, &draft.name, "", 1000).await;
    assert_eq!(codes(&items), ["01", "0101", "02", "03", "04"]);
    assert_eq!(items[1].parent, "01");

    // A bad item anywhere in the stream: nothing is written, and its position is named.
    let mut bad = top("05", "Five");
    bad.valid_to = "31.12.2024".into();
    let err = import(
        &mut admin,
        items_import(
            &draft.name,
            vec![
                vec![top("01", "Uno"), top("02", "Dos")],
                vec![top("06", "Six"), bad],
            ],
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["items[3].valid_to"]);
    let (after, _) = all_items(&mut admin, &draft.name, "", 1000).await;
    assert_eq!(after, items, "the draft is as before the refused import");
    // A code that comes again in a later batch.
    let err = import(
        &mut admin,
        items_import(
            &draft.name,
            vec![
                vec![top("01", "Uno"), top("02", "Dos")],
                vec![top("06", "Six"), top("01", "Again")],
            ],
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["items[3].code"]);
    let (after, _) = all_items(&mut admin, &draft.name, "", 1000).await;
    assert_eq!(after, items, "the draft is as before the refused import");
    assert_eq!(
        get_version(&mut admin, &draft.name)
            .await
            .unwrap()
            .item_count,
        5
    );
}

#[tokio::test]
async fn a_csv_import_reads_text_split_anywhere() {
    let (_app, mut admin) = setup().await;
    let regions = Classifier {
        required_languages: strings(&["en", "ru", "uz-Cyrl"]),
        attribute_schema: vec![attribute("area", AttributeType::Decimal)],
        ..spec()
    };
    create_classifier(&mut admin, "regions", regions)
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "d", None)
        .await
        .unwrap();
    upsert(&mut admin, &draft.name, vec![top("99", "Old")])
        .await
        .unwrap();
    let csv = "code,parent,name:en,name:ru,name:uz-Cyrl,attr:area,status,successors,valid_from\r\n\
               17,,\"Tashkent, City\",Город Ташкент,Тошкент шаҳри,334.80,,,\r\n\
               1701,17,Yunusabad,Юнусабадский район,Юнусобод тумани,,,,2001-01-01\r\n\
               1702,17,\"The \"\"old\"\" one\",Старый,Эски,,DEPRECATED,1701,\r\n";
    let imported = import(&mut admin, csv_import(&draft.name, csv, 7, false))
        .await
        .unwrap();
    assert_eq!(imported.item_count, 3);
    assert!(imported.committed);
    let (items, _) = all_items(&mut admin, &draft.name, "", 1000).await;
    assert_eq!(codes(&items), ["17", "1701", "1702"]);
    let tashkent = &items[0];
    assert_eq!(
        tashkent.names,
        text(&[
            ("en", "Tashkent, City"),
            ("ru", "Город Ташкент"),
            ("uz-Cyrl", "Тошкент шаҳри")
        ])
    );
    assert_eq!(
        tashkent.attributes,
        BTreeMap::from([("area".to_string(), decimal_value("334.80"))])
    );
    assert_eq!(
        (items[1].parent.as_str(), items[1].valid_from.as_str()),
        ("17", "2001-01-01")
    );
    assert_eq!(items[2].names["en"], "The \"old\" one");
    assert_eq!(items[2].status, ItemStatus::Deprecated as i32);
    assert_eq!(items[2].successors, ["1701"]);
    publish(&mut admin, &draft.name)
        .await
        .expect("the imported draft is valid");
}

#[tokio::test]
async fn a_csv_with_bad_rows_is_refused_whole_naming_every_bad_line() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", flat_spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "d", None)
        .await
        .unwrap();
    upsert(
        &mut admin,
        &draft.name,
        vec![top("01", "One"), top("02", "Two")],
    )
    .await
    .unwrap();
    let before = get_version(&mut admin, &draft.name).await.unwrap();
    let csv = "code,name:en,name:ru,valid_from\n\
               10,Ten,Десять,\n\
               11,Eleven,Одиннадцать,2024-02-30\n\
               12,Twelve,Двенадцать,\n\
               10,Ten again,Снова десять,\n\
               13,Thirteen,Тринадцать,\n";

    // With validate_only: every problem in the response, nothing written.
    let checked = import(&mut admin, csv_import(&draft.name, csv, 7, true))
        .await
        .unwrap();
    assert!(!checked.committed);
    assert_eq!(checked.item_count, 5);
    let problems: Vec<(i64, &str)> = checked
        .problems
        .iter()
        .map(|p| (p.line, p.code.as_str()))
        .collect();
    assert_eq!(problems, [(3, "11"), (5, "10")], "{:?}", checked.problems);
    let paths: Vec<&str> = checked.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(paths, ["rows[1].valid_from", "rows[3].code"]);
    assert_eq!(get_version(&mut admin, &draft.name).await.unwrap(), before);

    // For real: refused whole, naming lines 3 and 5, the draft as it was.
    let err = import(&mut admin, csv_import(&draft.name, csv, 7, false))
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(refused_lines(&err), BTreeSet::from([3, 5]), "{err:?}");
    assert_eq!(
        bad_request_fields(&err),
        ["rows[1].valid_from", "rows[3].code"],
        "one path syntax, in input order"
    );
    let (items, _) = all_items(&mut admin, &draft.name, "", 1000).await;
    assert_eq!(codes(&items), ["01", "02"]);
    assert_eq!(get_version(&mut admin, &draft.name).await.unwrap(), before);

    // An unknown column spoils the header, line 1.
    let err = import(
        &mut admin,
        csv_import(&draft.name, "code,name:en,colour\n10,Ten,red\n", 7, false),
    )
    .await
    .unwrap_err();
    assert_eq!(refused_lines(&err), BTreeSet::from([1]), "{err:?}");
    assert_eq!(bad_request_fields(&err), ["header.colour"]);
    assert_eq!(get_version(&mut admin, &draft.name).await.unwrap(), before);
}

/// A classifier with every attribute type and content that exercises the CSV format:
/// commas, quotes and line breaks in cells, every language, dates, deprecation.
async fn rich(admin: &mut Client) -> ClassifierVersion {
    let rich = Classifier {
        required_languages: strings(&["en", "ru"]),
        attribute_schema: vec![
            attribute("okato", AttributeType::String),
            attribute("population", AttributeType::Integer),
            attribute("area", AttributeType::Decimal),
            attribute("capital", AttributeType::Boolean),
            attribute("founded", AttributeType::Date),
        ],
        ..spec()
    };
    create_classifier(admin, "rich", rich).await.unwrap();
    let mut tashkent = item("17", "", "Tashkent, \"the capital\"", "Город Ташкент");
    tashkent
        .names
        .insert("uz-Latn".into(), "Toshkent shahri".into());
    tashkent
        .names
        .insert("uz-Cyrl".into(), "Тошкент шаҳри".into());
    tashkent
        .names
        .insert("kaa".into(), "Tashkent qalası".into());
    tashkent.description = "First line,\nsecond line".into();
    tashkent.attributes = BTreeMap::from([
        ("okato".to_string(), string_value("1726")),
        (
            "population".to_string(),
            AttributeValue {
                value: Some(Value::IntegerValue(-3_000_000)),
            },
        ),
        ("area".to_string(), decimal_value("334.80")),
        (
            "capital".to_string(),
            AttributeValue {
                value: Some(Value::BooleanValue(true)),
            },
        ),
        (
            "founded".to_string(),
            AttributeValue {
                value: Some(Value::DateValue("2001-01-01".into())),
            },
        ),
    ]);
    let mut fargona = item("18", "", "Fergana", "Фергана");
    fargona.names.insert("uz-Latn".into(), "Fargʻona".into());
    fargona.valid_from = "1991-09-01".into();
    fargona.valid_to = "2030-12-31".into();
    let mut capital_false = item("1801", "18", "Fergana city", "город Фергана");
    capital_false.attributes.insert(
        "capital".into(),
        AttributeValue {
            value: Some(Value::BooleanValue(false)),
        },
    );
    published(
        admin,
        "rich",
        "v1",
        None,
        vec![
            tashkent,
            item("1701", "17", "District", "Район"),
            deprecated(
                item("1702", "17", "Old district", "Старый район"),
                &["1701", "17"],
            ),
            fargona,
            capital_false,
        ],
    )
    .await
}

#[tokio::test]
async fn exported_items_import_back_to_the_same_content_hash() {
    let (_app, mut admin) = setup().await;
    let v1 = rich(&mut admin).await;
    let (original, _) = all_items(&mut admin, &v1.name, "", 1000).await;

    let csv = export_csv(&mut admin, "classifiers/rich/versions/latest").await;
    assert!(csv.starts_with("code,"), "{csv}");
    assert!(csv.contains("Город Ташкент"), "{csv}");
    let v2 = create_draft(&mut admin, "rich", "v2", None).await.unwrap();
    let imported = import(&mut admin, csv_import(&v2.name, &csv, 7, false))
        .await
        .unwrap_or_else(|e| panic!("import the export {csv}: {e:?}"));
    assert_eq!(imported.item_count, 5);
    let v2 = publish(&mut admin, &v2.name).await.unwrap();
    assert_eq!(v2.content_hash, v1.content_hash, "CSV round trip:\n{csv}");

    let exported = export_items(&mut admin, &v1.name).await;
    assert_eq!(
        exported, original,
        "an ITEMS export is the version's items in code order"
    );
    let v3 = create_draft(&mut admin, "rich", "v3", None).await.unwrap();
    let batches: Vec<Vec<Item>> = exported.chunks(2).map(<[Item]>::to_vec).collect();
    import(&mut admin, items_import(&v3.name, batches))
        .await
        .unwrap();
    let v3 = publish(&mut admin, &v3.name).await.unwrap();
    assert_eq!(v3.content_hash, v1.content_hash, "ITEMS round trip");
    let (copied, _) = all_items(&mut admin, &v3.name, "", 1000).await;
    for (c, o) in copied.iter().zip(&original) {
        assert_eq!(
            Item {
                name: String::new(),
                ..c.clone()
            },
            Item {
                name: String::new(),
                ..o.clone()
            }
        );
    }
    // A draft exports too.
    let v4 = create_draft(&mut admin, "rich", "v4", None).await.unwrap();
    upsert(&mut admin, &v4.name, vec![top("20", "Twenty")])
        .await
        .unwrap();
    let draft_items = export_items(&mut admin, "classifiers/rich/versions/draft").await;
    assert_eq!(codes(&draft_items), ["20"]);
}

#[tokio::test]
async fn the_soato_seed_imports_and_publishes() {
    let (_app, mut admin) = setup().await;
    let soato = Classifier {
        display_name: text(&[("uz-Latn", "SOATO"), ("ru", "СОАТО"), ("en", "SOATO")]),
        code_pattern: "[0-9]{4}([0-9]{3}){0,2}".into(),
        hierarchical: true,
        max_depth: 4,
        required_languages: strings(&["uz-Latn", "uz-Cyrl", "ru", "en"]),
        ..spec()
    };
    create_classifier(&mut admin, "soato", soato).await.unwrap();
    let draft = create_draft(&mut admin, "soato", "2026-1", None)
        .await
        .unwrap();
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/seed/soato-regions.csv"
    ))
    .expect("the seed file");
    let rows = seed.lines().skip(1).filter(|l| !l.is_empty()).count() as i64;
    let imported = import(&mut admin, csv_import(&draft.name, &seed, 64, false))
        .await
        .unwrap();
    assert_eq!(imported.item_count, rows);
    let published = publish(&mut admin, &draft.name)
        .await
        .unwrap_or_else(|e| panic!("publish the seed: {e:?}"));
    assert_eq!(published.item_count, rows);

    let tashkent = get_item(
        &mut admin,
        "classifiers/soato/versions/latest/items/1726",
        "",
    )
    .await
    .unwrap();
    assert_eq!(
        tashkent.name,
        "classifiers/soato/versions/2026-1/items/1726"
    );
    assert_eq!(
        tashkent.names,
        text(&[
            ("uz-Latn", "Toshkent shahri"),
            ("uz-Cyrl", "Тошкент шаҳри"),
            ("ru", "город Ташкент"),
            ("en", "Tashkent City"),
        ])
    );
    assert_eq!(tashkent.level, 1);
    let latest = "classifiers/soato/versions/latest";
    assert_eq!(
        selected(&mut admin, latest, "", "тошкент", SearchMode::Prefix).await,
        ["1726", "1727"]
    );
    // The apostrophes of Uzbek Latin (ʻ) match the ASCII one.
    assert_eq!(
        selected(&mut admin, latest, "", "farg'ona", SearchMode::Substring).await,
        ["1730"]
    );
}

// ------------------------------------------------------------------------------ access, audit

#[tokio::test]
async fn readers_read_but_only_the_owners_editors_and_admins_write() {
    let (mut app, mut admin) = setup().await;
    app.create_organization("minfin", "301234567").await;
    let (_, editor) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let (_, reader) = app.create_token(Some("stat"), &[Role::Reader]).await;
    let (_, foreign) = app.create_token(Some("minfin"), &[Role::Editor]).await;
    let mut editor = app.classifiers_as(Some(&editor));
    let mut reader = app.classifiers_as(Some(&reader));
    let mut foreign = app.classifiers_as(Some(&foreign));

    // The owner's editor keeps the classifier from creation to publication.
    let created = create_classifier(&mut editor, "regions", spec())
        .await
        .unwrap();
    let v1 = published(&mut editor, "regions", "v1", None, vec![top("01", "One")]).await;
    let draft = create_draft(&mut editor, "regions", "v2", None)
        .await
        .unwrap();
    upsert(&mut editor, &draft.name, vec![top("02", "Two")])
        .await
        .unwrap();

    // Everyone reads.
    for client in [&mut reader, &mut foreign, &mut admin] {
        get_classifier(client, "regions").await.unwrap();
        get_item(client, "classifiers/regions/versions/latest/items/01", "")
            .await
            .unwrap();
        get_item(client, "classifiers/regions/versions/draft/items/02", "")
            .await
            .unwrap();
        validate(client, &draft.name).await;
    }

    // Neither a reader nor another organisation's editor writes.
    for client in [&mut reader, &mut foreign] {
        let denied = vec![
            create_classifier(client, "mine", spec()).await.unwrap_err(),
            client
                .update_classifier(UpdateClassifierRequest {
                    classifier: Some(Classifier {
                        display_name: text(&[("en", "Taken")]),
                        ..created.clone()
                    }),
                    update_mask: mask(&["display_name"]),
                })
                .await
                .unwrap_err(),
            client
                .delete_classifier(DeleteClassifierRequest {
                    name: created.name.clone(),
                    etag: String::new(),
                })
                .await
                .unwrap_err(),
            upsert(client, &draft.name, vec![top("03", "Three")])
                .await
                .unwrap_err(),
            delete_items(client, &draft.name, &["02"], false)
                .await
                .unwrap_err(),
            import(
                client,
                items_import(&draft.name, vec![vec![top("03", "Three")]]),
            )
            .await
            .unwrap_err(),
            publish(client, &draft.name).await.unwrap_err(),
            retire(client, &v1.name).await.unwrap_err(),
            client
                .delete_classifier_version(DeleteClassifierVersionRequest {
                    name: draft.name.clone(),
                    etag: String::new(),
                })
                .await
                .unwrap_err(),
        ];
        for err in denied {
            assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
        }
    }
    // Forbidden before existence: a reader learns nothing of a missing classifier.
    let err = reader
        .delete_classifier(DeleteClassifierRequest {
            name: "classifiers/nothing".into(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = upsert(
        &mut reader,
        "classifiers/nothing/versions/draft",
        vec![top("01", "One")],
    )
    .await
    .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    // An editor cannot give its classifier away to an organisation it does not edit.
    let err = editor
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                owner: "organizations/minfin".into(),
                etag: String::new(),
                ..created.clone()
            }),
            update_mask: mask(&["owner"]),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");

    // Nothing the refused calls asked for happened.
    let (items, _) = all_items(&mut admin, &draft.name, "", 1000).await;
    assert_eq!(codes(&items), ["02"]);
    let classifier = get_classifier(&mut admin, "regions").await.unwrap();
    assert_eq!(classifier.owner, "organizations/stat");
    assert!(classifier.delete_time.is_none());
    assert_eq!(classifier.latest_version, v1.name);
    assert_eq!(classifier.draft_version, draft.name);

    // The owner's editor and the administrator write.
    upsert(&mut editor, &draft.name, vec![top("03", "Three")])
        .await
        .unwrap();
    upsert(&mut admin, &draft.name, vec![top("04", "Four")])
        .await
        .unwrap();
    publish(&mut editor, &draft.name).await.unwrap();
}

#[tokio::test]
async fn publications_are_audited_whether_they_succeed_or_are_refused() {
    let (mut app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "v1", None)
        .await
        .unwrap();
    let refused = publish(&mut admin, &draft.name).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let refused_reason = refused.get_details_error_info().expect("ErrorInfo").reason;
    upsert(&mut admin, &draft.name, vec![top("01", "One")])
        .await
        .unwrap();
    let published = publish(&mut admin, &draft.name).await.unwrap();

    let admin_token = app.admin_token_name().await;
    let events = app
        .audit
        .list_audit_events(ListAuditEventsRequest {
            page_size: 100,
            filter: "method = \"/reestr.v1.ClassifierService/PublishClassifierVersion\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 2, "{events:?}");
    let (first, second) = (&events[0], &events[1]);
    assert_eq!(first.resource, draft.name);
    assert_eq!(first.caller, admin_token);
    assert_eq!(first.outcome, "INVALID_ARGUMENT");
    assert_eq!(first.reason, refused_reason);
    assert!(first.changes.is_empty(), "{first:?}");
    assert_eq!(second.resource, draft.name);
    assert_eq!(second.outcome, "OK");
    assert!(second.reason.is_empty());
    let change = |field: &str| {
        second
            .changes
            .iter()
            .find(|c| c.field == field)
            .map(|c| (c.old_value.clone(), c.new_value.clone()))
    };
    assert_eq!(
        change("state"),
        Some(("DRAFT".into(), "PUBLISHED".into())),
        "{second:?}"
    );
    assert_eq!(
        change("content_hash"),
        Some((String::new(), published.content_hash.clone()))
    );
    assert!(second.sequence > first.sequence);
}

const IMPORT_ITEMS: &str = "/reestr.v1.ClassifierService/ImportItems";

/// The audit events of ImportItems calls, once there is at least one (waiting up to 10 s for
/// the event of a call that was cut off, which the server writes after the call is gone).
async fn import_events(app: &mut TestApp) -> Vec<reestr::proto::v1::AuditEvent> {
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events = app
            .audit
            .list_audit_events(ListAuditEventsRequest {
                page_size: 100,
                filter: format!("method = \"{IMPORT_ITEMS}\""),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
        if !events.is_empty() || tokio::time::Instant::now() > give_up {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An import into a new draft whose stream sends its first message and then nothing, never
/// ending; and the draft's name.
async fn stalled_import(
    admin: &mut Client,
) -> (
    impl futures::Stream<Item = ImportItemsRequest> + Send + 'static,
    String,
) {
    use futures::StreamExt as _;
    create_classifier(admin, "regions", flat_spec())
        .await
        .unwrap();
    let draft = create_draft(admin, "regions", "v1", None).await.unwrap();
    let first = items_import(&draft.name, vec![vec![top("01", "One")]]);
    (stream::iter(first).chain(stream::pending()), draft.name)
}

/// After a cut-off import the draft is free again: an import into it succeeds.
async fn assert_draft_importable(admin: &mut Client, draft: &str) {
    let imported = import(admin, items_import(draft, vec![vec![top("02", "Two")]]))
        .await
        .unwrap();
    assert!(imported.committed);
}

#[tokio::test]
async fn an_import_cut_off_by_the_clients_deadline_is_audited_exactly_once() {
    let (mut app, mut admin) = setup().await;
    let (messages, draft) = stalled_import(&mut admin).await;
    let mut request = tonic::Request::new(messages);
    request.set_timeout(std::time::Duration::from_millis(300));
    let err = admin.import_items(request).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );

    let events = import_events(&mut app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.resource, draft);
    assert!(
        matches!(
            (event.outcome.as_str(), event.reason.as_str()),
            ("DEADLINE_EXCEEDED", "REQUEST_TIMEOUT") | ("CANCELLED", "REQUEST_CANCELLED")
        ),
        "{event:?}"
    );
    assert_draft_importable(&mut admin, &draft).await;
    assert_eq!(import_events(&mut app).await.len(), 2);
}

#[tokio::test]
async fn an_import_the_client_abandons_mid_stream_is_audited_once_as_cancelled() {
    let (mut app, mut admin) = setup().await;
    let (messages, draft) = stalled_import(&mut admin).await;
    let mut client = admin.clone();
    let call = tokio::spawn(async move { client.import_items(messages).await });
    // Time for the server to read the first message; then the client drops the call.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());

    let events = import_events(&mut app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.resource, draft);
    assert_eq!(
        (event.outcome.as_str(), event.reason.as_str()),
        ("CANCELLED", "REQUEST_CANCELLED"),
        "{event:?}"
    );
    assert_draft_importable(&mut admin, &draft).await;
    assert_eq!(import_events(&mut app).await.len(), 2);
}

// ------------------------------------------------------------------------------ more contract

#[tokio::test]
async fn versions_are_listed_newest_first_and_every_page_holds_new_ones() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    // Two corrections taking effect on the same day: the later publication is in effect.
    published(
        &mut admin,
        "regions",
        "c",
        Some("2020-01-01"),
        vec![top("01", "C")],
    )
    .await;
    published(
        &mut admin,
        "regions",
        "b",
        Some("2024-01-01"),
        vec![top("01", "B")],
    )
    .await;
    published(
        &mut admin,
        "regions",
        "a",
        Some("2024-01-01"),
        vec![top("01", "A")],
    )
    .await;
    create_draft(&mut admin, "regions", "d", None)
        .await
        .unwrap();
    assert_eq!(
        get_item(
            &mut admin,
            "classifiers/regions/versions/latest/items/01",
            ""
        )
        .await
        .unwrap()
        .names["en"],
        "A"
    );
    let expected = [
        "classifiers/regions/versions/d",
        "classifiers/regions/versions/a",
        "classifiers/regions/versions/b",
        "classifiers/regions/versions/c",
    ];
    let all = admin
        .list_classifier_versions(ListClassifierVersionsRequest {
            parent: "classifiers/regions".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = all.versions.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, expected);
    assert!(all.next_page_token.is_empty());

    let mut paged = Vec::new();
    let mut page_token = String::new();
    for _ in 0..10 {
        let page = admin
            .list_classifier_versions(ListClassifierVersionsRequest {
                parent: "classifiers/regions".into(),
                page_size: 1,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.versions.into_iter().map(|v| v.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(paged, expected, "pages of one version each");
}

#[tokio::test]
async fn new_requirements_apply_from_the_next_publication() {
    let (_app, mut admin) = setup().await;
    let created = create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let v1 = published(
        &mut admin,
        "regions",
        "v1",
        None,
        vec![top("01", "One"), top("02", "Two")],
    )
    .await;
    admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                required_languages: strings(&["en", "ru", "uz-Latn"]),
                etag: String::new(),
                ..created
            }),
            update_mask: mask(&["required_languages"]),
        })
        .await
        .unwrap();
    // The published version is untouched and still in effect.
    assert_eq!(get_version(&mut admin, &v1.name).await.unwrap(), v1);
    let valid = validate_code(&mut admin, "regions", "01", "")
        .await
        .unwrap();
    assert!(valid.valid, "{valid:?}");
    // A copy of it must now name every item in Uzbek too.
    let v2 = admin
        .create_classifier_version(CreateClassifierVersionRequest {
            parent: "classifiers/regions".into(),
            version_id: "v2".into(),
            version: None,
            source_version: v1.name.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let err = publish(&mut admin, &v2.name).await.unwrap_err();
    assert_eq!(
        bad_request_fields(&err),
        [
            r#"items["01"].names["uz-Latn"]"#,
            r#"items["02"].names["uz-Latn"]"#
        ]
    );
}

#[tokio::test]
async fn draft_writes_and_publication_honour_the_etag() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    // A retry of the creation with its request_id returns the same draft.
    let request = CreateClassifierVersionRequest {
        parent: "classifiers/regions".into(),
        version_id: "v1".into(),
        version: None,
        source_version: String::new(),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let draft = admin
        .create_classifier_version(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = admin
        .create_classifier_version(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, draft);

    let written = admin
        .batch_upsert_items(BatchUpsertItemsRequest {
            parent: draft.name.clone(),
            items: vec![top("01", "One")],
            etag: draft.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .version
        .unwrap();
    assert_ne!(written.etag, draft.etag);
    // The draft moved on: the etag that was read before is stale for every write.
    let err = admin
        .batch_upsert_items(BatchUpsertItemsRequest {
            parent: draft.name.clone(),
            items: vec![top("02", "Two")],
            etag: draft.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let err = admin
        .batch_delete_items(BatchDeleteItemsRequest {
            parent: draft.name.clone(),
            codes: strings(&["01"]),
            allow_missing: false,
            etag: draft.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let mut stale_import = items_import(&draft.name, vec![vec![top("03", "Three")]]);
    stale_import[0].etag = draft.etag.clone();
    let err = import(&mut admin, stale_import).await.unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let err = admin
        .publish_classifier_version(PublishClassifierVersionRequest {
            name: draft.name.clone(),
            etag: draft.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let err = admin
        .delete_classifier_version(DeleteClassifierVersionRequest {
            name: draft.name.clone(),
            etag: draft.etag.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let (items, _) = all_items(&mut admin, &draft.name, "", 1000).await;
    assert_eq!(codes(&items), ["01"]);

    // Publishing exactly what was reviewed.
    let current = get_version(&mut admin, &draft.name).await.unwrap();
    assert_eq!(current.etag, written.etag);
    let published = admin
        .publish_classifier_version(PublishClassifierVersionRequest {
            name: draft.name.clone(),
            etag: current.etag,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(published.item_count, 1);
    let err = retire(&mut admin, "classifiers/regions/versions/latest")
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["name"]);
}

#[tokio::test]
async fn codes_are_ordered_and_found_by_their_bytes() {
    let (_app, mut admin) = setup().await;
    let mixed = Classifier {
        code_pattern: "[A-Za-z0-9._-]+".into(),
        ..flat_spec()
    };
    create_classifier(&mut admin, "mixed", mixed).await.unwrap();
    let v1 = published(
        &mut admin,
        "mixed",
        "v1",
        None,
        ["b", "a-b", "A1", "ab", "a_c", "a1", "Z.9", "10", "9"]
            .into_iter()
            .map(|c| top(c, &format!("Item {c}")))
            .collect(),
    )
    .await;
    let mut sorted = vec!["b", "a-b", "A1", "ab", "a_c", "a1", "Z.9", "10", "9"];
    sorted.sort_unstable();
    let (items, _) = all_items(&mut admin, &v1.name, "", 2).await;
    assert_eq!(codes(&items), sorted);
    for code in &sorted {
        let got = get_item(&mut admin, &format!("{}/items/{code}", v1.name), "")
            .await
            .unwrap_or_else(|e| panic!("{code}: {e:?}"));
        assert_eq!(got.code, *code);
    }
    let exported = export_items(&mut admin, &v1.name).await;
    assert_eq!(codes(&exported), sorted);
}

#[tokio::test]
async fn a_csv_export_of_an_older_version_keeps_every_attribute_it_was_published_with() {
    let (_app, mut admin) = setup().await;
    let with_area = Classifier {
        attribute_schema: vec![attribute("area", AttributeType::Decimal)],
        ..spec()
    };
    let created = create_classifier(&mut admin, "regions", with_area)
        .await
        .unwrap();
    let mut one = top("01", "One");
    one.attributes.insert("area".into(), decimal_value("12.5"));
    let v1 = published(&mut admin, "regions", "v1", None, vec![one]).await;
    // The attribute leaves the schema; v1 keeps its value.
    admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                attribute_schema: Vec::new(),
                etag: String::new(),
                ..created
            }),
            update_mask: mask(&["attribute_schema"]),
        })
        .await
        .unwrap();
    let kept = get_item(&mut admin, &format!("{}/items/01", v1.name), "")
        .await
        .unwrap();
    assert_eq!(kept.attributes["area"], decimal_value("12.5"));
    let csv = export_csv(&mut admin, &v1.name).await;
    assert!(
        csv.contains("12.5"),
        "the export of v1 lost its area:\n{csv}"
    );
}

#[tokio::test]
async fn an_attribute_definition_is_refused_naming_the_fields_of_the_request() {
    let (_app, mut admin) = setup().await;
    let untyped = Classifier {
        attribute_schema: vec![AttributeDefinition {
            key: "area".into(),
            ..Default::default()
        }],
        ..spec()
    };
    let err = create_classifier(&mut admin, "regions", untyped)
        .await
        .unwrap_err();
    // AttributeDefinition's field is `type` (there is no `kind`).
    assert_eq!(
        bad_request_fields(&err),
        ["classifier.attribute_schema[0].type"]
    );
}

#[tokio::test]
async fn version_ids_follow_the_documented_rule() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    // ClassifierVersion.name: lowercase Latin letters, digits, hyphens and dots, starting and
    // ending with a letter or digit, no two separators in a row; `latest` and `draft` are
    // aliases.
    for bad in [
        "2026_1", "V1", "-1", "1-", "2026--1", "2026.-1", "latest", "draft",
    ] {
        let err = create_draft(&mut admin, "regions", bad, None)
            .await
            .expect_err(bad);
        assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
        let violations = err
            .get_details_bad_request()
            .expect("BadRequest")
            .field_violations;
        assert_eq!(violations[0].field, "version_id", "{bad}");
    }
    let draft = create_draft(&mut admin, "regions", "2026.1-a", None)
        .await
        .unwrap();
    assert_eq!(draft.name, "classifiers/regions/versions/2026.1-a");
}

#[tokio::test]
async fn a_large_import_is_written_in_batches_and_finds_repeats_across_them() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "big", flat_spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "big", "v1", None).await.unwrap();
    let row = |n: usize| {
        format!(
            "{n},Item number {n} of the big classifier,Элемент номер {n} большого классификатора\n"
        )
    };
    let mut csv = String::from("code,name:en,name:ru\n");
    for n in 1000..2200 {
        csv.push_str(&row(n));
    }
    let imported = import(&mut admin, csv_import(&draft.name, &csv, 4096, false))
        .await
        .unwrap();
    assert_eq!(imported.item_count, 1200);
    let published = publish(&mut admin, &draft.name).await.unwrap();
    assert_eq!(published.item_count, 1200);
    let exported = export_csv(&mut admin, &published.name).await;
    assert_eq!(exported.lines().count(), 1201, "a header and every item");
    let (items, pages) = all_items(&mut admin, &published.name, "", 1000).await;
    assert_eq!(items.len(), 1200);
    assert_eq!(pages, 2);

    // Line 1102 repeats line 2's code, hundreds of rows later.
    let next = create_draft(&mut admin, "big", "v2", None).await.unwrap();
    let mut repeated = String::from("code,name:en,name:ru\n");
    for n in 1000..2200 {
        repeated.push_str(&row(if n == 2100 { 1000 } else { n }));
    }
    let checked = import(&mut admin, csv_import(&next.name, &repeated, 4096, true))
        .await
        .unwrap();
    let problems: Vec<(i64, &str)> = checked
        .problems
        .iter()
        .map(|p| (p.line, p.code.as_str()))
        .collect();
    assert_eq!(problems, [(1102, "1000")]);
    let err = import(&mut admin, csv_import(&next.name, &repeated, 4096, false))
        .await
        .unwrap_err();
    assert_eq!(refused_lines(&err), BTreeSet::from([1102]), "{err:?}");
    assert_eq!(
        get_version(&mut admin, &next.name)
            .await
            .unwrap()
            .item_count,
        0
    );
}

#[tokio::test]
async fn a_draft_recreated_under_a_discarded_drafts_id_shows_only_its_own_items() {
    let (_app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let first = create_draft(&mut admin, "regions", "d", None)
        .await
        .unwrap();
    upsert(&mut admin, &first.name, vec![top("01", "Old")])
        .await
        .unwrap();
    let (items, _) = all_items(&mut admin, "classifiers/regions/versions/draft", "", 1000).await;
    assert_eq!(codes(&items), ["01"]);
    admin
        .delete_classifier_version(DeleteClassifierVersionRequest {
            name: first.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();

    // The same id again, with other content written the same number of times.
    let second = create_draft(&mut admin, "regions", "d", None)
        .await
        .unwrap();
    assert_eq!(second.name, first.name);
    upsert(&mut admin, &second.name, vec![top("02", "New")])
        .await
        .unwrap();
    let (items, _) = all_items(&mut admin, "classifiers/regions/versions/draft", "", 1000).await;
    assert_eq!(
        codes(&items),
        ["02"],
        "the discarded draft's items are gone"
    );
    let report = validate(&mut admin, &second.name).await;
    assert!(report.valid, "{report:?}");
    assert_eq!(report.item_count, 1);
    let published = publish(&mut admin, &second.name).await.unwrap();
    assert_eq!(published.item_count, 1);
    let got = get_item(
        &mut admin,
        "classifiers/regions/versions/latest/items/02",
        "",
    )
    .await
    .expect("the published version has the new draft's item");
    assert_eq!(got.names["en"], "New");
    let err = get_item(
        &mut admin,
        "classifiers/regions/versions/latest/items/01",
        "",
    )
    .await
    .unwrap_err();
    assert_status(&err, Code::NotFound, "RESOURCE_NOT_FOUND");
    // The content hash certifies the items the version has.
    create_classifier(&mut admin, "check", spec())
        .await
        .unwrap();
    let same = published_hash(&mut admin, "check", vec![top("02", "New")]).await;
    assert_eq!(published.content_hash, same);
}

/// Publishes `items` as version `v1` of `classifier`; returns the content hash.
async fn published_hash(admin: &mut Client, classifier: &str, items: Vec<Item>) -> String {
    published(admin, classifier, "v1", None, items)
        .await
        .content_hash
}

#[tokio::test]
async fn published_items_are_answered_from_memory_once_loaded() {
    let (app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let v1 = published(
        &mut admin,
        "regions",
        "v1",
        None,
        vec![
            top("01", "One"),
            top("02", "Two"),
            item("0101", "01", "One-one", "Один-один"),
        ],
    )
    .await;
    // The first read loads the version.
    let first = get_item(&mut admin, &format!("{}/items/01", v1.name), "")
        .await
        .unwrap();
    assert_eq!(first.code, "01");
    // With the items' table gone, every lookup of the loaded version still answers.
    app.execute_sql("ALTER TABLE classifier_items RENAME TO classifier_items_away")
        .await
        .unwrap();
    let item = get_item(&mut admin, &format!("{}/items/0101", v1.name), "")
        .await
        .unwrap();
    assert_eq!((item.parent.as_str(), item.level), ("01", 2));
    let err = get_item(&mut admin, &format!("{}/items/03", v1.name), "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let listed = admin
        .list_items(ListItemsRequest {
            parent: v1.name.clone(),
            filter: "parent = \"01\"".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.items.len(), 1);
    // A draft is read from the database, which now fails.
    create_draft(&mut admin, "regions", "v2", None)
        .await
        .unwrap();
    let err = get_item(
        &mut admin,
        "classifiers/regions/versions/draft/items/01",
        "",
    )
    .await
    .unwrap_err();
    assert_ne!(err.code(), Code::Ok);
    app.execute_sql("ALTER TABLE classifier_items_away RENAME TO classifier_items")
        .await
        .unwrap();
}

// ------------------------------------------------------------------------------ stored data

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

#[tokio::test]
async fn requirements_stored_under_looser_rules_are_read_as_stored() {
    let (app, mut admin) = setup().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let v1 = published(
        &mut admin,
        "regions",
        "v1",
        None,
        vec![top("01", "One"), item("0101", "01", "One-one", "Один-один")],
    )
    .await;
    // Stored under rules looser than today's: deeper than 16 levels, and an attribute key
    // with two underscores in a row.
    let looser = stored_spec(
        20,
        &["en", "ru"],
        r#"[{"key":"old__key","type":"STRING","classifier":"","required":false,"pattern":"","max_length":0}]"#,
    );
    app.execute_sql(&format!(
        "UPDATE classifiers SET spec = '{looser}' WHERE id = 'regions'"
    ))
    .await
    .unwrap();

    let read = get_classifier(&mut admin, "regions")
        .await
        .expect("a stored classifier is readable whatever today's rules say");
    assert_eq!(read.max_depth, 20);
    assert_eq!(read.attribute_schema[0].key, "old__key");
    let listed = admin
        .list_classifiers(ListClassifiersRequest::default())
        .await
        .expect("listed as stored")
        .into_inner();
    assert_eq!(listed.classifiers, std::slice::from_ref(&read));
    let version = get_version(&mut admin, &version_name("regions", "latest"))
        .await
        .expect("its versions are readable");
    assert_eq!(version.name, v1.name);
    let found = get_item(&mut admin, &format!("{}/items/0101", v1.name), "")
        .await
        .expect("its items are readable");
    assert_eq!(found.parent, "01");
    let (items, _) = all_items(&mut admin, &version_name("regions", "latest"), "", 10).await;
    assert_eq!(codes(&items), ["01", "0101"]);

    // A write is checked against today's rules: the stored values it keeps must pass them.
    let err = admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                name: "classifiers/regions".into(),
                display_name: text(&[("en", "Regions")]),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_request_fields(&err),
        ["classifier.max_depth", "classifier.attribute_schema[0].key"]
    );
    let fixed = admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                name: "classifiers/regions".into(),
                display_name: text(&[("en", "Regions")]),
                max_depth: 3,
                ..Default::default()
            }),
            update_mask: mask(&["display_name", "max_depth", "attribute_schema"]),
        })
        .await
        .expect("a write that brings the requirements within today's rules")
        .into_inner();
    assert_eq!((fixed.max_depth, fixed.attribute_schema.len()), (3, 0));
}

// ------------------------------------------------------------------------------ races

#[tokio::test]
async fn publication_is_refused_when_the_requirements_change_after_its_checks() {
    let (mut app, mut admin) = setup_with_one_connection().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "v1", None)
        .await
        .unwrap();
    upsert(&mut admin, &draft.name, vec![top("01", "One")])
        .await
        .unwrap();

    // Another writer requires Uzbek names as well, and commits only once the publication has
    // checked the items against the old requirements and waits to write.
    let tighter = stored_spec(3, &["en", "ru", "uz-Latn"], "[]");
    let other = app
        .hold_transaction(&[&format!(
            "UPDATE classifiers SET spec = '{tighter}', revision = revision + 1 WHERE id = 'regions'"
        )])
        .await;
    let mut publisher = app.classifiers();
    let name = draft.name.clone();
    let publication = tokio::spawn(async move { publish(&mut publisher, &name).await });
    until_the_server_waits(&mut app).await;
    other.commit().await;
    let err = publication
        .await
        .unwrap()
        .expect_err("checked against requirements that are no longer the classifier's");
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    assert_eq!(
        get_version(&mut admin, &draft.name).await.unwrap().state,
        VersionState::Draft as i32
    );

    // Retried, the publication checks the requirements in force.
    let err = publish(&mut admin, &draft.name).await.unwrap_err();
    assert_eq!(
        bad_request_fields(&err),
        [r#"items["01"].names["uz-Latn"]"#]
    );
}

#[tokio::test]
async fn an_update_without_etag_keeps_a_change_committed_while_it_waited() {
    let (mut app, mut admin) = setup_with_one_connection().await;
    app.create_organization("other", "201234568").await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();

    // Another writer hands the classifier to `other` and commits only once the update has
    // started and waits on it. On PostgreSQL the writer also locks the version table, which
    // an update that reads the classifier before its transaction (to merge the mask into)
    // reads right after: such an update would merge into the owner from before the change.
    let mut statements = Vec::new();
    if app.is_postgres() {
        statements.push("LOCK TABLE classifier_versions IN ACCESS EXCLUSIVE MODE");
    }
    statements.push(
        "UPDATE classifiers SET owner_id = 'other', revision = revision + 1 WHERE id = 'regions'",
    );
    let other = app.hold_transaction(&statements).await;
    let mut renamer = app.classifiers();
    let renaming = tokio::spawn(async move {
        renamer
            .update_classifier(UpdateClassifierRequest {
                classifier: Some(Classifier {
                    name: "classifiers/regions".into(),
                    display_name: text(&[("en", "Regions")]),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
            })
            .await
    });
    until_the_server_waits(&mut app).await;
    other.commit().await;
    let renamed = renaming
        .await
        .unwrap()
        .expect("the update applies its mask to the classifier as it is now")
        .into_inner();
    assert_eq!(renamed.display_name, text(&[("en", "Regions")]));
    assert_eq!(
        renamed.owner, "organizations/other",
        "the concurrent change outside the mask is kept"
    );
    assert_eq!(
        get_classifier(&mut admin, "regions").await.unwrap(),
        renamed
    );
}

#[tokio::test]
async fn an_empty_mask_changes_the_fields_set_and_every_path_is_checked() {
    let (_app, mut admin) = setup().await;
    let created = create_classifier(
        &mut admin,
        "regions",
        Classifier {
            description: text(&[("en", "Regions of the republic")]),
            attribute_schema: vec![attribute("center", AttributeType::String)],
            ..spec()
        },
    )
    .await
    .unwrap();

    // Without a mask, the fields the request sets are changed and nothing else.
    let renamed = admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                name: created.name.clone(),
                display_name: text(&[("en", "Regions")]),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .expect("only display_name is set")
        .into_inner();
    assert_eq!(
        renamed,
        Classifier {
            display_name: text(&[("en", "Regions")]),
            update_time: renamed.update_time,
            etag: renamed.etag.clone(),
            ..created.clone()
        }
    );

    // Every path is checked, `*` or not, and a refused one is named.
    for (paths, field, named) in [
        (&["*", "etag"][..], "update_mask.paths[1]", "etag"),
        (&["etag", "*"][..], "update_mask.paths[0]", "etag"),
        (
            &["*", "create_time"][..],
            "update_mask.paths[1]",
            "create_time",
        ),
        (
            &["display_name.en"][..],
            "update_mask.paths[0]",
            "display_name.en",
        ),
        (&["*", "colour"][..], "update_mask.paths[1]", "colour"),
    ] {
        let err = admin
            .update_classifier(UpdateClassifierRequest {
                classifier: Some(Classifier {
                    etag: String::new(),
                    ..renamed.clone()
                }),
                update_mask: mask(paths),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_request_fields(&err), [field], "{paths:?}");
        let violation = &err.get_details_bad_request().unwrap().field_violations[0];
        assert!(
            violation.description.contains(named),
            "{paths:?}: {}",
            violation.description
        );
    }

    // `*` replaces every mutable field: what the request leaves empty is cleared.
    let replaced = admin
        .update_classifier(UpdateClassifierRequest {
            classifier: Some(Classifier {
                name: created.name.clone(),
                ..spec()
            }),
            update_mask: mask(&["*"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(replaced.description.is_empty() && replaced.attribute_schema.is_empty());
    assert_eq!(replaced.display_name, spec().display_name);
}
