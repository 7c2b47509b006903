//! Follow-up questions: a grammar whose every question names a category of
//! the candidates, an attribute or a title, and the same check for any
//! follow-up, whoever wrote it.

use super::words::ATTRIBUTES;
use super::{alternatives, category_word, names_category, words};
use crate::grounded::GroundedCandidate;
use crate::message::JsonFormat;

/// The grammar of two follow-up questions about `cands`: templates whose
/// slots the model fills, each naming one of their categories, an attribute
/// (newer, older, a decade) or one of the first three titles.
pub fn follow_up_format(cands: &[GroundedCandidate]) -> JsonFormat {
    let mut cats: Vec<String> = Vec::new();
    for c in cands {
        for cat in &c.categories {
            if let Some(w) = category_word(cat)
                && !cats.contains(&w)
            {
                cats.push(w);
            }
        }
    }
    let mut decades: Vec<String> = Vec::new();
    for y in cands.iter().filter_map(|c| c.year) {
        let d = format!("the {}s", y / 10 * 10);
        if !decades.contains(&d) {
            decades.push(d);
        }
    }
    let titles: Vec<String> = cands.iter().take(3).map(|c| c.title.clone()).collect();
    let mut q = vec!["\"Something \" (\"newer\" | \"older\" | \"more recent\")".to_string()];
    if !cats.is_empty() {
        q.push("(\"Want more \" | \"Any other \" | \"Only \" | \"No \") cat \" \" noun".into());
    }
    if !titles.is_empty() {
        q.push("(\"More like \" | \"Anything like \" | \"Something newer than \" | \"Something older than \") title".into());
    }
    if !decades.is_empty() {
        q.push("(\"Anything from \" | \"More from \") decade".into());
        if !cats.is_empty() {
            q.push("\"Any \" cat \" \" noun \" from \" decade".into());
        }
    }
    let mut grammar = format!(
        "root ::= \" \" q \" \" q\nq ::= ({}) \"?\"\nnoun ::= \"films\" | \"movies\" | \"picks\"\n",
        q.join(" | ")
    );
    for (name, alts) in [("cat", &cats), ("title", &titles), ("decade", &decades)] {
        if !alts.is_empty() {
            grammar.push_str(&format!("{name} ::= {}\n", alternatives(alts)));
        }
    }
    JsonFormat {
        name: "follow_ups".into(),
        schema: serde_json::json!({ "type": "string" }),
        grammar,
    }
}

/// The questions of a generated follow-up text ("Want more comedy? Something
/// newer?"), each ending in a question mark, duplicates dropped.
pub fn split_questions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for q in text.split_inclusive('?') {
        let q = q.trim();
        if q.ends_with('?') && q.len() > 2 && !out.iter().any(|o| o.eq_ignore_ascii_case(q)) {
            out.push(q.to_string());
        }
    }
    out
}

/// Whether a follow-up question is about something the answer is about: it
/// names a category of the candidates, an attribute (year, decade, price,
/// newer, older, availability) or a candidate's title, and it is a question
/// free of the gate's sensitive and instruction phrases. Anything else ("Do
/// you like it?", "Something for kids?" over a list without a Children
/// category) is nonsense for this answer and is dropped.
pub fn follow_up_ok(q: &str, cands: &[GroundedCandidate]) -> bool {
    let q = q.trim();
    let lower = q.to_lowercase();
    if !q.ends_with('?') || q.len() < 4 || q.len() > 120 {
        return false;
    }
    if crate::grounded::unsafe_phrase(&lower) {
        return false;
    }
    let ws = words(q);
    let category = ws.iter().any(|w| {
        cands
            .iter()
            .flat_map(|c| &c.categories)
            .any(|cat| names_category(w, cat))
    });
    let attribute = ws.iter().any(|w| {
        ATTRIBUTES.contains(&w.as_str())
            || (w.len() == 4 && w.chars().all(|c| c.is_ascii_digit()))
            || (w.ends_with('s')
                && w.len() >= 3
                && w[..w.len() - 1].chars().all(|c| c.is_ascii_digit())
                && w[..w.len() - 1].ends_with('0'))
    }) || lower.contains('$');
    let title = cands.iter().any(|c| {
        let t = c.title.to_lowercase();
        t.chars().count() >= 3 && lower.contains(&t)
    });
    category || attribute || title
}
