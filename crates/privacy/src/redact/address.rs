//! Street addresses.
//!
//! Three forms, each with its house number (which is what makes an address
//! personal, and what keeps the redaction idempotent):
//!
//! - English: a house number (`221B`, `12-14`), one to three name words and a
//!   street suffix (Street, St, Road, Rd, Avenue, Ave, Boulevard, Blvd, Lane,
//!   Ln, Drive, Dr, Way, Court, Ct, Place, Pl, Terrace, Square, Sq, Close,
//!   Crescent, Highway, Hwy, Parkway, Pkwy), then optionally a direction
//!   (`NW`) and a unit (`, Apt 4B`, `Suite 200`, `#12`): `221B Baker Street`,
//!   `1600 Pennsylvania Avenue NW`, `350 5th Ave, Suite 200`.
//! - German and Dutch: a street name ending in -straße, -strasse, -str.,
//!   -weg, -gasse, -platz, -allee, -straat, -gracht, -laan, -plein or -kade
//!   (or a capitalised word and a separate Straße, Str., Weg, Gasse, Platz,
//!   Allee), then the number: `Hauptstraße 5`, `Hauptstr. 12`,
//!   `Berliner Straße 12`, `Keizersgracht 123`.
//! - French: the number, then rue, avenue, boulevard, bd, place, allée,
//!   chemin, impasse, quai, cours or route, then a particle (de, du, des, la,
//!   le, les, l', d') or a capitalised name: `12 rue de la Paix`,
//!   `5 boulevard Saint-Germain`.
//!
//! To leave recommender requests alone, the English form needs capitalised
//! name words (lower-case ones only with an unambiguous suffix such as
//! "street" or "avenue", or after "live at", "ship to", "address" and the
//! like), and is dropped when a name word is a function word or a common
//! query word ("2 films about a street gang", "5 great road trips"), when the
//! number follows "top", "best", "under" and the like ("top 10 Wall Street
//! movies"), when a query noun follows the suffix ("21 Jump Street movies"),
//! when the number is a decade (`1990s Wall Street`) or, without an address
//! word before it, a year (`a 1987 Wall Street drama`).
//!
//! *Known false positives*: film and book titles shaped like an address, said
//! alone: "21 Jump Street", "10 Cloverfield Lane", "84 Charing Cross Road"
//! become `[address]`. *Known misses*: house numbers that look like years
//! (1900–2030) without an address word before them, names longer than three
//! words, suffixes not listed (Loop, Row, Walk), and other languages' forms.

use super::{PiiKind, Span, compile, word_after, words_before};
use regex::Regex;

/// Words that are never part of a street name after a house number.
const NOT_NAME: &[&str] = &[
    "a",
    "an",
    "the",
    "about",
    "of",
    "on",
    "in",
    "at",
    "to",
    "for",
    "with",
    "from",
    "by",
    "and",
    "or",
    "but",
    "my",
    "your",
    "his",
    "her",
    "our",
    "their",
    "its",
    "this",
    "that",
    "these",
    "those",
    "some",
    "any",
    "like",
    "than",
    "more",
    "less",
    "best",
    "top",
    "great",
    "good",
    "new",
    "old",
    "classic",
    "famous",
    "popular",
    "favorite",
    "favourite",
    "cool",
    "cheap",
    "quiet",
    "busy",
    "dark",
    "gritty",
    "short",
    "long",
    "little",
    "big",
    "small",
    "other",
    "similar",
    "different",
    "random",
    "easy",
    "fun",
    "funny",
    "scary",
    "romantic",
    "violent",
    "urban",
    "scenic",
    "epic",
    "iconic",
    "films",
    "film",
    "movies",
    "movie",
    "shows",
    "show",
    "series",
    "books",
    "book",
    "songs",
    "song",
    "albums",
    "games",
    "episodes",
    "seasons",
    "items",
    "products",
    "shoes",
    "pairs",
    "ideas",
    "places",
    "things",
    "reasons",
    "ways",
    "days",
    "nights",
    "weeks",
    "months",
    "years",
    "hours",
    "minutes",
    "mins",
    "people",
    "kids",
    "friends",
    "times",
    "stars",
    "star",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "it",
    "as",
    "per",
    "x",
];

/// Words before the house number that make it a count or a rank.
const NOT_BEFORE: &[&str] = &[
    "top", "best", "worst", "first", "last", "next", "other", "another", "only", "just", "over",
    "under", "around", "about", "nearly", "almost", "than", "all", "these", "those", "least",
    "most", "season", "episode", "chapter", "part", "vol", "volume", "page", "step", "day", "week",
    "level", "size", "the",
];

/// Query nouns that, right after the suffix, make the match a topic.
const NOT_AFTER: &[&str] = &[
    "movie",
    "movies",
    "film",
    "films",
    "show",
    "shows",
    "series",
    "book",
    "books",
    "novel",
    "novels",
    "song",
    "songs",
    "album",
    "albums",
    "game",
    "games",
    "episode",
    "episodes",
    "season",
    "seasons",
    "soundtrack",
    "trilogy",
    "sequel",
    "remake",
    "reboot",
    "cast",
    "style",
    "vibes",
    "fans",
    "like",
    "trips",
    "trip",
];

/// Words before the number that announce an address.
const ADDRESS_CUES: &[&str] = &[
    "live",
    "lives",
    "living",
    "address",
    "ship",
    "shipping",
    "deliver",
    "delivery",
    "send",
    "mail",
    "located",
    "residence",
    "moved",
    "stay",
    "staying",
    "home",
    "billing",
];

/// English suffixes that are not ordinary words in lower case.
const PLAIN_SUFFIXES: &[&str] = &[
    "street",
    "st",
    "avenue",
    "ave",
    "boulevard",
    "blvd",
    "rd",
    "ln",
    "highway",
    "hwy",
    "parkway",
    "pkwy",
];

#[derive(Debug, Clone)]
pub(super) struct AddressDetector {
    english: Regex,
    germanic: Regex,
    french: Regex,
}

impl AddressDetector {
    pub(super) fn new() -> AddressDetector {
        let word = r"(?:[0-9]{1,3}(?:st|nd|rd|th)|[^\W\d_][\w'.\-]*)";
        let suffix = "Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|\
                      Place|Pl|Terrace|Square|Sq|Close|Crescent|Highway|Hwy|Parkway|Pkwy";
        let english = format!(
            r"(?i)\b(?P<num>[0-9]{{1,5}}[a-z]?(?:-[0-9]{{1,5}})?),?[ \t]+(?P<name>(?:{word}[ \t]+){{1,3}}?)(?P<suffix>{suffix})\b\.?(?:[ \t]+(?-i:NW|NE|SW|SE|N|S|E|W)\b)?(?P<unit>,?[ \t]+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl)\.?[ \t]*\#?[ \t]*[0-9][0-9a-z\-]{{0,5}}\b|,?[ \t]*\#[ \t]?[0-9]{{1,5}}[a-z]?\b)?"
        );
        let germanic = r"(?i)\b(?:[^\W\d_][\w\-]+(?:straße|strasse|str\.|weg|gasse|platz|allee|straat|gracht|laan|plein|kade)|(?-i:[A-ZÄÖÜ])[^\W\d_]+[ \t]+(?:straße|strasse|str\.|weg|gasse|platz|allee))[ \t]?[0-9]{1,4}(?:[ \t]?[a-z]\b)?(?:-[0-9]{1,4})?\b";
        let french = r"(?i)\b[0-9]{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:rue|avenue|av\.|boulevard|bd|place|allée|allee|chemin|impasse|quai|cours|route)[ \t]+(?:(?:de|du|des|la|le|les)[ \t]+|l'|d'|l’|d’)*(?-i:[A-ZÀ-Ý])[\w'’\-]*(?:[ \t]+(?:(?:de|du|des|la|le|les)[ \t]+|l'|d'|l’|d’)*(?-i:[A-ZÀ-Ý])[\w'’\-]*){0,3}";
        AddressDetector {
            english: compile(&english),
            germanic: compile(germanic),
            french: compile(french),
        }
    }

    pub(super) fn spans(&self, text: &str) -> Vec<Span> {
        let mut out = Vec::new();
        let span = |start, end| Span {
            start,
            end,
            kind: PiiKind::StreetAddress,
        };
        for caps in self.english.captures_iter(text) {
            let (Some(all), Some(num), Some(name), Some(suffix)) = (
                caps.get(0),
                caps.name("num"),
                caps.name("name"),
                caps.name("suffix"),
            ) else {
                continue;
            };
            if self.english_ok(
                text,
                num.as_str(),
                num.start(),
                name.as_str(),
                suffix.as_str(),
                suffix.end(),
            ) {
                out.push(span(all.start(), all.end()));
            }
        }
        for m in self.germanic.find_iter(text) {
            out.push(span(m.start(), m.end()));
        }
        for m in self.french.find_iter(text) {
            let before = words_before(text, m.start(), 3);
            let cued = before.iter().any(|w| ADDRESS_CUES.contains(&w.as_str()));
            if cued
                || !before
                    .last()
                    .is_some_and(|w| NOT_BEFORE.contains(&w.as_str()))
            {
                out.push(span(m.start(), m.end()));
            }
        }
        out
    }

    fn english_ok(
        &self,
        text: &str,
        num: &str,
        num_start: usize,
        name: &str,
        suffix: &str,
        suffix_end: usize,
    ) -> bool {
        let before = words_before(text, num_start, 3);
        let cued = before.iter().any(|w| ADDRESS_CUES.contains(&w.as_str()));
        if before
            .last()
            .is_some_and(|w| NOT_BEFORE.contains(&w.as_str()))
            && !cued
        {
            return false;
        }
        let digits: String = num.chars().take_while(char::is_ascii_digit).collect();
        let letter = num[digits.len()..].chars().next();
        if letter == Some('s') && digits.ends_with('0') {
            return false; // a decade: 1990s, 80s
        }
        let is_year = digits.len() == 4
            && digits
                .parse::<u32>()
                .is_ok_and(|y| (1900..=2030).contains(&y));
        if is_year && !cued {
            return false;
        }
        let words: Vec<&str> = name.split_whitespace().collect();
        if words
            .iter()
            .any(|w| NOT_NAME.contains(&w.to_lowercase().trim_end_matches('.')))
        {
            return false;
        }
        if NOT_AFTER.contains(&word_after(text, suffix_end).as_str()) {
            return false;
        }
        let capitalised = |w: &str| {
            let first = w.chars().next();
            first.is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        };
        words.iter().all(|w| capitalised(w))
            || cued
            || PLAIN_SUFFIXES.contains(&suffix.to_lowercase().as_str())
    }
}
