//! The in-process embedder: tokenizer + BERT encoder from a local folder.

mod attention;
mod bert;
mod dense;
mod gelu;

use crate::Embedder;
use crate::error::{EmbedError, Result};
use bert::{Bert, BertConfig};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};

/// Vectors tagged with the position of their text.
type Indexed = Vec<(usize, Vec<f32>)>;

/// Options of the local embedder.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Longest input in tokens; longer texts are truncated (sentence-transformers
    /// uses 256 for all-MiniLM-L6-v2).
    pub max_tokens: usize,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Name recorded as the model id (defaults to the folder name).
    pub model_id: Option<String>,
    /// Batches encoded in parallel (default: the number of cores).
    pub threads: usize,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            batch_size: 64,
            model_id: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// A sentence encoder loaded from a folder with `config.json`,
/// `model.safetensors` and `tokenizer.json` (a Hugging Face export).
pub struct LocalBert {
    tokenizer: Tokenizer,
    model: Bert,
    device: Device,
    dim: usize,
    options: LocalOptions,
    id: String,
}

fn read(path: PathBuf) -> Result<Vec<u8>> {
    std::fs::read(&path).map_err(|source| EmbedError::ModelFile { path, source })
}

impl LocalBert {
    /// Loads the model and tokenizer from `dir`.
    pub fn load(dir: &Path, options: LocalOptions) -> Result<Self> {
        let bad = |reason: String| EmbedError::BadModel {
            dir: dir.to_path_buf(),
            reason,
        };
        if options.batch_size == 0 || options.max_tokens < 8 {
            return Err(EmbedError::Options(
                "batch_size must be ≥ 1 and max_tokens ≥ 8".into(),
            ));
        }
        let config: BertConfig = serde_json::from_slice(&read(dir.join("config.json"))?)
            .map_err(|e| bad(format!("config.json: {e}")))?;
        if options.max_tokens > config.max_position_embeddings {
            return Err(EmbedError::Options(format!(
                "max_tokens {} exceeds the model's {} positions",
                options.max_tokens, config.max_position_embeddings
            )));
        }
        let mut tokenizer = Tokenizer::from_bytes(read(dir.join("tokenizer.json"))?)
            .map_err(|e| bad(format!("tokenizer.json: {e}")))?;
        // The exported tokenizer pads every input to 128 tokens and cuts at 128:
        // we pad per batch ourselves and truncate where the model was trained to.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: options.max_tokens,
                ..Default::default()
            }))
            .map_err(|e| bad(format!("tokenizer truncation: {e}")))?;
        let device = Device::Cpu;
        let weights = read(dir.join("model.safetensors"))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let model = Bert::load(vb, &config).map_err(|e| bad(format!("weights: {e}")))?;
        let id = options.model_id.clone().unwrap_or_else(|| {
            dir.file_name()
                .map_or("local".into(), |n| n.to_string_lossy().into_owned())
        });
        Ok(Self {
            tokenizer,
            model,
            device,
            dim: config.hidden_size,
            options,
            id,
        })
    }

    fn embed_batch(
        &self,
        encodings: &[&tokenizers::Encoding],
        threads: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let len = encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let b = encodings.len();
        let mut ids = vec![0u32; b * len];
        let mut mask = vec![0f32; b * len];
        for (row, e) in encodings.iter().enumerate() {
            for (col, &id) in e.get_ids().iter().enumerate() {
                ids[row * len + col] = id;
                mask[row * len + col] = 1.0;
            }
        }
        let lens: Vec<usize> = encodings.iter().map(|e| e.len()).collect();
        let ids = Tensor::from_vec(ids, (b, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (b, len), &self.device)?;
        Ok(self
            .model
            .embed(&ids, &mask, &lens, threads)?
            .to_vec2::<f32>()?)
    }
}

impl Embedder for LocalBert {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        // Batch texts of similar length together so little is spent on padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let batches: Vec<&[usize]> = order.chunks(self.options.batch_size).collect();
        // Batches run on parallel workers: the matrix products are split across
        // cores anyway, and a second worker keeps the cores busy during the
        // element-wise steps that run on one thread.
        let workers = self.options.threads.min(batches.len()).max(1);
        // Threads left for each batch: all of them when there is one batch (a
        // single query), one each when every core has its own batch.
        let inner = (self.options.threads / workers).max(1);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<Indexed>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(chunk) = batches.get(i) else {
                                return Ok(done);
                            };
                            let batch: Vec<&tokenizers::Encoding> =
                                chunk.iter().map(|&i| &encodings[i]).collect();
                            let vectors = self.embed_batch(&batch, inner)?;
                            done.extend(chunk.iter().copied().zip(vectors));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("embedding worker panicked"))
                .collect()
        });
        let mut out = vec![Vec::new(); texts.len()];
        for r in results {
            for (i, v) in r? {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
