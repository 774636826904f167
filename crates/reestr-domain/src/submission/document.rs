//! Documents of a submission: what each is, and the metadata an upload declares.
//!
//! An upload declares a document's type, file name, media type, size and SHA-256 before its
//! first byte; [`DocumentDraft::validate`] checks them all at once. The store then checks the
//! bytes received against the declared size and hash. Uploading a document again makes a new
//! version of it; a review round is bound to the versions (by their SHA-256) that were current
//! when the round started.

use std::fmt;

use super::name::SubmissionName;
use crate::error::{Error, FieldViolation, Violations};
use crate::input::Choice;
use crate::resource_id::{check_resource_id, resource_id};
use crate::time::Timestamp;

/// The collection part of document names, under a submission.
pub const COLLECTION: &str = "documents";

/// The collection part of upload names, under a submission.
pub const UPLOADS: &str = "uploads";

resource_id!(
    /// A document's id, unique within its submission (AIP-122 rules).
    DocumentId,
    check = check_resource_id
);

/// Validates `systems/{system}/submissions/{submission}/documents/{document}`.
pub fn parse_document_name(
    name: &str,
    field: &str,
) -> Result<(SubmissionName, DocumentId), FieldViolation> {
    let (submission, id) = super::name::split_child(name, COLLECTION, field)?;
    Ok((submission, DocumentId::parse(id, field)?))
}

/// One version of a document of a submission, as the register keeps it. A version never
/// changes once it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The submission.
    pub submission: SubmissionName,
    /// Its id within the submission.
    pub id: DocumentId,
    /// The version, from 1: each upload of the document makes the next.
    pub version: u32,
    /// What was declared, and checked against the bytes.
    pub spec: DocumentSpec,
    /// Who uploaded it.
    pub caller: String,
    /// When its upload completed.
    pub create_time: Timestamp,
}

impl Document {
    /// `systems/{system}/submissions/{submission}/documents/{document}`.
    pub fn name(&self) -> String {
        format!(
            "{}/{COLLECTION}/{}",
            self.submission.name(),
            self.id.as_str()
        )
    }
}

/// An upload of a document under way: what it declared, and how much of it the register has
/// kept so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The submission.
    pub submission: SubmissionName,
    /// The client's id of the upload (a UUID).
    pub id: String,
    /// The document it makes the next version of.
    pub document: DocumentId,
    /// The declared metadata.
    pub spec: DocumentSpec,
    /// Bytes received and kept: a resumed upload continues from here.
    pub committed_size: u64,
    /// The start offsets of the segments the content is staged in, ascending.
    pub segments: Vec<u64>,
    /// Who started it.
    pub caller: String,
    /// When it started.
    pub create_time: Timestamp,
    /// When it is dropped if not completed.
    pub expire_time: Timestamp,
}

impl Upload {
    /// `systems/{system}/submissions/{submission}/uploads/{upload}`.
    pub fn name(&self) -> String {
        format!("{}/{UPLOADS}/{}", self.submission.name(), self.id)
    }
}

/// Longest file name, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// Longest media type, in characters (RFC 6838 allows 127 for each of its two names).
pub const MAX_MEDIA_TYPE_CHARS: usize = 255;

/// What a document of the design documentation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocumentType {
    /// Technical assignment (texnik topshiriq): what the system must do.
    TechnicalAssignment,
    /// Technical project: how it will be built.
    TechnicalProject,
    /// Working documentation.
    WorkingDocumentation,
    /// Information security assessment.
    SecurityAssessment,
    /// Report of tests or of trial operation.
    TestReport,
    /// Operating manual.
    OperatingManual,
    /// Any other document.
    Other,
}

impl DocumentType {
    /// Every type.
    pub const ALL: [DocumentType; 7] = [
        DocumentType::TechnicalAssignment,
        DocumentType::TechnicalProject,
        DocumentType::WorkingDocumentation,
        DocumentType::SecurityAssessment,
        DocumentType::TestReport,
        DocumentType::OperatingManual,
        DocumentType::Other,
    ];

    /// The type's name in the API (without the `DOCUMENT_TYPE_` prefix) and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::TechnicalAssignment => "TECHNICAL_ASSIGNMENT",
            DocumentType::TechnicalProject => "TECHNICAL_PROJECT",
            DocumentType::WorkingDocumentation => "WORKING_DOCUMENTATION",
            DocumentType::SecurityAssessment => "SECURITY_ASSESSMENT",
            DocumentType::TestReport => "TEST_REPORT",
            DocumentType::OperatingManual => "OPERATING_MANUAL",
            DocumentType::Other => "OTHER",
        }
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::api_enum!(DocumentType, "DOCUMENT_TYPE_");

/// A document's metadata as an upload declares it, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentDraft {
    /// Type.
    pub document_type: Choice<DocumentType>,
    /// File name, e.g. `texnik-topshiriq.pdf`.
    pub file_name: String,
    /// Media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Declared size in bytes.
    pub size_bytes: i64,
    /// Declared SHA-256 of the content.
    pub sha256: String,
    /// Whether only the owner, the reviewers and administrators may download it.
    pub restricted: bool,
}

/// A document's validated metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentSpec {
    /// Type.
    pub document_type: DocumentType,
    /// File name: no path, no control characters.
    pub file_name: String,
    /// Media type `type/subtype`, in lowercase.
    pub media_type: String,
    /// Size in bytes, at least 1.
    pub size_bytes: u64,
    /// SHA-256, 64 lowercase hex digits.
    pub sha256: String,
    /// Whether downloading is restricted.
    pub restricted: bool,
}

impl DocumentDraft {
    /// Checks every field, naming problems under `prefix` (e.g. `document`).
    pub fn validate(&self, prefix: &str) -> Result<DocumentSpec, Error> {
        let mut v = Violations::new();
        let spec = self.validate_into(prefix, &mut v);
        v.into_result()?;
        spec.ok_or_else(|| {
            Error::Internal("validation produced neither value nor violation".into())
        })
    }

    /// Like [`DocumentDraft::validate`], recording violations into `v`. `Some` only when this
    /// draft is valid.
    pub fn validate_into(&self, prefix: &str, v: &mut Violations) -> Option<DocumentSpec> {
        let before = v.len();
        let f = |name: &str| format!("{prefix}.{name}");
        let document_type = match self.document_type {
            Choice::Known(t) => Some(t),
            Choice::Unset => {
                v.add(f("document_type"), "is required");
                None
            }
            Choice::Unknown(n) => {
                v.add(
                    f("document_type"),
                    format!("{n} is not a known document type"),
                );
                None
            }
        };
        v.check(check_file_name(&self.file_name, &f("file_name")));
        let media_type = v.check(check_media_type(&self.media_type, &f("media_type")));
        let size_bytes = match u64::try_from(self.size_bytes) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                v.add(f("size_bytes"), "must be greater than 0");
                None
            }
        };
        v.check(check_sha256(&self.sha256, &f("sha256")));
        if v.len() != before {
            return None;
        }
        Some(DocumentSpec {
            document_type: document_type?,
            file_name: self.file_name.clone(),
            media_type: media_type?,
            size_bytes: size_bytes?,
            sha256: self.sha256.clone(),
            restricted: self.restricted,
        })
    }
}

/// Checks a file name: 1 to [`MAX_FILE_NAME_CHARS`] characters, a name and not a path (no `/`
/// or `\`, not `.` or `..`), no control characters or bidirectional overrides (which make
/// `fdp.exe` display as `exe.pdf`), no surrounding white space.
pub fn check_file_name(name: &str, field: &str) -> Result<(), FieldViolation> {
    let problem = if name.is_empty() {
        Some("is required")
    } else if name.chars().count() > MAX_FILE_NAME_CHARS {
        Some("must be at most 255 characters")
    } else if name.contains(['/', '\\']) || name == "." || name == ".." {
        Some("must be a file name, not a path (no / or \\)")
    } else if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        Some("must not contain control characters")
    } else if name.trim() != name {
        Some("must not start or end with white space")
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(FieldViolation::new(field, p)))
}

/// Unicode's explicit bidirectional formatting characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a media type `type/subtype` (RFC 6838 names: a letter or digit, then up to 126
/// letters, digits and `!#$&-^_.+`; no parameters such as `; charset=`) and returns it in
/// lowercase, as media types compare regardless of case.
pub fn check_media_type(text: &str, field: &str) -> Result<String, FieldViolation> {
    let refuse = || {
        FieldViolation::new(
            field,
            "must be a media type type/subtype, e.g. application/pdf, without parameters",
        )
    };
    if text.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if text.len() > MAX_MEDIA_TYPE_CHARS {
        return Err(refuse());
    }
    let (kind, subtype) = text.split_once('/').ok_or_else(refuse)?;
    if is_restricted_name(kind) && is_restricted_name(subtype) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(refuse())
    }
}

fn is_restricted_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 127
        && b[0].is_ascii_alphanumeric()
        && b[1..].iter().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                )
        })
}

/// Checks a SHA-256 as the register writes it: exactly 64 lowercase hex digits.
pub fn check_sha256(text: &str, field: &str) -> Result<(), FieldViolation> {
    if text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else if text.is_empty() {
        Err(FieldViolation::new(field, "is required"))
    } else {
        Err(FieldViolation::new(
            field,
            "must be a SHA-256 written as 64 lowercase hex digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn draft() -> DocumentDraft {
        DocumentDraft {
            document_type: Choice::Known(DocumentType::TechnicalAssignment),
            file_name: "Texnik topshiriq v2.pdf".into(),
            media_type: "Application/PDF".into(),
            size_bytes: 1_048_576,
            sha256: HASH.into(),
            restricted: true,
        }
    }

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_upload_keeps_its_metadata_with_the_media_type_in_lowercase() {
        let spec = draft().validate("metadata.document").unwrap();
        assert_eq!(spec.media_type, "application/pdf");
        assert_eq!(spec.size_bytes, 1_048_576);
        assert_eq!(spec.file_name, "Texnik topshiriq v2.pdf");
        assert!(spec.restricted);
    }

    #[test]
    fn every_bad_field_is_reported_at_once_under_its_path() {
        let err = DocumentDraft {
            document_type: Choice::Unset,
            file_name: "../etc/passwd".into(),
            media_type: "pdf".into(),
            size_bytes: 0,
            sha256: HASH.to_uppercase(),
            restricted: false,
        }
        .validate("document")
        .unwrap_err();
        assert_eq!(
            fields(err),
            [
                "document.document_type",
                "document.file_name",
                "document.media_type",
                "document.size_bytes",
                "document.sha256",
            ]
        );
    }

    #[test]
    fn file_names_are_names_not_paths() {
        for bad in [
            "",
            "a/b.pdf",
            "a\\b.pdf",
            ".",
            "..",
            "nul\0.pdf",
            "line\nbreak.pdf",
            "report\u{202E}fdp.exe",
            " leading.pdf",
            "trailing.pdf ",
        ] {
            assert!(check_file_name(bad, "f").is_err(), "{bad:?}");
        }
        let long = "ж".repeat(MAX_FILE_NAME_CHARS);
        assert!(check_file_name(&long, "f").is_ok());
        assert!(check_file_name(&format!("{long}x"), "f").is_err());
        for good in [
            "..hidden",
            "a..b.pdf",
            "Loyiha (2-nashr).docx",
            "Тех. задание.pdf",
        ] {
            assert!(check_file_name(good, "f").is_ok(), "{good:?}");
        }
    }

    #[test]
    fn media_types_follow_the_type_subtype_syntax() {
        for good in [
            "application/pdf",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "image/svg+xml",
            "TEXT/PLAIN",
        ] {
            assert!(check_media_type(good, "m").is_ok(), "{good}");
        }
        for bad in [
            "",
            "pdf",
            "application/",
            "/pdf",
            "application/pdf/x",
            "text/plain; charset=utf-8",
            "application/.pdf",
            "appli cation/pdf",
            "текст/plain",
        ] {
            assert!(check_media_type(bad, "m").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_must_be_positive() {
        for size in [0, -1, i64::MIN] {
            let err = DocumentDraft {
                size_bytes: size,
                ..draft()
            }
            .validate("document")
            .unwrap_err();
            assert_eq!(fields(err), ["document.size_bytes"], "{size}");
        }
    }

    #[test]
    fn hashes_are_64_lowercase_hex_digits() {
        assert!(check_sha256(HASH, "h").is_ok());
        for bad in [
            "",
            &HASH[..63],
            &format!("{HASH}0"),
            &HASH.to_uppercase(),
            &format!("{}g", &HASH[..63]),
        ] {
            assert!(check_sha256(bad, "h").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn document_types_round_trip_through_their_names() {
        for t in DocumentType::ALL {
            assert_eq!(t.as_str().parse::<DocumentType>(), Ok(t));
            assert_eq!(format!("DOCUMENT_TYPE_{t}").parse::<DocumentType>(), Ok(t));
        }
    }
}
