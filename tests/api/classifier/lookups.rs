//! Lookups: by version and by date, lists, batches, ancestors, code checks, translation,
//! differences between versions, byte order of codes, and answers from memory.

use super::*;

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
            as_of: moment("2021-06-01"),
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
            as_of: moment("2025-01-01"),
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

    // `as_of` needs `latest`, and a real moment.
    let at = moment("2021-06-01");
    let out_of_range = Some(prost_types::Timestamp {
        seconds: 0,
        nanos: -1,
    });
    for (name, as_of) in [
        ("classifiers/regions/versions/v1/items/01", at),
        ("classifiers/regions/versions/draft/items/01", at),
        (latest, out_of_range),
    ] {
        let err = admin
            .get_item(GetItemRequest {
                name: name.into(),
                as_of,
            })
            .await
            .unwrap_err();
        assert_eq!(
            bad_request_fields(&err),
            ["as_of"],
            "{name} as of {as_of:?}"
        );
    }
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
        as_of: None,
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
        as_of: None,
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
    let err = admin
        .validate_code(ValidateCodeRequest {
            classifier: "classifiers/kinds".into(),
            code: "10".into(),
            as_of: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 1_000_000_000,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_fields(&err), ["as_of"]);
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
