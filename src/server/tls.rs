//! TLS and client certificates.
//!
//! With `--tls-cert` and `--tls-key` the server speaks TLS (rustls through tonic). With
//! `--tls-client-ca` as well, every client must present a certificate signed by that CA;
//! rustls refuses unknown, expired and not-yet-valid certificates during the handshake. A
//! client that has not finished its handshake after [`HANDSHAKE_TIMEOUT`] is disconnected.
//!
//! A verified certificate names its organisation and roles in subject-alternative-name URIs
//! of the form `urn:reestr:organizations:{organization}:{ROLE}`, e.g.
//! `urn:reestr:organizations:stat:EDITOR` — one URI per role. The CA that signs client
//! certificates is the register's, so its signature vouches for the organisation and the
//! roles. A certificate without such a URI, or naming two organisations, authenticates nobody
//! (UNAUTHENTICATED, CERTIFICATE_UNMAPPED). The audit trail records the caller as
//! `cert:{subject} ({sha256 of the certificate})`.

use std::collections::BTreeSet;
use std::time::Duration;

use reestr_domain::access::{Caller, Principal, Role};
use reestr_domain::error::Reason;
use reestr_domain::organization::OrganizationId;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// How long a client may take to complete the TLS handshake before the server drops the
/// connection.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The URI prefix of the SANs that map a certificate to an organisation and a role.
pub const SAN_URI_PREFIX: &str = "urn:reestr:organizations:";

/// The caller a verified client certificate (DER) stands for.
pub fn caller_from_certificate(der: &[u8]) -> Caller {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Caller::rejected(
            Reason::CertificateUnmapped,
            "the client certificate cannot be read",
        );
    };
    let fingerprint = hex::encode(Sha256::digest(der));
    let subject = cert.subject().to_string();
    let uris: Vec<&str> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) => Some(*u),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    match map_uris(&uris) {
        Ok((organization, roles)) => Caller {
            principal: Principal::Certificate {
                subject,
                fingerprint,
            },
            organization: Some(organization),
            roles,
            credential_error: None,
            organization_deleted: false,
            rate_limit: None,
        },
        Err(message) => Caller::rejected(Reason::CertificateUnmapped, message),
    }
}

/// The organisation and roles named by `urn:reestr:organizations:{org}:{ROLE}` URIs.
fn map_uris(uris: &[&str]) -> Result<(OrganizationId, BTreeSet<Role>), String> {
    let mut organization: Option<OrganizationId> = None;
    let mut roles = BTreeSet::new();
    for uri in uris {
        let Some(rest) = uri.strip_prefix(SAN_URI_PREFIX) else {
            continue;
        };
        let Some((org, role)) = rest.split_once(':') else {
            return Err(format!("{uri:?} does not end in :{{ROLE}}"));
        };
        let org = OrganizationId::parse(org, "certificate").map_err(|v| v.description)?;
        let role: Role = role
            .parse()
            .map_err(|()| format!("{uri:?} names an unknown role"))?;
        if organization.as_ref().is_some_and(|o| *o != org) {
            return Err("the certificate names more than one organisation".into());
        }
        organization = Some(org);
        roles.insert(role);
    }
    organization.map(|o| (o, roles)).ok_or_else(|| {
        format!("the certificate has no {SAN_URI_PREFIX}{{organization}}:{{ROLE}} URI")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_map_to_one_organisation_and_its_roles() {
        let (org, roles) = map_uris(&[
            "https://stat.uz",
            "urn:reestr:organizations:stat:EDITOR",
            "urn:reestr:organizations:stat:READER",
        ])
        .unwrap();
        assert_eq!(org.as_str(), "stat");
        assert_eq!(roles, [Role::Editor, Role::Reader].into());
    }

    #[test]
    fn unmappable_uris_are_refused() {
        assert!(map_uris(&[]).is_err());
        assert!(map_uris(&["urn:reestr:organizations:stat"]).is_err());
        assert!(map_uris(&["urn:reestr:organizations:stat:KING"]).is_err());
        assert!(map_uris(&["urn:reestr:organizations:Bad:EDITOR"]).is_err());
        assert!(
            map_uris(&[
                "urn:reestr:organizations:stat:EDITOR",
                "urn:reestr:organizations:minfin:EDITOR"
            ])
            .is_err()
        );
    }
}
