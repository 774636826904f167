//! ImportItems and ExportItems: whole versions in and out, as item messages or CSV.
//!
//! An import replaces the draft's content in one transaction, written in batches as the stream
//! arrives, so the server's memory does not grow with the number of items. Every item is
//! checked for form as it arrives (the classifier's requirements are checked at publication);
//! after a bad row the rest of the stream is still read and written, so that every bad row,
//! repeated codes included, is reported, and then the transaction is rolled back. While an import runs it
//! holds the draft (and, on SQLite, the database's write lock); a client that sends nothing for
//! [`IMPORT_IDLE`] loses its import.

use std::collections::HashSet;

use reestr_domain::classifier::csv::{CsvItemReader, CsvRow, csv_header, write_csv_item};
use reestr_domain::classifier::{AttributeDef, AttributeKind, Item, ItemDraft};
use reestr_domain::error::{Error, FieldViolation, Violations};
use reestr_domain::input::count_i64;
use reestr_domain::text::Language;
use reestr_store::{DraftGuard, ImportSink};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::cache::LoadedVersion;
use super::convert::{item_draft, item_to_proto};
use super::versions::version_message;
use super::{ClassifierApi, invalid, owner_check};
use crate::api::call::{Call, Inbound};
use crate::api::error::status;
use crate::api::error::{LISTED_PROBLEM_BYTES, fitting};
use crate::proto::v1 as pb;

/// Items written per statement batch during an import.
const IMPORT_BATCH: usize = 500;
/// Problems an import keeps to report (all of them are counted).
const MAX_PROBLEMS_KEPT: usize = 10_000;
/// Longest an import waits for its next message: an import holds its draft (and on SQLite the
/// write lock), so a client that stops sending must not hold them for ever.
const IMPORT_IDLE: std::time::Duration = std::time::Duration::from_secs(60);
/// Items per message of an ITEMS export.
const EXPORT_BATCH: usize = 500;
/// Bytes per message of a CSV export (a message ends at a line end past this size).
const EXPORT_CSV_CHUNK: usize = 64 * 1024;

/// An import in progress.
///
/// A problem is named by one field path: `items[i].field` for an ITEMS import (`i` counts
/// items from 0 across all messages), `rows[i].column` for a CSV import (`i` counts data rows
/// from 0; the column as the header writes it, e.g. `rows[3].name:ru`; a problem of the whole
/// row is `rows[i]`, of the header `header` or `header.column`). The CSV line is in the
/// problem's `line` and in the violation's description.
struct Import<'s> {
    sink: Option<ImportSink<'s>>,
    /// `items` or `rows`: the collection the paths of problems index.
    collection: &'static str,
    /// Codes seen so far, only for `validate_only` (the database finds repeats otherwise).
    seen: Option<HashSet<String>>,
    /// Items waiting to be written, each by its index; `pending_lines` holds their lines.
    pending: Vec<(u64, Item)>,
    pending_lines: Vec<u64>,
    problems: Vec<(u64, pb::ImportProblem)>,
    problem_count: u64,
    /// Items (or CSV data rows) read so far.
    items: u64,
}

/// Where a problem is: the item's index in the import and its line (CSV line, or position).
#[derive(Clone, Copy)]
struct At {
    index: u64,
    line: u64,
}

impl Import<'_> {
    fn path(&self, index: u64, field: &str) -> String {
        if field.is_empty() {
            format!("{}[{index}]", self.collection)
        } else {
            format!("{}[{index}].{field}", self.collection)
        }
    }

    /// Records a problem; `path` is the full field path.
    fn problem(&mut self, at: At, code: &str, path: String, description: &str) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push((
                at.index,
                pb::ImportProblem {
                    line: count_i64(at.line),
                    code: code.to_string(),
                    field: path,
                    description: description.to_string(),
                },
            ));
        }
    }

    /// The next item's place: index `items`, on `line` (an ITEMS import: its position).
    fn next_at(&mut self, line: Option<u64>) -> At {
        let index = self.items;
        self.items += 1;
        At {
            index,
            line: line.unwrap_or(index + 1),
        }
    }

    /// Checks one item draft and queues it for writing.
    async fn accept(&mut self, at: At, draft: ItemDraft) -> Result<(), Error> {
        let mut v = Violations::new();
        let Some(item) = draft.validate_into(&self.path(at.index, ""), &mut v) else {
            for FieldViolation {
                field, description, ..
            } in v.into_vec()
            {
                self.problem(at, &draft.code, field, &description);
            }
            return Ok(());
        };
        if let Some(seen) = &mut self.seen
            && !seen.insert(item.code.as_str().to_string())
        {
            let path = self.path(at.index, "code");
            self.problem(at, item.code.as_str(), path, "occurs earlier in the import");
            return Ok(());
        }
        // Rows go on being written after a bad one (the transaction will be rolled back), so
        // that the database still finds every repeated code.
        if self.sink.is_some() {
            self.pending.push((at.index, item));
            self.pending_lines.push(at.line);
            if self.pending.len() >= IMPORT_BATCH {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// The good rows of a CSV chunk, each with its place; the problems of the others recorded.
    fn accept_rows(&mut self, rows: Vec<CsvRow>) -> Vec<(At, ItemDraft)> {
        let mut drafts = Vec::with_capacity(rows.len());
        for row in rows {
            if row.header {
                // Not a data row: its problems are the header's, `header.column`.
                let at = At {
                    index: 0,
                    line: row.line,
                };
                for v in row.result.err().unwrap_or_default() {
                    let path = if v.field.is_empty() {
                        "header".to_string()
                    } else {
                        format!("header.{}", v.field)
                    };
                    self.problem(at, "", path, &v.description);
                }
                continue;
            }
            let at = self.next_at(Some(row.line));
            match row.result {
                Ok(draft) => drafts.push((at, draft)),
                Err(violations) => {
                    for v in violations {
                        let path = self.path(at.index, &v.field);
                        self.problem(at, &row.code, path, &v.description);
                    }
                }
            }
        }
        drafts
    }

    async fn flush(&mut self) -> Result<(), Error> {
        let Some(sink) = &mut self.sink else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        let repeats = sink.insert(&self.pending).await?;
        let lines = std::mem::take(&mut self.pending_lines);
        let indexes: Vec<u64> = self.pending.drain(..).map(|(i, _)| i).collect();
        for (index, code) in repeats {
            // Pending items are in ascending index order (bad rows are not among them).
            let line = indexes
                .binary_search(&index)
                .ok()
                .and_then(|i| lines.get(i).copied())
                .unwrap_or(index + 1);
            let path = self.path(index, "code");
            self.problem(
                At { index, line },
                code.as_str(),
                path,
                "occurs earlier in the import",
            );
        }
        Ok(())
    }

    /// The problems kept, in input order.
    fn into_problems(mut self) -> Vec<pb::ImportProblem> {
        self.problems.sort_by_key(|(index, _)| *index);
        self.problems.into_iter().map(|(_, p)| p).collect()
    }
}

impl ClassifierApi {
    pub(super) async fn do_import(
        &self,
        request: Request<Streaming<pb::ImportItemsRequest>>,
    ) -> Result<Response<pb::ImportItemsResponse>, Status> {
        let store = self.store.get()?;
        let call = Call::of(&request);
        // The resource is named by the first message: until it arrives, the event names none.
        let mut audit = call.audit(store, "");
        let mut stream = Inbound::new(request, IMPORT_IDLE);
        let result = async {
            let Some(first) = stream.next(&audit).await? else {
                return Err(Error::invalid(
                    "parent",
                    "the stream is empty: the first message must name the draft",
                ));
            };
            audit.set_resource(&first.parent);
            let pb::ImportItemsRequest {
                parent,
                format,
                validate_only,
                etag,
                data,
            } = first;
            let csv = match pb::ItemFormat::try_from(format) {
                Ok(pb::ItemFormat::Unspecified | pb::ItemFormat::Items) => false,
                Ok(pb::ItemFormat::Csv) => true,
                Err(_) => return Err(Error::invalid("format", format!("{format} is not a format"))),
            };
            let (meta, draft) = self
                .writable_draft(store, &call, &parent, "parent")
                .await?;
            let authorize = owner_check(&call);
            let guard = DraftGuard {
                authorize: &authorize,
                etag: &etag,
            };
            let sink = if validate_only {
                None
            } else {
                Some(
                    store
                        .classifiers()
                        .begin_import(&call.ctx, &draft.classifier, &draft.id, guard)
                        .await?,
                )
            };
            let mut import = Import {
                sink,
                collection: if csv { "rows" } else { "items" },
                seen: validate_only.then(HashSet::new),
                pending: Vec::with_capacity(IMPORT_BATCH),
                pending_lines: Vec::with_capacity(IMPORT_BATCH),
                problems: Vec::new(),
                problem_count: 0,
                items: 0,
            };
            let mut reader = csv.then(|| CsvItemReader::new(&meta.classifier.spec.attribute_schema));
            let mut data = data;
            loop {
                match data.take() {
                    None => {}
                    Some(pb::import_items_request::Data::Items(batch)) => {
                        if csv {
                            return Err(Error::invalid("items", "the import's format is CSV: send csv_chunk"));
                        }
                        for item in batch.items {
                            let at = import.next_at(None);
                            import.accept(at, item_draft(item)).await?;
                        }
                    }
                    Some(pb::import_items_request::Data::CsvChunk(chunk)) => {
                        let Some(reader) = reader.as_mut() else {
                            return Err(Error::invalid("csv_chunk", "the import's format is ITEMS: send items"));
                        };
                        let rows = reader.feed(&chunk);
                        for (at, draft) in import.accept_rows(rows) {
                            import.accept(at, draft).await?;
                        }
                    }
                }
                let Some(next) = stream.next(&audit).await? else {
                    break;
                };
                if !next.parent.is_empty() && next.parent != parent {
                    return Err(Error::invalid(
                        "parent",
                        "only the first message names the draft; later ones carry data",
                    ));
                }
                data = next.data;
            }
            if let Some(reader) = reader.as_mut() {
                let rows = reader.finish();
                for (at, draft) in import.accept_rows(rows) {
                    import.accept(at, draft).await?;
                }
            }
            import.flush().await?;
            let (items, problem_count) = (import.items, import.problem_count);
            let sink = import.sink.take();
            let problems = import.into_problems();
            if validate_only {
                return Ok(pb::ImportItemsResponse {
                    item_count: count_i64(items),
                    committed: false,
                    problems,
                    version: Some(version_message(&meta, &draft, store.now())),
                });
            }
            if problem_count > 0 {
                let listed = fitting(
                    problems
                        .iter()
                        .map(|p| (p.field.len() + 16, p.description.len() + p.code.len() + 16)),
                    LISTED_PROBLEM_BYTES,
                );
                let mut violations: Vec<FieldViolation> = problems
                    .iter()
                    .take(listed)
                    .map(|p| {
                        let place = if csv {
                            format!("CSV line {}", p.line)
                        } else {
                            format!("item {}", p.line)
                        };
                        let code = if p.code.is_empty() {
                            String::new()
                        } else {
                            format!(", code {:?}", p.code)
                        };
                        FieldViolation::new(
                            p.field.clone(),
                            format!("{} ({place}{code})", p.description),
                        )
                    })
                    .collect();
                if problem_count as usize > violations.len() {
                    violations.push(FieldViolation::new(
                        "stream",
                        format!(
                            "{} bad rows in all; nothing was imported (import with validate_only to list them all)",
                            problem_count
                        ),
                    ));
                }
                return Err(Error::InvalidArgument(violations));
            }
            let Some(sink) = sink else {
                return Err(Error::Internal("import without a sink".into()));
            };
            let version = sink.commit(count_i64(items)).await?;
            self.changed(&draft.classifier);
            Ok(pb::ImportItemsResponse {
                item_count: count_i64(items),
                committed: true,
                problems: Vec::new(),
                version: Some(version_message(&meta, &version, store.now())),
            })
        }
        .await;
        audit.finish(result).await.map(Response::new)
    }

    pub(super) async fn do_export(
        &self,
        request: Request<pb::ExportItemsRequest>,
    ) -> Result<Response<ReceiverStream<Result<pb::ExportItemsResponse, Status>>>, Status> {
        use pb::export_items_response::Data;
        let store = self.store.get()?;
        let call = Call::of(&request);
        let pb::ExportItemsRequest { name, format } = request.into_inner();
        let result = async {
            call.authorize(reestr_domain::access::Action::ReadRegister)?;
            let vname = reestr_domain::classifier::VersionName::from_name(&name, "name")
                .map_err(invalid)?;
            let csv = match pb::ItemFormat::try_from(format) {
                Ok(pb::ItemFormat::Unspecified | pb::ItemFormat::Items) => false,
                Ok(pb::ItemFormat::Csv) => true,
                Err(_) => {
                    return Err(Error::invalid(
                        "format",
                        format!("{format} is not a format"),
                    ));
                }
            };
            let (meta, version) = self.resolve(store, &vname, None).await?;
            let content = self.content(store, &version).await?;
            Ok((csv, meta, version, content))
        }
        .await;
        let (csv, meta, version, content) = Call::read(result)?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let name = version.name();
            let schema = if csv {
                match export_columns(&meta.classifier.spec.attribute_schema, &content) {
                    Ok(schema) => schema,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                }
            } else {
                Vec::new()
            };
            let schema = &schema;
            let mut items = Vec::new();
            let mut text = if csv {
                csv_header(&Language::ALL, schema)
            } else {
                Vec::new()
            };
            for i in 0..content.len() {
                let item = match content.item(i) {
                    Ok(item) => item,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                };
                let message = if csv {
                    write_csv_item(&item, &Language::ALL, schema, &mut text);
                    (text.len() >= EXPORT_CSV_CHUNK)
                        .then(|| Data::CsvChunk(std::mem::take(&mut text)))
                } else {
                    items.push(item_to_proto(&item, &name, content.level(i)));
                    (items.len() >= EXPORT_BATCH).then(|| {
                        Data::Items(pb::ItemBatch {
                            items: std::mem::take(&mut items),
                        })
                    })
                };
                if let Some(data) = message
                    && tx
                        .send(Ok(pb::ExportItemsResponse { data: Some(data) }))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            let last = if csv {
                (!text.is_empty()).then_some(Data::CsvChunk(text))
            } else {
                (!items.is_empty()).then_some(Data::Items(pb::ItemBatch { items }))
            };
            if let Some(data) = last {
                let _ = tx
                    .send(Ok(pb::ExportItemsResponse { data: Some(data) }))
                    .await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The error of an import whose request stream broke off with `s`: a client that cancelled
/// the call (or whose deadline passed) is not a bad request.
/// The attribute columns of a CSV export: the classifier's schema, then (sorted) every other key
/// the version's items carry — an older version may hold attributes the schema has since lost.
fn export_columns(
    schema: &[AttributeDef],
    content: &LoadedVersion,
) -> Result<Vec<AttributeDef>, Error> {
    let mut columns = schema.to_vec();
    let mut extra = std::collections::BTreeSet::new();
    for i in 0..content.len() {
        for key in content.item(i)?.attributes.into_keys() {
            if !schema.iter().any(|d| d.key == key) {
                extra.insert(key);
            }
        }
    }
    columns.extend(extra.into_iter().map(|key| AttributeDef {
        key,
        kind: AttributeKind::String,
        required: false,
        pattern: None,
        max_length: None,
    }));
    Ok(columns)
}
