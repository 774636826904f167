//! The filters of ListClassifiers and ListItems.
//!
//! ListClassifiers ([`compile_classifier_filter`]) is translated to SQL by the store. Its
//! fields: `owner` (`=`, `!=` an organisation name), `hierarchical` (`=`, `!=` `true` or
//! `false`), `display_name` (`:` a non-empty text), and bare texts, which search the id and
//! the names.
//!
//! ListItems ([`compile_item_filter`]) is evaluated in memory, over the items of one version
//! ([`matches`]). Its fields: `parent` (`=`, `!=`; `parent = ""` is the top level), `level` (`=`, `!=`, `<`,
//! `<=`, `>`, `>=`), `status` (`=`, `!=` ACTIVE or DEPRECATED) and `code` (`=`, `!=`; a
//! trailing `*` matches a prefix), combined with AND, OR, NOT and parentheses.

use crate::FieldViolation;
use crate::filter::{CompareOp, Value};
use crate::organization::OrganizationId;
use crate::query::{self, Equality, Predicate};
use crate::text::fold;

use super::item::ItemStatus;
use super::name::check_code;

/// One condition of a ListClassifiers filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassifierCondition {
    /// `owner = "organizations/x"` / `owner != "organizations/x"`.
    Owner(Equality, OrganizationId),
    /// `hierarchical = true` (`!=` is stored negated).
    Hierarchical(bool),
    /// `display_name:"text"`: folded substring of a name in any language.
    DisplayNameContains(String),
    /// A bare `"text"`: folded substring of the id or of a name.
    Text(String),
}

/// Parses and checks a ListClassifiers filter (fields: see the [module](self) documentation).
/// `Ok(None)` for an empty filter; every problem is a violation of the field `filter`.
pub fn compile_classifier_filter(
    raw: &str,
) -> Result<Option<Predicate<ClassifierCondition>>, FieldViolation> {
    query::compile_with_search(raw, &classifier_condition, &|t| {
        ClassifierCondition::Text(fold(t))
    })
}

fn classifier_condition(
    field: &str,
    op: CompareOp,
    value: &Value,
) -> Result<ClassifierCondition, String> {
    let text = query::value_text(value);
    match field {
        "owner" => Ok(ClassifierCondition::Owner(
            query::equality(field, op)?,
            OrganizationId::from_name(text, "filter").map_err(|v| v.description)?,
        )),
        "hierarchical" => {
            let b = match text {
                "true" => true,
                "false" => false,
                _ => return Err("hierarchical compares with true or false".into()),
            };
            match query::equality(field, op)? {
                Equality::Eq => Ok(ClassifierCondition::Hierarchical(b)),
                Equality::Ne => Ok(ClassifierCondition::Hierarchical(!b)),
            }
        }
        "display_name" if op == CompareOp::Has && !text.is_empty() => {
            Ok(ClassifierCondition::DisplayNameContains(fold(text)))
        }
        "display_name" => {
            Err("display_name supports only : (contains) with a non-empty text".into())
        }
        other => Err(format!(
            "cannot filter on {other:?}; fields: owner, hierarchical, display_name, \
             or a quoted search text"
        )),
    }
}

/// One condition on an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemCondition {
    /// `parent = "c"` / `parent != "c"`; `None` is the top level.
    Parent(Equality, Option<String>),
    /// `level op n`.
    Level(CompareOp, u32),
    /// `status = S` / `status != S`.
    Status(Equality, ItemStatus),
    /// `code = "c"` or, with a trailing `*`, `code = "c*"` (prefix).
    Code(Equality, CodeMatch),
}

/// How `code` is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeMatch {
    /// The whole code.
    Exact(String),
    /// A prefix of the code.
    Prefix(String),
}

/// What the filter looks at of one item.
#[derive(Debug, Clone, Copy)]
pub struct ItemFacts<'a> {
    /// Its code.
    pub code: &'a str,
    /// Its parent code.
    pub parent: Option<&'a str>,
    /// Its level (1 at the top; 0 when unknown).
    pub level: u32,
    /// Its status.
    pub status: ItemStatus,
}

/// Compiles a ListItems filter; `Ok(None)` for an empty one.
pub fn compile_item_filter(raw: &str) -> Result<Option<Predicate<ItemCondition>>, FieldViolation> {
    query::compile(raw, &item_condition)
}

fn item_condition(field: &str, op: CompareOp, value: &Value) -> Result<ItemCondition, String> {
    let text = query::value_text(value);
    match field {
        "parent" => {
            let eq = query::equality(field, op)?;
            if text.is_empty() {
                return Ok(ItemCondition::Parent(eq, None));
            }
            check_code(text).map_err(|p| format!("parent {text:?} {p}"))?;
            Ok(ItemCondition::Parent(eq, Some(text.to_string())))
        }
        "level" => {
            if op == CompareOp::Has {
                return Err("level supports =, !=, <, <=, > and >=".into());
            }
            let n: u32 = text
                .parse()
                .map_err(|_| format!("level {text:?} is not a whole number"))?;
            Ok(ItemCondition::Level(op, n))
        }
        "status" => {
            let eq = query::equality(field, op)?;
            let status = text
                .parse()
                .map_err(|_| format!("status {text:?} is not ACTIVE or DEPRECATED"))?;
            Ok(ItemCondition::Status(eq, status))
        }
        "code" => {
            let eq = query::equality(field, op)?;
            let m = match text.strip_suffix('*') {
                Some(prefix) => CodeMatch::Prefix(prefix.to_string()),
                None => {
                    check_code(text).map_err(|p| format!("code {text:?} {p}"))?;
                    CodeMatch::Exact(text.to_string())
                }
            };
            Ok(ItemCondition::Code(eq, m))
        }
        other => Err(format!(
            "{other:?} is not a field items can be filtered by; use parent, level, status or code"
        )),
    }
}

fn holds(eq: Equality, same: bool) -> bool {
    match eq {
        Equality::Eq => same,
        Equality::Ne => !same,
    }
}

impl ItemCondition {
    /// Whether the item satisfies this condition.
    pub fn matches(&self, item: &ItemFacts<'_>) -> bool {
        match self {
            ItemCondition::Parent(eq, p) => holds(*eq, item.parent == p.as_deref()),
            ItemCondition::Level(op, n) => match op {
                CompareOp::Eq => item.level == *n,
                CompareOp::Ne => item.level != *n,
                CompareOp::Lt => item.level < *n,
                CompareOp::Le => item.level <= *n,
                CompareOp::Gt => item.level > *n,
                CompareOp::Ge => item.level >= *n,
                CompareOp::Has => false,
            },
            ItemCondition::Status(eq, s) => holds(*eq, item.status == *s),
            ItemCondition::Code(eq, CodeMatch::Exact(c)) => holds(*eq, item.code == c),
            ItemCondition::Code(eq, CodeMatch::Prefix(p)) => {
                holds(*eq, item.code.starts_with(p.as_str()))
            }
        }
    }
}

/// Whether the item satisfies the whole filter.
pub fn matches(filter: &Predicate<ItemCondition>, item: &ItemFacts<'_>) -> bool {
    filter.holds(&|c: &ItemCondition| c.matches(item))
}

/// The parent every matching item must have, when the filter requires one (`parent = "c"` at
/// the top level of the filter, possibly inside ANDs): `Some(None)` for the top level. Lets a
/// reader walk one item's children instead of the whole version.
pub fn required_parent(filter: &Predicate<ItemCondition>) -> Option<Option<&str>> {
    match filter {
        Predicate::Leaf(ItemCondition::Parent(Equality::Eq, p)) => Some(p.as_deref()),
        Predicate::And(a, b) => required_parent(a).or_else(|| required_parent(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(code: &'a str, parent: Option<&'a str>, level: u32) -> ItemFacts<'a> {
        ItemFacts {
            code,
            parent,
            level,
            status: ItemStatus::Active,
        }
    }

    fn check(filter: &str, item: &ItemFacts<'_>) -> bool {
        matches(&compile_item_filter(filter).unwrap().unwrap(), item)
    }

    #[test]
    fn each_field_filters_as_documented() {
        let region = facts("1726", Some("17"), 2);
        assert!(check(r#"parent = "17""#, &region));
        assert!(!check(r#"parent = """#, &region));
        assert!(check(r#"parent = """#, &facts("17", None, 1)));
        assert!(check("level = 2", &region));
        assert!(check("level >= 2 AND level < 3", &region));
        assert!(!check("level > 2", &region));
        assert!(check("status = ACTIVE", &region));
        assert!(check("status != DEPRECATED", &region));
        assert!(check(r#"code = "17*""#, &region));
        assert!(!check(r#"code = "18*""#, &region));
        assert!(check(r#"code = "1726""#, &region));
        assert!(check(r#"NOT code = "1727" OR level = 9"#, &region));
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        for bad in [
            "names = x",
            "level = two",
            "level : 2",
            "status = GONE",
            "parent > 1",
            r#"code = "a b""#,
        ] {
            assert!(compile_item_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_required_parent_is_found_inside_ands_only() {
        let f = compile_item_filter(r#"status = ACTIVE AND parent = "17""#)
            .unwrap()
            .unwrap();
        assert_eq!(required_parent(&f), Some(Some("17")));
        let f = compile_item_filter(r#"parent = "" AND level = 1"#)
            .unwrap()
            .unwrap();
        assert_eq!(required_parent(&f), Some(None));
        let f = compile_item_filter(r#"parent = "17" OR level = 1"#)
            .unwrap()
            .unwrap();
        assert_eq!(required_parent(&f), None);
    }
}
