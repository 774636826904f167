//! API tokens: bearer secrets bound to an organisation and a set of roles.
//!
//! A secret is 256 random bits, shown once when the token is created and stored only as its
//! SHA-256 hash (a slow password hash is unnecessary: the secret is not guessable). The
//! secret's text is `rst_` followed by the unpadded base64url of the 32 bytes.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::access::Role;
use crate::error::{Reason, Violations};
use crate::organization::OrganizationId;
use crate::resource_id::resource_id;
use crate::time::Timestamp;
use crate::{Error, FieldViolation};

/// Prefix of every token secret, so that leaked secrets are easy to recognise in logs and by
/// secret scanners.
pub const SECRET_PREFIX: &str = "rst_";

/// Longest token display name, in characters.
const MAX_DISPLAY_NAME: usize = 100;

/// Checks a token id: 32 lowercase hex digits (the register makes them; clients never choose).
pub fn check_token_id(id: &str) -> Result<(), &'static str> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err("must be 32 lowercase hex digits")
    }
}

resource_id!(
    /// A token's id: 32 lowercase hex characters, `tokens/{id}`.
    TokenId,
    check = check_token_id
);

impl TokenId {
    /// Parses `tokens/{id}`.
    pub fn from_name(name: &str, field: &str) -> Result<TokenId, FieldViolation> {
        name.strip_prefix("tokens/")
            .filter(|id| check_token_id(id).is_ok())
            .map(|id| TokenId(id.to_string()))
            .ok_or_else(|| {
                FieldViolation::new(
                    field,
                    format!("{name:?} is not a token name (tokens/{{32 hex digits}})"),
                )
            })
    }

    /// A new id from 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> TokenId {
        TokenId(hex::encode(bytes))
    }

    /// `tokens/{id}`.
    pub fn name(&self) -> String {
        format!("tokens/{}", self.0)
    }
}

/// A token's own request rate, in place of the server's default per-caller rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateQuota {
    /// Sustained requests per second, 1 to [`MAX_RATE_PER_SECOND`].
    pub per_second: u32,
    /// Requests taken at once above the sustained rate, 1 to [`MAX_RATE_BURST`].
    pub burst: u32,
}

/// Highest sustained rate a token may be given.
pub const MAX_RATE_PER_SECOND: u32 = 100_000;

/// Largest burst a token may be given.
pub const MAX_RATE_BURST: u32 = 1_000_000;

impl RateQuota {
    /// Checks a rate as a request gives it (`field.requests_per_second`, `field.burst`); a
    /// burst of 0 means as many as the rate.
    pub fn check(
        per_second: i32,
        burst: i32,
        field: &str,
    ) -> Result<RateQuota, Vec<FieldViolation>> {
        let mut v = Vec::new();
        let rate = u32::try_from(per_second)
            .ok()
            .filter(|r| (1..=MAX_RATE_PER_SECOND).contains(r));
        if rate.is_none() {
            v.push(FieldViolation::new(
                format!("{field}.requests_per_second"),
                format!("must be 1 to {MAX_RATE_PER_SECOND}"),
            ));
        }
        let burst = u32::try_from(burst).ok().filter(|b| *b <= MAX_RATE_BURST);
        if burst.is_none() {
            v.push(FieldViolation::new(
                format!("{field}.burst"),
                format!("must be 0 to {MAX_RATE_BURST} (0: as many as requests_per_second)"),
            ));
        }
        match (rate, burst) {
            (Some(per_second), Some(burst)) => Ok(RateQuota {
                per_second,
                burst: if burst == 0 { per_second } else { burst },
            }),
            _ => Err(v),
        }
    }
}

/// A token as stored (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Id.
    pub id: TokenId,
    /// The organisation it acts for; `None` only for operator tokens (REGISTRY_ADMIN).
    pub organization: Option<OrganizationId>,
    /// Roles.
    pub roles: BTreeSet<Role>,
    /// What the token is for.
    pub display_name: String,
    /// When it stops working, if ever.
    pub expire_time: Option<Timestamp>,
    /// When it was created.
    pub create_time: Timestamp,
    /// When it was revoked, if it was.
    pub revoke_time: Option<Timestamp>,
    /// Who created it (a caller id).
    pub creator: String,
    /// Its own request rate; `None`: the server's default.
    pub rate_limit: Option<RateQuota>,
}

impl Token {
    /// Why the token cannot be used at `now`, if it cannot.
    pub fn refusal(&self, now: Timestamp) -> Option<(Reason, String)> {
        if self.revoke_time.is_some() {
            return Some((
                Reason::TokenRevoked,
                format!("{} has been revoked", self.id.name()),
            ));
        }
        match self.expire_time {
            Some(t) if t <= now => Some((
                Reason::TokenExpired,
                format!("{} has expired", self.id.name()),
            )),
            _ => None,
        }
    }
}

/// A validated request for a new token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// The organisation.
    pub organization: Option<OrganizationId>,
    /// Roles, at least one.
    pub roles: BTreeSet<Role>,
    /// Display name.
    pub display_name: String,
    /// Expiry.
    pub expire_time: Option<Timestamp>,
    /// Its own request rate.
    pub rate_limit: Option<RateQuota>,
}

/// A change of a token (UpdateToken): each field the mask named.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenChange {
    /// A new display name.
    pub display_name: Option<String>,
    /// A new own rate, or `Some(None)` to return to the server's default.
    pub rate_limit: Option<Option<RateQuota>>,
}

impl TokenChange {
    /// Checks an update: `paths` (empty: every field) of `display_name` and `rate_limit`
    /// (`requests_per_second` and `burst` as the request gives them, `None` when unset).
    pub fn validate(
        paths: &[String],
        display_name: &str,
        rate_limit: Option<(i32, i32)>,
    ) -> Result<TokenChange, Error> {
        let mut v = Violations::new();
        let mut change = TokenChange::default();
        let every = paths.is_empty();
        for path in paths {
            if !matches!(path.as_str(), "display_name" | "rate_limit") {
                v.add(
                    "update_mask",
                    format!("{path:?} cannot be changed; fields: display_name, rate_limit"),
                );
            }
        }
        if every || paths.iter().any(|p| p == "display_name") {
            match check_display_name(display_name) {
                Ok(name) => change.display_name = Some(name),
                Err(message) => v.add("token.display_name", message),
            }
        }
        if every || paths.iter().any(|p| p == "rate_limit") {
            change.rate_limit = Some(match rate_limit {
                None => None,
                Some((rate, burst)) => match RateQuota::check(rate, burst, "token.rate_limit") {
                    Ok(quota) => Some(quota),
                    Err(violations) => {
                        for violation in violations {
                            v.add(violation.field, violation.description);
                        }
                        None
                    }
                },
            });
        }
        v.finish(|| change)
    }
}

/// A display name, trimmed, or why it is refused.
fn check_display_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        Err("is required: say what the token is for")
    } else if name.chars().count() > MAX_DISPLAY_NAME || name.chars().any(char::is_control) {
        Err("must be at most 100 characters without control characters")
    } else {
        Ok(name.to_string())
    }
}

/// A token request before validation.
#[derive(Debug, Clone, Default)]
pub struct TokenDraft {
    /// `organizations/{o}` or empty.
    pub organization: String,
    /// Role names; `None` for an unknown enum number.
    pub roles: Vec<Option<Role>>,
    /// Display name.
    pub display_name: String,
    /// Expiry.
    pub expire_time: Option<Timestamp>,
    /// Its own rate, `(requests_per_second, burst)` as the request gives them.
    pub rate_limit: Option<(i32, i32)>,
}

impl TokenDraft {
    /// Checks the request at time `now`: at least one role; an organisation unless the token is
    /// an operator token (REGISTRY_ADMIN only); a display name; an expiry in the future.
    pub fn validate(&self, now: Timestamp) -> Result<TokenSpec, Error> {
        let mut v = Violations::new();
        let mut roles = BTreeSet::new();
        for (i, role) in self.roles.iter().enumerate() {
            match role {
                Some(r) => {
                    roles.insert(*r);
                }
                None => v.add(format!("token.roles[{i}]"), "is not a known role"),
            }
        }
        if self.roles.is_empty() {
            v.add("token.roles", "at least one role is required");
        }
        let organization = if self.organization.is_empty() {
            if !roles.is_empty() && roles.iter().any(|r| *r != Role::RegistryAdmin) {
                v.add(
                    "token.organization",
                    "is required for EDITOR, REVIEWER and READER tokens",
                );
            }
            None
        } else {
            v.check(OrganizationId::from_name(
                &self.organization,
                "token.organization",
            ))
        };
        let name = match check_display_name(&self.display_name) {
            Ok(name) => name,
            Err(message) => {
                v.add("token.display_name", message);
                String::new()
            }
        };
        let mut rate_limit = None;
        if let Some((rate, burst)) = self.rate_limit {
            match RateQuota::check(rate, burst, "token.rate_limit") {
                Ok(quota) => rate_limit = Some(quota),
                Err(violations) => {
                    for violation in violations {
                        v.add(violation.field, violation.description);
                    }
                }
            }
        }
        if let Some(t) = self.expire_time
            && t <= now
        {
            v.add("token.expire_time", "must be in the future");
        }
        v.finish(|| TokenSpec {
            organization,
            roles,
            display_name: name,
            expire_time: self.expire_time,
            rate_limit,
        })
    }
}

/// The secret's text for 32 random bytes.
pub fn secret_text(bytes: &[u8; 32]) -> String {
    use base64::Engine as _;
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a secret: hex SHA-256 of its text ([`secret_digest`] in hex).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(secret_digest(secret))
}

/// SHA-256 of a secret's text: what identifies a presented secret without keeping it (the
/// authentication cache's key; no hex text is made for a secret already verified).
pub fn secret_digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The secret of an `authorization` header value `Bearer <secret>` (scheme case-insensitive).
pub fn bearer_secret(header: &str) -> Option<&str> {
    let (scheme, secret) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(org: &str, roles: &[Role]) -> TokenDraft {
        TokenDraft {
            organization: org.into(),
            roles: roles.iter().map(|r| Some(*r)).collect(),
            display_name: "integration".into(),
            expire_time: None,
            rate_limit: None,
        }
    }

    #[test]
    fn a_rate_of_its_own_is_checked_and_a_zero_burst_is_the_rate() {
        assert_eq!(
            RateQuota::check(50, 0, "token.rate_limit"),
            Ok(RateQuota {
                per_second: 50,
                burst: 50
            })
        );
        let fields = |r: Result<RateQuota, Vec<FieldViolation>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|v| v.field).collect()
        };
        assert_eq!(
            fields(RateQuota::check(0, -1, "t")),
            ["t.requests_per_second", "t.burst"]
        );
        assert_eq!(
            fields(RateQuota::check(100_001, 1, "t")),
            ["t.requests_per_second"]
        );
        let mut with_rate = draft("organizations/stat", &[Role::Editor]);
        with_rate.rate_limit = Some((20, 60));
        assert_eq!(
            with_rate
                .validate(Timestamp::from_micros(1))
                .unwrap()
                .rate_limit,
            Some(RateQuota {
                per_second: 20,
                burst: 60
            })
        );
    }

    #[test]
    fn an_update_changes_the_fields_its_mask_names() {
        let only_rate = TokenChange::validate(&["rate_limit".into()], "", None).unwrap();
        assert_eq!(
            only_rate,
            TokenChange {
                display_name: None,
                rate_limit: Some(None)
            },
            "an unset rate with the mask naming it returns to the default"
        );
        let both = TokenChange::validate(&[], " portal ", Some((5, 0))).unwrap();
        assert_eq!(both.display_name.as_deref(), Some("portal"));
        assert_eq!(
            both.rate_limit,
            Some(Some(RateQuota {
                per_second: 5,
                burst: 5
            }))
        );
        let Err(Error::InvalidArgument(v)) =
            TokenChange::validate(&["roles".into(), "display_name".into()], "", None)
        else {
            panic!("refused");
        };
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["update_mask", "token.display_name"]);
    }

    #[test]
    fn operator_tokens_need_no_organisation_but_others_do() {
        let now = Timestamp::from_micros(1);
        assert!(draft("", &[Role::RegistryAdmin]).validate(now).is_ok());
        assert!(draft("", &[Role::Editor]).validate(now).is_err());
        assert!(
            draft("organizations/stat", &[Role::Editor, Role::Reader])
                .validate(now)
                .is_ok()
        );
    }

    #[test]
    fn roles_name_and_expiry_are_checked() {
        let now = Timestamp::from_micros(1_000);
        let mut d = draft("organizations/stat", &[]);
        d.roles.push(None);
        d.display_name = " ".into();
        d.expire_time = Some(Timestamp::from_micros(10));
        let Err(Error::InvalidArgument(list)) = d.validate(now) else {
            panic!("expected violations")
        };
        let fields: Vec<_> = list.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["token.roles[0]", "token.display_name", "token.expire_time"]
        );
    }

    #[test]
    fn revoked_and_expired_tokens_are_refused() {
        let token = Token {
            id: TokenId::from_random([1; 16]),
            organization: None,
            roles: [Role::Reader].into(),
            display_name: "t".into(),
            expire_time: Some(Timestamp::from_micros(100)),
            create_time: Timestamp::from_micros(0),
            revoke_time: None,
            creator: "x".into(),
            rate_limit: None,
        };
        assert!(token.refusal(Timestamp::from_micros(99)).is_none());
        assert_eq!(
            token.refusal(Timestamp::from_micros(100)).unwrap().0,
            Reason::TokenExpired
        );
        let revoked = Token {
            revoke_time: Some(Timestamp::from_micros(5)),
            ..token
        };
        assert_eq!(
            revoked.refusal(Timestamp::from_micros(1)).unwrap().0,
            Reason::TokenRevoked
        );
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_secret("Bearer rst_abc"), Some("rst_abc"));
        assert_eq!(bearer_secret("bearer  rst_abc "), Some("rst_abc"));
        assert_eq!(bearer_secret("Basic xyz"), None);
        assert_eq!(bearer_secret("Bearer "), None);
        assert_eq!(bearer_secret("rst_abc"), None);
    }

    #[test]
    fn secrets_are_prefixed_and_hashed() {
        let s = secret_text(&[0xab; 32]);
        assert!(s.starts_with("rst_"));
        assert_eq!(s.len(), 4 + 43);
        assert_eq!(secret_hash(&s).len(), 64);
        // Lowercase hex of SHA-256, as stored: the FIPS 180-2 example.
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(secret_hash(&s), secret_hash("rst_other"));
    }

    #[test]
    fn token_names_are_32_hex_digits() {
        let id = TokenId::from_random([0x0f; 16]);
        assert_eq!(TokenId::from_name(&id.name(), "name").unwrap(), id);
        assert!(TokenId::from_name("tokens/xyz", "name").is_err());
        assert!(
            TokenId::from_name("organizations/0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", "name").is_err()
        );
    }
}
