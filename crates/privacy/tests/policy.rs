//! The policy check on model-written text.

use sommelier_privacy::{PolicyRule, PolicyViolation, TextPolicy};

#[track_caller]
fn violates(policy: &TextPolicy, text: &str, rule: PolicyRule) -> PolicyViolation {
    match policy.check(text) {
        Err(v) => {
            assert_eq!(v.rule, rule, "text: {text:?}, excerpt: {:?}", v.excerpt);
            v
        }
        Ok(()) => panic!("expected {rule:?} for {text:?}"),
    }
}

#[track_caller]
fn passes(policy: &TextPolicy, text: &str) {
    if let Err(v) = policy.check(text) {
        panic!("{text:?} was flagged: {v}");
    }
}

#[test]
fn second_person_sensitive_attributions_are_flagged() {
    let policy = TextPolicy::default();
    for text in [
        "Since you are pregnant, here are some gentle comedies.",
        "As a gay man, you'll love this coming-of-age story.",
        "Because you're Muslim, I picked films set in Marseille.",
        "Because you’re Muslim, I picked films set in Marseille.",
        "You seem depressed lately, so here is something uplifting.",
        "You might be diabetic, so these snacks are sugar-free.",
        "Given your religion, I left out the horror films.",
        "For someone with your condition, these are easy to follow.",
        "As a Democrat, you might enjoy these political satires.",
        "As a practicing Catholic, you may like these.",
        "You're probably broke, so here are the cheapest options.",
        "Since you're undocumented, here are films about immigration.",
        "You suffer from anxiety, so nothing too tense.",
        "you have been diagnosed with ADHD, so shorter episodes work best",
        "Considering your sexual orientation, try Carol.",
        "Are you pregnant? Then skip the horror section.",
        "You're in a wheelchair, so these venues are step-free.",
        "Because you are disabled, here are accessible games.",
        "Since you're a refugee, you might relate to this drama.",
        "Given your financial problems, here are free streaming options.",
        "As someone with depression, you might find this comforting.",
        "You look like a Democrat, so here is The West Wing.",
        "Since you're Asian-American, try Minari.",
        "You have cancer, so I picked light comedies.",
        "As a Jew, you'll enjoy Fiddler on the Roof.",
    ] {
        let v = violates(&policy, text, PolicyRule::SensitiveInference);
        assert!(!v.excerpt.is_empty() && v.excerpt.len() <= 120);
    }
}

#[test]
fn item_descriptions_that_mention_sensitive_topics_pass() {
    let policy = TextPolicy::default();
    for text in [
        "A drama about a gay couple in 1950s Paris.",
        "A documentary on depression and how families cope.",
        "A film about the Muslim community in Marseille.",
        "It stars a pregnant detective in snowy Minnesota.",
        "Because you watched a documentary on depression, here is another.",
        "Since you liked Fargo, which stars a pregnant detective, try Happy Valley.",
        "You might be interested in a drama about a gay couple.",
        "If you're into Christian rock, this biopic fits.",
        "You're looking for films about immigration: try Minari.",
        "Since you enjoyed Moonlight, a story about a gay Black man, try Pariah.",
        "You seem to enjoy black comedies, so try In Bruges.",
        "It works as a gay coming-of-age story with a great soundtrack.",
        "As a Muslim family drama, it is warm and funny.",
        "You're blind to its flaws if you love musicals, and that's fine.",
        "If you're ill-prepared for the twist, good.",
        "Political thrillers for fans of The West Wing; you're in for a treat.",
        "These running shoes are great for your race.",
        "This will restore your faith in romantic comedies.",
        "If you're on a budget, these headphones are under $50.",
        "A young refugee builds a new life in Berlin.",
        "Since you are a black and white film lover, try Casablanca.",
        "This budgeting app helps with your debt-free plan.",
        "You have great taste: try Paris, Texas.",
        "You're going to love this gay romance.",
        "Since you're a fan of religious epics, try Ben-Hur.",
    ] {
        passes(&policy, text);
    }
}

#[test]
fn unsafe_phrases_are_flagged_on_word_boundaries() {
    let policy = TextPolicy::default();
    let v = violates(
        &policy,
        "Honestly, just kill yourself.",
        PolicyRule::UnsafeContent,
    );
    assert_eq!(v.excerpt, "kill yourself");
    violates(
        &policy,
        "Here is HOW TO MAKE A BOMB at home.",
        PolicyRule::UnsafeContent,
    );
    violates(
        &policy,
        "how to make a pipe bomb",
        PolicyRule::UnsafeContent,
    );
    violates(&policy, "kys", PolicyRule::UnsafeContent);
    violates(
        &policy,
        "you should all kill yourselves",
        PolicyRule::UnsafeContent,
    );
    // Item descriptions and near misses pass.
    passes(&policy, "A thriller about a bomb squad in Baghdad.");
    passes(&policy, "The Killing is a Danish crime series.");
    passes(&policy, "skyscraper heist films");
    passes(&policy, "skill yourself up with these courses");
    passes(
        &policy,
        "A man tries to end his life and finds a reason to live.",
    );
}

#[test]
fn operator_terms_are_unsafe_content() {
    let policy = TextPolicy::with_extra_terms(vec![
        "CompetitorMart".to_owned(),
        "  free   trial  ".to_owned(),
        "c++".to_owned(),
        "   ".to_owned(),
    ]);
    let v = violates(
        &policy,
        "Cheaper at competitormart!",
        PolicyRule::UnsafeContent,
    );
    assert_eq!(v.excerpt, "competitormart");
    violates(
        &policy,
        "Start a FREE\ntrial today",
        PolicyRule::UnsafeContent,
    );
    violates(
        &policy,
        "a book on C++ templates",
        PolicyRule::UnsafeContent,
    );
    passes(&policy, "CompetitorMarts are not a thing");
    passes(&policy, "a free film on trial lawyers");
    // The built-in rules still apply.
    violates(&policy, "kill yourself", PolicyRule::UnsafeContent);
    passes(&TextPolicy::with_extra_terms(vec![]), "anything harmless");
}

#[test]
fn pii_in_model_text_is_flagged_with_a_redacted_excerpt() {
    let policy = TextPolicy::default();
    let v = violates(
        &policy,
        "Sure! I'll email the list to jane.doe+films@example.co.uk right away.",
        PolicyRule::Pii,
    );
    assert!(v.excerpt.contains("[email]"), "{}", v.excerpt);
    assert!(!v.excerpt.contains("jane"), "{}", v.excerpt);
    let v = violates(
        &policy,
        "Call the store on +1 (415) 555-0132.",
        PolicyRule::Pii,
    );
    assert!(v.excerpt.contains("[phone]"));
    passes(&policy, "Heat (1995) runs 170 minutes and is rated 8.3.");
}

#[test]
fn rules_are_checked_in_order() {
    let policy = TextPolicy::default();
    let text = "Since you're pregnant, kill yourself, and mail jane@example.com";
    violates(&policy, text, PolicyRule::UnsafeContent);
    let text = "Since you're pregnant, mail jane@example.com";
    violates(&policy, text, PolicyRule::SensitiveInference);
}

#[test]
fn violations_display_and_serialize() {
    let v = TextPolicy::default()
        .check("you seem depressed")
        .unwrap_err();
    assert_eq!(
        v.to_string(),
        "sensitive inference about the user: \"you seem depressed\""
    );
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({ "rule": "sensitive_inference", "excerpt": "you seem depressed" })
    );
}
