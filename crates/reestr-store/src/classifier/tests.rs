//! The repository on both engines.

use reestr_domain::Error;
use reestr_domain::classifier::codec::{decode_item, encode_item, encoded_code};
use reestr_domain::classifier::filter::compile_classifier_filter;
use reestr_domain::classifier::{
    AttributeDefDraft, Classifier, ClassifierDraft, ClassifierId, ClassifierSpec, Code, Item,
    LegalActDraft, Version, VersionId, VersionState,
};
use reestr_domain::contact::Contacts;
use reestr_domain::error::Reason;
use reestr_domain::input::{Choice, count_i64};
use reestr_domain::organization::{OrganizationId, OrganizationKind, OrganizationSpec};
use reestr_domain::request_id::RequestId;
use reestr_domain::text::{Language, LocalizedText};
use reestr_domain::time::Timestamp;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use reestr_domain::classifier::version::version_name;
use reestr_domain::revision::{Deletion, Revisioned, etag};

use super::{ClassifierQuery, DraftGuard, VersionChange};
use crate::Store;
use crate::audit::AuditContext;
use crate::idempotency::{Idempotency, Outcome};
use crate::testing::on_every_engine;
use reestr_domain::paging::Page;

fn ctx() -> AuditContext {
    AuditContext {
        caller: "test".into(),
        method: "test".into(),
        ..AuditContext::default()
    }
}

fn cid(s: &str) -> ClassifierId {
    ClassifierId::from_trusted(s.into())
}

fn vid(s: &str) -> VersionId {
    VersionId::from_trusted(s.into())
}

/// Approves every caller: these tests are about the store, not about access.
fn anyone(_: &Classifier) -> Result<(), Error> {
    Ok(())
}

/// The guard of a draft write by anyone, with `etag` (empty: none).
fn guard(etag: &str) -> DraftGuard<'_> {
    DraftGuard {
        authorize: &anyone,
        etag,
    }
}

/// The etag of revision `revision` of version `v` of `c`.
fn rev(c: &ClassifierId, v: &VersionId, revision: i64) -> String {
    etag(&version_name(c, v), revision)
}

/// The etag of revision `revision` of classifier `c`.
fn rev_c(c: &ClassifierId, revision: i64) -> String {
    etag(&c.name(), revision)
}

async fn organization(store: &Store, id: &str, tin: &str) {
    let spec = OrganizationSpec {
        display_name: LocalizedText::from_trusted([("en".into(), format!("Org {id}"))].into()),
        tin: tin.into(),
        kind: OrganizationKind::StateBody,
        parent: None,
        region_code: None,
        contacts: Contacts::default(),
    };
    store
        .organizations()
        .create(
            &ctx(),
            OrganizationId::from_trusted(id.into()),
            spec,
            None,
            |_| Vec::new(),
        )
        .await
        .unwrap();
}

fn spec(owner: &str, name: &str, hierarchical: bool) -> ClassifierSpec {
    ClassifierDraft {
        owner: format!("organizations/{owner}"),
        display_name: [
            ("en".to_string(), name.to_string()),
            ("ru".to_string(), format!("Классификатор {name}")),
        ]
        .into(),
        description: [("en".to_string(), "About it".to_string())].into(),
        legal_basis: vec![LegalActDraft {
            kind: Choice::Known(reestr_domain::classifier::LegalActKind::CabinetResolution),
            number: "1034".into(),
            date: "1999-12-29".into(),
            title: "On designations".into(),
            url: "https://lex.uz/docs/1".into(),
        }],
        code_pattern: "[0-9A-Za-zä]{1,10}".into(),
        hierarchical,
        max_depth: if hierarchical { 3 } else { 0 },
        required_languages: vec!["ru".into(), "uz-Latn".into()],
        attribute_schema: vec![
            AttributeDefDraft {
                key: "center".into(),
                kind: Choice::Known(reestr_domain::classifier::AttributeType::String),
                required: true,
                pattern: "[A-Z].*".into(),
                max_length: 100,
                ..Default::default()
            },
            AttributeDefDraft {
                key: "region".into(),
                kind: Choice::Known(reestr_domain::classifier::AttributeType::CodeRef),
                classifier: "classifiers/regions".into(),
                ..Default::default()
            },
        ],
    }
    .validate("classifier")
    .unwrap()
}

fn item(code: &str, name: &str) -> Item {
    let mut i = Item::new(Code::from_trusted(code.into()));
    i.names.insert(Language::Ru, name.into());
    i
}

async fn new_classifier(store: &Store, id: &str) -> Classifier {
    match store
        .classifiers()
        .create(&ctx(), cid(id), spec("stat", id, true), None, |_| {
            Vec::new()
        })
        .await
        .unwrap()
    {
        Outcome::Fresh(c) => c,
        Outcome::Replayed(_) => panic!("replayed"),
    }
}

async fn new_draft(store: &Store, c: &str, v: &str, source: Option<&str>) -> Version {
    match store
        .classifiers()
        .create_version(
            &ctx(),
            &cid(c),
            vid(v),
            format!("version {v}"),
            None,
            source.map(vid),
            &anyone,
            None,
            |_| Vec::new(),
        )
        .await
        .unwrap()
    {
        Outcome::Fresh(v) => v,
        Outcome::Replayed(_) => panic!("replayed"),
    }
}

async fn codes(store: &Store, c: &str, v: &str) -> Vec<String> {
    let bodies = store
        .classifiers()
        .scan_items(&cid(c), &vid(v), None, 1000)
        .await
        .unwrap();
    bodies
        .iter()
        .map(|b| encoded_code(b).unwrap().to_string())
        .collect()
}

fn reason(err: Error) -> Reason {
    match err {
        Error::Precondition { reason, .. } => reason,
        other => panic!("expected a precondition error, got {other:?}"),
    }
}

#[tokio::test]
async fn classifiers_are_created_updated_deleted_and_restored_with_etags() {
    on_every_engine(|store| async move {
        let repo = store.classifiers();
        let err = repo
            .create(
                &ctx(),
                cid("soato"),
                spec("stat", "SOATO", true),
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::ReferenceNotFound { field, reference }
                if field == "classifier.owner" && reference == "organizations/stat"),
            "{err:?}"
        );
        organization(&store, "stat", "200000001").await;
        organization(&store, "soliq", "200000002").await;

        let key = Idempotency {
            caller: "test".into(),
            method: "create".into(),
            request_id: RequestId::parse("9b2f6a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "request_id")
                .unwrap()
                .unwrap(),
            request_hash: "h".into(),
        };
        let created = repo
            .create(
                &ctx(),
                cid("soato"),
                spec("stat", "SOATO", true),
                Some(&key),
                |c| c.id.name().into_bytes(),
            )
            .await
            .unwrap();
        let Outcome::Fresh(created) = created else {
            panic!("first create replayed")
        };
        assert_eq!(created.revision, 1);
        let replay = repo
            .create(
                &ctx(),
                cid("soato"),
                spec("stat", "SOATO", true),
                Some(&key),
                |_| Vec::new(),
            )
            .await
            .unwrap();
        assert!(matches!(replay, Outcome::Replayed(b) if b == b"classifiers/soato"));
        let again = repo
            .create(
                &ctx(),
                cid("soato"),
                spec("stat", "SOATO", true),
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(again, Error::AlreadyExists { .. }), "{again:?}");

        // The whole spec survives the round trip through the database.
        let got = repo.get(&cid("soato")).await.unwrap();
        assert_eq!(got, created);
        assert_eq!(got.spec.attribute_schema.len(), 2);
        assert_eq!(got.spec.legal_basis[0].number, "1034");

        let stale = repo
            .update(&ctx(), &cid("soato"), "0123456789abcdef", |_| {
                Ok(spec("soliq", "SOATO 2", true))
            })
            .await
            .unwrap_err();
        assert!(matches!(stale, Error::EtagMismatch { .. }), "{stale:?}");
        let updated = repo
            .update(&ctx(), &cid("soato"), &created.etag(), |current| {
                assert_eq!(current, &created, "the change gets the stored classifier");
                Ok(spec("soliq", "SOATO 2", false))
            })
            .await
            .unwrap();
        assert_eq!(updated.revision, 2);
        assert_eq!(updated.spec.owner.as_str(), "soliq");
        assert_eq!(repo.get(&cid("soato")).await.unwrap(), updated);
        let same = repo
            .update(&ctx(), &cid("soato"), "", |_| {
                Ok(spec("soliq", "SOATO 2", false))
            })
            .await
            .unwrap();
        assert_eq!(
            same.revision, 2,
            "an update that changes nothing keeps the etag"
        );
        let bad_owner = repo
            .update(&ctx(), &cid("soato"), "", |_| {
                Ok(spec("nobody", "SOATO", true))
            })
            .await
            .unwrap_err();
        assert!(matches!(bad_owner, Error::ReferenceNotFound { .. }));

        let stale = repo
            .set_deleted(
                &ctx(),
                &cid("soato"),
                &rev_c(&cid("soato"), 1),
                Deletion::Delete,
                anyone,
            )
            .await
            .unwrap_err();
        assert!(matches!(stale, Error::EtagMismatch { .. }));
        let deleted = repo
            .set_deleted(
                &ctx(),
                &cid("soato"),
                &rev_c(&cid("soato"), 2),
                Deletion::Delete,
                anyone,
            )
            .await
            .unwrap();
        assert!(deleted.delete_time.is_some());
        assert_eq!(deleted.revision, 3);
        assert_eq!(repo.get(&cid("soato")).await.unwrap(), deleted);
        for err in [
            repo.set_deleted(&ctx(), &cid("soato"), "", Deletion::Delete, anyone)
                .await
                .unwrap_err(),
            repo.update(&ctx(), &cid("soato"), "", |_| Ok(spec("stat", "X", true)))
                .await
                .unwrap_err(),
            repo.create_version(
                &ctx(),
                &cid("soato"),
                vid("1"),
                String::new(),
                None,
                None,
                &anyone,
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap_err(),
        ] {
            assert!(matches!(err, Error::Deleted { .. }), "{err:?}");
        }
        let stale = repo
            .set_deleted(
                &ctx(),
                &cid("soato"),
                &rev_c(&cid("soato"), 2),
                Deletion::Undelete,
                anyone,
            )
            .await
            .unwrap_err();
        assert!(matches!(stale, Error::EtagMismatch { .. }));
        let restored = repo
            .set_deleted(
                &ctx(),
                &cid("soato"),
                &rev_c(&cid("soato"), 3),
                Deletion::Undelete,
                anyone,
            )
            .await
            .unwrap();
        assert_eq!(restored.delete_time, None);
        assert_eq!(restored.revision, 4);
        let err = repo
            .set_deleted(&ctx(), &cid("soato"), "", Deletion::Undelete, anyone)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotDeleted { .. }));
        let err = repo.get(&cid("nothing")).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { resource } if resource == "classifiers/nothing"));
    })
    .await;
}

#[tokio::test]
async fn lists_filter_and_page_by_id() {
    on_every_engine(|store| async move {
        organization(&store, "stat", "200000001").await;
        organization(&store, "soliq", "200000002").await;
        let repo = store.classifiers();
        for (id, owner, name, hierarchical) in [
            ("soato", "stat", "Regions", true),
            ("okved", "stat", "Activities", true),
            ("docs", "soliq", "Document types", false),
            ("units", "soliq", "Units", false),
        ] {
            repo.create(
                &ctx(),
                cid(id),
                spec(owner, name, hierarchical),
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap();
        }
        repo.set_deleted(&ctx(), &cid("units"), "", Deletion::Delete, anyone)
            .await
            .unwrap();
        let list = |filter: &str, show_deleted: bool, page_token: String| {
            let repo = store.classifiers();
            let filter = compile_classifier_filter(filter).unwrap();
            async move {
                repo.list(&ClassifierQuery {
                    selection: filter,
                    order_by: Vec::new(),
                    show_deleted,
                    page_size: 2,
                    page_token,
                    fingerprint: "fp".into(),
                })
                .await
                .unwrap()
            }
        };
        let ids = |page: &Page<Classifier>| {
            page.items
                .iter()
                .map(|c| c.id.as_str().to_string())
                .collect::<Vec<_>>()
        };
        let first = list("", false, String::new()).await;
        assert_eq!(ids(&first), ["docs", "okved"]);
        let second = list("", false, first.next_page_token.clone()).await;
        assert_eq!(ids(&second), ["soato"]);
        assert!(second.next_page_token.is_empty());
        let all = list("", true, String::new()).await;
        let all = list("", true, all.next_page_token).await;
        assert_eq!(ids(&all), ["soato", "units"]);

        let one = |f: &'static str| {
            let list = &list;
            async move {
                let p = list(f, true, String::new()).await;
                assert!(p.next_page_token.is_empty(), "{f}");
                ids(&p)
            }
        };
        assert_eq!(
            one("owner = \"organizations/soliq\"").await,
            ["docs", "units"]
        );
        assert_eq!(
            one("owner != \"organizations/soliq\"").await,
            ["okved", "soato"]
        );
        assert_eq!(one("hierarchical = false").await, ["docs", "units"]);
        assert_eq!(one("hierarchical != false").await, ["okved", "soato"]);
        assert_eq!(one("display_name:\"REGION\"").await, ["soato"]);
        assert_eq!(one("display_name:\"классификатор u\"").await, ["units"]);
        // The id is searched by a bare text, not by display_name.
        assert!(one("display_name:\"okved\"").await.is_empty());
        assert_eq!(one("\"okved\"").await, ["okved"]);
        assert_eq!(one("\"UNITS\" OR \"docs\"").await, ["docs", "units"]);
        assert_eq!(
            one("NOT hierarchical = true AND \"units\"").await,
            ["units"]
        );
        assert!(one("display_name:\"%\"").await.is_empty());

        for bad in [
            "state = ACTIVE",
            "owner = stat",
            "hierarchical = maybe",
            "display_name = \"x\"",
            "\"\"",
        ] {
            assert!(compile_classifier_filter(bad).is_err(), "{bad}");
        }
    })
    .await;
}

#[tokio::test]
async fn drafts_are_written_published_copied_and_retired() {
    on_every_engine(|store| async move {
        organization(&store, "stat", "200000001").await;
        new_classifier(&store, "soato").await;
        let repo = store.classifiers();
        let (c, v1) = (cid("soato"), vid("2026-1"));
        assert_eq!(repo.draft(&c).await.unwrap(), None);
        assert!(repo.versions(&c).await.unwrap().is_empty());
        assert!(matches!(
            repo.versions(&cid("none")).await.unwrap_err(),
            Error::NotFound { .. }
        ));
        let draft = new_draft(&store, "soato", "2026-1", None).await;
        assert_eq!(draft.state, VersionState::Draft);
        assert_eq!((draft.revision, draft.item_count), (1, 0));
        assert_eq!(repo.draft(&c).await.unwrap(), Some(draft.clone()));
        assert_eq!(repo.version(&c, &v1).await.unwrap(), draft);

        let err = repo
            .create_version(
                &ctx(),
                &c,
                vid("2026-2"),
                String::new(),
                None,
                None,
                &anyone,
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(reason(err.clone()), Reason::DraftExists);
        assert!(
            err.to_string()
                .contains("classifiers/soato/versions/2026-1"),
            "{err}"
        );
        let err = repo
            .create_version(
                &ctx(),
                &c,
                v1.clone(),
                String::new(),
                None,
                None,
                &anyone,
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");

        // Items: upsert, replace, count.
        let v = repo
            .upsert_items(
                &ctx(),
                &c,
                &v1,
                guard(&rev(&c, &v1, 1)),
                &[
                    item("10", "a"),
                    item("20", "b"),
                    item("30", "c"),
                    item("10", "a2"),
                ],
            )
            .await
            .unwrap();
        assert_eq!((v.revision, v.item_count), (2, 3));
        let stale = repo
            .upsert_items(&ctx(), &c, &v1, guard(&rev(&c, &v1, 1)), &[item("40", "d")])
            .await
            .unwrap_err();
        assert!(matches!(stale, Error::EtagMismatch { .. }));
        let v = repo
            .upsert_items(
                &ctx(),
                &c,
                &v1,
                guard(&rev(&c, &v1, 2)),
                &[item("20", "b2"), item("40", "d")],
            )
            .await
            .unwrap();
        assert_eq!((v.revision, v.item_count), (3, 4));
        assert_eq!(repo.version(&c, &v1).await.unwrap(), v);
        let mut got = repo.items(&c, &v1, &["10", "20", "99"]).await.unwrap();
        got.sort_by(|a, b| a.code.cmp(&b.code));
        assert_eq!(got, [item("10", "a2"), item("20", "b2")]);

        let missing = repo
            .delete_items(
                &ctx(),
                &c,
                &v1,
                guard(""),
                &[
                    Code::from_trusted("10".into()),
                    Code::from_trusted("77".into()),
                ],
                false,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&missing, Error::NotFound { resource }
                if resource == "classifiers/soato/versions/2026-1/items/77"),
            "{missing:?}"
        );
        assert_eq!(
            codes(&store, "soato", "2026-1").await,
            ["10", "20", "30", "40"]
        );
        let (removed, v) = repo
            .delete_items(
                &ctx(),
                &c,
                &v1,
                guard(&rev(&c, &v1, 3)),
                &[
                    Code::from_trusted("10".into()),
                    Code::from_trusted("77".into()),
                ],
                true,
            )
            .await
            .unwrap();
        assert_eq!((removed, v.revision, v.item_count), (1, 4, 3));
        let (removed, v) = repo
            .delete_items(
                &ctx(),
                &c,
                &v1,
                guard(""),
                &[Code::from_trusted("77".into())],
                true,
            )
            .await
            .unwrap();
        assert_eq!((removed, v.revision, v.item_count), (0, 4, 3));

        let v = repo
            .update_version(
                &ctx(),
                &c,
                &v1,
                guard(&rev(&c, &v1, 4)),
                VersionChange {
                    description: Some("First".into()),
                    effective_time: Some(Some(Timestamp::from_micros(5))),
                },
            )
            .await
            .unwrap();
        assert_eq!(v.revision, 5);
        assert_eq!(v.description, "First");

        // Publishing re-checks the revisions the caller validated: the classifier's
        // (its requirements) and the draft's (its items).
        let stale_requirements = repo
            .publish(
                &ctx(),
                &c,
                &v1,
                &anyone,
                0,
                5,
                "h".into(),
                Timestamp::from_micros(10),
                Timestamp::from_micros(9),
            )
            .await
            .unwrap_err();
        assert_eq!(
            stale_requirements,
            Error::EtagMismatch {
                resource: "classifiers/soato".into()
            }
        );
        let err = repo
            .publish(
                &ctx(),
                &c,
                &v1,
                &anyone,
                1,
                4,
                "h".into(),
                Timestamp::from_micros(10),
                Timestamp::from_micros(9),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::EtagMismatch { .. }), "{err:?}");
        let published = repo
            .publish(
                &ctx(),
                &c,
                &v1,
                &anyone,
                1,
                5,
                "abc".into(),
                Timestamp::from_micros(10),
                Timestamp::from_micros(9),
            )
            .await
            .unwrap();
        assert_eq!(published.state, VersionState::Published);
        assert_eq!(published.content_hash, "abc");
        assert_eq!(published.effective_time, Some(Timestamp::from_micros(10)));
        assert_eq!(published.publish_time, Some(Timestamp::from_micros(9)));
        assert_eq!(published.revision, 6);
        assert_eq!(repo.draft(&c).await.unwrap(), None);

        // A published version never changes.
        let refusals = [
            repo.update_version(
                &ctx(),
                &c,
                &v1,
                guard(""),
                VersionChange {
                    description: Some("x".into()),
                    effective_time: Some(None),
                },
            )
            .await
            .unwrap_err(),
            repo.upsert_items(&ctx(), &c, &v1, guard(""), &[item("50", "e")])
                .await
                .unwrap_err(),
            repo.delete_items(
                &ctx(),
                &c,
                &v1,
                guard(""),
                &[Code::from_trusted("20".into())],
                true,
            )
            .await
            .unwrap_err(),
            repo.delete_version(&ctx(), &c, &v1, guard(""))
                .await
                .unwrap_err(),
            repo.begin_import(&ctx(), &c, &v1, guard(""))
                .await
                .err()
                .unwrap(),
        ];
        for err in refusals {
            assert!(err.to_string().contains("PUBLISHED"), "{err}");
            assert_eq!(reason(err), Reason::VersionNotEditable);
        }
        let err = repo
            .publish(
                &ctx(),
                &c,
                &v1,
                &anyone,
                1,
                6,
                "h".into(),
                Timestamp::from_micros(1),
                Timestamp::from_micros(1),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::IllegalTransition { .. }), "{err:?}");
        assert_eq!(repo.version(&c, &v1).await.unwrap(), published);

        // A copy of a published version.
        let copy = new_draft(&store, "soato", "2026-2", Some("2026-1")).await;
        assert_eq!(copy.item_count, 3);
        assert_eq!(copy.source, Some(v1.clone()));
        assert_eq!(codes(&store, "soato", "2026-2").await, ["20", "30", "40"]);
        let mut got = repo.items(&c, &vid("2026-2"), &["20"]).await.unwrap();
        assert_eq!(got.pop(), Some(item("20", "b2")));
        // Writing the copy leaves the source alone.
        repo.upsert_items(&ctx(), &c, &vid("2026-2"), guard(""), &[item("60", "f")])
            .await
            .unwrap();
        assert_eq!(codes(&store, "soato", "2026-1").await, ["20", "30", "40"]);
        let deleted = repo
            .delete_version(
                &ctx(),
                &c,
                &vid("2026-2"),
                guard(&rev(&c, &vid("2026-2"), 2)),
            )
            .await
            .unwrap();
        assert_eq!(deleted.item_count, 4);
        assert!(matches!(
            repo.version(&c, &vid("2026-2")).await.unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            repo.scan_items(&c, &vid("2026-2"), None, 10)
                .await
                .unwrap_err(),
            Error::NotFound { .. }
        ));

        // Copying a draft, or a version that does not exist, is refused.
        new_draft(&store, "soato", "2026-4", None).await;
        let err = repo
            .create_version(
                &ctx(),
                &c,
                vid("2026-5"),
                String::new(),
                None,
                Some(vid("2026-4")),
                &anyone,
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(reason(err), Reason::VersionNotPublished);
        let err = repo
            .create_version(
                &ctx(),
                &c,
                vid("2026-5"),
                String::new(),
                None,
                Some(vid("2026-1")),
                &anyone,
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(reason(err), Reason::DraftExists);
        repo.delete_version(&ctx(), &c, &vid("2026-4"), guard(""))
            .await
            .unwrap();
        let err = repo
            .create_version(
                &ctx(),
                &c,
                vid("2026-5"),
                String::new(),
                None,
                Some(vid("nope")),
                &anyone,
                None,
                |_| Vec::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err:?}");

        // Retiring.
        let retired = repo
            .retire(&ctx(), &c, &v1, guard(&rev(&c, &v1, 6)))
            .await
            .unwrap();
        assert_eq!(retired.state, VersionState::Retired);
        assert!(retired.retire_time.is_some());
        let err = repo.retire(&ctx(), &c, &v1, guard("")).await.unwrap_err();
        assert!(matches!(err, Error::IllegalTransition { .. }), "{err:?}");
        let mut all = repo.versions(&c).await.unwrap();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(all, [retired]);
    })
    .await;
}

#[tokio::test]
async fn a_version_cannot_be_copied_from_a_draft() {
    on_every_engine(|store| async move {
        organization(&store, "stat", "200000001").await;
        new_classifier(&store, "soato").await;
        new_classifier(&store, "other").await;
        let repo = store.classifiers();
        new_draft(&store, "soato", "1", None).await;
        let copy = |c: &'static str, source: &'static str| {
            let repo = store.classifiers();
            async move {
                repo.create_version(
                    &ctx(),
                    &cid(c),
                    vid("2"),
                    String::new(),
                    None,
                    Some(vid(source)),
                    &anyone,
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap_err()
            }
        };
        let err = copy("soato", "1").await;
        assert!(
            matches!(&err, Error::Precondition { reason: Reason::VersionNotPublished, resource, .. }
                if resource == "classifiers/soato/versions/1"),
            "{err:?}"
        );
        // Versions are named within their classifier.
        let err = copy("other", "1").await;
        assert!(
            matches!(&err, Error::ReferenceNotFound { field, reference }
                if field == "source_version" && reference == "classifiers/other/versions/1"),
            "{err:?}"
        );
        assert!(matches!(
            repo.version(&cid("other"), &vid("1")).await.unwrap_err(),
            Error::NotFound { resource } if resource == "classifiers/other/versions/1"
        ));
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_of_one_draft_do_not_both_win() {
    on_every_engine(|store| async move {
        organization(&store, "stat", "200000001").await;
        new_classifier(&store, "soato").await;
        let (c, v) = (cid("soato"), vid("1"));
        new_draft(&store, "soato", "1", None).await;
        let writer = |code: &'static str| {
            let store = store.clone();
            let (c, v) = (c.clone(), v.clone());
            tokio::spawn(async move {
                store
                    .classifiers()
                    .upsert_items(&ctx(), &c, &v, guard(&rev(&c, &v, 1)), &[item(code, "n")])
                    .await
            })
        };
        let (a, b) = (writer("a"), writer("b"));
        let results = [a.await.unwrap(), b.await.unwrap()];
        let won: Vec<&Version> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(Error::EtagMismatch { .. })))
        );
        let now = store.classifiers().version(&c, &v).await.unwrap();
        assert_eq!((now.revision, now.item_count), (2, 1));
        assert_eq!(&now, won[0]);

        // Two drafts opened at once: one of them is refused.
        let opener = |id: &'static str| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .classifiers()
                    .create_version(
                        &ctx(),
                        &cid("soato"),
                        vid(id),
                        String::new(),
                        None,
                        None,
                        &anyone,
                        None,
                        |_| Vec::new(),
                    )
                    .await
            })
        };
        store
            .classifiers()
            .delete_version(&ctx(), &c, &v, guard(""))
            .await
            .unwrap();
        let (a, b) = (opener("x"), opener("y"));
        let results = [a.await.unwrap(), b.await.unwrap()];
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        for r in results {
            if let Err(e) = r {
                assert_eq!(reason(e), Reason::DraftExists);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_migration_rolls_back_and_reapplies() {
    on_every_engine(|store| async move {
        organization(&store, "stat", "200000001").await;
        new_classifier(&store, "soato").await;
        new_draft(&store, "soato", "1", None).await;
        store
            .classifiers()
            .upsert_items(
                &ctx(),
                &cid("soato"),
                &vid("1"),
                guard(""),
                &[item("a", "n")],
            )
            .await
            .unwrap();
        let db = store.database();
        // The classifiers' migration and every one after it.
        let status = db.migration_status().await.unwrap();
        let from = status
            .iter()
            .position(|m| m.name.ends_with("_classifiers"))
            .unwrap();
        db.migrate_down(u32::try_from(status.len() - from).unwrap())
            .await
            .unwrap();
        let names: Vec<String> = db
            .migration_status()
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.applied)
            .map(|m| m.name)
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with("_classifiers") || n.ends_with("_submissions")),
            "{names:?}"
        );
        db.migrate_up().await.unwrap();
        assert!(matches!(
            store.classifiers().get(&cid("soato")).await.unwrap_err(),
            Error::NotFound { .. }
        ));
        new_classifier(&store, "soato").await;
    })
    .await;
}

#[tokio::test]
async fn imports_report_duplicates_and_roll_back_when_dropped() {
    on_every_engine(|store| async move {
        organization(&store, "stat", "200000001").await;
        new_classifier(&store, "soato").await;
        let repo = store.classifiers();
        let (c, v) = (cid("soato"), vid("1"));
        new_draft(&store, "soato", "1", None).await;
        repo.upsert_items(&ctx(), &c, &v, guard(""), &[item("old", "x")])
            .await
            .unwrap();

        let err = repo
            .begin_import(&ctx(), &c, &v, guard(&rev(&c, &v, 1)))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::EtagMismatch { .. }), "{err:?}");
        let mut sink = repo
            .begin_import(&ctx(), &c, &v, guard(&rev(&c, &v, 2)))
            .await
            .unwrap();
        // 1,200 rows: more than two statements' worth, with repeats within one call, within
        // one statement, and of an earlier call.
        let rows: Vec<(u64, Item)> = (0..1200u64)
            .map(|i| (i + 1, item(&format!("{:05}", i % 1100), "n")))
            .collect();
        let dups = sink.insert(&rows).await.unwrap();
        assert_eq!(dups.len(), 100);
        assert_eq!(dups[0], (1101, Code::from_trusted("00000".into())));
        let more = vec![
            (2000, item("00005", "again")),
            (2001, item("new", "n")),
            (2002, item("new", "n")),
        ];
        let dups = sink.insert(&more).await.unwrap();
        assert_eq!(
            dups,
            [
                (2000, Code::from_trusted("00005".into())),
                (2002, Code::from_trusted("new".into()))
            ]
        );
        let err = sink.commit(5).await.unwrap_err();
        assert!(matches!(err, Error::Internal(_)));
        // That sink is gone, rolled back: the old content is intact.
        assert_eq!(codes(&store, "soato", "1").await, ["old"]);
        let v2 = repo.version(&c, &v).await.unwrap();
        assert_eq!((v2.revision, v2.item_count), (2, 1));

        let mut sink = repo
            .begin_import(&ctx(), &c, &v, guard(&rev(&c, &v, 2)))
            .await
            .unwrap();
        assert!(sink.insert(&rows[..10]).await.unwrap().is_empty());
        drop(sink);
        assert_eq!(codes(&store, "soato", "1").await, ["old"]);
        assert_eq!(repo.version(&c, &v).await.unwrap(), v2);

        let mut sink = repo
            .begin_import(&ctx(), &c, &v, guard(&rev(&c, &v, 2)))
            .await
            .unwrap();
        assert_eq!(sink.insert(&rows).await.unwrap().len(), 100);
        assert!(sink.insert(&more[1..2]).await.unwrap().is_empty());
        let done = sink.commit(1101).await.unwrap();
        assert_eq!((done.revision, done.item_count), (3, 1101));
        assert_eq!(repo.version(&c, &v).await.unwrap(), done);
        let all = codes(&store, "soato", "1").await;
        assert_eq!(all.len(), 1000, "scan_items limit");
        assert_eq!(all[0], "00000");
        let after = repo.scan_items(&c, &v, Some("01099"), 10).await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(encoded_code(&after[0]), Some("new"));
    })
    .await;
}

#[tokio::test]
async fn items_are_scanned_in_byte_order_of_code() {
    on_every_engine(|store| async move {
        organization(&store, "stat", "200000001").await;
        new_classifier(&store, "soato").await;
        let repo = store.classifiers();
        let (c, v) = (cid("soato"), vid("1"));
        new_draft(&store, "soato", "1", None).await;
        let given = ["a", "B", "ä", "10", "9", "Z", "b", "A"];
        let items: Vec<Item> = given.iter().map(|c| item(c, "n")).collect();
        repo.upsert_items(&ctx(), &c, &v, guard(""), &items)
            .await
            .unwrap();
        let mut expected: Vec<&str> = given.to_vec();
        expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(expected, ["10", "9", "A", "B", "Z", "a", "b", "ä"]);
        assert_eq!(codes(&store, "soato", "1").await, expected);
        // Keyset batches continue after the last code of the previous one.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let batch = repo.scan_items(&c, &v, after.as_deref(), 3).await.unwrap();
            let Some(last) = batch.last() else { break };
            after = encoded_code(last).map(str::to_string);
            seen.extend(
                batch
                    .iter()
                    .map(|b| decode_item(b).unwrap().code.into_string()),
            );
        }
        assert_eq!(seen, expected);
    })
    .await;
}

/// `cargo test --release -p reestr-store --lib import_speed -- --ignored --nocapture`:
/// a million rows through [`ImportSink::insert`] against a loop of prepared single-row
/// inserts in one transaction.
#[tokio::test]
#[ignore = "benchmark"]
async fn import_speed() {
    on_every_engine(|store| async move {
        const N: u64 = 1_000_000;
        organization(&store, "stat", "200000001").await;
        new_classifier(&store, "soato").await;
        let (c, v) = (cid("soato"), vid("1"));
        new_draft(&store, "soato", "1", None).await;
        let make = |i: u64| {
            let mut it = item(&format!("{i:08}"), &format!("Item number {i}"));
            it.names.insert(Language::UzLatn, format!("Element {i}"));
            (i, it)
        };
        let started = std::time::Instant::now();
        let mut sink = store
            .classifiers()
            .begin_import(&ctx(), &c, &v, guard(""))
            .await
            .unwrap();
        let mut chunk = Vec::with_capacity(5000);
        for i in 0..N {
            chunk.push(make(i));
            if chunk.len() == 5000 {
                assert!(sink.insert(&chunk).await.unwrap().is_empty());
                chunk.clear();
            }
        }
        let done = sink.commit(count_i64(N as usize)).await.unwrap();
        assert_eq!(done.item_count, count_i64(N as usize));
        let sink_time = started.elapsed();

        // The baseline: one prepared INSERT per row into a second draft, one transaction.
        let v2 = vid("2");
        store
            .classifiers()
            .delete_version(&ctx(), &c, &v, guard(""))
            .await
            .unwrap();
        new_draft(&store, "soato", "2", None).await;
        let started = std::time::Instant::now();
        let write = store.write(&ctx()).await.unwrap();
        let backend = write.txn().get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "INSERT INTO classifier_items (classifier_id, version_id, code, parent, body) \
                 VALUES ($1, $2, $3, $4, $5)"
            }
            _ => {
                "INSERT INTO classifier_items (classifier_id, version_id, code, parent, body) \
                 VALUES (?, ?, ?, ?, ?)"
            }
        };
        for i in 0..N {
            let (_, it) = make(i);
            let mut body = Vec::new();
            encode_item(&it, &mut body);
            let values: Vec<Value> = vec![
                c.as_str().into(),
                v2.as_str().into(),
                it.code.as_str().into(),
                it.parent.as_ref().map(|p| p.as_str().to_string()).into(),
                body.into(),
            ];
            write
                .txn()
                .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await
                .unwrap();
        }
        write.commit("x", Vec::new()).await.unwrap();
        let loop_time = started.elapsed();

        let started = std::time::Instant::now();
        let mut after: Option<String> = None;
        let mut n = 0;
        loop {
            let batch = store
                .classifiers()
                .scan_items(&c, &v2, after.as_deref(), 5000)
                .await
                .unwrap();
            let Some(last) = batch.last() else { break };
            after = encoded_code(last).map(str::to_string);
            n += batch.len();
        }
        assert_eq!(n as u64, N);
        eprintln!(
            "{:?}: import sink {sink_time:?}, prepared insert loop {loop_time:?}, scan {:?}",
            store.database().backend(),
            started.elapsed()
        );
    })
    .await;
}
