//! Decoding on one context: the prompt (reusing the cached prefix), then
//! either scores of choices or generation under a grammar.

use super::{Event, Job};
use crate::error::{LlmError, Result};
use crate::message::{Completion, CompletionRequest, Finish, Message, ScoreRequest, Scores};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use std::time::Instant;

/// Prompt tokens decoded between checks of the deadline.
const PREFILL_CHUNK: usize = 64;

pub(super) fn rt(what: &str, e: &dyn std::fmt::Display) -> LlmError {
    LlmError::Runtime(format!("{what}: {e}"))
}

/// The messages through the model's chat template, then the start of the
/// answer, as tokens.
pub(super) fn prompt_tokens(
    model: &LlamaModel,
    template: &LlamaChatTemplate,
    messages: &[Message],
    prefix: &str,
) -> Result<(String, Vec<LlamaToken>)> {
    let chat: Vec<LlamaChatMessage> = messages
        .iter()
        .map(|m| LlamaChatMessage::new(m.role.as_str().to_string(), m.content.clone()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| rt("message", &e))?;
    let mut prompt = model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| rt("chat template", &e))?;
    prompt.push_str(prefix);
    // The template writes the special tokens itself.
    let tokens = model.vocab().tokenize(prompt.as_bytes(), false, true);
    if tokens.is_empty() {
        return Err(LlmError::Runtime("empty prompt".into()));
    }
    Ok((prompt, tokens))
}

/// What [`prefill`] leaves: the batch whose last token's logits are ready,
/// the prompt tokens reused and the milliseconds it took.
struct Prefilled<'a> {
    batch: LlamaBatch<'a>,
    keep: usize,
    prompt_ms: f64,
    started: Instant,
}

/// Decodes `tokens` into `ctx`, reusing the longest prefix `cached` already
/// holds, in chunks between which the deadline is checked. `room` tokens
/// must fit after the prompt.
fn prefill(
    ctx: &mut LlamaContext<'_>,
    job: &Job,
    tokens: &[LlamaToken],
    cached: &mut Vec<LlamaToken>,
    room: usize,
) -> Result<Prefilled<'static>> {
    let n_ctx = ctx.n_ctx() as usize;
    if tokens.len() + room > n_ctx {
        return Err(LlmError::Runtime(format!(
            "prompt of {} tokens + {room} to generate exceeds the context of {n_ctx}",
            tokens.len(),
        )));
    }
    let started = Instant::now();
    // Reuse the cached prefix; at least the last prompt token is decoded
    // again, for its logits.
    let keep = cached
        .iter()
        .zip(tokens)
        .take_while(|(a, b)| a == b)
        .count()
        .min(tokens.len() - 1);
    let trimmed = ctx
        .clear_kv_cache_seq(Some(0), Some(keep as u32), None)
        .unwrap_or(false);
    let keep = if trimmed {
        keep
    } else {
        ctx.clear_kv_cache();
        0
    };
    cached.truncate(keep);
    // Prompt chunks small enough that a cancelled or late job stops within a
    // fraction of a second: a worker still decoding an abandoned prompt makes
    // the next turn late too, and the lateness cascades.
    let n_batch = (ctx.n_batch() as usize).clamp(1, PREFILL_CHUNK);
    let mut batch = LlamaBatch::new(n_batch, 1);
    for chunk in tokens[keep..].chunks(n_batch) {
        batch.clear();
        let base = cached.len();
        for (i, t) in chunk.iter().enumerate() {
            let pos = base + i;
            batch
                .add(*t, pos as i32, &[0], pos + 1 == tokens.len())
                .map_err(|e| rt("batch", &e))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| rt("prompt decode", &e))?;
        // What the context holds now: a late job still leaves its decoded
        // prefix for the next prompt that shares it.
        cached.extend_from_slice(chunk);
        if job.late() {
            return Err(LlmError::Timeout {
                elapsed_ms: started.elapsed().as_millis() as u64,
            });
        }
    }
    Ok(Prefilled {
        batch,
        keep,
        prompt_ms: started.elapsed().as_secs_f64() * 1e3,
        started,
    })
}

/// The tokens each choice adds after `tokens` (the whole prompt), or an
/// error when a choice would change how the prompt itself is cut.
fn choice_tokens(
    model: &LlamaModel,
    prompt: &str,
    tokens: &[LlamaToken],
    choices: &[String],
) -> Result<Vec<Vec<LlamaToken>>> {
    let vocab = model.vocab();
    choices
        .iter()
        .map(|c| {
            let with = vocab.tokenize(format!("{prompt}{c}").as_bytes(), false, true);
            match with.strip_prefix(tokens) {
                Some(rest) if !rest.is_empty() => Ok(rest.to_vec()),
                _ => Err(LlmError::Runtime(format!(
                    "the choice {c:?} does not extend the prompt's tokens"
                ))),
            }
        })
        .collect()
}

/// `logits[token]` as a natural-log probability.
fn log_softmax_at(logits: &[f32], token: LlamaToken) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_z = max
        + logits
            .iter()
            .map(|&l| (l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    logits
        .get(token.0 as usize)
        .map_or(f64::NEG_INFINITY, |&l| l as f64 - log_z)
}

/// One forward pass over the prompt; the log-probability of each choice
/// after it: read at the last position for a one-token choice (LlamaRec's
/// verbalizer), summed over its tokens for a longer one (each decoded after
/// the shared prompt, then dropped from the cache).
pub(super) fn score(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    job: &Job,
    req: &ScoreRequest,
    (prompt, tokens): (String, Vec<LlamaToken>),
    cached: &mut Vec<LlamaToken>,
) -> Result<Scores> {
    let (tokens, wanted) = match choice_tokens(model, &prompt, &tokens, &req.choices) {
        Ok(w) => (tokens, w),
        // A tokenizer that joins a space to the word after it (`▁1`): the
        // prompt's trailing space moves into the choices.
        Err(e) => {
            let Some(trimmed) = prompt.strip_suffix(' ') else {
                return Err(e);
            };
            let shorter = model.vocab().tokenize(trimmed.as_bytes(), false, true);
            let spaced: Vec<String> = req.choices.iter().map(|c| format!(" {c}")).collect();
            let w = choice_tokens(model, trimmed, &shorter, &spaced)?;
            (shorter, w)
        }
    };
    let longest = wanted.iter().map(Vec::len).max().unwrap_or(1);
    let p = prefill(ctx, job, &tokens, cached, longest)?;
    let last: Vec<f32> = ctx.get_logits_ith(p.batch.n_tokens() - 1).to_vec();
    let mut logprobs = Vec::with_capacity(wanted.len());
    let mut batch = LlamaBatch::new(longest.max(1), 1);
    for choice in &wanted {
        let mut lp = log_softmax_at(&last, choice[0]);
        if choice.len() > 1 {
            batch.clear();
            for (i, t) in choice[..choice.len() - 1].iter().enumerate() {
                batch
                    .add(*t, (tokens.len() + i) as i32, &[0], true)
                    .map_err(|e| rt("batch", &e))?;
            }
            ctx.decode(&mut batch)
                .map_err(|e| rt("choice decode", &e))?;
            for (i, t) in choice[1..].iter().enumerate() {
                lp += log_softmax_at(ctx.get_logits_ith(i as i32), *t);
            }
            // Drop the choice again: the context holds the prompt only.
            if !ctx
                .clear_kv_cache_seq(Some(0), Some(tokens.len() as u32), None)
                .unwrap_or(false)
            {
                ctx.clear_kv_cache();
                cached.clear();
            }
            if job.late() {
                return Err(LlmError::Timeout {
                    elapsed_ms: p.started.elapsed().as_millis() as u64,
                });
            }
        }
        logprobs.push(lp);
    }
    Ok(Scores {
        logprobs,
        prompt_tokens: tokens.len() as u32,
        cached_tokens: p.keep as u32,
        prompt_ms: p.started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Decodes the prompt, then generates under the request's grammar.
pub(super) fn generate(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    job: &Job,
    req: &CompletionRequest,
    (_, tokens): (String, Vec<LlamaToken>),
    cached: &mut Vec<LlamaToken>,
) -> Result<Completion> {
    let vocab = model.vocab();
    let Prefilled {
        mut batch,
        keep,
        prompt_ms,
        started,
    } = prefill(ctx, job, &tokens, cached, req.max_tokens as usize)?;
    let mut samplers = Vec::new();
    if let Some(f) = &req.format {
        samplers.push(
            LlamaSampler::grammar(model, &f.grammar, "root")
                .map_err(|e| rt("grammar", &format!("{e:?}")))?,
        );
    }
    if req.temperature > 0.0 {
        samplers.push(LlamaSampler::top_k(40));
        samplers.push(LlamaSampler::temp(req.temperature));
        samplers.push(LlamaSampler::dist(0x5eed));
    } else {
        samplers.push(LlamaSampler::greedy());
    }
    let mut sampler = LlamaSampler::chain_simple(samplers);
    let gen_started = Instant::now();
    let mut text = String::new();
    let mut bytes = Vec::new();
    let mut n_cur = tokens.len();
    let mut generated = 0u32;
    let mut last = batch.n_tokens() - 1;
    let finish = loop {
        if generated >= req.max_tokens {
            break Finish::Length;
        }
        let token = sampler.sample(ctx, last);
        if vocab.is_eog(token) {
            break Finish::Stop;
        }
        generated += 1;
        bytes.extend(vocab.token_to_piece(token, false, None));
        // Hand over only complete UTF-8; keep a split character for the next token.
        let valid = match std::str::from_utf8(&bytes) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        if valid > 0 {
            let piece = String::from_utf8_lossy(&bytes[..valid]).into_owned();
            bytes.drain(..valid);
            text.push_str(&piece);
            let _ = job.events.send(Event::Token(piece));
        }
        if job.late() {
            return Err(LlmError::Timeout {
                elapsed_ms: started.elapsed().as_millis() as u64,
            });
        }
        batch.clear();
        batch
            .add(token, n_cur as i32, &[0], true)
            .map_err(|e| rt("batch", &e))?;
        n_cur += 1;
        last = 0;
        ctx.decode(&mut batch).map_err(|e| rt("decode", &e))?;
        cached.push(token);
    };
    Ok(Completion {
        text,
        tool_calls: Vec::new(),
        finish,
        prompt_tokens: tokens.len() as u32,
        cached_tokens: keep as u32,
        completion_tokens: generated,
        prompt_ms,
        generation_ms: gen_started.elapsed().as_secs_f64() * 1e3,
    })
}
