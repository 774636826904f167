//! Property tests of the version validator against an independent, deliberately naive checker.
//!
//! The generator draws small random versions from a tiny code alphabet, so duplicate codes,
//! missing and self-referencing parents, parent and successor cycles, deep chains, missing
//! names and every kind of attribute mistake all happen often. The naive checker below is
//! written from the rules in `validate.rs`'s documentation with plain loops and linear
//! searches (quadratic and worse, which is fine for ten items), sharing no code with the
//! validator beyond the data types.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::codec::{decode_item, encoded_code, encoded_item};
use super::diff::diff;
use super::hash::content_hash;
use super::item::{AttributeValue, Decimal, Item, ItemStatus};
use super::name::{ClassifierId, Code};
use super::pattern::Pattern;
use super::spec::{AttributeDef, AttributeKind, ClassifierSpec};
use super::validate::{ItemSource, ProblemKind, validate_items, validate_version};
use crate::error::Error;
use crate::organization::OrganizationId;
use crate::text::{Language, LocalizedText};
use crate::time::Date;

/// Codes items are drawn from. The pattern is `[A-Z]+`, so the last two never match.
const CODES: [&str; 8] = ["A", "B", "C", "AB", "BA", "Q", "1", "b"];
/// Codes parents and successors are drawn from: the item codes and one that never exists.
const REFERENCES: [&str; 9] = ["A", "B", "C", "AB", "BA", "Q", "1", "b", "Z"];
const LANGUAGES: [Language; 3] = [Language::UzLatn, Language::Ru, Language::En];
const NAMES: [&str; 3] = ["", " ", "Nom"];
const KEYS: [&str; 6] = ["label", "size", "flag", "ref", "day", "extra"];
const DATES: [&str; 4] = ["2020-01-01", "2024-02-29", "2024-03-01", "2030-12-31"];
/// The only codes the referenced classifier has.
const REFERENCED: [&str; 2] = ["R1", "R2"];

fn value(n: usize) -> AttributeValue {
    match n {
        0 => AttributeValue::String("abc".into()),
        1 => AttributeValue::String("abcdef".into()),
        2 => AttributeValue::String("Abc".into()),
        3 => AttributeValue::String("ABCDEFG".into()),
        4 => AttributeValue::Integer(5),
        5 => AttributeValue::Boolean(true),
        6 => AttributeValue::Date(date(1)),
        7 => AttributeValue::CodeRef(Code::from_trusted("R1".into())),
        8 => AttributeValue::CodeRef(Code::from_trusted("R9".into())),
        _ => AttributeValue::Decimal(Decimal::parse("1.5").unwrap()),
    }
}

fn date(n: usize) -> Date {
    Date::parse(DATES[n]).unwrap()
}

fn code(s: &str) -> Code {
    Code::from_trusted(s.to_string())
}

fn make_spec(
    hierarchical: bool,
    depth: u32,
    languages: u8,
    label_required: bool,
    size_required: bool,
) -> ClassifierSpec {
    ClassifierSpec {
        owner: OrganizationId::from_trusted("stat".into()),
        display_name: LocalizedText::from_trusted([("en".into(), "Test".into())].into()),
        description: None,
        legal_basis: vec![],
        code_pattern: Pattern::compile("[A-Z]+").unwrap(),
        hierarchical,
        max_depth: if hierarchical { depth } else { 1 },
        required_languages: LANGUAGES
            .iter()
            .enumerate()
            .filter(|(i, _)| languages & (1 << i) != 0)
            .map(|(_, l)| *l)
            .collect(),
        attribute_schema: vec![
            AttributeDef {
                key: "label".into(),
                kind: AttributeKind::String,
                required: label_required,
                pattern: Some(Pattern::compile("[a-z]+").unwrap()),
                max_length: Some(4),
            },
            AttributeDef {
                key: "size".into(),
                kind: AttributeKind::Integer,
                required: size_required,
                pattern: None,
                max_length: None,
            },
            AttributeDef {
                key: "flag".into(),
                kind: AttributeKind::Boolean,
                required: false,
                pattern: None,
                max_length: None,
            },
            AttributeDef {
                key: "ref".into(),
                kind: AttributeKind::CodeRef(ClassifierId::from_trusted("refs".into())),
                required: false,
                pattern: None,
                max_length: None,
            },
            AttributeDef {
                key: "day".into(),
                kind: AttributeKind::Date,
                required: false,
                pattern: None,
                max_length: None,
            },
        ],
    }
}

fn spec_strategy() -> impl Strategy<Value = ClassifierSpec> {
    (
        any::<bool>(),
        1u32..=4,
        1u8..8,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(h, d, l, a, b)| make_spec(h, d, l, a, b))
}

fn item_strategy() -> impl Strategy<Value = Item> {
    (
        0..CODES.len(),
        proptest::option::weighted(0.7, 0..REFERENCES.len()),
        proptest::collection::vec(proptest::option::of(0..NAMES.len()), LANGUAGES.len()),
        proptest::collection::btree_map(0..KEYS.len(), 0usize..10, 0..4),
        proptest::option::of(0..DATES.len()),
        proptest::option::of(0..DATES.len()),
        any::<bool>(),
        proptest::collection::vec(0..REFERENCES.len(), 0..3),
    )
        .prop_map(
            |(c, parent, names, attrs, from, to, deprecated, successors)| Item {
                code: code(CODES[c]),
                parent: parent.map(|p| code(REFERENCES[p])),
                names: names
                    .into_iter()
                    .zip(LANGUAGES)
                    .filter_map(|(n, lang)| n.map(|n| (lang, NAMES[n].to_string())))
                    .collect(),
                description: None,
                attributes: attrs
                    .into_iter()
                    .map(|(k, v)| (KEYS[k].to_string(), value(v)))
                    .collect(),
                valid_from: from.map(date),
                valid_to: to.map(date),
                status: if deprecated {
                    ItemStatus::Deprecated
                } else {
                    ItemStatus::Active
                },
                successors: successors
                    .into_iter()
                    .map(|s| code(REFERENCES[s]))
                    .collect(),
            },
        )
}

/// Codes of the wide versions: two capital letters, `AA` to `BZ`, so that long parent chains,
/// long cycles (more codes than a message spells out) and deep levels happen.
fn wide_code(k: usize) -> String {
    let letter = |n: usize| char::from(b'A' + u8::try_from(n % 26).unwrap_or(0));
    format!("{}{}", letter(k / 26), letter(k))
}

/// Items of a wide version: `codes` distinct codes at most (so duplicates happen), parents
/// and successors among them or missing, names and attributes sometimes wrong.
fn wide_item_strategy(codes: usize) -> impl Strategy<Value = Item> {
    (
        0..codes,
        proptest::option::weighted(0.85, 0..codes + 2),
        proptest::collection::vec(
            proptest::option::weighted(0.9, 0..NAMES.len()),
            LANGUAGES.len(),
        ),
        proptest::collection::btree_map(0..KEYS.len(), 0usize..10, 0..2),
        any::<bool>(),
        proptest::collection::vec(0..codes + 2, 0..3),
    )
        .prop_map(
            move |(c, parent, names, attrs, deprecated, successors)| Item {
                code: code(&wide_code(c)),
                parent: parent.map(|p| code(&wide_code(p))),
                names: names
                    .into_iter()
                    .zip(LANGUAGES)
                    .filter_map(|(n, lang)| n.map(|n| (lang, NAMES[n].to_string())))
                    .collect(),
                description: None,
                attributes: attrs
                    .into_iter()
                    .map(|(k, v)| (KEYS[k].to_string(), value(v)))
                    .collect(),
                valid_from: None,
                valid_to: None,
                status: if deprecated {
                    ItemStatus::Deprecated
                } else {
                    ItemStatus::Active
                },
                successors: successors
                    .into_iter()
                    .map(|s| code(&wide_code(s)))
                    .collect(),
            },
        )
}

/// A version as the server holds it: the canonical encodings in ascending code order (equal
/// codes side by side), read back one item at a time.
struct Encoded(Vec<Vec<u8>>);

impl Encoded {
    /// `items` sorted by code (stably: equal codes keep their order) and encoded; returns the
    /// sorted items too.
    fn of(items: &[Item]) -> (Encoded, Vec<Item>) {
        let mut sorted = items.to_vec();
        sorted.sort_by(|a, b| a.code.cmp(&b.code));
        (Encoded(sorted.iter().map(encoded_item).collect()), sorted)
    }
}

impl ItemSource for Encoded {
    type Error = Error;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn code(&self, i: usize) -> &str {
        encoded_code(&self.0[i]).unwrap_or_default()
    }

    fn item(&self, i: usize) -> Result<std::borrow::Cow<'_, Item>, Error> {
        decode_item(&self.0[i]).map(std::borrow::Cow::Owned)
    }
}

/// The validator over sorted encodings (the server's case: codes found by binary search, one
/// item decoded at a time) against the same validator over the decoded items in the order
/// given (codes found through a map): the same problems, fields, messages and order.
fn same_over_encodings(spec: &ClassifierSpec, items: &[Item]) -> Result<(), TestCaseError> {
    let (encoded, sorted) = Encoded::of(items);
    let decoded = validate_version(spec, &sorted, &refs_exist);
    let streamed = validate_items(spec, &encoded, &refs_exist);
    prop_assert_eq!(streamed.as_ref().ok(), Some(&decoded));
    // The order of the items changes where problems are reported, never whether.
    let unsorted = validate_version(spec, items, &refs_exist);
    prop_assert_eq!(unsorted.is_empty(), decoded.is_empty());
    Ok(())
}

fn refs_exist(classifier: &ClassifierId, c: &str) -> bool {
    classifier.as_str() == "refs" && REFERENCED.contains(&c)
}

/// The naive checker: every rule as a straightforward loop.
fn naive_problems(spec: &ClassifierSpec, items: &[Item]) -> BTreeSet<(String, ProblemKind)> {
    use ProblemKind as K;
    let mut found = BTreeSet::new();
    let mut report = |c: &str, k: ProblemKind| {
        found.insert((c.to_string(), k));
    };
    if items.is_empty() {
        report("", K::NoItems);
        return found;
    }
    let exists = |c: &str| items.iter().any(|i| i.code.as_str() == c);
    let first_index = |c: &str| items.iter().position(|i| i.code.as_str() == c);

    for item in items {
        let c = item.code.as_str();
        if items.iter().filter(|o| o.code == item.code).count() > 1 {
            report(c, K::DuplicateCode);
        }
        // The pattern [A-Z]+, checked by hand.
        if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
            report(c, K::CodePattern);
        }
        if let Some(p) = &item.parent {
            if !spec.hierarchical {
                report(c, K::ParentInFlatClassifier);
            } else if !exists(p.as_str()) {
                report(c, K::MissingParent);
            }
        }
        for lang in &spec.required_languages {
            let ok = match item.names.get(lang) {
                Some(n) => !n.trim().is_empty(),
                None => false,
            };
            if !ok {
                report(c, K::MissingName);
            }
        }
        for (key, v) in &item.attributes {
            let mut def = None;
            for d in &spec.attribute_schema {
                if &d.key == key {
                    def = Some(d);
                }
            }
            let Some(def) = def else {
                report(c, K::UnknownAttribute);
                continue;
            };
            let same_type = matches!(
                (&def.kind, v),
                (AttributeKind::String, AttributeValue::String(_))
                    | (AttributeKind::Integer, AttributeValue::Integer(_))
                    | (AttributeKind::Decimal, AttributeValue::Decimal(_))
                    | (AttributeKind::Boolean, AttributeValue::Boolean(_))
                    | (AttributeKind::Date, AttributeValue::Date(_))
                    | (AttributeKind::CodeRef(_), AttributeValue::CodeRef(_))
            );
            if !same_type {
                report(c, K::AttributeType);
                continue;
            }
            if let AttributeValue::String(s) = v {
                // label: [a-z]+ and at most 4 characters, checked by hand.
                if let Some(max) = def.max_length
                    && s.chars().count() > max as usize
                {
                    report(c, K::AttributeTooLong);
                }
                if def.pattern.is_some()
                    && (s.is_empty() || !s.chars().all(|ch| ch.is_ascii_lowercase()))
                {
                    report(c, K::AttributePattern);
                }
            }
            if let (AttributeValue::CodeRef(target), AttributeKind::CodeRef(_)) = (v, &def.kind)
                && !REFERENCED.contains(&target.as_str())
            {
                report(c, K::CodeRefNotFound);
            }
        }
        for d in &spec.attribute_schema {
            if d.required && !item.attributes.contains_key(&d.key) {
                report(c, K::MissingAttribute);
            }
        }
        if let (Some(from), Some(to)) = (item.valid_from, item.valid_to)
            && from > to
        {
            report(c, K::ValidityRange);
        }
        if item.status == ItemStatus::Active && !item.successors.is_empty() {
            report(c, K::SuccessorOfActive);
        }
        for (j, s) in item.successors.iter().enumerate() {
            if item.successors[..j].contains(s) {
                report(c, K::DuplicateSuccessor);
            } else if s.as_str() == c {
                report(c, K::SuccessorIsSelf);
            } else if !exists(s.as_str()) {
                report(c, K::SuccessorNotFound);
            }
        }
    }

    let firsts: Vec<usize> = (0..items.len())
        .filter(|&i| first_index(items[i].code.as_str()) == Some(i))
        .collect();

    if spec.hierarchical {
        for &i in &firsts {
            // Climb from i; the chain holds every item met so far.
            let mut chain = vec![i];
            let mut current = i;
            loop {
                let Some(p) = &items[current].parent else {
                    if chain.len() as u32 > spec.max_depth {
                        report(items[i].code.as_str(), K::TooDeep);
                    }
                    break;
                };
                let Some(j) = first_index(p.as_str()) else {
                    break; // missing parent: no level
                };
                if j == i {
                    report(items[i].code.as_str(), K::Cycle);
                    break;
                }
                if chain.contains(&j) {
                    break; // runs into a cycle that i is not on
                }
                chain.push(j);
                current = j;
            }
        }
    }

    // Successor cycles: can i reach itself by following successor links?
    for &i in &firsts {
        let mut reached: Vec<usize> = Vec::new();
        let mut todo: Vec<usize> = vec![i];
        let mut on_cycle = false;
        while let Some(x) = todo.pop() {
            for s in &items[x].successors {
                if s == &items[x].code {
                    continue;
                }
                let Some(y) = first_index(s.as_str()) else {
                    continue;
                };
                if y == i {
                    on_cycle = true;
                }
                if !reached.contains(&y) {
                    reached.push(y);
                    todo.push(y);
                }
            }
        }
        if on_cycle {
            report(items[i].code.as_str(), K::SuccessorCycle);
        }
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validator_agrees_with_the_naive_checker(
        spec in spec_strategy(),
        items in proptest::collection::vec(item_strategy(), 0..10),
    ) {
        let problems = validate_version(&spec, &items, &refs_exist);
        let expected = naive_problems(&spec, &items);
        let got: BTreeSet<(String, ProblemKind)> =
            problems.iter().map(|p| (p.code.clone(), p.kind)).collect();
        prop_assert_eq!(problems.is_empty(), expected.is_empty());
        prop_assert_eq!(got, expected);
        // Sorted by code then kind, and no problem twice.
        for pair in problems.windows(2) {
            prop_assert!((&pair[0].code, pair[0].kind) <= (&pair[1].code, pair[1].kind));
            prop_assert_ne!(&pair[0], &pair[1]);
        }
    }

    #[test]
    fn validation_does_not_depend_on_item_order_when_codes_are_unique(
        spec in spec_strategy(),
        items in proptest::collection::vec(item_strategy(), 0..10)
            .prop_map(|items| {
                let mut seen = BTreeMap::new();
                for item in items {
                    seen.entry(item.code.clone()).or_insert(item);
                }
                seen.into_values().collect::<Vec<_>>()
            })
            .prop_shuffle(),
    ) {
        let mut sorted = items.clone();
        sorted.sort_by(|a, b| a.code.cmp(&b.code));
        prop_assert_eq!(
            validate_version(&spec, &items, &refs_exist),
            validate_version(&spec, &sorted, &refs_exist)
        );
        prop_assert_eq!(content_hash(&items), content_hash(&sorted));
        prop_assert!(diff(&items, &sorted).is_empty());
    }

    #[test]
    fn validation_over_encodings_finds_what_it_finds_over_decoded_items(
        spec in spec_strategy(),
        items in proptest::collection::vec(item_strategy(), 0..12),
    ) {
        same_over_encodings(&spec, &items)?;
    }

    #[test]
    fn validation_of_wide_versions_over_encodings_finds_what_it_finds_over_decoded_items(
        spec in spec_strategy(),
        codes in 1usize..40,
        items in proptest::collection::vec(wide_item_strategy(40), 0..60),
    ) {
        // Fold the codes into the first `codes`, so that duplicates come and go.
        let items: Vec<Item> = items
            .into_iter()
            .map(|mut item| {
                let k = item.code.as_str().bytes().fold(0usize, |k, b| k * 26 + usize::from(b - b'A')) % codes;
                item.code = code(&wide_code(k));
                item
            })
            .collect();
        same_over_encodings(&spec, &items)?;
    }
}
