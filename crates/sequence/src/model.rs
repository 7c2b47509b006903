//! The network: item and position embeddings, `blocks` pre-norm causal
//! self-attention blocks with a feed-forward layer each, a final layer norm,
//! and the item embeddings again as the output layer (tied weights), as in
//! SASRec (Kang & McAuley, 2018) trained with a full-catalog cross-entropy
//! (Klenitskiy & Vasilev, 2023).

use crate::rng::Rng;
use candle_core::{D, DType, Device, Result, Tensor, Var};
use std::collections::HashMap;

/// Shape of the network.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    /// Items in the vocabulary (index 0 of the embedding is padding).
    pub items: usize,
    /// Width of every hidden state.
    pub hidden: usize,
    /// Attention blocks.
    pub blocks: usize,
    /// Longest history read (the newest items).
    pub maxlen: usize,
}

/// A dense layer `x Wᵀ + b` (`W` row-major `(out, in)`), its weights as
/// tensors (training, batches) or plain arrays (`single.rs`).
#[derive(Clone)]
pub(crate) struct Dense<W = Tensor> {
    pub(crate) w: W,
    pub(crate) b: W,
}

impl Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.broadcast_matmul(&self.w.t()?)?.broadcast_add(&self.b)
    }
}

/// A layer norm's gain and bias.
#[derive(Clone)]
pub(crate) struct Norm<W = Tensor> {
    pub(crate) gain: W,
    pub(crate) bias: W,
}

impl Norm {
    /// Layer norm built from differentiable operations (candle's fused one
    /// has no backward pass).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let x = x.broadcast_sub(&mean)?;
        let var = x.sqr()?.mean_keepdim(D::Minus1)?;
        x.broadcast_div(&(var + 1e-8)?.sqrt()?)?
            .broadcast_mul(&self.gain)?
            .broadcast_add(&self.bias)
    }
}

/// One pre-norm attention block.
#[derive(Clone)]
pub(crate) struct Block<W = Tensor> {
    pub(crate) norm1: Norm<W>,
    pub(crate) q: Dense<W>,
    pub(crate) k: Dense<W>,
    pub(crate) v: Dense<W>,
    pub(crate) out: Dense<W>,
    pub(crate) norm2: Norm<W>,
    pub(crate) ff1: Dense<W>,
    pub(crate) ff2: Dense<W>,
}

/// Every layer of the network: the one place the weights' names and shapes
/// are spelled out, for the tensors and for the plain arrays alike.
#[derive(Clone)]
pub(crate) struct Layers<W> {
    /// `(items + 1, hidden)`, row 0 the padding.
    pub(crate) item: W,
    /// `(maxlen, hidden)`.
    pub(crate) pos: W,
    pub(crate) blocks: Vec<Block<W>>,
    pub(crate) norm: Norm<W>,
}

/// The layers of `shape`, each weight read with `get(name, dims)`.
pub(crate) fn layers<W>(
    shape: Shape,
    get: impl Fn(&str, &[usize]) -> Result<W>,
) -> Result<Layers<W>> {
    let d = shape.hidden;
    let dense = |p: &str| -> Result<Dense<W>> {
        Ok(Dense {
            w: get(&format!("{p}.w"), &[d, d])?,
            b: get(&format!("{p}.b"), &[d])?,
        })
    };
    let norm = |p: &str| -> Result<Norm<W>> {
        Ok(Norm {
            gain: get(&format!("{p}.gain"), &[d])?,
            bias: get(&format!("{p}.bias"), &[d])?,
        })
    };
    let blocks = (0..shape.blocks)
        .map(|b| {
            Ok(Block {
                norm1: norm(&format!("block{b}.norm1"))?,
                q: dense(&format!("block{b}.q"))?,
                k: dense(&format!("block{b}.k"))?,
                v: dense(&format!("block{b}.v"))?,
                out: dense(&format!("block{b}.out"))?,
                norm2: norm(&format!("block{b}.norm2"))?,
                ff1: dense(&format!("block{b}.ff1"))?,
                ff2: dense(&format!("block{b}.ff2"))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Layers {
        item: get("item", &[shape.items + 1, d])?,
        pos: get("pos", &[shape.maxlen, d])?,
        blocks,
        norm: norm("norm")?,
    })
}

/// Where dropout draws its masks; `None` at inference.
pub(crate) struct Dropout<'a> {
    pub(crate) p: f32,
    pub(crate) rng: &'a mut Rng,
}

impl Dropout<'_> {
    fn apply(&mut self, x: &Tensor) -> Result<Tensor> {
        if self.p <= 0.0 {
            return Ok(x.clone());
        }
        let n = x.elem_count();
        let keep = 1.0 / (1.0 - self.p);
        // Four 16-bit draws from each 64-bit one.
        let cut = (self.p * 65536.0) as u64;
        let mut mask = Vec::with_capacity(n + 3);
        while mask.len() < n {
            let r = self.rng.next_u64();
            for k in 0..4 {
                mask.push(if (r >> (16 * k)) & 0xffff < cut {
                    0.0
                } else {
                    keep
                });
            }
        }
        mask.truncate(n);
        x * Tensor::from_vec(mask, x.shape(), x.device())?
    }
}

fn drop(x: &Tensor, d: &mut Option<Dropout<'_>>) -> Result<Tensor> {
    match d {
        Some(d) => d.apply(x),
        None => Ok(x.clone()),
    }
}

/// The weights, as named tensors (variables while training).
#[derive(Clone)]
pub(crate) struct Net {
    pub(crate) shape: Shape,
    item: Tensor,
    pos: Tensor,
    blocks: Vec<Block>,
    norm: Norm,
}

const NAMES: [&str; 14] = [
    "norm1.gain",
    "norm1.bias",
    "q.w",
    "q.b",
    "k.w",
    "k.b",
    "v.w",
    "v.b",
    "out.w",
    "out.b",
    "norm2.gain",
    "norm2.bias",
    "ff1.w",
    "ff1.b",
];
const FF2: [&str; 2] = ["ff2.w", "ff2.b"];

impl Net {
    /// Fresh weights: Xavier-normal matrices, zero biases, unit gains.
    pub(crate) fn init(shape: Shape, rng: &mut Rng) -> Result<HashMap<String, Tensor>> {
        let dev = Device::Cpu;
        let d = shape.hidden;
        let mut normal = |rows: usize, cols: usize| -> Result<Tensor> {
            let std = (2.0 / (rows + cols) as f32).sqrt();
            let v: Vec<f32> = (0..rows * cols).map(|_| rng.normal() * std).collect();
            Tensor::from_vec(v, (rows, cols), &dev)
        };
        let mut w = HashMap::new();
        let mut item = normal(shape.items + 1, d)?.to_vec2::<f32>()?;
        item[0].iter_mut().for_each(|x| *x = 0.0);
        w.insert(
            "item".to_string(),
            Tensor::new(item, &dev)?.reshape((shape.items + 1, d))?,
        );
        w.insert("pos".to_string(), normal(shape.maxlen, d)?);
        for b in 0..shape.blocks {
            for name in NAMES.iter().chain(FF2.iter()) {
                let t = if name.ends_with(".w") {
                    normal(d, d)?
                } else if name.ends_with(".gain") {
                    Tensor::ones(d, DType::F32, &dev)?
                } else {
                    Tensor::zeros(d, DType::F32, &dev)?
                };
                w.insert(format!("block{b}.{name}"), t);
            }
        }
        w.insert("norm.gain".to_string(), Tensor::ones(d, DType::F32, &dev)?);
        w.insert("norm.bias".to_string(), Tensor::zeros(d, DType::F32, &dev)?);
        Ok(w)
    }

    /// The network over `weights` (missing or misshapen ones are an error).
    pub(crate) fn new(shape: Shape, w: &HashMap<String, Tensor>) -> Result<Self> {
        let l = layers(shape, |name, dims| {
            let t = w
                .get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("weight `{name}` is missing")))?;
            if t.dims() != dims {
                candle_core::bail!("weight `{name}` is {:?}, expected {dims:?}", t.dims());
            }
            Ok(t.clone())
        })?;
        Ok(Self {
            shape,
            item: l.item,
            pos: l.pos,
            blocks: l.blocks,
            norm: l.norm,
        })
    }

    /// The item embeddings without the padding row: the output layer.
    pub(crate) fn outputs(&self) -> Result<Tensor> {
        self.item.narrow(0, 1, self.shape.items)
    }

    /// Hidden states `(B, L, hidden)` of left-padded histories `x` (`(B, L)`
    /// item indices + 1, 0 = padding, L ≤ maxlen): position `j` sees
    /// positions `..=j` only.
    pub(crate) fn forward(&self, x: &Tensor, mut drop_: Option<Dropout<'_>>) -> Result<Tensor> {
        let (b, l) = x.dims2()?;
        let d = self.shape.hidden;
        let dev = x.device();
        let valid = x.ne(0u32)?.to_dtype(DType::F32)?.reshape((b, l, 1))?;
        // The newest item always gets the last position.
        let pos = self.pos.narrow(0, self.shape.maxlen - l, l)?;
        let emb = self.item.embedding(&x.flatten_all()?)?.reshape((b, l, d))?;
        let mut h = (emb * (d as f64).sqrt())?.broadcast_add(&pos)?;
        h = drop(&h, &mut drop_)?.broadcast_mul(&valid)?;
        // Additive mask: the future and padding are out of reach.
        let causal: Vec<f32> = (0..l)
            .flat_map(|i| (0..l).map(move |j| if j <= i { 0.0 } else { -1e9 }))
            .collect();
        let causal = Tensor::from_vec(causal, (1, l, l), dev)?;
        let pad = ((valid.reshape((b, 1, l))? - 1.0)? * 1e9)?;
        let mask = causal.broadcast_add(&pad)?;
        let scale = 1.0 / (d as f64).sqrt();
        for blk in &self.blocks {
            let a = blk.norm1.forward(&h)?;
            let q = blk.q.forward(&a)?;
            let k = blk.k.forward(&a)?;
            let v = blk.v.forward(&a)?;
            let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            // No dropout on the attention weights: the masks cost more than
            // the rest of the step, for no gain measured on ml-100k.
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let y = drop(&blk.out.forward(&att.matmul(&v)?)?, &mut drop_)?;
            h = (h + y)?;
            let f = blk.ff1.forward(&blk.norm2.forward(&h)?)?.relu()?;
            let f = drop(&blk.ff2.forward(&drop(&f, &mut drop_)?)?, &mut drop_)?;
            h = (h + f)?.broadcast_mul(&valid)?;
        }
        self.norm.forward(&h)
    }

    /// Scores of every item (`(B, items)`) after the newest position of each
    /// left-padded history.
    pub(crate) fn next_scores(&self, x: &Tensor) -> Result<Tensor> {
        self.last_state(x)?.matmul(&self.outputs()?.t()?)
    }

    /// The newest position's hidden state of each left-padded history.
    pub(crate) fn last_state(&self, x: &Tensor) -> Result<Tensor> {
        let l = x.dim(1)?;
        self.forward(x, None)?.narrow(1, l - 1, 1)?.squeeze(1)
    }
}

/// Variables for training, by name.
pub(crate) fn variables(
    w: &HashMap<String, Tensor>,
) -> Result<(HashMap<String, Tensor>, Vec<Var>)> {
    let mut names: Vec<&String> = w.keys().collect();
    names.sort();
    let mut tensors = HashMap::new();
    let mut vars = Vec::new();
    for n in names {
        let v = Var::from_tensor(&w[n])?;
        tensors.insert(n.clone(), v.as_tensor().clone());
        vars.push(v);
    }
    Ok((tensors, vars))
}

/// Left-pads `seqs` (item indices) into a `(B, L)` tensor of index + 1, L the
/// longest (at most `maxlen`, the newest items kept).
pub(crate) fn pad_left(seqs: &[&[u32]], maxlen: usize) -> Result<Tensor> {
    let l = seqs
        .iter()
        .map(|s| s.len().min(maxlen))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut v = vec![0u32; seqs.len() * l];
    for (r, s) in seqs.iter().enumerate() {
        let s = &s[s.len().saturating_sub(maxlen)..];
        let row = &mut v[r * l..(r + 1) * l];
        for (slot, &i) in row[l - s.len()..].iter_mut().zip(s) {
            *slot = i + 1;
        }
    }
    Tensor::from_vec(v, (seqs.len(), l), &Device::Cpu)
}
