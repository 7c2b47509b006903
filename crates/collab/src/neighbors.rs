//! A sparse item → item weight table, how both models are kept and scored.
//! Weights may be negative (EASE): a history item then pushes its negative
//! neighbours down.

use std::io::Read;
use std::path::Path;

/// For each source item, its strongest related items with weights (best
/// first; negative weights, where a model keeps them, last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemNeighbors {
    ids: Vec<String>,
    /// foldhash: every history item of every request is looked up here.
    /// Inline keys: a lookup per history item at 1M items (docs/benchmarks.md).
    index: foldhash::HashMap<sommelier_types::IdKey, u32>,
    /// Each item's place in id order: ties between scores are broken by id,
    /// and comparing two of these reads no id (two misses on a large table).
    order: Vec<u32>,
    offsets: Vec<u32>,
    targets: Vec<u32>,
    weights: Vec<f32>,
}

/// One history item and how much it counts when scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weighted<'a> {
    /// Item id.
    pub item: &'a str,
    /// Its weight (recency, signal strength); negative pushes neighbors down.
    pub weight: f32,
}

impl ItemNeighbors {
    /// Builds from per-item rows of `(target index, weight)` over `ids`.
    pub fn from_rows(ids: Vec<String>, rows: Vec<Vec<(u32, f32)>>) -> Self {
        assert_eq!(ids.len(), rows.len(), "one row per item");
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        let mut targets = Vec::new();
        let mut weights = Vec::new();
        offsets.push(0);
        for row in rows {
            for (t, w) in row {
                targets.push(t);
                weights.push(w);
            }
            offsets.push(targets.len() as u32);
        }
        Self::assemble(ids, offsets, targets, weights)
    }

    /// The table over its parts, with the id lookup and id order built.
    fn assemble(ids: Vec<String>, offsets: Vec<u32>, targets: Vec<u32>, weights: Vec<f32>) -> Self {
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (sommelier_types::IdKey::new(id), i as u32))
            .collect();
        let mut by_id: Vec<u32> = (0..ids.len() as u32).collect();
        by_id.sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
        let mut order = vec![0u32; ids.len()];
        for (place, &i) in by_id.iter().enumerate() {
            order[i as usize] = place as u32;
        }
        Self {
            ids,
            index,
            order,
            offsets,
            targets,
            weights,
        }
    }

    /// Items known to the table.
    pub fn items(&self) -> usize {
        self.ids.len()
    }

    /// Stored (item, neighbor) pairs.
    pub fn pairs(&self) -> usize {
        self.targets.len()
    }

    /// The neighbors of one item, best first.
    pub fn neighbors(&self, item: &str) -> Vec<(&str, f32)> {
        let Some(&i) = self.index.get(item) else {
            return Vec::new();
        };
        let (a, b) = (
            self.offsets[i as usize] as usize,
            self.offsets[i as usize + 1] as usize,
        );
        (a..b)
            .map(|k| (self.ids[self.targets[k] as usize].as_str(), self.weights[k]))
            .collect()
    }

    /// Scores every neighbor of the history: `Σ weight(h) · w(h → j)`, skipping
    /// the history's own items, and returns the best `n` with a positive score
    /// (ties by id).
    pub fn score(&self, history: &[Weighted<'_>], n: usize) -> Vec<(String, f64)> {
        // The history's rows first, so the map is sized once.
        let rows: Vec<(u32, f32)> = history
            .iter()
            .filter_map(|h| Some((*self.index.get(h.item)?, h.weight)))
            .collect();
        let row = |i: u32| self.offsets[i as usize] as usize..self.offsets[i as usize + 1] as usize;
        let own: foldhash::HashSet<u32> = rows.iter().map(|&(i, _)| i).collect();
        let mut acc: foldhash::HashMap<u32, f64> = foldhash::HashMap::with_capacity_and_hasher(
            rows.iter().map(|&(i, _)| row(i).len()).sum(),
            Default::default(),
        );
        for (i, weight) in rows {
            for k in row(i) {
                *acc.entry(self.targets[k]).or_default() +=
                    f64::from(weight) * f64::from(self.weights[k]);
            }
        }
        let mut out: Vec<(u32, f64)> = acc
            .into_iter()
            .filter(|(t, s)| *s > 0.0 && !own.contains(t))
            .collect();
        let best_first = |a: &(u32, f64), b: &(u32, f64)| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.order[a.0 as usize].cmp(&self.order[b.0 as usize]))
        };
        // Only the kept `n` are sorted (a history's neighbours number several
        // hundred).
        if out.len() > n {
            out.select_nth_unstable_by(n, best_first);
            out.truncate(n);
        }
        out.sort_by(best_first);
        out.into_iter()
            .map(|(t, s)| (self.ids[t as usize].clone(), s))
            .collect()
    }

    /// Writes the table to `path` (a small binary format, written to a temporary
    /// file and renamed, so a crash never leaves a torn file).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::binfile::write_atomically(path, MAGIC, |w| {
            w.write_all(&(self.ids.len() as u64).to_le_bytes())?;
            crate::binfile::write_ids(w, &self.ids)?;
            for o in &self.offsets {
                w.write_all(&o.to_le_bytes())?;
            }
            for t in &self.targets {
                w.write_all(&t.to_le_bytes())?;
            }
            for x in &self.weights {
                w.write_all(&x.to_le_bytes())?;
            }
            Ok(())
        })
    }

    /// Reads a table [`save`](Self::save) wrote.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let bad = |why: &str| crate::binfile::invalid(path, why);
        let mut r = crate::binfile::open(
            path,
            MAGIC,
            "a Sommelier neighbor table (or an older format)",
        )?;
        let n = crate::binfile::read_u64(&mut r)? as usize;
        let ids = crate::binfile::read_ids(&mut r, n, path)?;
        let mut read_u32s = |count: usize| -> std::io::Result<Vec<u32>> {
            let mut buf = vec![0u8; count * 4];
            r.read_exact(&mut buf)?;
            Ok(buf
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let offsets = read_u32s(n + 1)?;
        let pairs = *offsets.last().unwrap_or(&0) as usize;
        if offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("offsets are not increasing"));
        }
        let targets = read_u32s(pairs)?;
        if targets.iter().any(|t| *t as usize >= n) {
            return Err(bad("a neighbor index is out of range"));
        }
        let weights = read_u32s(pairs)?.into_iter().map(f32::from_bits).collect();
        Ok(Self::assemble(ids, offsets, targets, weights))
    }
}

const MAGIC: &[u8; 8] = b"SMLNBR01";

/// Keeps the `n` entries of a dense row largest in magnitude, negative ones
/// included, best first (the most negative last), without `skip` (the item
/// itself) and without zeros. EASE's negative weights say "users who had
/// this rarely have that"; dropping them costs the model a tenth of its
/// NDCG@10 on MovieLens (docs/quality.md, "What the collaborative table
/// keeps").
pub(crate) fn strongest_of_row(row: &[f32], n: usize, skip: usize) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = row
        .iter()
        .enumerate()
        .filter(|(j, w)| *j != skip && **w != 0.0 && w.is_finite())
        .map(|(j, w)| (j as u32, *w))
        .collect();
    if v.len() > n {
        v.select_nth_unstable_by(n, |a, b| b.1.abs().total_cmp(&a.1.abs()));
        v.truncate(n);
    }
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ItemNeighbors {
        ItemNeighbors::from_rows(
            vec!["a".into(), "b".into(), "c".into()],
            vec![vec![(1, 0.5), (2, 0.25)], vec![(2, 1.0)], vec![]],
        )
    }

    #[test]
    fn scores_sum_over_the_history_and_skip_its_own_items() {
        let t = table();
        let s = t.score(
            &[
                Weighted {
                    item: "a",
                    weight: 1.0,
                },
                Weighted {
                    item: "b",
                    weight: 2.0,
                },
            ],
            10,
        );
        assert_eq!(s, vec![("c".to_string(), 2.25)]);
        let s = t.score(
            &[Weighted {
                item: "a",
                weight: 1.0,
            }],
            1,
        );
        assert_eq!(s, vec![("b".to_string(), 0.5)]);
        assert!(
            t.score(
                &[Weighted {
                    item: "zzz",
                    weight: 1.0
                }],
                5
            )
            .is_empty()
        );
    }

    #[test]
    fn a_cut_keeps_the_head_of_the_full_order_ties_by_id() {
        // 40 targets with four distinct weights: many ties, broken by id.
        let ids: Vec<String> = std::iter::once("h".to_string())
            .chain((0..40).map(|i| format!("t{:02}", (i * 17) % 40)))
            .collect();
        let row: Vec<(u32, f32)> = (1..=40u32).map(|t| (t, (t % 4 + 1) as f32)).collect();
        let mut rows = vec![row];
        rows.resize(41, Vec::new());
        let t = ItemNeighbors::from_rows(ids, rows);
        let h = [Weighted {
            item: "h",
            weight: 1.0,
        }];
        let all = t.score(&h, usize::MAX);
        assert_eq!(all.len(), 40);
        for w in all.windows(2) {
            assert!(
                w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0),
                "{w:?}"
            );
        }
        for n in [0, 1, 5, 10, 11, 39, 40] {
            assert_eq!(t.score(&h, n), all[..n].to_vec(), "n = {n}");
        }
    }

    #[test]
    fn save_and_load_round_trip_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.bin");
        let t = table();
        t.save(&p).unwrap();
        assert_eq!(ItemNeighbors::load(&p).unwrap(), t);
        std::fs::write(&p, b"garbage!garbage!").unwrap();
        let e = ItemNeighbors::load(&p).unwrap_err().to_string();
        assert!(e.contains("not a Sommelier neighbor table"), "{e}");
    }

    #[test]
    fn strongest_of_row_keeps_negative_weights_by_magnitude() {
        assert_eq!(
            strongest_of_row(&[0.1, 0.9, -1.0, 0.0, 0.7, 0.5], 3, 1),
            vec![(4, 0.7), (5, 0.5), (2, -1.0)]
        );
        assert_eq!(
            strongest_of_row(&[0.0, -0.2, 0.3], 5, 0),
            vec![(2, 0.3), (1, -0.2)]
        );
    }
}
