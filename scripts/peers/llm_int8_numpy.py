#!/usr/bin/env python3
"""
LLM.int8() (Dettmers et al. 2022, as bitsandbytes implements it) on SmolLM2-135M, measured independently of
Quanta: a plain NumPy forward pass of the model and of the mixed-precision INT8 matmul. Not part of CI; never
a dependency.

What it does:
  1. reads Quanta's SmolLM2 GGUF (.assets/smollm2/*.gguf) with the `gguf` package and dequantizes every tensor
     to float32 with gguf.quants.dequantize (Q4_1 linear weights, Q8_0 embedding = tied output head);
  2. runs the llama forward pass in NumPy (float32): RMSNorm (eps from the metadata), GQA attention (9 query /
     3 KV heads, head h uses KV head h // 3), RoPE with base from the metadata (1e5) rotating *adjacent* pairs
     (2i, 2i+1), i.e. llama.cpp's NORM rope, which is what the GGUF's permuted Q/K weights expect, SwiGLU FFN,
     final RMSNorm, logits = h @ token_embd^T;
  3. scores Emma (and BBC tech) by DESIGN.md's protocol, with make_model_fixtures.py's own text extraction,
     llama.cpp tokenization (vocab only) and perplexity() (its eval_logits is pointed at this forward pass):
     first 2048 tokens, no BOS, 4 windows of 512 from scratch, 511 predictions each, log-softmax in float64,
     PPL = exp(mean NLL). The FP32 pass must reproduce llama.cpp's F32 figures (Emma 32.9146, BBC tech
     27.3239, Tests/Fixtures/models/smollm2-perplexity.json); the script stops if it is off by more than 2e-4;
  4. replaces every Linear of the 30 blocks (attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down;
     not the output head) by LLM.int8(): for the layer's input X [512 tokens of a window, in]
       - outlier columns: the input features where some |X| >= 6 in this window (bitsandbytes' test; no
         value was ever exactly 6, so > and >= agree here: the script counts ties);
       - those columns are multiplied in floating point: X[:, cols] @ W[:, cols]^T;
       - the rest (outlier columns zeroed) is quantized per token, symmetric absmax INT8:
         s_x = max|x_row| / 127, q_x = round-half-even(x / s_x); the weight per output channel (row of
         W [out, in], over the whole row): s_w = max|W_row| / 127, q_w = round-half-even(W / s_w);
         Y = (q_x @ q_w^T) * s_x * s_w^T + outlier part. The integer sums are exact: float32 GEMMs over
         chunks of at most 1024 inputs (|partial sum| <= 1024 * 127 * 127 < 2^24), chunks added in float64.
     Variants:
       int8 (paper)   the above, outlier columns with the FP32 weight columns;
       (b)            outlier columns with the dequantized INT8 weight columns q_w * s_w (bitsandbytes'
                      int8 inference: int8_mixed_scaled_mm dequantizes B[:, outlier_cols]);
       (c)            per-token scale bitsandbytes-style: absmax over the elements with |x| < 6, including the
                      non-outlier elements of outlier columns (int8_vectorwise_quant zeroes only the outlier
                      elements before the row absmax, then zeroes the outlier columns of the codes);
       (d)            (b) and (c) together = what bitsandbytes' MatMul8bitLt computes (in fp16 there; fp32 here);
       noouter        threshold = infinity: plain per-token x per-channel absmax INT8 (context only);
       w8             threshold = 0 with (b): every column in float with the INT8-dequantized weights, i.e.
                      weight-only INT8 (context only: the weight half of the error).
     For the paper variant it also prints, per layer type, the mean number of outlier columns per window
     (mean over 30 blocks x 4 windows, and the largest) and the mean relative output error
     ||Y_q - Y|| / ||Y||, Y = X @ W^T in float32 on the same input X (the quantized run's input).

Run from the repository root (assets fetched by scripts/fetch-assets; the venv of scripts/peers/llama_cpp_gguf.py):
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /tmp/peervenv/bin/python scripts/peers/llm_int8_numpy.py \
        [--texts emma,bbc-tech] [--variants fp32,int8,b,c,d,noouter,w8]
About 5 minutes on one core for everything (numpy 2.4.6 / OpenBLAS, gguf 0.19.0, llama-cpp-python 0.3.36).

Figures it printed (numpy 2.4.6, gguf 0.19.0, llama-cpp-python 0.3.36, AMD EPYC, one thread, 324 s in all).
FP32 forward vs llama.cpp F32: Emma 32.914588 (llama.cpp 32.914579, +0.000009), BBC tech 27.3239 (+0.000001).
Per-window perplexities are printed too; the ~0.1-0.5% differences between int8 / (b) / (c) / (d) change sign
between texts and are of the size of the window-to-window scatter, i.e. they rank nothing. (Emma's paper-variant
and w8 figures are both 32.9970 by coincidence: their windows differ.)
    | text | variant | ppl | change vs FP32 |
    |---|---|---|---|
    | emma | FP32 (dequantized GGUF weights) | 32.9146 | +0.000% |
    | emma | LLM.int8() t=6, FP32 outlier weights, scale over kept columns | 32.9970 | +0.250% |
    | emma | (b) t=6, INT8-dequantized outlier weights | 33.1807 | +0.809% |
    | emma | (c) t=6, bitsandbytes row scale (|x|<6 incl. outlier columns) | 33.1476 | +0.708% |
    | emma | (d) t=6, (b)+(c) = bitsandbytes MatMul8bitLt | 33.1396 | +0.684% |
    | emma | INT8 absmax, no outlier decomposition | 33.8147 | +2.735% |
    | emma | INT8 weights only (t=0: all columns float, FP32 activations) | 32.9970 | +0.250% |
    | bbc-tech | FP32 (dequantized GGUF weights) | 27.3239 | +0.000% |
    | bbc-tech | LLM.int8() t=6, FP32 outlier weights, scale over kept columns | 27.6646 | +1.247% |
    | bbc-tech | (b) t=6, INT8-dequantized outlier weights | 27.6283 | +1.114% |
    | bbc-tech | (c) t=6, bitsandbytes row scale (|x|<6 incl. outlier columns) | 27.6615 | +1.235% |
    | bbc-tech | (d) t=6, (b)+(c) = bitsandbytes MatMul8bitLt | 27.7563 | +1.583% |
    | bbc-tech | INT8 absmax, no outlier decomposition | 28.1180 | +2.906% |
    | bbc-tech | INT8 weights only (t=0: all columns float, FP32 activations) | 27.4766 | +0.559% |

    LLM.int8() (t=6, FP32 outlier weights) per layer type on emma (30 blocks x 4 windows of 512 tokens):
    | layer | in | mean outlier columns / window | max (block) | blocks with any | mean rel. error | max rel. error |
    |---|---|---|---|---|---|---|
    | attn_q | 576 | 0.66 | 2 (29) | 20/30 | 0.01632 | 0.03537 |
    | attn_k | 576 | 0.66 | 2 (29) | 20/30 | 0.01378 | 0.02603 |
    | attn_v | 576 | 0.66 | 2 (29) | 20/30 | 0.03549 | 0.06956 |
    | attn_output | 576 | 1.21 | 16 (29) | 8/30 | 0.01598 | 0.02322 |
    | ffn_gate | 576 | 0.10 | 2 (29) | 2/30 | 0.01938 | 0.03105 |
    | ffn_up | 576 | 0.10 | 2 (29) | 2/30 | 0.02611 | 0.04456 |
    | ffn_down | 1536 | 94.96 | 765 (29) | 29/30 | 0.02162 | 0.03218 |
    attn_q outlier columns per block (mean over windows): 0 0 0 0 0 0 0 0 0 0 1 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 0 2
    attn_output outlier columns per block (mean over windows): 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 0 5 7 3 8 1 10
    ffn_down outlier columns per block (mean over windows): 14 5 3 0 0 2 2 7 11 12 8 10 4 4 3 2 3 3 15 26 72 82 109 172 190 222 315 416 439 698

    LLM.int8() (t=6, FP32 outlier weights) per layer type on bbc-tech (30 blocks x 4 windows of 512 tokens):
    | layer | in | mean outlier columns / window | max (block) | blocks with any | mean rel. error | max rel. error |
    |---|---|---|---|---|---|---|
    | attn_q | 576 | 0.66 | 2 (29) | 19/30 | 0.01608 | 0.03702 |
    | attn_k | 576 | 0.66 | 2 (29) | 19/30 | 0.01357 | 0.02702 |
    | attn_v | 576 | 0.66 | 2 (29) | 19/30 | 0.03486 | 0.07407 |
    | attn_output | 576 | 1.10 | 17 (29) | 9/30 | 0.01650 | 0.02560 |
    | ffn_gate | 576 | 0.10 | 2 (29) | 2/30 | 0.01885 | 0.02905 |
    | ffn_up | 576 | 0.10 | 2 (29) | 2/30 | 0.02564 | 0.04447 |
    | ffn_down | 1536 | 92.11 | 721 (29) | 30/30 | 0.02150 | 0.03273 |
    attn_q outlier columns per block (mean over windows): 0 0 0 0 0 0 0 0 0 0 1 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 2
    attn_output outlier columns per block (mean over windows): 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 1 6 5 2 5 0 12
    ffn_down outlier columns per block (mean over windows): 16 4 3 1 2 3 2 7 12 10 6 12 2 4 2 1 4 5 11 32 63 84 111 182 202 226 327 388 384 656
"""
import argparse
import importlib.util
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("fixtures", ROOT / "scripts" / "fixtures" / "make_model_fixtures.py")
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)

THRESHOLD = 6.0
LINEARS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
K_CHUNK = 1024  # 1024 * 127 * 127 = 16,516,096 < 2^24: float32 sums of integer products stay exact
VARIANTS = {
    # name: (threshold, outlier weights "fp32" | "int8", row scale "kept" (non-outlier columns) | "bnb")
    "int8": (THRESHOLD, "fp32", "kept"),
    "b": (THRESHOLD, "int8", "kept"),
    "c": (THRESHOLD, "fp32", "bnb"),
    "d": (THRESHOLD, "int8", "bnb"),
    "noouter": (np.inf, "fp32", "kept"),
    "w8": (0.0, "int8", "kept"),
}
LABELS = {
    "fp32": "FP32 (dequantized GGUF weights)",
    "int8": "LLM.int8() t=6, FP32 outlier weights, scale over kept columns",
    "b": "(b) t=6, INT8-dequantized outlier weights",
    "c": "(c) t=6, bitsandbytes row scale (|x|<6 incl. outlier columns)",
    "d": "(d) t=6, (b)+(c) = bitsandbytes MatMul8bitLt",
    "noouter": "INT8 absmax, no outlier decomposition",
    "w8": "INT8 weights only (t=0: all columns float, FP32 activations)",
}


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

class SmolLM2:
    def __init__(self, path):
        import gguf
        r = gguf.GGUFReader(str(path))
        f = {k: v.contents() for k, v in r.fields.items() if not k.startswith("GGUF.")}
        assert f["general.architecture"] == "llama"
        self.n_layer = int(f["llama.block_count"])
        self.n_embd = int(f["llama.embedding_length"])
        self.n_head = int(f["llama.attention.head_count"])
        self.n_kv = int(f["llama.attention.head_count_kv"])
        self.head_dim = self.n_embd // self.n_head
        self.rope_dims = int(f.get("llama.rope.dimension_count", self.head_dim))
        assert self.rope_dims == self.head_dim
        self.rope_base = float(f["llama.rope.freq_base"])
        self.eps = np.float32(f["llama.attention.layer_norm_rms_epsilon"])
        self.w = {}
        for t in r.tensors:
            a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            self.w[t.name] = np.ascontiguousarray(a.reshape([int(x) for x in reversed(t.shape)]))
        self.out = self.w.get("output.weight", self.w["token_embd.weight"])  # tied head
        self.types = sorted({t.tensor_type.name for t in r.tensors})

    def linear_weight(self, i, name):
        return self.w[f"blk.{i}.{name}.weight"]  # [out, in]

    def rms(self, x, w):
        x64 = x.astype(np.float64)
        inv = 1.0 / np.sqrt((x64 * x64).mean(axis=1, keepdims=True) + float(self.eps))
        return (x * inv.astype(np.float32)) * w

    def rope(self, x, cos, sin):
        # x [T, H, D]; rotate adjacent pairs (2i, 2i+1) by pos * base^(-2i/D) (llama.cpp NORM rope)
        T, H, D = x.shape
        p = x.reshape(T, H, D // 2, 2)
        x0, x1 = p[..., 0], p[..., 1]
        c, s = cos[:, None, :], sin[:, None, :]
        out = np.empty_like(p)
        out[..., 0] = x0 * c - x1 * s
        out[..., 1] = x0 * s + x1 * c
        return out.reshape(T, H, D)

    def logits(self, ids, linear):
        """Logits [T, vocab] (float32) of `ids` from scratch; linear(i, name, x, W) -> x @ W^T."""
        T = len(ids)
        D, H, KV, hd = self.n_embd, self.n_head, self.n_kv, self.head_dim
        x = self.w["token_embd.weight"][np.asarray(ids)].astype(np.float32)
        pos = np.arange(T, dtype=np.float64)
        inv_freq = self.rope_base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
        ang = pos[:, None] * inv_freq[None, :]
        cos, sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)
        mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), k=1)
        scale = np.float32(1.0 / np.sqrt(hd))
        g = H // KV
        for i in range(self.n_layer):
            h = self.rms(x, self.w[f"blk.{i}.attn_norm.weight"])
            q = linear(i, "attn_q", h, self.linear_weight(i, "attn_q")).reshape(T, H, hd)
            k = linear(i, "attn_k", h, self.linear_weight(i, "attn_k")).reshape(T, KV, hd)
            v = linear(i, "attn_v", h, self.linear_weight(i, "attn_v")).reshape(T, KV, hd)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            qh = q.transpose(1, 0, 2).reshape(KV, g, T, hd)          # query head j*g+m -> KV head j
            kh = k.transpose(1, 2, 0)[:, None]                       # [KV, 1, hd, T]
            vh = v.transpose(1, 0, 2)[:, None]                       # [KV, 1, T, hd]
            s = np.matmul(qh, kh) * scale + mask
            s -= s.max(axis=-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=-1, keepdims=True)
            o = np.matmul(s, vh).reshape(H, T, hd).transpose(1, 0, 2).reshape(T, D)
            x = x + linear(i, "attn_output", np.ascontiguousarray(o), self.linear_weight(i, "attn_output"))
            h = self.rms(x, self.w[f"blk.{i}.ffn_norm.weight"])
            gate = linear(i, "ffn_gate", h, self.linear_weight(i, "ffn_gate"))
            up = linear(i, "ffn_up", h, self.linear_weight(i, "ffn_up"))
            act = (gate / (1.0 + np.exp(-gate))) * up                # SiLU(gate) * up
            x = x + linear(i, "ffn_down", act, self.linear_weight(i, "ffn_down"))
        h = self.rms(x, self.w["output_norm.weight"])
        return h @ self.out.T


def fp32_linear(i, name, x, W):
    return x @ W.T


# ---------------------------------------------------------------------------
# LLM.int8()
# ---------------------------------------------------------------------------

def absmax_rows(a):
    """Symmetric absmax INT8 per row: (integer-valued float32 codes, float64 scales); all-zero rows -> 0, 0."""
    a64 = a.astype(np.float64)
    s = np.abs(a64).max(axis=1) / 127.0
    safe = np.where(s > 0, s, 1.0)
    q = np.rint(a64 / safe[:, None])  # round half to even
    assert np.abs(q).max(initial=0) <= 127
    return q.astype(np.float32), s


def int_matmul(qx, qw):
    """qx [T, in] @ qw[out, in]^T with exact integer sums (float64 result)."""
    n = qx.shape[1]
    acc = None
    for k0 in range(0, n, K_CHUNK):
        part = (qx[:, k0:k0 + K_CHUNK] @ qw[:, k0:k0 + K_CHUNK].T).astype(np.float64)
        acc = part if acc is None else acc + part
    return acc


class LLMInt8:
    def __init__(self, threshold, outlier_weights, row_scale, stats=False):
        self.threshold, self.outlier_weights, self.row_scale = threshold, outlier_weights, row_scale
        self.stats = stats
        self.wq = {}
        self.checked = {}
        self.reset()

    def reset(self):
        self.outliers = {n: [] for n in LINEARS}   # (block, count) per call
        self.relerr = {n: [] for n in LINEARS}
        self.ties = 0

    def weight(self, i, name, W):
        key = (i, name)
        if key not in self.wq:
            self.wq[key] = absmax_rows(W)  # per output channel, over the whole row
        return self.wq[key]

    def __call__(self, i, name, x, W):
        qw, sw = self.weight(i, name, W)
        big = np.abs(x) >= self.threshold
        self.ties += int(np.count_nonzero(np.abs(x) == self.threshold))
        cols = np.flatnonzero(big.any(axis=0))
        xi = x.copy()
        if self.row_scale == "bnb":
            xi[big] = 0.0                      # outlier elements out of the row absmax ...
            qx, sx = absmax_rows(xi)
            qx[:, cols] = 0.0                  # ... and the outlier columns out of the codes
        else:
            xi[:, cols] = 0.0                  # outlier columns zeroed before the row absmax
            qx, sx = absmax_rows(xi)
        acc = int_matmul(qx, qw)
        if not self.checked.get(name):        # once per layer type: the float sums equal int64 sums
            exact = qx[:8].astype(np.int64) @ qw.astype(np.int64).T
            assert np.array_equal(acc[:8], exact.astype(np.float64)), f"inexact integer sums in {name}"
            self.checked[name] = True
        y = acc * sx[:, None] * sw[None, :]
        y = y.astype(np.float32)
        if cols.size:
            if self.outlier_weights == "fp32":
                wc = W[:, cols]
            else:
                wc = (qw[:, cols].astype(np.float64) * sw[:, None]).astype(np.float32)
            y += x[:, cols] @ wc.T
        if self.stats:
            ref = x @ W.T
            self.outliers[name].append((i, int(cols.size)))
            self.relerr[name].append(float(np.linalg.norm((y - ref).astype(np.float64))
                                           / np.linalg.norm(ref.astype(np.float64))))
        return y


# ---------------------------------------------------------------------------
# Protocol (make_model_fixtures.perplexity, fed by this forward pass)
# ---------------------------------------------------------------------------

class Runner:
    """Stands in for the llama_cpp.Llama object that fixtures.perplexity() expects."""

    def __init__(self, model, linear):
        self.model, self.linear = model, linear


def numpy_eval_logits(runner, ids):
    return runner.model.logits(list(ids), runner.linear).astype(np.float32)


fixtures.eval_logits = numpy_eval_logits  # fixtures.perplexity() looks it up by name


def texts_and_ids(assets, which):
    tok = fixtures.llama_vocab_only(assets.gguf)
    out = {}
    for name in which:
        if name == "emma":
            text = fixtures.read_text_exact(assets.emma)
        else:
            tech = sorted(p for p in assets.bbc_tech.iterdir() if p.is_file())
            text = "\n\n".join(fixtures.read_text_exact(p).rstrip("\n") for p in tech)
        ids = list(tok.tokenize(text.encode("utf-8"), add_bos=False, special=False))[:fixtures.PPL_TOKENS]
        out[name] = ids
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--texts", default="emma,bbc-tech")
    ap.add_argument("--variants", default="fp32,int8,b,c,d,noouter,w8")
    ap.add_argument("--no-check", action="store_true", help="do not stop when FP32 misses the llama.cpp figure")
    args = ap.parse_args()
    which = [t for t in args.texts.split(",") if t]
    variants = [v for v in args.variants.split(",") if v]
    if "fp32" not in variants:
        variants.insert(0, "fp32")
    t0 = time.time()
    assets = fixtures.Assets(ROOT / ".assets")
    fixture = ROOT / "Tests" / "Fixtures" / "models" / "smollm2-perplexity.json"
    recorded = {}
    if fixture.is_file():
        for e in json.loads(fixture.read_text())["texts"]:
            recorded[e["name"]] = (e["ids"], e["ppl"])
    model = SmolLM2(assets.gguf)
    print(f"{assets.gguf.name}: {model.n_layer} blocks, d={model.n_embd}, {model.n_head}/{model.n_kv} heads, "
          f"rope base {model.rope_base:g}, eps {float(model.eps):g}, tensor types {model.types}; "
          f"loaded in {time.time() - t0:.1f} s", flush=True)
    ids = texts_and_ids(assets, which)
    for name in which:
        if name in recorded:
            assert ids[name] == recorded[name][0], f"{name}: token ids differ from {fixture.name}"
    print(f"tokens: {', '.join(f'{n} {len(v)}' for n, v in ids.items())} (same ids as {fixture.name})")

    results = {n: {} for n in which}
    stats = {}
    for v in variants:
        if v == "fp32":
            linear = fp32_linear
        else:
            linear = LLMInt8(*VARIANTS[v], stats=(v == "int8"))
        for name in which:
            t1 = time.time()
            if isinstance(linear, LLMInt8):
                linear.reset()
            res = fixtures.perplexity(Runner(model, linear), ids[name])
            results[name][v] = res
            base = results[name]["fp32"]["ppl"]
            wins = [round(w["ppl"], 3) for w in res["windows"]]
            print(f"  {name:8s} {LABELS[v]:62s} ppl {res['ppl']:.4f} ({100 * (res['ppl'] / base - 1):+.3f}%) "
                  f"windows {wins} [{time.time() - t1:.0f} s]", flush=True)
            if v == "fp32" and name in recorded:
                ref = recorded[name][1]
                print(f"           llama.cpp F32 reference {ref:.4f}: difference {res['ppl'] - ref:+.6f}")
                if abs(res["ppl"] - ref) > 2e-4 and not args.no_check:
                    sys.exit("FP32 forward does not reproduce llama.cpp; stopping")
            if isinstance(linear, LLMInt8):
                if linear.ties and np.isfinite(linear.threshold) and linear.threshold > 0:
                    print(f"           note: {linear.ties} input values exactly at the threshold")
                if linear.stats:
                    stats[name] = ({k: list(a) for k, a in linear.outliers.items()},
                                   {k: list(a) for k, a in linear.relerr.items()})

    print("\n| text | variant | ppl | change vs FP32 |")
    print("|---|---|---|---|")
    for name in which:
        base = results[name]["fp32"]["ppl"]
        for v, res in results[name].items():
            print(f"| {name} | {LABELS[v]} | {res['ppl']:.4f} | {100 * (res['ppl'] / base - 1):+.3f}% |")
    for name, (outl, rel) in stats.items():
        print(f"\nLLM.int8() (t=6, FP32 outlier weights) per layer type on {name} "
              f"({model.n_layer} blocks x {fixtures.PPL_TOKENS // fixtures.PPL_WINDOW} windows of "
              f"{fixtures.PPL_WINDOW} tokens):")
        print("| layer | in | mean outlier columns / window | max (block) | blocks with any | "
              "mean rel. error | max rel. error |")
        print("|---|---|---|---|---|---|---|")
        for n in LINEARS:
            counts = np.array([c for _, c in outl[n]])
            blocks = np.array([b for b, _ in outl[n]])
            j = int(counts.argmax())
            any_blocks = len({b for b, c in outl[n] if c > 0})
            r = np.array(rel[n])
            print(f"| {n} | {model.linear_weight(0, n).shape[1]} | {counts.mean():.2f} | {counts[j]} ({blocks[j]}) | "
                  f"{any_blocks}/{model.n_layer} | {r.mean():.5f} | {r.max():.5f} |")
        for n in ("attn_q", "attn_output", "ffn_down"):
            per = np.zeros(model.n_layer)
            for b, c in outl[n]:
                per[b] += c / (len(outl[n]) / model.n_layer)
            print(f"{n} outlier columns per block (mean over windows): {' '.join(f'{c:.0f}' for c in per)}")
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
