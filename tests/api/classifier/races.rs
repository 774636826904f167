//! Writes decided in the store transaction: publication against the requirements as they
//! are when it commits, and an update without etag that keeps a concurrent change.

use super::*;

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
async fn a_delete_authorised_before_a_concurrent_owner_change_is_refused() {
    let (mut app, mut admin) = setup_with_one_connection().await;
    app.create_organization("other", "201234568").await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let (_, secret) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let mut editor = app.classifiers_as(Some(&secret));
    // The editor of `stat` is allowed to delete the classifier of `stat`: warm every cache.
    editor
        .get_classifier(GetClassifierRequest {
            name: "classifiers/regions".into(),
        })
        .await
        .unwrap();

    // Another writer hands the classifier to `other`, and commits only once the delete has
    // authorised the editor against the owner of before and waits to write.
    let other = app
        .hold_transaction(&[
            "UPDATE classifiers SET owner_id = 'other', revision = revision + 1 WHERE id = 'regions'",
        ])
        .await;
    let deleting = tokio::spawn(async move {
        editor
            .delete_classifier(DeleteClassifierRequest {
                name: "classifiers/regions".into(),
                etag: String::new(),
            })
            .await
    });
    until_the_server_waits(&mut app).await;
    other.commit().await;
    let err = deleting
        .await
        .unwrap()
        .expect_err("the classifier is no longer the editor's");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let kept = get_classifier(&mut admin, "regions").await.unwrap();
    assert_eq!(kept.owner, "organizations/other");
    assert!(kept.delete_time.is_none(), "{kept:?}");
}

#[tokio::test]
async fn an_item_write_authorised_before_a_concurrent_owner_change_is_refused() {
    let (mut app, mut admin) = setup_with_one_connection().await;
    app.create_organization("other", "201234568").await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "v1", None)
        .await
        .unwrap();
    let (_, secret) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let mut editor = app.classifiers_as(Some(&secret));

    // Another writer hands the classifier to `other`, and commits only once the editor's
    // write has been approved against the owner of before and waits to write.
    let other = app
        .hold_transaction(&[
            "UPDATE classifiers SET owner_id = 'other', revision = revision + 1 WHERE id = 'regions'",
        ])
        .await;
    let parent = draft.name.clone();
    let writing =
        tokio::spawn(async move { upsert(&mut editor, &parent, vec![top("01", "One")]).await });
    until_the_server_waits(&mut app).await;
    other.commit().await;
    let err = writing
        .await
        .unwrap()
        .expect_err("the classifier is no longer the editor's");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let kept = get_version(&mut admin, &draft.name).await.unwrap();
    assert_eq!((kept.item_count, &kept.etag), (0, &draft.etag));
}

#[tokio::test]
async fn a_version_update_without_etag_keeps_a_change_committed_while_it_waited() {
    let (mut app, mut admin) = setup_with_one_connection().await;
    create_classifier(&mut admin, "regions", spec())
        .await
        .unwrap();
    let draft = create_draft(&mut admin, "regions", "v1", None)
        .await
        .unwrap();
    assert_eq!(draft.effective_time, None);

    // Another writer sets the draft's effective time and commits only once the update of its
    // description has read the draft and waits to write.
    let effective: prost_types::Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
    let micros = effective.seconds * 1_000_000;
    let other = app
        .hold_transaction(&[&format!(
            "UPDATE classifier_versions SET effective_time = {micros}, revision = revision + 1 \
             WHERE classifier_id = 'regions' AND version_id = 'v1'"
        )])
        .await;
    let mut describer = app.classifiers();
    let name = draft.name.clone();
    let describing = tokio::spawn(async move {
        describer
            .update_classifier_version(UpdateClassifierVersionRequest {
                version: Some(ClassifierVersion {
                    name,
                    description: "Regions of 2027".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["description"]),
            })
            .await
    });
    until_the_server_waits(&mut app).await;
    other.commit().await;
    let described = describing
        .await
        .unwrap()
        .expect("the update applies its mask to the draft as it is now")
        .into_inner();
    assert_eq!(described.description, "Regions of 2027");
    assert_eq!(
        described.effective_time,
        Some(effective),
        "the concurrent change outside the mask is kept"
    );
    assert_eq!(
        get_version(&mut admin, &draft.name).await.unwrap(),
        described
    );
}
