//! Deterministic routing of a chat message: a question for a tool (price,
//! availability, details, comparison, policy) or a request for
//! recommendations, and the refinements of a previous request ("cheaper",
//! "more like the second one", "no horror").

use serde_json::{Value, json};
use sommelier_llm::intent::normalise;

/// What a message asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    /// Recommendations.
    Recommend(Refinement),
    /// One tool call.
    Tool { name: &'static str, args: Value },
}

/// How a message refines the previous request.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Refinement {
    /// It builds on the previous request (keep its categories and filters).
    pub(crate) follows: bool,
    /// "cheaper": under the shown items' prices.
    pub(crate) cheaper: bool,
    /// "newer" / "older".
    pub(crate) newer: bool,
    /// "older".
    pub(crate) older: bool,
    /// "more like the second one": 0-based index into the shown items.
    pub(crate) like: Option<usize>,
}

const ORDINALS: &[(&str, usize)] = &[
    ("first", 0),
    ("1st", 0),
    ("#1", 0),
    ("second", 1),
    ("2nd", 1),
    ("#2", 1),
    ("third", 2),
    ("3rd", 2),
    ("#3", 2),
    ("fourth", 3),
    ("4th", 3),
    ("#4", 3),
    ("fifth", 4),
    ("5th", 4),
    ("#5", 4),
];

/// Ordinal references in `text` ("the second one"), as 0-based indices.
fn ordinals(text: &str, shown: usize) -> Vec<usize> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    for w in lower.split(|c: char| c.is_whitespace() || c == ',' || c == '?' || c == '.') {
        if let Some((_, i)) = ORDINALS.iter().find(|(o, _)| *o == w)
            && !out.contains(i)
        {
            out.push(*i);
        }
        if (w == "last" || w == "latter") && shown > 0 && !out.contains(&(shown - 1)) {
            out.push(shown - 1);
        }
    }
    out.retain(|i| *i < shown);
    out
}

fn has_any(text: &str, words: &[&str]) -> bool {
    let t = format!(" {} ", normalise(text));
    words.iter().any(|w| t.contains(&format!(" {w} ")))
}

/// The item a question points at: an ordinal, a quoted title, the words
/// after "of"/"about"/"is", or the first shown item.
fn item_ref(text: &str, shown: &[(String, String)]) -> Option<String> {
    if let Some(i) = ordinals(text, shown.len()).first() {
        return Some(shown[*i].0.clone());
    }
    if let Some(start) = text.find(['"', '“']) {
        let rest = &text[start + text[start..].chars().next()?.len_utf8()..];
        if let Some(end) = rest.find(['"', '”']) {
            return Some(rest[..end].to_string());
        }
    }
    let lower = text.to_lowercase();
    for marker in [" about ", " of ", " is ", " does ", " for "] {
        if let Some(i) = lower.rfind(marker) {
            let tail = text[i + marker.len()..]
                .trim()
                .trim_end_matches(['?', '.', '!'])
                .trim_start_matches("the ")
                .trim();
            let generic = matches!(
                tail.to_lowercase().as_str(),
                "" | "it"
                    | "this"
                    | "that"
                    | "this one"
                    | "that one"
                    | "it cost"
                    | "it available"
                    | "cost"
            );
            if !generic && tail.len() > 1 {
                return Some(tail.to_string());
            }
        }
    }
    shown.first().map(|s| s.0.clone())
}

/// `text` with the phrases that name items blanked.
fn outside_references(text: &str) -> String {
    let mut out = text.to_string();
    for (_, span) in sommelier_llm::intent::mentions(text) {
        out.replace_range(span.clone(), &" ".repeat(span.len()));
    }
    out
}

/// Routes `text`; `shown` are the items of the previous turn (id, title).
pub(crate) fn route(text: &str, shown: &[(String, String)], has_history: bool) -> Route {
    let policy = [
        "return",
        "returns",
        "refund",
        "refunds",
        "shipping",
        "delivery",
        "policy",
        "warranty",
        "exchange",
        "cancel",
        "cancellation",
        "subscription",
        "payment",
        "faq",
    ];
    // Words inside a title the request names ("like Batman Returns") route
    // nothing.
    let outside = outside_references(text);
    if has_any(&outside, &policy) {
        return Route::Tool {
            name: "search_policy",
            args: json!({ "question": text }),
        };
    }
    if has_any(&outside, &["compare", "difference", "vs", "versus"]) && !shown.is_empty() {
        let mut refs: Vec<String> = ordinals(text, shown.len())
            .into_iter()
            .map(|i| shown[i].0.clone())
            .collect();
        if refs.len() < 2 {
            refs = shown.iter().take(2).map(|s| s.0.clone()).collect();
        }
        return Route::Tool {
            name: "compare_items",
            args: json!({ "items": refs }),
        };
    }
    // "is Heat any good?": a question about the item itself.
    let lower = text.trim().trim_end_matches(['?', '.', '!']).to_lowercase();
    for (start, ends) in [
        (
            "is ",
            [" any good", " worth watching", " worth it", " good"],
        ),
        (
            "was ",
            [" any good", " worth watching", " worth it", " good"],
        ),
    ] {
        if let Some(rest) = lower.strip_prefix(start)
            && let Some(end) = ends.iter().find(|e| rest.ends_with(**e))
        {
            let name = &text.trim()[start.len()..start.len() + rest.len() - end.len()];
            return Route::Tool {
                name: "get_item_details",
                args: json!({ "item": name.trim() }),
            };
        }
    }
    let price = has_any(&outside, &["how much", "price", "cost", "costs"]);
    let stock = has_any(
        &outside,
        &["in stock", "available", "availability", "sold out"],
    );
    let details = has_any(
        &outside,
        &[
            "tell me more",
            "more about",
            "details",
            "what is",
            "who is in",
            "plot",
        ],
    );
    if (price || stock || details)
        && let Some(r) = item_ref(text, shown)
    {
        let name = if price {
            "get_price"
        } else if stock {
            "check_availability"
        } else {
            "get_item_details"
        };
        return Route::Tool {
            name,
            args: json!({ "item": r }),
        };
    }
    let norm = normalise(text);
    let words = norm.split(' ').count();
    let mut r = Refinement {
        cheaper: has_any(
            text,
            &[
                "cheaper",
                "less expensive",
                "lower price",
                "more affordable",
            ],
        ),
        newer: has_any(text, &["newer", "more recent", "latest ones"]),
        older: has_any(text, &["older", "classic ones"]),
        ..Default::default()
    };
    if has_any(text, &["like", "similar", "similar to"]) {
        r.like = ordinals(text, shown.len()).first().copied();
    }
    let starts = [
        "more",
        "cheaper",
        "no",
        "not",
        "without",
        "but",
        "only",
        "and",
        "also",
        "less",
        "something",
        "newer",
        "older",
        "same",
    ];
    r.follows = has_history
        && (r.cheaper
            || r.newer
            || r.older
            || r.like.is_some()
            || starts
                .iter()
                .any(|s| norm.starts_with(&format!("{s} ")) || norm == *s)
            || words <= 3);
    Route::Recommend(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown() -> Vec<(String, String)> {
        vec![
            ("1".into(), "Toy Story".into()),
            ("2".into(), "Heat".into()),
            ("3".into(), "Alien".into()),
        ]
    }

    #[test]
    fn questions_go_to_tools() {
        let s = shown();
        assert_eq!(
            route("what's the return policy?", &s, true),
            Route::Tool {
                name: "search_policy",
                args: json!({ "question": "what's the return policy?" })
            }
        );
        assert_eq!(
            route("how much is the second one?", &s, true),
            Route::Tool {
                name: "get_price",
                args: json!({ "item": "2" })
            }
        );
        assert_eq!(
            route("is \"Heat\" in stock?", &s, true),
            Route::Tool {
                name: "check_availability",
                args: json!({ "item": "Heat" })
            }
        );
        assert_eq!(
            route("compare the first and third", &s, true),
            Route::Tool {
                name: "compare_items",
                args: json!({ "items": ["1", "3"] })
            }
        );
        assert_eq!(
            route("Is Heat any good?", &[], false),
            Route::Tool {
                name: "get_item_details",
                args: json!({ "item": "Heat" })
            }
        );
        assert_eq!(
            route("tell me more about Toy Story", &s, true),
            Route::Tool {
                name: "get_item_details",
                args: json!({ "item": "Toy Story" })
            }
        );
    }

    #[test]
    fn words_of_a_named_title_route_nothing() {
        for text in [
            "movies like Batman Returns",
            "something like The Exchange",
            "films similar to Price Check",
        ] {
            assert!(
                matches!(route(text, &[], false), Route::Recommend(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn refinements_follow_the_previous_request() {
        let s = shown();
        let Route::Recommend(r) = route("more like the second one", &s, true) else {
            panic!()
        };
        assert_eq!(r.like, Some(1));
        assert!(r.follows);
        let Route::Recommend(r) = route("cheaper", &s, true) else {
            panic!()
        };
        assert!(r.cheaper && r.follows);
        let Route::Recommend(r) = route("no horror", &s, true) else {
            panic!()
        };
        assert!(r.follows);
        let Route::Recommend(r) = route(
            "light-hearted comedies from last year with great set pieces",
            &s,
            true,
        ) else {
            panic!()
        };
        assert!(!r.follows);
        let Route::Recommend(r) = route("no horror", &s, false) else {
            panic!()
        };
        assert!(!r.follows, "nothing to follow in a new session");
    }
}
