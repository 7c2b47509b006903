//! The typed intent of a request, and the rule-based parser that covers
//! no-LLM mode and checks what a model proposes.
//!
//! Hard constraints (categories, exclusions, years, prices) become retrieval
//! filters, so a model may only add what the request's own words support: a
//! category must be in the catalog's vocabulary and named (or a known synonym
//! named) in the text, a year or price must appear in it. The model's real
//! contributions are the semantic query and the mood words.

mod model;
mod modifiers;
mod named_before;
mod references;
mod rules;
pub use model::{ModelIntent, format, merge};
pub use modifiers::{Modifier, Relative, modifiers};
pub use references::{Mention, mentions};
use rules::*;
pub use rules::{parse_rules, rules_cover};

use serde::{Deserialize, Serialize};

/// How to order results besides relevance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// By relevance (the ranker's order).
    #[default]
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Newest first.
    Newest,
    /// Most popular first.
    Popular,
}

/// What a person asked for, typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Intent {
    /// Text for the semantic and lexical sources.
    pub query: String,
    /// Wanted categories (catalog vocabulary).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Unwanted categories (catalog vocabulary).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Mood and attribute words ("light-hearted", "waterproof").
    #[serde(default)]
    pub mood: Vec<String>,
    /// Release year bounds, inclusive (relative dates resolved).
    pub year_min: Option<i32>,
    /// Release year bounds, inclusive.
    pub year_max: Option<i32>,
    /// Price bounds.
    pub price_min: Option<f64>,
    /// Price bounds.
    pub price_max: Option<f64>,
    /// Ordering.
    #[serde(default)]
    pub sort: Sort,
    /// Items the request names as a reference ("like Heat"), as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Mention>,
    /// The catalog items those names resolve to (the engine's title index
    /// fills this); they shape the answer and are never in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub like_items: Vec<Reference>,
    /// Names that match no catalog item, as written (reported, never guessed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_references: Vec<String>,
    /// How the answer should differ from the references ("funnier", "newer").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modifiers: Vec<Modifier>,
}

/// A catalog item a request refers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reference {
    /// Catalog id.
    pub item: String,
    /// Its title.
    pub title: String,
    /// The words of the request that named it.
    pub written: String,
    /// Other items the words could name, less popular, when they were
    /// ambiguous (id, title).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<(String, String)>,
}

impl Intent {
    /// The catalog filters this intent stands for, over items of `kinds`
    /// (empty: any kind).
    pub fn filters(&self, kinds: Vec<String>) -> sommelier_types::api::Filters {
        sommelier_types::api::Filters {
            kinds,
            categories: self.categories.clone(),
            exclude_categories: self.exclude.clone(),
            price_min: self.price_min,
            price_max: self.price_max,
            year_min: self.year_min,
            year_max: self.year_max,
            include_unavailable: false,
        }
    }
}

/// A catalog's category vocabulary, matched case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// (normalised form, catalog form), longest first.
    entries: Vec<(String, String)>,
}

/// Words that name a category without saying it, mapped to the category they
/// stand for (used only when the catalog has that category).
const SYNONYMS: &[(&str, &str)] = &[
    ("funny", "comedy"),
    ("comedic", "comedy"),
    ("romcom", "romance"),
    ("rom com", "romance"),
    ("romantic", "romance"),
    ("scary", "horror"),
    ("spooky", "horror"),
    ("animated", "animation"),
    ("cartoon", "animation"),
    ("kids", "children"),
    ("family", "children"),
    ("science fiction", "sci fi"),
    ("scifi", "sci fi"),
    ("space", "sci fi"),
    ("detective", "mystery"),
    ("whodunit", "mystery"),
    ("noir", "film noir"),
    ("cowboy", "western"),
    ("true story", "documentary"),
    ("war movie", "war"),
    ("suspense", "thriller"),
];

const MOODS: &[&str] = &[
    "light-hearted",
    "lighthearted",
    "feel-good",
    "uplifting",
    "heartwarming",
    "funny",
    "dark",
    "gritty",
    "quirky",
    "cozy",
    "epic",
    "thoughtful",
    "clever",
    "relaxing",
    "intense",
    "scary",
    "romantic",
    "sad",
    "inspiring",
    "silly",
    "witty",
    "slow",
    "fast-paced",
    "waterproof",
    "lightweight",
    "durable",
    "warm",
    "breathable",
    "cheap",
    "wet weather",
    "set pieces",
];

/// Whether a (lower-case) word carries no request of its own ("movies",
/// "something", "the").
pub fn is_stopword(w: &str) -> bool {
    STOPWORDS.contains(&w) || STOPWORDS.iter().any(|s| singular(s) == w)
}

/// Normalises text for matching: lower case, `-`/`_`/`/` as spaces, single spaces.
pub fn normalise(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| match c {
            '-' | '_' | '/' | ',' | '.' | '!' | '?' | ';' | ':' | '(' | ')' | '"' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Singular of an English plural, good enough for category names.
fn singular(w: &str) -> String {
    if let Some(s) = w.strip_suffix("ies")
        && s.len() > 2
    {
        return format!("{s}y");
    }
    if let Some(s) = w.strip_suffix("es")
        && (s.ends_with("ss") || s.ends_with("sh") || s.ends_with("ch") || s.ends_with('x'))
    {
        return s.to_string();
    }
    if let Some(s) = w.strip_suffix('s')
        && s.len() > 2
        && !s.ends_with('s')
    {
        return s.to_string();
    }
    w.to_string()
}

fn singular_text(s: &str) -> String {
    s.split(' ').map(singular).collect::<Vec<_>>().join(" ")
}

impl Vocabulary {
    /// The vocabulary of these catalog categories.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(categories: I) -> Self {
        let mut entries: Vec<(String, String)> = categories
            .into_iter()
            .map(|c| {
                (
                    singular_text(&normalise(c.as_ref())),
                    c.as_ref().to_string(),
                )
            })
            .filter(|(n, _)| !n.is_empty())
            .collect();
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        entries.dedup_by(|a, b| a.0 == b.0);
        Self { entries }
    }

    /// Catalog forms, in vocabulary order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(_, c)| c.as_str())
    }

    /// Number of categories.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The catalog form of `name` (any case, plural or singular).
    pub fn lookup(&self, name: &str) -> Option<&str> {
        let n = singular_text(&normalise(name));
        self.entries
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, c)| c.as_str())
    }

    /// Categories named in `text` (normalised, singular), with the byte span
    /// of each mention, first mention first.
    fn mentions(&self, text: &str) -> Vec<(usize, usize, String)> {
        let padded = format!(" {text} ");
        let mut out: Vec<(usize, usize, String)> = Vec::new();
        let mut taken = vec![false; padded.len()];
        let mut find = |needle: &str, cat: &str, out: &mut Vec<(usize, usize, String)>| {
            let pat = format!(" {needle} ");
            let mut from = 0;
            while let Some(i) = padded[from..].find(&pat) {
                let start = from + i + 1;
                let end = start + needle.len();
                if !taken[start..end].iter().any(|t| *t) {
                    taken[start..end].iter_mut().for_each(|t| *t = true);
                    if !out.iter().any(|(_, _, c)| c == cat) {
                        out.push((start - 1, end - 1, cat.to_string()));
                    }
                }
                from = end;
            }
        };
        for (norm, cat) in &self.entries {
            find(norm, cat, &mut out);
        }
        for (word, target) in SYNONYMS {
            if let Some(cat) = self.lookup(target) {
                let cat = cat.to_string();
                find(&singular_text(word), &cat, &mut out);
            }
        }
        out.sort_by_key(|m| m.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movies() -> Vocabulary {
        Vocabulary::new(include!("../../tests/data/movielens_genres.rs"))
    }

    #[test]
    fn the_comedy_example() {
        let i = parse_rules(
            "light-hearted comedies from last year with great set pieces",
            &movies(),
            2026,
        );
        assert_eq!(i.categories, vec!["Comedy"]);
        assert_eq!((i.year_min, i.year_max), (Some(2025), Some(2025)));
        assert!(i.mood.contains(&"light-hearted".to_string()));
        assert!(i.mood.contains(&"set pieces".to_string()));
        assert_eq!(i.query, "light-hearted comedies with great set pieces");
    }

    #[test]
    fn the_shoe_example() {
        let shop = Vocabulary::new(["Trail Shoes", "Road Shoes", "Jackets"]);
        let i = parse_rules("trail shoes for wet weather under $120", &shop, 2026);
        assert_eq!(i.categories, vec!["Trail Shoes"]);
        assert_eq!(i.price_max, Some(120.0));
        assert!(i.mood.contains(&"wet weather".to_string()));
        assert_eq!(i.query, "trail shoes for wet weather");
    }

    #[test]
    fn exclusions_decades_and_ranges() {
        let i = parse_rules("90s thrillers, no horror and no romance", &movies(), 2026);
        assert_eq!(i.categories, vec!["Thriller"]);
        assert_eq!(i.exclude, vec!["Horror", "Romance"]);
        assert_eq!((i.year_min, i.year_max), (Some(1990), Some(1999)));
        let i = parse_rules("sci-fi between 1980 and 1989 without war", &movies(), 2026);
        assert_eq!(i.categories, vec!["Sci-Fi"]);
        assert_eq!(i.exclude, vec!["War"]);
        assert_eq!((i.year_min, i.year_max), (Some(1980), Some(1989)));
        let i = parse_rules("something scary made before 1980", &movies(), 2026);
        assert_eq!(i.categories, vec!["Horror"]);
        assert_eq!(i.year_max, Some(1979));
        let i = parse_rules(
            "jackets between $50 and $80, cheapest first",
            &Vocabulary::new(["Jackets"]),
            2026,
        );
        assert_eq!((i.price_min, i.price_max), (Some(50.0), Some(80.0)));
        assert_eq!(i.sort, Sort::PriceAsc);
    }

    include!("../../tests/data/query_set.rs");

    #[test]
    fn rules_alone_get_the_hard_fields_of_the_query_set_right() {
        let v = movies();
        let cases = query_set();
        assert!(cases.len() >= 60, "{} cases", cases.len());
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|c| mismatch(c, &parse_rules(&c.text, &v, 2026)))
            .collect();
        let exact = exact_share(&wrong, cases.len(), "");
        assert!(exact >= 0.9, "{exact:.3} of the query set exact");
    }

    #[test]
    fn the_rules_know_when_they_covered_every_word() {
        let v = movies();
        let covered = |t: &str| rules_cover(&parse_rules(t, &v, 2026), &v);
        assert!(covered(
            "light-hearted comedies from last year with great set pieces"
        ));
        assert!(covered("dark drama films from the 90s"));
        assert!(covered("scary movies, no romance"));
        assert!(!covered("something to cheer me up after a long week"));
        // A named item is the rules' now: nothing is left for a model.
        assert!(covered("comedy movies like Toy Story"));
        assert!(!covered(
            "comedy movies like Toy Story, but with more heart"
        ));
    }

    #[test]
    fn a_model_may_add_only_what_the_words_support() {
        let text = "funny films from 1995 under 20 dollars";
        let rules = parse_rules(text, &movies(), 2026);
        let model = ModelIntent {
            query: "funny films".into(),
            categories: vec!["comedy".into(), "Horror".into(), "Opera".into()],
            exclude: vec![],
            mood: vec!["funny".into(), "sad".into()],
            year_from: Some(1994),
            year_to: None,
            price_max: Some(15.0),
            like: vec![],
        };
        let (i, dropped) = merge(&rules, &model, text, &movies());
        assert_eq!(i.categories, vec!["Comedy"]);
        assert_eq!((i.year_min, i.year_max), (Some(1995), Some(1995)));
        assert_eq!(i.price_max, Some(20.0));
        assert_eq!(i.mood, vec!["funny"]);
        assert_eq!(i.query, "funny films");
        assert!(dropped.iter().any(|d| d.contains("Horror")));
        assert!(dropped.iter().any(|d| d.contains("Opera")));
        assert!(dropped.iter().any(|d| d.contains("sad")));
    }

    #[test]
    fn a_model_may_propose_titles_written_as_names() {
        let text = "tense heist films in the mould of Heat, no comedies";
        let rules = parse_rules(text, &movies(), 2026);
        assert!(
            rules.references.is_empty(),
            "no trigger: the rules find none"
        );
        let model = ModelIntent {
            like: vec![
                "Heat".into(),
                "heist".into(),
                "Ronin".into(),
                "comedies".into(),
            ],
            ..ModelIntent::default()
        };
        let (i, dropped) = merge(&rules, &model, text, &movies());
        let proposed: Vec<(&str, bool)> = i
            .references
            .iter()
            .map(|m| (m.text.as_str(), m.tentative))
            .collect();
        assert_eq!(proposed, [("Heat", true)]);
        for why in [
            "`heist` (not written as a name)",
            "`Ronin` (not in the request)",
            "`comedies` (names no title)",
        ] {
            assert!(
                dropped.iter().any(|d| d.contains(why)),
                "{why}: {dropped:?}"
            );
        }
        // A title the rules found already is not proposed again.
        let text = "something like The Matrix";
        let rules = parse_rules(text, &movies(), 2026);
        let model = ModelIntent {
            like: vec!["The Matrix".into()],
            ..ModelIntent::default()
        };
        let (i, _) = merge(&rules, &model, text, &movies());
        assert_eq!(i.references.len(), 1);
        assert!(!i.references[0].tentative);
    }
}
