//! Resource ids: the one rule for an id segment (AIP-122) and the one declaration of an id type.
//!
//! Every id type is declared with [`resource_id!`]: a newtype over the bare id with `parse`
//! (validates a request's bare id with the type's rule), `from_trusted` (rebuilds an id read
//! back from the database) and `as_str`. A top-level collection (`organizations`, `systems`,
//! `classifiers`) adds its collection, the name's segment and a noun for messages, which gives it `from_name` (validates
//! `{collection}/{id}`), `name` and a `Display` of the full name. Adding a resource means one
//! such declaration.

/// Checks a resource id segment against the AIP-122 rules shared by every collection: 1 to 63
/// lowercase Latin letters, digits and hyphens, starting with a letter and not ending with a
/// hyphen.
pub fn check_resource_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("is required");
    }
    if id.len() > 63 {
        return Err("must be at most 63 characters");
    }
    let bytes = id.as_bytes();
    if !bytes[0].is_ascii_lowercase() {
        return Err("must start with a lowercase Latin letter");
    }
    if bytes[bytes.len() - 1] == b'-' {
        return Err("must not end with a hyphen");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return Err("may contain only lowercase Latin letters, digits and hyphens");
    }
    Ok(())
}

/// Declares an id type; see the [module documentation](self).
macro_rules! resource_id {
    ($(#[$doc:meta])* $name:ident, check = $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates a bare id, e.g. the `…_id` of a create request.
            pub fn parse(id: &str, field: &str) -> Result<Self, $crate::FieldViolation> {
                $check(id)
                    .map(|()| Self(id.to_string()))
                    .map_err(|d| $crate::FieldViolation::new(field, d))
            }

            /// Rebuilds an id read back from the database.
            pub fn from_trusted(id: String) -> Self {
                Self(id)
            }

            /// The bare id.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
    (
        $(#[$doc:meta])* $name:ident, check = $check:path,
        collection = $collection:expr, segment = $segment:literal, noun = $article:literal $noun:literal
    ) => {
        $crate::resource_id::resource_id!($(#[$doc])* $name, check = $check);

        impl $name {
            /// Validates a resource name `{collection}/{id}`.
            pub fn from_name(name: &str, field: &str) -> Result<Self, $crate::FieldViolation> {
                if name.is_empty() {
                    return Err($crate::FieldViolation::new(field, "is required"));
                }
                let id = name
                    .strip_prefix($collection)
                    .and_then(|rest| rest.strip_prefix('/'));
                let Some(id) = id else {
                    return Err($crate::FieldViolation::new(
                        field,
                        format!(
                            "{name:?} is not {} {} name ({}/{{{}}})",
                            $article, $noun, $collection, $segment
                        ),
                    ));
                };
                Self::parse(id, field).map_err(|v| {
                    $crate::FieldViolation::new(
                        field,
                        format!("{name:?}: {} id {}", $noun, v.description),
                    )
                })
            }

            /// The resource name, `{collection}/{id}`.
            pub fn name(&self) -> String {
                // Every read names resources: built without the formatting machinery.
                let mut name = String::with_capacity($collection.len() + 1 + self.0.len());
                name.push_str($collection);
                name.push('/');
                name.push_str(&self.0);
                name
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}/{}", $collection, self.0)
            }
        }
    };
}

pub(crate) use resource_id;
