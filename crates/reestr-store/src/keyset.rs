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

/// One page of a keyset-ordered query: `select` (already filtered) is ordered by `keys`
/// (column, descending), continued strictly after the position `page_token` carries, and read
/// one row beyond `page_size` to learn whether another page follows. Returns the items and the
/// next page's token (empty at the end). `is_int` tells which key columns hold integers, so a
/// token whose values do not fit the query is refused.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn page<E, T>(
    store: &crate::Store,
    select: sea_orm::Select<E>,
    keys: &[(E::Column, bool)],
    is_int: impl Fn(E::Column) -> bool,
    page_size: u64,
    page_token: &str,
    fingerprint: &str,
    convert: impl Fn(E::Model) -> Result<T, reestr_domain::Error>,
    key_of: impl Fn(&T, E::Column) -> KeyValue,
) -> Result<(Vec<T>, String), reestr_domain::Error>
where
    E: sea_orm::EntityTrait,
    E::Column: ColumnTrait + Copy,
{
    use reestr_domain::Error;
    use sea_orm::{Order, QueryFilter, QueryOrder, QuerySelect};

    let after = store
        .page_tokens()
        .decode(page_token, fingerprint, keys.len())?;
    let mut select = select;
    if let Some(after) = &after {
        let fits = after
            .iter()
            .zip(keys)
            .all(|(v, (c, _))| matches!(v, KeyValue::Int(_)) == is_int(*c));
        if !fits {
            return Err(Error::invalid("page_token", "does not match this query"));
        }
        select = select.filter(self::after(keys, after));
    }
    for (col, desc) in keys {
        select = select.order_by(*col, if *desc { Order::Desc } else { Order::Asc });
    }
    let mut rows = select
        .limit(page_size + 1)
        .all(store.conn())
        .await
        .map_err(crate::db_err)?;
    let more = rows.len() as u64 > page_size;
    rows.truncate(page_size as usize);
    let items = rows
        .into_iter()
        .map(convert)
        .collect::<Result<Vec<_>, _>>()?;
    let next = match items.last() {
        Some(last) if more => store.page_tokens().encode(
            fingerprint,
            keys.iter().map(|(c, _)| key_of(last, *c)).collect(),
        ),
        _ => String::new(),
    };
    Ok((items, next))
}
