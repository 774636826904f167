//! Names of classifiers, their versions and their items.
//!
//! - `classifiers/{classifier}`: a [`ClassifierId`], following AIP-122 like every collection.
//! - `classifiers/{classifier}/versions/{version}`: a [`VersionRef`], which is either an
//!   owner-chosen [`VersionId`] (`2026-1`) or one of the aliases `latest` and `draft`, resolved
//!   by the store.
//! - `classifiers/{classifier}/versions/{version}/items/{code}`: a [`Code`], case-sensitive
//!   and written exactly as the classifier's owner writes it.

use std::borrow::Borrow;
use std::fmt;

use crate::error::FieldViolation;
use crate::resource_id::{check_resource_id, resource_id};

/// The collection part of classifier names.
pub const COLLECTION: &str = "classifiers";
/// The collection part of version names, below a classifier.
pub const VERSIONS: &str = "versions";
/// The collection part of item names, below a version.
pub const ITEMS: &str = "items";
/// The version alias for the newest published version.
pub const LATEST: &str = "latest";
/// The version alias for the classifier's open draft.
pub const DRAFT: &str = "draft";

/// Longest version id, in characters.
pub const MAX_VERSION_ID_CHARS: usize = 63;
/// Longest item code, in characters.
pub const MAX_CODE_CHARS: usize = 64;

resource_id!(
    /// The final segment of a classifier's name: 1 to 63 lowercase Latin letters, digits and
    /// hyphens, starting with a letter and not ending with a hyphen (AIP-122), e.g. `soato`.
    ClassifierId,
    check = check_resource_id,
    collection = COLLECTION,
    segment = "classifier",
    noun = "a" "classifier"
);

/// Checks a version id chosen by a classifier's owner.
///
/// A version id is 1 to 63 characters: lowercase Latin letters, digits, hyphens and dots,
/// starting and ending with a letter or a digit, with no two separators (`-`, `.`) in a row.
/// Unlike other resource ids it may start with a digit, because owners number versions by
/// year (`2026-1`, `2026.2`, `v3`). The aliases `latest` and `draft` are reserved.
pub fn check_version_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("is required");
    }
    if id.len() > MAX_VERSION_ID_CHARS {
        return Err("must be at most 63 characters");
    }
    let bytes = id.as_bytes();
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
    {
        return Err("may contain only lowercase Latin letters, digits, hyphens and dots");
    }
    let alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alphanumeric) || !bytes.last().is_some_and(alphanumeric) {
        return Err("must start and end with a letter or a digit");
    }
    if bytes
        .windows(2)
        .any(|w| !alphanumeric(&w[0]) && !alphanumeric(&w[1]))
    {
        return Err("must not contain two separators (- or .) in a row");
    }
    if id == LATEST || id == DRAFT {
        return Err("is reserved: latest and draft are aliases, not version ids");
    }
    Ok(())
}

resource_id!(
    /// The final segment of a version's name, chosen by the owner (see [`check_version_id`]).
    VersionId,
    check = check_version_id
);

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The version segment of a name as a request writes it: an id, or an alias the store
/// resolves (`latest`: the newest published version; `draft`: the open draft).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionRef {
    /// A version named by its id.
    Id(VersionId),
    /// `latest`.
    Latest,
    /// `draft`.
    Draft,
}

impl VersionRef {
    /// Parses a version segment: `latest`, `draft`, or a version id.
    pub fn parse(segment: &str, field: &str) -> Result<Self, FieldViolation> {
        match segment {
            LATEST => Ok(VersionRef::Latest),
            DRAFT => Ok(VersionRef::Draft),
            other => VersionId::parse(other, field).map(VersionRef::Id),
        }
    }

    /// The segment as it appears in a name.
    pub fn as_str(&self) -> &str {
        match self {
            VersionRef::Id(id) => id.as_str(),
            VersionRef::Latest => LATEST,
            VersionRef::Draft => DRAFT,
        }
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed version name, `classifiers/{classifier}/versions/{version}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionName {
    /// The classifier.
    pub classifier: ClassifierId,
    /// The version or alias.
    pub version: VersionRef,
}

impl VersionName {
    /// Validates a version name.
    pub fn from_name(name: &str, field: &str) -> Result<Self, FieldViolation> {
        if name.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let segments: Vec<&str> = name.split('/').collect();
        match segments.as_slice() {
            [COLLECTION, classifier, VERSIONS, version] => {
                Self::from_segments(name, classifier, version, field)
            }
            _ => Err(FieldViolation::new(
                field,
                format!(
                    "{name:?} is not a version name (classifiers/{{classifier}}/versions/{{version}})"
                ),
            )),
        }
    }

    fn from_segments(
        name: &str,
        classifier: &str,
        version: &str,
        field: &str,
    ) -> Result<Self, FieldViolation> {
        let classifier = ClassifierId::parse(classifier, field).map_err(|v| {
            FieldViolation::new(field, format!("{name:?}: classifier id {}", v.description))
        })?;
        let version = VersionRef::parse(version, field).map_err(|v| {
            FieldViolation::new(field, format!("{name:?}: version id {}", v.description))
        })?;
        Ok(Self {
            classifier,
            version,
        })
    }

    /// The resource name.
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for VersionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{VERSIONS}/{}", self.classifier, self.version)
    }
}

/// Checks an item code: 1 to 64 characters, no `/`, no white space, no control characters.
///
/// Codes are case-sensitive and compared byte for byte (`01` and `1` are different codes;
/// so are `A1` and `a1`). Each classifier narrows them further with its `code_pattern`.
pub fn check_code(code: &str) -> Result<(), &'static str> {
    if code.is_empty() {
        return Err("is required");
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return Err("must be at most 64 characters");
    }
    if code.contains('/') {
        return Err("must not contain /");
    }
    if code.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain white space or control characters");
    }
    Ok(())
}

/// An item's code (see [`check_code`]). Codes order byte-wise, which is the order of their
/// Unicode code points, so the order is the same in every database and every language.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(String);

impl Code {
    /// Validates a code.
    pub fn parse(code: &str, field: &str) -> Result<Self, FieldViolation> {
        check_code(code)
            .map(|()| Self(code.to_string()))
            .map_err(|d| FieldViolation::new(field, d))
    }

    /// Rebuilds a code read back from the database.
    pub fn from_trusted(code: String) -> Self {
        Self(code)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code, consumed.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Borrow<str> for Code {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed item name, `classifiers/{classifier}/versions/{version}/items/{code}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemName {
    /// The version (or alias) the item is read from.
    pub version: VersionName,
    /// The item's code.
    pub code: Code,
}

impl ItemName {
    /// Validates an item name.
    pub fn from_name(name: &str, field: &str) -> Result<Self, FieldViolation> {
        if name.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        // Split without collecting: every lookup parses one.
        let mut parts = name.split('/');
        let mut segments = [""; 6];
        let mut count = 0;
        for part in parts.by_ref().take(6) {
            segments[count] = part;
            count += 1;
        }
        let whole = count == 6 && parts.next().is_none();
        match segments {
            [COLLECTION, classifier, VERSIONS, version, ITEMS, code] if whole => {
                let version = VersionName::from_segments(name, classifier, version, field)?;
                let code = Code::parse(code, field).map_err(|v| {
                    FieldViolation::new(field, format!("{name:?}: code {}", v.description))
                })?;
                Ok(Self { version, code })
            }
            _ => Err(FieldViolation::new(
                field,
                format!(
                    "{name:?} is not an item name \
                     (classifiers/{{classifier}}/versions/{{version}}/items/{{code}})"
                ),
            )),
        }
    }

    /// The resource name.
    pub fn name(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ItemName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{ITEMS}/{}", self.version, self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_names_follow_aip_122() {
        let id = ClassifierId::from_name("classifiers/soato", "name").unwrap();
        assert_eq!(id.as_str(), "soato");
        assert_eq!(id.name(), "classifiers/soato");
        for bad in [
            "",
            "classifiers/",
            "classifiers/Soato",
            "classifiers/a/b",
            "organizations/soato",
        ] {
            assert!(ClassifierId::from_name(bad, "name").is_err(), "{bad}");
        }
    }

    #[test]
    fn version_ids_may_start_with_a_digit_and_contain_dots() {
        for ok in ["2026-1", "2026.2", "v3", "1", "a.b-c", &"9".repeat(63)] {
            assert!(check_version_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-1",
            "1-",
            "2026..1",
            "2026-.1",
            ".1",
            "V3",
            "2026_1",
            "2026 1",
            "latest",
            "draft",
            &"9".repeat(64),
        ] {
            assert!(check_version_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_aliases_are_recognised_in_names() {
        let latest = VersionName::from_name("classifiers/soato/versions/latest", "name").unwrap();
        assert_eq!(latest.version, VersionRef::Latest);
        let draft = VersionName::from_name("classifiers/soato/versions/draft", "name").unwrap();
        assert_eq!(draft.version, VersionRef::Draft);
        let id = VersionName::from_name("classifiers/soato/versions/2026-1", "name").unwrap();
        assert_eq!(id.version.as_str(), "2026-1");
        assert_eq!(id.name(), "classifiers/soato/versions/2026-1");
        assert!(VersionName::from_name("classifiers/soato/versions/", "name").is_err());
        assert!(VersionName::from_name("classifiers/soato/version/1", "name").is_err());
        assert!(VersionName::from_name("classifiers/soato", "name").is_err());
    }

    #[test]
    fn item_names_carry_case_sensitive_codes() {
        let n =
            ItemName::from_name("classifiers/soato/versions/latest/items/1726A", "name").unwrap();
        assert_eq!(n.code.as_str(), "1726A");
        assert_eq!(n.version.classifier.as_str(), "soato");
        assert_eq!(n.name(), "classifiers/soato/versions/latest/items/1726A");
        assert_ne!(
            Code::parse("a1", "c").unwrap(),
            Code::parse("A1", "c").unwrap()
        );
        for bad in [
            "classifiers/soato/versions/latest/items/",
            "classifiers/soato/versions/latest/items/a/b",
            "classifiers/soato/versions/latest/items/a b",
            "classifiers/soato/versions/LATEST/items/a",
        ] {
            assert!(ItemName::from_name(bad, "name").is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_one_to_sixty_four_printable_characters() {
        for ok in ["1", "01.02", "A-1", "Ҳ1", &"x".repeat(64), &"я".repeat(64)] {
            assert!(check_code(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "a b",
            "a\tb",
            "a\u{0}",
            "\u{a0}",
            &"x".repeat(65),
        ] {
            assert!(check_code(bad).is_err(), "{bad:?}");
        }
    }
}
