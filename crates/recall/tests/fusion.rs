//! Fusion invariants under random inputs.

use proptest::prelude::*;
use sommelier_recall::{Source, SourceList, fuse_rrf};
use std::collections::HashSet;

const SOURCES: [Source; 4] = [
    Source::Semantic,
    Source::Popular,
    Source::Trending,
    Source::UserProfile,
];

fn lists() -> impl Strategy<Value = Vec<SourceList>> {
    prop::collection::vec(
        (
            0usize..4,
            0.0f64..3.0,
            prop::collection::vec((0u8..40, 0.0f64..1.0), 0..30),
        ),
        0..4,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(s, weight, items)| SourceList {
                source: SOURCES[s],
                weight,
                items: items
                    .into_iter()
                    .map(|(i, score)| (format!("i{i}"), score))
                    .collect(),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(256) })]

    #[test]
    fn fused_lists_are_unique_bounded_sorted_and_grounded(lists in lists(), limit in 0usize..50) {
        let fused = fuse_rrf(&lists, 60.0, limit);
        prop_assert!(fused.len() <= limit);
        let unique: HashSet<&str> = fused.iter().map(|c| c.item.as_str()).collect();
        prop_assert_eq!(unique.len(), fused.len());
        let offered: HashSet<&str> = lists
            .iter()
            .filter(|l| l.weight > 0.0)
            .flat_map(|l| l.items.iter().map(|(i, _)| i.as_str()))
            .collect();
        for c in &fused {
            prop_assert!(offered.contains(c.item.as_str()), "{} was not offered by any active source", c.item);
            let sum: f64 = c.provenance.iter().map(|p| p.contribution).sum();
            prop_assert!((sum - c.fused).abs() < 1e-9);
            prop_assert!(!c.provenance.is_empty());
        }
        prop_assert!(fused.windows(2).all(|w| w[0].fused >= w[1].fused));
        // Every offered item makes it when the limit allows.
        if limit >= offered.len() {
            prop_assert_eq!(fused.len(), offered.len());
        }
    }

    #[test]
    fn the_order_of_the_lists_does_not_matter(lists in lists()) {
        let mut reversed = lists.clone();
        reversed.reverse();
        let a: Vec<(String, u64)> = fuse_rrf(&lists, 60.0, 100).into_iter().map(|c| (c.item, c.fused.to_bits())).collect();
        let b: Vec<(String, u64)> = fuse_rrf(&reversed, 60.0, 100).into_iter().map(|c| (c.item, c.fused.to_bits())).collect();
        prop_assert_eq!(a, b);
    }
}
