//! Item-kNN: the cosine similarity of two items' rating vectors over users.
//!
//! Plain cosine over the ratings as given (0.5–5 stars), not mean-centred: a
//! user's ratings are all positive, so two movies are close when the same
//! people rated them, and rated them alike. Centring each user's ratings
//! (adjusted cosine) was tried on ml-100k and gave noisy neighbours for
//! movies with few common raters ("Carlito's Way" → "Sprung", "The Client",
//! "Batman"), where plain cosine gives "Casino", "The Godfather: Part II",
//! "Goodfellas".

use sommelier_collab::id_order;
use std::collections::{BTreeMap, HashMap};

/// Rating vectors of the items of one population, for cosine neighbours.
#[derive(Debug, Clone, Default)]
pub struct ItemKnn {
    ids: Vec<String>,
    index: HashMap<String, u32>,
    /// Per item: (user, rating), users ascending.
    by_item: Vec<Vec<(u32, f64)>>,
    /// Per user: (item, rating), items ascending.
    by_user: Vec<Vec<(u32, f64)>>,
    /// Per item: the length of its rating vector.
    norms: Vec<f64>,
}

impl ItemKnn {
    /// Builds the vectors from `(user, item, rating)` triples. A user who
    /// rated an item more than once counts with the mean of those ratings.
    pub fn new<'a>(ratings: impl IntoIterator<Item = (&'a str, &'a str, f64)>) -> Self {
        let mut knn = Self::default();
        let mut users: HashMap<&str, u32> = HashMap::new();
        let mut cells: BTreeMap<(u32, u32), (f64, u32)> = BTreeMap::new();
        for (user, item, rating) in ratings {
            let n = users.len() as u32;
            let u = *users.entry(user).or_insert(n);
            let i = match knn.index.get(item) {
                Some(i) => *i,
                None => {
                    let i = knn.ids.len() as u32;
                    knn.ids.push(item.to_string());
                    knn.index.insert(item.to_string(), i);
                    i
                }
            };
            let cell = cells.entry((u, i)).or_insert((0.0, 0));
            cell.0 += rating;
            cell.1 += 1;
        }
        knn.by_item = vec![Vec::new(); knn.ids.len()];
        knn.by_user = vec![Vec::new(); users.len()];
        for ((u, i), (sum, count)) in cells {
            let r = sum / f64::from(count);
            knn.by_user[u as usize].push((i, r));
            knn.by_item[i as usize].push((u, r));
        }
        knn.norms = knn
            .by_item
            .iter()
            .map(|v| v.iter().map(|(_, r)| r * r).sum::<f64>().sqrt())
            .collect();
        knn
    }

    /// How many users rated `item`.
    pub fn raters(&self, item: &str) -> usize {
        self.index
            .get(item)
            .map_or(0, |i| self.by_item[*i as usize].len())
    }

    /// Items that have ratings.
    pub fn items(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    /// The `k` items most similar to `seed` (cosine, greatest first, ties by
    /// id) among those `allowed` lets through, `seed` itself excluded. Items
    /// no user rated together with `seed` are never neighbours.
    pub fn neighbours(
        &self,
        seed: &str,
        k: usize,
        allowed: &dyn Fn(&str) -> bool,
    ) -> Vec<(String, f64)> {
        let Some(&s) = self.index.get(seed) else {
            return Vec::new();
        };
        let mut dot = vec![0.0f64; self.ids.len()];
        for (u, rs) in &self.by_item[s as usize] {
            for (i, ri) in &self.by_user[*u as usize] {
                dot[*i as usize] += rs * ri;
            }
        }
        let ns = self.norms[s as usize];
        let mut scored: Vec<(usize, f64)> = dot
            .into_iter()
            .enumerate()
            .filter(|(i, d)| *i != s as usize && *d > 0.0 && allowed(&self.ids[*i]))
            .map(|(i, d)| (i, d / (ns * self.norms[i])))
            .collect();
        scored.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| id_order(&self.ids[a.0], &self.ids[b.0]))
        });
        scored
            .into_iter()
            .take(k)
            .map(|(i, c)| (self.ids[i].clone(), c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four users, five movies: "a" and "b" are loved by the same people,
    /// "c" shares one rater with "a", "d" shares none, "e" is rated twice by u1.
    fn tiny() -> ItemKnn {
        ItemKnn::new([
            ("u1", "a", 5.0),
            ("u1", "b", 4.0),
            ("u2", "a", 4.0),
            ("u2", "b", 5.0),
            ("u3", "a", 1.0),
            ("u3", "c", 5.0),
            ("u4", "d", 3.0),
            ("u1", "e", 2.0),
            ("u1", "e", 4.0),
        ])
    }

    #[test]
    fn neighbours_are_ranked_by_the_cosine_of_the_rating_vectors() {
        let knn = tiny();
        let n = knn.neighbours("a", 10, &|_| true);
        let ids: Vec<&str> = n.iter().map(|(i, _)| i.as_str()).collect();
        // a = (5, 4, 1, 0), b = (4, 5, 0, 0), e = (3, 0, 0, 0) (mean of 2 and 4),
        // c = (0, 0, 5, 0); d shares no rater and is left out.
        assert_eq!(ids, vec!["b", "e", "c"]);
        let norm_a = 42f64.sqrt();
        let want = [
            40.0 / (norm_a * 41f64.sqrt()),
            15.0 / (norm_a * 3.0),
            5.0 / (norm_a * 5.0),
        ];
        for ((_, got), want) in n.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert_eq!(knn.raters("a"), 3);
        assert_eq!(knn.raters("e"), 1);
        assert_eq!(knn.raters("zzz"), 0);
    }

    #[test]
    fn the_seed_is_never_its_own_neighbour_and_the_filter_applies() {
        let knn = tiny();
        let only_c = knn.neighbours("a", 10, &|i| i != "b" && i != "e");
        assert_eq!(only_c.len(), 1);
        assert_eq!(only_c[0].0, "c");
        assert_eq!(knn.neighbours("a", 1, &|_| true)[0].0, "b");
        assert!(
            knn.neighbours("a", 10, &|_| true)
                .iter()
                .all(|(i, _)| i != "a")
        );
        assert!(knn.neighbours("d", 10, &|_| true).is_empty());
        assert!(knn.neighbours("unknown", 10, &|_| true).is_empty());
    }
}
