//! Document-store errors as register errors.

use std::error::Error as StdError;
use std::io::ErrorKind;

use object_store::client::{HttpError, HttpErrorKind};
use reestr_domain::Error;

/// Maps an object_store error: a missing object is NOT_FOUND naming `resource`; a store that
/// cannot be reached or answers that it cannot serve now (connection refused or lost, timeout,
/// HTTP 5xx or 429, a full disk) is [`Error::Unavailable`], as for the database; anything else
/// (refused credentials, a malformed answer, a local I/O failure) is an internal error.
pub(super) fn store_err(err: object_store::Error, resource: impl FnOnce() -> String) -> Error {
    match err {
        object_store::Error::NotFound { .. } => Error::NotFound {
            resource: resource(),
        },
        err if is_unavailable(&err) => Error::Unavailable(format!("document store: {err}")),
        err => Error::Internal(format!("document store: {err}")),
    }
}

/// Whether anything in the error's chain says the store cannot serve now but may soon.
fn is_unavailable(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(http) = err.downcast_ref::<HttpError>()
            && matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            )
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::TimedOut
                    | ErrorKind::StorageFull
                    | ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        // The status of a failed HTTP request is only in the text of object_store's private
        // request error: "Server returned non-2xx status code: 503 Service Unavailable: …".
        let text = err.to_string();
        if let Some(rest) = text.strip_prefix("Server returned non-2xx status code: ")
            && (rest.starts_with('5') || rest.starts_with("429"))
        {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(source: impl StdError + Send + Sync + 'static) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: Box::new(source),
        }
    }

    #[test]
    fn unreachable_stores_are_unavailable() {
        let refused = std::io::Error::from(ErrorKind::ConnectionRefused);
        let err = store_err(
            generic(HttpError::new(HttpErrorKind::Connect, refused)),
            || "x".into(),
        );
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");

        let err = store_err(
            generic(std::io::Error::from(ErrorKind::StorageFull)),
            || "x".into(),
        );
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");

        for status in [
            "503 Service Unavailable",
            "500 Internal Server Error",
            "429 Too Many Requests",
        ] {
            let text = format!("Server returned non-2xx status code: {status}: <Error/>");
            let err = store_err(generic(std::io::Error::other(text)), || "x".into());
            assert!(matches!(err, Error::Unavailable(_)), "{status}: {err:?}");
        }
    }

    #[test]
    fn missing_objects_are_not_found_and_the_rest_internal() {
        let err = store_err(
            object_store::Error::NotFound {
                path: "content/sha256/ab/abc".into(),
                source: "gone".into(),
            },
            || "document content sha256:abc".into(),
        );
        assert_eq!(
            err,
            Error::NotFound {
                resource: "document content sha256:abc".into()
            }
        );

        let err = store_err(
            object_store::Error::PermissionDenied {
                path: "p".into(),
                source: "Server returned non-2xx status code: 403 Forbidden".into(),
            },
            || "x".into(),
        );
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
        let err = store_err(
            generic(std::io::Error::from(ErrorKind::PermissionDenied)),
            || "x".into(),
        );
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
    }
}
