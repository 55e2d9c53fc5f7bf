#!/usr/bin/python3
"""Train slalom's small Vision Transformer on Fashion-MNIST and export it to ONNX.

Writes models/vit-fashion-mnist.onnx, models/vit-fashion-mnist.calibration.npy (256 training images
for slalom's calibration) and models/vit-fashion-mnist.slalom.json (input, normalisation, labels and
the float test accuracy measured here with torch).

The network is a plain pre-norm ViT: 7x7 patches (16 tokens) embedded by a linear layer, a class
token (Expand + Concat over the symbolic batch), learned position embeddings, encoder blocks of
multi-head self-attention (QK^T, softmax, softmax.V: products of two activations) and a GELU MLP,
then LayerNorm and a linear head on the class token. Attention is written out as Hugging Face-style
exports do (Linear, reshape into heads, transpose, MatMul, Softmax, MatMul, transpose back), and the
export uses opset 14, so LayerNorm appears spelled out (ReduceMean/Sub/Pow/Sqrt/Div) and GELU as
Erf: the importer handles what real transformer exports contain.

Run:  /usr/bin/python3 scripts/train_vit_fashion_mnist.py [--epochs 5]
Needs Debian's python3-torch, python3-onnx and dataset-fashion-mnist. Trains on one CPU thread.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_fashion_mnist import LABELS, REPO, evaluate, fit, load  # noqa: E402  (same data reader, labels and training loop)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(x).split(d, dim=2)
        q = q.reshape(b, t, self.heads, hd).transpose(1, 2)
        k = k.reshape(b, t, self.heads, hd).transpose(1, 2)
        v = v.reshape(b, t, self.heads, hd).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(hd)
        attn = scores.softmax(dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ViT(nn.Module):
    def __init__(self, patch=7, dim=64, depth=2, heads=4, hidden=128, classes=10):
        super().__init__()
        self.patch = patch
        tokens = (28 // patch) ** 2
        self.embed = nn.Linear(patch * patch, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        b = x.shape[0]
        p = self.patch
        g = 28 // p
        # [b, 1, 28, 28] -> [b, g*g, p*p] patches in row-major order
        x = x.reshape(b, g, p, g, p).transpose(2, 3).reshape(b, g * g, p * p)
        x = self.embed(x)
        x = torch.cat([self.cls.expand(b, -1, -1), x], dim=1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    train_x, train_y = load(args.data, "train")
    test_x, test_y = load(args.data, "test")
    mean, std = 0.286, 0.353  # the CNN's normalisation (scripts/train_fashion_mnist.py), rounded the same way

    def prep(images):
        return ((torch.from_numpy(images.astype(np.float32)) / 255.0 - mean) / std).unsqueeze(1)

    xtr, ytr = prep(train_x), torch.from_numpy(train_y.astype(np.int64))
    xte, yte = prep(test_x), torch.from_numpy(test_y.astype(np.int64))

    model = ViT()
    params = sum(p.numel() for p in model.parameters())
    print(f"params={params}", flush=True)
    steps = args.epochs * ((len(xtr) + args.batch - 1) // args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    train_seconds = fit(model, opt, sched, xtr, ytr, xte, yte, args.epochs, args.batch, args.seed)

    model.eval()
    acc = evaluate(model, xte, yte)
    print(f"float test accuracy (torch): {acc:.4f}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "vit-fashion-mnist.onnx")
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), onnx_path,
        opset_version=14, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    import onnx
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"onnx ops: {ops}", flush=True)

    meta = {
        "name": "vit-fashion-mnist",
        "input": {"name": "input", "dims": [1, 1, 28, 28]},
        "output": {"name": "logits", "dims": [1, 10]},
        "normalize": {"mean": mean, "std": std},
        "labels": LABELS,
        "floatTestAccuracy": round(acc, 4),
        "calibration": {
            "images": "vit-fashion-mnist.calibration.npy",
            "comment": "the first 256 Fashion-MNIST training images, uint8 pixels, preprocessed like inputs",
        },
        "params": params,
        "trainedWith": (
            f"scripts/train_vit_fashion_mnist.py: torch {torch.__version__}, seed {args.seed}, "
            f"ViT patch 7, d 64, 2 blocks, 4 heads, MLP 128; {args.epochs} epochs, batch {args.batch}, "
            f"AdamW wd 0.05, OneCycle max_lr {args.lr}, random horizontal flip, 1 CPU thread, "
            f"{train_seconds:.0f}s; exported opset 14"
        ),
    }
    np.save(os.path.join(args.out, "vit-fashion-mnist.calibration.npy"), train_x[:256].reshape(256, 1, 28, 28).astype(np.uint8))
    with open(os.path.join(args.out, "vit-fashion-mnist.slalom.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
