//! SubmissionService: the electronic review of design documentation, walked through every
//! path of its lifecycle against a real server (on SQLite, or PostgreSQL with
//! `TEST_DATABASE_URL`).
//!
//! The cast: `stat` owns the systems and submits; `csec` and `uzinfocom` review; `minfin` takes
//! no part.

use std::collections::BTreeMap;
use std::time::Duration;

use prost_types::FieldMask;
use reestr::proto::v1::information_system::State;
use reestr::proto::v1::submission_event::Kind as EventKind;
use reestr::proto::v1::submission_service_client::SubmissionServiceClient;
use reestr::proto::v1::{
    Comment, CreateCommentRequest, CreateRemarkRequest, GetRemarkRequest, ListCommentsRequest,
    ListRemarksRequest, Remark, RemarkState, ResolveRemarkRequest,
};
use reestr::proto::v1::{
    CreateReviewRequest, CreateSubmissionRequest, Decision, DeleteSubmissionRequest,
    GetSubmissionRequest, GetSystemRequest, InformationSystem, ListReviewsRequest,
    ListSubmissionEventsRequest, ListSubmissionsRequest, Outcome, ResubmitSubmissionRequest,
    Review, Role, Submission, SubmissionKind, SubmissionState, SubmitSubmissionRequest,
    UpdateSubmissionRequest, VerifyAuditChainRequest, VerifyConclusionRequest,
    WithdrawSubmissionRequest,
};
use reestr_domain::time::Timestamp;
use reestr_store::Clock;
use tonic::Code;

use crate::helpers::{Authed, Bearer, TestApp, assert_status, bad_request_fields, spawn_app_with};
use crate::system;

/// A SubmissionService client.
pub type Client = SubmissionServiceClient<Authed>;

/// A SubmissionService client calling with `secret` (anonymous with `None`).
pub fn client(app: &TestApp, secret: Option<&str>) -> Client {
    SubmissionServiceClient::with_interceptor(app.channel(), Bearer::new(secret))
}

/// A submission of `kind` for review by `reviewers` (organisation ids).
pub fn submission(kind: SubmissionKind, reviewers: &[&str]) -> Submission {
    Submission {
        kind: kind as i32,
        title: format!("{kind:?} documentation"),
        description: "Technical assignment and project".into(),
        required_reviewers: reviewers
            .iter()
            .map(|r| format!("organizations/{r}"))
            .collect(),
        ..Default::default()
    }
}

/// Creates `systems/{system}/submissions/{id}`.
pub async fn create(
    c: &mut Client,
    system: &str,
    id: &str,
    s: Submission,
) -> Result<Submission, tonic::Status> {
    c.create_submission(CreateSubmissionRequest {
        parent: format!("systems/{system}"),
        submission_id: id.into(),
        submission: Some(s),
        request_id: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Submits `name` for review.
pub async fn submit(c: &mut Client, name: &str) -> Result<Submission, tonic::Status> {
    c.submit_submission(SubmitSubmissionRequest {
        name: name.into(),
        etag: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Resubmits `name`.
pub async fn resubmit(c: &mut Client, name: &str) -> Result<Submission, tonic::Status> {
    c.resubmit_submission(ResubmitSubmissionRequest {
        name: name.into(),
        etag: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Withdraws `name`.
pub async fn withdraw(c: &mut Client, name: &str) -> Result<Submission, tonic::Status> {
    c.withdraw_submission(WithdrawSubmissionRequest {
        name: name.into(),
        etag: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Posts `decision` on `name`'s current round, for `reviewer` when it is not empty.
pub async fn review(
    c: &mut Client,
    name: &str,
    reviewer: &str,
    decision: Decision,
    comment: &str,
) -> Result<Review, tonic::Status> {
    c.create_review(CreateReviewRequest {
        parent: name.into(),
        review: Some(Review {
            reviewer: if reviewer.is_empty() {
                String::new()
            } else {
                format!("organizations/{reviewer}")
            },
            decision: decision as i32,
            comment: comment.into(),
            ..Default::default()
        }),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Opens a remark of `reviewer` (when not empty) on `document` of `parent`.
pub async fn remark(
    c: &mut Client,
    parent: &str,
    document: &str,
    reviewer: &str,
    text: &str,
) -> Result<Remark, tonic::Status> {
    c.create_remark(CreateRemarkRequest {
        parent: parent.into(),
        remark: Some(Remark {
            reviewer: if reviewer.is_empty() {
                String::new()
            } else {
                format!("organizations/{reviewer}")
            },
            document: document.into(),
            text: text.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Resolves the remark `name`.
pub async fn resolve(c: &mut Client, name: &str, why: &str) -> Result<Remark, tonic::Status> {
    c.resolve_remark(ResolveRemarkRequest {
        name: name.into(),
        resolution: why.into(),
        etag: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Posts a comment on `parent`, answering `remark` when it is not empty.
pub async fn comment(
    c: &mut Client,
    parent: &str,
    remark: &str,
    text: &str,
) -> Result<Comment, tonic::Status> {
    c.create_comment(CreateCommentRequest {
        parent: parent.into(),
        comment: Some(Comment {
            text: text.into(),
            remark: remark.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .map(tonic::Response::into_inner)
}

/// Reads `name`.
pub async fn get(c: &mut Client, name: &str) -> Result<Submission, tonic::Status> {
    c.get_submission(GetSubmissionRequest { name: name.into() })
        .await
        .map(tonic::Response::into_inner)
}

/// The test's organisations, `systems/e-soliq` (PLANNED) of `stat`, and the tokens of the
/// cast, with a manual clock standing at `start`.
struct Review2 {
    app: TestApp,
    clock: Clock,
    owner: Client,
    csec: Client,
    uzinfocom: Client,
    /// An editor of `minfin`, which takes no part.
    outsider: Client,
    /// A reader of `minfin`.
    outsider_reader: Client,
    /// A reviewer of `minfin`.
    outsider_reviewer: Client,
    /// A reader of `csec`.
    csec_reader: Client,
    admin: Client,
}

async fn cast(start: &str, working_days: u32) -> Review2 {
    let clock = Clock::manual(Timestamp::parse_rfc3339(start).expect("RFC 3339"));
    let server_clock = clock.clone();
    let mut app = spawn_app_with(move |c| {
        c.clock = server_clock;
        c.review.working_days = working_days;
    })
    .await;
    for (id, tin) in [
        ("stat", "201234567"),
        ("csec", "202345678"),
        ("uzinfocom", "203456789"),
        ("minfin", "204567890"),
    ] {
        app.create_organization(id, tin).await;
    }
    let mut systems = app.admin_systems();
    system::create(&mut systems, "e-soliq", system::system("stat", "E-SOLIQ"))
        .await
        .expect("system");
    let (_, owner) = app.create_token(Some("stat"), &[Role::Editor]).await;
    let (_, csec) = app.create_token(Some("csec"), &[Role::Reviewer]).await;
    let (_, uzinfocom) = app.create_token(Some("uzinfocom"), &[Role::Reviewer]).await;
    let (_, outsider) = app.create_token(Some("minfin"), &[Role::Editor]).await;
    let (_, outsider_reader) = app.create_token(Some("minfin"), &[Role::Reader]).await;
    let (_, outsider_reviewer) = app.create_token(Some("minfin"), &[Role::Reviewer]).await;
    let (_, csec_reader) = app.create_token(Some("csec"), &[Role::Reader]).await;
    Review2 {
        owner: client(&app, Some(&owner)),
        csec: client(&app, Some(&csec)),
        uzinfocom: client(&app, Some(&uzinfocom)),
        outsider: client(&app, Some(&outsider)),
        outsider_reader: client(&app, Some(&outsider_reader)),
        outsider_reviewer: client(&app, Some(&outsider_reviewer)),
        csec_reader: client(&app, Some(&csec_reader)),
        admin: client(&app, Some(&app.admin_secret)),
        app,
        clock,
    }
}

const TZ: &str = "systems/e-soliq/submissions/tz";

/// A CREATION of `e-soliq` for `csec` and `uzinfocom`, submitted.
async fn under_review(r: &mut Review2) -> Submission {
    create(
        &mut r.owner,
        "e-soliq",
        "tz",
        submission(SubmissionKind::Creation, &["csec", "uzinfocom"]),
    )
    .await
    .expect("create");
    submit(&mut r.owner, TZ).await.expect("submit")
}

fn pending(s: &Submission) -> Vec<&str> {
    s.pending_reviewers.iter().map(String::as_str).collect()
}

async fn system_state(app: &TestApp) -> State {
    let s = app
        .admin_systems()
        .get_system(GetSystemRequest {
            name: "systems/e-soliq".into(),
            ..Default::default()
        })
        .await
        .expect("get system")
        .into_inner();
    State::try_from(s.state).expect("a state")
}

async fn events(c: &mut Client, name: &str) -> Vec<(EventKind, i32)> {
    c.list_submission_events(ListSubmissionEventsRequest {
        parent: name.into(),
        page_size: 100,
        page_token: String::new(),
    })
    .await
    .expect("events")
    .into_inner()
    .events
    .into_iter()
    .map(|e| (EventKind::try_from(e.kind).expect("a kind"), e.round))
    .collect()
}

async fn reviews(c: &mut Client, name: &str, round: i32) -> Vec<(i32, String, Decision)> {
    c.list_reviews(ListReviewsRequest {
        parent: name.into(),
        round,
        page_size: 100,
        page_token: String::new(),
    })
    .await
    .expect("reviews")
    .into_inner()
    .reviews
    .into_iter()
    .map(|r| {
        (
            r.round,
            r.reviewer,
            Decision::try_from(r.decision).expect("a decision"),
        )
    })
    .collect()
}

const MONDAY: &str = "2026-12-14T05:00:00Z";

#[tokio::test]
async fn approved_in_one_round_moves_the_system_and_issues_a_verifiable_conclusion() {
    let mut r = cast(MONDAY, 20).await;
    let draft = create(
        &mut r.owner,
        "e-soliq",
        "tz",
        submission(SubmissionKind::Creation, &["csec", "uzinfocom"]),
    )
    .await
    .expect("create");
    assert_eq!(draft.state, SubmissionState::Draft as i32);
    assert_eq!(
        (draft.round, draft.owner.as_str()),
        (0, "organizations/stat")
    );
    assert!(draft.pending_reviewers.is_empty() && draft.due_time.is_none());

    let s = submit(&mut r.owner, TZ).await.expect("submit");
    assert_eq!((s.state, s.round), (SubmissionState::UnderReview as i32, 1));
    assert_eq!(
        pending(&s),
        ["organizations/csec", "organizations/uzinfocom"]
    );
    assert!(s.due_time.is_some() && s.submit_time.is_some() && !s.overdue);

    let first = review(&mut r.csec, TZ, "", Decision::Approve, "")
        .await
        .expect("csec");
    assert_eq!(
        (first.reviewer.as_str(), first.round, first.name.as_str()),
        (
            "organizations/csec",
            1,
            "systems/e-soliq/submissions/tz/rounds/1/reviews/csec"
        )
    );
    let s = get(&mut r.owner, TZ).await.expect("get");
    assert_eq!(pending(&s), ["organizations/uzinfocom"]);
    assert_eq!(s.state, SubmissionState::UnderReview as i32);
    assert_eq!(system_state(&r.app).await, State::Planned);

    review(
        &mut r.uzinfocom,
        TZ,
        "",
        Decision::Approve,
        "Meets the standard",
    )
    .await
    .expect("uzinfocom");
    let s = get(&mut r.owner, TZ).await.expect("get");
    assert_eq!(s.state, SubmissionState::Approved as i32);
    assert!(s.pending_reviewers.is_empty());
    let conclusion = s.conclusion.clone().expect("a conclusion");
    assert_eq!(conclusion.number, "EX-2026-000001");
    assert_eq!(conclusion.outcome, Outcome::Approved as i32);
    assert_eq!(conclusion.round, 1);
    assert!(
        conclusion.text.contains("Meets the standard"),
        "{}",
        conclusion.text
    );
    assert_eq!(conclusion.digest.len(), 64);
    assert_eq!(system_state(&r.app).await, State::InDevelopment);

    // Any agency verifies it; a wrong digest or an unknown number does not pass.
    let verified = r
        .outsider_reader
        .verify_conclusion(VerifyConclusionRequest {
            number: conclusion.number.clone(),
            digest: conclusion.digest.to_uppercase(),
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(verified.valid);
    assert_eq!(
        (
            verified.submission.as_str(),
            verified.round,
            verified.outcome
        ),
        (TZ, 1, Outcome::Approved as i32)
    );
    let mut wrong = conclusion.digest.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let forged = r
        .outsider_reader
        .verify_conclusion(VerifyConclusionRequest {
            number: conclusion.number.clone(),
            digest: String::from_utf8(wrong).expect("hex"),
        })
        .await
        .expect("verify a forged digest")
        .into_inner();
    assert!(!forged.valid);
    let unknown = r
        .outsider_reader
        .verify_conclusion(VerifyConclusionRequest {
            number: "EX-2026-000999".into(),
            digest: conclusion.digest.clone(),
        })
        .await
        .expect_err("unknown number");
    assert_status(&unknown, Code::NotFound, "RESOURCE_NOT_FOUND");

    // A decision posted after the round is decided is refused.
    let late = review(&mut r.csec, TZ, "", Decision::Reject, "Too late")
        .await
        .expect_err("decided");
    assert_status(&late, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");

    assert_eq!(
        events(&mut r.owner, TZ).await,
        [
            (EventKind::Created, 0),
            (EventKind::Submitted, 1),
            (EventKind::Reviewed, 1),
            (EventKind::Reviewed, 1),
            (EventKind::Decided, 1),
        ]
    );
    let chain = r
        .app
        .audit
        .clone()
        .verify_audit_chain(VerifyAuditChainRequest::default())
        .await
        .expect("verify the chain")
        .into_inner();
    assert!(chain.intact, "{chain:?}");
}

#[tokio::test]
async fn changes_requested_start_a_second_round_in_which_no_earlier_decision_counts() {
    let mut r = cast(MONDAY, 20).await;
    under_review(&mut r).await;
    review(&mut r.uzinfocom, TZ, "", Decision::Approve, "")
        .await
        .expect("approve");
    review(
        &mut r.csec,
        TZ,
        "",
        Decision::RequestChanges,
        "Section 4 lacks the threat model",
    )
    .await
    .expect("request changes");
    let s = get(&mut r.owner, TZ).await.expect("get");
    assert_eq!(s.state, SubmissionState::ChangesRequested as i32);
    assert!(
        s.conclusion.is_none(),
        "a round asking for changes issues no conclusion"
    );
    assert!(
        s.owner_due_time.is_some(),
        "the owner's revision has a deadline"
    );

    let s = resubmit(&mut r.owner, TZ).await.expect("resubmit");
    assert_eq!((s.state, s.round), (SubmissionState::UnderReview as i32, 2));
    assert_eq!(
        pending(&s),
        ["organizations/csec", "organizations/uzinfocom"]
    );
    assert!(s.owner_due_time.is_none());

    // csec approves round 2; uzinfocom's approval of round 1 does not count.
    review(&mut r.csec, TZ, "", Decision::Approve, "")
        .await
        .expect("approve round 2");
    let s = get(&mut r.owner, TZ).await.expect("get");
    assert_eq!(s.state, SubmissionState::UnderReview as i32);
    assert_eq!(pending(&s), ["organizations/uzinfocom"]);

    // A reviewer may replace its decision while the round is open.
    review(
        &mut r.csec,
        TZ,
        "",
        Decision::RequestChanges,
        "On second thought, section 5",
    )
    .await
    .expect("replace");
    review(&mut r.csec, TZ, "", Decision::Approve, "Section 5 is fine")
        .await
        .expect("again");
    review(&mut r.uzinfocom, TZ, "", Decision::Approve, "")
        .await
        .expect("approve");
    let s = get(&mut r.owner, TZ).await.expect("get");
    assert_eq!(s.state, SubmissionState::Approved as i32);
    assert_eq!(s.conclusion.expect("conclusion").round, 2);

    let csec = "organizations/csec".to_string();
    let uzinfocom = "organizations/uzinfocom".to_string();
    assert_eq!(
        reviews(&mut r.csec, TZ, 0).await,
        [
            (1, csec.clone(), Decision::RequestChanges),
            (1, uzinfocom.clone(), Decision::Approve),
            (2, csec.clone(), Decision::Approve),
            (2, uzinfocom.clone(), Decision::Approve),
        ]
    );
    assert_eq!(
        reviews(&mut r.owner, TZ, 1).await,
        [
            (1, csec, Decision::RequestChanges),
            (1, uzinfocom, Decision::Approve),
        ]
    );
    let kinds: Vec<EventKind> = events(&mut r.owner, TZ)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Created,
            EventKind::Submitted,
            EventKind::Reviewed,
            EventKind::Reviewed,
            EventKind::Decided,
            EventKind::Resubmitted,
            EventKind::Reviewed,
            EventKind::Reviewed,
            EventKind::Reviewed,
            EventKind::Reviewed,
            EventKind::Decided,
        ]
    );
}

#[tokio::test]
async fn one_rejection_rejects_and_issues_a_conclusion_leaving_the_system_as_it_was() {
    let mut r = cast(MONDAY, 20).await;
    under_review(&mut r).await;
    review(
        &mut r.csec,
        TZ,
        "",
        Decision::Reject,
        "No data protection at all",
    )
    .await
    .expect("reject");
    // REJECT outweighs REQUEST_CHANGES whatever the order.
    review(
        &mut r.uzinfocom,
        TZ,
        "",
        Decision::RequestChanges,
        "Fix section 2",
    )
    .await
    .expect("request changes");
    let s = get(&mut r.owner, TZ).await.expect("get");
    assert_eq!(s.state, SubmissionState::Rejected as i32);
    let c = s.conclusion.expect("a conclusion");
    assert_eq!(c.outcome, Outcome::Rejected as i32);
    assert_eq!(system_state(&r.app).await, State::Planned);
    // Final: no resubmission, no withdrawal; and a new submission of the kind may follow.
    let err = resubmit(&mut r.owner, TZ).await.expect_err("final");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    let err = withdraw(&mut r.owner, TZ).await.expect_err("final");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    create(
        &mut r.owner,
        "e-soliq",
        "tz-2",
        submission(SubmissionKind::Creation, &["csec"]),
    )
    .await
    .expect("a new submission after the rejection");
}

#[tokio::test]
async fn withdrawal_ends_a_draft_a_review_or_a_revision_and_nothing_follows_it() {
    let mut r = cast(MONDAY, 20).await;
    let kinds = [
        SubmissionKind::Creation,
        SubmissionKind::Modernization,
        SubmissionKind::Decommissioning,
    ];
    // A draft.
    create(
        &mut r.owner,
        "e-soliq",
        "a",
        submission(kinds[0], &["csec"]),
    )
    .await
    .expect("create");
    let s = withdraw(&mut r.owner, "systems/e-soliq/submissions/a")
        .await
        .expect("withdraw a draft");
    assert_eq!(s.state, SubmissionState::Withdrawn as i32);
    // Under review.
    create(
        &mut r.owner,
        "e-soliq",
        "b",
        submission(kinds[0], &["csec"]),
    )
    .await
    .expect("create after the withdrawal");
    submit(&mut r.owner, "systems/e-soliq/submissions/b")
        .await
        .expect("submit");
    withdraw(&mut r.owner, "systems/e-soliq/submissions/b")
        .await
        .expect("withdraw under review");
    // While changes are requested.
    create(
        &mut r.owner,
        "e-soliq",
        "c",
        submission(kinds[2], &["csec"]),
    )
    .await
    .expect("create");
    submit(&mut r.owner, "systems/e-soliq/submissions/c")
        .await
        .expect("submit");
    review(
        &mut r.csec,
        "systems/e-soliq/submissions/c",
        "",
        Decision::RequestChanges,
        "More",
    )
    .await
    .expect("request changes");
    withdraw(&mut r.owner, "systems/e-soliq/submissions/c")
        .await
        .expect("withdraw with changes requested");
    // Withdrawn is final; the message names what the state allows (nothing).
    let err = submit(&mut r.owner, "systems/e-soliq/submissions/c")
        .await
        .expect_err("withdrawn");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    let err = review(
        &mut r.csec,
        "systems/e-soliq/submissions/c",
        "",
        Decision::Approve,
        "",
    )
    .await
    .expect_err("withdrawn");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    // A withdrawn submission may be deleted; one under review may not.
    create(
        &mut r.owner,
        "e-soliq",
        "d",
        submission(kinds[1], &["csec"]),
    )
    .await
    .expect("create");
    r.owner
        .delete_submission(DeleteSubmissionRequest {
            name: "systems/e-soliq/submissions/c".into(),
            etag: String::new(),
        })
        .await
        .expect("delete the withdrawn one");
}

#[tokio::test]
async fn an_illegal_transition_names_the_transitions_the_state_allows() {
    let mut r = cast(MONDAY, 20).await;
    create(
        &mut r.owner,
        "e-soliq",
        "tz",
        submission(SubmissionKind::Creation, &["csec"]),
    )
    .await
    .expect("create");
    let err = resubmit(&mut r.owner, TZ).await.expect_err("a draft");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    assert!(
        err.message().contains("SUBMIT") && err.message().contains("WITHDRAW"),
        "{err:?}"
    );
    let err = review(&mut r.csec, TZ, "", Decision::Approve, "")
        .await
        .expect_err("a draft");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    submit(&mut r.owner, TZ).await.expect("submit");
    let err = submit(&mut r.owner, TZ).await.expect_err("under review");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    assert!(err.message().contains("WITHDRAW"), "{err:?}");
    let err = resubmit(&mut r.owner, TZ).await.expect_err("under review");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    // Only a draft changes.
    let err = r
        .owner
        .update_submission(UpdateSubmissionRequest {
            submission: Some(Submission {
                name: TZ.into(),
                title: "New title".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
        })
        .await
        .expect_err("under review");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
}

#[tokio::test]
async fn the_wrong_party_gets_the_right_refusal() {
    let mut r = cast(MONDAY, 20).await;
    // An editor of another organisation can neither create nor submit nor read.
    let err = create(
        &mut r.outsider,
        "e-soliq",
        "tz",
        submission(SubmissionKind::Creation, &["csec"]),
    )
    .await
    .expect_err("foreign editor");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    create(
        &mut r.owner,
        "e-soliq",
        "tz",
        submission(SubmissionKind::Creation, &["csec"]),
    )
    .await
    .expect("create");
    let err = submit(&mut r.outsider, TZ)
        .await
        .expect_err("foreign editor");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = get(&mut r.outsider, TZ).await.expect_err("not a party");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    // A reviewer cannot submit.
    let err = submit(&mut r.csec, TZ).await.expect_err("a reviewer");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    submit(&mut r.owner, TZ).await.expect("submit");
    // A reviewer that is not required for the round; a reader of a required reviewer; a
    // reviewer deciding for another organisation.
    let err = review(&mut r.outsider_reviewer, TZ, "", Decision::Approve, "")
        .await
        .expect_err("not required");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = review(&mut r.csec_reader, TZ, "", Decision::Approve, "")
        .await
        .expect_err("a reader");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    let err = review(&mut r.outsider_reviewer, TZ, "csec", Decision::Approve, "")
        .await
        .expect_err("for another organisation");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    // The reader of a required reviewer reads; the decision needs a reason to refuse.
    get(&mut r.csec_reader, TZ).await.expect("a party reads");
    let err = review(&mut r.csec, TZ, "", Decision::Reject, "  ")
        .await
        .expect_err("no reason");
    assert_eq!(bad_request_fields(&err), ["review.comment"]);
    let err = review(&mut r.csec, TZ, "", Decision::Unspecified, "")
        .await
        .expect_err("no decision");
    assert_eq!(bad_request_fields(&err), ["review.decision"]);
    // An administrator without an organisation names the reviewer it acts for.
    let err = review(&mut r.admin, TZ, "", Decision::Approve, "")
        .await
        .expect_err("whose?");
    assert_eq!(bad_request_fields(&err), ["review.reviewer"]);
    let s = get(&mut r.owner, TZ).await.expect("get");
    assert_eq!(
        pending(&s),
        ["organizations/csec"],
        "no refused decision was stored"
    );

    // A second open submission of one kind; another kind is fine.
    let err = create(
        &mut r.owner,
        "e-soliq",
        "tz-again",
        submission(SubmissionKind::Creation, &["csec"]),
    )
    .await
    .expect_err("a second open CREATION");
    assert_status(&err, Code::FailedPrecondition, "SUBMISSION_OPEN");
    assert!(err.message().contains(TZ), "{err:?}");
    // A required reviewer that does not exist.
    let err = create(
        &mut r.owner,
        "e-soliq",
        "mod",
        submission(SubmissionKind::Modernization, &["nobody"]),
    )
    .await
    .expect_err("unknown reviewer");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
}

#[tokio::test]
async fn deadlines_skip_the_weekend_and_a_holiday_and_both_sides_list_what_is_overdue() {
    // Friday 4 December 2026, 10:00 in Tashkent; 3 working days: Monday 7, (Tuesday 8 is
    // Constitution Day), Wednesday 9, Thursday 10. Due at the end of Thursday in Tashkent.
    let mut r = cast("2026-12-04T05:00:00Z", 3).await;
    let s = under_review(&mut r).await;
    let due = s.due_time.expect("due");
    assert_eq!(due, "2026-12-10T19:00:00Z".parse().expect("timestamp"));
    let overdue_for = async |c: &mut Client, filter: &str| -> Vec<String> {
        c.list_submissions(ListSubmissionsRequest {
            parent: "systems/-".into(),
            filter: filter.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .submissions
        .into_iter()
        .map(|s| s.name)
        .collect()
    };
    let late = r#"overdue = true AND reviewer = "organizations/csec""#;
    assert!(overdue_for(&mut r.csec, late).await.is_empty());
    r.clock
        .set(Timestamp::parse_rfc3339("2026-12-10T18:59:59Z").expect("time"));
    assert!(!get(&mut r.owner, TZ).await.expect("get").overdue);
    r.clock
        .set(Timestamp::parse_rfc3339("2026-12-10T19:00:00Z").expect("time"));
    assert!(get(&mut r.owner, TZ).await.expect("get").overdue);
    assert_eq!(overdue_for(&mut r.csec, late).await, [TZ]);

    // The owner's side: changes requested on Thursday 10 December give the owner 3 working
    // days: Friday 11, Monday 14, Tuesday 15.
    r.clock
        .set(Timestamp::parse_rfc3339("2026-12-10T18:00:00Z").expect("time"));
    review(&mut r.csec, TZ, "", Decision::RequestChanges, "Section 3")
        .await
        .expect("changes");
    review(&mut r.uzinfocom, TZ, "", Decision::Approve, "")
        .await
        .expect("approve");
    let s = get(&mut r.owner, TZ).await.expect("get");
    let owner_due = s.owner_due_time.expect("the owner's deadline");
    assert_eq!(
        owner_due,
        "2026-12-15T19:00:00Z".parse().expect("timestamp")
    );
    let owners_late = r#"overdue = true AND owner = "organizations/stat""#;
    r.clock.advance(Duration::from_secs(6 * 86_400));
    assert_eq!(overdue_for(&mut r.owner, owners_late).await, [TZ]);
    // Not overdue for the reviewers any more: they have decided.
    assert!(
        overdue_for(&mut r.csec, &format!("{late} AND state = UNDER_REVIEW"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_caller_lists_only_the_submissions_its_organisation_takes_part_in() {
    let mut r = cast(MONDAY, 20).await;
    under_review(&mut r).await;
    let mut systems = r.app.admin_systems();
    system::create(&mut systems, "other", system::system("minfin", "OTHER"))
        .await
        .expect("system of minfin");
    create(
        &mut r.admin,
        "other",
        "mine",
        submission(SubmissionKind::Creation, &["uzinfocom"]),
    )
    .await
    .expect("a submission of minfin");
    let names = async |c: &mut Client, parent: &str, filter: &str| -> Vec<String> {
        c.list_submissions(ListSubmissionsRequest {
            parent: parent.into(),
            filter: filter.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .submissions
        .into_iter()
        .map(|s| s.name)
        .collect()
    };
    let other = "systems/other/submissions/mine";
    assert_eq!(names(&mut r.admin, "systems/-", "").await, [TZ, other]);
    assert_eq!(names(&mut r.owner, "systems/-", "").await, [TZ]);
    assert_eq!(names(&mut r.csec, "systems/-", "").await, [TZ]);
    assert_eq!(names(&mut r.uzinfocom, "systems/-", "").await, [TZ, other]);
    assert_eq!(
        names(&mut r.outsider_reader, "systems/-", "").await,
        [other]
    );
    assert_eq!(names(&mut r.uzinfocom, "systems/other", "").await, [other]);
    assert_eq!(
        names(&mut r.admin, "systems/-", "state = UNDER_REVIEW").await,
        [TZ]
    );
    assert_eq!(
        names(
            &mut r.admin,
            "systems/-",
            "kind = CREATION AND state = DRAFT"
        )
        .await,
        [other]
    );
    let err = r
        .admin
        .list_submissions(ListSubmissionsRequest {
            parent: "systems/-".into(),
            filter: "state = OPEN".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad filter");
    assert_eq!(bad_request_fields(&err), ["filter"]);
}

#[tokio::test]
async fn reviewers_default_per_kind_from_the_configuration_and_a_draft_changes_by_mask() {
    let app = spawn_app_with(|c| {
        c.review.default_reviewers = BTreeMap::from([(
            reestr_domain::submission::SubmissionKind::Creation,
            vec![reestr_domain::organization::OrganizationId::from_trusted(
                "csec".into(),
            )],
        )]);
    })
    .await;
    let mut app = app;
    app.create_organization("stat", "201234567").await;
    app.create_organization("csec", "202345678").await;
    app.create_organization("uzinfocom", "203456789").await;
    system::create(
        &mut app.admin_systems(),
        "e-soliq",
        system::system("stat", "E-SOLIQ"),
    )
    .await
    .expect("system");
    let mut admin = client(&app, Some(&app.admin_secret));
    let s = create(
        &mut admin,
        "e-soliq",
        "tz",
        submission(SubmissionKind::Creation, &[]),
    )
    .await
    .expect("defaults");
    assert_eq!(s.required_reviewers, ["organizations/csec"]);
    let err = create(
        &mut admin,
        "e-soliq",
        "mod",
        submission(SubmissionKind::Modernization, &[]),
    )
    .await
    .expect_err("no defaults for the kind");
    assert_eq!(bad_request_fields(&err), ["submission.required_reviewers"]);

    let updated = admin
        .update_submission(UpdateSubmissionRequest {
            submission: Some(Submission {
                name: TZ.into(),
                title: "Technical assignment, v2".into(),
                required_reviewers: vec![
                    "organizations/csec".into(),
                    "organizations/uzinfocom".into(),
                ],
                etag: s.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into(), "required_reviewers".into()],
            }),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.title, "Technical assignment, v2");
    assert_eq!(updated.required_reviewers.len(), 2);
    assert_eq!(updated.description, s.description, "not in the mask");
    assert_ne!(updated.etag, s.etag);
    // The stale etag, and an output-only path.
    let err = admin
        .update_submission(UpdateSubmissionRequest {
            submission: Some(Submission {
                name: TZ.into(),
                title: "Stale".into(),
                etag: s.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["title".into()],
            }),
        })
        .await
        .expect_err("stale etag");
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let err = admin
        .update_submission(UpdateSubmissionRequest {
            submission: Some(Submission {
                name: TZ.into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["state".into()],
            }),
        })
        .await
        .expect_err("output only");
    assert_eq!(bad_request_fields(&err), ["update_mask.paths[0]"]);
}

#[tokio::test]
async fn an_approved_decommissioning_with_live_dependents_is_refused_and_not_stored() {
    let mut r = cast(MONDAY, 20).await;
    let mut systems = r.app.admin_systems();
    // e-soliq in operation, and a system that consumes one of its services.
    for to in [State::InDevelopment, State::InOperation] {
        systems
            .transition_system_state(reestr::proto::v1::TransitionSystemStateRequest {
                name: "systems/e-soliq".into(),
                state: to as i32,
                ..Default::default()
            })
            .await
            .expect("transition");
    }
    let provider = systems
        .get_system(GetSystemRequest {
            name: "systems/e-soliq".into(),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner();
    let service = provider
        .provided_services
        .first()
        .map(|s| s.name.clone())
        .expect("the test system provides a service");
    let consumer = InformationSystem {
        dependencies: vec![reestr::proto::v1::Dependency {
            system: "systems/e-soliq".into(),
            service,
            ..Default::default()
        }],
        ..system::system("stat", "CONSUMER")
    };
    system::create(&mut systems, "consumer", consumer)
        .await
        .expect("consumer");
    let name = "systems/e-soliq/submissions/off";
    create(
        &mut r.owner,
        "e-soliq",
        "off",
        submission(SubmissionKind::Decommissioning, &["csec"]),
    )
    .await
    .expect("create");
    submit(&mut r.owner, name).await.expect("submit");
    let err = review(&mut r.csec, name, "", Decision::Approve, "")
        .await
        .expect_err("live dependents");
    assert_status(&err, Code::FailedPrecondition, "RESOURCE_IN_USE");
    assert!(err.message().contains("systems/consumer"), "{err:?}");
    let s = get(&mut r.owner, name).await.expect("get");
    assert_eq!(s.state, SubmissionState::UnderReview as i32);
    assert_eq!(
        pending(&s),
        ["organizations/csec"],
        "the refused decision was not stored"
    );
    assert!(reviews(&mut r.owner, name, 0).await.is_empty());
    assert_eq!(system_state(&r.app).await, State::InOperation);
}

#[tokio::test]
async fn a_system_given_to_another_owner_takes_its_submissions_with_it() {
    let mut r = cast(MONDAY, 20).await;
    create(
        &mut r.owner,
        "e-soliq",
        "tz",
        submission(SubmissionKind::Creation, &["csec"]),
    )
    .await
    .expect("create");
    r.app
        .admin_systems()
        .update_system(reestr::proto::v1::UpdateSystemRequest {
            system: Some(InformationSystem {
                name: "systems/e-soliq".into(),
                owner: "organizations/minfin".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["owner".into()],
            }),
        })
        .await
        .expect("change the owner");
    let s = get(&mut r.outsider, TZ).await.expect("the new owner reads");
    assert_eq!(s.owner, "organizations/minfin");
    let err = submit(&mut r.owner, TZ).await.expect_err("the old owner");
    assert_status(&err, Code::PermissionDenied, "PERMISSION_DENIED");
    submit(&mut r.outsider, TZ)
        .await
        .expect("the new owner submits");
}

/// The remarks of `TZ` that `filter` selects, as (number in the name, round, state).
async fn remarks(c: &mut Client, filter: &str) -> Vec<(String, i32, RemarkState)> {
    c.list_remarks(ListRemarksRequest {
        parent: TZ.into(),
        page_size: 100,
        page_token: String::new(),
        filter: filter.into(),
    })
    .await
    .expect("remarks")
    .into_inner()
    .remarks
    .into_iter()
    .map(|r| {
        (
            r.name,
            r.round,
            RemarkState::try_from(r.state).expect("a state"),
        )
    })
    .collect()
}

#[tokio::test]
async fn a_remark_outlives_its_round_and_only_the_reviewer_that_opened_it_resolves_it() {
    let mut r = cast(MONDAY, 20).await;
    create(
        &mut r.owner,
        "e-soliq",
        "tz",
        submission(SubmissionKind::Creation, &["csec", "uzinfocom"]),
    )
    .await
    .expect("create");
    let owner_token = r.app.create_token(Some("stat"), &[Role::Editor]).await.1;
    let mut owner_documents = crate::document::client(&r.app, Some(&owner_token));
    let document = crate::document::upload(
        &mut owner_documents,
        TZ,
        "tz-doc",
        &crate::document::content(1000, 7),
        false,
    )
    .await
    .expect("upload")
    .name;

    // No remark on a draft: nothing is under review yet.
    let err = remark(&mut r.csec, TZ, &document, "", "Too early")
        .await
        .expect_err("a draft");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    submit(&mut r.owner, TZ).await.expect("submit");

    let mut opened = r
        .csec
        .create_remark(CreateRemarkRequest {
            parent: TZ.into(),
            remark: Some(Remark {
                document: document.clone(),
                location: "p. 14, 3.2".into(),
                normative_reference: "O'z DSt 2814:2014, 5.3".into(),
                text: "Name the backup site".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("open")
        .into_inner();
    assert_eq!(opened.name, format!("{TZ}/remarks/1"));
    assert_eq!(
        (
            opened.reviewer.as_str(),
            opened.round,
            opened.document_version,
            opened.state
        ),
        ("organizations/csec", 1, 1, RemarkState::Open as i32)
    );
    assert_eq!(opened.location, "p. 14, 3.2");
    assert!(opened.resolve_time.is_none());

    // Who may not open one: the owner, a reviewer that is not required, a reader of csec.
    for (who, c) in [
        ("the owner", &mut r.owner),
        ("a reviewer not required", &mut r.outsider_reviewer),
        ("a reader of a reviewer", &mut r.csec_reader),
    ] {
        let err = remark(c, TZ, &document, "", "Mine").await.expect_err(who);
        assert_eq!(err.code(), Code::PermissionDenied, "{who}: {err:?}");
    }
    // A document the submission does not have.
    let err = remark(&mut r.csec, TZ, &format!("{TZ}/documents/nothing"), "", "?")
        .await
        .expect_err("no such document");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    // An empty text.
    let err = remark(&mut r.csec, TZ, &document, "", "")
        .await
        .expect_err("no text");
    assert!(
        bad_request_fields(&err).contains(&"remark.text".to_string()),
        "{err:?}"
    );

    // The owner answers the remark; an outsider may not join in.
    let answer = comment(&mut r.owner, TZ, &opened.name, "The site is in Samarkand")
        .await
        .expect("answer");
    assert_eq!(answer.name, format!("{TZ}/comments/1"));
    assert_eq!(
        (answer.author.as_str(), answer.remark.as_str(), answer.round),
        ("organizations/stat", opened.name.as_str(), 1)
    );
    let err = comment(&mut r.outsider, TZ, "", "Me too")
        .await
        .expect_err("outsider");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = comment(&mut r.owner, TZ, &format!("{TZ}/remarks/9"), "To what?")
        .await
        .expect_err("no such remark");
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    comment(&mut r.uzinfocom, TZ, "", "Agreed with csec")
        .await
        .expect("a reviewer comments");

    // csec asks for changes; the remark stays open into round 2.
    review(&mut r.uzinfocom, TZ, "", Decision::Approve, "")
        .await
        .expect("approve");
    review(
        &mut r.csec,
        TZ,
        "",
        Decision::RequestChanges,
        "See remark 1",
    )
    .await
    .expect("request changes");
    let err = remark(&mut r.csec, TZ, &document, "", "Late")
        .await
        .expect_err("not under review");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    crate::document::upload(
        &mut owner_documents,
        TZ,
        "tz-doc",
        &crate::document::content(1000, 8),
        false,
    )
    .await
    .expect("version 2");
    resubmit(&mut r.owner, TZ).await.expect("resubmit");
    let second = remark(&mut r.uzinfocom, TZ, &document, "", "Section 2 too")
        .await
        .expect("a remark of round 2");
    assert_eq!(
        (second.name.as_str(), second.round, second.document_version),
        (format!("{TZ}/remarks/2").as_str(), 2, 2)
    );
    assert_eq!(
        remarks(&mut r.owner, "state = OPEN").await,
        [
            (opened.name.clone(), 1, RemarkState::Open),
            (second.name.clone(), 2, RemarkState::Open),
        ]
    );

    // Only csec resolves its remark: not uzinfocom, not the owner; a stale etag is ABORTED.
    for (who, c) in [
        ("another reviewer", &mut r.uzinfocom),
        ("the owner", &mut r.owner),
    ] {
        let err = resolve(c, &opened.name, "Fine").await.expect_err(who);
        assert_eq!(err.code(), Code::PermissionDenied, "{who}: {err:?}");
    }
    let err = r
        .csec
        .resolve_remark(ResolveRemarkRequest {
            name: opened.name.clone(),
            resolution: String::new(),
            etag: "\"stale\"".into(),
        })
        .await
        .expect_err("stale etag");
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    let resolved = r
        .csec
        .resolve_remark(ResolveRemarkRequest {
            name: opened.name.clone(),
            resolution: "The backup site is named in 3.2".into(),
            etag: opened.etag.clone(),
        })
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(resolved.state, RemarkState::Resolved as i32);
    assert_eq!(resolved.resolution, "The backup site is named in 3.2");
    assert!(resolved.resolve_time.is_some());
    assert_ne!(resolved.etag, opened.etag);
    let err = resolve(&mut r.csec, &opened.name, "Again")
        .await
        .expect_err("resolved twice");
    assert_status(&err, Code::FailedPrecondition, "ILLEGAL_STATE_TRANSITION");
    opened = r
        .owner
        .get_remark(GetRemarkRequest {
            name: opened.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        opened, resolved,
        "GetRemark reads what ResolveRemark returned"
    );

    assert_eq!(
        remarks(&mut r.owner, "state = OPEN").await,
        [(second.name.clone(), 2, RemarkState::Open)]
    );
    assert_eq!(
        remarks(
            &mut r.csec,
            r#"round = 1 AND reviewer = "organizations/csec""#
        )
        .await,
        [(opened.name.clone(), 1, RemarkState::Resolved)]
    );
    let err = r
        .outsider
        .list_remarks(ListRemarksRequest {
            parent: TZ.into(),
            ..Default::default()
        })
        .await
        .expect_err("an outsider reads no remark");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    let comments: Vec<(String, String)> = r
        .csec_reader
        .list_comments(ListCommentsRequest {
            parent: TZ.into(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("comments")
        .into_inner()
        .comments
        .into_iter()
        .map(|c| (c.author, c.text))
        .collect();
    assert_eq!(
        comments,
        [
            (
                "organizations/stat".to_string(),
                "The site is in Samarkand".to_string()
            ),
            (
                "organizations/uzinfocom".to_string(),
                "Agreed with csec".to_string()
            ),
        ]
    );

    let kinds: Vec<EventKind> = events(&mut r.owner, TZ)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Created,
            EventKind::Uploaded,
            EventKind::Submitted,
            EventKind::RemarkOpened,
            EventKind::Commented,
            EventKind::Commented,
            EventKind::Reviewed,
            EventKind::Reviewed,
            EventKind::Decided,
            EventKind::Uploaded,
            EventKind::Resubmitted,
            EventKind::RemarkOpened,
            EventKind::RemarkResolved,
        ]
    );
}
