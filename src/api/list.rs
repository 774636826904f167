//! The one way a List response is assembled: a page whose items fit in a message.
//!
//! A page holds at most `page_size` items, and also no more than fit in the server's message
//! limit (`--max-message-bytes`, 4 MiB by default, which is also what common gRPC clients accept
//! by default): a List of large resources ends its page early, with a `next_page_token` that
//! continues after the last item it holds. A single item larger than the limit still makes a
//! page of its own, so a list never stalls. The rare page that does not fit is read again with
//! the number of items that fit, so its token is the store's own.

use std::future::Future;

use prost::Message;
use reestr_domain::paging::{self, ListQuery, Page, SortKey, query_fingerprint};
use reestr_domain::{Error, FieldViolation, error::Violations};
use reestr_store::Store;

/// Bytes of a List response left for things other than its items (the token, framing).
const RESPONSE_OVERHEAD: usize = 4 * 1024;

/// Validates what every List request has and makes it the store's [`ListQuery`]: `page_size`
/// (AIP-158), the resource's `selection` and `order_by`, already parsed by the caller (their
/// violations are reported together with the page size's), and the fingerprint of the query a
/// page token must have been issued for: `fingerprint` names the collection and every request
/// field except `page_size` and `page_token`.
pub fn query<S>(
    page_size: i32,
    page_token: String,
    selection: Result<S, FieldViolation>,
    order_by: Result<Vec<SortKey>, FieldViolation>,
    show_deleted: bool,
    fingerprint: &[&str],
) -> Result<ListQuery<S>, Error> {
    let mut v = Violations::new();
    let page_size = v.check(paging::page_size(page_size));
    let selection = v.check(selection);
    let order_by = v.check(order_by);
    v.into_result()?;
    let (Some(page_size), Some(selection), Some(order_by)) = (page_size, selection, order_by)
    else {
        return Err(Error::Internal("validated values missing".into()));
    };
    let mut parts = fingerprint.to_vec();
    parts.push(if show_deleted { "deleted" } else { "live" });
    Ok(ListQuery {
        selection,
        order_by,
        show_deleted,
        page_size,
        page_token,
        fingerprint: query_fingerprint(&parts),
    })
}

/// A List response's page, and the register's revision it reflects (the response's
/// `revision`): every change up to it is in what was read, so a client that lists and then
/// watches from `revision + 1` misses nothing (a change after it may be in the page too, and
/// comes again).
#[derive(Debug)]
pub struct Listed<P> {
    /// The page's items.
    pub items: Vec<P>,
    /// The token of the next page, empty after the last one.
    pub next_page_token: String,
    /// See the type's documentation.
    pub revision: i64,
}

impl<P> Listed<P> {
    /// `page`, read after the register stood at `revision`.
    pub fn new(page: Page<P>, revision: i64) -> Self {
        Self {
            items: page.items,
            next_page_token: page.next_page_token,
            revision,
        }
    }
}

/// Reads the page `query` asks for with `read` (the store's list, converted to messages),
/// within the message limit (see [`within_limit`]), after the register's newest revision,
/// which the page then reflects.
pub async fn page<S, P, F, Fut>(
    store: &Store,
    limit: usize,
    query: &ListQuery<S>,
    read: F,
) -> Result<Listed<P>, Error>
where
    S: Clone,
    P: Message,
    F: Fn(ListQuery<S>) -> Fut,
    Fut: Future<Output = Result<Page<P>, Error>>,
{
    let revision = store.head_revision().await?;
    let page = within_limit(limit, query.page_size, |size| read(query.sized(size))).await?;
    Ok(Listed::new(page, revision))
}

/// Reads a page of up to `size` items with `read(size)`, and reads it again with fewer items
/// while its items do not fit in `limit` bytes (see the module documentation).
pub async fn within_limit<P, F, Fut>(limit: usize, size: u64, mut read: F) -> Result<Page<P>, Error>
where
    P: Message,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Page<P>, Error>>,
{
    let budget = limit.saturating_sub(RESPONSE_OVERHEAD);
    let mut size = size;
    loop {
        let page = read(size).await?;
        let fitting = fitting(&page.items, budget);
        if fitting == page.items.len() {
            return Ok(page);
        }
        // Fewer each time, and at least one: this ends.
        size = u64::try_from(fitting).unwrap_or(u64::MAX);
    }
}

/// How many of `items`, from the first, fit in `budget` bytes as a repeated field (at least
/// one).
fn fitting<P: Message>(items: &[P], budget: usize) -> usize {
    let mut bytes = 0usize;
    for (i, item) in items.iter().enumerate() {
        let len = item.encoded_len();
        bytes = bytes.saturating_add(1 + prost::length_delimiter_len(len) + len);
        if bytes > budget {
            return i.max(1);
        }
    }
    items.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_kept_while_they_fit_and_one_always_is() {
        // As a message, a string of 100 bytes is 102 bytes (a field of its own); in a
        // repeated field, one byte of tag and one of length more.
        let items: Vec<String> = vec!["a".repeat(100); 10];
        assert_eq!(fitting(&items, 1040), 10);
        assert_eq!(fitting(&items, 1039), 9);
        assert_eq!(fitting(&items, 209), 2);
        assert_eq!(fitting(&items, 10), 1);
        assert_eq!(fitting::<String>(&[], 10), 0);
    }

    #[tokio::test]
    async fn a_page_too_large_is_read_again_with_the_items_that_fit() {
        let mut sizes = Vec::new();
        let page = within_limit(RESPONSE_OVERHEAD + 320, 50, |size| {
            sizes.push(size);
            let n = usize::try_from(size).unwrap().min(20);
            async move {
                Ok(Page {
                    items: vec!["x".repeat(100); n],
                    next_page_token: format!("after {n}"),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.next_page_token, "after 3");
        assert_eq!(sizes, vec![50, 3]);
    }
}
