#!/usr/bin/env python3
"""
Quanta's GGUF exports measured in llama.cpp itself (issue 15). Not part of CI; never a dependency.

What it does, with Quanta built (`swift build -c release`) and the assets fetched (`scripts/fetch-assets`):
  1. `quanta export --type f32`: an F32 copy of SmolLM2 (the FP32 model every figure is quoted against);
  2. llama.cpp's own quantizer (llama_model_quantize, default parameters) of that F32 file to Q8_0 and Q4_0;
  3. Quanta's exports: q8_0 (must be the same bytes as llama.cpp's Q8_0), q4_0, and q4_0 with the rotation
     (--rotate), with the per-block clipping search (--search-clipping) and with GPTQ's codes (--recipe
     q4_0-gptq: 128 calibration windows of Mansfield Park, about 20 minutes on 2 cores), q4_1, and mxfp4;
  4. compares the Q8_0 files tensor by tensor (bytes), and prints each file's perplexity in llama.cpp on Emma
     and BBC tech by DESIGN.md's protocol (first 2048 tokens, no BOS, 4 windows of 512 from an empty cache,
     F32 KV cache, 2 threads), the same code that wrote Tests/Fixtures/models/smollm2-perplexity.json.

Run from the repository root (building llama-cpp-python takes a few minutes on 2 cores):
    python3 -m venv /tmp/peervenv
    CMAKE_ARGS="-DGGML_NATIVE=ON" /tmp/peervenv/bin/pip install numpy==2.4.6 gguf==0.19.0 llama-cpp-python==0.3.36
    /tmp/peervenv/bin/python scripts/peers/llama_cpp_gguf.py [--work /tmp/quanta-gguf] [--only q8_0,q4_0]
"""
import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("fixtures", ROOT / "scripts" / "fixtures" / "make_model_fixtures.py")
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)

# name: (quanta export arguments or None, llama.cpp ftype or None)
VARIANTS = {
    "f32": (["--type", "f32"], None),
    "llama.cpp q8_0": (None, 7),
    "quanta q8_0": (["--type", "q8_0"], None),
    "llama.cpp q4_0": (None, 2),
    "quanta q4_0": (["--type", "q4_0"], None),
    "quanta q4_0 --search-clipping": (["--type", "q4_0", "--search-clipping"], None),
    "quanta q4_0 --rotate": (["--type", "q4_0", "--rotate"], None),
    "quanta q4_0 --rotate --search-clipping": (["--type", "q4_0", "--rotate", "--search-clipping"], None),
    "quanta q4_0 --recipe q4_0-gptq": (["--type", "q4_0", "--recipe", "q4_0-gptq"], None),
    "quanta q4_0 --equalize": (["--type", "q4_0", "--equalize"], None),
    "quanta q4_0 --rotate --equalize": (["--type", "q4_0", "--rotate", "--equalize"], None),
    "quanta q4_0 --rotate --recipe q4_0-gptq": (["--type", "q4_0", "--rotate", "--recipe", "q4_0-gptq"], None),
    "quanta q4_0 --equalize --recipe q4_0-gptq": (["--type", "q4_0", "--equalize", "--recipe", "q4_0-gptq"], None),
    "llama.cpp q4_1": (None, 3),
    "quanta q4_1 --rotate --search-clipping": (["--type", "q4_1", "--rotate", "--search-clipping"], None),
    "quanta mxfp4": (["--type", "mxfp4"], None),
    "quanta mxfp4 --rotate --search-clipping": (["--type", "mxfp4", "--rotate", "--search-clipping"], None),
}


def file_name(name):
    return name.replace(" ", "_").replace("--", "").replace(".", "") + ".gguf"


def quanta_export(quanta, args, out):
    env = dict(os.environ, QUANTA_ASSETS=str(ROOT / ".assets"))
    subprocess.run([quanta, "export", "--model", "smollm2", "--format", "gguf", *args, "--out", str(out)], check=True, env=env)


def llama_quantize(source, out, ftype):
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params)
    assert rc == 0, f"llama_model_quantize returned {rc}"


def same_tensors(a, b):
    """(tensors with identical type and bytes, tensors in all)."""
    import gguf
    ra, rb = gguf.GGUFReader(a), gguf.GGUFReader(b)
    tb = {t.name: t for t in rb.tensors}
    same = sum(1 for t in ra.tensors if t.name in tb and t.tensor_type == tb[t.name].tensor_type
               and np.array_equal(np.asarray(t.data).view(np.uint8), np.asarray(tb[t.name].data).view(np.uint8)))
    return same, len(ra.tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--quanta", default=str(ROOT / ".build" / "release" / "quanta"))
    ap.add_argument("--work", default="/tmp/quanta-gguf")
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    args = ap.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    assets = fixtures.Assets(ROOT / ".assets")
    chosen = [v for v in VARIANTS if not args.only or v in args.only.split(",") or v == "f32"]

    paths = {}
    for name in chosen:
        export, ftype = VARIANTS[name]
        path = work / file_name(name)
        if not path.exists():
            t0 = time.time()
            if export is not None:
                quanta_export(args.quanta, export, path)
            else:
                llama_quantize(paths["f32"], path, ftype)
            print(f"made {path.name} in {time.time() - t0:.1f} s", file=sys.stderr)
        paths[name] = path
    if "llama.cpp q8_0" in paths and "quanta q8_0" in paths:
        same, total = same_tensors(paths["llama.cpp q8_0"], paths["quanta q8_0"])
        print(f"Q8_0: {same} of {total} tensors have the same type and bytes in llama.cpp's and Quanta's file")

    tok = fixtures.llama_vocab_only(paths["f32"])
    tech = sorted(p for p in assets.bbc_tech.iterdir() if p.is_file())
    texts = {"Emma": fixtures.read_text_exact(assets.emma),
             "BBC tech": "\n\n".join(fixtures.read_text_exact(p).rstrip("\n") for p in tech)}
    ids = {k: list(tok.tokenize(v.encode("utf-8"), add_bos=False, special=False))[:fixtures.PPL_TOKENS] for k, v in texts.items()}
    print("| file (llama.cpp 0.3.36, F32 KV cache, 2 threads) | MB | Emma | BBC tech |")
    print("|---|---|---|---|")
    reference = {}
    for name, path in paths.items():
        llm = fixtures.llama_f32(path)
        row = []
        for text, tokens in ids.items():
            ppl = fixtures.perplexity(llm, tokens)["ppl"]
            reference.setdefault(text, ppl)
            row.append(f"{ppl:.4f} ({100 * (ppl / reference[text] - 1):+.2f}%)")
        del llm
        print(f"| {name} | {path.stat().st_size / 1e6:.1f} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
