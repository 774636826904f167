//! Contact details: e-mail, telephone, web site.

use crate::error::Violations;

/// Validated contact details; each part optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contacts {
    /// E-mail address.
    pub email: Option<String>,
    /// Telephone in E.164 form (`+998712020000`).
    pub phone: Option<String>,
    /// Absolute http(s) URL.
    pub website: Option<String>,
}

/// Contact details as the request carries them: empty strings mean "not set".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactsDraft {
    /// E-mail address or empty.
    pub email: String,
    /// Telephone or empty.
    pub phone: String,
    /// Web site or empty.
    pub website: String,
}

impl Contacts {
    /// The draft these contacts came from.
    pub fn to_draft(&self) -> ContactsDraft {
        ContactsDraft {
            email: self.email.clone().unwrap_or_default(),
            phone: self.phone.clone().unwrap_or_default(),
            website: self.website.clone().unwrap_or_default(),
        }
    }
}

impl ContactsDraft {
    /// Validates every part, recording problems under `{field}.email` and so on.
    pub fn validate(&self, field: &str, violations: &mut Violations) -> Contacts {
        let email = non_empty(&self.email).filter(|e| {
            let ok = valid_email(e);
            if !ok {
                violations.add(
                    format!("{field}.email"),
                    "must be an e-mail address such as info@stat.uz (at most 254 characters)",
                );
            }
            ok
        });
        let phone = non_empty(&self.phone).filter(|p| {
            let ok = valid_phone(p);
            if !ok {
                violations.add(
                    format!("{field}.phone"),
                    "must be in E.164 form: + followed by 7 to 15 digits, e.g. +998712020000",
                );
            }
            ok
        });
        let website = non_empty(&self.website).filter(|w| {
            let ok = valid_website(w);
            if !ok {
                violations.add(
                    format!("{field}.website"),
                    "must be an absolute http:// or https:// URL with a host (at most 2048 characters)",
                );
            }
            ok
        });
        Contacts {
            email,
            phone,
            website,
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn valid_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && valid_host(domain)
        && domain.contains('.')
}

fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

fn valid_phone(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn valid_website(s: &str) -> bool {
    if s.len() > 2048 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => host,
        Some(_) => return false,
        None => authority,
    };
    !authority.contains('@') && valid_host(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(email: &str, phone: &str, website: &str) -> Vec<String> {
        let mut v = Violations::new();
        ContactsDraft {
            email: email.into(),
            phone: phone.into(),
            website: website.into(),
        }
        .validate("contacts", &mut v);
        match v.into_result() {
            Ok(()) => vec![],
            Err(crate::Error::InvalidArgument(list)) => list.into_iter().map(|f| f.field).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn good_contacts_pass() {
        assert!(check("info@stat.uz", "+998712020000", "https://stat.uz/uz/").is_empty());
        assert!(check("", "", "").is_empty());
        assert!(check("a.b@gov.uz", "+4930123456", "http://my.gov.uz:8080/x?y#z").is_empty());
    }

    #[test]
    fn each_bad_part_is_reported_under_its_field() {
        assert_eq!(
            check("no-at-sign", "998712020000", "ftp://stat.uz"),
            ["contacts.email", "contacts.phone", "contacts.website"]
        );
        assert_eq!(check("a@localhost", "", ""), ["contacts.email"]);
        assert_eq!(check("", "+99871", ""), ["contacts.phone"]);
        assert_eq!(check("", "", "https://user@host.uz"), ["contacts.website"]);
        assert_eq!(check("", "", "https://"), ["contacts.website"]);
    }
}
