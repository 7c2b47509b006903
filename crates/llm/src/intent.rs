//! The typed intent of a request, and the rule-based parser that covers
//! no-LLM mode and checks what a model proposes.
//!
//! Hard constraints (categories, exclusions, years, prices) become retrieval
//! filters, so a model may only add what the request's own words support: a
//! category must be in the catalog's vocabulary and named (or a known synonym
//! named) in the text, a year or price must appear in it. The model's real
//! contributions are the semantic query and the mood words.

use serde::{Deserialize, Serialize};
use serde_json::json;

/// How to order results besides relevance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

/// Words that turn the category after them into an exclusion.
const NEGATIONS: &[&str] = &[
    "no", "not", "without", "except", "avoid", "nothing", "never", "exclude", "skip", "minus",
    "but not",
];

fn number(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['$', '€', '£']).replace(',', "");
    let t = t.trim_end_matches(['$', '€', '£']);
    let (t, mult) = match t.strip_suffix('k') {
        Some(x) => (x, 1000.0),
        None => (t, 1.0),
    };
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v * mult)
}

fn year(s: &str) -> Option<i32> {
    let y: i32 = s.trim_end_matches('s').parse().ok()?;
    (1870..=2100).contains(&y).then_some(y)
}

/// A decade written as `1990s`, `90s`, `'90s`, `nineties`.
fn decade(w: &str) -> Option<i32> {
    let w = w.trim_start_matches('\'');
    let words = [
        ("twenties", 1920),
        ("thirties", 1930),
        ("forties", 1940),
        ("fifties", 1950),
        ("sixties", 1960),
        ("seventies", 1970),
        ("eighties", 1980),
        ("nineties", 1990),
    ];
    if let Some((_, d)) = words.iter().find(|(n, _)| *n == w) {
        return Some(*d);
    }
    let digits = w.strip_suffix('s')?;
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    match digits.len() {
        4 => year(digits).filter(|y| y % 10 == 0),
        2 => {
            let d: i32 = digits.parse().ok()?;
            (d % 10 == 0).then_some(if d >= 30 { 1900 + d } else { 2000 + d })
        }
        _ => None,
    }
}

/// A word naming a currency after an amount ("120 dollars").
fn is_currency_word(w: &str) -> bool {
    matches!(
        w,
        "dollars" | "dollar" | "euros" | "euro" | "pounds" | "bucks" | "usd" | "eur"
    )
}

fn is_money(w: &str) -> bool {
    w.starts_with(['$', '€', '£']) || w.ends_with(['$', '€', '£'])
}

/// Parses `text` by rules. `this_year` resolves relative dates ("last year").
pub fn parse_rules(text: &str, vocab: &Vocabulary, this_year: i32) -> Intent {
    let lower = text.to_lowercase();
    // Keep currency marks and decimals for numbers; other punctuation is space.
    let words: Vec<String> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '!' | '?' | '(' | ')' | '"'))
        .map(|w| w.trim_end_matches('.').to_string())
        .filter(|w| !w.is_empty())
        .collect();
    let mut intent = Intent::default();
    let mut consumed = vec![false; words.len()];
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let money_after = |i: usize| {
        // "$120", "120$", "120 dollars", "120 bucks"
        let v = number(w(i))?;
        let marked = is_money(w(i)) || is_currency_word(w(i + 1));
        Some((v, marked))
    };
    let mut i = 0;
    while i < words.len() {
        let a = w(i);
        let b = w(i + 1);
        let c = w(i + 2);
        let mut used = 0;
        match (a, b) {
            ("last", "year") | ("previous", "year") => {
                intent.year_min = Some(this_year - 1);
                intent.year_max = Some(this_year - 1);
                used = 2;
            }
            ("this", "year") => {
                intent.year_min = Some(this_year);
                intent.year_max = Some(this_year);
                used = 2;
            }
            ("last" | "past", n) if c == "years" => {
                if let Some(n) = number(n).filter(|n| *n >= 1.0 && *n <= 100.0) {
                    intent.year_min = Some(this_year - n as i32);
                    intent.year_max = Some(this_year);
                    used = 3;
                }
            }
            ("recent" | "latest" | "new", _) if a == "recent" => {
                intent.year_min = Some(this_year - 3);
                used = 1;
            }
            ("since" | "after", y) if year(y).is_some() => {
                let y = year(y).unwrap_or_default();
                intent.year_min = Some(if a == "after" { y + 1 } else { y });
                used = 2;
            }
            ("before" | "pre", y) if year(y).is_some() => {
                intent.year_max = Some(year(y).unwrap_or_default() - 1);
                used = 2;
            }
            ("between" | "from", y) if year(y).is_some() && matches!(c, "and" | "to" | "until") => {
                if let Some(y2) = year(w(i + 3)) {
                    intent.year_min = Some(year(y).unwrap_or_default().min(y2));
                    intent.year_max = Some(year(y).unwrap_or_default().max(y2));
                    used = 4;
                }
            }
            ("between" | "from", p) if number(p).is_some() && matches!(c, "and" | "to") => {
                if let (Some((lo, m1)), Some((hi, m2))) = (money_after(i + 1), money_after(i + 3))
                    && (m1 || m2)
                {
                    intent.price_min = Some(lo.min(hi));
                    intent.price_max = Some(lo.max(hi));
                    used = 4;
                }
            }
            ("under" | "below" | "max" | "within", _)
            | ("up", "to")
            | ("less" | "cheaper", "than")
            | ("no", "more") => {
                let at = if matches!((a, b), ("up", "to") | ("less" | "cheaper", "than")) {
                    i + 2
                } else if (a, b) == ("no", "more") && c == "than" {
                    i + 3
                } else {
                    i + 1
                };
                if let Some((v, marked)) = money_after(at)
                    && (marked || year(w(at)).is_none())
                {
                    intent.price_max = Some(v);
                    used = at - i + 1;
                }
            }
            ("over" | "above" | "from" | "min", _) | ("more", "than") | ("at", "least") => {
                let at = if matches!((a, b), ("more", "than") | ("at", "least")) {
                    i + 2
                } else {
                    i + 1
                };
                if let Some((v, true)) = money_after(at) {
                    intent.price_min = Some(v);
                    used = at - i + 1;
                }
            }
            ("around" | "about" | "roughly", _) => {
                if let Some((v, true)) = money_after(i + 1) {
                    intent.price_min = Some((v * 0.8).floor());
                    intent.price_max = Some((v * 1.2).ceil());
                    used = 2;
                }
            }
            ("cheapest" | "cheap" | "affordable" | "budget", _) => {
                intent.sort = Sort::PriceAsc;
            }
            ("newest" | "latest", _) => {
                intent.sort = Sort::Newest;
                used = 1;
            }
            ("most", "popular")
            | ("best", "selling")
            | ("top", "rated")
            | ("best", "rated")
            | ("highest", "rated") => {
                intent.sort = Sort::Popular;
                used = 2;
            }
            _ => {}
        }
        if used == 0 {
            if let Some(d) = decade(a) {
                intent.year_min = Some(d);
                intent.year_max = Some(d + 9);
                used = 1;
                if i > 0 && matches!(w(i - 1), "the" | "from" | "in") {
                    consumed[i - 1] = true;
                }
            } else if let Some(y) = year(a).filter(|_| a.len() == 4 && !is_money(a)) {
                let prev = if i > 0 { w(i - 1) } else { "" };
                if !matches!(prev, "under" | "below" | "over" | "above") {
                    intent.year_min = Some(y);
                    intent.year_max = Some(y);
                    used = 1;
                    if matches!(prev, "from" | "in" | "of") {
                        consumed[i - 1] = true;
                    }
                }
            } else if let Some((v, true)) = money_after(i)
                && intent.price_max.is_none()
                && !matches!(if i > 0 { w(i - 1) } else { "" }, "over" | "above")
            {
                // "a $50 gift" reads as a budget.
                intent.price_max = Some(v);
                used = 1;
            }
        }
        consumed[i..(i + used).min(words.len())]
            .iter_mut()
            .for_each(|c| *c = true);
        // "from last year", "made before 1980", "priced under $50": the
        // joining word goes with the filter.
        if used > 0
            && i > 0
            && matches!(
                w(i - 1),
                "from" | "in" | "of" | "released" | "made" | "priced" | "costing" | "at"
            )
        {
            consumed[i - 1] = true;
        }
        // A unit word after a consumed number goes with it.
        if used > 0 && is_currency_word(w(i + used)) {
            consumed[i + used] = true;
            used += 1;
        }
        i += used.max(1);
    }
    // Categories and exclusions, on the normalised text.
    let norm = normalise(&words.join(" "));
    let sing = singular_text(&norm);
    for (start, _end, cat) in vocab.mentions(&sing) {
        let before = &sing[..start];
        let neg = before
            .split(' ')
            .rev()
            .filter(|x| !x.is_empty())
            .take(3)
            .any(|x| NEGATIONS.contains(&x))
            && !before.trim_end().ends_with(" and")
            && !before.contains(" like ");
        let target = if neg {
            &mut intent.exclude
        } else {
            &mut intent.categories
        };
        if !target.contains(&cat) {
            target.push(cat);
        }
    }
    intent.categories.retain(|c| !intent.exclude.contains(c));
    for m in MOODS {
        if format!(" {norm} ").contains(&format!(" {} ", normalise(m))) {
            intent.mood.push((*m).to_string());
        }
    }
    // The query: the words left once filters are taken out, minus filler.
    let filler = [
        "recommend",
        "me",
        "some",
        "show",
        "find",
        "i",
        "want",
        "would",
        "like",
        "please",
        "give",
        "looking",
        "for",
        "something",
        "a",
        "an",
        "any",
        "suggest",
        "need",
        "get",
        "can",
        "you",
    ];
    let mut kept: Vec<&str> = Vec::new();
    let mut negating = false;
    for (k, word) in words.iter().enumerate() {
        if consumed[k] {
            continue;
        }
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '-');
        if NEGATIONS.contains(&bare) {
            negating = true;
            continue;
        }
        if negating {
            // Drop the excluded words from the query text.
            if vocab.lookup(bare).is_some() || SYNONYMS.iter().any(|(s, _)| *s == bare) {
                continue;
            }
            negating = matches!(bare, "and" | "or");
            if negating {
                continue;
            }
        }
        if kept.is_empty() && filler.contains(&bare) {
            continue;
        }
        if bare.is_empty() {
            continue;
        }
        kept.push(word.as_str());
    }
    while kept
        .last()
        .is_some_and(|w| matches!(*w, "from" | "in" | "and" | "with" | "for" | "the" | "of"))
    {
        kept.pop();
    }
    intent.query = kept.join(" ");
    if intent.query.is_empty() {
        intent.query = text.trim().to_string();
    }
    intent
}

/// Words that carry no request of their own.
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "some",
    "any",
    "with",
    "and",
    "or",
    "for",
    "of",
    "to",
    "in",
    "on",
    "from",
    "film",
    "films",
    "movie",
    "movies",
    "show",
    "shows",
    "something",
    "stuff",
    "thing",
    "things",
    "me",
    "my",
    "i",
    "please",
    "great",
    "good",
    "best",
    "really",
    "very",
    "that",
    "are",
    "is",
    "one",
    "ones",
];

/// Whether the rules account for every word of the request's query: each is
/// a category, a mood word or a stopword. Then a model has nothing to add
/// that could become a filter, and `model_intent = "auto"` skips it.
pub fn rules_cover(intent: &Intent, vocab: &Vocabulary) -> bool {
    let q = singular_text(&normalise(&intent.query));
    let mut rest = format!(" {q} ");
    for (start, end, _) in vocab.mentions(&q) {
        let blank = " ".repeat(end - start);
        rest.replace_range(start + 1..end + 1, &blank);
    }
    for m in MOODS {
        let m = format!(" {} ", singular_text(&normalise(m)));
        while let Some(i) = rest.find(&m) {
            rest.replace_range(i..i + m.len(), &" ".repeat(m.len()));
        }
    }
    rest.split_whitespace()
        .all(|w| STOPWORDS.iter().any(|s| *s == w || singular(s) == w))
}

/// What a model proposed, before it is checked against the request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ModelIntent {
    /// Rewritten query.
    #[serde(default)]
    pub query: String,
    /// Categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Exclusions.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Mood words.
    #[serde(default)]
    pub mood: Vec<String>,
    /// Years.
    #[serde(default)]
    pub year_from: Option<i32>,
    /// Years.
    #[serde(default)]
    pub year_to: Option<i32>,
    /// Price cap.
    #[serde(default)]
    pub price_max: Option<f64>,
}

/// Whether `text` writes the amount `v` as money (`$20`, `20€`, `20 dollars`).
fn money_stated(text: &str, v: f64) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.iter().enumerate().any(|(i, w)| {
        let w = w.trim_end_matches(['.', ',', '!', '?']);
        number(w).is_some_and(|n| (n - v).abs() < 1e-9)
            && (is_money(w) || words.get(i + 1).is_some_and(|n| is_currency_word(n)))
    })
}

/// Merges what a model proposed into the rule-based intent, keeping only what
/// the request's words support (see the module docs). Returns the merged
/// intent and the proposals that were dropped, for the response's audit.
pub fn merge(
    rules: &Intent,
    model: &ModelIntent,
    text: &str,
    vocab: &Vocabulary,
) -> (Intent, Vec<String>) {
    let mut out = rules.clone();
    let mut dropped = Vec::new();
    let named: Vec<String> = vocab
        .mentions(&singular_text(&normalise(text)))
        .into_iter()
        .map(|m| m.2)
        .collect();
    for (list, target) in [(&model.categories, 0), (&model.exclude, 1)] {
        for c in list {
            match vocab.lookup(c) {
                Some(cat) if named.iter().any(|n| n == cat) => {
                    let cat = cat.to_string();
                    let (dst, other) = if target == 0 {
                        (&mut out.categories, &out.exclude)
                    } else {
                        (&mut out.exclude, &out.categories)
                    };
                    if !dst.contains(&cat) && !other.contains(&cat) {
                        dst.push(cat);
                    }
                }
                _ => dropped.push(format!("category `{c}` (not named in the request)")),
            }
        }
    }
    let digits: Vec<f64> = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.trim_matches('.').parse::<f64>().ok())
        .collect();
    let stated = |v: f64| digits.iter().any(|d| (d - v).abs() < 1e-9);
    // Years: the rules resolve relative dates; a model's year must be written.
    if rules.year_min.is_none() && rules.year_max.is_none() {
        for (v, slot) in [(model.year_from, 0), (model.year_to, 1)] {
            if let Some(y) = v {
                if stated(y as f64) {
                    if slot == 0 {
                        out.year_min = Some(y);
                    } else {
                        out.year_max = Some(y);
                    }
                } else {
                    dropped.push(format!("year {y} (not in the request)"));
                }
            }
        }
    }
    if let Some(p) = model.price_max
        && rules.price_max.is_none()
    {
        if money_stated(text, p) {
            out.price_max = Some(p);
        } else {
            dropped.push(format!("price {p} (not in the request)"));
        }
    }
    let lower = normalise(text);
    for m in &model.mood {
        let n = normalise(m);
        if n.is_empty() || out.mood.iter().any(|x| normalise(x) == n) {
            continue;
        }
        if format!(" {lower} ").contains(&format!(" {n} ")) {
            out.mood.push(m.clone());
        } else {
            dropped.push(format!("mood `{m}` (not in the request)"));
        }
    }
    // The model's query is used when it keeps to the request's words.
    let q = model.query.trim();
    if !q.is_empty() {
        let words: Vec<String> = normalise(q).split(' ').map(str::to_string).collect();
        let inside = words
            .iter()
            .filter(|w| format!(" {lower} ").contains(&format!(" {w} ")))
            .count();
        if inside * 10 >= words.len() * 8 {
            out.query = q.to_string();
        } else {
            dropped.push(format!("query `{q}` (strays from the request)"));
        }
    }
    if out.year_min.is_some() && out.year_max.is_some() && out.year_min > out.year_max {
        std::mem::swap(&mut out.year_min, &mut out.year_max);
    }
    (out, dropped)
}

/// The JSON schema and grammar of [`ModelIntent`]. With a small vocabulary the
/// grammar only lets the model write known categories.
pub fn format(vocab: &Vocabulary) -> crate::message::JsonFormat {
    let cats: Vec<&str> = vocab.names().collect();
    let small = !cats.is_empty() && cats.len() <= 64;
    let cat_schema = if small {
        json!({ "type": "string", "enum": cats })
    } else {
        json!({ "type": "string" })
    };
    let schema = json!({
        "type": "object",
        "properties": {
            "query": { "type": "string" },
            "categories": { "type": "array", "items": cat_schema, "maxItems": 3 },
            "exclude": { "type": "array", "items": cat_schema, "maxItems": 3 },
            "mood": { "type": "array", "items": { "type": "string" }, "maxItems": 3 },
            "year_from": { "type": ["integer", "null"] },
            "year_to": { "type": ["integer", "null"] },
            "price_max": { "type": ["number", "null"] },
        },
        "required": ["query", "categories", "exclude", "mood", "year_from", "year_to", "price_max"],
        "additionalProperties": false,
    });
    let cat_rule = if small {
        cats.iter()
            .map(|c| format!("\"\\\"{}\\\"\"", crate::grammar::escape_literal(c)))
            .collect::<Vec<_>>()
            .join(" | ")
    } else {
        "str".to_string()
    };
    let grammar = format!(
        r#"root ::= "{{\"query\":" str ",\"categories\":" cats ",\"exclude\":" cats ",\"mood\":" strs ",\"year_from\":" year ",\"year_to\":" year ",\"price_max\":" price "}}"
cats ::= "[]" | "[" cat ("," cat)? ("," cat)? "]"
cat ::= {cat_rule}
strs ::= "[]" | "[" word ("," word)? "]"
word ::= "\"" [a-zA-Z] [a-zA-Z -]{{1,24}} "\""
year ::= "null" | [12] [0-9] [0-9] [0-9]
price ::= "null" | [1-9] [0-9]? [0-9]? [0-9]? ("." [0-9] [0-9]?)?
{str_rules}"#,
        str_rules = crate::grammar::string_rules(48)
    );
    crate::message::JsonFormat {
        name: "intent".into(),
        schema,
        grammar,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movies() -> Vocabulary {
        Vocabulary::new([
            "Action",
            "Adventure",
            "Animation",
            "Children",
            "Comedy",
            "Crime",
            "Documentary",
            "Drama",
            "Fantasy",
            "Film-Noir",
            "Horror",
            "Musical",
            "Mystery",
            "Romance",
            "Sci-Fi",
            "Thriller",
            "War",
            "Western",
        ])
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
        assert!(!covered("comedy movies like Toy Story"));
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
}
