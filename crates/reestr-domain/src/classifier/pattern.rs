//! Patterns that codes and string attributes must match.
//!
//! A pattern is written in the syntax of the `regex` crate (close to RE2: no look-around, no
//! back-references, so matching time is linear in the text whatever the pattern) and always
//! matches the *whole* text: `[0-9]{4}` accepts `1726` but not `17260`. Patterns come from
//! requests, so their length and compiled size are bounded.

use std::fmt;

use regex::{Regex, RegexBuilder};

/// Longest accepted pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 500;

/// Upper bound on the memory of one compiled pattern, in bytes.
const COMPILED_SIZE_LIMIT: usize = 1 << 20;

/// A validated pattern with whole-text match semantics.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source`, or says why it cannot be used.
    ///
    /// The source is first compiled on its own, which proves its groups are balanced, and then
    /// as `^(?:source)$`, so that an alternation such as `a|b` is anchored as a whole.
    pub fn compile(source: &str) -> Result<Pattern, String> {
        if source.is_empty() {
            return Err("is required".into());
        }
        if source.chars().count() > MAX_PATTERN_CHARS {
            return Err(format!("must be at most {MAX_PATTERN_CHARS} characters"));
        }
        if source.chars().any(char::is_control) {
            return Err("must not contain control characters (line breaks, tabs)".into());
        }
        let build = |text: &str| {
            RegexBuilder::new(text)
                .size_limit(COMPILED_SIZE_LIMIT)
                .dfa_size_limit(COMPILED_SIZE_LIMIT)
                .build()
        };
        if let Err(e) = build(source) {
            return Err(format!(
                "is not a valid regular expression: {}",
                first_line(&e)
            ));
        }
        let regex = build(&format!("^(?:{source})$")).map_err(|e| {
            format!(
                "cannot be anchored to the whole text (does it end in a comment?): {}",
                first_line(&e)
            )
        })?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// Rebuilds a pattern read back from the database, as it was stored: it is compiled (a
    /// pattern is of no use otherwise) but the limits [`Pattern::compile`] puts on requests
    /// (length, control characters, compiled size) are not applied, so lowering one never
    /// makes a stored classifier unreadable. The regex crate's own bounds still hold.
    pub fn from_stored(source: &str) -> Result<Pattern, String> {
        let regex = Regex::new(&format!("^(?:{source})$"))
            .map_err(|e| format!("does not compile: {}", first_line(&e)))?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

fn first_line(e: &regex::Error) -> String {
    // The crate's messages draw the pattern with a caret on several lines; a field violation
    // wants one line, and the last line says what is wrong.
    let text = e.to_string();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_the_whole_text() {
        let p = Pattern::compile("[0-9]{4}").unwrap();
        assert!(p.is_match("1726"));
        assert!(!p.is_match("17260"));
        assert!(!p.is_match("x1726"));
        assert!(!p.is_match("1726\n"));
        let alt = Pattern::compile("a|bc").unwrap();
        assert!(alt.is_match("a") && alt.is_match("bc"));
        assert!(!alt.is_match("abc") && !alt.is_match("ab"));
    }

    #[test]
    fn matching_is_case_sensitive_unless_the_pattern_says_otherwise() {
        assert!(!Pattern::compile("[a-z]+").unwrap().is_match("ABC"));
        assert!(Pattern::compile("(?i)[a-z]+").unwrap().is_match("ABC"));
    }

    #[test]
    fn broken_long_or_escaping_patterns_are_refused() {
        assert!(Pattern::compile("").is_err());
        assert!(Pattern::compile("[0-9").is_err());
        assert!(Pattern::compile("a)|(b").is_err());
        assert!(Pattern::compile("(a").is_err());
        assert!(Pattern::compile("a\nb").is_err());
        assert!(Pattern::compile("(?x)a#)").is_err());
        assert!(Pattern::compile(&"a".repeat(501)).is_err());
        assert!(Pattern::compile(&"a".repeat(500)).is_ok());
        assert!(Pattern::compile("(?:a{1000}){1000}").is_err());
    }

    #[test]
    fn stored_patterns_are_read_beyond_the_limits_of_requests() {
        let long = "a".repeat(MAX_PATTERN_CHARS + 1);
        assert!(Pattern::compile(&long).is_err());
        let stored = Pattern::from_stored(&long).unwrap();
        assert!(stored.is_match(&long));
        assert!(!stored.is_match("a"));
        assert!(Pattern::from_stored("[0-9").is_err());
    }

    #[test]
    fn error_messages_are_one_line() {
        let e = Pattern::compile("[0-9").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with("is not a valid regular expression"), "{e}");
    }
}
