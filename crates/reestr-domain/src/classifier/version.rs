//! Classifiers and versions as the register keeps them, and which version is in effect when.
//!
//! A version's stored state is DRAFT, PUBLISHED or RETIRED. SUPERSEDED is not stored: a
//! published version is superseded from the moment a later published version takes effect,
//! which is a fact of the clock, not of a write. [`Timeline`] computes it, and answers which
//! version is in effect at a moment (`latest` is the version in effect now; `as_of` a date is
//! the version in effect at the start of that day, UTC).

use crate::revision::{Revisioned, SoftDeleted};
use crate::time::Timestamp;
use crate::update_mask::UpdateMask;

use super::name::{ClassifierId, VersionId};
use super::spec::ClassifierSpec;
use super::state::VersionState;

/// Most characters of a version's description.
pub const MAX_VERSION_DESCRIPTION_CHARS: usize = 2000;

/// A field of a draft version an update mask can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VersionField {
    /// `description`
    Description,
    /// `effective_time`
    EffectiveTime,
}

/// The update mask of `ClassifierVersion`. UpdateClassifierVersion without a mask replaces
/// both fields (it resolves with every field counted as set).
pub const VERSION_UPDATE_MASK: UpdateMask<'static, VersionField> = UpdateMask {
    resource: "ClassifierVersion",
    paths: &[
        ("description", &[VersionField::Description]),
        ("effective_time", &[VersionField::EffectiveTime]),
    ],
    output_only: &[
        "name",
        "state",
        "publish_time",
        "retire_time",
        "content_hash",
        "item_count",
        "source_version",
        "create_time",
        "update_time",
        "etag",
    ],
};

/// A classifier with its requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classifier {
    /// Its id.
    pub id: ClassifierId,
    /// Its requirements.
    pub spec: ClassifierSpec,
    /// Creation time.
    pub create_time: Timestamp,
    /// Last change of the requirements.
    pub update_time: Timestamp,
    /// Soft deletion, if deleted.
    pub delete_time: Option<Timestamp>,
    /// 1 on creation, +1 on every change; the etag.
    pub revision: i64,
}

impl Revisioned for Classifier {
    fn resource_name(&self) -> String {
        self.id.name()
    }
    fn revision(&self) -> i64 {
        self.revision
    }
}

impl SoftDeleted for Classifier {
    fn delete_time(&self) -> Option<Timestamp> {
        self.delete_time
    }
}

impl Revisioned for Version {
    fn resource_name(&self) -> String {
        self.name()
    }
    fn revision(&self) -> i64 {
        self.revision
    }
}

/// A version of a classifier's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The classifier.
    pub classifier: ClassifierId,
    /// Its id.
    pub id: VersionId,
    /// Stored state: [`VersionState::Draft`], [`VersionState::Published`] or
    /// [`VersionState::Retired`] (see [`Timeline::state`] for the state clients see).
    pub state: VersionState,
    /// What it changes.
    pub description: String,
    /// When it takes effect (always set once published).
    pub effective_time: Option<Timestamp>,
    /// When it was published.
    pub publish_time: Option<Timestamp>,
    /// When it was retired.
    pub retire_time: Option<Timestamp>,
    /// Content hash, set at publication; empty for a draft.
    pub content_hash: String,
    /// Number of items.
    pub item_count: i64,
    /// The version a draft was copied from.
    pub source: Option<VersionId>,
    /// Creation time.
    pub create_time: Timestamp,
    /// Last change, items included.
    pub update_time: Timestamp,
    /// 1 on creation, +1 on every change (items included); the etag.
    pub revision: i64,
}

impl Version {
    /// `classifiers/{c}/versions/{v}`.
    pub fn name(&self) -> String {
        version_name(&self.classifier, &self.id)
    }

    /// Whether the version is published (or superseded) and not retired, so that it can be in
    /// effect.
    pub fn can_be_in_effect(&self) -> bool {
        self.state == VersionState::Published && self.effective_time.is_some()
    }
}

/// `classifiers/{c}/versions/{v}`.
pub fn version_name(classifier: &ClassifierId, version: &VersionId) -> String {
    // On the path of every lookup: built without the formatting machinery.
    let mut name = classifier.name();
    name.reserve(super::name::VERSIONS.len() + 2 + version.as_str().len());
    name.push('/');
    name.push_str(super::name::VERSIONS);
    name.push('/');
    name.push_str(version.as_str());
    name
}

/// The published versions of one classifier ordered by when they take effect, to answer which
/// one is in effect at a moment.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// (effective time, publish time, version id) of every non-retired published version,
    /// ascending. Two versions taking effect at the same moment are ordered by publication:
    /// the later publication wins.
    entries: Vec<(Timestamp, Timestamp, VersionId)>,
}

impl Timeline {
    /// The timeline of `versions` (all of one classifier; drafts and retired ones are skipped).
    pub fn new<'a>(versions: impl IntoIterator<Item = &'a Version>) -> Timeline {
        let mut entries: Vec<_> = versions
            .into_iter()
            .filter(|v| v.can_be_in_effect())
            .filter_map(|v| {
                Some((
                    v.effective_time?,
                    v.publish_time.unwrap_or(v.effective_time?),
                    v.id.clone(),
                ))
            })
            .collect();
        entries.sort();
        Timeline { entries }
    }

    /// The version in effect at `at`: the one that took effect last at or before it.
    pub fn in_effect(&self, at: Timestamp) -> Option<&VersionId> {
        let after = self.entries.partition_point(|(t, _, _)| *t <= at);
        after.checked_sub(1).map(|i| &self.entries[i].2)
    }

    /// The state clients see for `version` at `now`: a published version is SUPERSEDED once a
    /// version later in the timeline has taken effect.
    pub fn state(&self, version: &Version, now: Timestamp) -> VersionState {
        if version.state != VersionState::Published {
            return version.state;
        }
        let Some(pos) = self.entries.iter().position(|(_, _, id)| *id == version.id) else {
            return version.state;
        };
        let superseded = self.entries[pos + 1..].iter().any(|(t, _, _)| *t <= now);
        if superseded {
            VersionState::Superseded
        } else {
            VersionState::Published
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_micros(s * 1_000_000)
    }

    fn version(id: &str, state: VersionState, effective: Option<i64>, published: i64) -> Version {
        Version {
            classifier: ClassifierId::from_trusted("soato".into()),
            id: VersionId::from_trusted(id.into()),
            state,
            description: String::new(),
            effective_time: effective.map(t),
            publish_time: Some(t(published)),
            retire_time: None,
            content_hash: String::new(),
            item_count: 0,
            source: None,
            create_time: t(0),
            update_time: t(0),
            revision: 1,
        }
    }

    #[test]
    fn the_version_in_effect_is_the_last_one_that_took_effect() {
        let vs = [
            version("a", VersionState::Published, Some(100), 10),
            version("b", VersionState::Published, Some(200), 20),
            version("c", VersionState::Published, Some(300), 30),
            version("d", VersionState::Draft, None, 0),
        ];
        let tl = Timeline::new(&vs);
        assert_eq!(tl.in_effect(t(99)), None);
        assert_eq!(tl.in_effect(t(100)).unwrap().as_str(), "a");
        assert_eq!(tl.in_effect(t(250)).unwrap().as_str(), "b");
        assert_eq!(tl.in_effect(t(300)).unwrap().as_str(), "c");
        assert_eq!(tl.state(&vs[0], t(250)), VersionState::Superseded);
        assert_eq!(tl.state(&vs[1], t(250)), VersionState::Published);
        assert_eq!(tl.state(&vs[2], t(250)), VersionState::Published);
        assert_eq!(tl.state(&vs[1], t(300)), VersionState::Superseded);
        assert_eq!(tl.state(&vs[3], t(300)), VersionState::Draft);
    }

    #[test]
    fn retired_versions_are_never_in_effect_and_uncover_their_predecessor() {
        let vs = [
            version("a", VersionState::Published, Some(100), 10),
            version("b", VersionState::Retired, Some(200), 20),
        ];
        let tl = Timeline::new(&vs);
        assert_eq!(tl.in_effect(t(250)).unwrap().as_str(), "a");
        assert_eq!(tl.state(&vs[0], t(250)), VersionState::Published);
        assert_eq!(tl.state(&vs[1], t(250)), VersionState::Retired);
    }

    #[test]
    fn a_later_publication_with_the_same_effective_time_wins() {
        let vs = [
            version("late", VersionState::Published, Some(100), 50),
            version("early", VersionState::Published, Some(100), 10),
        ];
        let tl = Timeline::new(&vs);
        assert_eq!(tl.in_effect(t(100)).unwrap().as_str(), "late");
        assert_eq!(tl.state(&vs[1], t(100)), VersionState::Superseded);
    }
}
