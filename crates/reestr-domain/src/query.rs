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

/// Parses `raw` and compiles every comparison with `leaf`, which returns the typed condition or
/// a description of why the comparison is not allowed. `Ok(None)` for an empty filter.
pub fn compile<L>(
    raw: &str,
    leaf: &impl Fn(&str, CompareOp, &Value) -> Result<L, String>,
) -> Result<Option<Predicate<L>>, FieldViolation> {
    let expr = filter::parse(raw).map_err(|e| FieldViolation::new("filter", e.to_string()))?;
    expr.map(|e| convert(&e, leaf)).transpose()
}

fn convert<L>(
    expr: &Expr,
    leaf: &impl Fn(&str, CompareOp, &Value) -> Result<L, String>,
) -> Result<Predicate<L>, FieldViolation> {
    Ok(match expr {
        Expr::And(a, b) => Predicate::And(Box::new(convert(a, leaf)?), Box::new(convert(b, leaf)?)),
        Expr::Or(a, b) => Predicate::Or(Box::new(convert(a, leaf)?), Box::new(convert(b, leaf)?)),
        Expr::Not(a) => Predicate::Not(Box::new(convert(a, leaf)?)),
        Expr::Compare { field, op, value } => {
            Predicate::Leaf(leaf(field, *op, value).map_err(|d| FieldViolation::new("filter", d))?)
        }
        Expr::Global(_) => {
            return Err(FieldViolation::new(
                "filter",
                "a bare value is not supported; name the field, e.g. display_name:\"text\"",
            ));
        }
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
