#!/usr/bin/env python3
"""
How close the peers' int8 MiniLM embeddings stay to their own FP32 ones, on the texts whose cosine rows `quanta eval
--model minilm` prints for Quanta's recipes (issue 11: a faster int8 recipe is only a fair match for a peer if it is
at least as accurate). Not part of CI; never a dependency. Run with the throwaway environment of `scripts/peers/speed`:

    /tmp/quanta-speed-peers/venv/bin/python scripts/peers/minilm_int8_accuracy.py

Texts: the 50 Lee documents (gensim's lee.cor), the 200 Pang-Lee polarity sentences, the first 20 BBC articles of each
class by file name; each truncated at 256 tokens (sentence-transformers' max_seq_length for this model and Quanta's
WordPiece default); mean pooling over the attention mask, L2 normalisation. Peers: PyTorch's
`torch.ao.quantization.quantize_dynamic` int8 (what `scripts/peers/speed` times: on x86, FBGEMM with per-tensor INT8
weights and per-tensor dynamic UINT8 activations of 7-bit range, `reduce_range`) and ONNX Runtime's
`quantize_dynamic(per_channel=True)` int8. Prints the mean and minimum cosine to the same engine's FP32 embeddings.
"""
import argparse
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
ASSETS = ROOT / ".assets"


def texts():
    gensim = ASSETS / "gensim"
    lee = [line for line in (gensim / "lee.cor").read_text(errors="replace").split("\n") if line.strip()]
    polarity = [line.split(" ", 1)[1] for line in (gensim / "pang_lee_polarity.cor").read_text(errors="replace").split("\n") if line.strip()]
    bbc = []
    for label in sorted(p.name for p in (ASSETS / "bbc").iterdir() if p.is_dir()):
        for path in sorted((ASSETS / "bbc" / label).glob("*.txt"))[:20]:
            bbc.append(path.read_text(errors="replace"))
    return {"lee": lee, "polarity": polarity, "bbc": bbc}


def cosines(a, b):
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(c.mean()), float(c.min())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/quanta-speed-peers", help="where the ONNX files (any batch and length) are made once")
    args = parser.parse_args()
    import torch
    from transformers import AutoModel, AutoTokenizer
    folder = ASSETS / "minilm"
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    fp32 = AutoModel.from_pretrained(str(folder)).eval()
    int8 = torch.ao.quantization.quantize_dynamic(AutoModel.from_pretrained(str(folder)).eval(), {torch.nn.Linear}, dtype=torch.qint8)

    def torch_embed(model, batch):
        inputs = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        return ((hidden * mask).sum(1) / mask.sum(1)).numpy()

    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    onnx_fp32, onnx_int8 = work / "minilm-fp32-dynamic-axes.onnx", work / "minilm-int8-per-channel-dynamic-axes.onnx"
    if not onnx_fp32.exists():
        class Encoder(torch.nn.Module):   # positional inputs for the TorchScript exporter
            def __init__(self, bert):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        example = tokenizer(["an example"], return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        torch.onnx.export(Encoder(fp32), tuple(example[n] for n in names), str(onnx_fp32), input_names=names,
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names + ["last_hidden_state"]})
    if not onnx_int8.exists():
        quantize_dynamic(str(onnx_fp32), str(onnx_int8), per_channel=True, weight_type=QuantType.QInt8)
    sessions = {name: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for name, path in
                [("fp32", onnx_fp32), ("int8", onnx_int8)]}

    def onnx_embed(session, batch):
        inputs = tokenizer(batch, padding=True, truncation=True, max_length=256, return_tensors="np")
        names = {i.name for i in session.get_inputs()}
        hidden = session.run(None, {k: v.astype(np.int64) for k, v in inputs.items() if k in names})[0]
        mask = inputs["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(1) / mask.sum(1)

    print(f"{'task':<9} {'texts':>5}  {'PyTorch int8 mean / min':>24}  {'ONNX Runtime int8 mean / min':>29}")
    for task, items in texts().items():
        pieces = {key: [] for key in ["t32", "t8", "o32", "o8"]}
        for start in range(0, len(items), 16):
            batch = items[start:start + 16]
            pieces["t32"].append(torch_embed(fp32, batch))
            pieces["t8"].append(torch_embed(int8, batch))
            pieces["o32"].append(onnx_embed(sessions["fp32"], batch))
            pieces["o8"].append(onnx_embed(sessions["int8"], batch))
        e = {key: np.concatenate(value) for key, value in pieces.items()}
        tm, tn = cosines(e["t8"], e["t32"])
        om, on = cosines(e["o8"], e["o32"])
        print(f"{task:<9} {len(items):>5}  {tm:>11.4f} / {tn:<10.4f}  {om:>14.4f} / {on:<12.4f}")


if __name__ == "__main__":
    main()
