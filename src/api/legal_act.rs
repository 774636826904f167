//! `reestr.v1.LegalAct`, the one message of a normative act, for every resource that has a
//! legal basis (information systems, classifiers).

use reestr_domain::classifier::{LegalActDraft, LegalActKind};
use reestr_domain::input::Choice;

use crate::proto::v1 as pb;

/// The kind a request names: unset, known, or a number this server does not know.
pub(crate) fn kind_from_proto(n: i32) -> Choice<LegalActKind> {
    match pb::LegalActKind::try_from(n) {
        Ok(pb::LegalActKind::Unspecified) => Choice::Unset,
        Ok(pb::LegalActKind::Law) => Choice::Known(LegalActKind::Law),
        Ok(pb::LegalActKind::PresidentialDecree) => Choice::Known(LegalActKind::PresidentialDecree),
        Ok(pb::LegalActKind::PresidentialResolution) => {
            Choice::Known(LegalActKind::PresidentialResolution)
        }
        Ok(pb::LegalActKind::CabinetResolution) => Choice::Known(LegalActKind::CabinetResolution),
        Ok(pb::LegalActKind::DepartmentalAct) => Choice::Known(LegalActKind::DepartmentalAct),
        Ok(pb::LegalActKind::Other) => Choice::Known(LegalActKind::Other),
        Err(_) => Choice::Unknown(n),
    }
}

/// The proto value of a kind.
pub(crate) fn kind_to_proto(k: LegalActKind) -> pb::LegalActKind {
    match k {
        LegalActKind::Law => pb::LegalActKind::Law,
        LegalActKind::PresidentialDecree => pb::LegalActKind::PresidentialDecree,
        LegalActKind::PresidentialResolution => pb::LegalActKind::PresidentialResolution,
        LegalActKind::CabinetResolution => pb::LegalActKind::CabinetResolution,
        LegalActKind::DepartmentalAct => pb::LegalActKind::DepartmentalAct,
        LegalActKind::Other => pb::LegalActKind::Other,
    }
}

/// The number a kind is sent as (`0` unset; an unknown number as it came).
pub(crate) fn kind_number(kind: Choice<LegalActKind>) -> i32 {
    match kind {
        Choice::Known(k) => kind_to_proto(k) as i32,
        Choice::Unset => 0,
        Choice::Unknown(n) => n,
    }
}

/// The draft of an act in a request.
pub(crate) fn draft_from_proto(a: pb::LegalAct) -> LegalActDraft {
    let pb::LegalAct {
        kind,
        number,
        date,
        title,
        url,
    } = a;
    LegalActDraft {
        kind: kind_from_proto(kind),
        number,
        date,
        title,
        url,
    }
}

/// The message of an act (as drafts carry it).
pub(crate) fn draft_to_proto(d: LegalActDraft) -> pb::LegalAct {
    let LegalActDraft {
        kind,
        number,
        date,
        title,
        url,
    } = d;
    pb::LegalAct {
        kind: kind_number(kind),
        number,
        date,
        title,
        url,
    }
}
