/**
 * GPT-2 style decoders for the zoo, written node for node as `torch.onnx.export` writes a pre-norm
 * GPT-2 (Hugging Face's names: transformer.wte/wpe/h.i/ln_f, lm_head) at opset 17:
 *
 * - inputs `input_ids` and `position_ids` int64 [batch, seq] (the positions past … past+seq−1), and
 *   with the cache `past_key_i`, `past_value_i` float [batch, heads, past, head_dim] per block;
 * - outputs `logits` float [batch, seq, vocab], then with the cache `present_key_i`, `present_value_i`
 *   [batch, heads, past+seq, head_dim] (k and v after the concatenation with the past);
 * - x = wte[input_ids] + wpe[position_ids] (two Gathers); per block LayerNormalization, one fused
 *   c_attn MatMul [d, 3d] + Add split into q, k, v, heads by Reshape/Transpose, QKᵀ·(1/√dh), a causal
 *   mask (query i sees keys j ≤ past + i: Where over a LessOrEqual of two Ranges read off the scores'
 *   shape, so it holds for any batch, seq and past), Softmax, ·V, c_proj, the residual Add;
 *   LayerNormalization, c_fc, erf GELU spelled out as torch exports nn.GELU below opset 20, c_proj, the
 *   residual Add; ln_f and an untied lm_head MatMul [d, vocab] without bias.
 *
 * Weights are N(0, 1/fan_in) with small biases and LayerNorm γ ≈ 1 (as transformer.ts); the two
 * projections back into the residual stream are scaled by 1/√(2·layers) as GPT-2 initialises them, and
 * wte and wpe by 1/√2 each, so the residual stream stays near unit scale at every depth.
 */
import { InvalidArgumentError } from '../errors.js';
import type { OnnxAttrValue } from '../onnx/build.js';
import { SeededNet } from './seeded-net.js';

export interface DecoderConfig {
  readonly name: string;
  readonly layers: number;
  readonly d: number;
  readonly heads: number;
  /** The MLP's inner width. */
  readonly hidden: number;
  readonly vocab: number;
  /** Rows of the position embedding wpe: the longest sequence, cache included. */
  readonly maxPositions: number;
}

/** GPT-2 small's shape (124 M parameters with a tied head; 163 M here, the head untied). */
export const GPT2_SMALL: DecoderConfig = { name: 'gpt2-small', layers: 12, d: 768, heads: 12, hidden: 3072, vocab: 50257, maxPositions: 1024 };

/** A two-block decoder small enough for fast tests. */
export const GPT_TINY: DecoderConfig = { name: 'gpt-tiny', layers: 2, d: 32, heads: 4, hidden: 64, vocab: 40, maxPositions: 64 };

export interface DecoderBuildOptions {
  /** Past key/value inputs and present key/value outputs (the cache kept by the caller). */
  readonly withPast: boolean;
}

/** The graph inputs, in order: input_ids, position_ids, then past_key_i, past_value_i per block. */
export function decoderInputNames(c: DecoderConfig, opts: DecoderBuildOptions): string[] {
  return ['input_ids', 'position_ids', ...(opts.withPast ? cacheNames(c, 'past') : [])];
}

/** The graph outputs, in order: logits, then present_key_i, present_value_i per block. */
export function decoderOutputNames(c: DecoderConfig, opts: DecoderBuildOptions): string[] {
  return ['logits', ...(opts.withPast ? cacheNames(c, 'present') : [])];
}

function cacheNames(c: DecoderConfig, prefix: 'past' | 'present'): string[] {
  const names: string[] = [];
  for (let i = 0; i < c.layers; i++) names.push(`${prefix}_key_${i}`, `${prefix}_value_${i}`);
  return names;
}

const LN_EPSILON = 1e-5;

class DecoderNet extends SeededNet {
  private readonly headDim: number;

  constructor(readonly c: DecoderConfig, readonly withPast: boolean, seed: number) {
    if (c.d % c.heads !== 0) throw new InvalidArgumentError(`${c.name}: d ${c.d} is not a multiple of ${c.heads} heads`);
    super(c.name, 17, seed);
    this.headDim = c.d / c.heads;
  }

  private ints(values: number[], scalar = false): string {
    return this.constant(`${scalar ? 'int' : 'ints'}.${values.join('_')}`, scalar ? [] : [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  private node(op: string, inputs: string[], out: string, attrs: Record<string, OnnxAttrValue> = {}): string {
    this.b.node(op, inputs, [out], attrs, out);
    return out;
  }

  /** GPT-2's Conv1D (a Linear stored [in, out]) on token rows: MatMul, then Add of the bias. */
  linear(name: string, x: string, fanIn: number, fanOut: number, gain = 1): string {
    this.b.initializer(`${name}.weight`, [fanIn, fanOut], this.normal(fanIn * fanOut, Math.sqrt(gain / fanIn)));
    const y = this.node('MatMul', [x, `${name}.weight`], `${name}/MatMul`);
    this.b.initializer(`${name}.bias`, [fanOut], this.normal(fanOut, 0.02));
    return this.node('Add', [y, `${name}.bias`], `${name}/Add`);
  }

  layerNorm(name: string, x: string): string {
    const d = this.c.d;
    this.b.initializer(`${name}.weight`, [d], this.normal(d, 0.05, 1));
    this.b.initializer(`${name}.bias`, [d], this.normal(d, 0.02));
    return this.node('LayerNormalization', [x, `${name}.weight`, `${name}.bias`], `${name}/LayerNorm`, { axis: -1, epsilon: { float: LN_EPSILON } });
  }

  /** ½x(1 + erf(x/√2)), as torch exports nn.GELU() below opset 20. */
  gelu(name: string, x: string): string {
    const e = this.node('Erf', [this.node('Div', [x, this.scalar(Math.SQRT2)], `${name}/Div`)], `${name}/Erf`);
    const onePlus = this.node('Add', [e, this.scalar(1)], `${name}/Add`);
    return this.node('Mul', [this.node('Mul', [x, onePlus], `${name}/Mul`), this.scalar(0.5)], `${name}/Mul_1`);
  }

  /** Dimension `axis` of `x`'s shape as an int64 scalar. */
  private dim(name: string, shape: string, axis: number): string {
    return this.node('Gather', [shape, this.ints([axis], true)], name, { axis: 0 });
  }

  /**
   * Where(key j ≤ past + query i, scores, −∞) for scores [B, H, T, past+T]: T and past+T read off the
   * scores' shape, so one graph serves a prefill (past 0, T tokens) and a step against any cache.
   */
  causalMask(name: string, scores: string): string {
    const shape = this.node('Shape', [scores], `${name}/Shape`);
    const queries = this.dim(`${name}/Gather`, shape, 2);
    const keys = this.dim(`${name}/Gather_1`, shape, 3);
    const past = this.node('Sub', [keys, queries], `${name}/Sub`);
    const one = this.ints([1], true);
    const rows = this.node('Range', [past, keys, one], `${name}/Range`); // absolute query positions past … past+T−1
    const cols = this.node('Range', [this.ints([0], true), keys, one], `${name}/Range_1`);
    const visible = this.node(
      'LessOrEqual',
      [this.node('Unsqueeze', [cols, this.ints([0])], `${name}/Unsqueeze`), this.node('Unsqueeze', [rows, this.ints([1])], `${name}/Unsqueeze_1`)],
      `${name}/LessOrEqual`,
    );
    return this.node('Where', [visible, scores, this.scalar(-Infinity)], `${name}/Where`);
  }

  /** Causal self-attention of block i over h [B, T, d]; returns the c_proj output [B, T, d]. */
  attention(i: number, h: string): string {
    const { d, heads, layers } = this.c;
    const p = `transformer.h.${i}.attn`;
    const qkv = this.linear(`${p}.c_attn`, h, d, 3 * d);
    const parts = [`${p}/q`, `${p}/k`, `${p}/v`];
    this.b.node('Split', [qkv, this.ints([d, d, d])], parts, { axis: 2 }, `${p}/Split`);
    const headsOf = (x: string, tag: string): string => {
      const r = this.node('Reshape', [x, this.ints([0, 0, heads, this.headDim])], `${p}/${tag}/Reshape`);
      return this.node('Transpose', [r], `${p}/${tag}/Transpose`, { perm: [0, 2, 1, 3] });
    };
    const q = headsOf(parts[0]!, 'q');
    let k = headsOf(parts[1]!, 'k');
    let v = headsOf(parts[2]!, 'v');
    if (this.withPast) {
      k = this.node('Concat', [`past_key_${i}`, k], `present_key_${i}`, { axis: 2 });
      v = this.node('Concat', [`past_value_${i}`, v], `present_value_${i}`, { axis: 2 });
    }
    const kT = this.node('Transpose', [k], `${p}/Transpose`, { perm: [0, 1, 3, 2] });
    const scores = this.node('Mul', [this.node('MatMul', [q, kT], `${p}/MatMul`), this.scalar(1 / Math.sqrt(this.headDim))], `${p}/Mul`);
    const probs = this.node('Softmax', [this.causalMask(`${p}/mask`, scores)], `${p}/Softmax`, { axis: -1 });
    const ctx = this.node('Transpose', [this.node('MatMul', [probs, v], `${p}/MatMul_1`)], `${p}/Transpose_1`, { perm: [0, 2, 1, 3] });
    const merged = this.node('Reshape', [ctx, this.ints([0, 0, d])], `${p}/Reshape`);
    return this.linear(`${p}.c_proj`, merged, d, d, 1 / (2 * layers));
  }

  block(i: number, x: string): string {
    const { d, hidden, layers } = this.c;
    const p = `transformer.h.${i}`;
    const a = this.node('Add', [x, this.attention(i, this.layerNorm(`${p}.ln_1`, x))], `${p}/Add`);
    const inner = this.gelu(`${p}.mlp.act`, this.linear(`${p}.mlp.c_fc`, this.layerNorm(`${p}.ln_2`, a), d, hidden));
    return this.node('Add', [a, this.linear(`${p}.mlp.c_proj`, inner, hidden, d, 1 / (2 * layers))], `${p}/Add_1`);
  }

  /** The graph inputs, and x = wte[input_ids] + wpe[position_ids]. */
  embed(): string {
    const { d, heads, layers, vocab, maxPositions } = this.c;
    this.b.input('input_ids', ['batch', 'seq'], 'int64');
    this.b.input('position_ids', ['batch', 'seq'], 'int64');
    if (this.withPast) {
      for (let i = 0; i < layers; i++) {
        this.b.input(`past_key_${i}`, ['batch', heads, 'past', this.headDim]);
        this.b.input(`past_value_${i}`, ['batch', heads, 'past', this.headDim]);
      }
    }
    this.b.initializer('transformer.wte.weight', [vocab, d], this.normal(vocab * d, Math.SQRT1_2));
    this.b.initializer('transformer.wpe.weight', [maxPositions, d], this.normal(maxPositions * d, Math.SQRT1_2));
    const tokens = this.node('Gather', ['transformer.wte.weight', 'input_ids'], 'transformer.wte/Gather', { axis: 0 });
    const positions = this.node('Gather', ['transformer.wpe.weight', 'position_ids'], 'transformer.wpe/Gather', { axis: 0 });
    return this.node('Add', [tokens, positions], 'transformer/Add');
  }

  head(x: string): Uint8Array {
    const { d, heads, layers, vocab } = this.c;
    const final = this.layerNorm('transformer.ln_f', x);
    this.b.initializer('lm_head.weight', [d, vocab], this.normal(d * vocab, Math.sqrt(1 / d)));
    // No bias, and the MatMul writes `logits` itself, as torch.onnx.export names a graph output.
    this.b.node('MatMul', [final, 'lm_head.weight'], ['logits'], {}, 'lm_head/MatMul');
    this.b.output('logits', ['batch', 'seq', vocab]);
    if (this.withPast) {
      for (let i = 0; i < layers; i++) {
        this.b.output(`present_key_${i}`, ['batch', heads, 'past+seq', this.headDim]);
        this.b.output(`present_value_${i}`, ['batch', heads, 'past+seq', this.headDim]);
      }
    }
    return this.b.toBytes();
  }
}

/**
 * The ONNX bytes of a GPT-2 style decoder of configuration `c` with weights drawn from `seed`; with
 * `withPast` it takes and returns the key/value cache. Both variants of one seed share every weight.
 */
export function buildDecoder(c: DecoderConfig, seed: number, opts: DecoderBuildOptions): Uint8Array {
  const net = new DecoderNet(c, opts.withPast, seed);
  let x = net.embed();
  for (let i = 0; i < c.layers; i++) x = net.block(i, x);
  return net.head(x);
}
