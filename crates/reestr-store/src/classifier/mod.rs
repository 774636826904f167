//! The classifier repository: classifiers, their versions, and the items of each version.
//!
//! A classifier's requirements are stored as JSON of the domain's draft shape and read back as
//! stored: the domain's rules are checked on writes, not again on reads. Items are stored as
//! their canonical encoding ([`encode_item`](reestr_domain::classifier::codec::encode_item)),
//! the same bytes the content hash is computed over, and read in ascending byte order of code
//! on both engines (see the migration).
//!
//! Every write is one transaction through [`Store::write`], ending with its audit event.
//! Writes to a version first *claim* it: a conditional `UPDATE … WHERE revision = old` that
//! bumps its revision. On PostgreSQL the claim also locks the row, so concurrent writers of
//! one draft queue there, and every one but the first finds the revision changed and fails
//! with [`Error::EtagMismatch`] instead of overwriting. While a transaction holds the claim
//! no other transaction changes that draft's items, which keeps `item_count` exact when it is
//! maintained incrementally.
//!
//! Layout:
//! - [`classifiers`]: the classifier records (create, read, list, update, delete, undelete).
//! - [`versions`]: versions, drafts, publication and retirement, and the claim of a draft.
//! - [`items`]: the items of a version: edits, imports ([`ImportSink`]) and scans.
//! - [`stored`]: how classifiers and versions are stored in their rows, and their audit fields.

mod classifiers;
mod items;
mod stored;
#[cfg(test)]
mod tests;
mod versions;

use reestr_domain::Error;

pub use self::classifiers::ClassifierQuery;
pub use self::items::ImportSink;
use crate::Store;

/// Reads and writes classifiers, versions and items.
pub struct ClassifierRepo<'s> {
    store: &'s Store,
}

impl<'s> ClassifierRepo<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self { store }
    }
}

fn check_revision(resource: String, current: i64, expected: Option<i64>) -> Result<(), Error> {
    match expected {
        Some(e) if e != current => Err(Error::EtagMismatch { resource }),
        _ => Ok(()),
    }
}
