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
use reestr_domain::Error;

/// Bytes of a List response left for things other than its items (the token, framing).
const RESPONSE_OVERHEAD: usize = 4 * 1024;

/// A page of items and the token of the next page.
pub type ProtoPage<P> = (Vec<P>, String);

/// Reads a page of up to `size` items with `read(size)`, and reads it again with fewer items
/// while its items do not fit in `limit` bytes (see the module documentation).
pub async fn within_limit<P, F, Fut>(
    limit: usize,
    size: u64,
    mut read: F,
) -> Result<ProtoPage<P>, Error>
where
    P: Message,
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<ProtoPage<P>, Error>>,
{
    let budget = limit.saturating_sub(RESPONSE_OVERHEAD);
    let mut size = size;
    loop {
        let (items, token) = read(size).await?;
        let fitting = fitting(&items, budget);
        if fitting == items.len() {
            return Ok((items, token));
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
            async move { Ok((vec!["x".repeat(100); n], format!("after {n}"))) }
        })
        .await
        .unwrap();
        assert_eq!(page.0.len(), 3);
        assert_eq!(page.1, "after 3");
        assert_eq!(sizes, vec![50, 3]);
    }
}
