//! Idempotency keys (AIP-155).
//!
//! A client that may retry a create sends a `request_id`; the store remembers the first
//! response under that key (per method) and returns it again for a retry, so a retried request
//! never creates twice. The key must be a UUID, which makes accidental reuse by two clients
//! practically impossible.

use crate::FieldViolation;

/// A validated idempotency key in its canonical lowercase hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Parses the request's `request_id`: empty means none; anything else must be a UUID.
    pub fn parse(raw: &str, field: &str) -> Result<Option<RequestId>, FieldViolation> {
        if raw.is_empty() {
            return Ok(None);
        }
        uuid::Uuid::try_parse(raw)
            .map(|u| Some(RequestId(u.hyphenated().to_string())))
            .map_err(|_| {
                FieldViolation::new(
                    field,
                    "must be a UUID, e.g. 4d2f1c9e-8b0a-4c51-9a4e-0b7f3a2d6c11",
                )
            })
    }

    /// The canonical text of the key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_no_key_and_uuids_are_canonicalised() {
        assert_eq!(RequestId::parse("", "request_id"), Ok(None));
        let id = RequestId::parse("4D2F1C9E-8B0A-4C51-9A4E-0B7F3A2D6C11", "request_id")
            .unwrap()
            .unwrap();
        assert_eq!(id.as_str(), "4d2f1c9e-8b0a-4c51-9a4e-0b7f3a2d6c11");
    }

    #[test]
    fn non_uuid_is_a_violation_of_the_field() {
        let err = RequestId::parse("retry-1", "request_id").unwrap_err();
        assert_eq!(err.field, "request_id");
    }
}
