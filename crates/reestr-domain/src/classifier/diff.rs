//! Comparing two versions of a classifier: which items were added, removed or changed
//! ([`diff`]), and what an old code stands for in a newer version ([`translate`]).

use std::collections::{HashMap, HashSet};

use super::item::{Item, ItemStatus};
use super::name::Code;

/// How one item differs between two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemChange<'a> {
    /// The code is only in the new version.
    Added(&'a Item),
    /// The code is only in the old version.
    Removed(&'a Item),
    /// The code is in both, with different content.
    Changed {
        /// The item in the old version.
        old: &'a Item,
        /// The item in the new version.
        new: &'a Item,
        /// The fields that differ, in the order of [`ITEM_FIELDS`].
        fields: Vec<&'static str>,
    },
}

impl ItemChange<'_> {
    /// The code of the item that changed.
    pub fn code(&self) -> &Code {
        match self {
            ItemChange::Added(item) | ItemChange::Removed(item) => &item.code,
            ItemChange::Changed { new, .. } => &new.code,
        }
    }
}

/// The fields of an item besides its code, as [`ItemChange::Changed`] names them.
pub const ITEM_FIELDS: [&str; 8] = [
    "parent",
    "names",
    "description",
    "attributes",
    "valid_from",
    "valid_to",
    "status",
    "successors",
];

/// The fields in which two items differ, in the order of [`ITEM_FIELDS`].
pub fn changed_fields(old: &Item, new: &Item) -> Vec<&'static str> {
    let differs = [
        old.parent != new.parent,
        old.names != new.names,
        old.description != new.description,
        old.attributes != new.attributes,
        old.valid_from != new.valid_from,
        old.valid_to != new.valid_to,
        old.status != new.status,
        old.successors != new.successors,
    ];
    ITEM_FIELDS
        .into_iter()
        .zip(differs)
        .filter_map(|(field, d)| d.then_some(field))
        .collect()
}

/// The changes from `old` to `new`, sorted by code (byte order); unchanged items are left out.
///
/// Both slices may be in any order. Codes are unique in a published version; should one
/// repeat, its first occurrence counts. Costs O(n log n) for sorting, then one merge pass.
pub fn diff<'a>(old: &'a [Item], new: &'a [Item]) -> Vec<ItemChange<'a>> {
    let old = sorted_unique(old);
    let new = sorted_unique(new);
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.code == n.code => {
                let fields = changed_fields(o, n);
                if !fields.is_empty() {
                    out.push(ItemChange::Changed {
                        old: o,
                        new: n,
                        fields,
                    });
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.code < n.code => {
                out.push(ItemChange::Removed(o));
                i += 1;
            }
            (Some(_), Some(n)) | (None, Some(n)) => {
                out.push(ItemChange::Added(n));
                j += 1;
            }
            (Some(o), None) => {
                out.push(ItemChange::Removed(o));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

fn sorted_unique(items: &[Item]) -> Vec<&Item> {
    let mut sorted: Vec<&Item> = items.iter().collect();
    // Stable, so the first occurrence of a repeated code stays first and survives dedup.
    sorted.sort_by(|a, b| a.code.cmp(&b.code));
    sorted.dedup_by(|later, earlier| later.code == earlier.code);
    sorted
}

/// Most codes [`translate`] looks at for one code before it stops.
pub const MAX_TRANSLATION_STEPS: usize = 1000;

/// What an old code stands for in a newer version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translation {
    /// The code is active in the new version: it stands for itself.
    Same,
    /// The code is deprecated or gone in the new version, and following successors leads to
    /// these active codes of the new version, in the order they are reached (depth first,
    /// each item's successors in their listed order), without repeats.
    Replaced(Vec<Code>),
    /// The code is deprecated or gone in the new version, and no chain of successors reaches
    /// an active code: it was abolished without replacement.
    Withdrawn,
    /// Neither version has the code.
    Unknown,
}

/// Translates `code` from `old_items` to `new_items` (see [`translate_with`]).
///
/// Builds a lookup of both versions first; a caller that already holds indexed versions
/// should use [`translate_with`].
pub fn translate(code: &str, old_items: &[Item], new_items: &[Item]) -> Translation {
    let old = lookup(old_items);
    let new = lookup(new_items);
    translate_with(code, |c| old.get(c).copied(), |c| new.get(c).copied())
}

fn lookup(items: &[Item]) -> HashMap<&str, &Item> {
    let mut map = HashMap::with_capacity(items.len());
    for item in items {
        map.entry(item.code.as_str()).or_insert(item);
    }
    map
}

/// Translates `code` of an older version into a newer one, looking items up with `old` and
/// `new`.
///
/// The new version is authoritative. A code is resolved thus:
///
/// 1. If the new version has it and it is ACTIVE, it stands for itself.
/// 2. If the new version has it DEPRECATED, each of its successors there is resolved in turn.
/// 3. If the new version does not have it, but the old version has it DEPRECATED, each of its
///    successors in the old version is resolved in turn (by these same rules, so the new
///    version decides about each successor).
/// 4. Otherwise the chain ends without a replacement.
///
/// Intermediate versions between the two are not consulted: a code removed in between without
/// a deprecation recorded in either version translates to [`Translation::Withdrawn`].
/// Every code is visited at most once, so cycles of successors end, and the walk stops after
/// [`MAX_TRANSLATION_STEPS`] codes, returning what it found so far. Nothing recurses.
pub fn translate_with<'a>(
    code: &str,
    old: impl Fn(&str) -> Option<&'a Item>,
    new: impl Fn(&str) -> Option<&'a Item>,
) -> Translation {
    match new(code) {
        Some(item) if item.status == ItemStatus::Active => return Translation::Same,
        None if old(code).is_none() => return Translation::Unknown,
        _ => {}
    }
    let mut found: Vec<Code> = Vec::new();
    let mut visited: HashSet<String> = HashSet::new();
    // Codes still to resolve, the next one last.
    let mut pending: Vec<&str> = vec![code];
    let mut steps = 0usize;
    // The first code is resolved without the "active in new" shortcut, which was handled above.
    while let Some(current) = pending.pop() {
        if !visited.insert(current.to_string()) {
            continue;
        }
        steps += 1;
        if steps > MAX_TRANSLATION_STEPS {
            break;
        }
        let successors: &[Code] = match new(current) {
            Some(item) if item.status == ItemStatus::Active => {
                found.push(item.code.clone());
                continue;
            }
            Some(item) => &item.successors,
            None => match old(current) {
                Some(item) if item.status == ItemStatus::Deprecated => &item.successors,
                _ => &[],
            },
        };
        pending.extend(successors.iter().rev().map(Code::as_str));
    }
    if found.is_empty() {
        Translation::Withdrawn
    } else {
        Translation::Replaced(found)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::classifier::item::AttributeValue;
    use crate::text::Language;

    fn code(s: &str) -> Code {
        Code::from_trusted(s.to_string())
    }

    fn active(c: &str, name: &str) -> Item {
        Item {
            names: BTreeMap::from([(Language::En, name.to_string())]),
            ..Item::new(code(c))
        }
    }

    fn deprecated(c: &str, name: &str, successors: &[&str]) -> Item {
        Item {
            status: ItemStatus::Deprecated,
            successors: successors.iter().map(|s| code(s)).collect(),
            ..active(c, name)
        }
    }

    /// A small classifier of districts, 2024 and 2026, checked by hand:
    ///
    /// | code | 2024                | 2026                                   |
    /// |------|---------------------|----------------------------------------|
    /// | 10   | Alpha               | Alpha (unchanged)                      |
    /// | 11   | Beta                | Beta, attribute area added             |
    /// | 12   | Gamma               | deprecated → 21, 22                     |
    /// | 13   | Delta               | removed                                |
    /// | 14   | Epsilon → 15 (depr.)| removed                                |
    /// | 15   | Zeta                | deprecated → 16                         |
    /// | 16   | —                   | deprecated → 12 (so 15 → 16 → 12 → 21, 22) |
    /// | 17   | Eta → 17a (depr.)   | deprecated, no successors              |
    /// | 18   | —                   | deprecated → 19; 19 → 18 (a loop)       |
    /// | 21   | —                   | Iota (added)                           |
    /// | 22   | —                   | Kappa (added)                          |
    fn versions() -> (Vec<Item>, Vec<Item>) {
        let v2024 = vec![
            active("10", "Alpha"),
            active("11", "Beta"),
            active("12", "Gamma"),
            active("13", "Delta"),
            deprecated("14", "Epsilon", &["15"]),
            active("15", "Zeta"),
            deprecated("17", "Eta", &["17a"]),
        ];
        let mut beta = active("11", "Beta");
        beta.attributes
            .insert("area".into(), AttributeValue::Integer(120));
        let v2026 = vec![
            active("22", "Kappa"),
            active("10", "Alpha"),
            beta,
            deprecated("12", "Gamma", &["21", "22"]),
            deprecated("15", "Zeta", &["16"]),
            deprecated("16", "Theta", &["12"]),
            deprecated("17", "Eta", &[]),
            deprecated("18", "Lambda", &["19"]),
            deprecated("19", "Mu", &["18"]),
            active("21", "Iota"),
        ];
        (v2024, v2026)
    }

    #[test]
    fn diff_lists_added_removed_and_changed_items_by_code() {
        let (old, new) = versions();
        let changes = diff(&old, &new);
        let summary: Vec<(String, String)> = changes
            .iter()
            .map(|c| {
                let what = match c {
                    ItemChange::Added(_) => "added".to_string(),
                    ItemChange::Removed(_) => "removed".to_string(),
                    ItemChange::Changed { fields, .. } => format!("changed {}", fields.join(",")),
                };
                (c.code().to_string(), what)
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("11", "changed attributes"),
            ("12", "changed status,successors"),
            ("13", "removed"),
            ("14", "removed"),
            ("15", "changed status,successors"),
            ("16", "added"),
            ("17", "changed successors"),
            ("18", "added"),
            ("19", "added"),
            ("21", "added"),
            ("22", "added"),
        ]
        .iter()
        .map(|(c, w)| (c.to_string(), w.to_string()))
        .collect();
        assert_eq!(summary, expected);
    }

    #[test]
    fn diff_of_a_version_with_itself_is_empty_and_changed_fields_are_exact() {
        let (old, _) = versions();
        assert!(diff(&old, &old).is_empty());
        let a = active("1", "A");
        let mut b = a.clone();
        b.parent = Some(code("0"));
        b.valid_to = crate::time::Date::parse("2030-01-01").ok();
        b.description = Some("d".into());
        assert_eq!(
            changed_fields(&a, &b),
            ["parent", "description", "valid_to"]
        );
        let mut c = a.clone();
        c.names.insert(Language::Ru, "А".into());
        c.valid_from = crate::time::Date::parse("2020-01-01").ok();
        assert_eq!(changed_fields(&a, &c), ["names", "valid_from"]);
    }

    #[test]
    fn translate_follows_successor_chains_to_active_codes() {
        let (old, new) = versions();
        let t = |c: &str| translate(c, &old, &new);
        let codes = |cs: &[&str]| Translation::Replaced(cs.iter().map(|c| code(c)).collect());
        // Active in both.
        assert_eq!(t("10"), Translation::Same);
        assert_eq!(t("11"), Translation::Same);
        // Deprecated in 2026, replaced by two new codes, in the listed order.
        assert_eq!(t("12"), codes(&["21", "22"]));
        // Removed in 2026 without deprecation anywhere.
        assert_eq!(t("13"), Translation::Withdrawn);
        // Deprecated in 2024 (→ 15), removed in 2026; 15 → 16 → 12 → 21, 22 in 2026.
        assert_eq!(t("14"), codes(&["21", "22"]));
        assert_eq!(t("15"), codes(&["21", "22"]));
        // Deprecated in 2026 without successors: the 2024 successor 17a is not consulted,
        // because the new version decides about codes it has.
        assert_eq!(t("17"), Translation::Withdrawn);
        // A loop of successors ends.
        assert_eq!(t("18"), Translation::Withdrawn);
        // Codes new in 2026 are active there.
        assert_eq!(t("21"), Translation::Same);
        assert_eq!(t("99"), Translation::Unknown);
    }

    #[test]
    fn translate_reaches_each_target_once_even_through_diamonds() {
        let old: Vec<Item> = vec![];
        let new = vec![
            deprecated("a", "A", &["b", "c"]),
            deprecated("b", "B", &["d"]),
            deprecated("c", "C", &["d", "e"]),
            active("d", "D"),
            active("e", "E"),
        ];
        assert_eq!(
            translate("a", &old, &new),
            Translation::Replaced(vec![code("d"), code("e")])
        );
    }

    #[test]
    fn translate_stops_on_very_long_chains() {
        let n = MAX_TRANSLATION_STEPS + 10;
        let mut new: Vec<Item> = (0..n)
            .map(|i| deprecated(&format!("c{i}"), "x", &[&format!("c{}", i + 1)]))
            .collect();
        new.push(active(&format!("c{n}"), "end"));
        assert_eq!(translate("c0", &[], &new), Translation::Withdrawn);
        assert_eq!(
            translate(&format!("c{}", n - 5), &[], &new),
            Translation::Replaced(vec![code(&format!("c{n}"))])
        );
    }
}
