// The committed query set (`intent_queries.jsonl`: requests with references,
// modifiers and relative dates) and how an intent is compared with it. The
// rules' unit test and the local model's test include this file where
// `Intent` is in scope.

/// One request of the set, with the hard fields its words say.
#[derive(serde::Deserialize)]
struct Case {
    text: String,
    categories: Vec<String>,
    exclude: Vec<String>,
    year_min: Option<i32>,
    year_max: Option<i32>,
    price_max: Option<f64>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

/// Every request of the set.
fn query_set() -> Vec<Case> {
    include_str!("intent_queries.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What `intent` gets wrong of `case`'s hard fields, or `None`.
fn mismatch(case: &Case, intent: &Intent) -> Option<String> {
    let sorted = |mut x: Vec<String>| {
        x.sort();
        x
    };
    let got = (
        sorted(intent.categories.clone()),
        sorted(intent.exclude.clone()),
        (intent.year_min, intent.year_max, intent.price_max),
        intent
            .references
            .iter()
            .map(|m| m.text.clone())
            .collect::<Vec<_>>(),
        intent
            .modifiers
            .iter()
            .map(|m| m.words.clone())
            .collect::<Vec<_>>(),
    );
    let want = (
        sorted(case.categories.clone()),
        sorted(case.exclude.clone()),
        (case.year_min, case.year_max, case.price_max),
        case.references.clone(),
        case.modifiers.clone(),
    );
    (got != want).then(|| format!("{:?}: got {got:?}, want {want:?}", case.text))
}

/// The share of `n` requests without a mismatch, printed with `detail` and
/// the mismatches.
fn exact_share(wrong: &[String], n: usize, detail: &str) -> f64 {
    let exact = 1.0 - wrong.len() as f64 / n as f64;
    eprintln!("{} of {n} exact ({exact:.3}){detail}", n - wrong.len());
    for w in wrong {
        eprintln!("  {w}");
    }
    exact
}
