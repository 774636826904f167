//! Keyset paging in SQL: "strictly after this sort key" as a WHERE condition.

use reestr_domain::paging::{KeyKind, KeyValue, Page, PageKey, PageQuery, SortKey};
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

/// The keyset component of a requested sort key: its column (from `column_of`), an integer
/// key when `is_int` says so (timestamps), text otherwise.
pub(crate) fn sort_key<C: Copy>(
    key: SortKey,
    column_of: impl Fn(&str) -> C,
    is_int: impl Fn(C) -> bool,
) -> PageKey<C> {
    let column = column_of(key.field);
    PageKey {
        key: column,
        kind: if is_int(column) {
            KeyKind::Int
        } else {
            KeyKind::Text
        },
        descending: key.descending,
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

/// One page of a keyset-ordered query: `select` (already filtered) is ordered by the page's
/// keys (columns), continued strictly after the position its token carries, and read one row
/// beyond its size to learn whether another page follows; see [`PageQuery`] for the rule,
/// which lists paged in memory follow too. `position` gives a column's value in an item, for
/// the next page's token.
pub(crate) async fn page<E, T>(
    store: &crate::Store,
    select: sea_orm::Select<E>,
    query: &PageQuery<'_, E::Column>,
    convert: impl Fn(E::Model) -> Result<T, reestr_domain::Error>,
    position: impl Fn(&T, E::Column) -> KeyValue,
) -> Result<Page<T>, reestr_domain::Error>
where
    E: sea_orm::EntityTrait,
    E::Column: ColumnTrait + Copy,
{
    use sea_orm::{Order, QueryFilter, QueryOrder, QuerySelect};

    let keys: Vec<(E::Column, bool)> = query.keys.iter().map(|k| (k.key, k.descending)).collect();
    let mut select = select;
    if let Some(start) = query.start(store.page_tokens())? {
        select = select.filter(after(&keys, &start));
    }
    for (col, desc) in &keys {
        select = select.order_by(*col, if *desc { Order::Desc } else { Order::Asc });
    }
    let rows = select
        .limit(query.limit())
        .all(store.conn())
        .await
        .map_err(crate::db_err)?;
    let items = rows
        .into_iter()
        .map(convert)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(query.finish(store.page_tokens(), items, |item| {
        keys.iter().map(|(c, _)| position(item, *c)).collect()
    }))
}
