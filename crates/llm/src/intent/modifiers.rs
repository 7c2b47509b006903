//! Modifiers: how the answer should differ from what the request refers to
//! ("like Heat but funnier", "something like The Matrix, only newer"). A
//! modifier lifts or lowers catalog categories, or bounds a value relative to
//! the referenced items (the engine knows their years and prices and applies
//! the bound); without a reference the bounds are relative to the items shown
//! last.

use super::{Vocabulary, normalise};
use serde::{Deserialize, Serialize};

/// A bound relative to the referenced items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relative {
    /// Released after them.
    Newer,
    /// Released before them.
    Older,
    /// Cheaper than them.
    Cheaper,
    /// Dearer than them.
    Pricier,
    /// Shorter than them (a `runtime` attribute).
    Shorter,
    /// Longer than them.
    Longer,
}

/// One modifier of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Modifier {
    /// The words as the request says them ("funnier", "less violent").
    pub words: String,
    /// Catalog categories to lift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<String>,
    /// Catalog categories to lower.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub less: Vec<String>,
    /// A bound relative to the referenced items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative: Option<Relative>,
    /// What it did once applied, in words (filled by the engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<String>,
}

/// Categories that read as funny, light, dark, frightening, violent, action,
/// romantic or cerebral, in normalised singular form; only those the
/// catalog's vocabulary has are used.
const LIGHT: &[&str] = &["comedy", "animation", "children", "musical", "romance"];
const DARK: &[&str] = &["thriller", "crime", "drama", "film noir", "horror", "war"];
const VIOLENT: &[&str] = &["horror", "war", "crime", "action", "thriller"];

/// (words, categories lifted, categories lowered, bound).
type Rule = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    Option<Relative>,
);

const RULES: &[Rule] = &[
    (
        &[
            "funnier",
            "more funny",
            "more fun",
            "more comedy",
            "sillier",
        ],
        &["comedy"],
        &[],
        None,
    ),
    (
        &[
            "lighter",
            "more light-hearted",
            "more lighthearted",
            "happier",
            "less serious",
            "more uplifting",
            "more feel-good",
        ],
        LIGHT,
        &["horror", "war", "thriller", "crime", "film noir"],
        None,
    ),
    (
        &[
            "darker",
            "grittier",
            "more serious",
            "less funny",
            "sadder",
            "bleaker",
        ],
        DARK,
        &["comedy", "children", "animation", "musical"],
        None,
    ),
    (
        &["scarier", "more scary", "creepier", "more frightening"],
        &["horror", "thriller"],
        &[],
        None,
    ),
    (
        &[
            "less violent",
            "gentler",
            "softer",
            "less gory",
            "tamer",
            "more family friendly",
            "less bloody",
        ],
        &["children", "animation"],
        VIOLENT,
        None,
    ),
    (
        &[
            "more action",
            "more exciting",
            "more thrilling",
            "more action-packed",
        ],
        &["action", "adventure", "thriller"],
        &[],
        None,
    ),
    (&["more romantic", "more romance"], &["romance"], &[], None),
    (
        &["smarter", "more thoughtful", "more cerebral", "more clever"],
        &["drama", "mystery"],
        &[],
        None,
    ),
    (
        &["newer", "more recent", "more modern"],
        &[],
        &[],
        Some(Relative::Newer),
    ),
    (&["older", "more classic"], &[], &[], Some(Relative::Older)),
    (
        &["cheaper", "less expensive", "more affordable"],
        &[],
        &[],
        Some(Relative::Cheaper),
    ),
    (
        &["pricier", "more expensive", "fancier"],
        &[],
        &[],
        Some(Relative::Pricier),
    ),
    (&["shorter"], &[], &[], Some(Relative::Shorter)),
    (&["longer"], &[], &[], Some(Relative::Longer)),
];

/// The modifiers `text` says, resolved against the catalog's categories.
pub fn modifiers(text: &str, vocab: &Vocabulary) -> Vec<Modifier> {
    let padded = format!(" {} ", normalise(text));
    let mut out: Vec<Modifier> = Vec::new();
    let mut taken: Vec<(usize, usize)> = Vec::new();
    for (phrases, more, less, relative) in RULES {
        for phrase in *phrases {
            let pat = format!(" {} ", normalise(phrase));
            let Some(at) = padded.find(&pat) else {
                continue;
            };
            let span = (at, at + pat.len());
            if taken.iter().any(|t| t.0 < span.1 && span.0 < t.1) {
                continue;
            }
            taken.push(span);
            let cats = |names: &[&str]| -> Vec<String> {
                names
                    .iter()
                    .filter_map(|n| vocab.lookup(n).map(str::to_string))
                    .collect()
            };
            out.push(Modifier {
                words: (*phrase).to_string(),
                more: cats(more),
                less: cats(less),
                relative: *relative,
                applied: None,
            });
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        Vocabulary::new([
            "Action",
            "Adventure",
            "Animation",
            "Children",
            "Comedy",
            "Crime",
            "Drama",
            "Film-Noir",
            "Horror",
            "Musical",
            "Mystery",
            "Romance",
            "Thriller",
            "War",
        ])
    }

    #[test]
    fn comparatives_lift_or_lower_categories_the_catalog_has() {
        let m = modifiers("like The Matrix but funnier", &vocab());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].words, "funnier");
        assert_eq!(m[0].more, ["Comedy"]);
        let m = modifiers("something like Heat but less violent", &vocab());
        assert_eq!(m[0].words, "less violent");
        assert!(
            m[0].less.contains(&"Horror".to_string()) && m[0].less.contains(&"War".to_string())
        );
        assert_eq!(
            modifiers("a darker version", &vocab())[0].more[0],
            "Thriller"
        );
    }

    #[test]
    fn relative_bounds_are_named_for_the_engine_to_apply() {
        let m = modifiers("like Toy Story but newer and shorter", &vocab());
        let rel: Vec<_> = m.iter().filter_map(|m| m.relative).collect();
        assert_eq!(rel, [Relative::Newer, Relative::Shorter]);
        assert!(modifiers("light-hearted comedies from the 90s", &vocab()).is_empty());
    }
}
