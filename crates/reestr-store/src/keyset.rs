//! Keyset paging in SQL: "strictly after this sort key" as a WHERE condition.

use reestr_domain::paging::KeyValue;
use sea_orm::sea_query::IntoCondition;
use sea_orm::{ColumnTrait, Condition, Value};

/// The condition selecting rows that sort strictly after `after` under `keys` (column,
/// descending). For keys `(a, b)` ascending that is `a > x OR (a = x AND b > y)`; each
/// descending key flips its comparison.
pub(crate) fn after<C: ColumnTrait + Copy>(keys: &[(C, bool)], after: &[KeyValue]) -> Condition {
    let mut any = Condition::any();
    for i in 0..keys.len() {
        let mut all = Condition::all();
        for j in 0..i {
            all = all.add(keys[j].0.eq(value(&after[j])));
        }
        let (col, desc) = keys[i];
        let cmp = if desc {
            col.lt(value(&after[i]))
        } else {
            col.gt(value(&after[i]))
        };
        any = any.add(all.add(cmp).into_condition());
    }
    any
}

fn value(v: &KeyValue) -> Value {
    match v {
        KeyValue::Int(i) => Value::from(*i),
        KeyValue::Text(s) => Value::from(s.clone()),
    }
}

/// Escapes `%`, `_` and `\` so `needle` matches literally inside `LIKE '%…%' ESCAPE '\'`.
pub(crate) fn like_contains(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
