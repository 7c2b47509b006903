"""Sequential peers of `sommelier eval`: SASRec and GRU4Rec trained with a full
softmax cross-entropy over the whole catalog, and a last-item transition count.

SASRec follows Klenitskiy & Vasilev, "Turning Dross Into Gold Loss: is BERT4Rec
really better than SASRec?" (RecSys 2023): the SASRec architecture (Kang &
McAuley 2018: causal self-attention, learned positional embeddings, layer norms
as in the authors' code) with the item embeddings tied to the output layer, and
trained with cross-entropy over every catalog item for the next item at every
position instead of one sampled negative. GRU4Rec is one GRU layer over item
embeddings, with the same tied output layer, loss and training loop (Adam,
batch 128, one example per user; a higher learning rate, see GRU4REC_DEFAULTS).
Dropout on the embeddings and the hidden states.

Sequences: a user's rows of train.csv in file order (never re-sorted: the
evaluation protocol already broke timestamp ties). Only the last `maxlen` items
of a sequence are used, in training and as the input at test time.

Early stopping, on a validation split of the training part only: each user's
last training item is held out; the model trains on the rest and NDCG@10 over
the full catalog (the validation input's items masked) is measured on the
held-out items after every epoch; the best epoch's weights are kept, and
training stops after `patience` epochs without improvement (or at
`max_epochs`). **Those best weights are the model that is tested** (no
retraining): at test time its input is the user's FULL training sequence,
held-out validation item included, and it ranks the whole catalog with all the
user's training items masked, like every other peer.

The transition count learns nothing: count(a -> b) over consecutive items of
every training sequence; a user's scores are the counts from their last
training item, ties (and users whose last item was never followed) ordered by
training popularity, then by catalog order. Its validation NDCG@10 (counts from
the sequences without their last item, scored from the item before it) is
reported for comparison only.
"""
import copy
import math
import sys
import time

import numpy as np
import scipy.sparse as sp

SASREC_DEFAULTS = dict(hidden=64, blocks=2, heads=1, dropout=0.3, maxlen=200, lr=1e-3,
                       batch=128, max_epochs=300, patience=20)
# GRU4Rec learns slowly at lr 1e-3 (on ml-100k its validation NDCG@10 still rose
# at epoch 280, ~.120); at 3e-3 it gets there in about a third of the epochs.
GRU4REC_DEFAULTS = dict(hidden=64, dropout=0.3, maxlen=200, lr=3e-3, batch=128,
                        max_epochs=200, patience=20)


class Data:
    """Training sequences as catalog indices (0-based, items.csv order), one per
    row of peers.py's user-item matrix (users sorted)."""

    def __init__(self, train, index, users, pop_arr):
        self.n_items = len(pop_arr)
        self.pop = np.asarray(pop_arr, dtype=np.float64)
        self.seqs = [np.array([index[i] for i in train[u]], dtype=np.int64) for u in users]


def _ranks(scores, targets):
    """0-based rank of each target in its row, ties broken by catalog order as
    peers.top_k does. scores: (B, N) array; targets: (B,) int array."""
    t = np.asarray(targets)
    ts = np.take_along_axis(scores, t[:, None], 1)
    ar = np.arange(scores.shape[1])[None, :]
    return ((scores > ts) | ((scores == ts) & (ar < t[:, None]))).sum(1)


def _ndcg_hr10(ranks):
    ranks = np.asarray(ranks, dtype=np.float64)
    hit = ranks < 10
    return float(np.mean(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0))), float(np.mean(hit))


def validation_split(seqs):
    """(rows, inputs, targets, fit_seqs): the rows of the users with at least two
    training items, their sequences without the last item, that last item, and
    every user's training sequence without it (what the models train on)."""
    rows = [r for r, s in enumerate(seqs) if len(s) >= 2]
    fit_seqs = [s[:-1] if len(s) >= 2 else s for s in seqs]
    return rows, [seqs[r][:-1] for r in rows], np.array([seqs[r][-1] for r in rows]), fit_seqs


# --- transition count -------------------------------------------------------

def transition_counts(seqs, n):
    src = np.concatenate([s[:-1] for s in seqs if len(s) >= 2] or [np.zeros(0, np.int64)])
    dst = np.concatenate([s[1:] for s in seqs if len(s) >= 2] or [np.zeros(0, np.int64)])
    return sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))


def transition_scores(C, last, pop):
    # Counts are integers; popularity / (max + 1) < 1 only orders equal counts.
    tie = pop / (pop.max() + 1.0) if len(pop) else pop
    if last is None:
        return tie.copy()
    return np.asarray(C[last].todense()).ravel() + tie


def fit_transitions(data):
    t0 = time.time()
    rows, inputs, targets, fit_seqs = validation_split(data.seqs)
    pop_v = np.zeros(data.n_items)
    for s in fit_seqs:
        pop_v[np.unique(s)] += 1
    Cv = transition_counts(fit_seqs, data.n_items)
    scores = np.stack([transition_scores(Cv, x[-1], pop_v) for x in inputs]) if rows else np.zeros((0, data.n_items))
    for n, x in enumerate(inputs):
        scores[n, x] = -np.inf
    ndcg, hr = _ndcg_hr10(_ranks(scores, targets)) if rows else (0.0, 0.0)
    C = transition_counts(data.seqs, data.n_items)
    info = {"hyperparameters": {"order": "counts from the last training item, then popularity"},
            "epochs": 0, "best_val_ndcg10": ndcg, "best_val_hr10": hr, "val_users": len(rows),
            "train_seconds": time.time() - t0,
            "transitions": int(C.sum())}
    return {"C": C, "info": info}


def score_transitions(state, data, r):
    s = data.seqs[r]
    return transition_scores(state["C"], s[-1] if len(s) else None, data.pop)


# --- neural models ----------------------------------------------------------

def _torch():
    import torch
    return torch


def build_models():
    torch = _torch()
    nn = torch.nn

    class Attention(nn.Module):
        def __init__(self, d, heads, dropout):
            super().__init__()
            assert d % heads == 0
            self.h, self.dh = heads, d // heads
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
            self.drop = nn.Dropout(dropout)

        def forward(self, q, kv, allowed):
            B, L, _ = q.shape
            split = lambda x: x.view(B, L, self.h, self.dh).transpose(1, 2)
            Q, K, V = split(self.q(q)), split(self.k(kv)), split(self.v(kv))
            a = (Q @ K.transpose(-1, -2)) / math.sqrt(self.dh)
            a = a.masked_fill(~allowed[:, None], float("-inf")).softmax(-1)
            out = (self.drop(a) @ V).transpose(1, 2).reshape(B, L, -1)
            return self.o(out)

    class Block(nn.Module):
        """As in SASRec's reference code: the normalised queries are the residual."""

        def __init__(self, d, heads, dropout):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-8), nn.LayerNorm(d, eps=1e-8)
            self.attn = Attention(d, heads, dropout)
            self.ffn = nn.Sequential(nn.Linear(d, d), nn.Dropout(dropout), nn.ReLU(),
                                     nn.Linear(d, d), nn.Dropout(dropout))

        def forward(self, x, allowed):
            q = self.ln1(x)
            x = q + self.attn(q, x, allowed)
            x = self.ln2(x)
            return x + self.ffn(x)

    class SASRec(nn.Module):
        def __init__(self, n_items, hidden, blocks, heads, dropout, maxlen, **_):
            super().__init__()
            self.d = hidden
            self.item = nn.Embedding(n_items + 1, hidden, padding_idx=0)
            self.pos = nn.Embedding(maxlen, hidden)
            self.drop = nn.Dropout(dropout)
            self.blocks = nn.ModuleList(Block(hidden, heads, dropout) for _ in range(blocks))
            self.ln = nn.LayerNorm(hidden, eps=1e-8)
            for name, p in self.named_parameters():
                if p.dim() > 1:
                    nn.init.xavier_normal_(p)
            with torch.no_grad():
                self.item.weight[0].zero_()

        def forward(self, seqs):
            """seqs: (B, L) left-padded item ids (0 = padding) -> (B, L, hidden)."""
            B, L = seqs.shape
            real = seqs > 0
            # Position = distance from the end of the sequence (the last item is 0).
            pos = torch.arange(L - 1, -1, -1)
            x = self.item(seqs) * math.sqrt(self.d) + self.pos(pos)[None]
            x = self.drop(x) * real[..., None]
            causal = torch.ones(L, L, dtype=torch.bool).tril()
            # Real keys at or before the query; a padding query sees only itself.
            allowed = causal[None] & (real[:, None, :] | torch.eye(L, dtype=torch.bool)[None])
            for b in self.blocks:
                x = b(x, allowed) * real[..., None]
            return self.ln(x)

        def logits(self, h):
            return h @ self.item.weight[1:].T

    class GRU4Rec(nn.Module):
        def __init__(self, n_items, hidden, dropout, **_):
            super().__init__()
            self.item = nn.Embedding(n_items + 1, hidden, padding_idx=0)
            self.drop_in, self.drop_out = nn.Dropout(dropout), nn.Dropout(dropout)
            self.gru = nn.GRU(hidden, hidden, num_layers=1, batch_first=True)
            nn.init.xavier_normal_(self.item.weight)
            with torch.no_grad():
                self.item.weight[0].zero_()

        def forward(self, seqs):
            """seqs: (B, L) left-padded -> (B, L, hidden), padding positions zero."""
            B, L = seqs.shape
            lens = (seqs > 0).sum(1)
            shift = (L - lens)[:, None]
            ar = torch.arange(L)[None]
            right = seqs.gather(1, (ar + shift) % L)  # the same rows, right-padded
            x = self.drop_in(self.item(right))
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                x, lens.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=L)
            out = out.gather(1, ((ar - shift) % L)[..., None].expand(B, L, out.shape[-1]))
            return self.drop_out(out) * (seqs > 0)[..., None]

        def logits(self, h):
            return h @ self.item.weight[1:].T

    return {"sasrec": SASRec, "gru4rec": GRU4Rec}


def _pad_left(seqs, maxlen, offset=1):
    """Left-padded (B, L) array of the last maxlen ids (+offset; 0 = padding)."""
    L = max(1, min(maxlen, max((len(s) for s in seqs), default=1)))
    out = np.zeros((len(seqs), L), dtype=np.int64)
    for n, s in enumerate(seqs):
        s = s[-L:]
        if len(s):
            out[n, L - len(s):] = s + offset
    return out


def _last_scores(model, seqs, maxlen):
    """Catalog scores (B, N) from the last position of each (non-empty) sequence."""
    torch = _torch()
    x = torch.from_numpy(_pad_left(seqs, maxlen))
    return model.logits(model(x)[:, -1])


def _evaluate(model, inputs, targets, maxlen, batch=256):
    torch = _torch()
    model.eval()
    # Batches of similar lengths pad less; the order changes no score.
    order = np.argsort([len(x) for x in inputs], kind="stable")
    ranks = []
    with torch.no_grad():
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            xs = [inputs[i] for i in idx]
            s = _last_scores(model, xs, maxlen)
            for n, x in enumerate(xs):
                s[n, torch.from_numpy(x)] = float("-inf")
            ranks.append(_ranks(s.numpy(), targets[idx]))
    model.train()
    return _ndcg_hr10(np.concatenate(ranks)) if ranks else (0.0, 0.0)


def fit_neural(kind, data, hp, seed, threads, log=sys.stderr):
    torch = _torch()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    maxlen = hp["maxlen"]
    rows, inputs, targets, fit_seqs = validation_split(data.seqs)
    # One training example per user: the last maxlen + 1 items; input the first
    # maxlen, target the next item at every position.
    examples = [s[-(maxlen + 1):] for s in fit_seqs if len(s) >= 2]
    model = build_models()[kind](data.n_items, **hp)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
    best, best_hr, best_epoch, best_state, bad, epoch = -1.0, 0.0, 0, None, 0, 0
    history = []
    for epoch in range(1, hp["max_epochs"] + 1):
        model.train()
        perm = rng.permutation(len(examples))
        total, count = 0.0, 0
        for b in range(0, len(perm), hp["batch"]):
            batch = [examples[i] for i in perm[b:b + hp["batch"]]]
            x = torch.from_numpy(_pad_left([s[:-1] for s in batch], maxlen))
            y = torch.from_numpy(_pad_left([s[1:] for s in batch], maxlen)) - 1
            real = y >= 0
            h = model(x)[real]
            loss = torch.nn.functional.cross_entropy(model.logits(h), y[real])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * int(real.sum())
            count += int(real.sum())
        ndcg, hr = _evaluate(model, inputs, targets, maxlen)
        history.append(round(ndcg, 5))
        if ndcg > best:
            best, best_hr, best_epoch, bad = ndcg, hr, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        if epoch == 1 or epoch % 10 == 0 or bad >= hp["patience"]:
            print(f"  {kind} epoch {epoch:3d} loss {total / max(count, 1):.4f} val NDCG@10 {ndcg:.4f} "
                  f"(best {best:.4f} @ {best_epoch}) {time.time() - t0:.0f}s", file=log, flush=True)
        if bad >= hp["patience"]:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    info = {"hyperparameters": dict(hp), "epochs": epoch, "best_epoch": best_epoch,
            "best_val_ndcg10": best, "best_val_hr10": best_hr, "val_users": len(rows),
            "val_ndcg10_per_epoch": history, "train_seconds": time.time() - t0,
            "threads": threads, "seed": seed,
            "test_model": "best validation epoch's weights, input the full training sequence"}
    return {"model": model, "info": info, "maxlen": maxlen}


def score_neural(state, data, r):
    torch = _torch()
    s = data.seqs[r]
    if not len(s):
        return data.pop.copy()
    with torch.no_grad():
        return _last_scores(state["model"], [s], state["maxlen"])[0].numpy()
