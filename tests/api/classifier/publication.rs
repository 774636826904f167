//! Publication: every problem that refuses it, validation, new requirements, and a
//! published version that never changes.

use super::*;

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
