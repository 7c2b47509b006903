//! Titles named before a word that marks them as a reference: "a Pulp
//! Fiction fan", "Toy Story vibes", "tense Heat-style heist films",
//! "Alien-esque". The title is the run of capitalised words (small joining
//! words inside it allowed: "Lord of the Rings") that ends right before the
//! marker; without a capital there is no title ("heist-style" names nothing).

use super::references::{Mention, Token};
use std::ops::Range;

/// Words after a title that make it a reference.
const MARKERS: &[&str] = &["fan", "fans", "lover", "lovers", "vibe", "vibes"];

/// Endings of a word joined to a title by a hyphen ("Heat-style").
const JOINED: &[&str] = &["-style", "-esque", "-like", "-type", "-inspired"];

/// Small words a title holds between capitalised ones.
const INSIDE: &[&str] = &[
    "of", "the", "and", "a", "an", "in", "on", "to", "&", "for", "with",
];

fn capitalised(w: &str) -> bool {
    w.chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
}

/// The titles named before a marker in `toks` (the tokens of `text`), each
/// with its span (title and marker) twice, as [`super::references`] gives
/// its mentions.
pub(super) fn mentions(
    text: &str,
    toks: &[Token<'_>],
) -> Vec<(Mention, Range<usize>, Range<usize>)> {
    let mut out = Vec::new();
    for (j, t) in toks.iter().enumerate() {
        // The title's last word: the token before a marker, or the part of
        // this token before a joined ending.
        let (last_word_end, first_whole) = if MARKERS.contains(&t.lower.as_str()) && j > 0 {
            if toks[j - 1].boundary_after {
                continue;
            }
            (toks[j - 1].end, j - 1)
        } else if let Some(ending) = JOINED.iter().find(|e| t.lower.ends_with(*e)) {
            let cut = t.text.len() - ending.len();
            if cut == 0 || !capitalised(&t.text[..cut]) {
                continue;
            }
            // The joined word itself starts the backward walk.
            (t.start + cut, j)
        } else {
            continue;
        };
        if !capitalised(&text[toks[first_whole].start..]) {
            continue;
        }
        // Walk back over capitalised words and the small words inside them.
        let mut first = first_whole;
        while first > 0 {
            // The small words before `first`, then a capitalised word.
            let mut k = first;
            while k > 0
                && INSIDE.contains(&toks[k - 1].lower.as_str())
                && !toks[k - 1].boundary_after
            {
                k -= 1;
            }
            if k == 0 || toks[k - 1].boundary_after || !capitalised(toks[k - 1].text) {
                break;
            }
            first = k - 1;
        }
        let start = toks[first].start;
        out.push((
            Mention {
                text: text[start..last_word_end].to_string(),
                year: None,
                run_on: None,
                tentative: true,
            },
            start..t.end,
            start..t.end,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::references::mentions as all;

    fn names(text: &str) -> Vec<String> {
        all(text).into_iter().map(|(m, _)| m.text).collect()
    }

    #[test]
    fn a_title_before_a_marker_is_a_reference() {
        assert_eq!(
            names("what would a Pulp Fiction fan watch next"),
            ["Pulp Fiction"]
        );
        assert_eq!(names("Toy Story vibes but for adults"), ["Toy Story"]);
        assert_eq!(names("tense Heat-style heist films"), ["Heat"]);
        assert_eq!(names("something Alien-esque"), ["Alien"]);
        assert_eq!(names("for Lord of the Rings fans"), ["Lord of the Rings"]);
    }

    #[test]
    fn without_a_capital_there_is_no_title() {
        assert!(names("heist-style films, good vibes only").is_empty());
        assert!(names("good vibes only").is_empty());
        assert!(names("I am a big fan").is_empty());
    }

    #[test]
    fn the_span_takes_the_marker_too() {
        let text = "a Pulp Fiction fan";
        let (_, span) = all(text).remove(0);
        assert_eq!(&text[span], "Pulp Fiction fan");
    }
}
