//! Versioned prompt templates. Each template is a text file whose first line
//! says its version (`version: rerank-v2`) and whose `### system` and
//! `### user` headings open the two messages; further `### name` headings
//! open named parts a stage uses as the start of the model's answer (the
//! re-rank's `choose`, `why` and `follow_up`); `{{name}}` marks a variable.
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
    /// Candidates → scores of their numbers, a sentence per pick, follow-up
    /// questions (models that can score choices: the local one).
    Rerank,
    /// Candidates → picks, rationales and follow-up questions as one JSON
    /// answer (models that cannot score choices: remote endpoints).
    RerankJson,
    /// Tool facts → a short answer.
    Reply,
}

impl TemplateName {
    /// All templates.
    pub const ALL: [TemplateName; 4] = [
        TemplateName::Intent,
        TemplateName::Rerank,
        TemplateName::RerankJson,
        TemplateName::Reply,
    ];

    /// File name in a prompts folder.
    pub fn file(self) -> &'static str {
        match self {
            TemplateName::Intent => "intent.v2.txt",
            TemplateName::Rerank => "rerank.v2.txt",
            TemplateName::RerankJson => "rerank.v1.txt",
            TemplateName::Reply => "reply.v1.txt",
        }
    }

    fn builtin(self) -> &'static str {
        match self {
            TemplateName::Intent => include_str!("../prompts/intent.v2.txt"),
            TemplateName::Rerank => include_str!("../prompts/rerank.v2.txt"),
            TemplateName::RerankJson => include_str!("../prompts/rerank.v1.txt"),
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
    parts: BTreeMap<String, String>,
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
        fn heading(l: &str) -> Option<&str> {
            l.trim()
                .strip_prefix("### ")
                .map(str::trim)
                .filter(|h| !h.is_empty() && !h.contains(' '))
        }
        let starts: Vec<(usize, &str)> = rest
            .iter()
            .enumerate()
            .filter_map(|(i, l)| heading(l).map(|h| (i, h)))
            .collect();
        let mut parts = BTreeMap::new();
        for (k, (i, name)) in starts.iter().enumerate() {
            let end = starts.get(k + 1).map_or(rest.len(), |(j, _)| *j);
            if parts
                .insert(name.to_string(), rest[i + 1..end].join("\n"))
                .is_some()
            {
                return Err(bad(&format!("`### {name}` appears twice")));
            }
        }
        let at = |h: &str| starts.iter().position(|(_, n)| *n == h);
        let (Some(s), Some(u)) = (at("system"), at("user")) else {
            return Err(bad("needs a `### system` and a `### user` heading"));
        };
        if u < s {
            return Err(bad("`### system` must come before `### user`"));
        }
        let system = parts
            .remove("system")
            .unwrap_or_default()
            .trim()
            .to_string();
        let user = parts.remove("user").unwrap_or_default().trim().to_string();
        // An answer's start keeps its trailing space, which decides how the
        // next token is cut; only line ends go.
        let parts = parts
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    v.trim_start_matches('\n')
                        .trim_end_matches('\n')
                        .to_string(),
                )
            })
            .collect();
        Ok(Self {
            version,
            system,
            user,
            parts,
        })
    }

    /// The system and user messages with `vars` filled in. A variable the
    /// template names but `vars` lacks is left empty.
    pub fn render(&self, vars: &[(&str, &str)]) -> Vec<Message> {
        vec![
            Message::new(Role::System, fill(&self.system, vars)),
            Message::new(Role::User, fill(&self.user, vars)),
        ]
    }

    /// The named part (`### name`) with `vars` filled in, if the template
    /// has it.
    pub fn part(&self, name: &str, vars: &[(&str, &str)]) -> Option<String> {
        self.parts.get(name).map(|t| fill(t, vars))
    }

    /// Whether the template has every one of `names` as a part.
    pub fn has_parts(&self, names: &[&str]) -> bool {
        names.iter().all(|n| self.parts.contains_key(*n))
    }
}

/// `t` with its `{{name}}` variables filled from `vars`; a variable `vars`
/// lacks is left empty.
fn fill(t: &str, vars: &[(&str, &str)]) -> String {
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
}

/// The loaded set of templates.
#[derive(Debug, Clone)]
pub struct Prompts {
    templates: BTreeMap<TemplateName, Template>,
}

impl Prompts {
    /// The compiled-in templates, overridden by files of the same name in
    /// `dir` when given. A named folder that is missing, or holds none of
    /// the template files, is an error (a mistyped path would otherwise
    /// serve the built-in prompts under the operator's nose).
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        if let Some(d) = dir {
            let bad = |reason: String| LlmError::Template {
                name: d.display().to_string(),
                reason,
            };
            if !d.is_dir() {
                return Err(bad("llm.prompts_dir is not a folder".into()));
            }
            if !TemplateName::ALL.iter().any(|n| d.join(n.file()).is_file()) {
                let files: Vec<&str> = TemplateName::ALL.iter().map(|n| n.file()).collect();
                return Err(bad(format!(
                    "llm.prompts_dir holds none of the template files ({})",
                    files.join(", ")
                )));
            }
        }
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
        for (name, version) in [
            (TemplateName::Rerank, "rerank-v2"),
            (TemplateName::RerankJson, "rerank-v1"),
        ] {
            let t = p.get(name);
            assert_eq!(t.version, version);
            let m = t.render(&[("request", "funny films"), ("persona", "a film buff")]);
            assert!(m[0].content.starts_with("You are a film buff."));
            assert!(m[1].content.contains("Request: funny films"));
            assert!(!m[1].content.contains("{{"));
            assert!(!m[1].content.contains("###"));
        }
        let t = p.get(TemplateName::Rerank);
        assert!(t.has_parts(&["choose", "why", "follow_up"]));
        assert!(t.part("choose", &[]).unwrap().ends_with(' '));
        let why = t
            .part("why", &[("number", "3"), ("title", "Heat")])
            .unwrap();
        assert!(why.contains('3') && why.contains("Heat"), "{why}");
        assert!(!p.get(TemplateName::RerankJson).has_parts(&["choose"]));
    }

    #[test]
    fn a_folder_overrides_by_file_name_and_its_version_is_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rerank.v2.txt"),
            "version: rerank-shop-3\n### system\nBe brief.\n### user\n{{request}}\n### choose\nPick: \n",
        )
        .unwrap();
        let p = Prompts::load(Some(dir.path())).unwrap();
        let t = p.get(TemplateName::Rerank);
        assert_eq!(t.version, "rerank-shop-3");
        assert_eq!(t.render(&[("request", "x")])[1].content, "x");
        assert_eq!(t.part("choose", &[]).as_deref(), Some("Pick: "));
        assert_eq!(p.get(TemplateName::RerankJson).version, "rerank-v1");
        assert_eq!(p.get(TemplateName::Intent).version, "intent-v2");
    }

    #[test]
    fn a_missing_or_empty_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = Prompts::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("none of the template files"), "{err}");
        assert!(err.contains("rerank.v2.txt"), "{err}");
        let gone = dir.path().join("promts");
        let err = Prompts::load(Some(&gone)).unwrap_err().to_string();
        assert!(
            err.contains("promts") && err.contains("not a folder"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_template_is_refused_with_its_name() {
        let err = Template::parse("x.txt", "### system\nhi\n### user\n").unwrap_err();
        assert!(err.to_string().contains("x.txt"), "{err}");
        assert!(Template::parse("y.txt", "version: a\n### user\nu\n### system\ns").is_err());
        let twice = "version: a\n### system\ns\n### user\nu\n### why\na\n### why\nb";
        assert!(Template::parse("z.txt", twice).is_err());
    }
}
