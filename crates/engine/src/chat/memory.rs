//! Long-term preferences, kept only for users whose consent allows it
//! (`consent.long_term_memory`): categories asked for and excluded, with
//! counts, and recent requests. It is summarised when long: the counts keep
//! the top entries, the requests the newest, and the summary sentence is what
//! prompts see.

use crate::Result;
use serde::{Deserialize, Serialize};
use sommelier_llm::intent::Intent;
use sommelier_store::Store;
use std::collections::BTreeMap;

const KEEP_COUNTS: usize = 12;
const KEEP_REQUESTS: usize = 10;

/// What is remembered of a user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Memory {
    #[serde(default)]
    likes: BTreeMap<String, u32>,
    #[serde(default)]
    dislikes: BTreeMap<String, u32>,
    #[serde(default)]
    requests: Vec<String>,
}

/// A user's memory as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MemoryView {
    /// Categories asked for, with counts.
    pub likes: BTreeMap<String, u32>,
    /// Categories excluded, with counts.
    pub dislikes: BTreeMap<String, u32>,
    /// Recent requests, newest last.
    pub requests: Vec<String>,
    /// The sentence prompts see.
    pub summary: String,
}

fn prune(m: &mut BTreeMap<String, u32>) {
    if m.len() > KEEP_COUNTS {
        let mut v: Vec<(String, u32)> = std::mem::take(m).into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(KEEP_COUNTS);
        *m = v.into_iter().collect();
    }
}

fn top(m: &BTreeMap<String, u32>, n: usize) -> Vec<&str> {
    let mut v: Vec<(&String, &u32)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.into_iter().take(n).map(|(k, _)| k.as_str()).collect()
}

impl Memory {
    pub(crate) fn load(store: &dyn Store, user: &str) -> Result<Option<Self>> {
        Ok(store
            .user_memory(user)?
            .and_then(|b| serde_json::from_str(&b).ok()))
    }

    pub(crate) fn save(&self, store: &dyn Store, user: &str, at_ms: i64) -> Result<()> {
        let body = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        store.put_user_memory(user, &body, at_ms)?;
        Ok(())
    }

    /// Learns from one request.
    pub(crate) fn learn(&mut self, intent: &Intent, message: &str) {
        for c in &intent.categories {
            *self.likes.entry(c.clone()).or_default() += 1;
            self.dislikes.remove(c);
        }
        for c in &intent.exclude {
            *self.dislikes.entry(c.clone()).or_default() += 1;
        }
        self.requests.push(message.chars().take(200).collect());
        if self.requests.len() > KEEP_REQUESTS {
            let drop = self.requests.len() - KEEP_REQUESTS;
            self.requests.drain(..drop);
        }
        prune(&mut self.likes);
        prune(&mut self.dislikes);
    }

    /// Categories excluded at least twice: they apply to later requests.
    pub(crate) fn dislikes(&self) -> Vec<String> {
        self.dislikes
            .iter()
            .filter(|(_, n)| **n >= 2)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// One sentence for prompts.
    pub(crate) fn summary(&self) -> String {
        let mut parts = Vec::new();
        let likes = top(&self.likes, 3);
        if !likes.is_empty() {
            parts.push(format!("often asks for {}", likes.join(", ")));
        }
        let dis = top(&self.dislikes, 3);
        if !dis.is_empty() {
            parts.push(format!("avoids {}", dis.join(", ")));
        }
        parts.join("; ")
    }

    pub(crate) fn view(&self) -> MemoryView {
        MemoryView {
            likes: self.likes.clone(),
            dislikes: self.dislikes.clone(),
            requests: self.requests.clone(),
            summary: self.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_prunes_and_summarises() {
        let mut m = Memory::default();
        for i in 0..20 {
            let intent = Intent {
                categories: vec![format!("C{i}"), "Comedy".into()],
                exclude: vec!["Horror".into()],
                ..Default::default()
            };
            m.learn(&intent, &format!("request {i}"));
        }
        assert_eq!(m.likes.len(), KEEP_COUNTS);
        assert_eq!(m.likes["Comedy"], 20);
        assert_eq!(m.requests.len(), KEEP_REQUESTS);
        assert_eq!(m.requests.last().unwrap(), "request 19");
        assert_eq!(m.dislikes(), vec!["Horror"]);
        assert!(
            m.summary().starts_with("often asks for Comedy"),
            "{}",
            m.summary()
        );
    }
}
