//! Update masks ([AIP-134](https://google.aip.dev/134)): which fields of a resource an Update
//! changes.
//!
//! A resource declares its mask once, as an [`UpdateMask`]: every path a client may name with
//! the fields it stands for (a path may stand for several, e.g. `contacts`), and its output-only
//! paths. [`UpdateMask::resolve`] turns a request's paths into those fields:
//!
//! - no paths: every field the request sets (has a non-default value), as AIP-134 says of an
//!   omitted mask; to clear a field, or set it to its default, name it;
//! - `*`: every field;
//! - each path is checked, with or without `*`: an output-only or unknown path is a violation
//!   at `update_mask.paths[i]` whose description names the path.
//!
//! The merge of the resolved fields into the stored values is the resource's own (it knows its
//! types), and happens where the stored values are read: inside the write transaction.

use crate::error::{Error, Violations};

/// The mask paths of one resource type.
#[derive(Debug, Clone, Copy)]
pub struct UpdateMask<'a, F> {
    /// The resource type as the API names it, for messages: `Classifier`.
    pub resource: &'a str,
    /// Every path a mask may name, with the fields it stands for. `*` stands for the fields of
    /// all of them.
    pub paths: &'a [(&'a str, &'a [F])],
    /// The output-only paths, refused as such.
    pub output_only: &'a [&'a str],
}

impl<F: Copy + Ord> UpdateMask<'_, F> {
    /// The fields `paths` name, sorted and without repeats; without paths, the fields for
    /// which `is_set` holds. Every problem is reported at once.
    pub fn resolve(&self, paths: &[String], is_set: impl Fn(F) -> bool) -> Result<Vec<F>, Error> {
        let mut fields: Vec<F> = Vec::new();
        if paths.is_empty() {
            fields.extend(self.all().filter(|f| is_set(*f)));
        }
        let mut v = Violations::new();
        for (i, path) in paths.iter().enumerate() {
            if path == "*" {
                fields.extend(self.all());
            } else if let Some((_, named)) = self.paths.iter().find(|(p, _)| p == path) {
                fields.extend_from_slice(named);
            } else if self.output_only.contains(&path.as_str()) {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("{path:?} is output only and cannot be updated"),
                );
            } else {
                v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("{path:?} is not a field of {}", self.resource),
                );
            }
        }
        fields.sort_unstable();
        fields.dedup();
        v.finish(|| fields)
    }

    fn all(&self) -> impl Iterator<Item = F> + '_ {
        self.paths
            .iter()
            .flat_map(|(_, fields)| fields.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum F {
        Name,
        Email,
        Phone,
    }

    const MASK: UpdateMask<'static, F> = UpdateMask {
        resource: "Thing",
        paths: &[
            ("name", &[F::Name]),
            ("contacts", &[F::Email, F::Phone]),
            ("contacts.email", &[F::Email]),
            ("contacts.phone", &[F::Phone]),
        ],
        output_only: &["etag"],
    };

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn violations(err: Error) -> Vec<(String, String)> {
        match err {
            Error::InvalidArgument(v) => v.into_iter().map(|f| (f.field, f.description)).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn no_paths_mean_the_fields_set() {
        assert_eq!(MASK.resolve(&[], |f| f == F::Phone).unwrap(), [F::Phone]);
        assert!(MASK.resolve(&[], |_| false).unwrap().is_empty());
    }

    #[test]
    fn paths_name_their_fields_and_star_names_all() {
        assert_eq!(
            MASK.resolve(&paths(&["contacts", "contacts.email"]), |_| false)
                .unwrap(),
            [F::Email, F::Phone]
        );
        assert_eq!(
            MASK.resolve(&paths(&["*", "name"]), |_| false).unwrap(),
            [F::Name, F::Email, F::Phone]
        );
    }

    #[test]
    fn every_refused_path_is_named_even_beside_star() {
        let err = MASK
            .resolve(&paths(&["*", "etag", "colour"]), |_| true)
            .unwrap_err();
        assert_eq!(
            violations(err),
            [
                (
                    "update_mask.paths[1]".to_string(),
                    "\"etag\" is output only and cannot be updated".to_string()
                ),
                (
                    "update_mask.paths[2]".to_string(),
                    "\"colour\" is not a field of Thing".to_string()
                ),
            ]
        );
    }
}
