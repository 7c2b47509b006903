//! Versioned prompt templates. Each template is a text file whose first line
//! says its version (`version: rerank-v1`) and whose `### system` and
//! `### user` headings open the two messages; `{{name}}` marks a variable.
//! The defaults are compiled in from `crates/llm/prompts/`; a folder named by
//! `llm.prompts_dir` overrides any of them by file name, and the version it
//! declares is the one recorded on responses.

use crate::error::{LlmError, Result};
use crate::message::{Message, Role};
use std::collections::BTreeMap;
use std::path::Path;

/// The templates the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TemplateName {
    /// Request → typed intent.
    Intent,
    /// Candidates → picks, rationales, follow-up questions.
    Rerank,
    /// Tool facts → a short answer.
    Reply,
}

impl TemplateName {
    /// All templates.
    pub const ALL: [TemplateName; 3] = [
        TemplateName::Intent,
        TemplateName::Rerank,
        TemplateName::Reply,
    ];

    /// File name in a prompts folder.
    pub fn file(self) -> &'static str {
        match self {
            TemplateName::Intent => "intent.v1.txt",
            TemplateName::Rerank => "rerank.v1.txt",
            TemplateName::Reply => "reply.v1.txt",
        }
    }

    fn builtin(self) -> &'static str {
        match self {
            TemplateName::Intent => include_str!("../prompts/intent.v1.txt"),
            TemplateName::Rerank => include_str!("../prompts/rerank.v1.txt"),
            TemplateName::Reply => include_str!("../prompts/reply.v1.txt"),
        }
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Declared version.
    pub version: String,
    system: String,
    user: String,
}

impl Template {
    /// Parses template text; `name` is for errors.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let bad = |reason: &str| LlmError::Template {
            name: name.into(),
            reason: reason.into(),
        };
        let mut lines = text.lines();
        let version = lines
            .next()
            .and_then(|l| l.strip_prefix("version:"))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad("the first line must be `version: <name>`"))?;
        let rest: Vec<&str> = lines.collect();
        let at = |h: &str| rest.iter().position(|l| l.trim() == h);
        let (Some(s), Some(u)) = (at("### system"), at("### user")) else {
            return Err(bad("needs a `### system` and a `### user` heading"));
        };
        if u < s {
            return Err(bad("`### system` must come before `### user`"));
        }
        Ok(Self {
            version,
            system: rest[s + 1..u].join("\n").trim().to_string(),
            user: rest[u + 1..].join("\n").trim().to_string(),
        })
    }

    /// The system and user messages with `vars` filled in. A variable the
    /// template names but `vars` lacks is left empty.
    pub fn render(&self, vars: &[(&str, &str)]) -> Vec<Message> {
        let fill = |t: &str| {
            let mut out = String::with_capacity(t.len() + 256);
            let mut rest = t;
            while let Some(i) = rest.find("{{") {
                out.push_str(&rest[..i]);
                let after = &rest[i + 2..];
                match after.find("}}") {
                    Some(j) => {
                        let key = after[..j].trim();
                        if let Some((_, v)) = vars.iter().find(|(k, _)| *k == key) {
                            out.push_str(v);
                        }
                        rest = &after[j + 2..];
                    }
                    None => {
                        out.push_str(&rest[i..]);
                        rest = "";
                    }
                }
            }
            out.push_str(rest);
            out
        };
        vec![
            Message::new(Role::System, fill(&self.system)),
            Message::new(Role::User, fill(&self.user)),
        ]
    }
}

/// The loaded set of templates.
#[derive(Debug, Clone)]
pub struct Prompts {
    templates: BTreeMap<TemplateName, Template>,
}

impl Prompts {
    /// The compiled-in templates, overridden by files of the same name in
    /// `dir` when given.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut templates = BTreeMap::new();
        for name in TemplateName::ALL {
            let over = dir.map(|d| d.join(name.file())).filter(|p| p.is_file());
            let t = match over {
                Some(p) => {
                    let text = std::fs::read_to_string(&p).map_err(|e| LlmError::Template {
                        name: p.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    Template::parse(&p.display().to_string(), &text)?
                }
                None => Template::parse(name.file(), name.builtin())?,
            };
            templates.insert(name, t);
        }
        Ok(Self { templates })
    }

    /// One template.
    pub fn get(&self, name: TemplateName) -> &Template {
        &self.templates[&name]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_render() {
        let p = Prompts::load(None).unwrap();
        let t = p.get(TemplateName::Rerank);
        assert_eq!(t.version, "rerank-v1");
        let m = t.render(&[("request", "funny films"), ("persona", "a film buff")]);
        assert!(m[0].content.starts_with("You are a film buff."));
        assert!(m[1].content.contains("Request: funny films"));
        assert!(!m[1].content.contains("{{"));
    }

    #[test]
    fn a_folder_overrides_by_file_name_and_its_version_is_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rerank.v1.txt"),
            "version: rerank-shop-3\n### system\nBe brief.\n### user\n{{request}}\n",
        )
        .unwrap();
        let p = Prompts::load(Some(dir.path())).unwrap();
        assert_eq!(p.get(TemplateName::Rerank).version, "rerank-shop-3");
        assert_eq!(p.get(TemplateName::Intent).version, "intent-v1");
    }

    #[test]
    fn a_broken_template_is_refused_with_its_name() {
        let err = Template::parse("x.txt", "### system\nhi\n### user\n").unwrap_err();
        assert!(err.to_string().contains("x.txt"), "{err}");
        assert!(Template::parse("y.txt", "version: a\n### user\nu\n### system\ns").is_err());
    }
}
