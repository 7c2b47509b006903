//! The rule-based intent parser: what the words of a request say for sure
//! (categories, exclusions, years, decades, prices, sort), used without a
//! model and as the check on what a model proposes.

use super::*;

/// Words that turn the category after them into an exclusion.
pub(super) const NEGATIONS: &[&str] = &[
    "no", "not", "without", "except", "avoid", "nothing", "never", "exclude", "skip", "minus",
    "but not",
];

pub(super) fn number(s: &str) -> Option<f64> {
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

pub(super) fn year(s: &str) -> Option<i32> {
    let y: i32 = s.trim_end_matches('s').parse().ok()?;
    (1870..=2100).contains(&y).then_some(y)
}

/// A decade written as `1990s`, `90s`, `'90s`, `nineties`.
pub(super) fn decade(w: &str) -> Option<i32> {
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
pub(super) fn is_currency_word(w: &str) -> bool {
    matches!(
        w,
        "dollars" | "dollar" | "euros" | "euro" | "pounds" | "bucks" | "usd" | "eur"
    )
}

pub(super) fn is_money(w: &str) -> bool {
    w.starts_with(['$', '€', '£']) || w.ends_with(['$', '€', '£'])
}

/// Parses `text` by rules. `this_year` resolves relative dates ("last year").
/// Items the text names ("like Heat") are taken out first, with the words
/// that introduce them, and so are the modifiers ("but funnier"): the rest
/// of the parse never reads a title's words as categories, moods, years or
/// query words.
pub fn parse_rules(text: &str, vocab: &Vocabulary, this_year: i32) -> Intent {
    let mut blanked = text.to_string();
    let mut references = Vec::new();
    for (m, _, span) in super::references::mentions_with_triggers(text) {
        // "something like a comedy" names a kind, not an item.
        if generic(&m.text, vocab) {
            continue;
        }
        blanked.replace_range(span.clone(), &" ".repeat(span.len()));
        references.push(m);
    }
    let modifiers = super::modifiers::modifiers(&blanked, vocab);
    for m in &modifiers {
        blank_phrase(&mut blanked, &m.words);
    }
    let mut intent = parse_words(&blanked, vocab, this_year);
    if (!references.is_empty() || !modifiers.is_empty()) && intent.query == blanked.trim() {
        // Nothing but filler around the references and modifiers: no words
        // of their own to search with.
        intent.query = String::new();
    }
    intent.references = references;
    intent.modifiers = modifiers;
    intent
}

/// Whether every word of `phrase` is a category, a mood word or a stopword.
fn generic(phrase: &str, vocab: &Vocabulary) -> bool {
    let probe = Intent {
        query: phrase.to_string(),
        ..Intent::default()
    };
    rules_cover(&probe, vocab)
}

/// Blanks `phrase` (any case, words as the modifier rules write them) in
/// `text`, with a connective right before it ("but", "only", "just", "and").
fn blank_phrase(text: &mut String, phrase: &str) {
    let lower = text.to_lowercase();
    let words: Vec<&str> = phrase.split_whitespace().collect();
    // Find the words in order, separated by spaces or hyphens.
    let mut from = 0;
    while let Some(i) = lower[from..].find(words[0]) {
        let start = from + i;
        let mut end = start + words[0].len();
        let mut ok = start == 0 || !lower[..start].ends_with(|c: char| c.is_alphanumeric());
        for w in &words[1..] {
            let rest = &lower[end..];
            let gap = rest.len() - rest.trim_start_matches([' ', '-']).len();
            if gap == 0 || !rest[gap..].starts_with(w) {
                ok = false;
                break;
            }
            end += gap + w.len();
        }
        ok &= !lower[end..].starts_with(|c: char| c.is_alphanumeric());
        if ok {
            let mut start = start;
            let before = lower[..start].trim_end();
            for c in ["but", "only", "just", "and", "a bit", "bit"] {
                if before.ends_with(c)
                    && !before[..before.len() - c.len()].ends_with(|ch: char| ch.is_alphanumeric())
                {
                    start = before.len() - c.len();
                    break;
                }
            }
            text.replace_range(start..end, &" ".repeat(end - start));
            return;
        }
        from = start + words[0].len();
    }
}

/// The rule parse proper, over the request without its references.
fn parse_words(text: &str, vocab: &Vocabulary, this_year: i32) -> Intent {
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
pub(super) const STOPWORDS: &[&str] = &[
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
