//! The register's calendar: dates are days in its time zone (Asia/Tashkent, UTC+5, by
//! default), so the new year begins at 19:00 UTC on 31 December. A manual clock stands one
//! minute either side of that moment.

use reestr::proto::v1::server_info_service_client::ServerInfoServiceClient;
use reestr::proto::v1::validate_code_response::Reason;
use reestr::proto::v1::{GetServerInfoRequest, Item, ServerInfo};
use reestr_domain::time::Timestamp;
use reestr_store::Clock;

use crate::classifier::{self, create_classifier, get_item, published, top, validate_code};
use crate::helpers::{Bearer, TestApp, spawn_app_with};
use crate::system;

/// 23:59 on 31 December 2026 in Tashkent.
const BEFORE_MIDNIGHT: &str = "2026-12-31T18:59:00Z";
/// 00:01 on 1 January 2027 in Tashkent.
const AFTER_MIDNIGHT: &str = "2026-12-31T19:01:00Z";

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).expect("an RFC 3339 time")
}

/// A server whose clock stands at `start`, with organisation `stat`.
async fn app_at(start: &str) -> (TestApp, Clock) {
    let clock = Clock::manual(at(start));
    let server_clock = clock.clone();
    let mut app = spawn_app_with(move |c| c.clock = server_clock).await;
    app.create_organization("stat", "201234567").await;
    (app, clock)
}

async fn server_info(app: &TestApp) -> ServerInfo {
    ServerInfoServiceClient::with_interceptor(app.channel(), Bearer::new(Some(&app.admin_secret)))
        .get_server_info(GetServerInfoRequest {})
        .await
        .expect("GetServerInfo")
        .into_inner()
}

#[tokio::test]
async fn server_info_tells_the_time_zone_and_todays_date_there() {
    let (app, clock) = app_at(BEFORE_MIDNIGHT).await;
    let info = server_info(&app).await;
    assert_eq!(info.time_zone, "Asia/Tashkent");
    assert_eq!(info.today, "2026-12-31");
    assert_eq!(
        info.current_time,
        Some(BEFORE_MIDNIGHT.parse().expect("timestamp"))
    );
    clock.set(at(AFTER_MIDNIGHT));
    assert_eq!(server_info(&app).await.today, "2027-01-01");
    // Anonymous callers get only health and reflection.
    let anonymous = ServerInfoServiceClient::with_interceptor(app.channel(), Bearer::new(None))
        .get_server_info(GetServerInfoRequest {})
        .await
        .expect_err("anonymous");
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn another_time_zone_is_applied_and_shown() {
    let clock = Clock::manual(at(AFTER_MIDNIGHT));
    let app = spawn_app_with(move |c| {
        c.clock = clock;
        c.calendar = reestr_domain::time::Calendar::new("UTC").expect("UTC");
    })
    .await;
    let info = server_info(&app).await;
    assert_eq!(
        (info.time_zone.as_str(), info.today.as_str()),
        ("UTC", "2026-12-31")
    );
}

#[tokio::test]
async fn a_registration_number_takes_the_year_in_tashkent() {
    let (app, clock) = app_at(BEFORE_MIDNIGHT).await;
    let mut systems = app.admin_systems();
    let old_year = system::create(&mut systems, "before", system::system("stat", "before"))
        .await
        .expect("create before midnight");
    assert_eq!(old_year.registration_number, "IS-2026-000001");
    clock.set(at(AFTER_MIDNIGHT));
    let new_year = system::create(&mut systems, "after", system::system("stat", "after"))
        .await
        .expect("create after midnight");
    assert_eq!(new_year.registration_number, "IS-2027-000001");
}

#[tokio::test]
async fn validate_code_today_follows_midnight_in_tashkent() {
    let (app, clock) = app_at(BEFORE_MIDNIGHT).await;
    let mut c = app.classifiers();
    create_classifier(&mut c, "regions", classifier::spec())
        .await
        .expect("create");
    let from_new_year = Item {
        valid_from: "2027-01-01".into(),
        ..top("20", "New region")
    };
    published(
        &mut c,
        "regions",
        "v1",
        None,
        vec![top("10", "Old region"), from_new_year],
    )
    .await;

    let before = validate_code(&mut c, "regions", "20", "")
        .await
        .expect("validate");
    assert!(!before.valid, "{before:?}");
    assert_eq!(before.reason(), Reason::NotYetValid);
    assert!(
        validate_code(&mut c, "regions", "10", "")
            .await
            .expect("validate")
            .valid
    );

    clock.set(at(AFTER_MIDNIGHT));
    let after = validate_code(&mut c, "regions", "20", "")
        .await
        .expect("validate");
    assert!(after.valid, "{after:?}");

    // An `as_of` given in UTC is judged by the day it falls on in Tashkent, whatever now is.
    for (as_of, valid) in [(BEFORE_MIDNIGHT, false), (AFTER_MIDNIGHT, true)] {
        let answer = validate_code(&mut c, "regions", "20", as_of)
            .await
            .expect("validate");
        assert_eq!(answer.valid, valid, "as of {as_of}: {answer:?}");
    }
}

#[tokio::test]
async fn as_of_a_day_is_its_first_moment_in_tashkent() {
    let (app, clock) = app_at("2026-12-01T09:00:00Z").await;
    let mut c = app.classifiers();
    create_classifier(&mut c, "regions", classifier::spec())
        .await
        .expect("create");
    published(&mut c, "regions", "v1", None, vec![top("10", "First name")]).await;
    // v2 takes effect at 00:30 on 1 January in Tashkent (19:30 UTC on 31 December): not yet
    // in effect at the start of 1 January there, although it is before 00:00 UTC.
    let draft = c
        .create_classifier_version(reestr::proto::v1::CreateClassifierVersionRequest {
            parent: "classifiers/regions".into(),
            version_id: "v2".into(),
            version: Some(reestr::proto::v1::ClassifierVersion {
                effective_time: Some("2026-12-31T19:30:00Z".parse().expect("timestamp")),
                ..Default::default()
            }),
            source_version: String::new(),
            request_id: String::new(),
        })
        .await
        .expect("draft v2")
        .into_inner();
    c.batch_upsert_items(reestr::proto::v1::BatchUpsertItemsRequest {
        parent: draft.name.clone(),
        items: vec![top("10", "Second name")],
        etag: String::new(),
    })
    .await
    .expect("items of v2");
    c.publish_classifier_version(reestr::proto::v1::PublishClassifierVersionRequest {
        name: draft.name,
        etag: String::new(),
    })
    .await
    .expect("publish v2");

    let latest = classifier::version_name("regions", "latest");
    let item = format!("{latest}/items/10");
    let name_on = async |c: &mut classifier::Client, day: &str| {
        get_item(c, &item, day).await.expect("item").names["en"].clone()
    };
    assert_eq!(name_on(&mut c, "2027-01-01").await, "First name");
    assert_eq!(name_on(&mut c, "2027-01-02").await, "Second name");

    // "As of today", with today as the server tells it, one minute either side of midnight.
    clock.set(at(BEFORE_MIDNIGHT));
    let today = server_info(&app).await.today;
    assert_eq!(today, "2026-12-31");
    assert_eq!(name_on(&mut c, &today).await, "First name");
    clock.set(at(AFTER_MIDNIGHT));
    let today = server_info(&app).await.today;
    assert_eq!(today, "2027-01-01");
    assert_eq!(name_on(&mut c, &today).await, "First name");
    clock.set(at("2026-12-31T19:31:00Z"));
    assert_eq!(
        get_item(&mut c, &item, "").await.expect("item").names["en"],
        "Second name"
    );
}
