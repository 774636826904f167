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
use reestr_domain::classifier::Classifier;

pub use self::classifiers::ClassifierQuery;
pub use self::items::ImportSink;
pub use self::versions::VersionChange;
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

/// Refuses a write prepared against revision `expected` of a row now at `current` (the caller
/// reads again and retries): how a publication is bound to the validation it was given.
fn unchanged_since(resource: String, current: i64, expected: i64) -> Result<(), Error> {
    if current == expected {
        Ok(())
    } else {
        Err(Error::EtagMismatch { resource })
    }
}

/// What every write of a classifier's versions and items passes inside its transaction, against
/// the rows as they are there: the caller's right to write the classifier, and the version's
/// etag the client sent (empty: none; see [`reestr_domain::revision`]).
#[derive(Clone, Copy)]
pub struct DraftGuard<'a> {
    /// Approves the caller for the classifier as it is in the transaction (its owner).
    pub authorize: &'a (dyn Fn(&Classifier) -> Result<(), Error> + Send + Sync),
    /// The version's etag from the request.
    pub etag: &'a str,
}
