//! `reestr.v1.SubmissionService`: submissions of design documentation and their review.
//!
//! Who may do what (the service's proto documentation says it to clients):
//! - creating, changing, submitting, resubmitting, withdrawing and deleting is for the editors
//!   of the owner organisation (the system's owner), authorised against the submission as it
//!   is in the write's transaction ([`Action::WriteOwned`]);
//! - a decision, and opening a remark, is for the REVIEWER callers of the organisation it is
//!   posted for ([`Action::Review`]); the store then requires that organisation to be a
//!   required reviewer (PERMISSION_DENIED otherwise); resolving a remark is for the REVIEWER
//!   callers of the organisation that opened it;
//! - commenting is for the owner's editors and the required reviewers' REVIEWER callers
//!   ([`Action::Discuss`]);
//! - reading a submission, its reviews, remarks, comments and timeline is for its parties
//!   ([`Action::Participate`]: the owner's and the required reviewers' callers); every
//!   authenticated caller may learn whether a submission exists (NOT_FOUND comes before the
//!   parties can be known), and ListSubmissions shows a caller only what its organisation
//!   takes part in;
//! - VerifyConclusion is for every authenticated caller;
//! - registry administrators may do everything, and post a decision for a reviewer they name.
//!
//! The conversions between messages and the domain are in [`convert`].

mod convert;

use std::sync::Arc;

use prost::Message as _;
use reestr_domain::access::Action;
use reestr_domain::error::{Error, Violations};
use reestr_domain::input::Choice;
use reestr_domain::organization::OrganizationId;
use reestr_domain::paging;
use reestr_domain::query::{Equality, Predicate};
use reestr_domain::request_id::RequestId;
use reestr_domain::revision::Deletion;
use reestr_domain::submission::{
    self as domain, ConclusionNumber, Decision, DefaultReviewers, HolidayCalendar, Submission,
    SubmissionCondition, SubmissionDraft, SubmissionId, SubmissionName, Transition,
};
use reestr_domain::submission::{NumberedName, comment, remark};
use reestr_domain::system::SystemId;
use reestr_store::{Deadlines, RemarkSelection, ReviewSelection, Store};
use tonic::{Request, Response, Status};

use self::convert::{
    comment_draft, comment_to_proto, decision_name, draft_from_proto, event_to_proto, remark_draft,
    remark_to_proto, review_to_proto, to_proto, verified,
};
use super::call::Call;
use super::list;
use super::{ReadyStore, choice, idempotency_of, request_hash, settle};
use crate::proto::v1 as pb;
use crate::proto::v1::submission_service_server::SubmissionService;

/// Sort fields ListSubmissions accepts.
const ORDER_FIELDS: [&str; 3] = ["name", "create_time", "update_time"];

/// Longest review comment, in characters.
const MAX_COMMENT_CHARS: usize = remark::MAX_TEXT_CHARS;

/// How the register runs reviews (server configuration).
#[derive(Debug, Clone)]
pub struct ReviewSettings {
    /// Days off and declared working days: Uzbekistan's unless `--holidays` names a file.
    pub holidays: Arc<HolidayCalendar>,
    /// Working days a round (and an owner's revision) takes.
    pub working_days: u32,
    /// The reviewers of each kind of submission that names none.
    pub default_reviewers: DefaultReviewers,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        Self {
            holidays: Arc::new(HolidayCalendar::uzbekistan()),
            working_days: domain::DEFAULT_WORKING_DAYS,
            default_reviewers: DefaultReviewers::new(),
        }
    }
}

/// One `--default-reviewers` entry, `KIND=organizations/a,organizations/b`: the kind (its
/// short or proto name) and its reviewers (at least one, no repeats).
pub fn parse_default_reviewers(
    entry: &str,
) -> Result<(domain::SubmissionKind, Vec<OrganizationId>), String> {
    let (kind, list) = entry
        .split_once('=')
        .ok_or("expected KIND=organizations/a,organizations/b")?;
    let kind: domain::SubmissionKind = kind
        .trim()
        .parse()
        .map_err(|()| format!("{kind:?} is not a submission kind"))?;
    let mut reviewers: Vec<OrganizationId> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let id = OrganizationId::from_name(name, "reviewer").map_err(|v| v.description)?;
        if reviewers.contains(&id) {
            return Err(format!("{name} is listed twice"));
        }
        reviewers.push(id);
    }
    if reviewers.is_empty() {
        return Err(format!("no reviewer is given for {kind}"));
    }
    Ok((kind, reviewers))
}

/// The submission service.
#[derive(Debug, Clone)]
pub struct SubmissionApi {
    store: ReadyStore,
    settings: Arc<ReviewSettings>,
}

/// May `call` write the submissions owned by `owner`?
fn authorize_owner(call: &Call, owner: &OrganizationId) -> Result<(), Error> {
    call.authorize(Action::WriteOwned { owner })
}

/// May `call` read `s`?
fn authorize_party(call: &Call, s: &Submission) -> Result<(), Error> {
    call.authorize(Action::Participate {
        owner: &s.owner,
        reviewers: &s.spec.required_reviewers,
    })
}

impl SubmissionApi {
    /// A service over the store, with the review settings.
    pub fn new(store: ReadyStore, settings: ReviewSettings) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
        }
    }

    fn deadlines(&self) -> Deadlines<'_> {
        Deadlines {
            holidays: &self.settings.holidays,
            working_days: self.settings.working_days,
        }
    }

    /// The submission `name` for a reader: NOT_FOUND, then PERMISSION_DENIED for a caller
    /// that is not one of its parties.
    async fn readable(
        &self,
        store: &Store,
        call: &Call,
        name: &str,
        field: &str,
    ) -> Result<Submission, Error> {
        call.authorize(Action::ReadRegister)?;
        let name = SubmissionName::from_name(name, field)?;
        let s = store.submissions().get(&name).await?;
        authorize_party(call, &s)?;
        Ok(s)
    }

    /// SubmitSubmission, ResubmitSubmission and WithdrawSubmission.
    async fn transition<T>(
        &self,
        request: Request<T>,
        name: impl Fn(&T) -> (String, String),
        transition: Transition,
    ) -> Result<Response<pb::Submission>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let (name, etag) = name(request.get_ref());
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let name = SubmissionName::from_name(&name, "name")?;
            store
                .submissions()
                .transition(
                    &call.ctx,
                    &name,
                    &etag,
                    transition,
                    |s| authorize_owner(&call, &s.owner),
                    self.deadlines(),
                )
                .await
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|s| Response::new(to_proto(&s, store.now())))
    }

    /// DeleteSubmission and UndeleteSubmission.
    async fn set_deleted(
        &self,
        call: Call,
        name: String,
        etag: String,
        deletion: Deletion,
    ) -> Result<Response<pb::Submission>, Status> {
        let store = self.store.get()?;
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let name = SubmissionName::from_name(&name, "name")?;
            store
                .submissions()
                .set_deleted(&call.ctx, &name, &etag, deletion, |s| {
                    authorize_owner(&call, &s.owner)
                })
                .await
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|s| Response::new(to_proto(&s, store.now())))
    }
}

/// What ListSubmissions selects: the request's filter, the parent's system, and, for a caller
/// that is not an administrator, the submissions its organisation takes part in.
fn selection(
    call: &Call,
    parent: &str,
    filter: &str,
    now: reestr_domain::time::Timestamp,
) -> Result<Option<Predicate<SubmissionCondition>>, reestr_domain::FieldViolation> {
    let mut selection = domain::compile_submission_filter(filter, now)?;
    let and = |a: Option<Predicate<_>>, b: Predicate<_>| match a {
        Some(a) => Predicate::And(Box::new(a), Box::new(b)),
        None => b,
    };
    if parent != "systems/-" {
        let system = SystemId::from_name(parent, "parent")?;
        selection = Some(and(
            selection,
            Predicate::Leaf(SubmissionCondition::System(Equality::Eq, system)),
        ));
    }
    if !call.caller.is_admin() {
        // A caller without an organisation takes part in nothing: an id no organisation has.
        let own = call
            .caller
            .organization
            .clone()
            .unwrap_or_else(|| OrganizationId::from_trusted(String::new()));
        let parties = Predicate::Or(
            Box::new(Predicate::Leaf(SubmissionCondition::Owner(
                Equality::Eq,
                own.clone(),
            ))),
            Box::new(Predicate::Leaf(SubmissionCondition::Reviewer(
                Equality::Eq,
                own,
            ))),
        );
        selection = Some(and(selection, parties));
    }
    Ok(selection)
}

/// The decision of a CreateReview, checked into `v`: a decision, and a comment (required for
/// anything but an approval).
fn checked_review(review: &pb::Review, v: &mut Violations) -> Option<Decision> {
    let decision = match choice::<Decision>(review.decision, decision_name) {
        Choice::Known(d) => Some(d),
        Choice::Unset => {
            v.add("review.decision", "is required");
            None
        }
        Choice::Unknown(n) => {
            v.add("review.decision", format!("{n} is not a known decision"));
            None
        }
    };
    if review.comment.chars().count() > MAX_COMMENT_CHARS {
        v.add(
            "review.comment",
            format!("must be at most {MAX_COMMENT_CHARS} characters"),
        );
    } else if review.comment.trim().is_empty()
        && matches!(decision, Some(Decision::RequestChanges | Decision::Reject))
    {
        v.add(
            "review.comment",
            "is required when changes are requested or the submission is rejected: say why",
        );
    }
    decision
}

/// The organisation a CreateReview decides for, or a CreateRemark opens a remark for: the
/// caller's, or (for an administrator) the one `named` (the request's field `field`) names.
fn reviewer_of(call: &Call, named: &str, field: &str) -> Result<OrganizationId, Error> {
    let named = if named.is_empty() {
        None
    } else {
        Some(OrganizationId::from_name(named, field)?)
    };
    let reviewer = match (named, &call.caller.organization) {
        (Some(named), _) => named,
        (None, Some(own)) => own.clone(),
        (None, None) => {
            return Err(Error::invalid(
                field,
                "is required of a caller without an organisation: name the reviewer organisation",
            ));
        }
    };
    call.authorize(Action::Review {
        reviewer: &reviewer,
    })?;
    Ok(reviewer)
}

/// The `round` of a ListReviews: 0 for every round.
fn round_selection(round: i32) -> Result<Option<u32>, reestr_domain::FieldViolation> {
    match u32::try_from(round) {
        Ok(0) => Ok(None),
        Ok(r) => Ok(Some(r)),
        Err(_) => Err(reestr_domain::FieldViolation::new(
            "round",
            "must be 0 (every round) or a round number",
        )),
    }
}

#[tonic::async_trait]
impl SubmissionService for SubmissionApi {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_submission(
        &self,
        request: Request<pb::CreateSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        let store = self.store.get()?;
        let mut call = Call::of(&request);
        let hash = request_hash(request.get_ref());
        let pb::CreateSubmissionRequest {
            parent,
            submission_id,
            submission,
            request_id,
        } = request.into_inner();
        call.ctx.request_id = request_id.clone();
        let resource = format!("{parent}/{}/{submission_id}", domain::name::COLLECTION);
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let mut v = Violations::new();
            let system = v.check(SystemId::from_name(&parent, "parent"));
            let id = v.check(SubmissionId::parse(&submission_id, "submission_id"));
            let request_id = v.check(RequestId::parse(&request_id, "request_id"));
            let spec = match &submission {
                Some(s) => draft_from_proto(s).validate_into(
                    "submission",
                    &self.settings.default_reviewers,
                    &mut v,
                ),
                None => {
                    v.add("submission", "is required");
                    None
                }
            };
            v.into_result()?;
            let (Some(system), Some(id), Some(request_id), Some(spec)) =
                (system, id, request_id, spec)
            else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let name = SubmissionName {
                system,
                submission: id,
            };
            let idempotency = idempotency_of(&call, request_id, hash);
            let now = store.now();
            let outcome = store
                .submissions()
                .create(
                    &call.ctx,
                    name,
                    spec,
                    idempotency.as_ref(),
                    |s| to_proto(s, now).encode_to_vec(),
                    |owner| authorize_owner(&call, owner),
                )
                .await?;
            settle(&audit, outcome, |s| to_proto(s, now)).await
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_submission(
        &self,
        request: Request<pb::GetSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let name = &request.get_ref().name;
        let result = self.readable(store, &call, name, "name").await;
        Call::read(result).map(|s| Response::new(to_proto(&s, store.now())))
    }

    #[tracing::instrument(skip_all, fields(filter = %request.get_ref().filter))]
    async fn list_submissions(
        &self,
        request: Request<pb::ListSubmissionsRequest>,
    ) -> Result<Response<pb::ListSubmissionsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListSubmissionsRequest {
            parent,
            page_size,
            page_token,
            filter,
            order_by,
            show_deleted,
        } = request.into_inner();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let now = store.now();
            let scope = if call.caller.is_admin() {
                String::new()
            } else {
                call.caller
                    .organization
                    .as_ref()
                    .map(OrganizationId::name)
                    .unwrap_or_else(|| "-".into())
            };
            let query = list::query(
                page_size,
                page_token,
                selection(&call, &parent, &filter, now),
                paging::parse_order_by(&order_by, &ORDER_FIELDS, "name"),
                show_deleted,
                &[
                    domain::name::COLLECTION,
                    &parent,
                    &filter,
                    &order_by,
                    &scope,
                ],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store
                    .submissions()
                    .list(&query)
                    .await?
                    .map(|s| to_proto(&s, now)))
            })
            .await
        }
        .await;
        let list::Listed {
            items: submissions,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListSubmissionsResponse {
            submissions,
            next_page_token,
            revision,
        }))
    }

    #[tracing::instrument(skip_all, fields(name))]
    async fn update_submission(
        &self,
        request: Request<pb::UpdateSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::UpdateSubmissionRequest {
            submission,
            update_mask,
        } = request.into_inner();
        let resource = submission
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        tracing::Span::current().record("name", resource.as_str());
        let audit = call.audit(store, &resource);
        let result = async {
            call.authorize(Action::WriteResources)?;
            let submission =
                submission.ok_or_else(|| Error::invalid("submission", "is required"))?;
            let name = SubmissionName::from_name(&submission.name, "submission.name")?;
            let requested = draft_from_proto(&submission);
            let paths = update_mask.map(|m| m.paths).unwrap_or_default();
            let fields = domain::SUBMISSION_UPDATE_MASK.resolve(&paths, |f| requested.sets(f))?;
            store
                .submissions()
                .update(&call.ctx, &name, &submission.etag, |current| {
                    authorize_owner(&call, &current.owner)?;
                    SubmissionDraft::merge(&current.spec, &requested, &fields)
                        .validate("submission", &self.settings.default_reviewers)
                })
                .await
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|s| Response::new(to_proto(&s, store.now())))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_submission(
        &self,
        request: Request<pb::DeleteSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        let call = Call::of(&request);
        let pb::DeleteSubmissionRequest { name, etag } = request.into_inner();
        self.set_deleted(call, name, etag, Deletion::Delete).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn undelete_submission(
        &self,
        request: Request<pb::UndeleteSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        let call = Call::of(&request);
        let pb::UndeleteSubmissionRequest { name, etag } = request.into_inner();
        self.set_deleted(call, name, etag, Deletion::Undelete).await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn submit_submission(
        &self,
        request: Request<pb::SubmitSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        self.transition(
            request,
            |r| (r.name.clone(), r.etag.clone()),
            Transition::Submit,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn resubmit_submission(
        &self,
        request: Request<pb::ResubmitSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        self.transition(
            request,
            |r| (r.name.clone(), r.etag.clone()),
            Transition::Resubmit,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn withdraw_submission(
        &self,
        request: Request<pb::WithdrawSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        self.transition(
            request,
            |r| (r.name.clone(), r.etag.clone()),
            Transition::Withdraw,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_review(
        &self,
        request: Request<pb::CreateReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::CreateReviewRequest { parent, review } = request.into_inner();
        let audit = call.audit(store, &parent);
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let review = review.ok_or_else(|| Error::invalid("review", "is required"))?;
            let reviewer = reviewer_of(&call, &review.reviewer, "review.reviewer")?;
            let mut v = Violations::new();
            let name = v.check(SubmissionName::from_name(&parent, "parent"));
            let decision = checked_review(&review, &mut v);
            v.into_result()?;
            let (Some(name), Some(decision)) = (name, decision) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let outcome = store
                .submissions()
                .review(
                    &call.ctx,
                    &name,
                    &reviewer,
                    decision,
                    &review.comment,
                    |_| Ok(()),
                    self.deadlines(),
                )
                .await?;
            Ok(outcome.review)
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|r| Response::new(review_to_proto(&r)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_reviews(
        &self,
        request: Request<pb::ListReviewsRequest>,
    ) -> Result<Response<pb::ListReviewsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListReviewsRequest {
            parent,
            round,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            let s = self.readable(store, &call, &parent, "parent").await?;
            let round = round_selection(round);
            let fingerprint = round_text(&round);
            let query = list::query(
                page_size,
                page_token,
                round.map(|round| ReviewSelection {
                    submission: s.name.clone(),
                    round,
                }),
                Ok(Vec::new()),
                false,
                &["reviews", &parent, &fingerprint],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store
                    .submissions()
                    .reviews(&query)
                    .await?
                    .map(|r| review_to_proto(&r)))
            })
            .await
        }
        .await;
        let list::Listed {
            items: reviews,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListReviewsResponse {
            reviews,
            next_page_token,
            revision,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_remark(
        &self,
        request: Request<pb::CreateRemarkRequest>,
    ) -> Result<Response<pb::Remark>, Status> {
        let store = self.store.get()?;
        let mut call = Call::of(&request);
        let hash = request_hash(request.get_ref());
        let pb::CreateRemarkRequest {
            parent,
            remark,
            request_id,
        } = request.into_inner();
        call.ctx.request_id = request_id.clone();
        let audit = call.audit(store, &parent);
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let remark = remark.ok_or_else(|| Error::invalid("remark", "is required"))?;
            let reviewer = reviewer_of(&call, &remark.reviewer, "remark.reviewer")?;
            let mut v = Violations::new();
            let name = v.check(SubmissionName::from_name(&parent, "parent"));
            let request_id = v.check(RequestId::parse(&request_id, "request_id"));
            let spec = name
                .as_ref()
                .and_then(|n| remark_draft(&remark).validate_into(n, "remark", &mut v));
            v.into_result()?;
            let (Some(name), Some(request_id), Some(spec)) = (name, request_id, spec) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let idempotency = idempotency_of(&call, request_id, hash);
            let outcome = store
                .submissions()
                .open_remark(
                    &call.ctx,
                    &name,
                    &reviewer,
                    spec,
                    idempotency.as_ref(),
                    |r| remark_to_proto(r).encode_to_vec(),
                    |_| Ok(()),
                )
                .await?;
            settle(&audit, outcome, remark_to_proto).await
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_remark(
        &self,
        request: Request<pb::GetRemarkRequest>,
    ) -> Result<Response<pb::Remark>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let name = NumberedName::parse(&request.get_ref().name, remark::COLLECTION, "name")?;
            let (s, r) = store.submissions().remark(&name).await?;
            authorize_party(&call, &s)?;
            Ok(r)
        }
        .await;
        Call::read(result).map(|r| Response::new(remark_to_proto(&r)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_remarks(
        &self,
        request: Request<pb::ListRemarksRequest>,
    ) -> Result<Response<pb::ListRemarksResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListRemarksRequest {
            parent,
            page_size,
            page_token,
            filter,
        } = request.into_inner();
        let result = async {
            let s = self.readable(store, &call, &parent, "parent").await?;
            let query = list::query(
                page_size,
                page_token,
                domain::compile_remark_filter(&filter, &s.name).map(|filter| RemarkSelection {
                    submission: s.name.clone(),
                    filter,
                }),
                Ok(Vec::new()),
                false,
                &[remark::COLLECTION, &parent, &filter],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store
                    .submissions()
                    .remarks(&query)
                    .await?
                    .map(|r| remark_to_proto(&r)))
            })
            .await
        }
        .await;
        let list::Listed {
            items: remarks,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListRemarksResponse {
            remarks,
            next_page_token,
            revision,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn resolve_remark(
        &self,
        request: Request<pb::ResolveRemarkRequest>,
    ) -> Result<Response<pb::Remark>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ResolveRemarkRequest {
            name,
            resolution,
            etag,
        } = request.into_inner();
        let audit = call.audit(store, &name);
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            let name = v.check(NumberedName::parse(&name, remark::COLLECTION, "name"));
            v.check(remark::check_resolution(&resolution, "resolution"));
            v.into_result()?;
            let name = name.ok_or_else(|| Error::Internal("validated name missing".into()))?;
            store
                .submissions()
                .resolve_remark(&call.ctx, &name, &etag, &resolution, |_, r| {
                    call.authorize(Action::Review {
                        reviewer: &r.reviewer,
                    })
                })
                .await
        }
        .await;
        audit
            .finish(result)
            .await
            .map(|r| Response::new(remark_to_proto(&r)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_comment(
        &self,
        request: Request<pb::CreateCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let store = self.store.get()?;
        let mut call = Call::of(&request);
        let hash = request_hash(request.get_ref());
        let pb::CreateCommentRequest {
            parent,
            comment,
            request_id,
        } = request.into_inner();
        call.ctx.request_id = request_id.clone();
        let audit = call.audit(store, &parent);
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let comment = comment.ok_or_else(|| Error::invalid("comment", "is required"))?;
            let mut v = Violations::new();
            let name = v.check(SubmissionName::from_name(&parent, "parent"));
            let request_id = v.check(RequestId::parse(&request_id, "request_id"));
            let spec = name
                .as_ref()
                .and_then(|n| comment_draft(&comment).validate_into(n, "comment", &mut v));
            v.into_result()?;
            let (Some(name), Some(request_id), Some(spec)) = (name, request_id, spec) else {
                return Err(Error::Internal("validated values missing".into()));
            };
            let idempotency = idempotency_of(&call, request_id, hash);
            let outcome = store
                .submissions()
                .post_comment(
                    &call.ctx,
                    &name,
                    call.caller.organization.as_ref(),
                    spec,
                    idempotency.as_ref(),
                    |c| comment_to_proto(c).encode_to_vec(),
                    |s| {
                        call.authorize(Action::Discuss {
                            owner: &s.owner,
                            reviewers: &s.spec.required_reviewers,
                        })
                    },
                )
                .await?;
            settle(&audit, outcome, comment_to_proto).await
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_comment(
        &self,
        request: Request<pb::GetCommentRequest>,
    ) -> Result<Response<pb::Comment>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let name = NumberedName::parse(&request.get_ref().name, comment::COLLECTION, "name")?;
            let (s, c) = store.submissions().comment(&name).await?;
            authorize_party(&call, &s)?;
            Ok(c)
        }
        .await;
        Call::read(result).map(|c| Response::new(comment_to_proto(&c)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListCommentsRequest {
            parent,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            let s = self.readable(store, &call, &parent, "parent").await?;
            let query = list::query(
                page_size,
                page_token,
                Ok(s.name.clone()),
                Ok(Vec::new()),
                false,
                &[comment::COLLECTION, &parent],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store
                    .submissions()
                    .comments(&query)
                    .await?
                    .map(|c| comment_to_proto(&c)))
            })
            .await
        }
        .await;
        let list::Listed {
            items: comments,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListCommentsResponse {
            comments,
            next_page_token,
            revision,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_submission_events(
        &self,
        request: Request<pb::ListSubmissionEventsRequest>,
    ) -> Result<Response<pb::ListSubmissionEventsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ListSubmissionEventsRequest {
            parent,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            let s = self.readable(store, &call, &parent, "parent").await?;
            let query = list::query(
                page_size,
                page_token,
                Ok(s.name.clone()),
                Ok(Vec::new()),
                false,
                &["submission_events", &parent],
            )?;
            list::page(store, call.max_message_bytes, &query, |query| async move {
                Ok(store
                    .submissions()
                    .events(&query)
                    .await?
                    .map(|e| event_to_proto(&e)))
            })
            .await
        }
        .await;
        let list::Listed {
            items: events,
            next_page_token,
            revision,
        } = Call::read(result)?;
        Ok(Response::new(pb::ListSubmissionEventsResponse {
            events,
            next_page_token,
            revision,
        }))
    }

    #[tracing::instrument(skip_all, fields(number = %request.get_ref().number))]
    async fn verify_conclusion(
        &self,
        request: Request<pb::VerifyConclusionRequest>,
    ) -> Result<Response<pb::VerifyConclusionResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::VerifyConclusionRequest { number, digest } = request.into_inner();
        // Hex is compared without regard to case: a digest copied from a printed conclusion
        // may be in capitals.
        let digest = digest.to_ascii_lowercase();
        let result = async {
            call.authorize(Action::ReadRegister)?;
            let mut v = Violations::new();
            let parsed = ConclusionNumber::parse(&number);
            if parsed.is_none() {
                v.add("number", "must be a conclusion number, EX-{year}-{000001}");
            }
            v.check(domain::document::check_sha256(&digest, "digest"));
            v.into_result()?;
            let number =
                parsed.ok_or_else(|| Error::Internal("validated number missing".into()))?;
            let (s, content) = store.submissions().concluded(&number).await?;
            let conclusion = s
                .conclusion
                .clone()
                .ok_or_else(|| Error::Internal(format!("{}: no conclusion", s.name)))?;
            let intact = content.verify(&conclusion.digest);
            if !intact {
                tracing::error!(
                    submission = %s.name,
                    number = %number,
                    "the stored record of a conclusion no longer gives its digest"
                );
            }
            let valid = intact && conclusion.digest == digest;
            Ok(verified(&s, &conclusion, valid))
        }
        .await;
        Call::read(result).map(Response::new)
    }
}

fn round_text(round: &Result<Option<u32>, reestr_domain::FieldViolation>) -> String {
    match round {
        Ok(Some(r)) => r.to_string(),
        _ => "all".into(),
    }
}
