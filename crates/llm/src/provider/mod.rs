//! The closed set of LLM providers, one file each, and how configuration
//! picks them.

pub mod local;
pub mod off;
pub mod openai;

use crate::error::{LlmError, Result};
use crate::message::{Completion, CompletionRequest, ScoreRequest, Scores};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use local::{LocalLlama, LocalOptions};
pub use off::Off;
pub use openai::{OpenAiChat, OpenAiOptions};

/// A loaded provider.
#[derive(Debug)]
pub enum Provider {
    /// llama.cpp in process.
    Local(LocalLlama),
    /// An OpenAI-compatible HTTP endpoint.
    OpenAi(OpenAiChat),
    /// No model.
    Off(Off),
}

impl Provider {
    /// The model name recorded on responses (`local:<file>`, `openai:<model>`, `off`).
    pub fn model_id(&self) -> String {
        match self {
            Provider::Local(l) => format!("local:{}", l.name()),
            Provider::OpenAi(o) => format!("openai:{}", o.model()),
            Provider::Off(_) => "off".into(),
        }
    }

    /// Whether calls can succeed at all.
    pub fn is_off(&self) -> bool {
        matches!(self, Provider::Off(_))
    }

    /// Whether prompts leave this machine (a hosted endpoint).
    pub fn is_remote(&self) -> bool {
        matches!(self, Provider::OpenAi(_))
    }

    /// Whether it can call tools through the protocol (remote providers).
    pub fn supports_tools(&self) -> bool {
        matches!(self, Provider::OpenAi(_))
    }

    /// Whether it can score choices in one forward pass ([`Provider::score`]:
    /// the local model, whose next-token probabilities it reads).
    pub fn supports_scoring(&self) -> bool {
        matches!(self, Provider::Local(_))
    }

    /// The log-probability of each choice as the next token after the
    /// prompt; `Malformed` for providers that cannot score.
    pub fn score(&self, req: ScoreRequest) -> Result<Scores> {
        match self {
            Provider::Local(l) => l.score(req),
            Provider::OpenAi(_) => Err(LlmError::Malformed(
                "this endpoint does not score choices".into(),
            )),
            Provider::Off(_) => Err(LlmError::Off),
        }
    }

    /// One completion, streaming text to `on_token` as it is made.
    pub fn complete(
        &self,
        req: CompletionRequest,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Completion> {
        match self {
            Provider::Local(l) => l.complete(req, on_token),
            Provider::OpenAi(o) => o.complete(req, on_token),
            Provider::Off(o) => o.complete(req),
        }
    }
}

/// How to reach one model (a `[llm.small]` or `[llm.large]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProviderConfig {
    /// A GGUF run by llama.cpp.
    Local {
        /// The GGUF file, or the folder `sommelier models fetch` made
        /// (relative paths are under the data directory). Default: SmolLM2.
        #[serde(default = "default_local_path")]
        path: PathBuf,
        /// Threads per worker (default 2: fastest on an idle 2-core machine;
        /// 1 keeps generation steady when other work holds a core, see
        /// docs/benchmarks.md).
        #[serde(default = "two")]
        threads: u32,
        /// Workers (contexts) answering at once.
        #[serde(default = "one")]
        workers: u32,
        /// Context length in tokens.
        #[serde(default = "default_context")]
        context: u32,
        /// Prompt tokens per decode batch.
        #[serde(default = "default_batch")]
        batch: u32,
    },
    /// An OpenAI-compatible chat-completions endpoint.
    Openai {
        /// Base URL (without `/v1/...`).
        base_url: String,
        /// Model name.
        model: String,
        /// Environment variable holding the API key (none: no key sent).
        #[serde(default)]
        api_key_env: Option<String>,
        /// Stream answers (server-sent events).
        #[serde(default = "yes")]
        stream: bool,
        /// Retries on transport errors, 429 and 5xx, within the deadline.
        #[serde(default = "two")]
        max_retries: u32,
        /// First backoff, milliseconds.
        #[serde(default = "default_backoff_ms")]
        backoff_ms: u64,
    },
    /// No model: classical mode.
    Off,
}

/// Reads a provider table; one without `provider` is a local model, so
/// `[llm.small] threads = 2` (or `SOMMELIER__LLM__SMALL__THREADS=2`) works alone.
pub(crate) fn local_unless_named<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<ProviderConfig, D::Error> {
    use serde::de::Error;
    named(serde_json::Value::deserialize(d)?).map_err(D::Error::custom)
}

/// [`local_unless_named`] for an optional table (a null, as the section
/// serialises without one, is none).
pub(crate) fn some_local_unless_named<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<ProviderConfig>, D::Error> {
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    named(v).map(Some).map_err(D::Error::custom)
}

/// A provider table, `local` when it names none.
fn named(mut v: serde_json::Value) -> serde_json::Result<ProviderConfig> {
    if let Some(m) = v.as_object_mut() {
        m.entry("provider").or_insert_with(|| "local".into());
    }
    ProviderConfig::deserialize(v)
}

fn default_local_path() -> PathBuf {
    PathBuf::from("models/SmolLM2-135M-Instruct")
}
fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn yes() -> bool {
    true
}
fn default_context() -> u32 {
    2048
}
fn default_batch() -> u32 {
    512
}
fn default_backoff_ms() -> u64 {
    100
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig::Local {
            path: default_local_path(),
            threads: 2,
            workers: 1,
            context: default_context(),
            batch: default_batch(),
        }
    }
}

impl ProviderConfig {
    /// Loads the provider. `data_dir` anchors relative model paths. A missing
    /// API key variable is an error here, at start, not at the first request.
    pub fn load(&self, data_dir: &Path) -> Result<Provider> {
        match self {
            ProviderConfig::Local {
                path,
                threads,
                workers,
                context,
                batch,
            } => {
                let full = if path.is_absolute() {
                    path.clone()
                } else {
                    data_dir.join(path)
                };
                let file = local::find_gguf(&full).ok_or_else(|| LlmError::Load {
                    path: full.clone(),
                    reason: "no .gguf file there (fetch it with `sommelier models fetch smollm2-135m-instruct`)".into(),
                })?;
                Ok(Provider::Local(LocalLlama::load(LocalOptions {
                    model_path: file,
                    name: None,
                    threads: *threads,
                    workers: *workers,
                    context: *context,
                    batch: *batch,
                })?))
            }
            ProviderConfig::Openai {
                base_url,
                model,
                api_key_env,
                stream,
                max_retries,
                backoff_ms,
            } => {
                let api_key = match api_key_env {
                    Some(var) => Some(std::env::var(var).map_err(|_| LlmError::Load {
                        path: PathBuf::from(base_url),
                        reason: format!("the API key variable {var} is not set"),
                    })?),
                    None => None,
                };
                Ok(Provider::OpenAi(OpenAiChat::new(OpenAiOptions {
                    base_url: base_url.clone(),
                    model: model.clone(),
                    api_key,
                    stream: *stream,
                    max_retries: *max_retries,
                    backoff: Duration::from_millis(*backoff_ms),
                })))
            }
            ProviderConfig::Off => Ok(Provider::Off(Off)),
        }
    }
}
