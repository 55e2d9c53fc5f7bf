#!/usr/bin/env python3
"""The insecure reference for the price of security (issue 14, deliverable 5): VGG16 and ResNet-50
in PyTorch fp32 on the GPU — no enclave, no checks, no blinding, no exactness — per image (batch 1)
and in batches, plus every linear layer of slalom's models alone (shapes from webgpu-results.json),
the fastest fp32 path on the same device to compare the exact WGSL kernels with.

Strict fp32 (TF32 off, as the exact kernels' float32 twin) and PyTorch's default (TF32 on for
convolutions on Ampere and later) are both reported. Weights are random: only time is measured.

  python3 bench/gpu/torch_fp32.py --out torch-fp32.json [--layers webgpu-results.json] [--device cuda]
"""
import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def vgg16():
    cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
    layers, c = [], 3
    for v in cfg:
        if v == 'M':
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Linear(4096, 4096), nn.ReLU(True), nn.Linear(4096, 1000))


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.down = None if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return F.relu(self.body(x) + (x if self.down is None else self.down(x)))


def resnet50():
    blocks, cin = [], 64
    for width, count, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(count):
            blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(True), nn.MaxPool2d(3, 2, 1), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000))


def model(name):
    try:  # torchvision's, when installed (the same architectures)
        import torchvision
        return {'vgg16': torchvision.models.vgg16, 'resnet50': torchvision.models.resnet50}[name](weights=None)
    except Exception:
        return {'vgg16': vgg16, 'resnet50': resnet50}[name]()


def timed(fn, device, warmup, runs):
    """Median milliseconds of fn() over `runs` after `warmup`, synchronised on the device."""
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def measure_models(names, device, warmup, runs, batch):
    out = []
    for name in names:
        if name not in ('vgg16', 'resnet50'):
            print(f'torch: no PyTorch definition of {name}; its layers are still timed with --layers', flush=True)
            continue
        m = model(name).eval().to(device)
        for tf32 in (False, True):
            set_tf32(tf32)
            with torch.no_grad():
                x1 = torch.randn(1, 3, 224, 224, device=device)
                xb = torch.randn(batch, 3, 224, 224, device=device)
                ms1 = timed(lambda: m(x1), device, warmup, runs)
                msb = timed(lambda: m(xb), device, warmup, max(3, runs // 4))
            out.append({'model': name, 'precision': 'tf32' if tf32 else 'fp32', 'msPerImageBatch1': ms1, 'batch': batch, 'msPerBatch': msb, 'imagesPerS': batch * 1000 / msb})
            print(f'torch {name} {out[-1]["precision"]}: {ms1:.3f} ms/image at batch 1, {out[-1]["imagesPerS"]:.0f} img/s at batch {batch}', flush=True)
        del m
    return out


def measure_layers(path, device, warmup, runs):
    with open(path) as f:
        results = json.load(f)
    set_tf32(False)
    out = []
    for rec in results.get('models', []):
        for layer in rec['layers']:
            x = torch.randn(*layer['inDims'], device=device)
            if layer['op'] == 'Conv':
                a = layer['conv']
                w = torch.randn(*layer['wDims'], device=device)
                pt, pl, pb, pr = a['pads']
                if pt == pb and pl == pr:
                    fn = lambda x=x, w=w, a=a, p=(pt, pl): F.conv2d(x, w, None, a['strides'], p, a['dilations'], a['group'])
                else:
                    fn = lambda x=x, w=w, a=a, pad=(pl, pr, pt, pb): F.conv2d(F.pad(x, pad), w, None, a['strides'], 0, a['dilations'], a['group'])
            else:
                w = torch.randn(*layer['wDims'], device=device)
                fn = lambda x=x, w=w: x @ w
            with torch.no_grad():
                ms = timed(fn, device, warmup, runs)
            out.append({'model': rec['model'], 'name': layer['name'], 'op': layer['op'], 'macs': layer['macs'], 'fp32Ms': ms, 'gmacPerS': layer['macs'] / ms / 1e6})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', required=True)
    p.add_argument('--layers', help='webgpu-results.json of bench/gpu/run.ts: time its layers alone')
    p.add_argument('--models', default='vgg16,resnet50')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--runs', type=int, default=50)
    p.add_argument('--batch', type=int, default=32)
    a = p.parse_args()
    device = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    env = {'torch': torch.__version__, 'python': platform.python_version(), 'device': str(device), 'cudnn': torch.backends.cudnn.version() if device.type == 'cuda' else None}
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        env.update({'gpu': props.name, 'capability': f'{props.major}.{props.minor}', 'smCount': props.multi_processor_count, 'memoryBytes': props.total_memory, 'cuda': torch.version.cuda})
    result = {'environment': env, 'models': measure_models(a.models.split(','), device, a.warmup, a.runs, a.batch)}
    if a.layers:
        result['layers'] = measure_layers(a.layers, device, max(3, a.warmup // 2), max(5, a.runs // 5))
    with open(a.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {a.out}', flush=True)


if __name__ == '__main__':
    main()
