//! Revisions, etags and soft deletion: the one rule for each, for every resource that has them.
//!
//! Every mutable resource carries a revision (1 on creation, +1 on every change). Its etag is
//! derived from its name and revision ([`etag`]), so it is opaque, short and different for every
//! resource and revision. A write that carries an etag applies only to the revision it names
//! ([`Revisioned::check_etag`], ABORTED otherwise); the store checks it inside the write's
//! transaction, against the row it writes.
//!
//! Soft-deletable resources ([`SoftDeleted`]) are deleted and restored by one rule,
//! [`Deletion::apply`]: deleting a deleted resource is FAILED_PRECONDITION `DELETED`, restoring
//! a live one FAILED_PRECONDITION `NOT_DELETED`, and the etag applies as to any write.

use sha2::{Digest, Sha256};

use crate::Error;
use crate::time::Timestamp;

/// A resource written under optimistic concurrency.
pub trait Revisioned {
    /// The resource's name, e.g. `systems/e-soliq`.
    fn resource_name(&self) -> String;

    /// 1 on creation, +1 on every change.
    fn revision(&self) -> i64;

    /// The etag of this revision.
    fn etag(&self) -> String {
        etag(&self.resource_name(), self.revision())
    }

    /// Fails with [`Error::EtagMismatch`] (ABORTED) when `expected` is set and is not the etag
    /// of this revision; an empty `expected` always passes.
    fn check_etag(&self, expected: &str) -> Result<(), Error> {
        if expected.is_empty() || expected == self.etag() {
            Ok(())
        } else {
            Err(Error::EtagMismatch {
                resource: self.resource_name(),
            })
        }
    }
}

/// A resource that is deleted softly: it keeps its row with a `delete_time`, stays readable
/// with `show_deleted`, and can be restored.
pub trait SoftDeleted: Revisioned {
    /// When it was deleted; `None` while it is live.
    fn delete_time(&self) -> Option<Timestamp>;
}

/// A soft delete or its undoing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Delete a live resource.
    Delete,
    /// Restore a deleted resource.
    Undelete,
}

impl Deletion {
    /// `Delete` when `deleted`, else `Undelete`.
    pub fn of(deleted: bool) -> Self {
        if deleted {
            Self::Delete
        } else {
            Self::Undelete
        }
    }

    /// Checks that `resource` (as it is in the write's transaction) can take this change under
    /// `etag`, and returns its `delete_time` after the change made at `now`.
    pub fn apply(
        self,
        resource: &impl SoftDeleted,
        etag: &str,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, Error> {
        match (self, resource.delete_time()) {
            (Self::Delete, Some(_)) => {
                return Err(Error::Deleted {
                    resource: resource.resource_name(),
                });
            }
            (Self::Undelete, None) => {
                return Err(Error::NotDeleted {
                    resource: resource.resource_name(),
                });
            }
            _ => {}
        }
        resource.check_etag(etag)?;
        Ok(match self {
            Self::Delete => Some(now),
            Self::Undelete => None,
        })
    }
}

/// The etag of revision `revision` of the resource `name`.
pub fn etag(name: &str, revision: i64) -> String {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\0")
        .chain_update(revision.to_be_bytes())
        .finalize();
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing {
        revision: i64,
        delete_time: Option<Timestamp>,
    }

    impl Revisioned for Thing {
        fn resource_name(&self) -> String {
            "things/a".into()
        }
        fn revision(&self) -> i64 {
            self.revision
        }
    }

    impl SoftDeleted for Thing {
        fn delete_time(&self) -> Option<Timestamp> {
            self.delete_time
        }
    }

    #[test]
    fn etag_changes_with_revision_and_resource() {
        assert_ne!(etag("organizations/a", 1), etag("organizations/a", 2));
        assert_ne!(etag("organizations/a", 1), etag("organizations/b", 1));
        assert_eq!(etag("organizations/a", 1), etag("organizations/a", 1));
    }

    #[test]
    fn a_stale_etag_is_aborted_and_an_empty_one_passes() {
        let thing = Thing {
            revision: 3,
            delete_time: None,
        };
        assert!(thing.check_etag("").is_ok());
        assert!(thing.check_etag(&etag("things/a", 3)).is_ok());
        assert!(matches!(
            thing.check_etag(&etag("things/a", 2)),
            Err(Error::EtagMismatch { .. })
        ));
    }

    #[test]
    fn delete_and_undelete_each_need_the_other_state_and_a_current_etag() {
        let now = Timestamp::from_micros(10);
        let live = Thing {
            revision: 1,
            delete_time: None,
        };
        let deleted = Thing {
            revision: 2,
            delete_time: Some(now),
        };
        assert_eq!(Deletion::Delete.apply(&live, "", now).unwrap(), Some(now));
        assert_eq!(Deletion::Undelete.apply(&deleted, "", now).unwrap(), None);
        assert!(matches!(
            Deletion::Delete.apply(&deleted, "", now),
            Err(Error::Deleted { .. })
        ));
        assert!(matches!(
            Deletion::Undelete.apply(&live, "", now),
            Err(Error::NotDeleted { .. })
        ));
        assert!(matches!(
            Deletion::Delete.apply(&live, &etag("things/a", 7), now),
            Err(Error::EtagMismatch { .. })
        ));
        assert_eq!(Deletion::of(true), Deletion::Delete);
        assert_eq!(Deletion::of(false), Deletion::Undelete);
    }
}
