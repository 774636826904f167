//! Language tags and multilingual text.
//!
//! Names in the register are kept in the languages of the Republic and its partners:
//! Uzbek in Latin and Cyrillic script, Russian, English and Karakalpak. A multilingual text is a
//! map from [`Language`] to a non-empty string, as in `display_name`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::error::Violations;

/// A language the register keeps names in, identified by its BCP 47 tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    /// `uz-Latn`: Uzbek, Latin script.
    UzLatn,
    /// `uz-Cyrl`: Uzbek, Cyrillic script.
    UzCyrl,
    /// `ru`: Russian.
    Ru,
    /// `en`: English.
    En,
    /// `kaa`: Karakalpak.
    Kaa,
}

impl Language {
    /// Every language, in the register's canonical order.
    pub const ALL: [Language; 5] = [
        Language::UzLatn,
        Language::UzCyrl,
        Language::Ru,
        Language::En,
        Language::Kaa,
    ];

    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Language::UzLatn => "uz-Latn",
            Language::UzCyrl => "uz-Cyrl",
            Language::Ru => "ru",
            Language::En => "en",
            Language::Kaa => "kaa",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Language {
    type Err = ();

    /// Parses a tag exactly as the register writes it (`uz-Latn`, not `uz-latn`): tags are
    /// map keys, and two spellings of one key would let one name be stored twice.
    fn from_str(s: &str) -> Result<Self, ()> {
        Language::ALL.into_iter().find(|l| l.tag() == s).ok_or(())
    }
}

/// Longest accepted name, in characters.
pub const MAX_NAME_CHARS: usize = 300;

/// A validated multilingual name: at least one language, each value 1 to
/// [`MAX_NAME_CHARS`] characters without control characters or surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalizedText(BTreeMap<Language, String>);

impl LocalizedText {
    /// Validates a raw map from the request, recording every problem under `field`.
    pub fn validate(
        raw: &BTreeMap<String, String>,
        field: &str,
        violations: &mut Violations,
    ) -> Option<LocalizedText> {
        if raw.is_empty() {
            violations.add(
                field,
                "at least one name is required, keyed by a language tag (uz-Latn, uz-Cyrl, ru, en, kaa)",
            );
            return None;
        }
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (tag, value) in raw {
            let entry = format!("{field}[{tag:?}]");
            let Ok(lang) = tag.parse::<Language>() else {
                violations.add(
                    entry,
                    "unknown language tag; allowed: uz-Latn, uz-Cyrl, ru, en, kaa",
                );
                ok = false;
                continue;
            };
            if let Err(problem) = check_name(value) {
                violations.add(entry, problem);
                ok = false;
                continue;
            }
            out.insert(lang, value.clone());
        }
        ok.then_some(LocalizedText(out))
    }

    /// The names by language.
    pub fn entries(&self) -> &BTreeMap<Language, String> {
        &self.0
    }

    /// The names as a map from tag to value, as the API and the database carry them.
    pub fn to_tag_map(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(l, v)| (l.tag().to_string(), v.clone()))
            .collect()
    }

    /// Rebuilds a text already validated once (read back from the database). Unknown tags
    /// are dropped rather than failing a read.
    pub fn from_trusted(map: BTreeMap<String, String>) -> LocalizedText {
        LocalizedText(
            map.into_iter()
                .filter_map(|(k, v)| k.parse::<Language>().ok().map(|l| (l, v)))
                .collect(),
        )
    }

    /// All names folded for case-insensitive search (see [`fold`]), separated by a newline so
    /// that a search term never matches across two names.
    pub fn search_text(&self) -> String {
        self.0
            .values()
            .map(|v| fold(v))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn check_name(value: &str) -> Result<(), &'static str> {
    if value.trim().is_empty() {
        return Err("must not be empty");
    }
    if value.trim() != value {
        return Err("must not start or end with white space");
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err("must be at most 300 characters");
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// Folds text for case-insensitive search in every register language: Unicode lowercase (so
/// Cyrillic folds too, which SQL `LOWER` does not do on SQLite), and the several apostrophes
/// used in Uzbek Latin (`oʻ`, `o‘`, `o'`, `o’`, `` o` ``) made one.
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '\u{02BB}' | '\u{02BC}' | '\u{2018}' | '\u{2019}' | '`' => '\'',
            c => c,
        })
        .collect()
}

/// `text` cut to at most `max_bytes` bytes, on a character boundary, and ending in `…` when it
/// was cut, so that a reader sees it was. For text a request made up, kept or echoed where room
/// is bounded: audit columns, status messages.
pub fn shorten(text: &str, max_bytes: usize) -> String {
    const MARK: char = '…';
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let Some(room) = max_bytes.checked_sub(MARK.len_utf8()) else {
        return String::new();
    };
    let end = (0..=room)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let mut cut = text[..end].to_string();
    cut.push(MARK);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortened_text_is_cut_on_a_character_boundary_and_marked() {
        assert_eq!(shorten("short", 5), "short");
        assert_eq!(shorten("abcdefgh", 6), "abc…");
        let cut = shorten(&"ж".repeat(1000), 400);
        assert!(cut.len() <= 400 && cut.len() > 390, "{}", cut.len());
        assert!(cut.starts_with("жж") && cut.ends_with('…'));
        assert_eq!(shorten("abcdef", 2), "");
    }

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_register_language_is_accepted() {
        let mut v = Violations::new();
        let text = LocalizedText::validate(
            &raw(&[
                ("uz-Latn", "Statistika agentligi"),
                ("uz-Cyrl", "Статистика агентлиги"),
                ("ru", "Агентство статистики"),
                ("en", "Statistics Agency"),
                ("kaa", "Statistika agentligi"),
            ]),
            "display_name",
            &mut v,
        );
        assert!(v.is_empty());
        assert_eq!(text.unwrap().entries().len(), 5);
    }

    #[test]
    fn unknown_tag_and_empty_value_are_each_reported() {
        let mut v = Violations::new();
        let text = LocalizedText::validate(
            &raw(&[("de", "Amt"), ("ru", " "), ("en", "ok")]),
            "display_name",
            &mut v,
        );
        assert!(text.is_none());
        let Err(crate::Error::InvalidArgument(list)) = v.into_result() else {
            panic!("expected violations")
        };
        let fields: Vec<_> = list.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["display_name[\"de\"]", "display_name[\"ru\"]"]);
    }

    #[test]
    fn empty_map_and_overlong_names_are_refused() {
        let mut v = Violations::new();
        assert!(LocalizedText::validate(&raw(&[]), "display_name", &mut v).is_none());
        let long = "я".repeat(301);
        assert!(LocalizedText::validate(&raw(&[("ru", &long)]), "display_name", &mut v).is_none());
        let exactly = "я".repeat(300);
        let mut ok = Violations::new();
        assert!(LocalizedText::validate(&raw(&[("ru", &exactly)]), "n", &mut ok).is_some());
    }

    #[test]
    fn folding_lowercases_cyrillic_and_unifies_uzbek_apostrophes() {
        assert_eq!(fold("СТАТИСТИКА"), "статистика");
        assert_eq!(fold("Oʻzbekiston"), fold("O'zbekiston"));
        assert_eq!(fold("O‘ZBEKISTON"), "o'zbekiston");
    }
}
