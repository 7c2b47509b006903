//! Sentences and follow-up questions the gate accepts by construction.
//!
//! A pick's sentence is generated under a GBNF grammar built for that
//! candidate: a short template whose slots the model fills,
//! `a [adjective[, adjective]] category [and category] noun [from year]`,
//! where the adjectives are the request's mood words (only when the
//! candidate has a category the request names, or the request names none)
//! or a few plain words of praise, the categories are the candidate's own,
//! and the year is its own release year or decade (or its own price). Words
//! that could spell another candidate's title are left out, and so are the
//! words of the gate's sensitive and instruction phrases, so the sentence
//! cannot explain the wrong item, state a number its data lacks, claim a
//! category it lacks, or echo an injected instruction. Follow-up questions
//! are generated under a grammar whose every question names a category of
//! the candidates, an attribute (newer, older, a decade) or a candidate's
//! title, and [`follow_up_ok`] checks any follow-up the same way, whoever
//! wrote it.

mod follow_up;
#[cfg(test)]
mod tests;
mod words;

pub use follow_up::{follow_up_format, follow_up_ok, split_questions};

use crate::grammar::plain_literal;
use crate::grounded::GroundedCandidate;
use crate::message::JsonFormat;
use words::*;

/// Lowercase words of `s`: letters, digits, `'` and `-` inside words.
fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A crude stem, enough to tell "comedies" from "Comedy" and "thrillers"
/// from "Thriller": lowercase, a plural's ending dropped, at most five letters.
fn stem(w: &str) -> String {
    let w = w.to_lowercase();
    let w = w
        .strip_suffix("ies")
        .map(|s| format!("{s}y"))
        .or_else(|| w.strip_suffix('s').map(str::to_string))
        .unwrap_or(w);
    w.chars().take(5).collect()
}

/// Whether word `w` names category `cat` ("comedies" and "Comedy").
fn names_category(w: &str, cat: &str) -> bool {
    let c = cat.to_lowercase();
    w == c || (w.len() >= 4 && c.len() >= 4 && stem(w) == stem(&c))
}

fn blocked(w: &str) -> bool {
    BLOCKED.contains(&w) || BLOCKED_PARTS.iter().any(|p| w.contains(p))
}

/// A category as a sentence writes it: `Comedy` → `comedy`, `IMAX` stays.
fn category_word(cat: &str) -> Option<String> {
    if !cat.chars().any(char::is_alphabetic) || cat.contains('(') {
        return None;
    }
    let title_case = cat
        .split(['-', ' '])
        .all(|part| part.chars().skip(1).all(|c| !c.is_uppercase()));
    Some(if title_case {
        cat.to_lowercase()
    } else {
        cat.to_string()
    })
}

/// The decade of a year as a sentence says it: `1993` → `90s`; none for
/// other centuries (`2010s` holds a year, 2010, that the gate would check
/// against the item's own).
fn short_decade(year: i32) -> Option<String> {
    (1900..2000)
        .contains(&year)
        .then(|| format!("{}s", (year % 100) / 10 * 10))
}

/// The words each slot of a sentence about one candidate may hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slots {
    /// Adjectives: the request's mood words (when the candidate is on its
    /// topic) and plain praise.
    pub adjectives: Vec<String>,
    /// The candidate's own categories, as a sentence writes them.
    pub categories: Vec<String>,
    /// The noun: `film`/`movie` when the request says so, else `pick`/`choice`.
    pub nouns: Vec<String>,
    /// After `from`: its own release year, `the` and its decade.
    pub when: Vec<String>,
    /// After `at`: its own price.
    pub price: Vec<String>,
}

impl Slots {
    fn lists_mut(&mut self) -> [&mut Vec<String>; 5] {
        [
            &mut self.adjectives,
            &mut self.categories,
            &mut self.nouns,
            &mut self.when,
            &mut self.price,
        ]
    }
}

/// Whether a request word reads as an adjective (a mood, a hyphenated
/// compound, a usual adjective ending).
fn adjective_like(w: &str) -> bool {
    MOODS.contains(&w)
        || (w.contains('-') && w.chars().filter(|c| c.is_alphabetic()).count() >= 5)
        || ADJECTIVE_ENDINGS
            .iter()
            .any(|e| w.len() >= e.len() + 4 && w.ends_with(e))
}

/// The slot words of a sentence about `cands[index]` for `request`.
pub fn slots(index: usize, cands: &[GroundedCandidate], request: &str) -> Slots {
    let c = &cands[index];
    let mut s = Slots::default();
    let push = |list: &mut Vec<String>, w: String| {
        if !w.is_empty() && !blocked(&w.to_lowercase()) && !list.contains(&w) {
            list.push(w);
        }
    };
    for cat in &c.categories {
        if let Some(w) = category_word(cat) {
            push(&mut s.categories, w);
        }
    }
    if let Some(y) = c.year {
        push(&mut s.when, y.to_string());
        if let Some(d) = short_decade(y) {
            push(&mut s.when, format!("the {d}"));
        }
    }
    if let Some(p) = c.price {
        push(&mut s.price, format!("${p:.2}"));
    }
    let ws = words(request);
    let all_cats: Vec<&str> = cands
        .iter()
        .flat_map(|o| o.categories.iter().map(String::as_str))
        .collect();
    // The request's category words: a candidate with none of them is not
    // on its topic, and its moods would be false of it.
    let asked: Vec<&str> = all_cats
        .iter()
        .copied()
        .filter(|cat| ws.iter().any(|w| names_category(w, cat)))
        .collect();
    let on_topic = asked.is_empty() || asked.iter().any(|a| c.categories.iter().any(|o| o == a));
    let mut negated = false;
    for w in &ws {
        if NEGATIONS.contains(&w.as_str()) || w.ends_with("n't") {
            negated = true;
            continue;
        }
        let skip = std::mem::replace(&mut negated, false)
            || !on_topic
            || w.len() < 3
            || STOP.contains(&w.as_str())
            || w.chars().any(|ch| ch.is_ascii_digit())
            || all_cats.iter().any(|cat| names_category(w, cat))
            || !adjective_like(w);
        if !skip {
            push(&mut s.adjectives, w.clone());
        }
    }
    for w in PRAISE {
        if *w != "classic" || c.year.is_some_and(|y| y < 2000) {
            push(&mut s.adjectives, (*w).to_string());
        }
    }
    let filmish = ws.iter().any(|w| {
        matches!(
            w.as_str(),
            "film" | "films" | "movie" | "movies" | "flick" | "flicks" | "cinema"
        )
    });
    for w in if filmish {
        ["film", "movie"]
    } else {
        ["pick", "choice"]
    } {
        push(&mut s.nouns, w.to_string());
    }
    drop_other_titles(&mut s, index, cands);
    s
}

/// Removes the slot words that could spell another candidate's title (one
/// the gate would read as explaining the wrong item): for each such title
/// whose every word some slot word contains, every slot word containing its
/// longest word goes.
fn drop_other_titles(s: &mut Slots, index: usize, cands: &[GroundedCandidate]) {
    let own = cands[index].title.to_lowercase();
    for (j, o) in cands.iter().enumerate() {
        let t = o.title.to_lowercase();
        if j == index || t.chars().count() < 4 || own.contains(&t) {
            continue;
        }
        let tw: Vec<&str> = t
            .split(|ch: char| !ch.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        // The fixed words of the template count too.
        let fixed = ["a", "an", "and", "from", "at"];
        let spellable = tw.iter().all(|w| {
            fixed.iter().any(|f| f.contains(w))
                || s.lists_mut()
                    .iter()
                    .any(|l| l.iter().any(|v| v.to_lowercase().contains(w)))
        });
        if let Some(longest) = tw.iter().max_by_key(|w| w.len())
            && spellable
        {
            for l in s.lists_mut() {
                l.retain(|v| !v.to_lowercase().contains(longest));
            }
        }
    }
}

/// GBNF alternatives of `words`.
fn alternatives<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"", plain_literal(w.as_ref())))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The grammar of the sentence about `cands[index]`: after the prompt's
/// "… because it is", `a [adjective[, adjective]] category [and category]
/// noun [from year] [at price].` with the words of [`slots`].
pub fn sentence_format(index: usize, cands: &[GroundedCandidate], request: &str) -> JsonFormat {
    let s = slots(index, cands, request);
    let mut root = String::from("root ::= \" a \"");
    let mut rules = String::new();
    if !s.adjectives.is_empty() {
        root.push_str(" (adj (\", \" adj)? \" \")?");
        rules.push_str(&format!("adj ::= {}\n", alternatives(&s.adjectives)));
    }
    if !s.categories.is_empty() {
        root.push_str(" cat (\" and \" cat)? \" \"");
        rules.push_str(&format!("cat ::= {}\n", alternatives(&s.categories)));
    }
    root.push_str(" noun");
    rules.push_str(&format!("noun ::= {}\n", alternatives(&s.nouns)));
    if !s.when.is_empty() {
        root.push_str(" (\" from \" when)?");
        rules.push_str(&format!("when ::= {}\n", alternatives(&s.when)));
    }
    if !s.price.is_empty() {
        root.push_str(" (\" at \" price)?");
        rules.push_str(&format!("price ::= {}\n", alternatives(&s.price)));
    }
    root.push_str(" \".\"\n");
    JsonFormat {
        name: "sentence".into(),
        schema: serde_json::json!({ "type": "string" }),
        grammar: root + &rules,
    }
}

/// The generated words as a sentence: a word repeated at once dropped ("fun,
/// fun comedy", "comedy and comedy"), articles agreed ("a action" → "an
/// action"), the first letter a capital, a full stop at the end. A sentence
/// cut short by the token budget is no sentence (empty).
pub fn finish_sentence(generated: &str, complete: bool) -> String {
    if !complete {
        return String::new();
    }
    let text = generated.trim().trim_end_matches('.').trim();
    let bare = |w: &str| w.trim_end_matches(',').to_lowercase();
    let ws: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let mut kept: Vec<String> = Vec::with_capacity(ws.len());
    let mut i = 0;
    while i < ws.len() {
        let w = ws[i];
        let prev = kept.last().map(|p| bare(p));
        if prev.as_deref() == Some(bare(w).as_str()) {
            // "fun, fun": keep the first, with the second's punctuation.
            if let Some(p) = kept.last_mut() {
                *p = format!(
                    "{}{}",
                    p.trim_end_matches(','),
                    if w.ends_with(',') { "," } else { "" }
                );
            }
            i += 1;
            continue;
        }
        if w == "and" && ws.get(i + 1).map(|n| bare(n)) == prev {
            i += 2;
            continue;
        }
        kept.push(w.to_string());
        i += 1;
    }
    let mut out: Vec<String> = Vec::with_capacity(kept.len());
    for (i, w) in kept.iter().enumerate() {
        let next_vowel = kept
            .get(i + 1)
            .and_then(|n| n.chars().next())
            .is_some_and(|ch| "aeiouAEIOU".contains(ch));
        out.push(match w.as_str() {
            "a" if next_vowel => "an".into(),
            "an" if !next_vowel => "a".into(),
            w => w.to_string(),
        });
    }
    let mut s = out.join(" ");
    if let Some(first) = s.chars().next() {
        s = first.to_uppercase().collect::<String>() + &s[first.len_utf8()..];
    }
    if !s.is_empty() {
        s.push('.');
    }
    s
}
