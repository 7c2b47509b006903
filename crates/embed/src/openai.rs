//! Any OpenAI-compatible `POST /v1/embeddings` endpoint.

use crate::error::{EmbedError, Result};
use crate::{Embedder, normalize};
use serde::Deserialize;
use std::time::Duration;

/// Options of the remote embedder.
#[derive(Debug, Clone)]
pub struct OpenAiOptions {
    /// Base URL, e.g. `https://api.openai.com` or `http://127.0.0.1:11434` (Ollama).
    pub base_url: String,
    /// Model name sent in the request.
    pub model: String,
    /// Vector dimension the model returns.
    pub dim: usize,
    /// API key, if the endpoint needs one (read from the environment by the caller).
    pub api_key: Option<String>,
    /// Texts per request.
    pub batch_size: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries on timeouts, 429 and 5xx, with exponential backoff from `backoff`.
    pub max_retries: u32,
    /// First backoff delay.
    pub backoff: Duration,
}

/// Client of an OpenAI-compatible embeddings endpoint.
pub struct OpenAiEmbedder {
    options: OpenAiOptions,
    agent: ureq::Agent,
    url: String,
    id: String,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    /// A client; no request is made until the first `embed`.
    pub fn new(options: OpenAiOptions) -> Result<Self> {
        if options.batch_size == 0 || options.dim == 0 || options.model.is_empty() {
            return Err(EmbedError::Options(
                "embedding endpoint needs a model, a dimension and a batch size".into(),
            ));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(options.timeout))
            .build()
            .into();
        let url = format!("{}/v1/embeddings", options.base_url.trim_end_matches('/'));
        let id = format!("openai:{}", options.model);
        Ok(Self {
            options,
            agent,
            url,
            id,
        })
    }

    fn fail(&self, reason: impl Into<String>) -> EmbedError {
        EmbedError::Remote {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }

    fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let body = serde_json::json!({ "model": self.options.model, "input": texts }).to_string();
        let mut delay = self.options.backoff;
        let mut attempt = 0;
        loop {
            let mut req = self
                .agent
                .post(&self.url)
                .header("content-type", "application/json");
            if let Some(key) = &self.options.api_key {
                req = req.header("authorization", format!("Bearer {key}"));
            }
            let retry = match req.send(body.as_str()) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let text = resp.body_mut().read_to_string().unwrap_or_default();
                    match status {
                        200..=299 => return self.parse(&text, texts.len()),
                        429 | 500..=599 => format!("HTTP {status}"),
                        _ => return Err(self.fail(format!("HTTP {status}: {}", excerpt(&text)))),
                    }
                }
                Err(e) => e.to_string(),
            };
            if attempt >= self.options.max_retries {
                return Err(self.fail(format!("{retry} (after {} attempts)", attempt + 1)));
            }
            attempt += 1;
            std::thread::sleep(delay);
            delay *= 2;
        }
    }

    fn parse(&self, text: &str, n: usize) -> Result<Vec<Vec<f32>>> {
        let resp: Response = serde_json::from_str(text)
            .map_err(|e| self.fail(format!("malformed response: {e}")))?;
        let mut out = vec![Vec::new(); n];
        for d in resp.data {
            if d.index >= n || !out[d.index].is_empty() {
                return Err(self.fail(format!("response has a bad or repeated index {}", d.index)));
            }
            if d.embedding.len() != self.options.dim {
                return Err(self.fail(format!(
                    "vector of dimension {}, configured {}",
                    d.embedding.len(),
                    self.options.dim
                )));
            }
            let mut v = d.embedding;
            normalize(&mut v);
            out[d.index] = v;
        }
        if out.iter().any(Vec::is_empty) {
            return Err(self.fail("response lacks vectors for some inputs"));
        }
        Ok(out)
    }
}

fn excerpt(s: &str) -> String {
    s.chars().take(200).collect()
}

impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.options.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.options.batch_size) {
            out.extend(self.request(chunk)?);
        }
        Ok(out)
    }
}
