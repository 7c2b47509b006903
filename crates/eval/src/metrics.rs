//! Ranking metrics. Per user: a ranked list against a set of relevant
//! (held-out) items. Per run: catalog-level measures over all lists.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Accuracy of one ranked list at cutoff `k`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct UserMetrics {
    /// 1 if any relevant item is in the top k.
    pub hit: f64,
    /// Relevant items in the top k over all relevant items.
    pub recall: f64,
    /// DCG over the ideal DCG (binary gains, log2 discount).
    pub ndcg: f64,
    /// 1 / rank of the first relevant item in the top k (0 if none).
    pub mrr: f64,
    /// Average precision at k (normalised by min(|relevant|, k)).
    pub ap: f64,
}

/// Accuracy of `ranked` (best first) at `k` against `relevant`.
pub fn user_metrics(ranked: &[String], relevant: &[String], k: usize) -> UserMetrics {
    if relevant.is_empty() || k == 0 {
        return UserMetrics::default();
    }
    let rel: HashSet<&str> = relevant.iter().map(String::as_str).collect();
    let mut m = UserMetrics::default();
    let mut hits = 0usize;
    let mut dcg = 0.0;
    let mut precision_sum = 0.0;
    for (i, item) in ranked.iter().take(k).enumerate() {
        if rel.contains(item.as_str()) {
            hits += 1;
            dcg += 1.0 / ((i + 2) as f64).log2();
            precision_sum += hits as f64 / (i + 1) as f64;
            if m.mrr == 0.0 {
                m.mrr = 1.0 / (i + 1) as f64;
            }
        }
    }
    let ideal: f64 = (0..rel.len().min(k))
        .map(|i| 1.0 / ((i + 2) as f64).log2())
        .sum();
    m.hit = if hits > 0 { 1.0 } else { 0.0 };
    m.recall = hits as f64 / rel.len() as f64;
    m.ndcg = dcg / ideal;
    m.ap = precision_sum / rel.len().min(k) as f64;
    m
}

/// Means of [`UserMetrics`] over users, plus list-level measures.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    /// Users averaged.
    pub users: usize,
    /// Hit rate.
    pub hr: f64,
    /// Recall.
    pub recall: f64,
    /// NDCG.
    pub ndcg: f64,
    /// Mean reciprocal rank.
    pub mrr: f64,
    /// Mean average precision.
    pub map: f64,
    /// Distinct recommended items over the catalog size.
    pub coverage: f64,
    /// Mean pairwise distance (1 − Jaccard of categories) within a list.
    pub diversity: f64,
    /// Mean self-information −log2(share of training users) of recommended items.
    pub novelty: f64,
    /// Mean training popularity (users) of recommended items, over the catalog's mean.
    pub popularity_bias: f64,
}

/// What list-level measures need to know about the catalog and training data.
#[derive(Debug, Clone, Default)]
pub struct CatalogFacts {
    /// Items a recommender can rank.
    pub catalog_size: usize,
    /// Categories per item.
    pub categories: HashMap<String, Vec<String>>,
    /// Training users per item.
    pub popularity: HashMap<String, u64>,
    /// Training users.
    pub train_users: u64,
}

/// Summarises lists (user → ranked items) against the test set at `k`.
pub fn summarise(
    lists: &BTreeMap<String, Vec<String>>,
    test: &BTreeMap<String, Vec<String>>,
    k: usize,
    facts: &CatalogFacts,
) -> Summary {
    let mut s = Summary::default();
    let mut distinct = HashSet::new();
    let mut div_sum = 0.0;
    let mut div_n = 0usize;
    let mut nov_sum = 0.0;
    let mut pop_sum = 0.0;
    let mut rec_n = 0usize;
    let users = facts.train_users.max(1) as f64;
    let empty = Vec::new();
    for (user, relevant) in test {
        let ranked = lists.get(user).unwrap_or(&empty);
        let m = user_metrics(ranked, relevant, k);
        s.users += 1;
        s.hr += m.hit;
        s.recall += m.recall;
        s.ndcg += m.ndcg;
        s.mrr += m.mrr;
        s.map += m.ap;
        let top: Vec<&String> = ranked.iter().take(k).collect();
        for item in &top {
            distinct.insert(item.as_str());
            let p = *facts.popularity.get(item.as_str()).unwrap_or(&0) as f64;
            nov_sum += -((p.max(1.0)) / users).log2();
            pop_sum += p;
            rec_n += 1;
        }
        if top.len() > 1 {
            let mut d = 0.0;
            let mut pairs = 0usize;
            for i in 0..top.len() {
                for j in i + 1..top.len() {
                    d += 1.0 - jaccard(facts.categories.get(top[i]), facts.categories.get(top[j]));
                    pairs += 1;
                }
            }
            div_sum += d / pairs as f64;
            div_n += 1;
        }
    }
    if s.users > 0 {
        let n = s.users as f64;
        s.hr /= n;
        s.recall /= n;
        s.ndcg /= n;
        s.mrr /= n;
        s.map /= n;
    }
    s.coverage = distinct.len() as f64 / facts.catalog_size.max(1) as f64;
    s.diversity = if div_n > 0 {
        div_sum / div_n as f64
    } else {
        0.0
    };
    if rec_n > 0 {
        s.novelty = nov_sum / rec_n as f64;
        let mean_pop =
            facts.popularity.values().sum::<u64>() as f64 / facts.catalog_size.max(1) as f64;
        s.popularity_bias = (pop_sum / rec_n as f64) / mean_pop.max(f64::MIN_POSITIVE);
    }
    s
}

fn jaccard(a: Option<&Vec<String>>, b: Option<&Vec<String>>) -> f64 {
    let (Some(a), Some(b)) = (a, b) else {
        return 0.0;
    };
    let a: HashSet<&str> = a.iter().map(String::as_str).collect();
    let b: HashSet<&str> = b.iter().map(String::as_str).collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_single_held_out_item_at_rank_three() {
        let m = user_metrics(&v(&["a", "b", "c", "d"]), &v(&["c"]), 10);
        assert_eq!(m.hit, 1.0);
        assert_eq!(m.recall, 1.0);
        assert!(
            (m.ndcg - 0.5).abs() < 1e-12,
            "1/log2(4) = 0.5, got {}",
            m.ndcg
        );
        assert!((m.mrr - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.ap - 1.0 / 3.0).abs() < 1e-12);
        // Outside the cutoff: nothing.
        assert_eq!(
            user_metrics(&v(&["a", "b", "c"]), &v(&["c"]), 2),
            UserMetrics::default()
        );
    }

    #[test]
    fn several_relevant_items() {
        // Relevant a and c; ranked a, b, c.
        let m = user_metrics(&v(&["a", "b", "c"]), &v(&["a", "c"]), 3);
        let dcg = 1.0 + 1.0 / 4f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!((m.ndcg - dcg / idcg).abs() < 1e-12);
        assert!((m.ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.recall, 1.0);
        let m = user_metrics(&v(&["x", "a"]), &v(&["a", "c", "d"]), 2);
        assert!((m.recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.ap - 0.5 / 2.0).abs() < 1e-12);
    }

    #[test]
    fn list_measures_on_a_small_catalog() {
        let lists: BTreeMap<String, Vec<String>> = [
            ("u".to_string(), v(&["a", "b"])),
            ("w".to_string(), v(&["a", "c"])),
        ]
        .into();
        let test: BTreeMap<String, Vec<String>> =
            [("u".to_string(), v(&["b"])), ("w".to_string(), v(&["z"]))].into();
        let facts = CatalogFacts {
            catalog_size: 4,
            categories: [
                ("a".to_string(), v(&["x"])),
                ("b".to_string(), v(&["x"])),
                ("c".to_string(), v(&["y"])),
            ]
            .into(),
            popularity: [
                ("a".to_string(), 4),
                ("b".to_string(), 2),
                ("c".to_string(), 1),
                ("z".to_string(), 1),
            ]
            .into(),
            train_users: 4,
        };
        let s = summarise(&lists, &test, 2, &facts);
        assert_eq!(s.users, 2);
        assert_eq!(s.hr, 0.5);
        assert_eq!(s.coverage, 0.75);
        // u: a,b share category → 0; w: a,c disjoint → 1.
        assert_eq!(s.diversity, 0.5);
        // −log2(4/4), −log2(2/4), −log2(4/4), −log2(1/4) → (0 + 1 + 0 + 2) / 4.
        assert!((s.novelty - 0.75).abs() < 1e-12);
        // Recommended popularity (4+2+4+1)/4 = 2.75 over the mean 8/4 = 2.
        assert!((s.popularity_bias - 1.375).abs() < 1e-12);
    }
}
