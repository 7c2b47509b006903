//! Any OpenAI-compatible `POST /v1/chat/completions` endpoint (OpenAI,
//! Mistral, DeepSeek, vLLM, Ollama, llama.cpp server, LM Studio): JSON-schema
//! structured output, tool calls, streaming, retries with backoff, and the
//! stage deadline as the request timeout.

use crate::error::{LlmError, Result};
use crate::message::{Completion, CompletionRequest, Finish, Message, Role, ToolCall};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::BufRead;
use std::time::{Duration, Instant};

/// Options of the remote provider.
#[derive(Debug, Clone)]
pub struct OpenAiOptions {
    /// Base URL, e.g. `https://api.openai.com` or `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Model name sent in the request.
    pub model: String,
    /// API key (read from the environment variable the configuration names).
    pub api_key: Option<String>,
    /// Stream the answer (server-sent events) so a slow answer can be shown as
    /// it comes and cut at the deadline.
    pub stream: bool,
    /// Retries on transport errors, 429 and 5xx, while the deadline allows.
    pub max_retries: u32,
    /// First backoff delay (doubled each retry).
    pub backoff: Duration,
}

/// The remote chat-completions provider.
#[derive(Debug)]
pub struct OpenAiChat {
    options: OpenAiOptions,
    agent: ureq::Agent,
    url: String,
}

impl OpenAiChat {
    /// A client; nothing is sent until the first completion.
    pub fn new(options: OpenAiOptions) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!(
            "{}/v1/chat/completions",
            options.base_url.trim_end_matches('/')
        );
        Self {
            options,
            agent,
            url,
        }
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.options.model
    }

    fn body(&self, req: &CompletionRequest) -> Value {
        let messages: Vec<Value> = req.messages.iter().map(wire_message).collect();
        let mut body = json!({
            "model": self.options.model,
            "messages": messages,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "stream": self.options.stream,
        });
        if let Some(f) = &req.format {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": { "name": f.name, "schema": f.schema, "strict": true },
            });
        }
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": t.name,
                            "description": t.description,
                            "parameters": t.parameters,
                        },
                    })
                })
                .collect();
        }
        body
    }

    /// Runs one completion; `on_token` sees streamed text as it comes.
    pub fn complete(
        &self,
        req: CompletionRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        let started = Instant::now();
        let body = self.body(&req).to_string();
        let timeout = |started: Instant| LlmError::Timeout {
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        let mut delay = self.options.backoff;
        let mut attempt = 0;
        loop {
            let left = req.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout(started));
            }
            let mut call = self
                .agent
                .post(&self.url)
                .header("content-type", "application/json");
            if let Some(key) = &self.options.api_key {
                call = call.header("authorization", format!("Bearer {key}"));
            }
            let call = call.config().timeout_global(Some(left)).build();
            let err = match call.send(body.as_str()) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        let result = if self.options.stream {
                            self.read_stream(resp, req.deadline, on_token)
                        } else {
                            let mut resp = resp;
                            match resp.body_mut().read_to_string() {
                                Ok(text) => parse_completion(&text),
                                Err(e) => Err(self.transport(e, req.deadline)),
                            }
                        };
                        return result.map(|mut c| {
                            c.generation_ms = started.elapsed().as_secs_f64() * 1e3;
                            c
                        });
                    }
                    let mut resp = resp;
                    let text = resp
                        .body_mut()
                        .read_to_string()
                        .unwrap_or_default()
                        .chars()
                        .take(300)
                        .collect::<String>();
                    let e = LlmError::Http {
                        url: self.url.clone(),
                        status,
                        body: text,
                    };
                    if status != 429 && status < 500 {
                        return Err(e); // the request itself is wrong: no retry helps
                    }
                    e
                }
                Err(e) => self.transport(e, req.deadline),
            };
            if matches!(err, LlmError::Timeout { .. }) || attempt >= self.options.max_retries {
                return Err(err);
            }
            attempt += 1;
            let left = req.deadline.saturating_duration_since(Instant::now());
            if delay >= left {
                return Err(err);
            }
            tracing::warn!(url = %self.url, attempt, error = %err, "retrying the LLM call");
            std::thread::sleep(delay);
            delay *= 2;
        }
    }

    fn transport(&self, e: impl std::fmt::Display, deadline: Instant) -> LlmError {
        let reason = e.to_string();
        if Instant::now() >= deadline || reason.to_lowercase().contains("timeout") {
            return LlmError::Timeout {
                elapsed_ms: 0, // filled by the caller's clock
            };
        }
        LlmError::Transport {
            url: self.url.clone(),
            reason,
        }
    }

    fn read_stream(
        &self,
        resp: ureq::http::Response<ureq::Body>,
        deadline: Instant,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        let reader = std::io::BufReader::new(resp.into_body().into_reader());
        let mut text = String::new();
        let mut calls: Vec<(String, String, String)> = Vec::new();
        let mut finish = None;
        let mut usage = (0, 0);
        for line in reader.lines() {
            let line = line.map_err(|e| self.transport(e, deadline))?;
            if Instant::now() >= deadline {
                return Err(LlmError::Timeout { elapsed_ms: 0 });
            }
            if crate::cancel::requested() {
                return Err(LlmError::Cancelled);
            }
            let Some(data) = line.strip_prefix("data:") else {
                continue; // comments, event names, keep-alives
            };
            let data = data.trim();
            if data == "[DONE]" {
                break;
            }
            let chunk: StreamChunk = serde_json::from_str(data)
                .map_err(|e| LlmError::Malformed(format!("stream chunk: {e}")))?;
            if let Some(u) = chunk.usage {
                usage = (u.prompt_tokens, u.completion_tokens);
            }
            for choice in chunk.choices {
                if let Some(t) = choice.delta.content
                    && !t.is_empty()
                {
                    on_token(&t);
                    text.push_str(&t);
                }
                for tc in choice.delta.tool_calls {
                    let i = tc.index.unwrap_or(calls.len().saturating_sub(1));
                    while calls.len() <= i {
                        calls.push(Default::default());
                    }
                    if let Some(id) = tc.id {
                        calls[i].0 = id;
                    }
                    if let Some(f) = tc.function {
                        if let Some(n) = f.name {
                            calls[i].1.push_str(&n);
                        }
                        if let Some(a) = f.arguments {
                            calls[i].2.push_str(&a);
                        }
                    }
                }
                if let Some(f) = choice.finish_reason {
                    finish = Some(f);
                }
            }
        }
        let Some(finish) = finish else {
            return Err(LlmError::Malformed(
                "the stream ended without a finish reason".into(),
            ));
        };
        Ok(Completion {
            text,
            tool_calls: calls
                .into_iter()
                .map(|(id, name, arguments)| ToolCall {
                    id,
                    name,
                    arguments,
                })
                .collect(),
            finish: finish_of(&finish),
            prompt_tokens: usage.0,
            completion_tokens: usage.1,
            cached_tokens: 0,
            prompt_ms: 0.0,
            generation_ms: 0.0,
        })
    }
}

fn wire_message(m: &Message) -> Value {
    let mut v = json!({ "role": m.role.as_str(), "content": m.content });
    if m.role == Role::Assistant && !m.tool_calls.is_empty() {
        v["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": { "name": c.name, "arguments": c.arguments },
                })
            })
            .collect();
    }
    if let Some(id) = &m.tool_call_id {
        v["tool_call_id"] = json!(id);
    }
    v
}

fn finish_of(s: &str) -> Finish {
    match s {
        "length" => Finish::Length,
        "tool_calls" | "function_call" => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

#[derive(Deserialize)]
struct Reply {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireCall>,
}

#[derive(Deserialize)]
struct WireCall {
    #[serde(default)]
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct StreamChoice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<DeltaCall>,
}

#[derive(Deserialize)]
struct DeltaCall {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

fn parse_completion(text: &str) -> Result<Completion> {
    let reply: Reply = serde_json::from_str(text).map_err(|e| {
        LlmError::Malformed(format!(
            "not a chat completion ({e}): {}",
            text.chars().take(120).collect::<String>()
        ))
    })?;
    let Some(choice) = reply.choices.into_iter().next() else {
        return Err(LlmError::Malformed("no choices in the answer".into()));
    };
    let usage = reply.usage.unwrap_or_default();
    Ok(Completion {
        text: choice.message.content.unwrap_or_default(),
        tool_calls: choice
            .message
            .tool_calls
            .into_iter()
            .map(|c| ToolCall {
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
            })
            .collect(),
        finish: finish_of(choice.finish_reason.as_deref().unwrap_or("stop")),
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        cached_tokens: 0,
        prompt_ms: 0.0,
        generation_ms: 0.0,
    })
}
