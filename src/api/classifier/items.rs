//! Item edits of a draft: BatchUpsertItems and BatchDeleteItems. (Whole imports are in
//! [`super::transfer`], lookups in [`super::lookups`].)

use std::collections::HashSet;

use reestr_domain::classifier::Code;
use reestr_domain::error::Violations;
use tonic::{Request, Response, Status};

use super::convert::{item_draft, item_to_proto};
use super::versions::version_message;
use super::{ClassifierApi, MAX_BATCH, owner_check};
use crate::api::call::Call;
use crate::proto::v1 as pb;
use reestr_store::DraftGuard;

impl ClassifierApi {
    pub(super) async fn do_batch_upsert_items(
        &self,
        request: Request<pb::BatchUpsertItemsRequest>,
    ) -> Result<Response<pb::BatchUpsertItemsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::BatchUpsertItemsRequest {
            parent,
            items,
            etag,
        } = request.into_inner();
        let audit = call.audit(store, &parent);
        let result = async {
            let (meta, draft) = self.writable_draft(store, &call, &parent, "parent").await?;
            let authorize = owner_check(&call);
            let guard = DraftGuard {
                authorize: &authorize,
                etag: &etag,
            };
            let mut v = Violations::new();
            if items.is_empty() || items.len() > MAX_BATCH {
                v.add("items", format!("must hold 1 to {MAX_BATCH} items"));
            }
            let mut seen = HashSet::new();
            let mut valid = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let prefix = format!("items[{i}]");
                if let Some(item) = item_draft(item).validate_into(&prefix, &mut v) {
                    if !seen.insert(item.code.clone()) {
                        v.add(
                            format!("{prefix}.code"),
                            format!("{} occurs twice in this request", item.code),
                        );
                    }
                    valid.push(item);
                }
            }
            v.into_result()?;
            let updated = store
                .classifiers()
                .upsert_items(&call.ctx, &draft.classifier, &draft.id, guard, &valid)
                .await?;
            self.changed(&draft.classifier);
            let name = updated.name();
            Ok(pb::BatchUpsertItemsResponse {
                items: valid.iter().map(|i| item_to_proto(i, &name, 0)).collect(),
                version: Some(version_message(&meta, &updated, store.now())),
            })
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_batch_delete_items(
        &self,
        request: Request<pb::BatchDeleteItemsRequest>,
    ) -> Result<Response<pb::BatchDeleteItemsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::BatchDeleteItemsRequest {
            parent,
            codes,
            allow_missing,
            etag,
        } = request.into_inner();
        let audit = call.audit(store, &parent);
        let result = async {
            let (meta, draft) = self.writable_draft(store, &call, &parent, "parent").await?;
            let authorize = owner_check(&call);
            let guard = DraftGuard {
                authorize: &authorize,
                etag: &etag,
            };
            let mut v = Violations::new();
            if codes.is_empty() || codes.len() > MAX_BATCH {
                v.add("codes", format!("must hold 1 to {MAX_BATCH} codes"));
            }
            let parsed: Vec<Code> = codes
                .iter()
                .enumerate()
                .filter_map(|(i, c)| v.check(Code::parse(c, &format!("codes[{i}]"))))
                .collect();
            v.into_result()?;
            let (deleted, updated) = store
                .classifiers()
                .delete_items(
                    &call.ctx,
                    &draft.classifier,
                    &draft.id,
                    guard,
                    &parsed,
                    allow_missing,
                )
                .await?;
            self.changed(&draft.classifier);
            Ok(pb::BatchDeleteItemsResponse {
                deleted_count: reestr_domain::input::count_i64(deleted),
                version: Some(version_message(&meta, &updated, store.now())),
            })
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }
}
