//! What a recommendation request asks for and what it answers: the wire
//! types of `POST /v1/recommend`, shared by chat, evaluation and the fit.

use serde::{Deserialize, Deserializer, Serialize};
use sommelier_llm::StageReport;
use sommelier_rank::Contribution;
use sommelier_recall::{Provenance, Source};
use sommelier_types::Timestamp;
use sommelier_types::api::Filters;
use std::collections::BTreeMap;

/// Longest `query`, in characters (a longer one costs the lexical and
/// vector stages time without telling them more).
pub const MAX_QUERY_CHARS: usize = 1000;

/// Most items in `like_items` and entries in `category_boosts`.
pub const MAX_LIST_ENTRIES: usize = 100;

/// What to recommend. Serialised (the exposure log keeps it for replay)
/// without the fields left at their defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// The user, for personal sources and the already-consumed filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Free text: what the person asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// How many items (default 10, at most 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// Catalog filters.
    #[serde(default, skip_serializing_if = "is_default")]
    pub filters: Filters,
    /// Also return items the user already interacted with (default: no).
    #[serde(default, skip_serializing_if = "is_default")]
    pub include_consumed: bool,
    /// Only these candidate sources (default: all); for ablations and debugging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Source>>,
    /// How to order the candidates (default: the learned scorer when fitted).
    #[serde(default, skip_serializing_if = "is_default")]
    pub rank_by: RankBy,
    /// MMR trade-off for this request (default `rerank.mmr_lambda`): 1 ranks by
    /// relevance only, lower values favour variety.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mmr_lambda: Option<f64>,
    /// "More like this item": as `like_items` with one item (kept for
    /// clients of the single-item form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like_item: Option<String>,
    /// "More like these": the `similar` source proposes the items most like
    /// them (co-occurrence blended with content vectors), the request is
    /// ranked by the fusion, where that list leads, and the items themselves
    /// are never in the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub like_items: Vec<String>,
    /// Category boosts of this request on the re-rank's 0–1 scale (positive
    /// lifts, negative lowers; at most 0.5 either way per item): how a chat
    /// modifier such as "but funnier" reaches the ranking.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub category_boosts: BTreeMap<String, f64>,
    /// How to explain each pick: `true` or `"signals"` (the default: the
    /// signals behind it and a sentence built from them), `"llm"` (the LLM
    /// stage re-ranks the first picks and writes their sentences, behind the
    /// grounding gate), `false` or `"none"` (ids, titles and scores only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub explain: Explain,
    /// When and on what the person asks (time of day, device class).
    #[serde(default, skip_serializing_if = "is_default")]
    pub context: RequestContext,
    /// The time to answer as of (RFC 3339): popularity and trends decay to
    /// it, relative dates resolve against it. Without it, the time of the
    /// newest event (the data's clock: a historical data set answers as of
    /// its own last day, a live one as of now); the answer's `clock` says
    /// which was used. It is also when the person asks: the time since their
    /// newest event is one of the ranker's features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
}

/// Whether `v` is its type's default (a request field left out when
/// serialised).
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Where the time a request was answered as of came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    /// The request's `at`.
    Request,
    /// The newest event in the log (the data's clock).
    Events,
    /// The wall clock (no events yet).
    Wall,
}

/// The time a request was answered as of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClockUsed {
    /// The time (RFC 3339).
    pub at: Timestamp,
    /// Where it came from.
    pub source: ClockSource,
}

impl ClockUsed {
    /// The request's `at`, else the newest event's time, else now.
    pub fn of(at: Option<Timestamp>, newest_event: Option<Timestamp>) -> Self {
        match (at, newest_event) {
            (Some(at), _) => Self {
                at,
                source: ClockSource::Request,
            },
            (None, Some(at)) => Self {
                at,
                source: ClockSource::Events,
            },
            (None, None) => Self {
                at: Timestamp::now(),
                source: ClockSource::Wall,
            },
        }
    }

    /// The year of the clock, for relative dates ("last year").
    pub fn year(&self) -> i32 {
        use chrono::Datelike;
        chrono::DateTime::from_timestamp_millis(self.at.0).map_or(1970, |d| d.year())
    }
}

/// How a request's picks are explained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Explain {
    /// Ids, titles and scores only.
    None,
    /// Provenance, signals and a sentence built from them.
    #[default]
    Signals,
    /// As `Signals`, then the LLM stage: the model re-ranks the first
    /// candidates and writes their sentences, behind the grounding gate.
    Llm,
}

impl RecommendRequest {
    /// The items the request refers to: `like_items`, and `like_item`.
    pub fn references(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.like_items.iter().map(String::as_str).collect();
        if let Some(i) = self.like_item.as_deref()
            && !out.contains(&i)
        {
            out.push(i);
        }
        out
    }
}

impl<'de> Deserialize<'de> for Explain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(true) => Ok(Explain::Signals),
            Raw::Flag(false) => Ok(Explain::None),
            Raw::Name(n) => match n.as_str() {
                "signals" => Ok(Explain::Signals),
                "llm" => Ok(Explain::Llm),
                "none" => Ok(Explain::None),
                other => Err(serde::de::Error::custom(format!(
                    "explain: expected true, false, \"signals\", \"llm\" or \"none\", got \"{other}\""
                ))),
            },
        }
    }
}

/// The situation of a request, read as context features: items people choose
/// at this time of day and on this device lift, the rest drop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestContext {
    /// Device class (`mobile`, `desktop`, `tv`, …), as in events' `context.device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Local hour 0–23 in the deployment's zone (`features.utc_offset_minutes`);
    /// without it the current hour is used (unless `features.context_clock`
    /// is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    /// When the person asks, where that differs from the request's clock:
    /// the evaluation and the ranker's fit ask at the moment of a held-out
    /// choice, so the time since the user's last event is the one they made
    /// it after. Live requests ask at their clock.
    #[serde(skip)]
    pub asked_at: Option<Timestamp>,
}

/// The context a request was ranked in, as the response reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContextUsed {
    /// Local hour used, if any (the request's, or the clock's).
    pub hour: Option<u8>,
    /// Its part of the day (`night`, `morning`, `afternoon`, `evening`).
    pub daypart: Option<&'static str>,
    /// The device class, when the log has events from it (an unknown device
    /// has nothing to compare with and is left out).
    pub device: Option<String>,
}

/// The ordering of the candidate pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// The learned scorer when one is fitted, else the fusion.
    #[default]
    Auto,
    /// Weighted reciprocal-rank fusion with the configured source weights.
    Fusion,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    /// Item id.
    pub item: String,
    /// Title.
    pub title: String,
    /// Relevance on a 0–1 scale over the re-ranked pool (the learned scorer's
    /// logit or the fused RRF score, rescaled), boosts included.
    pub score: f64,
    /// Every source that proposed it, strongest first.
    pub provenance: Vec<Provenance>,
    /// Why it ranks here: the signals that added most to its score, largest
    /// first (feature, its value, what it added).
    pub why: Vec<Contribution>,
    /// One sentence for a person, built from the strongest signals in `why`
    /// and the sources in `provenance` — or written by the LLM stage.
    pub rationale: String,
    /// Who wrote `rationale` when the LLM stage ran: `llm` or `signals`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale_source: Option<&'static str>,
}

/// What a source did for one request.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SourceReport {
    /// The source.
    pub source: Source,
    /// Its fusion weight for this request.
    pub weight: f64,
    /// Candidates it proposed.
    pub candidates: usize,
    /// Why it proposed none, when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// `POST /v1/recommend`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecommendResponse {
    /// This answer's id, under which the exposure log keeps what was shown;
    /// events that send it back (`request_id`) are attributed to it.
    pub request_id: String,
    /// Recommended items, best first.
    pub items: Vec<Recommendation>,
    /// What each source contributed.
    pub sources: Vec<SourceReport>,
    /// Milliseconds per stage.
    pub timings_ms: BTreeMap<&'static str, f64>,
    /// Ranking used: `learned:<fit version>` or `fusion` (hand-set RRF weights,
    /// when no ranker has been fitted).
    pub ranker: String,
    /// Embedding model of the vector sources.
    pub embedding_model: String,
    /// Version of the collaborative and sequential models, if fitted.
    pub models_version: Option<String>,
    /// Whether the user's own history shaped the answer: false for visitors,
    /// and for a user whose profile declines personalisation
    /// (`consent.personalization = false`), who is answered as a visitor.
    pub personalized: bool,
    /// The time of day and device the candidates were ranked for.
    pub context: ContextUsed,
    /// The time the answer is as of, and where it came from.
    pub clock: ClockUsed,
    /// How the LLM stage went, when the request asked for it
    /// (`explain: "llm"`): used, model, prompt version, fallback reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<StageReport>,
    /// Questions the person might ask next (from the LLM stage, checked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<String>,
    /// The experiments the request was in and the variant it was served
    /// (empty when none).
    pub experiments: Vec<sommelier_experiments::Assignment>,
    /// In an interleaving experiment, the variant that placed each item
    /// (kept in the exposure log, not sent: a client must not know).
    #[serde(skip)]
    pub(crate) teams: Vec<String>,
    /// The catalog log position and the events applied that the answer
    /// saw (kept in the exposure log, for replay).
    #[serde(skip)]
    pub(crate) state: (u64, u64),
}

impl RecommendRequest {
    /// Refuses requests larger than any real one: a query over
    /// [`MAX_QUERY_CHARS`] characters, more than [`MAX_LIST_ENTRIES`] liked
    /// items or category boosts.
    pub fn check_limits(&self) -> crate::Result<()> {
        let usage = |m: String| Err(crate::EngineError::Usage(m));
        if let Some(q) = &self.query {
            let n = q.chars().count();
            if n > MAX_QUERY_CHARS {
                return usage(format!(
                    "`query` is {n} characters long; the limit is {MAX_QUERY_CHARS}"
                ));
            }
        }
        if self.like_items.len() > MAX_LIST_ENTRIES {
            return usage(format!(
                "`like_items` has {} entries; the limit is {MAX_LIST_ENTRIES}",
                self.like_items.len()
            ));
        }
        if self.category_boosts.len() > MAX_LIST_ENTRIES {
            return usage(format!(
                "`category_boosts` has {} entries; the limit is {MAX_LIST_ENTRIES}",
                self.category_boosts.len()
            ));
        }
        Ok(())
    }
}
