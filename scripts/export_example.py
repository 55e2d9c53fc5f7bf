#!/usr/bin/env python3
"""Exports "your own model" for the README's walk-through (section "Your own model").

Defines a small PyTorch CNN for 28x28 grayscale images, trains it for one short epoch on
Fashion-MNIST when Debian's dataset-fashion-mnist is installed (random weights otherwise), and
exports it with torch.onnx.export the way slalom wants a model:

- opset 13 (slalom reads opsets 7 to 20; 13 is a safe choice for PyTorch 1.13 to 2.x exporters),
- the model in eval() mode, so Dropout is the identity and BatchNorm uses its running statistics
  (slalom folds a BatchNorm that follows a Conv or Gemm into it),
- a symbolic batch axis (slalom binds it to 1; `--input-shape` picks another),
- weights embedded in the .onnx (no external data files).

It writes, under test/fixtures/own-model/ (committed; the CLI test uses them, since CI has no torch):
  cnn.onnx          the exported model (about 40 KB)
  cnn.slalom.json   its sidecar: the class labels slalom prints
  calibration/*.png 16 training images to calibrate on (raw pixels, as a user's images would be)

The model takes pixels / 255 (slalom's default preprocessing for a [N, 1, H, W] input: divide by
255, no mean or std), so no sidecar is needed.

Run from the repository root:  /usr/bin/python3 scripts/export_example.py
"""
import gzip
import json
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn

OUT = os.path.join("test", "fixtures", "own-model")
FASHION = os.environ.get("SLALOM_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
CALIBRATION_IMAGES = 16
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class SmallCnn(nn.Module):
    """conv 1->8 + BN + ReLU + pool, conv 8->16 + ReLU + pool, linear 784->10."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def read_idx(path: str) -> torch.Tensor:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8).reshape(shape)


def write_png(path: str, pixels: torch.Tensor) -> None:
    """An 8-bit grayscale PNG, written by hand (no imaging library needed)."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + bytes(pixels[y].tolist()) for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main() -> None:
    torch.manual_seed(0)
    model = SmallCnn()
    images_path = os.path.join(FASHION, "train-images-idx3-ubyte.gz")
    if os.path.exists(images_path):
        images = read_idx(images_path)
        labels = read_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")).long()
        x = images[:12000].float().unsqueeze(1) / 255
        y = labels[:12000]
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        model.train()
        for i in range(0, len(x), 64):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
            loss.backward()
            opt.step()
        print(f"trained one epoch on 12000 Fashion-MNIST images, last loss {loss.item():.3f}")
        calibration = images[20000 : 20000 + CALIBRATION_IMAGES]
    else:
        print(f"no Fashion-MNIST in {FASHION}: exporting random weights", file=sys.stderr)
        calibration = torch.randint(0, 256, (CALIBRATION_IMAGES, 28, 28), dtype=torch.uint8)

    model.eval()
    os.makedirs(os.path.join(OUT, "calibration"), exist_ok=True)
    torch.onnx.export(
        model,
        torch.zeros(1, 1, 28, 28),
        os.path.join(OUT, "cnn.onnx"),
        opset_version=13,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    with open(os.path.join(OUT, "cnn.slalom.json"), "w") as f:
        f.write(json.dumps({"labels": LABELS}, indent=2) + "\n")
    for k, image in enumerate(calibration):
        write_png(os.path.join(OUT, "calibration", f"{k:02d}.png"), image)
    print(f"wrote {OUT}/cnn.onnx and {len(calibration)} calibration images")


if __name__ == "__main__":
    main()
