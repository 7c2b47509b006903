//! What a model proposes for the intent, and how it is merged into the
//! rule-based one: only what the request's words support is kept.

use super::rules::{is_currency_word, is_money, number};
use super::{Intent, Vocabulary, normalise, singular_text};
use serde::Deserialize;
use serde_json::json;
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
    /// Titles the request names as examples ("like Heat").
    #[serde(default)]
    pub like: Vec<String>,
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

/// Whether `title` is written in `text` as a name: found there (case
/// ignored) with a capitalised word that does not start the text, or in
/// quotes — "heist films" is not the film "Heist", "Heist-style films" is.
fn written_as_a_name(text: &str, title: &str) -> bool {
    let lower_text = text.to_lowercase();
    let lower_title = title.to_lowercase();
    if lower_title.is_empty() || lower_text.len() != text.len() {
        return false;
    }
    lower_text.match_indices(&lower_title).any(|(at, _)| {
        let written = &text[at..at + title.len()];
        let quoted = text[..at].ends_with(['"', '“', '\'']);
        let capital = written
            .split_whitespace()
            .enumerate()
            .any(|(k, w)| (at > 0 || k > 0) && w.chars().next().is_some_and(char::is_uppercase));
        quoted || capital
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
    // Titles: written in the request, not all category or common words, not
    // already found by the rules; the catalog's resolver confirms them.
    for t in &model.like {
        let n = normalise(t);
        if n.is_empty() {
            continue;
        }
        if !format!(" {lower} ").contains(&format!(" {n} ")) {
            dropped.push(format!("reference `{t}` (not in the request)"));
            continue;
        }
        if n.split(' ')
            .all(|w| super::is_stopword(w) || vocab.lookup(w).is_some() || w.len() < 2)
        {
            dropped.push(format!("reference `{t}` (names no title)"));
            continue;
        }
        if !written_as_a_name(text, t.trim()) {
            dropped.push(format!("reference `{t}` (not written as a name)"));
            continue;
        }
        let known = out.references.iter().any(|m| {
            let k = normalise(&m.text);
            k.contains(&n) || n.contains(&k)
        });
        if !known {
            out.references.push(super::Mention {
                text: t.trim().to_string(),
                year: None,
                run_on: None,
                tentative: true,
            });
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
            "like": { "type": "array", "items": { "type": "string" }, "maxItems": 2 },
        },
        "required": ["query", "categories", "exclude", "mood", "year_from", "year_to", "price_max", "like"],
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
        r#"root ::= "{{\"query\":" str ",\"categories\":" cats ",\"exclude\":" cats ",\"mood\":" strs ",\"year_from\":" year ",\"year_to\":" year ",\"price_max\":" price ",\"like\":" titles "}}"
cats ::= "[]" | "[" cat ("," cat)? ("," cat)? "]"
cat ::= {cat_rule}
strs ::= "[]" | "[" word ("," word)? "]"
titles ::= "[]" | "[" str ("," str)? "]"
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
