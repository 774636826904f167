//! ImportItems and ExportItems: ITEMS and CSV imports, refused rows, round trips, the SOATO
//! seed, and large imports.

use super::*;

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
