//! Versions: one draft at a time, copies, lists, etags on drafts, version ids, and a draft
//! recreated under a discarded one's id.

use super::*;

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
