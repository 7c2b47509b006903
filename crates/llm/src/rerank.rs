//! The grounded re-rank stage: the first classical candidates go to the large
//! model under short numbers, and what it answers passes [`grounded::gate`]
//! before anyone sees it.
//!
//! A model that can score choices (the local one) **chooses by scoring**: one
//! forward pass over the prompt reads the probabilities of the numbers
//! `1`..`N` as the answer's next token (LlamaRec's verbalizer), calibrated by
//! the same pass over a content-free list (the model's bias for positions
//! alone) and weighed against the classical order ([`CLASSICAL_PRIOR`]); the
//! picks are the best by that score. It then **writes** one sentence per pick,
//! continuing the same prompt (its cached keys and values are reused), under a
//! grammar of the pick's own facts and the request's words
//! ([`crate::sentence`]), and two follow-up questions under a grammar that
//! names a category, an attribute or a title. A remote model answers with
//! JSON (picks, sentences, follow-ups) under a schema instead.
//!
//! The stage never outlasts its deadline: a pick whose sentence would not
//! finish in time is left out, follow-ups are asked only with time to spare,
//! and a stage with no pick written by then falls back (`timeout`) to the
//! classical order.

use crate::cache::CacheKey;
use crate::error::{LlmError, Result};
use crate::grounded::{self, GroundedCandidate, ModelPick, ModelRerank, Validated};
use crate::message::{CompletionRequest, Finish, ScoreRequest};
use crate::prompt::{Template, TemplateName};
use crate::sentence;
use crate::{Llm, StageReport};
use std::time::{Duration, Instant};

/// How much the classical order counts against the model's calibrated
/// scores when choosing, in nats per log-rank: candidate `i` (0-based) gets
/// `-CLASSICAL_PRIOR * ln(1 + i)`. At 1, the model moves the third candidate
/// first only when it finds it three times likelier than the first.
pub const CLASSICAL_PRIOR: f64 = 1.0;

/// Most tokens of one pick's sentence.
const SENTENCE_TOKENS: u32 = 40;

/// Most tokens of the two follow-up questions.
const FOLLOW_UP_TOKENS: u32 = 36;

/// The parts a template needs for choosing by scoring.
const SCORING_PARTS: &[&str] = &["choose", "why", "follow_up"];

/// The re-rank stage's result.
#[derive(Debug, Clone, PartialEq)]
pub struct RerankOutcome {
    /// The validated answer, or none on fallback.
    pub validated: Option<Validated>,
    /// How it went.
    pub llm: StageReport,
}

impl Llm {
    /// Re-ranks `cands` (best first, in the classical order) for `request`
    /// with the large model; the answer is returned only when it passes the
    /// gate. `on_token` sees the model's text as it is generated (for
    /// streaming progress).
    pub fn rerank(
        &self,
        request: &str,
        signals: &str,
        cands: &[GroundedCandidate],
        deadline: Instant,
        on_token: &mut dyn FnMut(&str),
    ) -> RerankOutcome {
        let started = Instant::now();
        let scoring = self.large.supports_scoring()
            && self
                .prompts
                .get(TemplateName::Rerank)
                .has_parts(SCORING_PARTS);
        let name = if scoring {
            TemplateName::Rerank
        } else {
            TemplateName::RerankJson
        };
        let t = self.prompts.get(name);
        let mut report = StageReport::new(&self.large, &t.version);
        let early = if self.large.is_off() {
            Some("off")
        } else if cands.is_empty() {
            Some("no_candidates")
        } else if Instant::now() >= deadline {
            Some("timeout")
        } else {
            None
        };
        if let Some(why) = early {
            report.fallback = Some(why.into());
            self.stats
                .record_stage("rerank", report.fallback.as_deref());
            return RerankOutcome {
                validated: None,
                llm: report,
            };
        }
        let list = grounded::render_candidates(cands);
        let vars = [
            ("persona", self.config.persona.as_str()),
            ("request", request),
            ("signals", signals),
            ("candidates", list.as_str()),
        ];
        let picks = self.config.rerank_picks.min(cands.len());
        let answer = if scoring {
            self.choose_and_write(t, &vars, request, cands, picks, deadline, on_token)
        } else {
            self.cached_complete(
                &self.large,
                TemplateName::RerankJson,
                &vars,
                Some(grounded::format(cands.len(), picks)),
                self.config.rerank_max_tokens,
                deadline,
                on_token,
            )
            .map(|(text, cached)| (grounded::parse(&text), cached))
        };
        let validated = match answer {
            Ok((answer, cached)) => {
                report.cached = cached;
                match answer.and_then(|a| grounded::gate(&a, cands, &self.policy)) {
                    Ok(v) => Some(v),
                    Err(f) => {
                        report.fallback = Some(format!("gate:{}", f.as_str()));
                        None
                    }
                }
            }
            Err(e) => {
                report.fallback = Some(e.kind().into());
                None
            }
        };
        report.ms = started.elapsed().as_secs_f64() * 1e3;
        report.used = validated.is_some();
        report.order_changed = validated.as_ref().map(order_changed);
        self.stats
            .record_stage("rerank", report.fallback.as_deref());
        RerankOutcome {
            validated,
            llm: report,
        }
    }

    /// The local path: scores, then a sentence per pick, then follow-ups,
    /// each under the deadline; the whole answer is cached.
    #[allow(clippy::too_many_arguments)]
    fn choose_and_write(
        &self,
        t: &Template,
        vars: &[(&str, &str)],
        request: &str,
        cands: &[GroundedCandidate],
        picks: usize,
        deadline: Instant,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<(Result<ModelRerank, grounded::GateFailure>, bool)> {
        let model = self.large.model_id();
        let messages = t.render(vars);
        let picks_key = picks.to_string();
        let mut inputs: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        inputs.push(&picks_key);
        let key = CacheKey::of(&model, &t.version, &inputs);
        if let Some(text) = self.cache.get(&key) {
            return Ok((grounded::parse(&text), true));
        }
        let calibration = self.calibration(t, vars, cands.len(), deadline);
        let scores = self.large.score(ScoreRequest {
            messages: messages.clone(),
            prefix: t.part("choose", &[]).unwrap_or_default(),
            choices: (1..=cands.len()).map(|i| i.to_string()).collect(),
            deadline,
        })?;
        self.stats.record_scores(&model, &scores);
        let order = choose(&scores.logprobs, calibration.as_deref(), cands);
        let mut written: Vec<ModelPick> = Vec::with_capacity(picks);
        let mut slowest = Duration::ZERO;
        let mut opened = false;
        for &i in order.iter().take(picks) {
            // A sentence that would not finish in time is not started.
            if !written.is_empty() && Instant::now() + slowest >= deadline {
                break;
            }
            let number = (i + 1).to_string();
            let title = grounded::neutralise(&cands[i].title);
            let mut req = CompletionRequest::new(messages.clone(), SENTENCE_TOKENS, Duration::ZERO);
            req.deadline = deadline;
            req.prefix = t
                .part("why", &[("number", &number), ("title", &title)])
                .unwrap_or_default();
            req.format = Some(sentence::sentence_format(i, cands, request));
            // The stream reads as the JSON answer a remote model would give.
            on_token(&format!(
                "{}{{\"id\":{number},\"why\":\"",
                if std::mem::replace(&mut opened, true) {
                    ","
                } else {
                    "{\"picks\":["
                }
            ));
            let began = Instant::now();
            let mut escaped = |piece: &str| {
                let quoted = serde_json::to_string(piece).unwrap_or_default();
                on_token(quoted.trim_matches('"'));
            };
            let c = match self.large.complete(req, &mut escaped) {
                Ok(c) => c,
                Err(LlmError::Timeout { .. }) if !written.is_empty() => break,
                Err(e) => return Err(e),
            };
            on_token("\"}");
            slowest = slowest.max(began.elapsed());
            self.stats.record_tokens(&model, &c);
            let why = sentence::finish_sentence(&c.text, c.finish == Finish::Stop);
            if !why.is_empty() {
                written.push(ModelPick {
                    id: i as i64 + 1,
                    why,
                });
            }
        }
        if written.is_empty() {
            return Err(LlmError::Malformed("no sentence was written".into()));
        }
        let complete = written.len() == picks.min(order.len());
        // The grammar should make every sentence pass; one that does not is
        // dropped alone rather than taking the others down with it.
        let mut refused = None;
        written.retain(|p| {
            let one = ModelRerank {
                picks: vec![p.clone()],
                follow_ups: Vec::new(),
            };
            match grounded::gate(&one, cands, &self.policy) {
                Ok(_) => true,
                Err(f) => {
                    tracing::warn!(pick = p.id, why = %sommelier_privacy::redact(&p.why).text, failure = f.as_str(), "a constrained sentence failed the gate");
                    refused.get_or_insert(f);
                    false
                }
            }
        });
        if let (true, Some(f)) = (written.is_empty(), refused) {
            return Ok((Err(f), false));
        }
        let mut follow_ups = Vec::new();
        // Two questions take about as long as two sentences.
        if Instant::now() + 2 * slowest < deadline {
            let mut req = CompletionRequest::new(messages, FOLLOW_UP_TOKENS, Duration::ZERO);
            req.deadline = deadline;
            req.prefix = t.part("follow_up", &[]).unwrap_or_default();
            req.format = Some(sentence::follow_up_format(cands));
            // Follow-ups are optional: without them the caller offers its own.
            if let Ok(c) = self.large.complete(req, &mut |_| {}) {
                self.stats.record_tokens(&model, &c);
                follow_ups = sentence::split_questions(&c.text);
            }
        }
        on_token(&format!(
            "],\"follow_ups\":{}}}",
            serde_json::to_string(&follow_ups).unwrap_or_else(|_| "[]".into())
        ));
        let answer = ModelRerank {
            picks: written,
            follow_ups,
        };
        if complete
            && !answer.follow_ups.is_empty()
            && let Ok(text) = serde_json::to_string(&answer)
        {
            self.cache.put(key, text);
        }
        Ok((Ok(answer), false))
    }

    /// The model's scores of `n` numbers over a content-free list (every
    /// field `N/A`): its bias for positions alone, computed once per model,
    /// prompt version and list length. `None` while it cannot be had in time.
    fn calibration(
        &self,
        t: &Template,
        vars: &[(&str, &str)],
        n: usize,
        deadline: Instant,
    ) -> Option<Vec<f64>> {
        let key = (self.large.model_id(), t.version.clone(), n);
        if let Some(c) = self.calibration.lock().get(&key) {
            return Some(c.clone());
        }
        let blank: String = (1..=n).map(|i| format!("{i}. \"N/A\"\n")).collect();
        let mut free: Vec<(&str, &str)> = vars
            .iter()
            .filter(|(k, _)| !matches!(*k, "request" | "signals" | "candidates"))
            .copied()
            .collect();
        free.extend([
            ("request", "N/A"),
            ("signals", "N/A"),
            ("candidates", blank.as_str()),
        ]);
        let scores = self
            .large
            .score(ScoreRequest {
                messages: t.render(&free),
                prefix: t.part("choose", &[]).unwrap_or_default(),
                choices: (1..=n).map(|i| i.to_string()).collect(),
                deadline,
            })
            .ok()?;
        self.stats.record_scores(&key.0, &scores);
        self.calibration.lock().insert(key, scores.logprobs.clone());
        Some(scores.logprobs)
    }
}

/// The candidates in the order the model chose them: the log-probability
/// of each number, less its content-free log-probability (`calibration`),
/// less [`CLASSICAL_PRIOR`] per log-rank; unavailable candidates left out.
pub(crate) fn choose(
    logprobs: &[f64],
    calibration: Option<&[f64]>,
    cands: &[GroundedCandidate],
) -> Vec<usize> {
    let score = |i: usize| {
        let free = calibration.and_then(|c| c.get(i)).copied().unwrap_or(0.0);
        let lp = logprobs.get(i).copied().unwrap_or(f64::NEG_INFINITY);
        lp - free - CLASSICAL_PRIOR * ((1 + i) as f64).ln()
    };
    let mut order: Vec<usize> = (0..cands.len()).filter(|&i| cands[i].available).collect();
    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
    order
}

/// Whether the picks are not the classical order's first candidates.
fn order_changed(v: &Validated) -> bool {
    v.picks.iter().enumerate().any(|(k, p)| p.index != k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grounded::ValidPick;

    fn cands(n: usize) -> Vec<GroundedCandidate> {
        (0..n)
            .map(|i| GroundedCandidate {
                item: i.to_string(),
                title: format!("Film {i}"),
                year: None,
                price: None,
                categories: vec![],
                summary: String::new(),
                available: i != 3,
            })
            .collect()
    }

    #[test]
    fn the_classical_order_stands_unless_the_model_is_sure() {
        let c = cands(5);
        let ln = |p: f64| p.ln();
        // A model biased to position 1 the way its content-free scores are:
        // nothing to learn, the classical order stands.
        let free = [ln(0.5), ln(0.1), ln(0.1), ln(0.1), ln(0.1)];
        assert_eq!(choose(&free, Some(&free), &c), vec![0, 1, 2, 4]);
        // The third, 2.5 times likelier than the first (each against its
        // content-free score), is not enough to move it first…
        let s = [ln(0.5), ln(0.1), ln(0.25), ln(0.1), ln(0.1)];
        assert_eq!(choose(&s, Some(&free), &c)[0], 0);
        // …4 times likelier is; the unavailable fourth is never chosen.
        let s = [ln(0.3), ln(0.1), ln(0.25), ln(0.9), ln(0.1)];
        assert_eq!(choose(&s, Some(&free), &c), vec![2, 0, 1, 4]);
        // Without calibration the raw scores count, position bias and all.
        assert_eq!(choose(&s, None, &c)[0], 0);
    }

    #[test]
    fn a_reordered_answer_says_so() {
        let v = |idx: &[usize]| Validated {
            picks: idx
                .iter()
                .map(|&index| ValidPick {
                    index,
                    why: "x".into(),
                })
                .collect(),
            follow_ups: vec![],
        };
        assert!(!order_changed(&v(&[0, 1])));
        assert!(!order_changed(&v(&[0])));
        assert!(order_changed(&v(&[1, 0])));
        assert!(order_changed(&v(&[0, 2])));
    }
}
