//! What a turn says: the reply text for each channel, follow-up questions
//! when the model offered none, and tool results as short sentences.

use super::{Channel, ChatItem};
use serde_json::Value;
use sommelier_llm::grounded::clip;
use sommelier_llm::intent::{Intent, Sort};

pub(super) fn default_follow_ups(intent: &Intent, any: bool) -> Vec<String> {
    if !any {
        return vec![
            "Could you say it another way?".into(),
            "Show me what's popular?".into(),
        ];
    }
    let mut out = vec!["More like the first one?".into()];
    if intent.price_max.is_some() || intent.sort == Sort::PriceAsc {
        out.push("Anything cheaper?".into());
    } else if intent.year_min.is_none() {
        out.push("Something more recent?".into());
    } else {
        out.push("Something older?".into());
    }
    out
}

/// The reply for the channel.
pub(super) fn reply_text(channel: Channel, intent: &Intent, items: &[ChatItem]) -> String {
    if items.is_empty() {
        return "I found nothing that fits all of that. Could you loosen one of the conditions?"
            .into();
    }
    let like: Vec<&str> = intent.like_items.iter().map(|r| r.title.as_str()).collect();
    let what = match (intent.query.is_empty(), like.is_empty()) {
        (true, true) => "you".to_string(),
        (false, true) => intent.query.clone(),
        (true, false) => format!("something like {}", like.join(" and ")),
        (false, false) => format!("{}, like {}", intent.query, like.join(" and ")),
    };
    match channel {
        Channel::Chat => {
            let mut s = format!("Here are {} picks for \"{what}\":\n", items.len());
            for (n, i) in items.iter().enumerate() {
                let year = i.year.map(|y| format!(" ({y})")).unwrap_or_default();
                s.push_str(&format!("{}. {}{year} — {}\n", n + 1, i.title, i.why));
            }
            s.trim_end().to_string()
        }
        Channel::Voice => {
            let titles: Vec<&str> = items.iter().take(3).map(|i| i.title.as_str()).collect();
            let list = match titles.len() {
                1 => titles[0].to_string(),
                2 => format!("{} or {}", titles[0], titles[1]),
                _ => format!("{}, {} or {}", titles[0], titles[1], titles[2]),
            };
            plain(&format!(
                "You might like {list}. {} {}",
                items[0].title,
                as_predicate(&items[0].why)
            ))
        }
        Channel::Cards => format!("{} picks for {what}", items.len()),
    }
}

/// "A tense drama." as a predicate: "is a tense drama.".
pub(super) fn as_predicate(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("is {}{}", f.to_lowercase(), c.as_str()),
        None => String::new(),
    }
}

/// Voice text: no markup, no brackets, short.
pub(super) fn plain(s: &str) -> String {
    let t: String = s
        .chars()
        .filter(|c| !matches!(c, '*' | '_' | '#' | '`' | '[' | ']' | '"' | '—'))
        .collect();
    clip(&t.split_whitespace().collect::<Vec<_>>().join(" "), 300)
}

pub(super) fn channel_text(channel: Channel, text: &str) -> String {
    match channel {
        Channel::Voice => plain(text),
        _ => text.to_string(),
    }
}

/// Tool results as short sentences (the fallback answer, and the facts the
/// model phrases).
pub(super) fn facts_text(name: &str, v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(e) = v.get("error").and_then(Value::as_str)
        && v.get("passages").is_none()
    {
        return format!("Sorry: {e}.");
    }
    match name {
        "get_price" => format!(
            "{} costs {:.2} {}.",
            s("title"),
            v.get("price").and_then(Value::as_f64).unwrap_or(0.0),
            s("currency")
        ),
        "check_availability" => {
            if v.get("available").and_then(Value::as_bool) == Some(true) {
                match v.get("inventory").and_then(Value::as_u64) {
                    Some(n) => format!("{} is available ({n} in stock).", s("title")),
                    None => format!("{} is available now.", s("title")),
                }
            } else {
                format!("{} is not available right now.", s("title"))
            }
        }
        "get_item_details" => details_line(v),
        "compare_items" => v
            .get("items")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(details_line).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default(),
        "search_policy" => match v.get("passages").and_then(Value::as_array) {
            Some(p) if !p.is_empty() => p
                .iter()
                .take(2)
                .map(|x| {
                    format!(
                        "From \"{}\": {}",
                        x.get("title").and_then(Value::as_str).unwrap_or(""),
                        x.get("passage").and_then(Value::as_str).unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            _ => "I could not find a policy document that answers this.".into(),
        },
        _ => v.to_string(),
    }
}

pub(super) fn details_line(v: &Value) -> String {
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return format!("Sorry: {e}.");
    }
    let mut s = v
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(y) = v.get("year").and_then(Value::as_i64) {
        s.push_str(&format!(" ({y})"));
    }
    if let Some(c) = v.get("categories").and_then(Value::as_array)
        && !c.is_empty()
    {
        let c: Vec<&str> = c.iter().filter_map(Value::as_str).collect();
        s.push_str(&format!(": {}", c.join(", ")));
    }
    if let Some(p) = v.get("price").and_then(Value::as_f64) {
        s.push_str(&format!(
            "; {p:.2} {}",
            v.get("currency").and_then(Value::as_str).unwrap_or("")
        ));
    }
    s.push_str(
        if v.get("available").and_then(Value::as_bool) == Some(false) {
            "; not available now."
        } else {
            "."
        },
    );
    if let Some(d) = v.get("description").and_then(Value::as_str)
        && !d.is_empty()
    {
        s.push(' ');
        s.push_str(d);
    }
    s
}
