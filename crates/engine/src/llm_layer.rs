//! The LLM layer the engine serves with: the one `[llm]` configures, loaded
//! on first use, and the layers of experiment variants that change `llm.`
//! keys (another model, another prompts folder, other deadlines), loaded
//! once per distinct configuration and sharing the engine's models where
//! they are configured alike.

use crate::{Engine, EngineError, Result};
use sommelier_llm::prompt::Prompts;
use sommelier_llm::{Llm, LlmConfig, Provider, ProviderConfig};
use std::path::Path;
use std::sync::Arc;

/// Variants' LLM layers, by their `[llm]` configuration.
#[derive(Default)]
pub(crate) struct VariantLlms(parking_lot::Mutex<Vec<(LlmConfig, Arc<Llm>)>>);

impl Engine {
    /// The LLM layer, loaded on first use from `[llm]`.
    pub fn llm(&self) -> Result<Arc<Llm>> {
        if let Some(l) = self.llm.get() {
            return Ok(l.clone());
        }
        let _guard = self.llm_init.lock();
        if let Some(l) = self.llm.get() {
            return Ok(l.clone());
        }
        let mut config = self.config().llm.clone();
        if config.enabled {
            let (lenient, unverified) =
                (config.missing_model_is_off, config.allow_unverified_model);
            self.verify_local(&mut config.small, lenient, unverified)?;
            if let Some(large) = config.large.as_mut() {
                self.verify_local(large, lenient, unverified)?;
            }
        }
        let llm = Llm::load(&config, &self.config().data_dir).map_err(EngineError::Llm)?;
        tracing::info!(small = %llm.small().model_id(), large = %llm.large().model_id(), "LLM layer ready");
        let llm = Arc::new(llm);
        let _ = self.llm.set(llm.clone());
        Ok(llm)
    }

    /// The LLM layer for `config`: the engine's when it is the engine's
    /// `[llm]`, else a variant's, loaded on first use and kept. A variant's
    /// provider configured as one of the engine's is the engine's loaded
    /// model; one of its own is checked and loaded strictly (a missing or
    /// unverified file is an error, not classical mode), so a declaration
    /// naming a model that cannot load is refused.
    pub(crate) fn llm_for(&self, config: &LlmConfig) -> Result<Arc<Llm>> {
        if *config == self.config().llm {
            return self.llm();
        }
        let mut loaded = self.variant_llms.0.lock();
        if let Some((_, l)) = loaded.iter().find(|(c, _)| c == config) {
            return Ok(l.clone());
        }
        let prompts = Prompts::load(config.prompts_dir.as_deref()).map_err(EngineError::Llm)?;
        let (small, large) = if config.enabled {
            let base = self.llm()?;
            let small = self.variant_provider(&base, &config.small, config)?;
            let large = match &config.large {
                Some(c) if *c != config.small => self.variant_provider(&base, c, config)?,
                _ => small.clone(),
            };
            (small, large)
        } else {
            let off = Arc::new(Provider::Off(sommelier_llm::provider::Off));
            (off.clone(), off)
        };
        let llm = Arc::new(Llm::with_providers(config.clone(), small, large, prompts));
        tracing::info!(small = %llm.small().model_id(), large = %llm.large().model_id(), "a variant's LLM layer is ready");
        loaded.push((config.clone(), llm.clone()));
        Ok(llm)
    }

    /// Drops the variants' LLM layers no longer configured (an experiment
    /// was deleted or changed); requests holding one finish with it.
    pub(crate) fn keep_variant_llms(&self, configs: &[LlmConfig]) {
        self.variant_llms
            .0
            .lock()
            .retain(|(c, _)| configs.contains(c));
    }

    /// One of a variant's providers: the engine's loaded one when the
    /// engine's `[llm]` configures the same, else its own, loaded strictly.
    fn variant_provider(
        &self,
        base: &Llm,
        wanted: &ProviderConfig,
        config: &LlmConfig,
    ) -> Result<Arc<Provider>> {
        let own = &self.config().llm;
        let (small, large) = base.providers();
        if own.enabled {
            if *wanted == own.small {
                return Ok(small);
            }
            if own.large.as_ref() == Some(wanted) {
                return Ok(large);
            }
        }
        let mut c = wanted.clone();
        self.verify_local(&mut c, false, config.allow_unverified_model)?;
        let data_dir = &self.config().data_dir;
        c.load(data_dir).map(Arc::new).map_err(EngineError::Llm)
    }

    /// Checks a local model against the manifest of what was fetched before
    /// llama.cpp reads it. A damaged or unverified model is refused: the
    /// provider becomes off (classical mode, with a warning naming the
    /// file) when `lenient`, and it is an error otherwise.
    fn verify_local(&self, p: &mut ProviderConfig, lenient: bool, unverified: bool) -> Result<()> {
        let ProviderConfig::Local { path, .. } = p else {
            return Ok(());
        };
        let folder = model_folder(&self.config().data_dir, path);
        if !folder.is_dir() {
            // Missing: the loader says so (and goes classical when lenient).
            return Ok(());
        }
        match sommelier_datasets::verify_fetched(&folder) {
            Ok(n) => {
                tracing::info!(folder = %folder.display(), files = n, "local LLM files match what was fetched");
                Ok(())
            }
            Err(sommelier_datasets::DatasetError::Unverified { .. }) if unverified => {
                tracing::warn!(folder = %folder.display(), "loading an unverified local LLM (llm.allow_unverified_model)");
                Ok(())
            }
            Err(e) if lenient => {
                tracing::warn!(error = %e, "local LLM refused: running in classical mode");
                *p = ProviderConfig::Off;
                Ok(())
            }
            Err(e) => Err(EngineError::Dataset(e)),
        }
    }

    /// Replaces the LLM layer (tests and benchmarks use providers built elsewhere).
    pub fn set_llm(&self, llm: Llm) -> bool {
        self.llm.set(Arc::new(llm)).is_ok()
    }
}

/// The folder a local model's path names (the file's folder for a file;
/// relative paths are under the data directory).
fn model_folder(data_dir: &Path, path: &Path) -> std::path::PathBuf {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        data_dir.join(path)
    };
    if full.is_file() {
        full.parent().map(Path::to_path_buf).unwrap_or(full)
    } else {
        full
    }
}
