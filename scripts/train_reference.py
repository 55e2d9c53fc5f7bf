#!/usr/bin/python3
"""Float reference for `slalom train` (bench/train.ts runs it): the same network (the Fashion-MNIST CNN,
the ViT of scripts/train_vit_fashion_mnist.py or the VGG-style VggNet below, by the plan's architecture) trained in PyTorch fp32 on
one CPU thread from the same initial weights, on the same batches, with the same optimizer, so the only
difference to slalom's verified run is slalom's per-step quantization.

Reads the initial model (ONNX, as slalom's `modelToOnnx` writes it: parameters named as the training
scripts name them, a ViT's Linear weights transposed as the second input of a MatMul node named
`/<module path>/MatMul`, as torch exports them) and a JSON file with the batches (lists of indices into
the training split), the hyperparameters and the normalisation; prints one JSON line: test accuracy,
mean milliseconds per training step, and the last loss. With --gradients it trains nothing and prints
the loss and every parameter's gradient on the plan's first batch in float64 (test/train/torch-gradients.slow.ts).

Run:  /usr/bin/python3 scripts/train_reference.py --init init.onnx --plan plan.json [--data DIR] [--gradients]
Needs Debian's python3-torch, python3-onnx and dataset-fashion-mnist.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_fashion_mnist import FashionNet, load  # noqa: E402
from train_vit_fashion_mnist import ViT  # noqa: E402



class VggNet(torch.nn.Module):
    """slalom's vgg-fashion-mnist (src/train/vgg.ts): 3x3 convs of 32, 64, 128, 256, 256 channels, each
    with BatchNorm and ReLU, max pools after the first, second and fifth (28 -> 14 -> 7 -> 3), Linear 2304 -> 10."""

    STAGES = [(32, True), (64, True), (128, False), (256, False), (256, True)]

    def __init__(self):
        super().__init__()
        cin = 1
        for i, (cout, _) in enumerate(self.STAGES, 1):
            setattr(self, f"conv{i}", torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False))
            setattr(self, f"bn{i}", torch.nn.BatchNorm2d(cout))
            cin = cout
        self.fc = torch.nn.Linear(cin * 3 * 3, 10)

    def forward(self, x):
        for i, (_, pool) in enumerate(self.STAGES, 1):
            x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
            if pool:
                x = F.max_pool2d(x, 2)
        return self.fc(x.flatten(1))


ARCHITECTURES = {"fashion-mnist-cnn": FashionNet, "vit-fashion-mnist": ViT, "vgg-fashion-mnist": VggNet}


def initial_state(path):
    """Tensors by torch name: the named initializers, and each MatMul weight (stored [in, out]) transposed."""
    graph = onnx.load(path).graph
    state = {t.name: torch.from_numpy(numpy_helper.to_array(t).astype(np.float64)) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "MatMul" and node.name.startswith("/") and node.name.endswith("/MatMul") and node.input[1] in state:
            state[node.name[1:-len("/MatMul")].replace("/", ".") + ".weight"] = state[node.input[1]].T.contiguous()
    return state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--data", default=os.environ.get("SLALOM_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--gradients", action="store_true", help="print the first batch's float64 gradients instead of training")
    args = ap.parse_args()
    torch.set_num_threads(1)

    plan = json.load(open(args.plan))
    h = plan["hyperparameters"]
    mean, std = plan["normalize"]["mean"], plan["normalize"]["std"]
    model = ARCHITECTURES[h["architecture"]]().double()
    state = initial_state(args.init)
    missing = [k for k in model.state_dict() if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        sys.exit(f"{args.init} lacks {missing[0]} of {h['architecture']}")
    model.load_state_dict({k: state[k] for k in model.state_dict() if k in state}, strict=False)

    train_x, train_y = load(args.data, "train")
    if args.gradients:
        idx = np.array(plan["batches"][0])
        x = ((torch.from_numpy(train_x[idx].astype(np.float64)) / 255.0 - mean) / std).unsqueeze(1)
        model.train()
        loss = F.cross_entropy(model(x), torch.from_numpy(train_y[idx].astype(np.int64)))
        loss.backward()
        print(json.dumps({"loss": float(loss), "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}}))
        return
    test_x, test_y = load(args.data, "test")
    prep = lambda images: ((torch.from_numpy(images.astype(np.float32)) / 255.0 - mean) / std).unsqueeze(1)
    xtr, ytr = prep(train_x).float(), torch.from_numpy(train_y.astype(np.int64))
    model = model.float()
    if h["optimizer"] == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=h["lr"], momentum=h["momentum"], weight_decay=h["weightDecay"])
    else:
        opt = torch.optim.Adam(model.parameters(), lr=h["lr"], weight_decay=h["weightDecay"])
    model.train()
    times = []
    loss = None
    for batch in plan["batches"]:
        idx = torch.tensor(batch)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append((time.perf_counter() - t0) * 1000)
    model.eval()
    n = plan["testLimit"]
    with torch.no_grad():
        acc = (model(prep(test_x[:n]).float()).argmax(1) == torch.from_numpy(test_y[:n].astype(np.int64))).float().mean().item()
    print(json.dumps({"testAccuracy": acc, "msPerStep": float(np.mean(times[1:] if len(times) > 1 else times)), "lastLoss": float(loss), "steps": len(times), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
