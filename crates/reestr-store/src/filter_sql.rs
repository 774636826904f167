//! Typed filters in SQL: one walker from a [`Predicate`] to a sea-orm [`Condition`], and the
//! shapes of condition resources build their leaves from.
//!
//! The domain compiles every AIP-160 filter into a `Predicate<L>` whose leaves `L` belong to
//! one resource. Each resource implements [`SqlLeaf`] for its leaf type: a table from each leaf
//! to its column and one of the helpers below. [`condition`] does the rest, so AND, OR and NOT
//! are translated in one place only.

use reestr_domain::paging::ListQuery;
use reestr_domain::query::{Equality, Predicate};
use reestr_domain::time::Timestamp;
use sea_orm::sea_query::{IntoCondition, LikeExpr, SelectStatement};
use sea_orm::{ColumnTrait, Condition, Value};

use crate::keyset;

/// A filter leaf the store knows how to translate into SQL.
pub(crate) trait SqlLeaf {
    /// The condition this one leaf stands for.
    fn condition(&self) -> Condition;
}

/// The SQL condition of a whole typed filter.
pub(crate) fn condition<L: SqlLeaf>(p: &Predicate<L>) -> Condition {
    match p {
        Predicate::And(a, b) => Condition::all().add(condition(a)).add(condition(b)),
        Predicate::Or(a, b) => Condition::any().add(condition(a)).add(condition(b)),
        Predicate::Not(a) => condition(a).not(),
        Predicate::Leaf(leaf) => leaf.condition(),
    }
}

/// The rows a List of a soft-deletable resource selects: those its typed filter keeps, and only
/// live ones (`delete_time` NULL) unless the query shows deleted ones too.
pub(crate) fn selection<L: SqlLeaf>(
    query: &ListQuery<Option<Predicate<L>>>,
    delete_time: impl ColumnTrait,
) -> Condition {
    let mut condition = Condition::all();
    if !query.show_deleted {
        condition = condition.add(delete_time.is_null());
    }
    if let Some(filter) = &query.selection {
        condition = condition.add(self::condition(filter));
    }
    condition
}

/// `col = v` or `col != v` on a column that is never NULL (text, an enum stored by name, a
/// boolean).
pub(crate) fn equals(col: impl ColumnTrait, eq: Equality, v: impl Into<Value>) -> Condition {
    match eq {
        Equality::Eq => col.eq(v).into_condition(),
        Equality::Ne => col.ne(v).into_condition(),
    }
}

/// `col = v` or `col != v` on a nullable column, where `None` stands for NULL. `!=` a value
/// also matches NULL, as a client expects (`parent != "organizations/x"` includes top-level
/// organisations).
pub(crate) fn equals_nullable(
    col: impl ColumnTrait + Copy,
    eq: Equality,
    v: Option<impl Into<Value>>,
) -> Condition {
    match (eq, v) {
        (Equality::Eq, None) => col.is_null().into_condition(),
        (Equality::Ne, None) => col.is_not_null().into_condition(),
        // `IS NOT NULL` too, so that `NOT x = v` keeps the rows where `x` is empty, as
        // `x != v` does (SQL's NULL logic would drop them).
        (Equality::Eq, Some(v)) => Condition::all().add(col.is_not_null()).add(col.eq(v)),
        (Equality::Ne, Some(v)) => Condition::any().add(col.is_null()).add(col.ne(v)),
    }
}

/// `col LIKE pattern ESCAPE '\'`; `pattern` escapes its literal parts with
/// [`keyset::like_contains`].
pub(crate) fn like(col: impl ColumnTrait, pattern: String) -> Condition {
    col.like(LikeExpr::new(pattern).escape('\\'))
        .into_condition()
}

/// `needle` occurs, literally, somewhere in `col`.
pub(crate) fn contains(col: impl ColumnTrait, needle: &str) -> Condition {
    like(col, keyset::like_contains(needle))
}

/// A timestamp column (microseconds) is after `t`, or at it when `inclusive`.
pub(crate) fn time_after(col: impl ColumnTrait, t: Timestamp, inclusive: bool) -> Condition {
    if inclusive {
        col.gte(t.micros())
    } else {
        col.gt(t.micros())
    }
    .into_condition()
}

/// A timestamp column (microseconds) is before `t`, or at it when `inclusive`.
pub(crate) fn time_before(col: impl ColumnTrait, t: Timestamp, inclusive: bool) -> Condition {
    if inclusive {
        col.lte(t.micros())
    } else {
        col.lt(t.micros())
    }
    .into_condition()
}

/// `col IN (sub)` or `col NOT IN (sub)`: the row is (not) among those a subquery selects.
pub(crate) fn in_subquery(col: impl ColumnTrait, eq: Equality, sub: SelectStatement) -> Condition {
    match eq {
        Equality::Eq => col.in_subquery(sub).into_condition(),
        Equality::Ne => col.not_in_subquery(sub).into_condition(),
    }
}

#[cfg(test)]
mod tests {
    use reestr_domain::contact::Contacts;
    use reestr_domain::organization::{
        OrganizationCondition, OrganizationId, OrganizationKind, OrganizationSpec, compile_filter,
    };
    use reestr_domain::paging::SortKey;
    use reestr_domain::text::LocalizedText;

    use super::*;
    use crate::testing::on_every_engine;
    use crate::{AuditContext, OrganizationQuery, Store};

    /// Organisations `id` of `kind` in `region`, under `parent`.
    const ORGANIZATIONS: [(&str, OrganizationKind, Option<&str>, Option<&str>); 6] = [
        ("a", OrganizationKind::StateBody, Some("1726"), None),
        ("b", OrganizationKind::StateBody, Some("1703"), None),
        ("c", OrganizationKind::Other, Some("1726"), None),
        ("d", OrganizationKind::Other, Some("1703"), None),
        ("e", OrganizationKind::Other, Some("1703"), Some("a")),
        ("f", OrganizationKind::Other, None, None),
    ];

    async fn seed(store: &Store) {
        let ctx = AuditContext {
            caller: "test".into(),
            method: "test".into(),
            ..AuditContext::default()
        };
        for (i, (id, kind, region, parent)) in ORGANIZATIONS.into_iter().enumerate() {
            let spec = OrganizationSpec {
                display_name: LocalizedText::from_trusted(
                    [("en".into(), format!("Org {id}"))].into(),
                ),
                tin: format!("30000000{i}"),
                kind,
                parent: parent.map(|p| OrganizationId::from_trusted(p.into())),
                region_code: region.map(str::to_string),
                contacts: Contacts::default(),
            };
            store
                .organizations()
                .create(
                    &ctx,
                    OrganizationId::from_trusted(id.into()),
                    spec,
                    None,
                    |_| Vec::new(),
                )
                .await
                .unwrap();
        }
    }

    /// The ids of the organisations `filter` selects, in id order.
    async fn matching(store: &Store, filter: Option<Predicate<OrganizationCondition>>) -> String {
        let page = store
            .organizations()
            .list(&OrganizationQuery {
                selection: filter,
                order_by: vec![SortKey {
                    field: "name",
                    descending: false,
                }],
                show_deleted: false,
                page_size: 100,
                page_token: String::new(),
                fingerprint: "fp".into(),
            })
            .await
            .unwrap();
        assert!(page.next_page_token.is_empty());
        page.items
            .iter()
            .map(|o| o.id.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn leaf(c: OrganizationCondition) -> Box<Predicate<OrganizationCondition>> {
        Box::new(Predicate::Leaf(c))
    }

    #[tokio::test]
    async fn not_and_or_nest_as_the_tree_says() {
        on_every_engine(|store| async move {
            seed(&store).await;
            let kind = |k| leaf(OrganizationCondition::Kind(Equality::Eq, k));
            let region = |r: &str| leaf(OrganizationCondition::RegionCode(Equality::Eq, r.into()));
            let top = || leaf(OrganizationCondition::Parent(Equality::Eq, None));

            // NOT (kind = STATE_BODY OR region_code = "1726") AND parent = "", built by hand.
            let tree = Predicate::And(
                Box::new(Predicate::Not(Box::new(Predicate::Or(
                    kind(OrganizationKind::StateBody),
                    region("1726"),
                )))),
                top(),
            );
            // f has no region: "region_code = 1726" does not hold for it, so its NOT does.
            assert_eq!(matching(&store, Some(tree)).await, "d,f");
            // (NOT kind = STATE_BODY OR region_code = "1726") AND parent = "": NOT binds to one
            // leaf only.
            let tree = Predicate::And(
                Box::new(Predicate::Or(
                    Box::new(Predicate::Not(kind(OrganizationKind::StateBody))),
                    region("1726"),
                )),
                top(),
            );
            assert_eq!(matching(&store, Some(tree)).await, "a,c,d,f");
            // NOT over an AND.
            let tree = Predicate::Not(Box::new(Predicate::And(
                kind(OrganizationKind::StateBody),
                region("1726"),
            )));
            assert_eq!(matching(&store, Some(tree)).await, "b,c,d,e,f");
            // A double negation is no negation.
            let tree = Predicate::Not(Box::new(Predicate::Not(kind(OrganizationKind::StateBody))));
            assert_eq!(matching(&store, Some(tree)).await, "a,b");
            assert_eq!(matching(&store, None).await, "a,b,c,d,e,f");
        })
        .await;
    }

    #[tokio::test]
    async fn parsed_filters_keep_their_precedence_in_sql() {
        on_every_engine(|store| async move {
            seed(&store).await;
            let check = |filter: &'static str, expected: &'static str| {
                let store = &store;
                async move {
                    let compiled = compile_filter(filter).unwrap();
                    assert_eq!(matching(store, compiled).await, expected, "{filter}");
                }
            };
            check(
                r#"NOT (kind = STATE_BODY OR region_code = "1726") AND parent = """#,
                "d,f",
            )
            .await;
            // AIP-160: OR binds tighter than AND.
            check(
                r#"kind = STATE_BODY AND region_code = "1703" OR parent = """#,
                "a,b",
            )
            .await;
            check(
                r#"(kind = STATE_BODY AND region_code = "1703") OR parent = "organizations/a""#,
                "b,e",
            )
            .await;
            check(
                r#"NOT kind = STATE_BODY AND (region_code = "1726" OR parent = "organizations/a")"#,
                "c,e",
            )
            .await;
            check(r#"-kind = OTHER"#, "a,b").await;
        })
        .await;
    }

    /// `NOT x = v` and `x != v` are one condition, on a column that may be empty too (as the
    /// in-memory item filter evaluates them): SQL's NULL logic must not make NOT drop rows.
    #[tokio::test]
    async fn not_equal_and_not_equals_agree_on_empty_columns() {
        on_every_engine(|store| async move {
            seed(&store).await;
            for (negated, unequal, expected) in [
                (
                    r#"NOT region_code = "1726""#,
                    r#"region_code != "1726""#,
                    "b,d,e,f",
                ),
                (
                    r#"NOT parent = "organizations/a""#,
                    r#"parent != "organizations/a""#,
                    "a,b,c,d,f",
                ),
                (r#"NOT parent = """#, r#"parent != """#, "e"),
            ] {
                for filter in [negated, unequal] {
                    let compiled = compile_filter(filter).unwrap();
                    assert_eq!(matching(&store, compiled).await, expected, "{filter}");
                }
            }
        })
        .await;
    }
}
