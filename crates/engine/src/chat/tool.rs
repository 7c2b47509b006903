//! A tool turn: a question about an item or a policy. A model that can call
//! tools (a remote provider) chooses and calls them itself; otherwise the
//! router's call runs and the small model phrases the facts — and a phrased
//! answer may only state numbers the facts hold.

use super::reply::{channel_text, facts_text};
use super::tools::CatalogTools;
use super::turn::Turn;
use super::{ChatEvent, ChatResponse, ToolUse};
use crate::pipeline::ms;
use serde_json::Value;
use sommelier_llm::grounded::numbers_grounded;
use sommelier_llm::tools::ToolHost;
use std::time::{Duration, Instant};

/// What a tool answer offers to ask next.
fn tool_follow_ups() -> Vec<String> {
    vec![
        "Show me something similar?".into(),
        "Anything cheaper?".into(),
    ]
}

impl Turn<'_> {
    /// Answers the tool question `name` (the router's pick, with `args`).
    pub(super) fn tool(
        &mut self,
        name: &'static str,
        args: Value,
        response: &mut ChatResponse,
        on_event: &mut dyn FnMut(ChatEvent),
    ) {
        let t = Instant::now();
        let host = CatalogTools {
            snapshot: self.pipeline.snapshot.clone(),
        };
        let budget =
            || Instant::now() + Duration::from_millis(self.llm.config().rerank_deadline_ms);
        let context = self
            .shown
            .iter()
            .enumerate()
            .map(|(n, (id, title))| format!("shown item {}: \"{title}\" (id {id})", n + 1))
            .collect::<Vec<_>>()
            .join("\n");
        if let (Some((text, traces)), report) =
            self.llm
                .answer_with_tools(&self.prompt_message, &context, &host, budget())
        {
            self.timings.insert("llm_tools", ms(t));
            response.llm.used = true;
            response.llm.reply = Some(report);
            response.reply = channel_text(self.req.channel, &text);
            response.tool = traces.into_iter().next().map(|tr| ToolUse {
                name: tr.name,
                args: tr.args,
                result: tr.result,
            });
            response.follow_ups = tool_follow_ups();
            return;
        }
        let result = host.call(name, &args);
        self.timings.insert("tool", ms(t));
        let facts = facts_text(name, &result);
        let t = Instant::now();
        let (text, report) = self
            .llm
            .reply(&self.prompt_message, &facts, budget(), &mut |s| {
                on_event(ChatEvent::Token {
                    text: s.to_string(),
                })
            });
        self.timings.insert("llm_reply", ms(t));
        let text = text.filter(|t| numbers_grounded(t, &facts));
        response.llm.used = text.is_some();
        if text.is_none() && report.fallback.is_none() {
            response.fallback = Some("gate:ungrounded_fact".into());
        } else {
            response.fallback = report.fallback.clone();
        }
        response.llm.reply = Some(report);
        response.reply = channel_text(self.req.channel, &text.unwrap_or(facts));
        response.tool = Some(ToolUse {
            name: name.to_string(),
            args,
            result,
        });
        response.follow_ups = tool_follow_ups();
    }
}
