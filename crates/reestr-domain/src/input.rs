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
