//! Chat turns end to end on the committed ml-latest-small: routing, intent,
//! refinement across turns, tools, consent-gated memory, the classical
//! fallback. A turn through the real local model is `tests/local_model.rs`.

use sommelier_llm::LlmConfig;

use crate::support::{chat_engine as engine, say};
use sommelier_engine::{Channel, ChatRequest};

fn off() -> LlmConfig {
    LlmConfig {
        enabled: false,
        ..LlmConfig::default()
    }
}

#[test]
fn classical_mode_answers_refines_and_calls_tools() {
    let (_d, e) = engine(off());
    let r = say(&e, None, None, "light-hearted comedies from the 90s");
    assert_eq!(r.turn, 1);
    assert!(!r.llm.used);
    assert_eq!(r.fallback.as_deref(), Some("off"));
    assert_eq!(r.items.len(), 5);
    let intent = r.intent.clone().unwrap();
    assert_eq!(intent.categories, vec!["Comedy"]);
    assert_eq!((intent.year_min, intent.year_max), (Some(1990), Some(1999)));
    for i in &r.items {
        assert!(i.categories.contains(&"Comedy".to_string()), "{i:?}");
        assert!((1990..=1999).contains(&i.year.unwrap()), "{i:?}");
        assert_eq!(i.why_source, "signals");
        assert!(i.why.ends_with('.'), "{}", i.why);
    }
    assert!(r.reply.contains(&r.items[0].title));
    assert_eq!(r.follow_ups.len(), 2);

    // "no romance" keeps the request and adds an exclusion.
    let s = r.session_id.clone();
    let r2 = say(&e, Some(&s), None, "no romance");
    assert_eq!(r2.turn, 2);
    let i2 = r2.intent.clone().unwrap();
    assert_eq!(i2.categories, vec!["Comedy"]);
    assert_eq!(i2.exclude, vec!["Romance"]);
    assert_eq!((i2.year_min, i2.year_max), (Some(1990), Some(1999)));
    for i in &r2.items {
        assert!(!i.categories.contains(&"Romance".to_string()), "{i:?}");
    }

    // "more like the second one" searches around that item and leaves it out.
    let second = r2.items[1].item.clone();
    let r3 = say(&e, Some(&s), None, "more like the second one");
    assert!(r3.items.iter().all(|i| i.item != second));
    assert!(
        r3.items
            .iter()
            .all(|i| i.categories.contains(&"Comedy".to_string()))
    );

    // Tools: a question about a shown item, then the policy documents.
    let r4 = say(&e, Some(&s), None, "tell me more about the first one");
    let tool = r4.tool.as_ref().unwrap();
    assert_eq!(tool.name, "get_item_details");
    assert_eq!(tool.result["item"], r3.items[0].item.as_str());
    assert!(r4.reply.starts_with(&r3.items[0].title), "{}", r4.reply);
    assert!(r4.items.is_empty());
    let r5 = say(&e, Some(&s), None, "what's the return policy?");
    assert_eq!(r5.tool.as_ref().unwrap().name, "search_policy");
    assert!(r5.reply.contains("within 30 days"), "{}", r5.reply);
    // Documents are never recommended.
    assert!(
        r.items
            .iter()
            .chain(&r2.items)
            .all(|i| i.item != "policy-returns")
    );
}

#[test]
fn memory_is_kept_only_with_consent_and_can_be_forgotten() {
    let (_d, e) = engine(off());
    for _ in 0..2 {
        say(&e, None, Some("remember-me"), "thrillers without horror");
        say(&e, None, Some("forget-me"), "thrillers without horror");
    }
    let m = e.user_memory("remember-me").unwrap().unwrap();
    assert_eq!(m.likes["Thriller"], 2);
    assert_eq!(m.dislikes["Horror"], 2);
    assert_eq!(e.user_memory("forget-me").unwrap(), None);
    // A remembered dislike applies to a new session's request.
    let r = say(&e, None, Some("remember-me"), "something exciting");
    assert!(r.memory_used);
    assert!(r.intent.unwrap().exclude.contains(&"Horror".to_string()));
    assert!(e.forget_user_memory("remember-me").unwrap());
    assert_eq!(e.user_memory("remember-me").unwrap(), None);
}

#[test]
fn voice_and_cards_channels() {
    let (_d, e) = engine(off());
    let mut req = ChatRequest {
        session_id: None,
        user_id: None,
        message: "scary movies from the 80s".into(),
        channel: Channel::Voice,
        k: Some(5),
        context: Default::default(),
        at: None,
    };
    let v = e.chat(&req).unwrap();
    assert!(v.reply.starts_with("You might like "), "{}", v.reply);
    assert!(
        !v.reply.contains('\n') && !v.reply.contains('"'),
        "{}",
        v.reply
    );
    assert!(v.reply.len() <= 301);
    req.channel = Channel::Cards;
    let c = e.chat(&req).unwrap();
    assert_eq!(c.reply, format!("{} picks for scary movies", c.items.len()));
}
