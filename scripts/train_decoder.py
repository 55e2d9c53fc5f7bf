#!/usr/bin/python3
"""Train slalom's small character-level GPT on Debian's fortunes and export it to ONNX with its KV cache.

Writes, under --out (default models/):
  fortunes-gpt.onnx              the decoder, opset 17, with past/present key/value inputs and outputs
  fortunes-gpt.tokenizer.json    {"kind": "char", "vocab": [...]}: one character per token id
  fortunes-gpt.calibration.npy   int64 [N, T] token ids: seeded windows of the training split
  fortunes-gpt.heldout.txt       the first held-out fortunes (about --heldout-bytes), joined like the training text
  fortunes-gpt.slalom.json       sidecar: tokenizer, calibration, parameters, losses and how it was trained

Text: every plain fortune file under --fortunes (not the .dat indexes or .u8 links), in name order, cut
into entries at lines holding only '%'. Entries with characters outside printable ASCII (tabs are
expanded first) are dropped, as are empty ones. A seeded permutation puts --heldout of the entries in
the held-out split; each split is its entries joined in file order as they are stored: entry, "\n%\n".

Model (GPT-2 style, pre-norm): token and position embeddings (two Gathers), blocks of LayerNorm ->
one fused qkv Linear -> causal multi-head attention over the past keys/values and the new ones ->
output Linear, residual; LayerNorm -> Linear -> GELU (erf) -> Linear, residual; a final LayerNorm and
an lm_head Linear without bias, not tied to the token embedding. The causal mask is taken from the
shapes: query i (absolute position past + i) sees keys j <= past + i, so a prefill of several tokens
after a non-empty past is masked correctly too. Export inputs: input_ids, position_ids, past_key_i,
past_value_i; outputs: logits, present_key_i, present_value_i; batch, seq and past are dynamic.

Before the export the script checks that the cache is exact in torch: the logits of a whole sequence
equal those of a prefill followed by one-token steps (max abs diff < 1e-4), and the ONNX file passes
onnx.checker.

Run:  /usr/bin/python3 scripts/train_decoder.py [--steps 300] [--threads 2]
Needs Debian's python3-torch, python3-onnx and fortunes (apt-get install fortunes). Debian's torch calls
the system BLAS: with the reference libblas3 a step takes about 3.5x longer than with OpenBLAS
(libopenblas0-pthread, or its libraries on LD_LIBRARY_PATH); the results agree to float rounding.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "fortunes-gpt"
SEPARATOR = "\n%\n"


def read_fortunes(root):
    """The fortune entries of every plain fortune file under root, in file-name then file order."""
    entries = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.endswith((".dat", ".u8")) or os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            text = f.read().decode("latin-1")
        entry = []
        for line in text.split("\n"):
            if line == "%":
                entries.append("\n".join(entry))
                entry = []
            else:
                entry.append(line)
        entries.append("\n".join(entry))
    kept = []
    for e in entries:
        e = e.expandtabs(8).strip("\n")
        if e and all(c == "\n" or " " <= c <= "~" for c in e):
            kept.append(e)
    return kept, len(entries)


def join(entries):
    return "".join(e + SEPARATOR for e in entries)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = d // heads  # constants, so the export reshapes by fixed head sizes
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x, past_k, past_v):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q = q.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        att = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        s = k.shape[2]
        # query i sits at absolute position past + i = s - t + i and sees keys j <= s - t + i
        visible = torch.arange(s).unsqueeze(0) <= torch.arange(t).unsqueeze(1) + (s - t)
        att = att.masked_fill(~visible, float("-inf")).softmax(dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, t, d)
        return self.proj(y), k, v


class Block(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, hidden)
        self.gelu = nn.GELU()
        self.fc_out = nn.Linear(hidden, d)

    def forward(self, x, past_k, past_v):
        a, k, v = self.attn(self.ln_1(x), past_k, past_v)
        x = x + a
        x = x + self.fc_out(self.gelu(self.fc(self.ln_2(x))))
        return x, k, v


class GPT(nn.Module):
    def __init__(self, vocab, d=128, layers=4, heads=4, hidden=512, max_pos=128):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(max_pos, d)
        self.blocks = nn.ModuleList([Block(d, heads, hidden) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, input_ids, position_ids, past=None):
        """Logits [B, T, V] and the present (k, v) of each block; past is a list of (k, v) or None."""
        x = self.wte(input_ids) + self.wpe(position_ids)
        present = []
        for i, blk in enumerate(self.blocks):
            pk, pv = past[i] if past is not None else (None, None)
            x, k, v = blk(x, pk, pv)
            present.append((k, v))
        return self.lm_head(self.ln_f(x)), present


class Exported(nn.Module):
    """The flat signature of the export: input_ids, position_ids, past_key_0, past_value_0, … → logits, present_key_0, …"""

    def __init__(self, gpt):
        super().__init__()
        self.gpt = gpt

    def forward(self, input_ids, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)]
        logits, present = self.gpt(input_ids, position_ids, past)
        return (logits, *[t for kv in present for t in kv])


def positions(batch, start, length):
    return torch.arange(start, start + length).unsqueeze(0).expand(batch, length)


@torch.no_grad()
def mean_loss(model, ids, ctx, max_windows=None):
    """Mean next-token cross entropy (nats) over non-overlapping windows of ctx tokens (each predicts ctx - 1)."""
    model.eval()
    n = (len(ids) - 1) // ctx if max_windows is None else min(max_windows, (len(ids) - 1) // ctx)
    total, count = 0.0, 0
    for s in range(0, n, 64):
        rows = torch.stack([ids[w * ctx:(w + 1) * ctx] for w in range(s, min(n, s + 64))])
        logits, _ = model(rows[:, :-1], positions(len(rows), 0, ctx - 1))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1), reduction="sum")
        total += loss.item()
        count += rows[:, 1:].numel()
    model.train()
    return total / count


@torch.no_grad()
def check_cache(model, ids, prefill, layers, heads, hd):
    """Max abs difference between a whole-sequence run and prefill-then-steps with the cache (and an empty past)."""
    model.eval()
    b, t = ids.shape
    full, _ = model(ids, positions(b, 0, t))
    empty = [(torch.zeros(b, heads, 0, hd), torch.zeros(b, heads, 0, hd)) for _ in range(layers)]
    first, past = model(ids[:, :prefill], positions(b, 0, prefill), empty)
    pieces = [first]
    # one token at a time, then the rest as a multi-token chunk after a non-empty past
    for p in range(prefill, t - 8):
        step, past = model(ids[:, p:p + 1], positions(b, p, 1), past)
        pieces.append(step)
    chunk, _ = model(ids[:, t - 8:], positions(b, t - 8, 8), past)
    pieces.append(chunk)
    return (torch.cat(pieces, dim=1) - full).abs().max().item()


def main():
    ap = argparse.ArgumentParser(description="Train a small character-level GPT on Debian's fortunes and export it to ONNX with its KV cache.")
    ap.add_argument("--fortunes", default="/usr/share/games/fortunes", help="directory of fortune files (Debian package fortunes)")
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--steps", type=int, default=300, help="optimizer steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (linear warmup, cosine decay to a tenth)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=128, help="context length: maximum positions and training window")
    ap.add_argument("--heldout", type=float, default=0.05, help="fraction of fortunes held out")
    ap.add_argument("--heldout-bytes", type=int, default=12000, help="size of the held-out text file written")
    ap.add_argument("--calibration", type=int, default=16, help="calibration windows of ctx tokens from the training split")
    ap.add_argument("--eval-every", type=int, default=75)
    ap.add_argument("--reference", help="also write, into this directory, a held-out probe (reference-ids.npy, int64 [2, ctx]) "
                    "and torch's fp32 logits for it (reference-logits.npy), to check an ONNX runtime against torch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    entries, total_entries = read_fortunes(args.fortunes)
    gen = torch.Generator().manual_seed(args.seed)
    held = set(torch.randperm(len(entries), generator=gen)[:round(len(entries) * args.heldout)].tolist())
    train_text = join(e for i, e in enumerate(entries) if i not in held)
    held_entries = [e for i, e in enumerate(entries) if i in held]
    held_text = join(held_entries)
    vocab = sorted(set(train_text) | set(held_text) | {"\n"})
    index = {c: i for i, c in enumerate(vocab)}
    print(f"fortunes: {len(entries)} of {total_entries} entries kept; train {len(train_text)} chars, "
          f"held-out {len(held_entries)} entries / {len(held_text)} chars; vocab {len(vocab)}", flush=True)

    def encode(text):
        return torch.tensor([index[c] for c in text], dtype=torch.int64)

    train_ids, held_ids = encode(train_text), encode(held_text)
    ctx = args.ctx
    model = GPT(len(vocab), args.d, args.layers, args.heads, args.hidden, ctx)
    params = sum(p.numel() for p in model.parameters())
    print(f"params={params}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    t0 = time.time()
    model.train()
    running = None
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        starts = torch.randint(0, len(train_ids) - ctx - 1, (args.batch,), generator=gen)
        rows = torch.stack([train_ids[s:s + ctx + 1] for s in starts.tolist()])
        logits, _ = model(rows[:, :-1], positions(args.batch, 0, ctx))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            held_loss = mean_loss(model, held_ids, ctx, max_windows=32)
            print(f"step {step + 1}/{args.steps} train_loss={running:.4f} held_loss={held_loss:.4f} "
                  f"held_ppl={math.exp(held_loss):.3f} lr={lr_at(step):.2e} elapsed={time.time() - t0:.0f}s", flush=True)
    train_seconds = time.time() - t0
    model.eval()

    # the held-out text file: whole held-out fortunes, in order, up to about --heldout-bytes
    heldout_file = ""
    for e in held_entries:
        if heldout_file and len(heldout_file) + len(e) + len(SEPARATOR) > args.heldout_bytes:
            break
        heldout_file += e + SEPARATOR
    train_loss = mean_loss(model, train_ids, ctx, max_windows=256)
    held_loss = mean_loss(model, held_ids, ctx)
    file_loss = mean_loss(model, encode(heldout_file), ctx)
    print(f"final (torch fp32): train_loss={train_loss:.4f} (256 windows) held_loss={held_loss:.4f} "
          f"held_ppl={math.exp(held_loss):.4f} (whole held-out split); heldout.txt ppl={math.exp(file_loss):.4f} "
          f"train_seconds={train_seconds:.0f}", flush=True)

    hd = args.d // args.heads
    probe = held_ids[:2 * ctx].view(2, ctx)
    cache_diff = check_cache(model, probe, 37, args.layers, args.heads, hd)
    print(f"cache check (torch): whole sequence vs prefill 37 + steps + chunk of 8: max |diff| = {cache_diff:.3e}", flush=True)
    if not cache_diff < 1e-4:
        print("error: the cached forward pass disagrees with the whole-sequence pass", file=sys.stderr)
        return 1

    if args.reference:
        os.makedirs(args.reference, exist_ok=True)
        with torch.no_grad():
            logits, _ = model(probe, positions(2, 0, ctx))
        np.save(os.path.join(args.reference, "reference-ids.npy"), probe.numpy())
        np.save(os.path.join(args.reference, "reference-logits.npy"), logits.numpy().astype(np.float32))

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, f"{NAME}.onnx")
    names_in = ["input_ids", "position_ids"]
    names_out = ["logits"]
    axes = {"input_ids": {0: "batch", 1: "seq"}, "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    for i in range(args.layers):
        for kind in ("key", "value"):
            names_in.append(f"past_{kind}_{i}")
            names_out.append(f"present_{kind}_{i}")
            axes[f"past_{kind}_{i}"] = {0: "batch", 2: "past"}
            axes[f"present_{kind}_{i}"] = {0: "batch", 2: "past+seq"}
    # traced with a past of 3 and 5 new tokens so that no size is folded into a constant
    dummy_past = [torch.zeros(1, args.heads, 3, hd) for _ in range(2 * args.layers)]
    dummy = (torch.zeros(1, 5, dtype=torch.int64), positions(1, 3, 5), *dummy_past)
    torch.onnx.export(Exported(model), dummy, onnx_path, opset_version=17,
                      input_names=names_in, output_names=names_out, dynamic_axes=axes)
    import onnx
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"onnx ops: {ops}", flush=True)

    with open(os.path.join(args.out, f"{NAME}.tokenizer.json"), "w") as f:
        json.dump({"kind": "char", "vocab": vocab}, f, indent=1)
        f.write("\n")
    cal_starts = torch.randint(0, len(train_ids) - ctx, (args.calibration,), generator=torch.Generator().manual_seed(args.seed + 1))
    calibration = np.stack([train_ids[s:s + ctx].numpy() for s in cal_starts.tolist()]).astype(np.int64)
    np.save(os.path.join(args.out, f"{NAME}.calibration.npy"), calibration)
    with open(os.path.join(args.out, f"{NAME}.heldout.txt"), "w") as f:
        f.write(heldout_file)
    meta = {
        "name": NAME,
        "tokenizer": f"{NAME}.tokenizer.json",
        "calibration": f"{NAME}.calibration.npy",
        "heldout": f"{NAME}.heldout.txt",
        "context": ctx,
        "params": params,
        "vocab": len(vocab),
        "trainLoss": round(train_loss, 4),
        "heldoutLoss": round(held_loss, 4),
        "heldoutPerplexity": round(math.exp(held_loss), 4),
        "heldoutFilePerplexity": round(math.exp(file_loss), 4),
        "trainedWith": (
            f"scripts/train_decoder.py: torch {torch.__version__}, seed {args.seed}, character-level GPT, "
            f"d {args.d}, {args.layers} blocks, {args.heads} heads, MLP {args.hidden}, context {ctx}; Debian fortunes "
            f"({len(entries)} entries, {args.heldout:.0%} held out); {args.steps} steps of batch {args.batch}, "
            f"AdamW wd 0.1, warmup {args.warmup} then cosine from lr {args.lr}, {args.threads} CPU threads, "
            f"{train_seconds:.0f}s; exported opset 17 with past/present key/values"
        ),
    }
    with open(os.path.join(args.out, f"{NAME}.slalom.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
