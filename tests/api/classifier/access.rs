//! Who may write classifiers, and the audit of publications and of imports cut off by the
//! client.

use super::*;

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
