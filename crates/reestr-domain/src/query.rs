//! Typed filters: an AIP-160 syntax tree checked against what one resource allows.
//!
//! [`crate::filter`] parses any filter into an untyped tree; a resource then compiles it with
//! [`compile`], turning each `field op value` into a typed leaf of its own (or a field
//! violation), so the store only ever sees conditions it knows how to translate.

use crate::FieldViolation;
use crate::filter::{self, CompareOp, Expr, Value};

/// A boolean combination of typed conditions `L`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate<L> {
    /// Both hold.
    And(Box<Predicate<L>>, Box<Predicate<L>>),
    /// Either holds.
    Or(Box<Predicate<L>>, Box<Predicate<L>>),
    /// Does not hold.
    Not(Box<Predicate<L>>),
    /// One typed condition.
    Leaf(L),
}

impl<L> Predicate<L> {
    /// Whether the predicate holds, given whether each leaf holds: the in-memory evaluation
    /// of a filter (AND and OR short-circuit).
    pub fn holds(&self, leaf: &impl Fn(&L) -> bool) -> bool {
        match self {
            Predicate::And(a, b) => a.holds(leaf) && b.holds(leaf),
            Predicate::Or(a, b) => a.holds(leaf) || b.holds(leaf),
            Predicate::Not(a) => !a.holds(leaf),
            Predicate::Leaf(l) => leaf(l),
        }
    }
}

/// Parses `raw` and compiles every comparison with `leaf`, which returns the typed condition or
/// a description of why the comparison is not allowed. A bare value (`"text"`, an AIP-160
/// global restriction) is refused. `Ok(None)` for an empty filter.
pub fn compile<L>(
    raw: &str,
    leaf: &impl Fn(&str, CompareOp, &Value) -> Result<L, String>,
) -> Result<Option<Predicate<L>>, FieldViolation> {
    compile_tree(raw, leaf, None)
}

/// Like [`compile`], but a bare value is a text search: `search` turns its (non-empty) text
/// into the resource's condition; an empty one is refused.
pub fn compile_with_search<L>(
    raw: &str,
    leaf: &impl Fn(&str, CompareOp, &Value) -> Result<L, String>,
    search: &impl Fn(&str) -> L,
) -> Result<Option<Predicate<L>>, FieldViolation> {
    compile_tree(raw, leaf, Some(search))
}

/// How a resource turns a bare value into a condition, when it allows one.
type Search<'a, L> = Option<&'a dyn Fn(&str) -> L>;

fn compile_tree<L>(
    raw: &str,
    leaf: &impl Fn(&str, CompareOp, &Value) -> Result<L, String>,
    search: Search<'_, L>,
) -> Result<Option<Predicate<L>>, FieldViolation> {
    let expr = filter::parse(raw).map_err(|e| FieldViolation::new("filter", e.to_string()))?;
    expr.map(|e| convert(&e, leaf, search))
        .transpose()
        .map_err(|d| FieldViolation::new("filter", d))
}

fn convert<L>(
    expr: &Expr,
    leaf: &impl Fn(&str, CompareOp, &Value) -> Result<L, String>,
    search: Search<'_, L>,
) -> Result<Predicate<L>, String> {
    let both = |a: &Expr, b: &Expr| -> Result<_, String> {
        Ok((
            Box::new(convert(a, leaf, search)?),
            Box::new(convert(b, leaf, search)?),
        ))
    };
    Ok(match expr {
        Expr::And(a, b) => {
            let (a, b) = both(a, b)?;
            Predicate::And(a, b)
        }
        Expr::Or(a, b) => {
            let (a, b) = both(a, b)?;
            Predicate::Or(a, b)
        }
        Expr::Not(a) => Predicate::Not(Box::new(convert(a, leaf, search)?)),
        Expr::Compare { field, op, value } => Predicate::Leaf(leaf(field, *op, value)?),
        Expr::Global(v) => match search {
            Some(_) if value_text(v).is_empty() => {
                return Err("a search text must not be empty".into());
            }
            Some(search) => Predicate::Leaf(search(value_text(v))),
            None => {
                return Err(
                    "a bare value is not supported; name the field, e.g. display_name:\"text\""
                        .into(),
                );
            }
        },
    })
}

/// The text of a value, quoted or bare.
pub fn value_text(value: &Value) -> &str {
    match value {
        Value::String(s) | Value::Text(s) => s,
    }
}

/// Equality or inequality, the two comparisons most fields allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Equality {
    /// `=`
    Eq,
    /// `!=`
    Ne,
}

/// `=` or `!=` as [`Equality`]; any other operator is refused for `field`.
pub fn equality(field: &str, op: CompareOp) -> Result<Equality, String> {
    match op {
        CompareOp::Eq => Ok(Equality::Eq),
        CompareOp::Ne => Ok(Equality::Ne),
        _ => Err(format!("{field} supports only = and !=")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(field: &str, op: CompareOp, value: &Value) -> Result<String, String> {
        match (field, op) {
            ("x", CompareOp::Eq) => Ok(value_text(value).to_string()),
            _ => Err(format!("no {field}")),
        }
    }

    fn search(text: &str) -> String {
        format!("search {text}")
    }

    #[test]
    fn bare_values_are_a_search_only_where_the_resource_allows_one() {
        let p = compile_with_search(r#"x = "a" AND "b""#, &leaf, &search)
            .unwrap()
            .unwrap();
        assert_eq!(
            p,
            Predicate::And(
                Box::new(Predicate::Leaf("a".to_string())),
                Box::new(Predicate::Leaf("search b".to_string()))
            )
        );
        let e = compile_with_search(r#"x = "a" OR """#, &leaf, &search).unwrap_err();
        assert_eq!(e.description, "a search text must not be empty");
        let e = compile(r#""b""#, &leaf).unwrap_err();
        assert!(e.description.starts_with("a bare value is not supported"));
        let e = compile_with_search(r#"NOT y = "a""#, &leaf, &search).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.description.as_str()),
            ("filter", "no y")
        );
        assert_eq!(compile_with_search("", &leaf, &search).unwrap(), None);
    }

    #[test]
    fn holds_follows_the_tree() {
        let p = compile(r#"NOT (x = "a" OR x = "b") AND x = "c""#, &leaf)
            .unwrap()
            .unwrap();
        // Leaves hold by name: only "c" and "b".
        assert!(!p.holds(&|l: &String| l == "c" || l == "b"));
        assert!(p.holds(&|l: &String| l == "c"));
        assert!(!p.holds(&|l: &String| l == "a"));
    }
}
