//! The systems one evaluation scores: the default pipeline, its MMR
//! variants, each candidate source alone (`--per-source`) and the pipeline
//! without each source in turn (`--ablation`).

use crate::EvalOptions;
use sommelier_engine::RankBy;
use sommelier_recall::Source;

/// One way of asking the pipeline.
pub(crate) struct System {
    /// `sommelier`, `sommelier:<source>`, `sommelier:-<source>`, ….
    pub(crate) name: String,
    /// The sources asked (`None`: all; empty: all, by the fusion).
    pub(crate) sources: Option<Vec<Source>>,
    /// How the pool is ranked.
    pub(crate) rank_by: RankBy,
    /// The MMR λ, when not the configured one.
    pub(crate) mmr_lambda: Option<f64>,
}

/// The sources a request without a query can use.
const HISTORY_SOURCES: [Source; 6] = [
    Source::Collaborative,
    Source::Sequential,
    Source::UserProfile,
    Source::Popular,
    Source::Trending,
    Source::Fresh,
];

/// The systems `o` asks for, the default pipeline first.
pub(crate) fn systems(o: &EvalOptions<'_>) -> Vec<System> {
    let system = |name: String, sources, rank_by, mmr_lambda| System {
        name,
        sources,
        rank_by,
        mmr_lambda,
    };
    let mut v = vec![system("sommelier".into(), None, RankBy::Auto, None)];
    for l in &o.mmr_lambdas {
        v.push(system(
            format!("sommelier:mmr={l}"),
            None,
            RankBy::Auto,
            Some(*l),
        ));
    }
    if o.per_source {
        // Every source, ordered by the hand-set fusion instead of the learned scorer.
        v.push(system(
            "sommelier:fusion".into(),
            Some(Vec::new()),
            RankBy::Fusion,
            None,
        ));
        for src in HISTORY_SOURCES {
            // A source alone is judged by its own order.
            v.push(system(
                format!("sommelier:{src}"),
                Some(vec![src]),
                RankBy::Fusion,
                None,
            ));
        }
    }
    if o.ablation {
        // Removed at request time: the fitted ranker is the same, and reads
        // the missing source's signals as absent.
        for src in HISTORY_SOURCES {
            let rest = Source::ALL.iter().copied().filter(|s| *s != src).collect();
            v.push(system(
                format!("sommelier:-{src}"),
                Some(rest),
                RankBy::Auto,
                None,
            ));
        }
    }
    v
}
