//! The repository on both engines.

use reestr_domain::Error;
use reestr_domain::contact::Contacts;
use reestr_domain::error::Reason;
use reestr_domain::organization::{OrganizationId, OrganizationKind, OrganizationSpec};
use reestr_domain::paging::SortKey;
use reestr_domain::revision::{Deletion, Revisioned};
use reestr_domain::submission::{
    ConclusionContent, Decision, EventKind, HolidayCalendar, Outcome, Submission, SubmissionId,
    SubmissionKind, SubmissionName, SubmissionSpec, SubmissionState, Transition,
    compile_submission_filter,
};
use reestr_domain::system::{Dependency, ProvidedService, SystemId, SystemSpec, SystemState};
use reestr_domain::text::LocalizedText;
use reestr_domain::time::Timestamp;

use super::{Deadlines, EventQuery, ReviewQuery, ReviewSelection, SubmissionQuery};
use crate::audit::AuditContext;
use crate::testing::on_every_engine;
use crate::{Clock, Store, Transition as SystemTransition};

fn ctx() -> AuditContext {
    AuditContext {
        caller: "test".into(),
        method: "test".into(),
        ..AuditContext::default()
    }
}

fn org(id: &str) -> OrganizationId {
    OrganizationId::from_trusted(id.into())
}

fn sys(id: &str) -> SystemId {
    SystemId::from_trusted(id.into())
}

fn sub(system: &str, id: &str) -> SubmissionName {
    SubmissionName {
        system: sys(system),
        submission: SubmissionId::from_trusted(id.into()),
    }
}

/// Approves every caller: these tests are about the store, not about access.
fn anyone(_: &Submission) -> Result<(), Error> {
    Ok(())
}

fn t(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).unwrap()
}

/// The store over `store`'s database with a manual clock standing at `start`.
async fn manual(store: &Store, start: &str) -> (Store, Clock) {
    let clock = Clock::manual(t(start));
    let s = Store::open(store.database().clone(), clock.clone(), Default::default())
        .await
        .unwrap();
    (s, clock)
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
        .create(&ctx(), org(id), spec, None, |_| Vec::new())
        .await
        .unwrap();
}

/// The owner `soliq`, the reviewers `csec` and `mitc`, and the planned system `e-soliq`.
async fn seed(store: &Store) {
    organization(store, "soliq", "200000001").await;
    organization(store, "csec", "200000002").await;
    organization(store, "mitc", "200000003").await;
    organization(store, "outsider", "200000004").await;
    system(store, "e-soliq", "E-SOLIQ", vec![]).await;
}

async fn system(store: &Store, id: &str, short: &str, dependencies: Vec<Dependency>) {
    let spec = SystemSpec {
        short_name: short.into(),
        display_name: [("en".to_string(), short.to_string())].into(),
        purpose: "Taxes".into(),
        owner: "organizations/soliq".into(),
        provided_services: vec![ProvidedService {
            name: "lookup".into(),
            ..Default::default()
        }],
        dependencies,
        ..Default::default()
    };
    store
        .systems()
        .create(&ctx(), sys(id), spec, None, |_| Vec::new())
        .await
        .unwrap();
}

fn spec(kind: SubmissionKind) -> SubmissionSpec {
    SubmissionSpec {
        kind,
        title: "Technical assignment".into(),
        description: String::new(),
        required_reviewers: vec![org("csec"), org("mitc")],
    }
}

async fn create(store: &Store, name: &SubmissionName, kind: SubmissionKind) -> Submission {
    match store
        .submissions()
        .create(
            &ctx(),
            name.clone(),
            spec(kind),
            None,
            |_| Vec::new(),
            |_| Ok(()),
        )
        .await
        .unwrap()
    {
        crate::Outcome::Fresh(s) => s,
        crate::Outcome::Replayed(_) => panic!("replayed"),
    }
}

fn deadlines(holidays: &HolidayCalendar) -> Deadlines<'_> {
    Deadlines {
        holidays,
        working_days: 20,
    }
}

async fn step(
    store: &Store,
    name: &SubmissionName,
    transition: Transition,
) -> Result<Submission, Error> {
    store
        .submissions()
        .transition(
            &ctx(),
            name,
            "",
            transition,
            anyone,
            deadlines(&HolidayCalendar::weekends_only()),
        )
        .await
}

async fn decide(
    store: &Store,
    name: &SubmissionName,
    reviewer: &str,
    decision: Decision,
) -> Result<super::ReviewOutcome, Error> {
    store
        .submissions()
        .review(
            &ctx(),
            name,
            &org(reviewer),
            decision,
            "seen",
            anyone,
            deadlines(&HolidayCalendar::weekends_only()),
        )
        .await
}

fn query<S>(selection: S) -> reestr_domain::paging::ListQuery<S> {
    reestr_domain::paging::ListQuery {
        selection,
        order_by: vec![SortKey {
            field: "name",
            descending: false,
        }],
        show_deleted: false,
        page_size: 100,
        page_token: String::new(),
        fingerprint: "fp".into(),
    }
}

async fn events(store: &Store, name: &SubmissionName) -> Vec<EventKind> {
    let q: EventQuery = query(name.clone());
    let page = store.submissions().events(&q).await.unwrap();
    let sequences: Vec<i64> = page.items.iter().map(|e| e.sequence).collect();
    assert_eq!(
        sequences,
        (1..=reestr_domain::input::count_i64(sequences.len())).collect::<Vec<_>>()
    );
    page.items.into_iter().map(|e| e.kind).collect()
}

/// The content a stored conclusion certifies, rebuilt from the stored round.
async fn content_of(store: &Store, s: &Submission) -> ConclusionContent {
    let c = s.conclusion.as_ref().unwrap();
    let q: ReviewQuery = query(ReviewSelection {
        submission: s.name.clone(),
        round: Some(s.status.round),
    });
    let reviews = store.submissions().reviews(&q).await.unwrap().items;
    ConclusionContent {
        submission: s.name.name(),
        kind: s.kind(),
        round: s.status.round,
        outcome: c.outcome,
        number: c.number.clone(),
        documents: Vec::new(),
        decisions: reviews.iter().map(|r| r.round_decision()).collect(),
    }
}

#[tokio::test]
async fn an_approval_in_one_round_moves_a_planned_system_into_development_with_a_verifiable_conclusion()
 {
    on_every_engine(|store| async move {
        seed(&store).await;
        let (store, _) = manual(&store, "2026-06-01T06:00:00Z").await;
        let name = sub("e-soliq", "tz");
        let created = create(&store, &name, SubmissionKind::Creation).await;
        assert_eq!(created.status.state, SubmissionState::Draft);
        assert_eq!(created.status.round, 0);
        let submitted = step(&store, &name, Transition::Submit).await.unwrap();
        assert_eq!(
            (submitted.status.state, submitted.status.round),
            (SubmissionState::UnderReview, 1)
        );
        let first = decide(&store, &name, "csec", Decision::Approve)
            .await
            .unwrap();
        assert_eq!(first.submission.status.state, SubmissionState::UnderReview);
        assert!(first.system.is_none());
        let last = decide(&store, &name, "mitc", Decision::Approve)
            .await
            .unwrap();
        let s = last.submission;
        assert_eq!(s.status.state, SubmissionState::Approved);
        let c = s.conclusion.clone().unwrap();
        assert_eq!(c.number.as_str(), "EX-2026-000001");
        assert_eq!(c.outcome, Outcome::Approved);
        assert!(content_of(&store, &s).await.verify(&c.digest));
        assert_eq!(store.submissions().get(&name).await.unwrap(), s);
        let system = store.systems().get(&sys("e-soliq")).await.unwrap();
        assert_eq!(system.state, SystemState::InDevelopment);
        assert_eq!(last.system.unwrap(), system);
        assert_eq!(system.revision, 2);
        assert_eq!(
            events(&store, &name).await,
            [
                EventKind::Created,
                EventKind::Submitted,
                EventKind::Reviewed,
                EventKind::Reviewed,
                EventKind::Decided
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn after_changes_are_requested_only_the_decisions_of_the_resubmitted_round_count() {
    on_every_engine(|store| async move {
        seed(&store).await;
        let name = sub("e-soliq", "tz");
        create(&store, &name, SubmissionKind::Creation).await;
        step(&store, &name, Transition::Submit).await.unwrap();
        decide(&store, &name, "csec", Decision::Approve)
            .await
            .unwrap();
        decide(&store, &name, "mitc", Decision::Reject)
            .await
            .unwrap();
        let s = store.submissions().get(&name).await.unwrap();
        assert_eq!(s.status.state, SubmissionState::Rejected);

        let name = sub("e-soliq", "tz-2");
        create(&store, &name, SubmissionKind::Creation).await;
        step(&store, &name, Transition::Submit).await.unwrap();
        // A reviewer replaces its own decision while the round is open.
        decide(&store, &name, "csec", Decision::RequestChanges)
            .await
            .unwrap();
        decide(&store, &name, "csec", Decision::Approve)
            .await
            .unwrap();
        let asked = decide(&store, &name, "mitc", Decision::RequestChanges)
            .await
            .unwrap()
            .submission;
        assert_eq!(asked.status.state, SubmissionState::ChangesRequested);
        assert!(asked.conclusion.is_none());
        assert!(asked.owner_due_time.is_some());
        let again = step(&store, &name, Transition::Resubmit).await.unwrap();
        assert_eq!(
            (again.status.state, again.status.round, again.owner_due_time),
            (SubmissionState::UnderReview, 2, None)
        );
        // csec approved round 1; that does not count for round 2.
        let one = decide(&store, &name, "mitc", Decision::Approve)
            .await
            .unwrap();
        assert_eq!(one.submission.status.state, SubmissionState::UnderReview);
        let done = decide(&store, &name, "csec", Decision::Approve)
            .await
            .unwrap()
            .submission;
        assert_eq!(done.status.state, SubmissionState::Approved);
        let c = done.conclusion.clone().unwrap();
        // The first submission's rejection took number 1.
        assert_eq!(c.number.as_str()[8..], *"000002");
        let content = content_of(&store, &done).await;
        assert_eq!(content.round, 2);
        assert_eq!(content.decisions.len(), 2);
        assert!(content.verify(&c.digest));
        let round_one: ReviewQuery = query(ReviewSelection {
            submission: name.clone(),
            round: Some(1),
        });
        let first = store.submissions().reviews(&round_one).await.unwrap().items;
        let decisions: Vec<_> = first
            .iter()
            .map(|r| (r.reviewer.as_str(), r.decision))
            .collect();
        assert_eq!(
            decisions,
            [
                ("csec", Decision::Approve),
                ("mitc", Decision::RequestChanges)
            ]
        );
        let all: ReviewQuery = query(ReviewSelection {
            submission: name.clone(),
            round: None,
        });
        assert_eq!(
            store.submissions().reviews(&all).await.unwrap().items.len(),
            4
        );
        assert_eq!(
            store.systems().get(&sys("e-soliq")).await.unwrap().state,
            SystemState::InDevelopment
        );
    })
    .await;
}

#[tokio::test]
async fn a_reject_ends_the_submission_with_a_conclusion_and_leaves_the_system_alone() {
    on_every_engine(|store| async move {
        seed(&store).await;
        let name = sub("e-soliq", "tz");
        create(&store, &name, SubmissionKind::Creation).await;
        step(&store, &name, Transition::Submit).await.unwrap();
        decide(&store, &name, "csec", Decision::Reject)
            .await
            .unwrap();
        let s = decide(&store, &name, "mitc", Decision::Approve)
            .await
            .unwrap()
            .submission;
        assert_eq!(s.status.state, SubmissionState::Rejected);
        let c = s.conclusion.clone().unwrap();
        assert_eq!(c.outcome, Outcome::Rejected);
        assert!(content_of(&store, &s).await.verify(&c.digest));
        let system = store.systems().get(&sys("e-soliq")).await.unwrap();
        assert_eq!((system.state, system.revision), (SystemState::Planned, 1));
        // Final: nothing more happens to it.
        let err = step(&store, &name, Transition::Withdraw).await.unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
        // And the kind is free again.
        create(&store, &sub("e-soliq", "tz-2"), SubmissionKind::Creation).await;
    })
    .await;
}

#[tokio::test]
async fn a_withdrawn_submission_frees_its_kind_and_can_be_deleted() {
    on_every_engine(|store| async move {
        seed(&store).await;
        let name = sub("e-soliq", "tz");
        create(&store, &name, SubmissionKind::Creation).await;
        step(&store, &name, Transition::Submit).await.unwrap();
        let err = store
            .submissions()
            .set_deleted(&ctx(), &name, "", Deletion::Delete, anyone)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
        let w = step(&store, &name, Transition::Withdraw).await.unwrap();
        assert_eq!(w.status.state, SubmissionState::Withdrawn);
        create(&store, &sub("e-soliq", "tz-2"), SubmissionKind::Creation).await;
        let deleted = store
            .submissions()
            .set_deleted(&ctx(), &name, &w.etag(), Deletion::Delete, anyone)
            .await
            .unwrap();
        assert!(deleted.delete_time.is_some());
        let listed = store.submissions().list(&query(None)).await.unwrap().items;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, sub("e-soliq", "tz-2"));
        assert_eq!(
            events(&store, &name).await,
            [
                EventKind::Created,
                EventKind::Submitted,
                EventKind::Withdrawn,
                EventKind::Deleted
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn an_illegal_transition_is_refused_by_the_lifecycle_and_changes_nothing() {
    on_every_engine(|store| async move {
        seed(&store).await;
        let name = sub("e-soliq", "tz");
        let draft = create(&store, &name, SubmissionKind::Creation).await;
        let err = step(&store, &name, Transition::Resubmit).await.unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
        assert!(
            err.to_string()
                .contains("allowed from DRAFT: SUBMIT, WITHDRAW"),
            "{err}"
        );
        let err = decide(&store, &name, "csec", Decision::Approve)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
        assert_eq!(store.submissions().get(&name).await.unwrap(), draft);
        // A system in a state the approval cannot apply to is refused at submission.
        let name = sub("e-soliq", "go-live");
        create(&store, &name, SubmissionKind::Commissioning).await;
        let err = step(&store, &name, Transition::Submit).await.unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
        assert!(
            err.to_string().contains("applies only to a system"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_second_open_submission_of_a_kind_is_refused() {
    on_every_engine(|store| async move {
        seed(&store).await;
        create(&store, &sub("e-soliq", "tz"), SubmissionKind::Creation).await;
        let err = store
            .submissions()
            .create(
                &ctx(),
                sub("e-soliq", "tz-2"),
                spec(SubmissionKind::Creation),
                None,
                |_| Vec::new(),
                |_| Ok(()),
            )
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::SubmissionOpen);
        assert!(
            err.to_string().contains("systems/e-soliq/submissions/tz"),
            "{err}"
        );
        // Another kind is fine; so is the same id under another system, and a missing system
        // is not found.
        create(
            &store,
            &sub("e-soliq", "tz-2"),
            SubmissionKind::Modernization,
        )
        .await;
        let err = store
            .submissions()
            .create(
                &ctx(),
                sub("nowhere", "tz"),
                spec(SubmissionKind::Creation),
                None,
                |_| Vec::new(),
                |_| Ok(()),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn a_reviewer_that_is_not_required_is_denied_and_nothing_is_stored() {
    on_every_engine(|store| async move {
        seed(&store).await;
        let name = sub("e-soliq", "tz");
        create(&store, &name, SubmissionKind::Creation).await;
        let before = step(&store, &name, Transition::Submit).await.unwrap();
        let err = decide(&store, &name, "outsider", Decision::Approve)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::PermissionDenied);
        assert_eq!(store.submissions().get(&name).await.unwrap(), before);
        let all: ReviewQuery = query(ReviewSelection {
            submission: name.clone(),
            round: None,
        });
        assert!(
            store
                .submissions()
                .reviews(&all)
                .await
                .unwrap()
                .items
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn a_stale_etag_is_aborted() {
    on_every_engine(|store| async move {
        seed(&store).await;
        let name = sub("e-soliq", "tz");
        let draft = create(&store, &name, SubmissionKind::Creation).await;
        let updated = store
            .submissions()
            .update(&ctx(), &name, &draft.etag(), |s| {
                Ok(SubmissionSpec {
                    title: "Technical assignment, v2".into(),
                    ..s.spec.clone()
                })
            })
            .await
            .unwrap();
        assert_eq!(updated.revision, 2);
        let err = store
            .submissions()
            .update(&ctx(), &name, &draft.etag(), |s| Ok(s.spec.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::EtagMismatch { .. }), "{err:?}");
        let err = store
            .submissions()
            .transition(
                &ctx(),
                &name,
                &draft.etag(),
                Transition::Submit,
                anyone,
                deadlines(&HolidayCalendar::weekends_only()),
            )
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::EtagMismatch);
        // The kind never changes, and only a draft is edited.
        let err = store
            .submissions()
            .update(&ctx(), &name, "", |s| {
                Ok(SubmissionSpec {
                    kind: SubmissionKind::Modernization,
                    ..s.spec.clone()
                })
            })
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument);
        step(&store, &name, Transition::Submit).await.unwrap();
        let err = store
            .submissions()
            .update(&ctx(), &name, "", |s| Ok(s.spec.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::IllegalStateTransition);
    })
    .await;
}

#[tokio::test]
async fn deadlines_skip_weekends_and_holidays_and_the_overdue_filter_follows_them() {
    on_every_engine(|store| async move {
        seed(&store).await;
        // Friday 2026-12-04, 10:00 in Tashkent.
        let (store, clock) = manual(&store, "2026-12-04T05:00:00Z").await;
        let holidays = HolidayCalendar::parse("2026-12-08  Constitution Day\n").unwrap();
        let three = Deadlines {
            holidays: &holidays,
            working_days: 3,
        };
        let name = sub("e-soliq", "tz");
        create(&store, &name, SubmissionKind::Creation).await;
        let s = store
            .submissions()
            .transition(&ctx(), &name, "", Transition::Submit, anyone, three)
            .await
            .unwrap();
        // Monday 7, (Tuesday 8 is a holiday), Wednesday 9, Thursday 10: due by the end of
        // Thursday in Tashkent.
        assert_eq!(s.round_start_time, Some(t("2026-12-04T05:00:00Z")));
        assert_eq!(s.due_time, Some(t("2026-12-10T19:00:00Z")));

        let overdue = |overdue: bool, at: &str| {
            let raw = format!("overdue = {overdue}");
            query(compile_submission_filter(&raw, t(at)).unwrap())
        };
        let count =
            async |q: SubmissionQuery| store.submissions().list(&q).await.unwrap().items.len();
        assert_eq!(count(overdue(true, "2026-12-10T18:59:59Z")).await, 0);
        assert_eq!(count(overdue(false, "2026-12-10T18:59:59Z")).await, 1);
        assert_eq!(count(overdue(true, "2026-12-10T19:00:00Z")).await, 1);
        assert_eq!(count(overdue(false, "2026-12-10T19:00:00Z")).await, 0);

        // Changes requested on Thursday 10 at 11:00: the owner's three working days are
        // Friday 11, Monday 14 and Tuesday 15.
        clock.set(t("2026-12-10T06:00:00Z"));
        for reviewer in ["csec", "mitc"] {
            store
                .submissions()
                .review(
                    &ctx(),
                    &name,
                    &org(reviewer),
                    Decision::RequestChanges,
                    "",
                    anyone,
                    three,
                )
                .await
                .unwrap();
        }
        let s = store.submissions().get(&name).await.unwrap();
        assert_eq!(s.owner_due_time, Some(t("2026-12-15T19:00:00Z")));
        assert_eq!(count(overdue(true, "2026-12-12T00:00:00Z")).await, 0);
        assert_eq!(count(overdue(true, "2026-12-15T19:00:00Z")).await, 1);

        for (raw, expected) in [
            ("state = CHANGES_REQUESTED", 1),
            ("state = UNDER_REVIEW", 0),
            ("kind = CREATION AND system = \"systems/e-soliq\"", 1),
            ("reviewer = \"organizations/csec\"", 1),
            ("reviewer = \"organizations/outsider\"", 0),
            ("NOT reviewer = \"organizations/mitc\"", 0),
            ("owner = \"organizations/soliq\"", 1),
            ("owner != \"organizations/soliq\"", 0),
        ] {
            let q = query(compile_submission_filter(raw, store.now()).unwrap());
            assert_eq!(count(q).await, expected, "{raw}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_decommissioning_approval_with_a_live_dependent_is_refused_and_nothing_is_stored() {
    on_every_engine(|store| async move {
        seed(&store).await;
        system(
            &store,
            "my-gov",
            "MY-GOV",
            vec![Dependency {
                system: "systems/e-soliq".into(),
                service: "lookup".into(),
                purpose: "Taxpayers".into(),
            }],
        )
        .await;
        let name = sub("e-soliq", "end");
        create(&store, &name, SubmissionKind::Decommissioning).await;
        step(&store, &name, Transition::Submit).await.unwrap();
        decide(&store, &name, "csec", Decision::Approve)
            .await
            .unwrap();
        let before = store.submissions().get(&name).await.unwrap();
        let events_before = events(&store, &name).await;
        let err = decide(&store, &name, "mitc", Decision::Approve)
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::ResourceInUse);
        assert_eq!(store.submissions().get(&name).await.unwrap(), before);
        assert_eq!(events(&store, &name).await, events_before);
        let round: ReviewQuery = query(ReviewSelection {
            submission: name.clone(),
            round: Some(1),
        });
        assert_eq!(
            store
                .submissions()
                .reviews(&round)
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        let system = store.systems().get(&sys("e-soliq")).await.unwrap();
        assert_eq!((system.state, system.revision), (SystemState::Planned, 1));

        // Once the dependent is gone the same decision approves, and the system is
        // decommissioned; the next conclusion number is still the first.
        store
            .systems()
            .transition(
                &ctx(),
                &sys("my-gov"),
                &SystemTransition {
                    to: SystemState::Decommissioned,
                    etag: String::new(),
                    force: false,
                    reason: String::new(),
                },
                |_| Ok(()),
            )
            .await
            .unwrap();
        let done = decide(&store, &name, "mitc", Decision::Approve)
            .await
            .unwrap();
        assert_eq!(done.submission.status.state, SubmissionState::Approved);
        assert_eq!(
            done.submission.conclusion.unwrap().number.as_str()[8..],
            *"000001"
        );
        assert_eq!(done.system.unwrap().state, SystemState::Decommissioned);
    })
    .await;
}

#[tokio::test]
async fn registration_numbers_carry_across_the_counter_migration_both_ways() {
    on_every_engine(|store| async move {
        seed(&store).await;
        let db = store.database();
        db.migrate_down(1).await.unwrap();
        db.migrate_up().await.unwrap();
        system(&store, "my-gov", "MY-GOV", vec![]).await;
        let first = store.systems().get(&sys("e-soliq")).await.unwrap();
        let second = store.systems().get(&sys("my-gov")).await.unwrap();
        assert!(first.registration_number.ends_with("-000001"));
        assert!(second.registration_number.ends_with("-000002"));
    })
    .await;
}
