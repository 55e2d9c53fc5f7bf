#!/usr/bin/python3
"""Train slalom's small Fashion-MNIST CNN and export it to ONNX.

Writes models/fashion-mnist.onnx, models/fashion-mnist.calibration.npy (256 training images for
slalom's calibration) and models/fashion-mnist.slalom.json (input, normalisation, labels and the
float test accuracy measured here with torch). The network exercises every op family the importer must
handle: Conv + BatchNormalization + Relu, MaxPool, a residual Add, AveragePool, a Flatten written as
x.view(x.size(0), -1) (exported as Shape/Gather/Unsqueeze/Concat -> Reshape because the batch axis is
symbolic) and a Gemm head. BatchNormalization is kept as separate nodes (do_constant_folding=False) so
the importer's own BN folding is exercised.

Run:  /usr/bin/python3 scripts/train_fashion_mnist.py [--epochs 4] [--threads 2]
Needs Debian's python3-torch, python3-onnx and dataset-fashion-mnist (apt-get install dataset-fashion-mnist).
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(path):
    """Read a (possibly gzipped) IDX file into a uint8 numpy array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    return images, labels


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn, plus the identity skip, then relu."""

    def __init__(self, ch):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + x)


class FashionNet(nn.Module):
    """1x28x28 -> [conv16-bn-relu, maxpool] -> [conv32-bn-relu] -> residual(32) -> maxpool
    -> avgpool(2) -> flatten(32*3*3) -> linear(10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.res = ResidualBlock(32)
        self.fc = nn.Linear(32 * 3 * 3, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)   # 16x14x14
        x = F.relu(self.bn2(self.conv2(x)))                     # 32x14x14
        x = self.res(x)                                         # 32x14x14
        x = F.max_pool2d(x, 2)                                  # 32x7x7
        # count_include_pad=False (no padding here, so the same maths) keeps torch 1.13 from emitting
        # a zero Pad node in front of AveragePool.
        x = F.avg_pool2d(x, 2, count_include_pad=False)         # 32x3x3
        x = x.view(x.size(0), -1)                               # 288
        return self.fc(x)


def count_macs(model):
    """Multiply-accumulates of one 1x1x28x28 inference (convs and linear layers only)."""
    macs = 0

    def conv_hook(m, _inp, out):
        nonlocal macs
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        macs += out.numel() * k

    def fc_hook(m, _inp, out):
        nonlocal macs
        macs += out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(fc_hook))
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in hooks:
        h.remove()
    return macs


def export_onnx(model, path):
    """Export in eval mode with a symbolic batch axis, keeping BatchNormalization as its own nodes.

    torch 1.13 fuses Conv+BatchNormalization during eval-mode export (_jit_pass_onnx_eval_peephole)
    whatever do_constant_folding says, so that one pass is switched off for this call; the graph is
    otherwise exactly what torch.onnx.export emits (the eval-mode BN uses the running statistics).
    """
    peephole = torch._C._jit_pass_onnx_eval_peephole
    torch._C._jit_pass_onnx_eval_peephole = lambda _graph, params: params
    try:
        torch.onnx.export(
            model, torch.zeros(1, 1, 28, 28), path,
            opset_version=13, input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=False,
        )
    finally:
        torch._C._jit_pass_onnx_eval_peephole = peephole


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def fit(model, opt, sched, xtr, ytr, xte, yte, epochs, batch, seed):
    """Minibatch training with random horizontal flips, a test accuracy per epoch; returns the seconds taken."""
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total, seen = 0.0, 0
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            xb, yb = xtr[idx], ytr[idx]
            # random horizontal flip: garments are left/right symmetric
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        acc = evaluate(model, xte, yte)
        print(f"epoch {epoch + 1}/{epochs} loss={total / seen:.4f} test_acc={acc:.4f} "
              f"elapsed={time.time() - t0:.0f}s", flush=True)
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    train_x, train_y = load(args.data, "train")
    test_x, test_y = load(args.data, "test")
    pixels = train_x.astype(np.float64) / 255.0
    mean, std = float(pixels.mean()), float(pixels.std())
    mean, std = round(mean, 4), round(std, 4)
    del pixels

    def prep(images):
        return ((torch.from_numpy(images.astype(np.float32)) / 255.0 - mean) / std).unsqueeze(1)

    xtr, ytr = prep(train_x), torch.from_numpy(train_y.astype(np.int64))
    xte, yte = prep(test_x), torch.from_numpy(test_y.astype(np.int64))

    model = FashionNet()
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model)
    print(f"params={params} macs={macs} mean={mean} std={std}", flush=True)

    steps_per_epoch = (len(xtr) + args.batch - 1) // args.batch
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr * 10, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    train_seconds = fit(model, opt, sched, xtr, ytr, xte, yte, args.epochs, args.batch, args.seed)

    model.eval()
    acc = evaluate(model, xte, yte)
    print(f"float test accuracy (torch): {acc:.4f}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "fashion-mnist.onnx")
    export_onnx(model, onnx_path)

    import onnx
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"onnx ops: {ops}", flush=True)

    meta = {
        "name": "fashion-mnist",
        "input": {"name": "input", "dims": [1, 1, 28, 28]},
        "output": {"name": "logits", "dims": [1, 10]},
        "normalize": {"mean": mean, "std": std},
        "labels": LABELS,
        "floatTestAccuracy": round(acc, 4),
        "calibration": {
            "images": "fashion-mnist.calibration.npy",
            "comment": "the first 256 Fashion-MNIST training images, uint8 pixels, preprocessed like inputs",
        },
        "params": params,
        "macs": macs,
        "trainedWith": (
            f"scripts/train_fashion_mnist.py: torch {torch.__version__}, seed {args.seed}, "
            f"{args.epochs} epochs, batch {args.batch}, SGD nesterov momentum 0.9, wd 5e-4, "
            f"OneCycle max_lr {args.lr * 10}, random horizontal flip, {args.threads} CPU threads, "
            f"{train_seconds:.0f}s; exported opset 13, do_constant_folding=False"
        ),
    }
    np.save(os.path.join(args.out, "fashion-mnist.calibration.npy"), train_x[:256].reshape(256, 1, 28, 28).astype(np.uint8))
    with open(os.path.join(args.out, "fashion-mnist.slalom.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
