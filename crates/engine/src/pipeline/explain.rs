//! Stage 6, explain: each pick's "why" (the learned scorer's largest feature
//! contributions after any boost the re-rank put first) and one sentence
//! built from it and the sources that proposed the pick. Used whenever the
//! LLM's sentence is not (off, timeout, refused by the gate), so every pick
//! always says why it is there.

use super::rank::WHY_SIGNALS;
use super::{Explain, Recommendation};
use sommelier_rank::{Entry, LinearModel};

/// The picks as the answer shows them. `intent_categories` are the
/// categories the person asked for (a chat intent), which the sentence
/// names first.
pub(super) fn explain(
    picked: Vec<Entry>,
    how: Explain,
    ranker: Option<&LinearModel>,
    intent_categories: &[String],
) -> Vec<Recommendation> {
    let explain = how != Explain::None;
    picked
        .into_iter()
        .map(|mut e| {
            if let (true, Some(model), Some(x)) = (explain, ranker, &e.ranked.signals) {
                e.ranked.why.extend(model.contributions(x, WHY_SIGNALS));
            }
            let mut r = Recommendation {
                item: e.ranked.item,
                title: e.item.title.clone(),
                score: e.ranked.score,
                provenance: e.ranked.provenance,
                why: e.ranked.why,
                rationale: String::new(),
                rationale_source: None,
            };
            if explain {
                r.rationale = signal_rationale(&r, intent_categories, &e.item.categories);
            } else {
                r.provenance.clear();
                r.why.clear();
            }
            r
        })
        .collect()
}

/// The phrase of one signal, or `None` for signals that explain nothing.
fn phrase(
    feature: &str,
    intent_categories: &[String],
    item_categories: &[String],
) -> Option<String> {
    // A signal scaled by the time since the user's last event says the
    // same, for someone back after a while; popularity and trend say
    // when.
    let (feature, away) = match feature.strip_prefix(sommelier_rank::signals::AWAY_PREFIX) {
        Some(base) => (base, true),
        None => (feature, false),
    };
    let source = feature.split('.').next().unwrap_or(feature);
    Some(match (source, feature) {
        (_, "item.popularity") | ("popular", _) if away => "popular while you were away".into(),
        (_, "item.trend") | ("trending", _) if away => "rising while you were away".into(),
        (_, "user.category_match") => {
            let shared: Vec<&str> = item_categories
                .iter()
                .filter(|c| intent_categories.is_empty() || intent_categories.contains(c))
                .map(String::as_str)
                .take(2)
                .collect();
            if shared.is_empty() {
                "in categories you often choose".into()
            } else {
                format!("in {} you often choose", shared.join(" and "))
            }
        }
        (_, "item.popularity") | ("popular", _) => "popular with everyone right now".into(),
        (_, "item.trend") | ("trending", _) => "trending this week".into(),
        ("semantic", _) => "close in meaning to what you asked for".into(),
        ("lexical", _) => "its description matches your words".into(),
        ("user_profile", _) => "close to what you have enjoyed before".into(),
        ("collaborative", _) => "liked by people with tastes like yours".into(),
        ("sequential", _) => "often chosen right after what you had last".into(),
        ("sequence", _) => "a likely next step after what you had recently".into(),
        ("fresh", _) => "new in the catalog".into(),
        ("similar", _) => "much like the title you named".into(),
        (_, f) if f.starts_with("boost.more:") => format!(
            "leans to {} as you asked",
            f["boost.more:".len()..]
                .replace('/', " and ")
                .to_lowercase()
        ),
        (_, f) if f.starts_with("boost.less:") => "less of what you asked to avoid".into(),
        (_, "boost.launch_window") => "newly launched".into(),
        (_, "boost.exploration") => "a lesser-known pick worth discovering".into(),
        (_, "context.daypart") => "often chosen at this time of day".into(),
        (_, "context.device") => "often chosen on this kind of device".into(),
        _ => return None,
    })
}

/// One sentence for a pick, from its strongest signals (at most two).
pub(crate) fn signal_rationale(
    r: &Recommendation,
    intent_categories: &[String],
    item_categories: &[String],
) -> String {
    let mut phrases: Vec<String> = Vec::new();
    let signals = r
        .why
        .iter()
        .filter(|c| c.contribution > 0.0)
        .map(|c| c.feature.as_str())
        .chain(r.provenance.iter().map(|p| p.source.as_str()));
    for f in signals {
        if let Some(p) = phrase(f, intent_categories, item_categories)
            && !phrases.contains(&p)
        {
            phrases.push(p);
        }
        if phrases.len() == 2 {
            break;
        }
    }
    let matched: Vec<&str> = item_categories
        .iter()
        .filter(|c| intent_categories.contains(c))
        .map(String::as_str)
        .collect();
    let mut s = if matched.is_empty() {
        String::new()
    } else {
        format!("A {} pick", matched.join("/"))
    };
    if !phrases.is_empty() {
        if s.is_empty() {
            let mut first = phrases[0].clone();
            if let Some(c) = first.get(0..1) {
                first.replace_range(0..1, &c.to_uppercase());
            }
            s = first;
            if phrases.len() > 1 {
                s.push_str(&format!(", and {}", phrases[1]));
            }
        } else {
            s.push_str(&format!(", {}", phrases.join(", and ")));
        }
    }
    if s.is_empty() {
        s = "A strong overall match".into();
    }
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::phrase;

    #[test]
    fn a_signal_scaled_by_time_away_is_explained_as_its_own_signal() {
        let p = |f: &str| phrase(f, &[], &[]);
        assert_eq!(
            p("away*popular.rank").as_deref(),
            Some("popular while you were away")
        );
        assert_eq!(
            p("away*item.trend").as_deref(),
            Some("rising while you were away")
        );
        assert_eq!(p("away*collaborative.top"), p("collaborative.top"));
        assert_eq!(p("away*context.daypart"), p("context.daypart"));
        assert_eq!(p("away*nothing.known"), None);
    }
}
