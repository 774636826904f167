//! Classifiers and their requirements: creation, lists, updates with masks and etags,
//! soft delete, and requirements read as stored.

use super::*;

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
