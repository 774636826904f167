//! How enumerated request values arrive before validation.

/// An enum field of a request: unset (the `..._UNSPECIFIED` zero value), a known value, or a
/// number this version of the register does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice<T> {
    /// The zero value.
    #[default]
    Unset,
    /// A known value.
    Known(T),
    /// An unknown number.
    Unknown(i32),
}

impl<T> Choice<T> {
    /// Whether a value (known or not) was sent.
    pub fn is_set(&self) -> bool {
        !matches!(self, Choice::Unset)
    }
}

/// An enumeration that the API writes with its proto value names.
///
/// The proto prefixes every value with its enum's name (`KIND_STATE_BODY`, AIP-126), so that
/// generated code has no collisions; the register stores and compares the short name
/// (`STATE_BODY`). Filters and other text inputs accept either form.
pub trait ApiEnum: Copy + Sized + 'static {
    /// Every value.
    const VALUES: &'static [Self];
    /// The prefix of the proto value names, e.g. `KIND_`.
    const PROTO_PREFIX: &'static str;

    /// The short name, e.g. `STATE_BODY`.
    fn short_name(self) -> &'static str;

    /// The value named `text`: its proto name or its short name.
    fn from_name(text: &str) -> Option<Self> {
        let short = text.strip_prefix(Self::PROTO_PREFIX).unwrap_or(text);
        Self::VALUES
            .iter()
            .copied()
            .find(|v| v.short_name() == short)
    }
}

/// Implements [`ApiEnum`] and `FromStr` for an enum with an `ALL` array and an `as_str` method.
#[macro_export]
macro_rules! api_enum {
    ($enum:ty, $prefix:literal) => {
        impl $crate::input::ApiEnum for $enum {
            const VALUES: &'static [Self] = &<$enum>::ALL;
            const PROTO_PREFIX: &'static str = $prefix;

            fn short_name(self) -> &'static str {
                self.as_str()
            }
        }

        impl ::std::str::FromStr for $enum {
            type Err = ();

            fn from_str(s: &str) -> Result<Self, ()> {
                <$enum as $crate::input::ApiEnum>::from_name(s).ok_or(())
            }
        }
    };
}

/// A count or position as the API's `int64`: counts of items, rows and lines never reach
/// `i64::MAX`, and one that did would read as the largest value rather than wrap to a negative
/// one. The one conversion for them, so that no `as` cast can wrap silently.
pub fn count_i64<T: TryInto<i64>>(n: T) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::ApiEnum;
    use crate::classifier::ItemStatus;
    use crate::organization::OrganizationKind;

    #[test]
    fn enum_values_are_named_by_their_proto_name_or_their_short_name() {
        assert_eq!(
            OrganizationKind::from_name("KIND_STATE_BODY"),
            Some(OrganizationKind::StateBody)
        );
        assert_eq!(
            "STATE_BODY".parse::<OrganizationKind>(),
            Ok(OrganizationKind::StateBody)
        );
        assert_eq!(
            ItemStatus::from_name("ITEM_STATUS_DEPRECATED"),
            Some(ItemStatus::Deprecated)
        );
        for bad in [
            "KIND_",
            "",
            "kind_state_body",
            "STATUS_DEPRECATED",
            "KIND_KIND_OTHER",
        ] {
            assert_eq!(OrganizationKind::from_name(bad), None, "{bad}");
        }
    }
}
