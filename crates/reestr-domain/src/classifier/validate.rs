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
//! Linear in the number of items and references (hash lookups), plus sorting the problems:
//! the parent chains are walked once each with memoised levels, and successor cycles are found
//! with an iterative strongly-connected-components pass, so neither a deep hierarchy nor a long
//! cycle costs more than its length, and nothing recurses.
//!
//! Problems come sorted by code, then kind, then field and message, without duplicates.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
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
    let mut out = Vec::new();
    if items.is_empty() {
        out.push(Problem {
            code: String::new(),
            field: "items".into(),
            kind: ProblemKind::NoItems,
            message: "a version must contain at least one item".into(),
        });
        return out;
    }
    let mut index: HashMap<&str, Occurrences> = HashMap::with_capacity(items.len());
    let mut is_first = vec![false; items.len()];
    for (i, item) in items.iter().enumerate() {
        match index.entry(item.code.as_str()) {
            Entry::Occupied(mut e) => e.get_mut().count += 1,
            Entry::Vacant(e) => {
                e.insert(Occurrences { first: i, count: 1 });
                is_first[i] = true;
            }
        }
    }
    for (code, o) in &index {
        if o.count > 1 {
            out.push(problem(
                code,
                "",
                ProblemKind::DuplicateCode,
                format!("the code occurs {} times; codes must be unique", o.count),
            ));
        }
    }
    let checker = Checker {
        spec,
        items,
        index,
        is_first,
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
    for item in items {
        checker.check_item(item, &mut out);
    }
    if spec.hierarchical {
        checker.check_hierarchy(&mut out);
    }
    checker.check_successor_cycles(&mut out);
    out.sort_unstable_by(|a, b| {
        (&a.code, a.kind, &a.field, &a.message).cmp(&(&b.code, b.kind, &b.field, &b.message))
    });
    out.dedup();
    out
}

struct Occurrences {
    first: usize,
    count: usize,
}

struct Checker<'a> {
    spec: &'a ClassifierSpec,
    items: &'a [Item],
    index: HashMap<&'a str, Occurrences>,
    /// Whether each item is the first occurrence of its code.
    is_first: Vec<bool>,
    schema: HashMap<&'a str, &'a AttributeDef>,
    required: Vec<&'a AttributeDef>,
    code_ref_exists: &'a dyn Fn(&ClassifierId, &str) -> bool,
}

/// Where an item's parent link leads.
enum Up {
    Root,
    Missing,
    Node(usize),
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

impl Checker<'_> {
    fn exists(&self, code: &str) -> bool {
        self.index.contains_key(code)
    }

    /// The index of the first item with `code`.
    fn first(&self, code: &str) -> Option<usize> {
        self.index.get(code).map(|o| o.first)
    }

    fn check_item(&self, item: &Item, out: &mut Vec<Problem>) {
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
        if let Some(parent) = &item.parent {
            if !spec.hierarchical {
                out.push(problem(
                    code,
                    ".parent",
                    ProblemKind::ParentInFlatClassifier,
                    "the classifier is not hierarchical, so items have no parent".into(),
                ));
            } else if !self.exists(parent.as_str()) {
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
        self.check_successors(item, out);
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

    fn check_successors(&self, item: &Item, out: &mut Vec<Problem>) {
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
            } else if !self.exists(s) {
                out.push(problem(
                    code,
                    &tail,
                    ProblemKind::SuccessorNotFound,
                    format!("{s:?} is not in this version"),
                ));
            }
        }
    }

    fn up(&self, i: usize) -> Up {
        match &self.items[i].parent {
            None => Up::Root,
            Some(p) => self.first(p.as_str()).map_or(Up::Missing, Up::Node),
        }
    }

    /// Levels and parent cycles, walking each chain once: a walk climbs from an item until it
    /// meets a root, a missing parent, an item whose level is known, or an item of its own
    /// path (a cycle), then hands levels back down the path.
    fn check_hierarchy(&self, out: &mut Vec<Problem>) {
        let n = self.items.len();
        let mut mark = vec![Mark::Unvisited; n];
        let mut path: Vec<usize> = Vec::new();
        for start in 0..n {
            if mark[start] != Mark::Unvisited || !self.is_first[start] {
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
                        match self.up(current) {
                            Up::Root => break Some(0),
                            Up::Missing => break None,
                            Up::Node(p) => current = p,
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
                    let code = self.items[x].code.as_str();
                    out.push(problem(
                        code,
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
                .map(|j| self.items[cycle[(k + j) % len]].code.as_str())
                .collect();
            let shown = if len > CYCLE_CODES_SHOWN {
                chain.push("…");
                chain.join(" → ")
            } else {
                chain.push(self.items[cycle[k]].code.as_str());
                chain.join(" → ")
            };
            let code = self.items[cycle[k]].code.as_str();
            out.push(problem(
                code,
                ".parent",
                ProblemKind::Cycle,
                format!("the parent chain returns to the item ({len} items: {shown})"),
            ));
        }
    }

    /// The successor edges of item `v` that form the successor graph: to existing codes
    /// (through their first occurrence), never to itself.
    fn successor_edge(&self, v: usize, position: usize) -> Option<usize> {
        let item = &self.items[v];
        let s = item.successors.get(position)?.as_str();
        if s == item.code.as_str() {
            return None;
        }
        self.first(s)
    }

    /// Items on successor cycles: the members of strongly connected components of more than
    /// one item, found with Tarjan's algorithm run on an explicit stack.
    fn check_successor_cycles(&self, out: &mut Vec<Problem>) {
        const UNSEEN: usize = usize::MAX;
        let n = self.items.len();
        if self.items.iter().all(|i| i.successors.is_empty()) {
            return;
        }
        let mut order = vec![UNSEEN; n];
        let mut low = vec![0usize; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<usize> = Vec::new();
        // (item, position of the next successor to follow)
        let mut calls: Vec<(usize, usize)> = Vec::new();
        let mut next = 0usize;
        for root in 0..n {
            if order[root] != UNSEEN || !self.is_first[root] {
                continue;
            }
            order[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            calls.push((root, 0));
            while let Some(&mut (v, ref mut position)) = calls.last_mut() {
                if *position < self.items[v].successors.len() {
                    let edge = self.successor_edge(v, *position);
                    *position += 1;
                    let Some(w) = edge else { continue };
                    if order[w] == UNSEEN {
                        order[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, 0));
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
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        for &w in &component {
                            out.push(problem(
                                self.items[w].code.as_str(),
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
