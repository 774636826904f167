//! Conversions between the `reestr.v1` information-system messages and the domain.
//!
//! Requests become a `SystemSpec` (unknown enum numbers recorded as field violations); domain
//! values become messages. Every message is destructured whole, so a new proto field does not
//! compile until it is handled here.

use reestr_domain::error::Violations;
use reestr_domain::revision::Revisioned;
use reestr_domain::system::{
    Dependency, Hosting, HostingKind, InformationResource, InformationSystem, LegalAct, Protocol,
    ProvidedService, Security, SecurityLevel, SystemContacts, SystemSpec, SystemState,
};

use crate::api::{legal_act, timestamp};
use crate::proto::v1 as pb;
use crate::proto::v1::information_system::State;

/// The domain state of a proto `State` number; `None` for UNSPECIFIED or an unknown number.
pub(super) fn state_from_proto(n: i32) -> Option<SystemState> {
    match State::try_from(n).ok()? {
        State::Unspecified => None,
        State::Planned => Some(SystemState::Planned),
        State::InDevelopment => Some(SystemState::InDevelopment),
        State::Pilot => Some(SystemState::Pilot),
        State::InOperation => Some(SystemState::InOperation),
        State::Suspended => Some(SystemState::Suspended),
        State::Decommissioned => Some(SystemState::Decommissioned),
    }
}

/// The proto `State` of a domain state.
pub(super) fn state_to_proto(s: SystemState) -> State {
    match s {
        SystemState::Planned => State::Planned,
        SystemState::InDevelopment => State::InDevelopment,
        SystemState::Pilot => State::Pilot,
        SystemState::InOperation => State::InOperation,
        SystemState::Suspended => State::Suspended,
        SystemState::Decommissioned => State::Decommissioned,
    }
}

/// The security level of a proto number; an unknown number is recorded in `v`.
fn level_from(n: i32, field: &str, v: &mut Violations) -> SecurityLevel {
    match pb::SecurityLevel::try_from(n) {
        Ok(pb::SecurityLevel::Unspecified) => SecurityLevel::Unspecified,
        Ok(pb::SecurityLevel::Low) => SecurityLevel::Low,
        Ok(pb::SecurityLevel::Medium) => SecurityLevel::Medium,
        Ok(pb::SecurityLevel::High) => SecurityLevel::High,
        Err(_) => {
            v.add(field, format!("{n} is not a security level"));
            SecurityLevel::Unspecified
        }
    }
}

/// The proto number of a security level.
fn level_to(l: SecurityLevel) -> i32 {
    (match l {
        SecurityLevel::Unspecified => pb::SecurityLevel::Unspecified,
        SecurityLevel::Low => pb::SecurityLevel::Low,
        SecurityLevel::Medium => pb::SecurityLevel::Medium,
        SecurityLevel::High => pb::SecurityLevel::High,
    }) as i32
}

/// The spec a request's system carries; unknown enum numbers are recorded in `v`.
/// Destructures the whole message so that a new proto field fails to compile until handled.
pub(super) fn spec_from_proto(s: pb::InformationSystem, v: &mut Violations) -> SystemSpec {
    let pb::InformationSystem {
        name: _,
        short_name,
        display_name,
        description,
        purpose,
        owner,
        operator,
        state: _,
        registration_number: _,
        legal_basis,
        security,
        hosting,
        contacts,
        labels,
        provided_services,
        dependencies,
        information_resources,
        create_time: _,
        update_time: _,
        delete_time: _,
        etag: _,
        revision: _,
        code_labels: _,
    } = s;
    let security = security.map_or_else(Security::default, |sec| Security {
        confidentiality: level_from(sec.confidentiality, "system.security.confidentiality", v),
        integrity: level_from(sec.integrity, "system.security.integrity", v),
        availability: level_from(sec.availability, "system.security.availability", v),
        processes_personal_data: sec.processes_personal_data,
        data_categories: sec.data_categories,
    });
    let hosting = hosting.map_or_else(Hosting::default, |h| Hosting {
        kind: match pb::hosting::Kind::try_from(h.kind) {
            Ok(pb::hosting::Kind::Unspecified) => HostingKind::Unspecified,
            Ok(pb::hosting::Kind::GovernmentDataCenter) => HostingKind::GovernmentDataCenter,
            Ok(pb::hosting::Kind::CommercialDataCenter) => HostingKind::CommercialDataCenter,
            Ok(pb::hosting::Kind::Cloud) => HostingKind::Cloud,
            Ok(pb::hosting::Kind::OnPremises) => HostingKind::OnPremises,
            Ok(pb::hosting::Kind::Other) => HostingKind::Other,
            Err(_) => {
                v.add(
                    "system.hosting.kind",
                    format!("{} is not a hosting kind", h.kind),
                );
                HostingKind::Unspecified
            }
        },
        provider: h.provider,
        location: h.location,
    });
    let provided_services = provided_services
        .into_iter()
        .enumerate()
        .map(|(i, p)| ProvidedService {
            protocol: match pb::provided_service::Protocol::try_from(p.protocol) {
                Ok(pb::provided_service::Protocol::Unspecified) => Protocol::Unspecified,
                Ok(pb::provided_service::Protocol::Grpc) => Protocol::Grpc,
                Ok(pb::provided_service::Protocol::Rest) => Protocol::Rest,
                Ok(pb::provided_service::Protocol::Soap) => Protocol::Soap,
                Ok(pb::provided_service::Protocol::Other) => Protocol::Other,
                Err(_) => {
                    v.add(
                        format!("system.provided_services[{i}].protocol"),
                        format!("{} is not a protocol", p.protocol),
                    );
                    Protocol::Unspecified
                }
            },
            name: p.name,
            endpoint: p.endpoint,
            description: p.description,
            api_specification: p.api_specification,
        })
        .collect();
    SystemSpec {
        short_name,
        display_name,
        description,
        purpose,
        owner,
        operator,
        legal_basis: legal_basis
            .into_iter()
            .map(|a| LegalAct {
                kind: legal_act::kind_from_proto(a.kind),
                number: a.number,
                date: a.date,
                title: a.title,
                url: a.url,
            })
            .collect(),
        security,
        hosting,
        contacts: contacts.map_or_else(SystemContacts::default, |c| SystemContacts {
            email: c.email,
            phone: c.phone,
            website: c.website,
        }),
        labels,
        provided_services,
        dependencies: dependencies
            .into_iter()
            .map(|d| Dependency {
                system: d.system,
                service: d.service,
                purpose: d.purpose,
            })
            .collect(),
        information_resources: information_resources
            .into_iter()
            .map(|r| InformationResource {
                name: r.name,
                description: r.description,
            })
            .collect(),
    }
}

/// The API form of a system.
pub(super) fn to_proto(s: &InformationSystem) -> pb::InformationSystem {
    let spec = &s.spec;
    let c = &spec.contacts;
    pb::InformationSystem {
        name: s.id.name(),
        short_name: spec.short_name.clone(),
        display_name: spec.display_name.clone(),
        description: spec.description.clone(),
        purpose: spec.purpose.clone(),
        owner: spec.owner.clone(),
        operator: spec.operator.clone(),
        state: state_to_proto(s.state) as i32,
        registration_number: s.registration_number.clone(),
        legal_basis: spec
            .legal_basis
            .iter()
            .map(|a| pb::LegalAct {
                kind: legal_act::kind_number(a.kind),
                number: a.number.clone(),
                date: a.date.clone(),
                title: a.title.clone(),
                url: a.url.clone(),
            })
            .collect(),
        security: Some(pb::SecurityProfile {
            confidentiality: level_to(spec.security.confidentiality),
            integrity: level_to(spec.security.integrity),
            availability: level_to(spec.security.availability),
            processes_personal_data: spec.security.processes_personal_data,
            data_categories: spec.security.data_categories.clone(),
        }),
        hosting: Some(pb::Hosting {
            kind: (match spec.hosting.kind {
                HostingKind::Unspecified => pb::hosting::Kind::Unspecified,
                HostingKind::GovernmentDataCenter => pb::hosting::Kind::GovernmentDataCenter,
                HostingKind::CommercialDataCenter => pb::hosting::Kind::CommercialDataCenter,
                HostingKind::Cloud => pb::hosting::Kind::Cloud,
                HostingKind::OnPremises => pb::hosting::Kind::OnPremises,
                HostingKind::Other => pb::hosting::Kind::Other,
            }) as i32,
            provider: spec.hosting.provider.clone(),
            location: spec.hosting.location.clone(),
        }),
        contacts: (!c.email.is_empty() || !c.phone.is_empty() || !c.website.is_empty()).then(
            || pb::Contacts {
                email: c.email.clone(),
                phone: c.phone.clone(),
                website: c.website.clone(),
            },
        ),
        labels: spec.labels.clone(),
        provided_services: spec
            .provided_services
            .iter()
            .map(|p| pb::ProvidedService {
                name: p.name.clone(),
                protocol: (match p.protocol {
                    Protocol::Unspecified => pb::provided_service::Protocol::Unspecified,
                    Protocol::Grpc => pb::provided_service::Protocol::Grpc,
                    Protocol::Rest => pb::provided_service::Protocol::Rest,
                    Protocol::Soap => pb::provided_service::Protocol::Soap,
                    Protocol::Other => pb::provided_service::Protocol::Other,
                }) as i32,
                endpoint: p.endpoint.clone(),
                description: p.description.clone(),
                api_specification: p.api_specification.clone(),
            })
            .collect(),
        dependencies: spec
            .dependencies
            .iter()
            .map(|d| pb::Dependency {
                system: d.system.clone(),
                service: d.service.clone(),
                purpose: d.purpose.clone(),
            })
            .collect(),
        information_resources: spec
            .information_resources
            .iter()
            .map(|r| pb::InformationResource {
                name: r.name.clone(),
                description: r.description.clone(),
            })
            .collect(),
        create_time: Some(timestamp(s.create_time)),
        update_time: Some(timestamp(s.update_time)),
        delete_time: s.delete_time.map(timestamp),
        etag: s.etag(),
        revision: s.revision,
        code_labels: Default::default(),
    }
}
