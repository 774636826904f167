//! The checks a version must pass to be published.
//!
//! [`validate_version`] is both `ValidateVersion` (a dry run) and the gate of `Publish`: it
//! returns every [`Problem`] of a version's items against its classifier's
//! [`ClassifierSpec`], never stopping at the first, so an owner can fix a million-item import in
//! one round.
//!
//! # The rules
//!
//! - A version has at least one item ([`ProblemKind::NoItems`], the only version-wide problem,
//!   reported with an empty code).
//! - Codes are unique ([`ProblemKind::DuplicateCode`], once per repeated code) and match the
//!   code pattern.
//! - In a flat classifier no item has a parent. In a hierarchical one a parent exists, the
//!   parent chain never returns to an item ([`ProblemKind::Cycle`], reported for every item on
//!   the cycle), and an item's level — 1 at the top, its parent's level plus 1 below — is at
//!   most `max_depth` ([`ProblemKind::TooDeep`], for every item that is too deep). An item
//!   whose chain ends at a missing parent, or runs into a cycle it is not part of, has no level
//!   and so gets no depth verdict: the missing parent or the cycle is the problem to fix.
//! - Every required language has a non-blank name.
//! - Attributes are in the schema, required ones are present, values have the schema's type,
//!   strings respect `pattern` and `max_length`, and `CODE_REF` values exist in the referenced
//!   classifier (as `code_ref_exists` says: the store answers from its latest published
//!   version).
//! - `valid_from` is not after `valid_to`.
//! - Only deprecated items have successors; a successor exists in the same version, is not
//!   the item itself and is not listed twice; following successors never leads back to an item
//!   ([`ProblemKind::SuccessorCycle`], for every item on such a cycle).
//!
//! When a code occurs more than once, the per-item rules are checked for every occurrence, but
//! the hierarchy and successor chains are followed through its first occurrence only.
//!
//! # Cost
//!
//! Linear in the number of items and references, plus sorting the problems: codes are found by
//! binary search (over the items themselves when their codes ascend, as a stored version's
//! do, or over a permutation of `u32` positions), the parent chains are walked once each with
//! memoised levels, and successor cycles are found with an iterative
//! strongly-connected-components pass, so neither a deep hierarchy nor a long cycle costs more
//! than its length, and nothing recurses.
//!
//! # Memory
//!
//! [`validate_items`] reads a version through an [`ItemSource`], one item at a time, and keeps
//! of each item only positions: a byte per item (is it the first occurrence of its code), a
//! `u32` parent link and an 8-byte level mark in a hierarchical classifier, the successor
//! links, and a `u32` permutation when the codes do not already ascend. The server validates a
//! draft over the encodings it holds in its cache (a few dozen bytes per item besides them),
//! never a decoded copy of every item. [`validate_version`] is the same over `&[Item]`.
//!
//! Problems come sorted by code, then kind, then field and message, without duplicates.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;

use crate::error::{Error, FieldViolation};

use super::item::{AttributeValue, Item, ItemStatus};
use super::name::ClassifierId;
use super::spec::{AttributeDef, AttributeKind, ClassifierSpec};

/// What is wrong. The order of the variants is the order problems of one item are listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// The version has no items.
    NoItems,
    /// The code occurs more than once.
    DuplicateCode,
    /// The code does not match the classifier's `code_pattern`.
    CodePattern,
    /// The item has a parent, but the classifier is flat.
    ParentInFlatClassifier,
    /// The parent code is not in the version.
    MissingParent,
    /// Following parents from the item leads back to it.
    Cycle,
    /// The item is at a level deeper than `max_depth`.
    TooDeep,
    /// No name in a required language.
    MissingName,
    /// An attribute that the schema does not define.
    UnknownAttribute,
    /// A required attribute is absent.
    MissingAttribute,
    /// A value of another type than the schema's.
    AttributeType,
    /// A string value that does not match the attribute's pattern.
    AttributePattern,
    /// A string value longer than the attribute's `max_length`.
    AttributeTooLong,
    /// A `CODE_REF` value that the referenced classifier does not have.
    CodeRefNotFound,
    /// `valid_from` is after `valid_to`.
    ValidityRange,
    /// An active item has successors; only deprecated items are replaced.
    SuccessorOfActive,
    /// The item names itself as a successor.
    SuccessorIsSelf,
    /// A successor is listed twice.
    DuplicateSuccessor,
    /// A successor code is not in the version.
    SuccessorNotFound,
    /// Following successors from the item leads back to it.
    SuccessorCycle,
}

impl ProblemKind {
    /// Every kind.
    pub const ALL: [ProblemKind; 20] = [
        ProblemKind::NoItems,
        ProblemKind::DuplicateCode,
        ProblemKind::CodePattern,
        ProblemKind::ParentInFlatClassifier,
        ProblemKind::MissingParent,
        ProblemKind::Cycle,
        ProblemKind::TooDeep,
        ProblemKind::MissingName,
        ProblemKind::UnknownAttribute,
        ProblemKind::MissingAttribute,
        ProblemKind::AttributeType,
        ProblemKind::AttributePattern,
        ProblemKind::AttributeTooLong,
        ProblemKind::CodeRefNotFound,
        ProblemKind::ValidityRange,
        ProblemKind::SuccessorOfActive,
        ProblemKind::SuccessorIsSelf,
        ProblemKind::DuplicateSuccessor,
        ProblemKind::SuccessorNotFound,
        ProblemKind::SuccessorCycle,
    ];

    /// A stable UPPER_SNAKE name, for logs and error metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::NoItems => "NO_ITEMS",
            ProblemKind::DuplicateCode => "DUPLICATE_CODE",
            ProblemKind::CodePattern => "CODE_PATTERN",
            ProblemKind::ParentInFlatClassifier => "PARENT_IN_FLAT_CLASSIFIER",
            ProblemKind::MissingParent => "MISSING_PARENT",
            ProblemKind::Cycle => "CYCLE",
            ProblemKind::TooDeep => "TOO_DEEP",
            ProblemKind::MissingName => "MISSING_NAME",
            ProblemKind::UnknownAttribute => "UNKNOWN_ATTRIBUTE",
            ProblemKind::MissingAttribute => "MISSING_ATTRIBUTE",
            ProblemKind::AttributeType => "ATTRIBUTE_TYPE",
            ProblemKind::AttributePattern => "ATTRIBUTE_PATTERN",
            ProblemKind::AttributeTooLong => "ATTRIBUTE_TOO_LONG",
            ProblemKind::CodeRefNotFound => "CODE_REF_NOT_FOUND",
            ProblemKind::ValidityRange => "VALIDITY_RANGE",
            ProblemKind::SuccessorOfActive => "SUCCESSOR_OF_ACTIVE",
            ProblemKind::SuccessorIsSelf => "SUCCESSOR_IS_SELF",
            ProblemKind::DuplicateSuccessor => "DUPLICATE_SUCCESSOR",
            ProblemKind::SuccessorNotFound => "SUCCESSOR_NOT_FOUND",
            ProblemKind::SuccessorCycle => "SUCCESSOR_CYCLE",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem of a version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The item's code, or empty for a problem of the whole version.
    pub code: String,
    /// The offending field, e.g. `items["0102"].parent` or
    /// `items["0102"].attributes["center"]`; `items` for a version-wide problem.
    pub field: String,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What is wrong, in plain English.
    pub message: String,
}

impl Problem {
    /// The problem as one field violation of a `google.rpc.BadRequest`.
    pub fn to_violation(&self) -> FieldViolation {
        FieldViolation::new(self.field.clone(), self.message.clone())
    }
}

impl From<Problem> for FieldViolation {
    fn from(p: Problem) -> Self {
        FieldViolation::new(p.field, p.message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.kind)
    }
}

/// `Ok` when there are no problems; otherwise [`Error::InvalidArgument`] with the first `limit`
/// problems as field violations and, when some were left out, a last violation on `items`
/// saying how many — a response must stay small even when a million items are wrong.
pub fn problems_to_error(problems: &[Problem], limit: usize) -> Result<(), Error> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut violations: Vec<FieldViolation> = problems
        .iter()
        .take(limit)
        .map(Problem::to_violation)
        .collect();
    if problems.len() > limit {
        violations.push(FieldViolation::new(
            "items",
            format!(
                "{} not listed here",
                crate::error::more_problems(problems.len() - limit)
            ),
        ));
    }
    Err(Error::InvalidArgument(violations))
}

/// A version's content as the validator reads it: item by item, by position.
///
/// The validator asks for each item once, in position order, and keeps nothing of it but
/// compact indexes (positions as `u32`): a source can decode items on demand from their
/// encodings, so that validating a version costs little beyond the source itself. Codes are
/// asked for often (binary searches) and should be cheap to read.
pub trait ItemSource {
    /// Why an item could not be read (a slice of decoded items never fails).
    type Error;

    /// Number of items.
    fn len(&self) -> usize;

    /// Whether there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The code of item `i`.
    fn code(&self, i: usize) -> &str;

    /// Item `i`.
    fn item(&self, i: usize) -> Result<Cow<'_, Item>, Self::Error>;
}

impl ItemSource for [Item] {
    type Error = Infallible;

    fn len(&self) -> usize {
        <[Item]>::len(self)
    }

    fn code(&self, i: usize) -> &str {
        self[i].code.as_str()
    }

    fn item(&self, i: usize) -> Result<Cow<'_, Item>, Infallible> {
        Ok(Cow::Borrowed(&self[i]))
    }
}

/// Checks `items`, the content of one version, against `spec`, and returns every problem
/// (see the [module documentation](self) for the rules). Empty means the version may be
/// published.
///
/// `code_ref_exists(classifier, code)` says whether `code` exists in the latest published
/// version of `classifier`; it is asked once per `CODE_REF` value.
pub fn validate_version(
    spec: &ClassifierSpec,
    items: &[Item],
    code_ref_exists: &dyn Fn(&ClassifierId, &str) -> bool,
) -> Vec<Problem> {
    match validate_items(spec, items, code_ref_exists) {
        Ok(problems) => problems,
        Err(never) => match never {},
    }
}

/// [`validate_version`] over any [`ItemSource`]: the same problems in the same order, with
/// items read one at a time. Fails only when the source cannot read an item.
///
/// Beside the source it holds a byte per item, a `u32` per item for the parent links of a
/// hierarchical classifier and 8 bytes per level mark, the successor links, and — only when
/// the source's codes do not already ascend — a `u32` per item ordering them.
///
/// # Panics
///
/// With `u32::MAX - 1` items or more (no version in memory can have so many: encoded items
/// are addressed by `u32` offsets).
pub fn validate_items<S: ItemSource + ?Sized>(
    spec: &ClassifierSpec,
    items: &S,
    code_ref_exists: &dyn Fn(&ClassifierId, &str) -> bool,
) -> Result<Vec<Problem>, S::Error> {
    let mut out = Vec::new();
    let n = items.len();
    if n == 0 {
        out.push(Problem {
            code: String::new(),
            field: "items".into(),
            kind: ProblemKind::NoItems,
            message: "a version must contain at least one item".into(),
        });
        return Ok(out);
    }
    assert!(
        n < MISSING as usize,
        "a version of {n} items is too large to validate"
    );
    let codes = Codes::new(items, &mut out);
    let checker = Checker {
        spec,
        codes,
        schema: spec
            .attribute_schema
            .iter()
            .map(|d| (d.key.as_str(), d))
            .collect(),
        required: spec
            .attribute_schema
            .iter()
            .filter(|d| d.required)
            .collect(),
        code_ref_exists,
    };
    let mut parents: Vec<u32> = Vec::with_capacity(if spec.hierarchical { n } else { 0 });
    let mut edges: Vec<(u32, u32)> = Vec::new();
    for i in 0..n {
        let item = items.item(i)?;
        let parent = checker.check_item(i, &item, &mut edges, &mut out);
        if spec.hierarchical {
            parents.push(parent);
        }
    }
    if spec.hierarchical {
        checker.check_hierarchy(&parents, &mut out);
    }
    drop(parents);
    checker.check_successor_cycles(&edges, &mut out);
    out.sort_unstable_by(|a, b| {
        (&a.code, a.kind, &a.field, &a.message).cmp(&(&b.code, b.kind, &b.field, &b.message))
    });
    out.dedup();
    Ok(out)
}

/// "No parent" (top level) in the parent links.
const NONE: u32 = u32::MAX;
/// "Parent code not in the version" in the parent links.
const MISSING: u32 = u32::MAX - 1;

/// The codes of a source, searchable: positions in ascending byte order of code (ties in
/// position order), either the source's own order when its codes already ascend (a stored
/// version always does) or a permutation.
struct Codes<'a, S: ?Sized> {
    source: &'a S,
    /// `None` when position `k` is the `k`-th code.
    order: Option<Vec<u32>>,
    /// Whether each item is the first occurrence of its code.
    is_first: Vec<bool>,
}

impl<'a, S: ItemSource + ?Sized> Codes<'a, S> {
    /// Indexes the codes of `source` and reports every code that occurs more than once.
    fn new(source: &'a S, out: &mut Vec<Problem>) -> Self {
        let n = source.len();
        let ascending = (1..n).all(|i| source.code(i - 1) <= source.code(i));
        let order = (!ascending).then(|| {
            let mut order: Vec<u32> = (0..n).map(position).collect();
            // Stable: equal codes stay in position order, the first occurrence first.
            order.sort_by(|&a, &b| source.code(a as usize).cmp(source.code(b as usize)));
            order
        });
        let mut codes = Codes {
            source,
            order,
            is_first: vec![false; n],
        };
        let mut k = 0;
        while k < n {
            let first = codes.at(k);
            let code = source.code(first);
            let mut end = k + 1;
            while end < n && source.code(codes.at(end)) == code {
                end += 1;
            }
            codes.is_first[first] = true;
            if end - k > 1 {
                out.push(problem(
                    code,
                    "",
                    ProblemKind::DuplicateCode,
                    format!("the code occurs {} times; codes must be unique", end - k),
                ));
            }
            k = end;
        }
        codes
    }

    /// The position of the `k`-th code in code order.
    fn at(&self, k: usize) -> usize {
        match &self.order {
            None => k,
            Some(order) => order[k] as usize,
        }
    }

    /// The position of the first item with `code`.
    fn first(&self, code: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.is_first.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.source.code(self.at(mid)).as_bytes() < code.as_bytes() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < self.is_first.len() && self.source.code(self.at(lo)) == code).then(|| self.at(lo))
    }
}

/// Position `i` as stored in the compact indexes (`validate_items` refuses versions whose
/// positions do not fit).
fn position(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(MISSING)
}

struct Checker<'a, S: ?Sized> {
    spec: &'a ClassifierSpec,
    codes: Codes<'a, S>,
    schema: HashMap<&'a str, &'a AttributeDef>,
    required: Vec<&'a AttributeDef>,
    code_ref_exists: &'a dyn Fn(&ClassifierId, &str) -> bool,
}

/// What the hierarchy walk knows of an item.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Unvisited,
    OnPath,
    Level(u32),
    NoLevel,
}

fn problem(code: &str, field_tail: &str, kind: ProblemKind, message: String) -> Problem {
    Problem {
        code: code.to_string(),
        field: format!("items[{code:?}]{field_tail}"),
        kind,
        message,
    }
}

/// At most this many codes are spelled out when a message lists a cycle.
const CYCLE_CODES_SHOWN: usize = 8;

impl<S: ItemSource + ?Sized> Checker<'_, S> {
    fn code(&self, i: usize) -> &str {
        self.codes.source.code(i)
    }

    /// Checks item `i` on its own, and returns its parent link ([`NONE`], [`MISSING`] or the
    /// position of the parent's first occurrence; [`NONE`] in a flat classifier). When `i` is
    /// the first occurrence of its code, its successor links (to the first occurrences of
    /// existing codes other than its own, in the order listed) are added to `edges`.
    fn check_item(
        &self,
        i: usize,
        item: &Item,
        edges: &mut Vec<(u32, u32)>,
        out: &mut Vec<Problem>,
    ) -> u32 {
        let code = item.code.as_str();
        let spec = self.spec;
        if !spec.code_pattern.is_match(code) {
            out.push(problem(
                code,
                ".code",
                ProblemKind::CodePattern,
                format!(
                    "does not match the classifier's code pattern {}",
                    spec.code_pattern
                ),
            ));
        }
        let mut link = NONE;
        if let Some(parent) = &item.parent {
            if !spec.hierarchical {
                out.push(problem(
                    code,
                    ".parent",
                    ProblemKind::ParentInFlatClassifier,
                    "the classifier is not hierarchical, so items have no parent".into(),
                ));
            } else if let Some(p) = self.codes.first(parent.as_str()) {
                link = position(p);
            } else {
                link = MISSING;
                out.push(problem(
                    code,
                    ".parent",
                    ProblemKind::MissingParent,
                    format!("the parent {:?} is not in this version", parent.as_str()),
                ));
            }
        }
        for lang in &spec.required_languages {
            if item.names.get(lang).is_none_or(|n| n.trim().is_empty()) {
                out.push(problem(
                    code,
                    &format!(".names[{:?}]", lang.tag()),
                    ProblemKind::MissingName,
                    format!("a name in {} is required", lang.tag()),
                ));
            }
        }
        self.check_attributes(item, out);
        if let (Some(from), Some(to)) = (item.valid_from, item.valid_to)
            && from > to
        {
            out.push(problem(
                code,
                ".valid_to",
                ProblemKind::ValidityRange,
                format!("valid_to {to} is before valid_from {from}"),
            ));
        }
        let first = self.codes.is_first[i];
        self.check_successors(item, first.then_some((position(i), edges)), out);
        link
    }

    fn check_attributes(&self, item: &Item, out: &mut Vec<Problem>) {
        let code = item.code.as_str();
        for (key, value) in &item.attributes {
            let tail = format!(".attributes[{key:?}]");
            let Some(def) = self.schema.get(key.as_str()) else {
                out.push(problem(
                    code,
                    &tail,
                    ProblemKind::UnknownAttribute,
                    "is not in the classifier's attribute schema".into(),
                ));
                continue;
            };
            let expected = def.kind.value_type();
            if value.value_type() != expected {
                out.push(problem(
                    code,
                    &tail,
                    ProblemKind::AttributeType,
                    format!("must be {expected}, not {}", value.value_type()),
                ));
                continue;
            }
            match (value, &def.kind) {
                (AttributeValue::String(s), _) => {
                    if let Some(max) = def.max_length
                        && s.chars().count() > max as usize
                    {
                        out.push(problem(
                            code,
                            &tail,
                            ProblemKind::AttributeTooLong,
                            format!("must be at most {max} characters"),
                        ));
                    }
                    if let Some(pattern) = &def.pattern
                        && !pattern.is_match(s)
                    {
                        out.push(problem(
                            code,
                            &tail,
                            ProblemKind::AttributePattern,
                            format!("does not match the attribute's pattern {pattern}"),
                        ));
                    }
                }
                (AttributeValue::CodeRef(target), AttributeKind::CodeRef(classifier))
                    if !(self.code_ref_exists)(classifier, target.as_str()) =>
                {
                    out.push(problem(
                        code,
                        &tail,
                        ProblemKind::CodeRefNotFound,
                        format!(
                            "{:?} is not a code of the latest published version of {classifier}",
                            target.as_str()
                        ),
                    ));
                }
                _ => {}
            }
        }
        for def in &self.required {
            if !item.attributes.contains_key(&def.key) {
                out.push(problem(
                    code,
                    &format!(".attributes[{:?}]", def.key),
                    ProblemKind::MissingAttribute,
                    "is required".into(),
                ));
            }
        }
    }

    /// Checks the successors of `item`; with `edges`, also records its links to the first
    /// occurrences of its successors (other than itself) as `(from, to)`.
    fn check_successors(
        &self,
        item: &Item,
        mut edges: Option<(u32, &mut Vec<(u32, u32)>)>,
        out: &mut Vec<Problem>,
    ) {
        if item.successors.is_empty() {
            return;
        }
        let code = item.code.as_str();
        if item.status == ItemStatus::Active {
            out.push(problem(
                code,
                ".successors",
                ProblemKind::SuccessorOfActive,
                "only a DEPRECATED item has successors".into(),
            ));
        }
        let mut seen = HashSet::with_capacity(item.successors.len());
        for (i, successor) in item.successors.iter().enumerate() {
            let s = successor.as_str();
            let target = if s == code { None } else { self.codes.first(s) };
            if let (Some((from, edges)), Some(to)) = (edges.as_mut(), target) {
                edges.push((*from, position(to)));
            }
            let tail = format!(".successors[{i}]");
            if !seen.insert(s) {
                out.push(problem(
                    code,
                    &tail,
                    ProblemKind::DuplicateSuccessor,
                    format!("{s:?} is listed twice"),
                ));
            } else if s == code {
                out.push(problem(
                    code,
                    &tail,
                    ProblemKind::SuccessorIsSelf,
                    "an item cannot succeed itself".into(),
                ));
            } else if target.is_none() {
                out.push(problem(
                    code,
                    &tail,
                    ProblemKind::SuccessorNotFound,
                    format!("{s:?} is not in this version"),
                ));
            }
        }
    }

    /// Levels and parent cycles, walking each chain once: a walk climbs from an item until it
    /// meets a root, a missing parent, an item whose level is known, or an item of its own
    /// path (a cycle), then hands levels back down the path. `parents` holds every item's
    /// parent link (see [`Checker::check_item`]).
    fn check_hierarchy(&self, parents: &[u32], out: &mut Vec<Problem>) {
        let n = parents.len();
        let mut mark = vec![Mark::Unvisited; n];
        let mut path: Vec<usize> = Vec::new();
        for start in 0..n {
            if mark[start] != Mark::Unvisited || !self.codes.is_first[start] {
                continue;
            }
            let mut current = start;
            let base: Option<u32> = loop {
                match mark[current] {
                    Mark::Level(l) => break Some(l),
                    Mark::NoLevel => break None,
                    Mark::OnPath => {
                        let at = path.iter().rposition(|&x| x == current).unwrap_or(0);
                        let cycle = path.split_off(at);
                        self.report_cycle(&cycle, out);
                        for &x in &cycle {
                            mark[x] = Mark::NoLevel;
                        }
                        break None;
                    }
                    Mark::Unvisited => {
                        mark[current] = Mark::OnPath;
                        path.push(current);
                        match parents[current] {
                            NONE => break Some(0),
                            MISSING => break None,
                            p => current = p as usize,
                        }
                    }
                }
            };
            let mut level = base;
            while let Some(x) = path.pop() {
                level = level.map(|l| l.saturating_add(1));
                mark[x] = level.map_or(Mark::NoLevel, Mark::Level);
                if let Some(l) = level
                    && l > self.spec.max_depth
                {
                    out.push(problem(
                        self.code(x),
                        ".parent",
                        ProblemKind::TooDeep,
                        format!(
                            "the item is at level {l}; this classifier has at most {} levels",
                            self.spec.max_depth
                        ),
                    ));
                }
            }
        }
    }

    /// Reports every item of a parent cycle, listed from that item upwards.
    fn report_cycle(&self, cycle: &[usize], out: &mut Vec<Problem>) {
        let len = cycle.len();
        for k in 0..len {
            let mut chain: Vec<&str> = (0..len.min(CYCLE_CODES_SHOWN))
                .map(|j| self.code(cycle[(k + j) % len]))
                .collect();
            let shown = if len > CYCLE_CODES_SHOWN {
                chain.push("…");
                chain.join(" → ")
            } else {
                chain.push(self.code(cycle[k]));
                chain.join(" → ")
            };
            out.push(problem(
                self.code(cycle[k]),
                ".parent",
                ProblemKind::Cycle,
                format!("the parent chain returns to the item ({len} items: {shown})"),
            ));
        }
    }

    /// Items on successor cycles: the members of strongly connected components of more than
    /// one item, found with Tarjan's algorithm run on an explicit stack. `edges` are the
    /// successor links `(from, to)`, grouped by `from` in ascending order (as
    /// [`Checker::check_item`] records them).
    fn check_successor_cycles(&self, edges: &[(u32, u32)], out: &mut Vec<Problem>) {
        const UNSEEN: u32 = u32::MAX;
        if edges.is_empty() {
            return;
        }
        let n = self.codes.is_first.len();
        // The links of item `v` are `edges[start[v]..start[v + 1]]`.
        let mut start = vec![0u32; n + 1];
        for &(from, _) in edges {
            start[from as usize + 1] += 1;
        }
        for v in 0..n {
            start[v + 1] += start[v];
        }
        let mut order = vec![UNSEEN; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        // (item, index in `edges` of the next link to follow)
        let mut calls: Vec<(usize, usize)> = Vec::new();
        let mut next = 0u32;
        for root in 0..n {
            if order[root] != UNSEEN || !self.codes.is_first[root] {
                continue;
            }
            order[root] = next;
            low[root] = next;
            next += 1;
            stack.push(position(root));
            on_stack[root] = true;
            calls.push((root, start[root] as usize));
            while let Some(&mut (v, ref mut link)) = calls.last_mut() {
                if *link < start[v + 1] as usize {
                    let w = edges[*link].1 as usize;
                    *link += 1;
                    if order[w] == UNSEEN {
                        order[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(position(w));
                        on_stack[w] = true;
                        calls.push((w, start[w] as usize));
                    } else if on_stack[w] {
                        low[v] = low[v].min(order[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == order[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        let w = w as usize;
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        for &w in &component {
                            out.push(problem(
                                self.code(w),
                                ".successors",
                                ProblemKind::SuccessorCycle,
                                format!(
                                    "following successors leads back to the item \
                                     ({} items replace each other in a circle)",
                                    component.len()
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::classifier::item::Decimal;
    use crate::classifier::name::Code;
    use crate::classifier::pattern::Pattern;
    use crate::organization::OrganizationId;
    use crate::text::{Language, LocalizedText};
    use crate::time::Date;

    fn code(s: &str) -> Code {
        Code::from_trusted(s.to_string())
    }

    fn spec() -> ClassifierSpec {
        ClassifierSpec {
            owner: OrganizationId::from_trusted("stat".into()),
            display_name: LocalizedText::from_trusted([("en".into(), "Regions".into())].into()),
            description: None,
            legal_basis: vec![],
            code_pattern: Pattern::compile("[0-9]{2}").unwrap(),
            hierarchical: true,
            max_depth: 3,
            required_languages: BTreeSet::from([Language::Ru]),
            attribute_schema: vec![
                AttributeDef {
                    key: "center".into(),
                    kind: AttributeKind::String,
                    required: true,
                    pattern: Some(Pattern::compile("[A-Z][a-z]+").unwrap()),
                    max_length: Some(8),
                },
                AttributeDef {
                    key: "population".into(),
                    kind: AttributeKind::Integer,
                    required: false,
                    pattern: None,
                    max_length: None,
                },
                AttributeDef {
                    key: "okpo".into(),
                    kind: AttributeKind::CodeRef(ClassifierId::from_trusted("okpo".into())),
                    required: false,
                    pattern: None,
                    max_length: None,
                },
            ],
        }
    }

    /// A valid item under `parent`.
    fn item(c: &str, parent: Option<&str>) -> Item {
        Item {
            parent: parent.map(code),
            names: BTreeMap::from([(Language::Ru, format!("Регион {c}"))]),
            attributes: BTreeMap::from([(
                "center".to_string(),
                AttributeValue::String("Nukus".into()),
            )]),
            ..Item::new(code(c))
        }
    }

    fn okpo_has(_: &ClassifierId, c: &str) -> bool {
        c == "100"
    }

    fn kinds(items: &[Item]) -> Vec<(String, ProblemKind)> {
        kinds_with(&spec(), items)
    }

    fn kinds_with(spec: &ClassifierSpec, items: &[Item]) -> Vec<(String, ProblemKind)> {
        validate_version(spec, items, &okpo_has)
            .into_iter()
            .map(|p| (p.code, p.kind))
            .collect()
    }

    fn k(c: &str, kind: ProblemKind) -> (String, ProblemKind) {
        (c.to_string(), kind)
    }

    #[test]
    fn a_valid_hierarchy_has_no_problems() {
        let items = [
            item("01", None),
            item("02", Some("01")),
            item("03", Some("02")),
        ];
        assert_eq!(kinds(&items), []);
    }

    #[test]
    fn an_empty_version_cannot_be_published() {
        let problems = validate_version(&spec(), &[], &okpo_has);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::NoItems);
        assert_eq!(problems[0].code, "");
        assert_eq!(problems[0].field, "items");
    }

    #[test]
    fn duplicate_codes_are_reported_once_per_code() {
        let items = [item("01", None), item("01", None), item("01", None)];
        let problems = validate_version(&spec(), &items, &okpo_has);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::DuplicateCode);
        assert_eq!(problems[0].field, "items[\"01\"]");
        assert!(problems[0].message.contains("3 times"));
    }

    #[test]
    fn codes_must_match_the_code_pattern() {
        let problems = validate_version(&spec(), &[item("1", None)], &okpo_has);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::CodePattern);
        assert_eq!(problems[0].field, "items[\"1\"].code");
    }

    #[test]
    fn a_parent_must_exist() {
        assert_eq!(
            kinds(&[item("01", Some("99"))]),
            [k("01", ProblemKind::MissingParent)]
        );
    }

    #[test]
    fn flat_classifiers_refuse_parents() {
        let mut flat = spec();
        flat.hierarchical = false;
        flat.max_depth = 1;
        let items = [
            item("01", None),
            item("02", Some("01")),
            item("03", Some("03")),
        ];
        assert_eq!(
            kinds_with(&flat, &items),
            [
                k("02", ProblemKind::ParentInFlatClassifier),
                k("03", ProblemKind::ParentInFlatClassifier),
            ]
        );
    }

    #[test]
    fn every_item_on_a_parent_cycle_is_reported_but_not_items_hanging_below_it() {
        let items = [
            item("01", Some("03")),
            item("02", Some("01")),
            item("03", Some("02")),
            item("04", Some("03")),
            item("05", Some("05")),
            item("06", None),
        ];
        assert_eq!(
            kinds(&items),
            [
                k("01", ProblemKind::Cycle),
                k("02", ProblemKind::Cycle),
                k("03", ProblemKind::Cycle),
                k("05", ProblemKind::Cycle),
            ]
        );
        let problems = validate_version(&spec(), &items, &okpo_has);
        assert_eq!(
            problems[0].message,
            "the parent chain returns to the item (3 items: 01 → 03 → 02 → 01)"
        );
    }

    #[test]
    fn every_item_deeper_than_max_depth_is_reported() {
        let items = [
            item("05", Some("04")),
            item("04", Some("03")),
            item("03", Some("02")),
            item("02", Some("01")),
            item("01", None),
        ];
        assert_eq!(
            kinds(&items),
            [k("04", ProblemKind::TooDeep), k("05", ProblemKind::TooDeep)]
        );
        let problems = validate_version(&spec(), &items, &okpo_has);
        assert!(problems[1].message.contains("level 5"));
    }

    #[test]
    fn items_below_a_missing_parent_get_no_depth_verdict() {
        let items = [
            item("01", Some("99")),
            item("02", Some("01")),
            item("03", Some("02")),
            item("04", Some("03")),
        ];
        assert_eq!(kinds(&items), [k("01", ProblemKind::MissingParent)]);
    }

    #[test]
    fn a_deep_chain_is_checked_without_recursion() {
        let mut deep = spec();
        deep.code_pattern = Pattern::compile("[0-9]+").unwrap();
        deep.max_depth = 16;
        let n = 200_000;
        let mut items: Vec<Item> = (0..n)
            .map(|i| {
                item(
                    &i.to_string(),
                    (i > 0).then(|| (i - 1).to_string()).as_deref(),
                )
            })
            .collect();
        assert_eq!(validate_version(&deep, &items, &okpo_has).len(), n - 16);
        // Close the chain into one long cycle.
        items[0].parent = Some(code(&(n - 1).to_string()));
        let problems = validate_version(&deep, &items, &okpo_has);
        assert_eq!(problems.len(), n);
        assert!(problems.iter().all(|p| p.kind == ProblemKind::Cycle));
        assert!(problems[0].message.contains("…"));
    }

    #[test]
    fn a_name_is_required_in_every_required_language() {
        let mut s = spec();
        s.required_languages = BTreeSet::from([Language::Ru, Language::UzLatn]);
        let mut blank = item("01", None);
        blank.names.insert(Language::UzLatn, "  ".into());
        let problems = validate_version(&s, &[blank], &okpo_has);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::MissingName);
        assert_eq!(problems[0].field, "items[\"01\"].names[\"uz-Latn\"]");
    }

    #[test]
    fn attributes_outside_the_schema_are_unknown() {
        let mut i = item("01", None);
        i.attributes
            .insert("colour".into(), AttributeValue::Boolean(true));
        let problems = validate_version(&spec(), &[i], &okpo_has);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::UnknownAttribute);
        assert_eq!(problems[0].field, "items[\"01\"].attributes[\"colour\"]");
    }

    #[test]
    fn required_attributes_must_be_present() {
        let mut i = item("01", None);
        i.attributes.clear();
        assert_eq!(kinds(&[i]), [k("01", ProblemKind::MissingAttribute)]);
    }

    #[test]
    fn attribute_values_must_have_the_schema_type() {
        let mut i = item("01", None);
        i.attributes.insert(
            "population".into(),
            AttributeValue::Decimal(Decimal::parse("1.5").unwrap()),
        );
        let problems = validate_version(&spec(), &[i], &okpo_has);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::AttributeType);
        assert_eq!(problems[0].message, "must be INTEGER, not DECIMAL");
    }

    #[test]
    fn string_attributes_must_match_their_pattern_and_length() {
        let mut bad_pattern = item("01", None);
        bad_pattern
            .attributes
            .insert("center".into(), AttributeValue::String("nukus".into()));
        let mut too_long = item("02", None);
        too_long
            .attributes
            .insert("center".into(), AttributeValue::String("Karakalpak".into()));
        let mut both = item("03", None);
        both.attributes
            .insert("center".into(), AttributeValue::String("karakalpak".into()));
        assert_eq!(
            kinds(&[bad_pattern, too_long, both]),
            [
                k("01", ProblemKind::AttributePattern),
                k("02", ProblemKind::AttributeTooLong),
                k("03", ProblemKind::AttributePattern),
                k("03", ProblemKind::AttributeTooLong),
            ]
        );
    }

    #[test]
    fn code_refs_must_exist_in_the_referenced_classifier() {
        let mut found = item("01", None);
        found
            .attributes
            .insert("okpo".into(), AttributeValue::CodeRef(code("100")));
        let mut missing = item("02", None);
        missing
            .attributes
            .insert("okpo".into(), AttributeValue::CodeRef(code("200")));
        let problems = validate_version(&spec(), &[found, missing], &okpo_has);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::CodeRefNotFound);
        assert_eq!(
            problems[0].message,
            "\"200\" is not a code of the latest published version of classifiers/okpo"
        );
    }

    #[test]
    fn valid_from_must_not_be_after_valid_to() {
        let d = |s| Date::parse(s).ok();
        let mut same_day = item("01", None);
        same_day.valid_from = d("2026-01-01");
        same_day.valid_to = d("2026-01-01");
        let mut reversed = item("02", None);
        reversed.valid_from = d("2026-01-02");
        reversed.valid_to = d("2026-01-01");
        assert_eq!(
            kinds(&[same_day, reversed]),
            [k("02", ProblemKind::ValidityRange)]
        );
    }

    #[test]
    fn only_deprecated_items_have_successors() {
        let mut active = item("01", None);
        active.successors = vec![code("02")];
        assert_eq!(
            kinds(&[active, item("02", None)]),
            [k("01", ProblemKind::SuccessorOfActive)]
        );
    }

    #[test]
    fn successors_must_exist_differ_from_the_item_and_be_listed_once() {
        let mut old = item("01", None);
        old.status = ItemStatus::Deprecated;
        old.successors = vec![code("02"), code("99"), code("01"), code("02")];
        let problems = validate_version(&spec(), &[old, item("02", None)], &okpo_has);
        let got: Vec<_> = problems
            .iter()
            .map(|p| (p.kind, p.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (ProblemKind::SuccessorIsSelf, "items[\"01\"].successors[2]"),
                (
                    ProblemKind::DuplicateSuccessor,
                    "items[\"01\"].successors[3]"
                ),
                (
                    ProblemKind::SuccessorNotFound,
                    "items[\"01\"].successors[1]"
                ),
            ]
        );
    }

    #[test]
    fn every_item_on_a_successor_cycle_is_reported() {
        let deprecated = |c: &str, to: &[&str]| Item {
            status: ItemStatus::Deprecated,
            successors: to.iter().map(|s| code(s)).collect(),
            ..item(c, None)
        };
        // 01 → 02 → 03 → 01 is a cycle; 04 → 01 leads into it; 05 → 06 ends at an active item.
        let items = [
            deprecated("01", &["02"]),
            deprecated("02", &["03", "06"]),
            deprecated("03", &["01"]),
            deprecated("04", &["01"]),
            deprecated("05", &["06"]),
            item("06", None),
        ];
        assert_eq!(
            kinds(&items),
            [
                k("01", ProblemKind::SuccessorCycle),
                k("02", ProblemKind::SuccessorCycle),
                k("03", ProblemKind::SuccessorCycle),
            ]
        );
    }

    #[test]
    fn problems_are_sorted_by_code_then_kind() {
        let mut a = item("1", Some("99"));
        a.names.clear();
        let items = [item("03", None), a, item("02", None), item("02", None)];
        assert_eq!(
            kinds(&items),
            [
                k("02", ProblemKind::DuplicateCode),
                k("1", ProblemKind::CodePattern),
                k("1", ProblemKind::MissingParent),
                k("1", ProblemKind::MissingName),
            ]
        );
    }

    #[test]
    fn problems_become_field_violations_and_a_capped_error() {
        let items = [item("1", None), item("2", None), item("3", None)];
        let problems = validate_version(&spec(), &items, &okpo_has);
        assert_eq!(problems.len(), 3);
        let v = FieldViolation::from(problems[0].clone());
        assert_eq!(v.field, "items[\"1\"].code");
        assert_eq!(v.description, problems[0].message);
        assert_eq!(problems_to_error(&[], 10), Ok(()));
        let Err(Error::InvalidArgument(list)) = problems_to_error(&problems, 2) else {
            panic!("expected invalid argument");
        };
        assert_eq!(list.len(), 3);
        assert_eq!(list[2].field, "items");
        assert_eq!(list[2].description, "1 more problem not listed here");
    }

    #[test]
    fn problem_kind_names_are_distinct() {
        let names: BTreeSet<&str> = ProblemKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ProblemKind::ALL.len());
    }

    #[test]
    #[ignore = "timing run: cargo test --release -- --ignored validates_a_million"]
    fn validates_a_million_items_quickly() {
        let mut s = spec();
        s.code_pattern = Pattern::compile("[0-9]+").unwrap();
        let n = 1_000_000usize;
        let items: Vec<Item> = (0..n)
            .map(|i| {
                // Levels 1 (0..100), 2 (100..10,000) and 3 (the rest).
                let parent = (i >= 100).then_some(i / 100);
                item(&i.to_string(), parent.map(|p| p.to_string()).as_deref())
            })
            .collect();
        let started = std::time::Instant::now();
        let problems = validate_version(&s, &items, &okpo_has);
        let took = started.elapsed();
        eprintln!("validated {n} items in {took:?}");
        assert!(problems.is_empty(), "{:?}", problems.first());
        let started = std::time::Instant::now();
        let hash = crate::classifier::hash::content_hash(&items);
        eprintln!("hashed {n} items in {:?}: {hash}", started.elapsed());
    }
}
