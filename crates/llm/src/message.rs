//! The provider-neutral shape of a chat completion: messages in, text or tool
//! calls out.

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The person (or the data we hand over on their behalf).
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message of a conversation with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Speaker.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Tool calls the assistant made (assistant messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call this message answers (tool messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message without tool fields.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A structured-output constraint: the JSON schema (sent to remote providers)
/// and the equivalent GBNF grammar (used by llama.cpp's sampler).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonFormat {
    /// Schema name (remote providers want one).
    pub name: String,
    /// JSON schema of the answer.
    pub schema: serde_json::Value,
    /// GBNF grammar accepting exactly the answers of the schema.
    pub grammar: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// Function name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON schema of its arguments.
    pub parameters: serde_json::Value,
}

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed in the tool message.
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as JSON text.
    pub arguments: String,
}

/// One completion request.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Constrain the answer to JSON of this schema.
    pub format: Option<JsonFormat>,
    /// Tools offered (remote providers only).
    pub tools: Vec<ToolSpec>,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy, reproducible).
    pub temperature: f32,
    /// When the answer must be in.
    pub deadline: Instant,
    /// The first words of the answer, decoded as part of the prompt and not
    /// returned (local provider only; remote providers ignore it). Generation
    /// continues from there, so a fixed opening costs no generated tokens.
    pub prefix: String,
}

impl CompletionRequest {
    /// A greedy request of `messages` due within `budget`.
    pub fn new(messages: Vec<Message>, max_tokens: u32, budget: Duration) -> Self {
        Self {
            messages,
            format: None,
            tools: Vec::new(),
            max_tokens,
            temperature: 0.0,
            deadline: Instant::now() + budget,
            prefix: String::new(),
        }
    }
}

/// A request to score choices: the messages, then `prefix` as the start of
/// the model's answer, then the probability of each choice as its
/// continuation. One-token choices (` 1`, ` 2`, …) cost one forward pass
/// (LlamaRec's verbalizer); a longer choice adds its own tokens.
#[derive(Debug, Clone)]
pub struct ScoreRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The start of the answer the choices continue (e.g. `The best fit is item`).
    pub prefix: String,
    /// The choices (e.g. `1`, `2`, …), each a continuation of `prefix`.
    pub choices: Vec<String>,
    /// When the scores must be in.
    pub deadline: Instant,
}

/// The scores of a [`ScoreRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Natural-log probability of each choice (the sum over its tokens), in
    /// the order asked; over the whole vocabulary, so they need not sum to one.
    pub logprobs: Vec<f64>,
    /// Tokens of the prompt.
    pub prompt_tokens: u32,
    /// Prompt tokens whose attention state was reused.
    pub cached_tokens: u32,
    /// Milliseconds spent on the prompt.
    pub prompt_ms: f64,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The model ended its answer.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The model asked for tools.
    ToolCalls,
}

/// A completed answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    /// Generated text (empty when only tools were called).
    pub text: String,
    /// Tool calls.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub finish: Finish,
    /// Tokens of the prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
    /// Prompt tokens whose attention state was reused from the previous call
    /// (a shared prefix, local model only): `prompt_tokens - cached_tokens`
    /// were computed.
    pub cached_tokens: u32,
    /// Milliseconds spent on the prompt (local model only; 0 when unknown).
    pub prompt_ms: f64,
    /// Milliseconds spent generating (local) or on the whole call (remote).
    pub generation_ms: f64,
}
