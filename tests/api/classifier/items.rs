//! Item edits of a draft: BatchUpsertItems and BatchDeleteItems.

use super::*;

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
