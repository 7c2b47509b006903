//! Resolving the items a request names ("something like Heat") to catalog
//! items: a title index over the catalog snapshot (built once per snapshot
//! generation) and a resolver that forgives what people do to titles —
//! articles moved or dropped ("The Matrix", "Matrix, The", "matrix"), the
//! year left out or added, punctuation and case, a small typo — settles
//! ambiguity by popularity and says so, and never guesses: a name that
//! matches nothing well enough is reported as not in the catalog.

use crate::snapshot::CatalogSnapshot;
use sommelier_llm::intent::{Mention, Reference};
use std::collections::HashMap;

/// Articles a title may start with (or end with, after a comma).
const ARTICLES: &[&str] = &[
    "the", "a", "an", "les", "la", "le", "l'", "il", "das", "der", "die", "el",
];

/// Words that join names in a list ("like Heat and Ronin").
const JOINERS: &[&str] = &["and", "or", "&", "plus", "also"];

/// A title as matched: lower case, punctuation as spaces, a leading or
/// trailing article dropped.
pub(crate) fn title_key(title: &str) -> String {
    let mapped: String = title
        .replace('&', " and ")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect();
    let mut words: Vec<&str> = mapped.split_whitespace().collect();
    // "matrix the" (from "Matrix, The") and "the matrix" both become "matrix".
    if words.len() > 1 && ARTICLES.contains(&words[words.len() - 1]) {
        words.pop();
    }
    if words.len() > 1 && ARTICLES.contains(&words[0]) {
        words.remove(0);
    }
    words.join(" ")
}

/// The keys one catalog title is found under: the title, and each
/// alternative title in parentheses ("Seven (a.k.a. Se7en)").
fn keys(title: &str) -> Vec<String> {
    let mut out = Vec::new();
    let main = title.split(" (").next().unwrap_or(title);
    out.push(title_key(main));
    let mut rest = title;
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        let alt = rest[open + 1..open + close]
            .trim_start_matches("a.k.a. ")
            .trim_start_matches("aka ");
        let k = title_key(alt);
        if !k.is_empty() && !out.contains(&k) {
            out.push(k);
        }
        rest = &rest[open + close..];
    }
    out.retain(|k| !k.is_empty());
    out
}

/// One indexed title.
#[derive(Debug, Clone)]
struct Entry {
    item: String,
    title: String,
    year: Option<i32>,
}

/// The catalog's titles by key, for one snapshot generation.
#[derive(Debug, Default)]
pub(crate) struct TitleIndex {
    exact: HashMap<String, Vec<Entry>>,
    /// Keys by length, for typo matching against keys of about the same length.
    by_len: HashMap<usize, Vec<String>>,
}

/// The reference to the best of `entries` (best first), the next three its
/// alternatives.
fn reference(entries: Vec<Entry>, written: String) -> Reference {
    let mut it = entries.into_iter();
    let best = it.next().expect("a lookup finds at least one entry");
    Reference {
        item: best.item,
        title: best.title,
        written,
        alternatives: it.take(3).map(|e| (e.item, e.title)).collect(),
    }
}

/// The words of a phrase (commas are not words).
fn split_words(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect()
}

/// What a name resolved to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    /// Items, and the words after the titles that named none (they go back
    /// to the request's query).
    Found(Vec<Reference>, String),
    /// Nothing in the catalog is named that.
    Unknown,
}

impl TitleIndex {
    /// The titles of `snapshot`'s live items (documents left out).
    pub(crate) fn of(snapshot: &CatalogSnapshot) -> Self {
        let mut index = TitleIndex::default();
        for item in snapshot.items.values() {
            if item.kind.as_str() == crate::chat::DOCUMENT_KIND {
                continue;
            }
            for k in keys(&item.title) {
                let len = k.chars().count();
                let list = index.exact.entry(k.clone()).or_default();
                if list.is_empty() {
                    index.by_len.entry(len).or_default().push(k);
                }
                list.push(Entry {
                    item: item.id.as_str().to_string(),
                    title: item.title.clone(),
                    year: item.year(),
                });
            }
        }
        index
    }

    /// Keys within a small edit distance of `key`: none for short keys (a
    /// typo in four letters is another word), one edit up to 10 letters,
    /// two beyond.
    fn near(&self, key: &str) -> Option<&str> {
        let len = key.chars().count();
        let max = match len {
            0..=4 => return None,
            5..=10 => 1,
            _ => 2,
        };
        let mut best: Option<(usize, &str)> = None;
        for l in len.saturating_sub(max)..=len + max {
            for k in self.by_len.get(&l).into_iter().flatten() {
                let d = strsim::damerau_levenshtein(key, k);
                if d <= max && best.is_none_or(|(b, bk)| d < b || (d == b && k.as_str() < bk)) {
                    best = Some((d, k));
                }
            }
        }
        best.map(|(_, k)| k)
    }

    /// The entries of `key` (exactly, or with `typos` within a small edit
    /// distance), best first by `popularity`, a matching year first when one
    /// was written.
    fn lookup(
        &self,
        key: &str,
        typos: bool,
        year: Option<i32>,
        popularity: &dyn Fn(&str) -> f64,
    ) -> Option<Vec<Entry>> {
        let found = match (self.exact.get(key), typos) {
            (Some(v), _) => v.clone(),
            (None, true) => self.exact.get(self.near(key)?)?.clone(),
            (None, false) => return None,
        };
        let mut found: Vec<Entry> = match year {
            Some(y) if found.iter().any(|e| e.year == Some(y)) => {
                found.into_iter().filter(|e| e.year == Some(y)).collect()
            }
            _ => found,
        };
        found.sort_by(|a, b| {
            popularity(&b.item)
                .total_cmp(&popularity(&a.item))
                .then_with(|| a.item.cmp(&b.item))
        });
        Some(found)
    }

    /// The items `m` names: the longest run of its words that is a title,
    /// then the same on what follows a joining word ("Heat and Ronin");
    /// words after the last title that name nothing are returned.
    /// A phrase cut by a filter word is first read on over it (`run_on`):
    /// a title matched exactly there that is longer than the cut phrase wins
    /// ("Rebel Without a Cause" over "Rebel").
    pub(crate) fn resolve(&self, m: &Mention, popularity: &dyn Fn(&str) -> f64) -> Resolved {
        let words = split_words(&m.text);
        // A tentative title (the model's, or a name before "fan") counts
        // only as written, whole: no shorter title inside it, no typo.
        if m.tentative {
            let phrase = words.join(" ");
            return match self.lookup(&title_key(&phrase), false, m.year, popularity) {
                Some(entries) => Resolved::Found(vec![reference(entries, phrase)], String::new()),
                None => Resolved::Unknown,
            };
        }
        if let Some(run_on) = m.run_on.as_deref() {
            let run = split_words(run_on);
            for end in (words.len() + 1..=run.len()).rev() {
                let phrase = run[..end].join(" ");
                if self
                    .lookup(&title_key(&phrase), false, None, popularity)
                    .is_some()
                {
                    let longer = Mention {
                        text: phrase,
                        year: None,
                        run_on: None,
                        tentative: m.tentative,
                    };
                    return self.resolve(&longer, popularity);
                }
            }
        }
        let mut found = Vec::new();
        let mut at = 0;
        let mut rest = String::new();
        while at < words.len() {
            // The longest exact title first; a typo only when no run of the
            // words is a title as written.
            let mut matched = None;
            'lengths: for typos in [false, true] {
                for end in (at + 1..=words.len()).rev() {
                    let phrase = words[at..end].join(" ");
                    let key = title_key(&phrase);
                    if key.is_empty() {
                        continue;
                    }
                    // The written year applies to the last (or only) title.
                    let year = if end == words.len() { m.year } else { None };
                    if let Some(entries) = self.lookup(&key, typos, year, popularity) {
                        matched = Some((end, phrase, entries));
                        break 'lengths;
                    }
                }
            }
            match matched {
                Some((end, phrase, entries)) => {
                    found.push(reference(entries, phrase));
                    at = end;
                    while at < words.len() && JOINERS.contains(&words[at].to_lowercase().as_str()) {
                        at += 1;
                    }
                }
                None => {
                    rest = words[at..].join(" ");
                    break;
                }
            }
        }
        if found.is_empty() {
            Resolved::Unknown
        } else {
            Resolved::Found(found, rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(titles: &[(&str, &str, Option<i32>)]) -> TitleIndex {
        let mut index = TitleIndex::default();
        for (id, title, year) in titles {
            for k in keys(title) {
                let list = index.exact.entry(k.clone()).or_default();
                if list.is_empty() {
                    index.by_len.entry(k.chars().count()).or_default().push(k);
                }
                list.push(Entry {
                    item: (*id).into(),
                    title: (*title).into(),
                    year: *year,
                });
            }
        }
        index
    }

    fn catalog() -> TitleIndex {
        index(&[
            ("6", "Heat", Some(1995)),
            ("2917", "Body Heat", Some(1981)),
            ("99", "Heat", Some(1972)),
            ("2571", "The Matrix", Some(1999)),
            ("6365", "The Matrix Reloaded", Some(2003)),
            ("1", "Toy Story", Some(1995)),
            ("47", "Seven (a.k.a. Se7en)", Some(1995)),
            ("3", "Dances with Wolves", Some(1990)),
            ("4", "Lock, Stock & Two Smoking Barrels", Some(1998)),
            ("5", "Ronin", Some(1998)),
        ])
    }

    fn pop(id: &str) -> f64 {
        match id {
            "6" => 100.0,
            "99" => 3.0,
            _ => 10.0,
        }
    }

    fn resolve(text: &str, year: Option<i32>) -> Resolved {
        catalog().resolve(
            &Mention {
                text: text.into(),
                year,
                run_on: None,
                tentative: false,
            },
            &pop,
        )
    }

    fn ids(r: &Resolved) -> Vec<&str> {
        match r {
            Resolved::Found(v, _) => v.iter().map(|r| r.item.as_str()).collect(),
            Resolved::Unknown => Vec::new(),
        }
    }

    #[test]
    fn a_longer_title_over_a_filter_word_wins() {
        let index = index(&[
            ("1103", "Rebel Without a Cause", Some(1955)),
            ("5", "Rebel", Some(1985)),
        ]);
        let m = |text: &str, run_on: &str| Mention {
            text: text.into(),
            year: None,
            run_on: Some(run_on.into()),
            tentative: false,
        };
        let r = index.resolve(&m("Rebel", "Rebel Without a Cause"), &pop);
        assert_eq!(ids(&r), ["1103"]);
        // No longer title there: the cut phrase stands.
        let r = index.resolve(&m("Rebel", "Rebel without violence"), &pop);
        assert_eq!(ids(&r), ["5"]);
    }

    #[test]
    fn a_tentative_title_counts_only_whole_and_exact() {
        let m = |text: &str| Mention {
            text: text.into(),
            year: None,
            run_on: None,
            tentative: true,
        };
        let index = catalog();
        assert_eq!(ids(&index.resolve(&m("The Matrix"), &pop)), ["2571"]);
        // No shorter title inside it, no typo: the model's guess is dropped.
        assert_eq!(
            index.resolve(&m("Heat style heist"), &pop),
            Resolved::Unknown
        );
        assert_eq!(index.resolve(&m("The Matrx"), &pop), Resolved::Unknown);
    }

    #[test]
    fn articles_case_and_punctuation_do_not_matter() {
        for text in ["The Matrix", "matrix", "Matrix, The", "the matrix!"] {
            assert_eq!(ids(&resolve(text, None)), ["2571"], "{text}");
        }
        assert_eq!(ids(&resolve("se7en", None)), ["47"]);
        assert_eq!(
            ids(&resolve("lock stock and two smoking barrels", None)),
            ["4"]
        );
        assert_eq!(ids(&resolve("dances with wolves", None)), ["3"]);
    }

    #[test]
    fn the_year_is_optional_and_ambiguity_goes_to_the_most_popular_and_is_reported() {
        let Resolved::Found(r, _) = resolve("Heat", None) else {
            panic!()
        };
        assert_eq!(r[0].item, "6", "the popular Heat");
        assert_eq!(r[0].alternatives, [("99".to_string(), "Heat".to_string())]);
        assert_eq!(
            ids(&resolve("Heat", Some(1972))),
            ["99"],
            "the year settles it"
        );
        assert_eq!(
            ids(&resolve("Heat", Some(2001))),
            ["6"],
            "a wrong year does not lose the title"
        );
    }

    #[test]
    fn small_typos_are_forgiven_but_short_words_must_be_exact() {
        assert_eq!(ids(&resolve("The Matirx", None)), ["2571"]);
        assert_eq!(ids(&resolve("Toy Stroy", None)), ["1"]);
        assert_eq!(resolve("Hat", None), Resolved::Unknown);
        assert_eq!(resolve("Heap", None), Resolved::Unknown);
    }

    #[test]
    fn lists_and_trailing_words_are_split() {
        assert_eq!(ids(&resolve("Heat and Ronin", None)), ["6", "5"]);
        let Resolved::Found(r, rest) = resolve("heat what else", None) else {
            panic!()
        };
        assert_eq!((r[0].item.as_str(), rest.as_str()), ("6", "what else"));
        assert_eq!(
            ids(&resolve("Body Heat", None)),
            ["2917"],
            "the longest title wins"
        );
    }

    #[test]
    fn unknown_titles_are_unknown_never_a_guess() {
        assert_eq!(resolve("Citizen Kane", None), Resolved::Unknown);
        assert_eq!(resolve("The Godfather Part IV", None), Resolved::Unknown);
    }
}
