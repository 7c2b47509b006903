//! A recommendation turn: the intent (rules, and the small model when they
//! leave words unexplained), merged with the session's previous request and
//! the user's remembered dislikes; retrieval and ranking through the
//! pipeline; the pipeline's LLM stage over the first candidates; the items
//! with their sentences.

use super::memory::Memory;
use super::reply::{default_follow_ups, reply_text};
use super::route::Refinement;
use super::turn::Turn;
use super::{ChatEvent, ChatItem, ChatResponse};
use crate::Result;
use crate::exposures::{ChatDecision, Seen};
use crate::pipeline::llm::{LlmAsk, rerank};
use crate::pipeline::{RecommendRequest, Recommendation, ms, signal_rationale};
use crate::snapshot::CatalogSnapshot;
use sommelier_llm::intent::{Intent, Sort};
use std::time::{Duration, Instant};

impl Turn<'_> {
    /// Answers a request for recommendations (`refine`: how it builds on
    /// the previous one).
    pub(super) fn recommend(
        &mut self,
        refine: Refinement,
        response: &mut ChatResponse,
        on_event: &mut dyn FnMut(ChatEvent),
    ) -> Result<()> {
        let catalog = self.engine.chat_catalog(&self.pipeline.snapshot);
        let t = Instant::now();
        let intent_deadline = (Instant::now()
            + Duration::from_millis(self.llm.config().intent_deadline_ms))
        .min(self.turn_end);
        let parsed = self.llm.intent(
            &self.prompt_message,
            &catalog.vocabulary,
            self.clock.year(),
            intent_deadline,
        );
        self.timings.insert("intent", ms(t));
        let mut intent = parsed.intent;
        self.resolve_references(&mut intent);
        if refine.follows
            && let Some(prev) = self.last_intent()
        {
            intent = follow(prev, intent);
        }
        // "more like the second one": the shown item is the reference.
        if let Some((id, title)) = refine.like.and_then(|i| self.shown.get(i))
            && !intent.like_items.iter().any(|r| r.item == *id)
        {
            intent.like_items.push(sommelier_llm::intent::Reference {
                item: id.clone(),
                title: title.clone(),
                written: "the one shown".into(),
                alternatives: Vec::new(),
            });
        }
        if intent.like_items.is_empty() {
            // Bounds relative to what was shown last.
            self.apply_refinement(&refine, &mut intent);
        }
        let category_boosts = self.apply_modifiers(&mut intent);
        // Remembered dislikes apply unless this request asks for them.
        if let Some(m) = &self.memory {
            for d in m.dislikes() {
                if !intent.categories.contains(&d) && !intent.exclude.contains(&d) {
                    intent.exclude.push(d);
                }
            }
        }
        on_event(ChatEvent::Intent {
            intent: Box::new(intent.clone()),
        });
        let n_cands = self.llm.config().rerank_candidates.max(self.k);
        let wide = if intent.sort == Sort::Relevance {
            n_cands
        } else {
            (n_cands * 4).min(100)
        };
        let retrieval = RecommendRequest {
            user_id: self.req.user_id.clone(),
            query: retrieval_query(&intent),
            k: Some(wide),
            filters: intent.filters(catalog.kinds.clone()),
            like_items: intent.like_items.iter().map(|r| r.item.clone()).collect(),
            category_boosts,
            context: self.req.context.clone(),
            at: self.req.at,
            rank_by: self
                .served
                .as_ref()
                .and_then(|s| s.setup.rank_by)
                .unwrap_or_default(),
            ..Default::default()
        };
        let t = Instant::now();
        let rec = self.engine.recommend_on(&self.pipeline, &retrieval)?;
        self.timings.insert("retrieve", ms(t));
        let seen = Seen::of(&rec);
        let mut recs = rec.items;
        sort_by(&mut recs, intent.sort, &self.pipeline.snapshot);
        recs.truncate(n_cands);
        // Kept for a replay only with consent to memory: the request
        // carries words derived from the user's.
        if self.consent.long_term_memory {
            self.decision = Some(ChatDecision {
                request: RecommendRequest {
                    at: Some(self.clock.at),
                    ..retrieval
                },
                sort: intent.sort,
                candidates: recs.iter().map(|r| r.item.clone()).collect(),
                seen,
            });
        }
        on_event(ChatEvent::Candidates {
            items: recs
                .iter()
                .map(|r| (r.item.clone(), r.title.clone()))
                .collect(),
        });
        let t = Instant::now();
        let ask = LlmAsk {
            request: if intent.mood.is_empty() {
                self.prompt_message.clone()
            } else {
                format!("{} (mood: {})", self.prompt_message, intent.mood.join(", "))
            },
            signals: signals_text(self.memory.as_ref(), &intent),
            deadline: (Instant::now()
                + Duration::from_millis(self.llm.config().rerank_deadline_ms))
            .min(
                self.turn_end
                    .checked_sub(Duration::from_millis(50))
                    .unwrap_or(self.turn_end),
            ),
        };
        let mut page = rerank(&self.pipeline, recs, &ask, &mut |s| {
            on_event(ChatEvent::Token {
                text: s.to_string(),
            })
        });
        self.timings.insert("llm_rerank", ms(t));
        page.items.truncate(self.k);
        let items: Vec<ChatItem> = page
            .items
            .iter()
            .filter_map(|r| self.item(r, &intent))
            .collect();
        response.follow_ups = page.follow_ups;
        if response.follow_ups.is_empty() {
            response.follow_ups = default_follow_ups(&intent, !items.is_empty());
        }
        response.reply = reply_text(self.req.channel, &intent, &items);
        if !intent.unknown_references.is_empty() {
            let names: Vec<String> = intent
                .unknown_references
                .iter()
                .map(|n| format!("“{n}”"))
                .collect();
            response.reply = format!(
                "{} is not in the catalog, so nothing here is picked for being like it. {}",
                names.join(" and "),
                response.reply
            );
        }
        response.fallback = page.report.fallback.clone();
        response.llm.used = page.report.used || parsed.llm.used;
        response.llm.intent = Some(parsed.llm);
        response.llm.rerank = Some(page.report);
        response.intent_dropped = parsed.dropped;
        response.intent = Some(intent);
        response.items = items;
        Ok(())
    }

    /// "Cheaper", "newer", "older": bounds relative to the items shown last.
    fn apply_refinement(&self, refine: &Refinement, intent: &mut Intent) {
        let shown: Vec<&sommelier_types::Item> = self
            .shown
            .iter()
            .filter_map(|(id, _)| self.pipeline.snapshot.items.get(id.as_str()))
            .map(|i| &**i)
            .collect();
        if refine.cheaper {
            let prices: Vec<f64> = shown.iter().filter_map(|i| i.price_amount()).collect();
            if !prices.is_empty() {
                let min = prices.iter().copied().fold(f64::INFINITY, f64::min);
                intent.price_max = Some((min * 100.0).floor() / 100.0 - 0.01);
            }
            intent.sort = Sort::PriceAsc;
        }
        let years: Vec<i32> = shown.iter().filter_map(|i| i.year()).collect();
        if refine.newer && !years.is_empty() {
            intent.year_min = Some(years.iter().copied().max().unwrap_or(self.clock.year()) + 1);
            intent.year_max = None;
        }
        if refine.older && !years.is_empty() {
            intent.year_max = Some(years.iter().copied().min().unwrap_or(self.clock.year()) - 1);
            intent.year_min = None;
        }
    }

    /// A pick as chat shows it: the model's sentence, or one from its
    /// signals that names the categories asked for.
    fn item(&self, r: &Recommendation, intent: &Intent) -> Option<ChatItem> {
        let item = self.pipeline.snapshot.items.get(r.item.as_str())?;
        let (why, why_source) = match r.rationale_source {
            Some("llm") => (r.rationale.clone(), "llm"),
            _ => (
                signal_rationale(r, &intent.categories, &item.categories),
                "signals",
            ),
        };
        Some(ChatItem {
            item: r.item.clone(),
            title: r.title.clone(),
            year: item.year(),
            price: item.price_amount(),
            categories: item.categories.clone(),
            why,
            why_source: why_source.into(),
            score: r.score,
        })
    }
}

/// The words a turn retrieves with: the intent's query without stopwords
/// ("movies like Heat" retrieves with none of its words: "movies" says
/// nothing, and Heat's title must not reach the lexical source).
fn retrieval_query(intent: &Intent) -> Option<String> {
    let words: Vec<&str> = intent
        .query
        .split_whitespace()
        .filter(|w| {
            let bare = w
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            !bare.is_empty() && !sommelier_llm::intent::is_stopword(&bare)
        })
        .collect();
    if words.is_empty() {
        None
    } else {
        Some(intent.query.clone())
    }
}

/// A refinement keeps what the previous request asked for: `now`'s
/// categories, exclusions, bounds, moods and order are added to `prev`'s.
fn follow(prev: &Intent, mut now: Intent) -> Intent {
    let mut merged = prev.clone();
    for c in now.categories.drain(..) {
        if !merged.categories.contains(&c) {
            merged.categories.push(c);
        }
    }
    for c in now.exclude.drain(..) {
        merged.categories.retain(|x| *x != c);
        if !merged.exclude.contains(&c) {
            merged.exclude.push(c);
        }
    }
    merged.year_min = now.year_min.or(merged.year_min);
    merged.year_max = now.year_max.or(merged.year_max);
    merged.price_min = now.price_min.or(merged.price_min);
    merged.price_max = now.price_max.or(merged.price_max);
    merged
        .mood
        .extend(now.mood.drain(..).filter(|m| !prev.mood.contains(m)));
    if now.sort != Sort::Relevance {
        merged.sort = now.sort;
    }
    // New references replace the old ones; modifiers add up ("like Heat",
    // then "but funnier", then "and newer").
    if !now.like_items.is_empty() || !now.unknown_references.is_empty() {
        merged.references = now.references;
        merged.like_items = now.like_items;
    }
    merged.unknown_references = now.unknown_references;
    for m in now.modifiers {
        if !merged.modifiers.iter().any(|x| x.words == m.words) {
            merged.modifiers.push(m);
        }
    }
    merged
}

/// Orders the candidates as the intent asks (relevance keeps the ranker's).
pub(crate) fn sort_by(recs: &mut [Recommendation], sort: Sort, snapshot: &CatalogSnapshot) {
    let item = |id: &str| snapshot.items.get(id);
    let price = |id: &str| item(id).and_then(|i| i.price_amount());
    let year = |id: &str| item(id).and_then(|i| i.year());
    match sort {
        Sort::Relevance | Sort::Popular => {}
        Sort::PriceAsc => recs.sort_by(|a, b| {
            price(&a.item)
                .unwrap_or(f64::MAX)
                .total_cmp(&price(&b.item).unwrap_or(f64::MAX))
        }),
        Sort::PriceDesc => recs.sort_by(|a, b| {
            price(&b.item)
                .unwrap_or(f64::MIN)
                .total_cmp(&price(&a.item).unwrap_or(f64::MIN))
        }),
        Sort::Newest => recs.sort_by_key(|r| std::cmp::Reverse(year(&r.item).unwrap_or(i32::MIN))),
    }
}

/// What the re-rank prompt is told besides the request.
fn signals_text(memory: Option<&Memory>, intent: &Intent) -> String {
    let mut parts = Vec::new();
    if let Some(m) = memory {
        let s = m.summary();
        if !s.is_empty() {
            parts.push(s);
        }
    }
    if !intent.exclude.is_empty() {
        parts.push(format!("does not want {}", intent.exclude.join(", ")));
    }
    if parts.is_empty() {
        "nothing known".into()
    } else {
        parts.join("; ")
    }
}
