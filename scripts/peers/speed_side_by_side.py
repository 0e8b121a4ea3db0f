#!/usr/bin/env python3
"""
Quanta and the engines people run these models with, timed side by side on this machine (issue 11). Not part of
CI; never a dependency. `scripts/peers/speed` makes the throwaway environment and runs this file.

Workloads, all at --threads (default 2), the same as `quanta bench model` times:
  SmolLM2  prefill 512 tokens and decode 128 tokens one at a time, each from an empty cache (tokens/s):
           llama.cpp (llama-cpp-python built with -DGGML_NATIVE=ON; F32 KV cache, no flash attention) on the
           F32 copy of the GGUF (`quanta export --type f32`) and on llama.cpp's own Q8_0 and Q4_1 of it
           (llama_model_quantize); Quanta FP32 and its int8 recipes with the head quantized (--quantize-head).
  MiniLM   a batch of 32 sequences of 128 tokens, mean pooling and L2 normalisation (sequences/s): PyTorch FP32
           and `torch.ao.quantization.quantize_dynamic` int8 (sentence-transformers' model through transformers),
           ONNX Runtime FP32 and int8 per channel (`onnxruntime.quantization.quantize_dynamic`); Quanta FP32 and
           its int8 recipes.
  Train    with --train: one SmolLM2 training step on 512 tokens (forward, backward, clipping at norm 1, AdamW),
           training tokens/s: PyTorch FP32 (transformers' LlamaForCausalLM with SmolLM2-135M's configuration;
           the weights' values do not change the time) against `quanta bench train --model smollm2` (FP32 and
           the --train-recipes QAT models).
  GEMM     `quanta bench gemm` (Quanta's kernels, OpenBLAS sgemm and oneDNN's u8s8 matmul in one run).
With --isa avx2 the AVX2 class is measured on an AVX-512 machine: Quanta runs with `--isa avx2`, and PyTorch is held
to AVX2 by its own switches (ATEN_CPU_CAPABILITY=avx2 for ATen, FBGEMM_ENABLE_INSTRUCTIONS=AVX2 for the int8
GEMMs, MKL_ENABLE_INSTRUCTIONS=AVX2 for the FP32 ones, ONEDNN_MAX_CPU_ISA=AVX2). ONNX Runtime's MLAS has no such
switch (it reads CPUID), so its rows stay on the native class and are not counted as the best peer. llama.cpp has
no run-time switch either, so `scripts/peers/speed --isa avx2` builds a second llama-cpp-python for the AVX2 class
(-DGGML_NATIVE=OFF, AVX, AVX2, FMA, F16C, BMI2 on, every AVX-512 and AVX-VNNI variant off) into its own folder,
which QUANTA_PEERS_LLAMA_AVX2 names and this script puts first on sys.path (it prints llama.cpp's system info);
`quanta bench gemm --isa avx2` limits oneDNN to AVX2 (DNNL_MAX_CPU_ISA).
Every round runs every engine once (interleaved; each peer call after an untimed one), so ratios hold on a noisy
machine; the table gives the median over the rounds and each figure against the best peer of the same workload.

    scripts/peers/speed [--rounds 3] [--threads 2] [--smollm2-recipes w8a8,w8a8-block32,w7a8]
                        [--minilm-recipes w8a8,w7a8] [--skip-gemm] [--train [--train-recipes w4a16-g128]] [--minilm-only]
                        [--isa native|avx2]
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
ASSETS = ROOT / ".assets"


def cpu_model():
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


# The switches that hold PyTorch (ATen, FBGEMM, MKL, oneDNN) to the AVX2 class; read when torch loads.
AVX2_CLASS_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "avx2", "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
                          "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2"}
NATIVE_ONLY = " [native ISA]"   # the suffix of a peer that cannot be held to the AVX2 class


def quanta_json(quanta, args, isa="native"):
    env = dict(os.environ, QUANTA_ASSETS=str(ASSETS))
    isa_flag = [] if isa == "native" else ["--isa", isa]
    out = subprocess.run([quanta, *args, *isa_flag, "--json"], check=True, env=env, stdout=subprocess.PIPE,
                         text=True).stdout
    return json.loads(out)


def timed(body, units):
    """Units per second of one call of body, after one untimed call (so that pages are mapped and the threads of
    the engine that ran before are idle)."""
    body()
    start = time.perf_counter()
    body()
    return units / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------- SmolLM2 (llama.cpp)

def _quiet(level, text, user_data):
    pass


def quiet_callback():
    import llama_cpp
    return llama_cpp.llama_log_callback(_quiet)


class LlamaCpp:
    """One GGUF file in llama.cpp: prefill 512 and decode 128 from an empty cache, as `quanta bench model`."""

    def __init__(self, path, threads, ids):
        import llama_cpp
        self.llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=threads,
                                   n_threads_batch=threads, type_k=0, type_v=0, flash_attn=False, logits_all=False,
                                   verbose=False)   # type 0: GGML_TYPE_F32, the KV cache Quanta keeps
        self.ids = ids

    def clear(self):
        self.llm.reset()
        self.llama_cpp.llama_memory_clear(self.llm._ctx.memory, True)

    def prefill(self):
        def run():
            self.clear()
            self.llm.eval(self.ids[:512])
        return timed(run, 512)

    def decode(self):
        def run():
            self.clear()
            for token in self.ids[-128:]:
                self.llm.eval([token])
        return timed(run, 128)


def smollm2_files(quanta, work):
    """The F32 copy and llama.cpp's Q8_0 and Q4_1 of it."""
    import llama_cpp
    global QUIET
    QUIET = quiet_callback()   # kept alive: llama.cpp calls it for every log line
    llama_cpp.llama_log_set(QUIET, None)
    work.mkdir(parents=True, exist_ok=True)
    f32 = work / "smollm2-f32.gguf"
    if not f32.exists():
        env = dict(os.environ, QUANTA_ASSETS=str(ASSETS))
        subprocess.run([quanta, "export", "--model", "smollm2", "--format", "gguf", "--type", "f32", "--out", str(f32)],
                       check=True, env=env)
    files = {"llama.cpp F32": f32}
    for name, ftype in (("Q8_0", 7), ("Q4_1", 3)):
        out = work / f"smollm2-{name.lower()}.gguf"
        if not out.exists():
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype, params.nthread = ftype, 2
            assert llama_cpp.llama_model_quantize(str(f32).encode(), str(out).encode(), params) == 0
        files[f"llama.cpp {name}"] = out
    return files


def emma_ids(gguf_path, count):
    """`count` ids of Emma, repeated as needed, as `quanta bench model` feeds SmolLM2."""
    import llama_cpp
    vocab = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    ids = vocab.tokenize((ASSETS / "austen" / "emma.txt").read_bytes(), add_bos=False, special=False)
    return [ids[i % len(ids)] for i in range(count)]


# ------------------------------------------------------------------------------- MiniLM (PyTorch, ONNX Runtime)

class MiniLMPeers:
    """MiniLM's batch of 32 x 128 in PyTorch (FP32, dynamic int8) and ONNX Runtime (FP32, int8 per channel)."""

    def __init__(self, threads, work, onnx_suffix=""):
        import torch
        from transformers import AutoModel
        torch.set_num_threads(threads)
        self.torch = torch
        self.onnx_suffix = onnx_suffix
        folder = ASSETS / "minilm"
        self.fp32 = AutoModel.from_pretrained(str(folder)).eval()
        self.int8 = torch.ao.quantization.quantize_dynamic(AutoModel.from_pretrained(str(folder)).eval(),
                                                           {torch.nn.Linear}, dtype=torch.qint8)
        generator = np.random.default_rng(0)
        ids = generator.integers(1000, 20000, size=(32, 128))
        ids[:, 0], ids[:, -1] = 101, 102   # [CLS] ... [SEP]
        self.inputs = {"input_ids": torch.tensor(ids), "attention_mask": torch.ones(32, 128, dtype=torch.long),
                       "token_type_ids": torch.zeros(32, 128, dtype=torch.long)}
        self.sessions = self.onnx_sessions(threads, work)

    def onnx_sessions(self, threads, work):
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
        work.mkdir(parents=True, exist_ok=True)
        fp32, int8 = work / "minilm-fp32.onnx", work / "minilm-int8-per-channel.onnx"
        if not fp32.exists():
            class Encoder(self.torch.nn.Module):   # positional inputs for the TorchScript exporter
                def __init__(self, bert):
                    super().__init__()
                    self.bert = bert

                def forward(self, input_ids, attention_mask, token_type_ids):
                    return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            self.torch.onnx.export(Encoder(self.fp32), tuple(self.inputs.values()), str(fp32), input_names=list(self.inputs),
                                   output_names=["last_hidden_state"], opset_version=17, dynamo=False)
        if not int8.exists():
            quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        feed = {k: v.numpy() for k, v in self.inputs.items()}
        sessions = {}
        for name, path in (("ONNX Runtime FP32", fp32), ("ONNX Runtime int8 per-channel", int8)):
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            sessions[name] = (session, {i.name: feed[i.name] for i in session.get_inputs()})
        return sessions

    def embed_torch(self, model):
        with self.torch.inference_mode():
            hidden = model(**self.inputs).last_hidden_state
            mask = self.inputs["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            return self.torch.nn.functional.normalize(pooled, dim=1)

    def embed_onnx(self, name):
        session, feed = self.sessions[name]
        hidden = session.run(None, feed)[0]
        pooled = hidden.mean(axis=1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def rates(self):
        rates = {"PyTorch FP32": timed(lambda: self.embed_torch(self.fp32), 32),
                 "PyTorch int8 (quantize_dynamic)": timed(lambda: self.embed_torch(self.int8), 32)}
        for name in self.sessions:
            rates[name + self.onnx_suffix] = timed(lambda: self.embed_onnx(name), 32)
        return rates


# ------------------------------------------------------------------------------------------- training (PyTorch)

class SmolLM2TrainingPeer:
    """One AdamW step of SmolLM2-135M in PyTorch FP32 on one sequence of 512 tokens, as `quanta bench train`."""

    def __init__(self, threads, ids):
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                             num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                             rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, hidden_act="silu")
        self.model = LlamaForCausalLM(config).float().train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-5, weight_decay=0.01)
        self.ids = torch.tensor([ids[:512]])

    def step(self):
        loss = self.model(input_ids=self.ids, labels=self.ids).loss
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def rate(self):
        return timed(self.step, 512)


# ------------------------------------------------------------------------------------------------------- report

def table(title, unit, samples, peers):
    """Median per engine; each Quanta row against the best peer, each peer against the best peer."""
    medians = {name: statistics.median(values) for name, values in samples.items()}
    best_peer = max(medians[p] for p in peers if p in medians)
    print(f"\n{title} ({unit}, median of {len(next(iter(samples.values())))} interleaved rounds; range in brackets)")
    for name, values in samples.items():
        ratio = medians[name] / best_peer
        print(f"  {name:48s} {medians[name]:9.1f}  [{min(values):.1f}-{max(values):.1f}]  {ratio:5.2f}x best peer")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quanta", default=str(ROOT / ".build" / "release" / "quanta"))
    parser.add_argument("--work", default="/tmp/quanta-speed-peers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smollm2-recipes", default="w8a8,w8a8-block32,w7a8")
    parser.add_argument("--minilm-recipes", default="w8a8,w7a8")
    parser.add_argument("--skip-gemm", action="store_true")
    parser.add_argument("--train", action="store_true", help="also time a SmolLM2 training step against PyTorch")
    parser.add_argument("--train-recipes", default="w4a16-g128")
    parser.add_argument("--minilm-only", action="store_true", help="MiniLM and its peers only (no llama.cpp, no GEMM)")
    parser.add_argument("--isa", choices=["native", "avx2"], default="native",
                        help="avx2: measure the AVX2 class on this machine")
    args = parser.parse_args()
    if args.isa == "avx2":
        os.environ.update(AVX2_CLASS_ENVIRONMENT)
        if not args.minilm_only:
            llama_avx2 = os.environ.get("QUANTA_PEERS_LLAMA_AVX2")
            if not llama_avx2 or not pathlib.Path(llama_avx2, "llama_cpp").is_dir():
                parser.error("--isa avx2 with llama.cpp needs QUANTA_PEERS_LLAMA_AVX2, the folder of an AVX2-class "
                             "llama-cpp-python (scripts/peers/speed makes it)")
            sys.path.insert(0, llama_avx2)
    work, threads = pathlib.Path(args.work), args.threads
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; {threads} threads; Quanta {args.quanta}; class {args.isa}")

    files = {} if args.minilm_only else smollm2_files(args.quanta, work)
    ids = None if args.minilm_only else emma_ids(files["llama.cpp F32"], 512 + 128)
    engines = {name: LlamaCpp(path, threads, ids) for name, path in files.items()}
    if engines:
        import llama_cpp
        system = llama_cpp.llama_print_system_info().decode().strip()
        print(f"llama.cpp ({pathlib.Path(llama_cpp.__file__).parent}): {system}")
        if args.isa == "avx2" and ("AVX512 = 1" in system or "AVX_VNNI = 1" in system):
            sys.exit(f"--isa avx2: this llama.cpp was built with AVX-512 or AVX-VNNI ({system}); rebuild it for the AVX2 class")
    minilm = MiniLMPeers(threads, work, NATIVE_ONLY if args.isa == "avx2" else "")
    import torch
    print(f"PyTorch's CPU capability: {torch.backends.cpu.get_cpu_capability()}")
    trainer = SmolLM2TrainingPeer(threads, ids) if args.train and not args.minilm_only else None
    prefill, decode, sentences, training = {}, {}, {}, {}
    for round_ in range(args.rounds):
        print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
        for name, engine in engines.items():
            prefill.setdefault(name, []).append(engine.prefill())
            decode.setdefault(name, []).append(engine.decode())
        for row in [] if args.minilm_only else quanta_json(args.quanta, ["bench", "model", "--model", "smollm2", "--recipe", args.smollm2_recipes,
                                                                         "--quantize-head", "--threads", str(threads), "--runs", "1"], args.isa):
            target = prefill if row["metric"] == "prefill_tokens_per_s" else decode
            target.setdefault(f"Quanta {row['recipe']}", []).append(row["value"])
        for name, rate in minilm.rates().items():
            sentences.setdefault(name, []).append(rate)
        for row in quanta_json(args.quanta, ["bench", "model", "--model", "minilm", "--recipe", args.minilm_recipes,
                                             "--threads", str(threads), "--runs", "1"], args.isa):
            sentences.setdefault(f"Quanta {row['recipe']}", []).append(row["value"])
        if trainer:
            training.setdefault("PyTorch FP32", []).append(trainer.rate())
            for row in quanta_json(args.quanta, ["bench", "train", "--model", "smollm2", "--recipe", args.train_recipes,
                                                 "--threads", str(threads), "--runs", "1"]):
                training.setdefault(f"Quanta {row['recipe']} ({row['metric']})", []).append(row["value"])
    peers_llama = [n for n in engines]
    if not args.minilm_only:
        table("SmolLM2 prefill 512", "tokens/s", prefill, peers_llama)
        table("SmolLM2 decode 128", "tokens/s", decode, peers_llama)
    table("MiniLM batch 32 x 128", "sequences/s", sentences,
          [n for n in sentences if not n.startswith("Quanta") and not n.endswith(NATIVE_ONLY)])
    if trainer:
        table("SmolLM2 training step, 512 tokens", "tokens/s", training, ["PyTorch FP32"])
    if not args.skip_gemm and not args.minilm_only:
        print("\nGEMM (quanta bench gemm: Quanta's kernels, OpenBLAS sgemm and oneDNN in one run)")
        env = dict(os.environ, QUANTA_ASSETS=str(ASSETS))
        isa_flag = [] if args.isa == "native" else ["--isa", args.isa]
        subprocess.run([args.quanta, "bench", "gemm", "--threads", str(threads), "--runs", "7", *isa_flag], check=True, env=env)


if __name__ == "__main__":
    main()
