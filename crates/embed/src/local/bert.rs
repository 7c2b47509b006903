//! A BERT encoder (the architecture of all-MiniLM-L6-v2 and its relatives),
//! written on candle-nn. Inference only: no dropout, absolute positions, one
//! token type.

use super::attention::{Dims, attend};
use super::dense::Dense;
use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder, embedding, layer_norm};
use serde::Deserialize;

/// The fields of a Hugging Face `config.json` that the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

struct Layer {
    /// Query, key and value projections fused into one (hidden → 3 × hidden)
    /// matrix product.
    qkv: Dense,
    attn_out: Dense,
    attn_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    out_norm: LayerNorm,
    heads: usize,
    head_dim: usize,
}

impl Layer {
    fn load(vb: VarBuilder<'_>, c: &BertConfig) -> Result<Self> {
        let h = c.hidden_size;
        let att = vb.pp("attention");
        let part = |vb: VarBuilder<'_>, out: usize, inp: usize| -> Result<(Tensor, Tensor)> {
            Ok((vb.get((out, inp), "weight")?, vb.get(out, "bias")?))
        };
        let dense = |vb: VarBuilder<'_>, out: usize, inp: usize| -> Result<Dense> {
            let (w, b) = part(vb, out, inp)?;
            Dense::new(&w, &b)
        };
        let sa = att.pp("self");
        let (q, k, v) = (
            part(sa.pp("query"), h, h)?,
            part(sa.pp("key"), h, h)?,
            part(sa.pp("value"), h, h)?,
        );
        // Fold the 1/√d attention scale into the query projection: one less pass
        // over the (len × len) score matrices at run time.
        let scale = 1.0 / ((h / c.num_attention_heads) as f64).sqrt();
        let q = ((q.0 * scale)?, (q.1 * scale)?);
        let qkv = Dense::new(
            &Tensor::cat(&[&q.0, &k.0, &v.0], 0)?,
            &Tensor::cat(&[&q.1, &k.1, &v.1], 0)?,
        )?;
        Ok(Self {
            qkv,
            attn_out: dense(att.pp("output.dense"), h, h)?,
            attn_norm: layer_norm(h, c.layer_norm_eps, att.pp("output.LayerNorm"))?,
            intermediate: dense(vb.pp("intermediate.dense"), c.intermediate_size, h)?,
            output: dense(vb.pp("output.dense"), h, c.intermediate_size)?,
            out_norm: layer_norm(h, c.layer_norm_eps, vb.pp("output.LayerNorm"))?,
            heads: c.num_attention_heads,
            head_dim: h / c.num_attention_heads,
        })
    }

    /// `x`: (batch × len, hidden), rows grouped by sequence; `lens`: the real
    /// length of each sequence. Linear layers run as one 2-D matrix product over
    /// all tokens of the batch.
    fn forward(&self, x: &Tensor, lens: &[usize], len: usize, threads: usize) -> Result<Tensor> {
        let dims = Dims {
            len,
            heads: self.heads,
            head_dim: self.head_dim,
        };
        let ctx = attend(&self.qkv.forward(x, threads)?, lens, &dims, threads)?;
        let attn = self
            .attn_norm
            .forward(&(self.attn_out.forward(&ctx, threads)? + x)?)?;
        let inner = super::gelu::gelu_erf(&self.intermediate.forward(&attn, threads)?, threads)?;
        self.out_norm
            .forward(&(self.output.forward(&inner, threads)? + attn)?)
    }
}

/// The encoder: embeddings and transformer layers.
pub(crate) struct Bert {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Bert {
    pub(crate) fn load(vb: VarBuilder<'_>, c: &BertConfig) -> Result<Self> {
        if c.hidden_act != "gelu" {
            candle_core::bail!("unsupported hidden_act `{}` (only gelu)", c.hidden_act);
        }
        // Some exports prefix every name with `bert.`.
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let e = vb.pp("embeddings");
        Ok(Self {
            words: embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?,
            positions: embedding(
                c.max_position_embeddings,
                c.hidden_size,
                e.pp("position_embeddings"),
            )?,
            token_types: embedding(
                c.type_vocab_size,
                c.hidden_size,
                e.pp("token_type_embeddings"),
            )?,
            norm: layer_norm(c.hidden_size, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers: (0..c.num_hidden_layers)
                .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), c))
                .collect::<Result<_>>()?,
        })
    }

    /// Mean-pooled, L2-normalised sentence vectors.
    /// `ids`: (batch, len) u32; `mask`: (batch, len) f32 with 1 for real tokens;
    /// `lens`: the real length of each sequence (the mask's row sums); `threads`:
    /// how many threads this batch may use.
    pub(crate) fn embed(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        lens: &[usize],
        threads: usize,
    ) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let device = ids.device();
        let positions = Tensor::arange(0u32, l as u32, device)?;
        let types = Tensor::zeros(l, DType::U32, device)?;
        let extra = (self.positions.forward(&positions)? + self.token_types.forward(&types)?)?;
        let x = self
            .norm
            .forward(&self.words.forward(ids)?.broadcast_add(&extra)?)?;
        let mut x = x.reshape((b * l, x.dim(2)?))?;
        for layer in &self.layers {
            x = layer.forward(&x, lens, l, threads)?;
        }
        let x = x.reshape((b, l, ()))?;
        let m = mask.unsqueeze(2)?;
        let summed = x.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norm)
    }
}
