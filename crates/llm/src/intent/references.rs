//! References to items in a request's words: "something like Heat",
//! "similar to The Matrix but funnier", "if I liked Toy Story (1995)". The
//! rules find the phrase that names an item and take it out of the rest of
//! the parse (its words are not categories, moods or query words, and a year
//! right after it is the item's year, not a filter). Which catalog item the
//! phrase names is for the catalog's resolver to say (the engine's title
//! index): this crate knows no catalog.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A phrase of the request that names an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mention {
    /// The words as written (case kept), without the year.
    pub text: String,
    /// A year written with it (`Heat (1995)`, `Heat 1995`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// When a word that usually starts a filter or a contrast ended the
    /// phrase, the words run on over it to the end of the clause ("Rebel
    /// Without a Cause", "I Know What You Did Last Summer"): the resolver
    /// takes a longer title from them when one matches exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_on: Option<String>,
    /// Found on a weaker cue — proposed by the model, or a capitalised name
    /// before "fan" or "vibes" — rather than after "like": kept only when
    /// the catalog's resolver finds the whole title exactly, and never
    /// reported as unknown (its words then stay query words).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tentative: bool,
}

/// Phrases after which an item is named.
const TRIGGERS: &[&[&str]] = &[
    &["similar", "to"],
    &["in", "the", "vein", "of"],
    &["in", "the", "style", "of"],
    &["along", "the", "lines", "of"],
    &["reminiscent", "of"],
    &["reminds", "me", "of"],
    &["the", "same", "as"],
    &["the", "likes", "of"],
    &["fans", "of"],
    &["fan", "of"],
    &["if", "i", "liked"],
    &["if", "i", "loved"],
    &["if", "i", "enjoyed"],
    &["since", "i", "liked"],
    &["since", "i", "loved"],
    &["i", "liked"],
    &["i", "loved"],
    &["i", "enjoyed"],
    &["like"],
];

/// Words before `like` that make it a verb ("I like", "would like").
const LIKE_AS_VERB: &[&str] = &[
    "i", "you", "we", "they", "would", "i'd", "don't", "dont", "do", "really", "also", "kids",
    "he", "she", "who", "people", "might", "will", "wife", "husband", "son", "daughter",
];

/// Words that end the phrase naming an item. Titles hold many small words
/// ("Dances with Wolves", "Back to the Future"), so the phrase runs on over
/// them and the catalog's resolver takes the longest title it starts with;
/// these words start what a title rarely holds: a contrast, a comparison, a
/// filter.
const STOPS: &[&str] = &[
    "but",
    "except",
    "without",
    "please",
    "released",
    "starring",
    "than",
    "though",
    "although",
    "because",
    "only",
    "funnier",
    "darker",
    "scarier",
    "lighter",
    "gentler",
    "happier",
    "sadder",
    "shorter",
    "longer",
    "older",
    "newer",
    "cheaper",
    "pricier",
    "grittier",
    "sillier",
    "smarter",
    "more",
    "less",
    "which",
    "that",
    "who",
    "where",
    "what",
    "anything",
    "recommend",
];

/// Words that end the phrase only before a number, a year or a price
/// ("like Heat under $20", "like Alien before 1990"): titles hold them too
/// ("Courage Under Fire", "Before Sunrise", "After Hours").
const STOPS_BEFORE_NUMBER: &[&str] = &[
    "under", "below", "above", "over", "between", "since", "before", "after", "around", "in",
];

/// Whether the token at `i` starts a number, a year, a decade or a price,
/// an article allowed before it ("before the 80s").
fn number_at(toks: &[Token<'_>], i: usize) -> bool {
    let starts_number = |t: &Token<'_>| {
        t.lower
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '$' | '€' | '£' | '\''))
    };
    match toks.get(i) {
        Some(t) if t.lower == "the" => toks.get(i + 1).is_some_and(starts_number),
        Some(t) => starts_number(t),
        None => false,
    }
}

/// Two-word starts of a filter after a title ("from the 90s", "made in").
const STOP_PAIRS: &[(&str, &str)] = &[
    ("from", "the"),
    ("from", "last"),
    ("from", "this"),
    ("from", "before"),
    ("from", "after"),
    ("from", "around"),
    ("made", "in"),
    ("made", "before"),
    ("made", "after"),
    ("set", "in"),
    ("for", "kids"),
    ("for", "children"),
    ("for", "the"),
    ("with", "less"),
    ("with", "more"),
    ("on", "a"),
];

/// What a reference cannot be: pronouns, ordinals and generic words.
const NOT_A_TITLE: &[&str] = &[
    "it",
    "this",
    "that",
    "these",
    "those",
    "them",
    "one",
    "ones",
    "the",
    "a",
    "an",
    "this one",
    "that one",
    "the first",
    "the second",
    "the third",
    "the fourth",
    "the fifth",
    "the last",
    "the first one",
    "the second one",
    "the third one",
    "the fourth one",
    "the fifth one",
    "the last one",
    "the previous one",
    "the others",
    "something",
    "anything",
    "what",
];

/// A token of the request: its text, where it starts and ends, and whether
/// punctuation ends a clause after it.
pub(super) struct Token<'a> {
    pub(super) text: &'a str,
    pub(super) lower: String,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) boundary_after: bool,
    /// The boundary is an exclamation mark, which titles hold too ("Hot
    /// Shots! Part Deux").
    bang_after: bool,
}

/// Whether a word written with a full stop after it is an abbreviation, not
/// the end of a sentence ("Mr. Smith Goes to Washington", "L.A. Confidential").
fn abbreviation(w: &str) -> bool {
    const SHORT: &[&str] = &[
        "mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "vol", "mt", "ft", "lt", "capt", "prof",
        "sgt", "col", "gen",
    ];
    let lower = w.to_lowercase();
    SHORT.contains(&lower.as_str())
        || lower
            .split('.')
            .all(|part| part.chars().count() == 1 && part.chars().all(char::is_alphabetic))
}

fn push<'a>(text: &'a str, s: usize, e: usize, out: &mut Vec<Token<'a>>) {
    let raw = &text[s..e];
    // A word ending a sentence or clause.
    let trimmed = raw.trim_end_matches(['.', ':']);
    let ends_clause = trimmed.len() < raw.len() && raw.ends_with('.') && !abbreviation(trimmed);
    let t = trimmed
        .trim_start_matches(['\'', '‘', '“'])
        .trim_end_matches(['\'', '’', '”']);
    if t.is_empty() {
        if let Some(last) = out.last_mut() {
            last.boundary_after = true;
        }
        return;
    }
    let offset = raw.find(t).unwrap_or(0);
    out.push(Token {
        text: t,
        lower: t.to_lowercase(),
        start: s + offset,
        end: s + offset + t.len(),
        boundary_after: ends_clause,
        bang_after: false,
    });
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out: Vec<Token<'_>> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let breaks = c.is_whitespace() || matches!(c, ',' | ';' | '!' | '?' | '(' | ')' | '"');
        if breaks {
            if let Some(s) = start.take() {
                push(text, s, i, &mut out);
            }
            if !c.is_whitespace()
                && let Some(last) = out.last_mut()
            {
                // Commas run on (titles hold them: "Lock, Stock and Two
                // Smoking Barrels"), and parentheses around a year do not
                // end the phrase; the rest of the punctuation does.
                if !matches!(c, '(' | ')' | ',') {
                    last.boundary_after = true;
                    last.bang_after = c == '!';
                }
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        push(text, s, text.len(), &mut out);
    }
    out
}

fn year(w: &str) -> Option<i32> {
    let y: i32 = w.parse().ok()?;
    (1870..=2100).contains(&y).then_some(y)
}

/// The items `text` names, with the byte spans they (and their years)
/// take up in it, and the spans with the words that introduced them ("like",
/// "similar to").
pub fn mentions(text: &str) -> Vec<(Mention, std::ops::Range<usize>)> {
    mentions_with_triggers(text)
        .into_iter()
        .map(|(m, span, _)| (m, span))
        .collect()
}

/// [`mentions`], each with the span that starts at its trigger words.
pub(super) fn mentions_with_triggers(
    text: &str,
) -> Vec<(Mention, std::ops::Range<usize>, std::ops::Range<usize>)> {
    let toks = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    'scan: while i < toks.len() {
        for trigger in TRIGGERS {
            let n = trigger.len();
            if i + n > toks.len()
                || !trigger
                    .iter()
                    .zip(&toks[i..i + n])
                    .all(|(w, t)| t.lower == *w)
                || toks[i..i + n - 1].iter().any(|t| t.boundary_after)
            {
                continue;
            }
            if *trigger == ["like"] {
                let prev = if i > 0 {
                    toks[i - 1].lower.as_str()
                } else {
                    ""
                };
                let next = toks.get(i + 1).map_or("", |t| t.lower.as_str());
                // "like it", unless it starts a title written as one ("like
                // It Happened One Night", "like This Is Spinal Tap").
                let capitalised = |k: usize| {
                    toks.get(k)
                        .is_some_and(|t| t.text.chars().next().is_some_and(char::is_uppercase))
                };
                let pronoun = matches!(next, "to" | "it" | "this" | "that")
                    && !(capitalised(i + 1) && capitalised(i + 2));
                if LIKE_AS_VERB.contains(&prev) || pronoun {
                    continue;
                }
            }
            // The phrase: up to a stop word, a clause boundary or a year.
            let from = i + n;
            let mut to = from;
            let mut year_at = None;
            let mut stopped = false;
            while to < toks.len() {
                let t = &toks[to];
                let next = toks.get(to + 1).map_or("", |t| t.lower.as_str());
                if to > from
                    && (STOPS.contains(&t.lower.as_str())
                        || STOP_PAIRS.contains(&(t.lower.as_str(), next))
                        || (STOPS_BEFORE_NUMBER.contains(&t.lower.as_str())
                            && number_at(&toks, to + 1)))
                {
                    stopped = true;
                    break;
                }
                // A year ends the phrase, unless it starts a title ("2001: A
                // Space Odyssey").
                if let Some(y) = year(&t.lower)
                    && !(to == from && toks.get(to + 1).is_some_and(|n| year(&n.lower).is_none()))
                {
                    if to > from {
                        year_at = Some((to, y));
                    }
                    break;
                }
                // A decade ("90s") ends it too.
                if to > from
                    && t.lower.ends_with('s')
                    && t.lower[..t.lower.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '\'')
                    && t.lower.len() >= 3
                {
                    break;
                }
                to += 1;
                if toks[to - 1].boundary_after {
                    // After "!", the resolver may read on for a longer title.
                    stopped |= toks[to - 1].bang_after && to < toks.len();
                    break;
                }
            }
            if to == from {
                continue;
            }
            let words: Vec<&str> = toks[from..to].iter().map(|t| t.text).collect();
            let phrase = words.join(" ");
            let lower = phrase.to_lowercase();
            if NOT_A_TITLE.contains(&lower.as_str()) || lower.split(' ').all(|w| w.len() < 2) {
                i = to;
                continue 'scan;
            }
            let start = toks[from].start;
            let (end, year) = match year_at {
                Some((k, y)) if k == to => (toks[k].end, Some(y)),
                _ => (toks[to - 1].end, None),
            };
            // A closing parenthesis after the year belongs to the mention.
            let end = if text[end..].starts_with(')') {
                end + 1
            } else {
                end
            };
            let run_on = stopped
                .then(|| {
                    let last = toks[to..]
                        .iter()
                        .position(|t| t.boundary_after)
                        .map_or(toks.len(), |k| to + k + 1);
                    text[start..toks[last - 1].end].to_string()
                })
                .filter(|r| r.len() > toks[to - 1].end - start);
            out.push((
                Mention {
                    text: text[start..toks[to - 1].end].to_string(),
                    year,
                    run_on,
                    tentative: false,
                },
                start..end,
                toks[i].start..end,
            ));
            i = if year.is_some() { to + 1 } else { to };
            continue 'scan;
        }
        i += 1;
    }
    // Titles named before a marker ("a Pulp Fiction fan"), where no trigger
    // took their words already.
    for found in super::named_before::mentions(text, &toks) {
        if !out
            .iter()
            .any(|(_, span, _): &(Mention, Range<usize>, Range<usize>)| {
                span.start < found.1.end && found.1.start < span.end
            })
        {
            out.push(found);
        }
    }
    out.sort_by_key(|(_, span, _)| span.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(String, Option<i32>)> {
        mentions(text)
            .into_iter()
            .map(|(m, _)| (m.text, m.year))
            .collect()
    }

    #[test]
    fn the_phrase_after_a_trigger_names_an_item() {
        assert_eq!(names("a tense thriller like Heat"), [("Heat".into(), None)]);
        assert_eq!(
            names("something like The Matrix but funnier, from the 90s"),
            [("The Matrix".into(), None)]
        );
        assert_eq!(
            names("movies similar to Toy Story (1995) for the kids"),
            [("Toy Story".into(), Some(1995))]
        );
        assert_eq!(names("if I liked heat, what else"), [("heat".into(), None)]);
        assert_eq!(
            names("like Dances with Wolves but shorter"),
            [("Dances with Wolves".into(), None)]
        );
        assert_eq!(
            names("something like Heat from the 90s"),
            [("Heat".into(), None)]
        );
        assert_eq!(
            names("Like Blade Runner but newer"),
            [("Blade Runner".into(), None)]
        );
        assert_eq!(
            names("films in the vein of Amélie."),
            [("Amélie".into(), None)]
        );
        assert_eq!(
            names("something like Heat and Ronin"),
            [("Heat and Ronin".into(), None)]
        );
    }

    #[test]
    fn filter_words_end_the_phrase_only_before_a_number() {
        // Titles hold "under", "in the", "before"…
        assert_eq!(
            names("movies like Courage Under Fire"),
            [("Courage Under Fire".into(), None)]
        );
        assert_eq!(
            names("something like Rumble in the Bronx"),
            [("Rumble in the Bronx".into(), None)]
        );
        assert_eq!(
            names("films like Before Sunrise"),
            [("Before Sunrise".into(), None)]
        );
        assert_eq!(
            names("movies like It Happened One Night"),
            [("It Happened One Night".into(), None)]
        );
        // …and before a number they start a filter.
        assert_eq!(names("like Heat under $20"), [("Heat".into(), None)]);
        assert_eq!(
            names("something like Heat in the 90s"),
            [("Heat".into(), None)]
        );
        assert_eq!(names("like Alien before the 80s"), [("Alien".into(), None)]);
        assert_eq!(
            names("movies like Mr. Smith Goes to Washington"),
            [("Mr. Smith Goes to Washington".into(), None)]
        );
        assert_eq!(
            names("something like L.A. Confidential."),
            [("L.A. Confidential".into(), None)]
        );
        assert_eq!(
            names("movies like A Room with a View"),
            [("A Room with a View".into(), None)]
        );
        assert_eq!(
            names("movies like To Kill a Mockingbird"),
            [("To Kill a Mockingbird".into(), None)]
        );
        assert_eq!(
            names("something like 2001: A Space Odyssey"),
            [("2001: A Space Odyssey".into(), None)]
        );
        assert_eq!(names("like Sgt. Bilko"), [("Sgt. Bilko".into(), None)]);
        assert_eq!(names("like Alien 1979"), [("Alien".into(), Some(1979))]);
    }

    #[test]
    fn a_phrase_cut_by_a_filter_word_runs_on_for_the_resolver() {
        let m = mentions("movies like Rebel Without a Cause. Thanks")
            .remove(0)
            .0;
        assert_eq!(m.text, "Rebel");
        assert_eq!(m.run_on.as_deref(), Some("Rebel Without a Cause"));
        let m = mentions("like Heat but darker").remove(0).0;
        assert_eq!(m.run_on.as_deref(), Some("Heat but darker"));
        // An exclamation mark may be inside a title.
        let m = mentions("movies like Hot Shots! Part Deux").remove(0).0;
        assert_eq!(m.text, "Hot Shots");
        assert_eq!(m.run_on.as_deref(), Some("Hot Shots! Part Deux"));
        // Cut by the end of the clause, or not cut at all: nothing more.
        assert_eq!(mentions("like Heat. Thanks").remove(0).0.run_on, None);
        assert_eq!(mentions("like Heat").remove(0).0.run_on, None);
    }

    #[test]
    fn like_as_a_verb_or_a_pronoun_names_nothing() {
        assert!(names("I like comedies").is_empty());
        assert!(names("I would like something funny").is_empty());
        assert!(names("more like the second one").is_empty());
        assert!(names("more like that").is_empty());
        assert!(names("light-hearted comedies from the 90s").is_empty());
    }

    #[test]
    fn the_span_covers_the_year_so_it_is_not_a_filter() {
        let text = "something like Heat (1995) but darker";
        let (m, span) = mentions(text).remove(0);
        assert_eq!(m.year, Some(1995));
        assert_eq!(&text[span], "Heat (1995)");
    }
}
