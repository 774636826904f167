//! Items as CSV text: the `CSV` format of `ImportItems` and `ExportItems`.
//!
//! # Format
//!
//! UTF-8 CSV (RFC 4180) with a header row. The columns are
//!
//! | column           | cell                                                            |
//! |------------------|-----------------------------------------------------------------|
//! | `code`           | the item's code (the only column the header must have)          |
//! | `parent`         | the parent's code                                               |
//! | `name:{tag}`     | the name in one language: `name:uz-Latn`, `name:uz-Cyrl`, `name:ru`, `name:en`, `name:kaa` |
//! | `description`    | the description                                                 |
//! | `valid_from`     | `YYYY-MM-DD`                                                    |
//! | `valid_to`       | `YYYY-MM-DD`                                                    |
//! | `status`         | `ACTIVE` or `DEPRECATED`                                        |
//! | `successors`     | codes separated by `;`                                          |
//! | `attr:{key}`     | the value of an attribute of the classifier's schema, as text: an integer, `true` / `false`, `YYYY-MM-DD`, the decimal as written, the bare code of a `CODE_REF`, a `STRING` as it is |
//!
//! Columns may come in any order. An empty cell means "not set" (so an empty status is
//! `ACTIVE`, and a `STRING` attribute cannot be the empty string). A leading UTF-8 byte order
//! mark is skipped; records end with CRLF, LF or CR, and empty lines between records are
//! skipped. Lines are numbered from 1 (the header, normally) by their line feeds, and a row's
//! line is the line it starts on, which counts the line breaks inside quoted cells before it.
//!
//! [`CsvItemReader`] reads this text as it arrives, in pieces of any size, holding no more
//! than one record at a time; [`csv_header`] and [`write_csv_item`] write it. Both sides use
//! `csv-core`, the allocation-free engine of the `csv` crate, which is made for exactly this
//! push-style use.
//!
//! The reader converts cells, not items: what it yields are [`ItemDraft`]s, which the caller
//! validates with [`ItemDraft::validate_into`] and the version's rules as for any other
//! import. It checks only what the conversion itself needs: the header, the number of cells
//! per row, UTF-8, the status, and integer and boolean attribute text.

use std::collections::BTreeSet;

use csv_core::{ReadRecordResult, Terminator, WriterBuilder};

use crate::error::FieldViolation;
use crate::input::Choice;
use crate::text::Language;

use super::item::{AttributeValue, AttributeValueDraft, Item, ItemDraft, ItemStatus};
use super::spec::{AttributeDef, AttributeType};

/// The reader refuses a record whose cell text reaches this many bytes. The longest valid
/// item (100 attributes of 4,000 four-byte characters, names, description and successors)
/// takes well under half of it.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;
/// The most cells one record may have; a header of every fixed column, five names and a full
/// schema has 112.
pub const MAX_RECORD_CELLS: usize = 1024;
/// The separator of codes in the `successors` column.
pub const SUCCESSOR_SEPARATOR: char = ';';

const BOM: &[u8] = b"\xef\xbb\xbf";
/// How much buffer the reader starts with, before any record has needed more.
const INITIAL_RECORD_BYTES: usize = 1024;
const INITIAL_RECORD_CELLS: usize = 32;

/// One row of the CSV, converted: the item draft, or every problem found in the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// The 1-based physical line the record starts on (the header is line 1).
    pub line: u64,
    /// Whether this is the header (returned only when it is bad), not a data row.
    pub header: bool,
    /// The text of the row's `code` cell as far as it could be read (invalid UTF-8 replaced);
    /// empty when the row has none. For reporting problems: the valid code is in the draft.
    pub code: String,
    /// The draft, or the row's problems. A problem names its column as the header writes it
    /// (`name:ru`, `attr:area`, `status`); a problem of the whole row (the wrong number of
    /// cells, a record too long) has an empty field.
    pub result: Result<ItemDraft, Vec<FieldViolation>>,
}

/// What a column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ColumnKind {
    Code,
    Parent,
    Name(Language),
    Description,
    ValidFrom,
    ValidTo,
    Status,
    Successors,
    Attribute(String, AttributeType),
}

/// A column of the header: its text, for naming problems, and what it holds.
#[derive(Debug, Clone)]
struct Column {
    header: String,
    kind: ColumnKind,
}

/// Where the reader is with respect to the header.
#[derive(Debug)]
enum Header {
    /// The next record is the header.
    Expected,
    /// The header was read; rows follow.
    Read(Vec<Column>),
    /// The header was bad; everything after it is skipped.
    Refused,
}

/// Reads CSV text arriving in pieces (see the [module documentation](self)) into item drafts.
///
/// Pieces may end anywhere: inside a line, inside a quoted cell, inside a UTF-8 character or
/// the byte order mark. The reader keeps only the record it is in the middle of, so its
/// memory does not grow with the number of rows.
#[derive(Debug)]
pub struct CsvItemReader {
    /// Attribute key and type, in schema order.
    schema: Vec<(String, AttributeType)>,
    parser: csv_core::Reader,
    /// The first bytes of the input while they may still be a byte order mark.
    prefix: Vec<u8>,
    /// Whether the byte order mark question is settled.
    prefix_done: bool,
    /// The physical line of the next byte.
    line: u64,
    /// Whether the parser is between records (skipping line breaks).
    between_records: bool,
    /// The line the current record started on.
    record_line: u64,
    /// Cell text of the current record, unquoted, and how much of it is filled.
    cells: Vec<u8>,
    cells_len: usize,
    /// Cumulative end offsets of the current record's cells, and how many are filled.
    ends: Vec<usize>,
    ends_len: usize,
    /// The current record exceeded [`MAX_RECORD_BYTES`] or [`MAX_RECORD_CELLS`]; its rest is
    /// parsed into the scratch buffers and dropped.
    oversized: bool,
    scratch_cells: Vec<u8>,
    scratch_ends: Vec<usize>,
    header: Header,
    finished: bool,
}

impl CsvItemReader {
    /// A reader for a classifier whose attribute schema is `schema` (the `attribute_schema` of
    /// its [`super::spec::ClassifierSpec`]): it decides which `attr:` columns exist and how
    /// their cells are read.
    pub fn new(schema: &[AttributeDef]) -> Self {
        Self {
            schema: schema
                .iter()
                .map(|d| (d.key.clone(), d.kind.value_type()))
                .collect(),
            parser: csv_core::Reader::new(),
            prefix: Vec::with_capacity(BOM.len()),
            prefix_done: false,
            line: 1,
            between_records: true,
            record_line: 1,
            cells: vec![0; INITIAL_RECORD_BYTES],
            cells_len: 0,
            ends: vec![0; INITIAL_RECORD_CELLS],
            ends_len: 0,
            oversized: false,
            scratch_cells: Vec::new(),
            scratch_ends: Vec::new(),
            header: Header::Expected,
            finished: false,
        }
    }

    /// Feeds the next piece of the text; returns the rows it completed, in order (none when
    /// the piece ends inside the first record it touches). The header is not a row, but a
    /// bad header is returned as one, with its problems, after which the rest is skipped.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<CsvRow> {
        let mut rows = Vec::new();
        if self.finished {
            return rows;
        }
        let mut chunk = chunk;
        if !self.prefix_done {
            let take = chunk.len().min(BOM.len() - self.prefix.len());
            let (head, rest) = chunk.split_at(take);
            self.prefix.extend_from_slice(head);
            chunk = rest;
            if self.prefix.len() < BOM.len() && BOM.starts_with(&self.prefix) {
                return rows; // Still possibly a byte order mark: wait for more.
            }
            self.prefix_done = true;
            let prefix = std::mem::take(&mut self.prefix);
            if prefix != BOM {
                self.read(&prefix, &mut rows);
            }
        }
        self.read(chunk, &mut rows);
        rows
    }

    /// Ends the input and returns the rows still pending: the last record, which need not
    /// end with a line break. A text without a header row yields one problem row (line 1).
    /// Later calls to [`CsvItemReader::feed`] and this return nothing.
    pub fn finish(&mut self) -> Vec<CsvRow> {
        let mut rows = Vec::new();
        if self.finished {
            return rows;
        }
        if !self.prefix_done {
            self.prefix_done = true;
            let prefix = std::mem::take(&mut self.prefix);
            self.read(&prefix, &mut rows);
        }
        self.finished = true;
        if !matches!(self.header, Header::Refused) {
            // An empty input tells the parser the text has ended; it answers with the last
            // record, if one is open, and then End. The bound only guards against a parser
            // that never says End.
            for _ in 0..8 {
                match self.step(&[]).0 {
                    ReadRecordResult::Record => self.complete(&mut rows),
                    ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
                    ReadRecordResult::End | ReadRecordResult::InputEmpty => break,
                }
            }
        }
        if matches!(self.header, Header::Expected) {
            rows.push(CsvRow {
                line: 1,
                header: true,
                code: String::new(),
                result: Err(vec![FieldViolation::new(
                    "",
                    "the CSV has no header row; it must start with one naming the columns, e.g. code,parent,name:uz-Latn",
                )]),
            });
        }
        rows
    }

    /// Parses `input`, pushing every row it completes.
    fn read(&mut self, mut input: &[u8], rows: &mut Vec<CsvRow>) {
        while !input.is_empty() {
            if matches!(self.header, Header::Refused) {
                return;
            }
            if self.between_records {
                let skip = input
                    .iter()
                    .take_while(|b| matches!(b, b'\r' | b'\n'))
                    .count();
                let (breaks, rest) = input.split_at(skip);
                self.line += line_feeds(breaks);
                input = rest;
                if input.is_empty() {
                    return;
                }
                self.between_records = false;
                self.record_line = self.line;
            }
            let (result, consumed) = self.step(input);
            let (done, rest) = input.split_at(consumed.min(input.len()));
            self.line += line_feeds(done);
            input = rest;
            if result == ReadRecordResult::Record {
                self.complete(rows);
            }
        }
    }

    /// One call of the parser on `input`, with room made for its output first; returns its
    /// result and how many bytes of `input` it consumed.
    fn step(&mut self, input: &[u8]) -> (ReadRecordResult, usize) {
        if !self.oversized {
            if self.cells_len >= self.cells.len() {
                self.grow_cells();
            }
            if self.ends_len >= self.ends.len() {
                self.grow_ends();
            }
        }
        if self.oversized {
            if self.scratch_cells.is_empty() {
                self.scratch_cells = vec![0; INITIAL_RECORD_BYTES];
                self.scratch_ends = vec![0; INITIAL_RECORD_CELLS];
            }
            let (result, consumed, _, _) =
                self.parser
                    .read_record(input, &mut self.scratch_cells, &mut self.scratch_ends);
            return (result, consumed);
        }
        let (Some(cells), Some(ends)) = (
            self.cells.get_mut(self.cells_len..),
            self.ends.get_mut(self.ends_len..),
        ) else {
            // Unreachable: the lengths never pass the buffers' ends. Drop the record rather
            // than fail.
            self.oversized = true;
            return (ReadRecordResult::InputEmpty, 0);
        };
        let (result, consumed, written, ended) = self.parser.read_record(input, cells, ends);
        self.cells_len += written;
        self.ends_len += ended;
        (result, consumed)
    }

    fn grow_cells(&mut self) {
        if self.cells.len() >= MAX_RECORD_BYTES {
            self.oversized = true;
        } else {
            let size = (self.cells.len() * 2).clamp(INITIAL_RECORD_BYTES, MAX_RECORD_BYTES);
            self.cells.resize(size, 0);
        }
    }

    fn grow_ends(&mut self) {
        if self.ends.len() >= MAX_RECORD_CELLS {
            self.oversized = true;
        } else {
            let size = (self.ends.len() * 2).clamp(INITIAL_RECORD_CELLS, MAX_RECORD_CELLS);
            self.ends.resize(size, 0);
        }
    }

    /// Handles the record the parser has just completed.
    fn complete(&mut self, rows: &mut Vec<CsvRow>) {
        let line = self.record_line;
        self.between_records = true;
        let oversized = std::mem::take(&mut self.oversized);
        let text = self.cells.get(..self.cells_len).unwrap_or_default();
        let ends = self.ends.get(..self.ends_len).unwrap_or_default();
        let cells = split_cells(text, ends);
        let mut refuse_header = false;
        let mut new_columns = None;
        let row = if oversized {
            refuse_header = matches!(self.header, Header::Expected);
            Some(CsvRow {
                line,
                header: refuse_header,
                code: String::new(),
                result: Err(vec![FieldViolation::new(
                    "",
                    format!(
                        "the record has {MAX_RECORD_BYTES} bytes or more, or more than {MAX_RECORD_CELLS} cells"
                    ),
                )]),
            })
        } else {
            match &self.header {
                Header::Refused => None,
                Header::Expected => match read_header(&cells, &self.schema) {
                    Ok(columns) => {
                        new_columns = Some(columns);
                        None
                    }
                    Err(problems) => {
                        refuse_header = true;
                        Some(CsvRow {
                            line,
                            header: true,
                            code: String::new(),
                            result: Err(problems),
                        })
                    }
                },
                Header::Read(columns) => {
                    let (code, result) = read_row(&cells, columns);
                    Some(CsvRow {
                        line,
                        header: false,
                        code,
                        result,
                    })
                }
            }
        };
        if let Some(columns) = new_columns {
            self.header = Header::Read(columns);
        }
        if refuse_header {
            self.header = Header::Refused;
        }
        rows.extend(row);
        self.cells_len = 0;
        self.ends_len = 0;
        // After an unusually long record, give the memory back.
        if self.cells.len() > 16 * INITIAL_RECORD_BYTES {
            self.cells = vec![0; INITIAL_RECORD_BYTES];
        }
        if self.ends.len() > 4 * INITIAL_RECORD_CELLS {
            self.ends = vec![0; INITIAL_RECORD_CELLS];
        }
    }

    /// How many bytes the reader holds for the record in progress (for tests of its memory).
    #[cfg(test)]
    fn buffered_bytes(&self) -> usize {
        self.cells.len()
            + self.scratch_cells.len()
            + (self.ends.len() + self.scratch_ends.len()) * std::mem::size_of::<usize>()
            + self.prefix.len()
    }
}

fn line_feeds(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The cells of a record from its text and cumulative end offsets.
fn split_cells<'a>(text: &'a [u8], ends: &[usize]) -> Vec<&'a [u8]> {
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let cell = text.get(start..end).unwrap_or_default();
            start = end;
            cell
        })
        .collect()
}

/// Reads the header row into columns, or every problem with it.
fn read_header(
    cells: &[&[u8]],
    schema: &[(String, AttributeType)],
) -> Result<Vec<Column>, Vec<FieldViolation>> {
    let mut problems = Vec::new();
    let mut columns = Vec::with_capacity(cells.len());
    let mut seen = BTreeSet::new();
    for (i, cell) in cells.iter().enumerate() {
        let Ok(header) = std::str::from_utf8(cell) else {
            problems.push(FieldViolation::new(
                format!("column {}", i + 1),
                "the column's header is not valid UTF-8",
            ));
            continue;
        };
        let field = if header.is_empty() {
            format!("column {}", i + 1)
        } else {
            header.to_string()
        };
        if !seen.insert(header) {
            problems.push(FieldViolation::new(field, "the column is repeated"));
            continue;
        }
        let kind = match header {
            "code" => ColumnKind::Code,
            "parent" => ColumnKind::Parent,
            "description" => ColumnKind::Description,
            "valid_from" => ColumnKind::ValidFrom,
            "valid_to" => ColumnKind::ValidTo,
            "status" => ColumnKind::Status,
            "successors" => ColumnKind::Successors,
            _ => {
                if let Some(tag) = header.strip_prefix("name:") {
                    match tag.parse::<Language>() {
                        Ok(language) => ColumnKind::Name(language),
                        Err(()) => {
                            problems.push(FieldViolation::new(
                                field,
                                format!(
                                    "{tag:?} is not a known language tag; allowed: {}",
                                    Language::ALL.map(Language::tag).join(", ")
                                ),
                            ));
                            continue;
                        }
                    }
                } else if let Some(key) = header.strip_prefix("attr:") {
                    match schema.iter().find(|(k, _)| k == key) {
                        Some((key, value_type)) => ColumnKind::Attribute(key.clone(), *value_type),
                        None => {
                            problems.push(FieldViolation::new(
                                field,
                                format!(
                                    "the classifier's attribute schema has no attribute {key:?}"
                                ),
                            ));
                            continue;
                        }
                    }
                } else {
                    problems.push(FieldViolation::new(
                        field,
                        "unknown column; the columns are code, parent, name:{language tag}, \
                         description, valid_from, valid_to, status, successors and attr:{key}",
                    ));
                    continue;
                }
            }
        };
        columns.push(Column {
            header: header.to_string(),
            kind,
        });
    }
    if problems.is_empty() && !columns.iter().any(|c| c.kind == ColumnKind::Code) {
        problems.push(FieldViolation::new(
            "code",
            "the header has no code column, which every CSV of items must have",
        ));
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(problems)
    }
}

/// Converts the cells of a row into an item draft; also returns the code cell's text.
fn read_row(
    cells: &[&[u8]],
    columns: &[Column],
) -> (String, Result<ItemDraft, Vec<FieldViolation>>) {
    let code = columns
        .iter()
        .position(|c| c.kind == ColumnKind::Code)
        .and_then(|i| cells.get(i))
        .map(|cell| String::from_utf8_lossy(cell).into_owned())
        .unwrap_or_default();
    if cells.len() != columns.len() {
        let problem = FieldViolation::new(
            "",
            format!(
                "the row has {} cells; the header has {} columns",
                cells.len(),
                columns.len()
            ),
        );
        return (code, Err(vec![problem]));
    }
    let mut draft = ItemDraft::default();
    let mut problems = Vec::new();
    for (cell, column) in cells.iter().zip(columns) {
        if cell.is_empty() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(cell) else {
            problems.push(FieldViolation::new(&column.header, "is not valid UTF-8"));
            continue;
        };
        match &column.kind {
            ColumnKind::Code => draft.code = text.to_string(),
            ColumnKind::Parent => draft.parent = text.to_string(),
            ColumnKind::Name(language) => {
                draft
                    .names
                    .insert(language.tag().to_string(), text.to_string());
            }
            ColumnKind::Description => draft.description = text.to_string(),
            ColumnKind::ValidFrom => draft.valid_from = text.to_string(),
            ColumnKind::ValidTo => draft.valid_to = text.to_string(),
            ColumnKind::Status => match text.parse::<ItemStatus>() {
                Ok(status) => draft.status = Choice::Known(status),
                Err(()) => problems.push(FieldViolation::new(
                    &column.header,
                    "must be ACTIVE or DEPRECATED (empty means ACTIVE)",
                )),
            },
            ColumnKind::Successors => {
                draft.successors = text
                    .split(SUCCESSOR_SEPARATOR)
                    .map(str::to_string)
                    .collect();
            }
            ColumnKind::Attribute(key, value_type) => match attribute_draft(*value_type, text) {
                Ok(value) => {
                    draft.attributes.insert(key.clone(), value);
                }
                Err(problem) => problems.push(FieldViolation::new(&column.header, problem)),
            },
        }
    }
    if problems.is_empty() {
        (code, Ok(draft))
    } else {
        (code, Err(problems))
    }
}

/// An attribute cell as the draft value of its type. Integers and booleans are read here;
/// other text is kept for [`ItemDraft::validate_into`] to check.
fn attribute_draft(value_type: AttributeType, text: &str) -> Result<AttributeValueDraft, String> {
    Ok(match value_type {
        AttributeType::String => AttributeValueDraft::String(text.to_string()),
        AttributeType::Decimal => AttributeValueDraft::Decimal(text.to_string()),
        AttributeType::Date => AttributeValueDraft::Date(text.to_string()),
        AttributeType::CodeRef => AttributeValueDraft::CodeRef(text.to_string()),
        AttributeType::Integer | AttributeType::Boolean => {
            match AttributeValue::parse(value_type, text)? {
                AttributeValue::Integer(n) => AttributeValueDraft::Integer(n),
                AttributeValue::Boolean(b) => AttributeValueDraft::Boolean(b),
                other => AttributeValueDraft::from(&other),
            }
        }
    })
}

/// The languages of `languages` in the register's order, each once.
fn ordered_languages(languages: &[Language]) -> impl Iterator<Item = Language> + '_ {
    Language::ALL.into_iter().filter(|l| languages.contains(l))
}

/// The header row for a classifier, ending with CRLF: `code`, `parent`, `name:{tag}` for each
/// language of `languages` (in the register's order — uz-Latn, uz-Cyrl, ru, en, kaa — whatever
/// order `languages` has), `description`, `valid_from`, `valid_to`, `status`, `successors`,
/// then `attr:{key}` for each attribute of `schema` in schema order. [`write_csv_item`] writes
/// rows with the same columns when given the same arguments.
pub fn csv_header(languages: &[Language], schema: &[AttributeDef]) -> Vec<u8> {
    let mut record = Record::new(Vec::new());
    record.cell(b"code");
    record.cell(b"parent");
    for language in ordered_languages(languages) {
        record.cell(format!("name:{}", language.tag()).as_bytes());
    }
    for column in [
        "description",
        "valid_from",
        "valid_to",
        "status",
        "successors",
    ] {
        record.cell(column.as_bytes());
    }
    for def in schema {
        record.cell(format!("attr:{}", def.key).as_bytes());
    }
    record.end()
}

/// Appends `item` to `out` as one CSV record, ending with CRLF, in the columns of
/// [`csv_header`] for the same `languages` and `schema`.
///
/// Names in languages not in `languages` and attributes not in `schema` are left out, so a
/// caller that wants everything passes every language and the whole schema. Cells are quoted
/// only when they must be (a comma, a quote or a line break). An attribute is written as the
/// text of its value ([`AttributeValue::to_text`]), whatever type the schema gives it.
pub fn write_csv_item(
    item: &Item,
    languages: &[Language],
    schema: &[AttributeDef],
    out: &mut Vec<u8>,
) {
    let mut record = Record::new(std::mem::take(out));
    record.cell(item.code.as_str().as_bytes());
    record.cell(item.parent.as_ref().map_or("", |p| p.as_str()).as_bytes());
    for language in ordered_languages(languages) {
        record.cell(
            item.names
                .get(&language)
                .map_or("", String::as_str)
                .as_bytes(),
        );
    }
    record.cell(item.description.as_deref().unwrap_or_default().as_bytes());
    record.cell(
        item.valid_from
            .map(|d| d.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    record.cell(
        item.valid_to
            .map(|d| d.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    record.cell(item.status.as_str().as_bytes());
    let mut successors = String::new();
    for (i, code) in item.successors.iter().enumerate() {
        if i > 0 {
            successors.push(SUCCESSOR_SEPARATOR);
        }
        successors.push_str(code.as_str());
    }
    record.cell(successors.as_bytes());
    for def in schema {
        let text = item
            .attributes
            .get(&def.key)
            .map(AttributeValue::to_text)
            .unwrap_or_default();
        record.cell(text.as_bytes());
    }
    *out = record.end();
}

/// Writes one record with `csv-core`, giving it room enough for the worst case of every call
/// so that it never runs out of output.
struct Record {
    writer: csv_core::Writer,
    out: Vec<u8>,
    first: bool,
}

impl Record {
    fn new(out: Vec<u8>) -> Self {
        Self {
            writer: WriterBuilder::new().terminator(Terminator::CRLF).build(),
            out,
            first: true,
        }
    }

    /// Runs `write` on `room` spare bytes at the end of the output and keeps what it wrote.
    fn with_room(
        &mut self,
        room: usize,
        write: impl FnOnce(&mut csv_core::Writer, &mut [u8]) -> usize,
    ) {
        let start = self.out.len();
        self.out.resize(start + room, 0);
        let written = match self.out.get_mut(start..) {
            Some(spare) => write(&mut self.writer, spare),
            None => 0,
        };
        self.out.truncate(start + written.min(room));
    }

    fn cell(&mut self, text: &[u8]) {
        if !std::mem::take(&mut self.first) {
            // A closing quote and the comma.
            self.with_room(2, |w, out| w.delimiter(out).1);
        }
        // At worst the opening quote and every byte a doubled quote: one call writes it all.
        // The loop is for a writer that would stop early all the same.
        let mut rest = text;
        loop {
            let mut consumed = 0;
            self.with_room(2 * rest.len() + 2, |w, out| {
                let (_, read, written) = w.field(rest, out);
                consumed = read;
                written
            });
            rest = rest.get(consumed..).unwrap_or_default();
            if rest.is_empty() || consumed == 0 {
                break;
            }
        }
    }

    fn end(mut self) -> Vec<u8> {
        // An empty record's quotes, a closing quote, CRLF.
        self.with_room(5, |w, out| w.terminator(out).1);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::classifier::item::Decimal;
    use crate::classifier::name::{ClassifierId, Code};
    use crate::classifier::spec::AttributeKind;
    use crate::error::Violations;
    use crate::time::Date;

    fn def(key: &str, kind: AttributeKind) -> AttributeDef {
        AttributeDef {
            key: key.into(),
            kind,
            required: false,
            pattern: None,
            max_length: None,
        }
    }

    /// One attribute of every type.
    fn schema() -> Vec<AttributeDef> {
        vec![
            def("center", AttributeKind::String),
            def("population", AttributeKind::Integer),
            def("area", AttributeKind::Decimal),
            def("capital", AttributeKind::Boolean),
            def("since", AttributeKind::Date),
            def(
                "okrug",
                AttributeKind::CodeRef(ClassifierId::from_trusted("okrug".into())),
            ),
        ]
    }

    fn code(s: &str) -> Code {
        Code::from_trusted(s.into())
    }

    fn read_all(schema: &[AttributeDef], text: &[u8]) -> Vec<CsvRow> {
        let mut reader = CsvItemReader::new(schema);
        let mut rows = reader.feed(text);
        rows.extend(reader.finish());
        rows
    }

    fn read_in_pieces(schema: &[AttributeDef], text: &[u8], size: usize) -> Vec<CsvRow> {
        let mut reader = CsvItemReader::new(schema);
        let mut rows = Vec::new();
        for piece in text.chunks(size) {
            rows.extend(reader.feed(piece));
        }
        rows.extend(reader.finish());
        rows
    }

    fn draft(row: &CsvRow) -> &ItemDraft {
        match &row.result {
            Ok(d) => d,
            Err(problems) => panic!("line {}: {problems:?}", row.line),
        }
    }

    fn problems(row: &CsvRow) -> Vec<(String, String)> {
        match &row.result {
            Ok(d) => panic!("line {} was read as {d:?}", row.line),
            Err(list) => list
                .iter()
                .map(|v| (v.field.clone(), v.description.clone()))
                .collect(),
        }
    }

    fn fields(row: &CsvRow) -> Vec<String> {
        problems(row).into_iter().map(|(f, _)| f).collect()
    }

    fn items() -> Vec<Item> {
        let full = Item {
            code: code("1726"),
            parent: Some(code("17")),
            names: Language::ALL
                .into_iter()
                .map(|l| (l, format!("Toshkent, \"{}\" shahri", l.tag())))
                .collect(),
            description: Some("Poytaxt.\nIkkinchi qator, \"iqtibos\";\r\nuchinchi".into()),
            attributes: BTreeMap::from([
                (
                    "center".to_string(),
                    AttributeValue::String(" Toshkent,\"markaz\" ".into()),
                ),
                ("population".to_string(), AttributeValue::Integer(i64::MIN)),
                (
                    "area".to_string(),
                    AttributeValue::Decimal(Decimal::parse("-334.80").unwrap()),
                ),
                ("capital".to_string(), AttributeValue::Boolean(false)),
                (
                    "since".to_string(),
                    AttributeValue::Date(Date::parse("1991-09-01").unwrap()),
                ),
                ("okrug".to_string(), AttributeValue::CodeRef(code("T\"1"))),
            ]),
            valid_from: Date::parse("1991-09-01").ok(),
            valid_to: Date::parse("2099-12-31").ok(),
            status: ItemStatus::Deprecated,
            successors: vec![code("1727"), code("1703"), code("a,b")],
        };
        let minimal = Item::new(code("17"));
        let cyrillic = Item {
            names: BTreeMap::from([(Language::UzCyrl, "Тошкент вилояти".to_string())]),
            attributes: BTreeMap::from([
                ("capital".to_string(), AttributeValue::Boolean(true)),
                ("population".to_string(), AttributeValue::Integer(42)),
            ]),
            ..Item::new(code("Ҳ1"))
        };
        vec![minimal, full, cyrillic]
    }

    fn written(items: &[Item], schema: &[AttributeDef]) -> Vec<u8> {
        let mut out = csv_header(&Language::ALL, schema);
        for item in items {
            write_csv_item(item, &Language::ALL, schema, &mut out);
        }
        out
    }

    fn to_items(rows: &[CsvRow]) -> Vec<Item> {
        rows.iter()
            .map(|row| {
                let mut v = Violations::new();
                let item = draft(row).validate_into("item", &mut v);
                assert!(v.is_empty(), "line {}: {v:?}", row.line);
                item.unwrap()
            })
            .collect()
    }

    #[test]
    fn written_items_read_back_as_the_same_items() {
        let items = items();
        let text = written(&items, &schema());
        let rows = read_all(&schema(), &text);
        assert_eq!(rows.len(), items.len());
        for (row, item) in rows.iter().zip(&items) {
            assert_eq!(row.code, item.code.as_str());
            let mut expected = item.to_draft();
            expected.status = Choice::Known(item.status);
            assert_eq!(draft(row), &expected);
        }
        assert_eq!(to_items(&rows), items);
    }

    #[test]
    fn the_header_lists_columns_in_the_fixed_order() {
        let header = csv_header(&[Language::En, Language::UzLatn, Language::En], &schema());
        assert_eq!(
            String::from_utf8(header).unwrap(),
            "code,parent,name:uz-Latn,name:en,description,valid_from,valid_to,status,successors,\
             attr:center,attr:population,attr:area,attr:capital,attr:since,attr:okrug\r\n"
        );
    }

    #[test]
    fn rows_have_the_header_columns_and_quote_only_what_needs_it() {
        let mut out = Vec::new();
        let item = Item {
            names: BTreeMap::from([
                (Language::Ru, "Ташкент".to_string()),
                (Language::Kaa, "Tashkent".to_string()),
            ]),
            description: Some("a, \"b\"\nc".into()),
            successors: vec![code("2"), code("3")],
            ..Item::new(code("1"))
        };
        write_csv_item(
            &item,
            &[Language::Ru],
            &[def("x", AttributeKind::Integer)],
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1,,Ташкент,\"a, \"\"b\"\"\nc\",,,ACTIVE,2;3,\r\n"
        );
    }

    #[test]
    fn the_written_text_is_standard_csv() {
        // An independent reading with the csv crate sees the same cells.
        let items = items();
        let text = written(&items, &schema());
        let mut reader = ::csv::ReaderBuilder::new().from_reader(text.as_slice());
        let headers = reader.headers().unwrap().clone();
        assert_eq!(headers.len(), 2 + 5 + 5 + 6);
        let records: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), items.len());
        let description = headers.iter().position(|h| h == "description").unwrap();
        assert_eq!(
            &records[1][description],
            items[1].description.as_deref().unwrap()
        );
        let successors = headers.iter().position(|h| h == "successors").unwrap();
        assert_eq!(&records[1][successors], "1727;1703;a,b");
    }

    #[test]
    fn quoted_cells_keep_commas_quotes_and_line_breaks() {
        let text = "code,description,name:ru\r\n\
                    1,\"a,b\",\"say \"\"hi\"\"\"\r\n\
                    2,\"two\r\nlines\nand three\",\"\"\n";
        let rows = read_all(&[], text.as_bytes());
        assert_eq!(rows.len(), 2);
        assert_eq!(draft(&rows[0]).description, "a,b");
        assert_eq!(draft(&rows[0]).names["ru"], "say \"hi\"");
        assert_eq!(draft(&rows[1]).description, "two\r\nlines\nand three");
        assert!(draft(&rows[1]).names.is_empty());
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_rows() {
        let mut text = BOM.to_vec();
        text.extend(written(&items(), &schema()));
        text.extend_from_slice("bad,row\n".as_bytes());
        text.extend_from_slice("Ъ,,,,,,,,,,,,,,,,,\n\n".as_bytes());
        let whole = read_all(&schema(), &text);
        assert_eq!(whole.len(), 5);
        assert_eq!(read_in_pieces(&schema(), &text, 1), whole);
        assert_eq!(read_in_pieces(&schema(), &text, 7), whole);
        for split in 0..=text.len() {
            let mut reader = CsvItemReader::new(&schema());
            let mut rows = reader.feed(&text[..split]);
            rows.extend(reader.feed(&[]));
            rows.extend(reader.feed(&text[split..]));
            rows.extend(reader.finish());
            assert_eq!(rows, whole, "split at byte {split}");
        }
    }

    #[test]
    fn rows_are_returned_as_soon_as_they_are_complete() {
        let mut reader = CsvItemReader::new(&[]);
        assert!(reader.feed(b"code\n1").is_empty());
        let rows = reader.feed(b"\n2");
        assert_eq!(rows.len(), 1);
        assert_eq!(draft(&rows[0]).code, "1");
        // The last line needs no line break.
        let rows = reader.finish();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].line, draft(&rows[0]).code.as_str()), (3, "2"));
        assert!(reader.finish().is_empty());
        assert!(reader.feed(b"3\n").is_empty());
    }

    #[test]
    fn a_byte_order_mark_is_skipped_even_when_split() {
        let text = b"\xef\xbb\xbfcode,name:en\n1,One\n";
        for size in 1..=4 {
            let rows = read_in_pieces(&[], text, size);
            assert_eq!(rows.len(), 1, "pieces of {size}");
            assert_eq!(draft(&rows[0]).names["en"], "One");
        }
        // A text that starts like a byte order mark but is not one is read as it is.
        let rows = read_all(&[], b"\xef\xbbcode\n1\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 1);
        assert_eq!(fields(&rows[0]), ["column 1"]);
        // A text shorter than a byte order mark.
        let rows = read_all(&[], b"\xef");
        assert_eq!(fields(&rows[0]), ["column 1"]);
    }

    #[test]
    fn bad_headers_name_every_bad_column_and_stop_the_reading() {
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("code,nom\n", vec!["nom"]),
            ("code,code\n", vec!["code"]),
            ("code,name:ru,parent,name:ru\n", vec!["name:ru"]),
            ("code,attr:center,attr:colour\n", vec!["attr:colour"]),
            (
                "code,name:de,name:uz-latn,name:\n",
                vec!["name:de", "name:uz-latn", "name:"],
            ),
            ("parent,name:ru\n", vec!["code"]),
            ("code,,parent\n", vec!["column 2"]),
            ("code, parent\n", vec![" parent"]),
            ("Code\n", vec!["Code"]),
            ("attr:center\n", vec!["code"]),
        ];
        let schema = [def("center", AttributeKind::String)];
        for (header, expected) in cases {
            let text = format!("{header}1,2,3,4\n5\n");
            let rows = read_all(&schema, text.as_bytes());
            assert_eq!(rows.len(), 1, "{header:?}: later rows are skipped");
            assert_eq!(rows[0].line, 1);
            assert_eq!(fields(&rows[0]), expected, "{header:?}");
        }
        let rows = read_all(&[], b"code,na\xffme\n1,2\n");
        assert_eq!(fields(&rows[0]), ["column 2"]);
    }

    #[test]
    fn a_text_without_a_header_is_a_problem_of_line_1() {
        for text in [&b""[..], b"\n\r\n", b"\xef\xbb\xbf"] {
            let rows = read_all(&[], text);
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].line, 1);
            assert_eq!(fields(&rows[0]), [""]);
        }
    }

    #[test]
    fn only_code_is_required_and_columns_come_in_any_order() {
        let text = "attr:population,name:en,code\n7,Seven,007\n";
        let rows = read_all(&schema(), text.as_bytes());
        let d = draft(&rows[0]);
        assert_eq!(d.code, "007");
        assert_eq!(d.names["en"], "Seven");
        assert_eq!(d.attributes["population"], AttributeValueDraft::Integer(7));
        assert_eq!(d.status, Choice::Unset);
    }

    #[test]
    fn a_row_with_the_wrong_number_of_cells_is_refused_alone() {
        let text = "code,parent\n1,,extra\n2\n3,1\n";
        let rows = read_all(&[], text.as_bytes());
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].code, "1");
        assert_eq!(
            problems(&rows[0]),
            [(
                String::new(),
                "the row has 3 cells; the header has 2 columns".to_string()
            )]
        );
        assert_eq!(rows[1].code, "2");
        assert!(rows[1].result.is_err());
        assert_eq!(draft(&rows[2]).parent, "1");
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn cells_are_converted_by_column_and_bad_text_names_its_column() {
        let text = "code,status,successors,attr:population,attr:capital,attr:area,attr:since,attr:okrug,attr:center\n\
                    1,DEPRECATED,2;3,-12,true,1e5,someday,a b, x \n\
                    2,RETIRED,,1.5,yes,,,,\n\
                    3,ACTIVE,;,99999999999999999999,false,,,,\n";
        let rows = read_all(&schema(), text.as_bytes());
        let d = draft(&rows[0]);
        assert_eq!(d.status, Choice::Known(ItemStatus::Deprecated));
        assert_eq!(d.successors, ["2", "3"]);
        assert_eq!(
            d.attributes["population"],
            AttributeValueDraft::Integer(-12)
        );
        assert_eq!(d.attributes["capital"], AttributeValueDraft::Boolean(true));
        // Decimals, dates and codes are checked later, by validate_into.
        assert_eq!(
            d.attributes["area"],
            AttributeValueDraft::Decimal("1e5".into())
        );
        assert_eq!(
            d.attributes["since"],
            AttributeValueDraft::Date("someday".into())
        );
        assert_eq!(
            d.attributes["okrug"],
            AttributeValueDraft::CodeRef("a b".into())
        );
        assert_eq!(
            d.attributes["center"],
            AttributeValueDraft::String(" x ".into())
        );
        let mut v = Violations::new();
        assert!(d.validate_into("line 2", &mut v).is_none());
        assert_eq!(v.len(), 3);

        assert_eq!(
            fields(&rows[1]),
            ["status", "attr:population", "attr:capital"]
        );
        assert_eq!(rows[1].code, "2");
        assert_eq!(fields(&rows[2]), ["attr:population"]);
        let (_, description) = &problems(&rows[2])[0];
        assert!(description.contains("whole number"), "{description}");
    }

    #[test]
    fn empty_cells_are_not_set() {
        let text =
            "code,parent,name:ru,description,valid_from,status,successors,attr:center\n1,,,,,,,\n";
        let rows = read_all(&schema(), text.as_bytes());
        let mut expected = ItemDraft {
            code: "1".into(),
            ..ItemDraft::default()
        };
        assert_eq!(draft(&rows[0]), &expected);
        expected.status = Choice::Known(ItemStatus::Deprecated);
        let rows = read_all(&[], b"code,status\n1,DEPRECATED\n");
        assert_eq!(draft(&rows[0]), &expected);
    }

    #[test]
    fn invalid_utf8_in_a_cell_names_its_column_and_split_characters_are_joined() {
        let rows = read_all(&[], b"code,name:ru\n1,\xd0\n");
        assert_eq!(fields(&rows[0]), ["name:ru"]);
        let text = "code,name:ru\n1,Ташкент\n".as_bytes();
        let rows = read_in_pieces(&[], text, 1);
        assert_eq!(draft(&rows[0]).names["ru"], "Ташкент");
    }

    #[test]
    fn line_numbers_count_line_breaks_inside_quoted_cells_and_blank_lines() {
        let text = "code,description\r\n\
                    1,\"a\r\nb\nc\"\r\n\
                    \r\n\
                    \n\
                    2,x\r\n\
                    3,\"\n\"\n\
                    4,y";
        let rows = read_all(&[], text.as_bytes());
        let lines: Vec<(u64, &str)> = rows
            .iter()
            .map(|r| (r.line, draft(r).code.as_str()))
            .collect();
        assert_eq!(lines, [(2, "1"), (7, "2"), (8, "3"), (10, "4")]);
        // The header may follow blank lines too.
        let rows = read_all(&[], b"\n\ncode\n1\n");
        assert_eq!(rows[0].line, 4);
        let rows = read_all(&[], b"\n\nnope\n1\n");
        assert_eq!(rows[0].line, 3);
    }

    #[test]
    fn an_overlong_record_is_refused_and_reading_goes_on() {
        let mut text = b"code,description\n1,\"".to_vec();
        text.resize(text.len() + MAX_RECORD_BYTES + 10, b'x');
        text.extend_from_slice(b"\"\n2,short\n");
        let mut reader = CsvItemReader::new(&[]);
        let mut rows = Vec::new();
        for piece in text.chunks(64 * 1024) {
            rows.extend(reader.feed(piece));
            assert!(reader.buffered_bytes() <= MAX_RECORD_BYTES + 64 * 1024);
        }
        rows.extend(reader.finish());
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, fields(&rows[0])), (2, vec![String::new()]));
        assert_eq!(draft(&rows[1]).description, "short");
        assert!(reader.buffered_bytes() < 64 * 1024);

        let mut many = b"code\n".to_vec();
        many.extend(std::iter::repeat_n(b',', MAX_RECORD_CELLS + 1));
        many.extend_from_slice(b"\n2\n");
        let rows = read_all(&[], &many);
        assert_eq!(rows.len(), 2);
        assert!(rows[0].result.is_err());
        assert_eq!(draft(&rows[1]).code, "2");
    }

    #[test]
    fn a_million_rows_are_read_in_constant_memory() {
        let schema = [def("population", AttributeKind::Integer)];
        let mut reader = CsvItemReader::new(&schema);
        assert!(reader.feed(b"code,name:en,attr:population\n").is_empty());
        let mut chunk = Vec::new();
        let mut count = 0u64;
        let mut most_buffered = 0;
        for i in 0..1_000_000u64 {
            chunk.extend_from_slice(format!("{i},\"Item {i}\",{i}\n").as_bytes());
            if chunk.len() >= 60_000 {
                // Cut mid-row, as a stream would.
                let keep = chunk.split_off(chunk.len() - 5);
                for row in reader.feed(&chunk) {
                    assert!(row.result.is_ok());
                    count += 1;
                }
                chunk = keep;
                most_buffered = most_buffered.max(reader.buffered_bytes());
            }
        }
        count += reader.feed(&chunk).len() as u64;
        let last = reader.finish();
        assert!(last.is_empty());
        assert_eq!(count, 1_000_000);
        assert!(most_buffered <= 2 * 1024, "{most_buffered}");
    }

    #[test]
    fn the_seed_file_holds_the_fourteen_regions_of_uzbekistan() {
        let text = include_str!("../../../../seed/soato-regions.csv");
        let rows = read_all(&[], text.as_bytes());
        assert_eq!(rows.len(), 14);
        let mut codes = BTreeSet::new();
        for row in &rows {
            let d = draft(row);
            let b = d.code.as_bytes();
            assert!(
                b.len() == 4 && b.starts_with(b"17") && b[2..].iter().all(u8::is_ascii_digit),
                "{}",
                d.code
            );
            assert!(codes.insert(d.code.clone()), "{} repeats", d.code);
            assert!(d.parent.is_empty());
            let mut v = Violations::new();
            let item = d.validate_into("seed", &mut v);
            assert!(v.is_empty(), "{}: {v:?}", d.code);
            let item = item.unwrap();
            for language in [
                Language::UzLatn,
                Language::UzCyrl,
                Language::Ru,
                Language::En,
            ] {
                assert!(item.names.contains_key(&language), "{} {language}", d.code);
            }
            // Uzbek Latin writes oʻ and gʻ with U+02BB, never with an ASCII apostrophe.
            assert!(!item.names[&Language::UzLatn].contains('\''), "{}", d.code);
        }
        assert!(codes.contains("1726") && codes.contains("1735"));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::classifier::spec::AttributeKind;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_cell_text_survives_writing_and_reading_in_any_pieces(
            description in "\\PC[\\PC\r\n,\";]{0,20}",
            value in "[\\PC\r\n,\";]{1,20}",
            piece in 1usize..16,
        ) {
            let schema = [AttributeDef {
                key: "label".into(),
                kind: AttributeKind::String,
                required: false,
                pattern: None,
                max_length: None,
            }];
            let mut item = Item::new(crate::classifier::name::Code::from_trusted("1".into()));
            item.description = Some(description.clone());
            item.attributes.insert("label".into(), AttributeValue::String(value.clone()));
            let mut text = csv_header(&Language::ALL, &schema);
            write_csv_item(&item, &Language::ALL, &schema, &mut text);
            write_csv_item(&item, &Language::ALL, &schema, &mut text);
            let mut reader = CsvItemReader::new(&schema);
            let mut rows = Vec::new();
            for chunk in text.chunks(piece) {
                rows.extend(reader.feed(chunk));
            }
            rows.extend(reader.finish());
            prop_assert_eq!(rows.len(), 2);
            for row in rows {
                let draft = row.result.clone().map_err(|p| TestCaseError::fail(format!("{p:?}")))?;
                prop_assert_eq!(&draft.description, &description);
                prop_assert_eq!(
                    &draft.attributes["label"],
                    &AttributeValueDraft::String(value.clone())
                );
            }
        }
    }
}
