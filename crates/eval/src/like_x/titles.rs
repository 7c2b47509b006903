//! Matching the movies of two catalogs by normalised title and release year.
//!
//! Both MovieLens data sets name a movie "Title (Year)", but not always the
//! same way: ml-latest-small adds alternative titles in parentheses ("Twelve
//! Monkeys (a.k.a. 12 Monkeys)", "The Postman (Postino, Il)") where ml-100k
//! has one of them ("Twelve Monkeys", "Il Postino"). The titles compared are
//! the importers' (`sommelier_datasets::parse_movie_title`: year split off,
//! a trailing article moved to the front).

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A movie as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitledItem {
    /// Item id in its own catalog.
    pub id: String,
    /// Title without the year, article in front (the importer's title).
    pub title: String,
    /// Release year; a movie without one is never matched.
    pub year: Option<i32>,
}

/// Articles a title may end with after a comma ("Postino, Il").
const ARTICLES: [&str; 12] = [
    "The", "A", "An", "Les", "La", "Le", "L'", "Il", "Das", "Der", "Die", "El",
];

/// Lower case, `&` read as "and", every run of characters other than
/// letters and digits one space, no space at either end.
pub fn normalise_title(title: &str) -> String {
    title
        .replace('&', " and ")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// "Postino, Il" → "Il Postino".
fn article_first(t: &str) -> String {
    for article in ARTICLES {
        if let Some(head) = t.strip_suffix(&format!(", {article}")) {
            let sep = if article.ends_with('\'') { "" } else { " " };
            return format!("{article}{sep}{head}");
        }
    }
    t.to_string()
}

/// The names a title goes by, normalised: the whole title first, then the
/// part before the first parenthesis and each alternative title in
/// parentheses ("a.k.a." dropped, a trailing article moved to the front).
pub fn title_keys(title: &str) -> Vec<String> {
    let mut keys = vec![normalise_title(title)];
    if let Some(open) = title.find(" (") {
        keys.push(normalise_title(&title[..open]));
        // Top-level groups only: "To Have, or Not (En avoir (ou pas))".
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in title.char_indices().skip_while(|(i, _)| *i <= open) {
            match c {
                '(' => {
                    if depth == 0 {
                        start = i + 1;
                    }
                    depth += 1;
                }
                ')' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        let alt = title[start..i].trim();
                        let alt = ["a.k.a. ", "aka "]
                            .iter()
                            .find_map(|p| {
                                alt.get(..p.len())
                                    .filter(|h| h.eq_ignore_ascii_case(p))
                                    .map(|_| &alt[p.len()..])
                            })
                            .unwrap_or(alt);
                        keys.push(normalise_title(&article_first(alt)));
                    }
                }
                _ => {}
            }
        }
    }
    let mut seen = BTreeSet::new();
    keys.retain(|k| !k.is_empty() && seen.insert(k.clone()));
    keys
}

type Key = (String, i32);

/// Maps items of `reference` to the `catalog` items that are the same movie;
/// answers reference id → catalog id.
///
/// Two passes, both on equal years:
/// 1. the whole normalised titles are equal and name exactly one catalog
///    item (several reference items may map to it: ml-100k lists a few
///    movies twice under two ids);
/// 2. among what is left, the movies whose names ([`title_keys`]) point at
///    exactly one catalog item, when every reference item sharing a name
///    with that catalog item points at it alone.
///
/// Anything ambiguous stays unmatched.
pub fn match_titles(reference: &[TitledItem], catalog: &[TitledItem]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut taken: BTreeSet<usize> = BTreeSet::new();
    let mut cat_full: HashMap<Key, Vec<usize>> = HashMap::new();
    for (i, c) in catalog.iter().enumerate() {
        if let Some(y) = c.year {
            cat_full
                .entry((normalise_title(&c.title), y))
                .or_default()
                .push(i);
        }
    }
    for r in reference {
        let Some(y) = r.year else { continue };
        if let Some([c]) = cat_full
            .get(&(normalise_title(&r.title), y))
            .map(Vec::as_slice)
        {
            out.insert(r.id.clone(), catalog[*c].id.clone());
            taken.insert(*c);
        }
    }

    let keys = |it: &TitledItem| -> Vec<Key> {
        it.year.map_or_else(Vec::new, |y| {
            title_keys(&it.title).into_iter().map(|k| (k, y)).collect()
        })
    };
    let ref_keys: Vec<Vec<Key>> = reference.iter().map(keys).collect();
    let cat_keys: Vec<Vec<Key>> = catalog.iter().map(keys).collect();
    let mut cat_index: HashMap<&Key, BTreeSet<usize>> = HashMap::new();
    for (i, ks) in cat_keys.iter().enumerate() {
        for k in ks {
            cat_index.entry(k).or_default().insert(i);
        }
    }
    let mut ref_index: HashMap<&Key, BTreeSet<usize>> = HashMap::new();
    for (i, ks) in ref_keys.iter().enumerate() {
        for k in ks {
            ref_index.entry(k).or_default().insert(i);
        }
    }
    let candidates = |r: usize, taken: &BTreeSet<usize>| -> BTreeSet<usize> {
        ref_keys[r]
            .iter()
            .filter_map(|k| cat_index.get(k))
            .flatten()
            .copied()
            .filter(|c| !taken.contains(c))
            .collect()
    };
    for (a, r) in reference.iter().enumerate() {
        if out.contains_key(&r.id) {
            continue;
        }
        let cands = candidates(a, &taken);
        let [b] = cands.iter().copied().collect::<Vec<_>>()[..] else {
            continue;
        };
        let group: BTreeSet<usize> = cat_keys[b]
            .iter()
            .filter_map(|k| ref_index.get(k))
            .flatten()
            .copied()
            .filter(|x| !out.contains_key(&reference[*x].id))
            .collect();
        if group
            .iter()
            .all(|x| candidates(*x, &taken) == BTreeSet::from([b]))
        {
            for x in group {
                out.insert(reference[x].id.clone(), catalog[b].id.clone());
            }
            taken.insert(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, year: i32) -> TitledItem {
        TitledItem {
            id: id.into(),
            title: title.into(),
            year: Some(year),
        }
    }

    #[test]
    fn titles_are_compared_without_case_punctuation_or_ampersands() {
        assert_eq!(normalise_title("Dumb & Dumber"), "dumb and dumber");
        assert_eq!(normalise_title("  That Darn Cat! "), "that darn cat");
        assert_eq!(normalise_title("M*A*S*H"), "m a s h");
        assert_eq!(
            normalise_title("Léon: The Professional"),
            "léon the professional"
        );
        assert_eq!(normalise_title("8 1/2"), "8 1 2");
    }

    #[test]
    fn alternative_titles_are_names_too() {
        assert_eq!(
            title_keys("The Postman (Postino, Il)"),
            vec!["the postman postino il", "the postman", "il postino"]
        );
        assert_eq!(
            title_keys("Twelve Monkeys (a.k.a. 12 Monkeys)"),
            vec![
                "twelve monkeys a k a 12 monkeys",
                "twelve monkeys",
                "12 monkeys"
            ]
        );
        assert_eq!(
            title_keys("To Have, or Not (En avoir (ou pas))"),
            vec![
                "to have or not en avoir ou pas",
                "to have or not",
                "en avoir ou pas"
            ]
        );
        assert_eq!(title_keys("Heat"), vec!["heat"]);
    }

    #[test]
    fn movies_match_on_a_name_and_the_year_and_never_ambiguously() {
        let reference = vec![
            item("r1", "Toy Story", 1995),
            item("r2", "Il Postino", 1994),
            item("r3", "Twelve Monkeys", 1995),
            // Listed twice in the reference: both map to the one movie.
            item("r4", "Chasing Amy", 1997),
            item("r5", "Chasing Amy", 1997),
            // A year apart: not the same movie as far as the matcher knows.
            item("r6", "Dolores Claiborne", 1994),
            // Two catalog movies go by this name in that year.
            item("r7", "The Professional", 1994),
            item("r8", "Dumb & Dumber", 1994),
            TitledItem {
                id: "r9".into(),
                title: "Unknown".into(),
                year: None,
            },
        ];
        let catalog = vec![
            item("1", "Toy Story", 1995),
            item("58", "The Postman (Postino, Il)", 1994),
            item("32", "Twelve Monkeys (a.k.a. 12 Monkeys)", 1995),
            item("1639", "Chasing Amy", 1997),
            item("230", "Dolores Claiborne", 1995),
            item(
                "293",
                "Léon: The Professional (a.k.a. The Professional)",
                1994,
            ),
            item("9999", "The Professional (Le professionnel)", 1994),
            item("231", "Dumb & Dumber (Dumb and Dumber)", 1994),
            TitledItem {
                id: "0".into(),
                title: "Unknown".into(),
                year: None,
            },
        ];
        let m = match_titles(&reference, &catalog);
        let want: BTreeMap<String, String> = [
            ("r1", "1"),
            ("r2", "58"),
            ("r3", "32"),
            ("r4", "1639"),
            ("r5", "1639"),
            ("r8", "231"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(m, want);
    }
}
