/**
 * ConvTranspose, rewritten at import into ops slalom already outsources and verifies: a zero
 * insertion (`ZeroInsert`, a layout op in the trusted runtime) followed by an ordinary Conv with
 * stride 1 and the flipped, channel-transposed weight. Every later layer — quantization, Freivalds,
 * blinding, the accelerator hosts, the HTTP export and the servers — sees a plain Conv, so every
 * mode works unchanged and stays bit-identical to baseline.
 *
 * The identity, per spatial axis (stride s, dilation d, kernel k, dk = d·(k − 1) + 1, pads b/e,
 * output_padding a): ConvTranspose writes x[i]·w[k′] to output o = i·s + k′·d − b. Insert s − 1 zeros
 * between inputs (z[i·s] = x[i]), pad z with dk − 1 − b before and dk − 1 − e + a after, and
 * convolve with w flipped (w′[k″] = w[k − 1 − k″]) at dilation d: the same sums, the same output
 * length s·(n − 1) + a + dk − b − e. Pads wider than dk − 1 make the Conv's pads negative; those
 * rows and columns are cropped in the zero insertion instead. Groups carry over: the weight
 * [C, M/g, kH, kW] becomes [M, C/g, kH, kW], group by group.
 *
 * The cost of this design: the accelerator receives an input about s_H·s_W times larger than x
 * (mostly zeros), and the trusted side quantizes, blinds and checks that larger tensor, so a
 * stride-2 ConvTranspose costs the trusted runtime ~4× the input-side work of a Conv on x. A
 * polyphase split (s_H·s_W stride-1 Convs on x, interleaved) would avoid the zeros at the price of
 * s_H·s_W layers per ConvTranspose; the rewrite is the smallest faithful design.
 *
 * Only 2-D ConvTranspose (4-D input) is supported, like Conv.
 */
import { zeroInsert, zeroInsertDims, type ZeroInsertAttrs } from '../../kernels/float/zero-insert.js';
import { tensor, type Tensor } from '../../tensor/tensor.js';
import type { Graph } from '../ir.js';
import { Conv, type ConvNodeAttrs } from './linear.js';
import type { ExtraNode, OpDef, Resolved, ResolveContext } from './op.js';

function pairAttr(ctx: ResolveContext, name: string, fallback: number, min: number): [number, number] {
  const v = ctx.attr<number[]>(name, [fallback, fallback]);
  if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < min)) ctx.fail(`${name} must be two integers ≥ ${min}, got [${v}]`);
  return [v[0]!, v[1]!];
}

/** [begin, end] output trim per spatial axis, from pads, auto_pad or output_shape (ONNX ConvTranspose). */
function outputTrim(
  ctx: ResolveContext,
  spatial: readonly number[],
  full: readonly number[],
  strides: readonly number[],
): { begin: [number, number]; end: [number, number] } {
  const autoPad = ctx.attr<string>('auto_pad', 'NOTSET');
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) ctx.fail(`auto_pad '${autoPad}' is not valid`);
  const shape = ctx.attr<number[]>('output_shape', []);
  let target: number[] | undefined;
  if (shape.length > 0) {
    // output_shape lists the spatial sizes (some exporters prepend N and C).
    target = shape.length === 4 ? shape.slice(2) : shape;
    if (target.length !== 2 || target.some((v) => !Number.isInteger(v) || v <= 0)) ctx.fail(`output_shape [${shape}] is not two positive sizes`);
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    target = spatial.map((n, i) => n * strides[i]!);
  }
  if (target === undefined) {
    if (autoPad === 'VALID') return { begin: [0, 0], end: [0, 0] };
    const pads = ctx.attr<number[]>('pads', [0, 0, 0, 0]);
    if (pads.length !== 4 || pads.some((x) => !Number.isInteger(x) || x < 0)) ctx.fail(`pads must be four non-negative integers, got [${pads}]`);
    return { begin: [pads[0]!, pads[1]!], end: [pads[2]!, pads[3]!] };
  }
  // The ONNX formulas: total = full − target, split with the odd unit at the end for SAME_UPPER and
  // at the beginning otherwise; a negative total (a target beyond the full output) extends the end.
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const total = full[i]! - target[i]!;
    const half = Math.floor(total / 2);
    begin.push(autoPad === 'SAME_UPPER' ? half : total - half);
    end.push(autoPad === 'SAME_UPPER' ? total - half : half);
  }
  return { begin: [begin[0]!, begin[1]!], end: [end[0]!, end[1]!] };
}

/** W [C, M/g, kH, kW] → W′ [M, C/g, kH, kW], spatially flipped, group by group. */
export function convTransposeWeight(w: Tensor, group: number): Tensor {
  const [c, mg, kh, kw] = w.dims as [number, number, number, number];
  const cg = c / group;
  const out = new Float64Array(w.data.length);
  const k = kh * kw;
  for (let g = 0; g < group; g++) {
    for (let ci = 0; ci < cg; ci++) {
      for (let mi = 0; mi < mg; mi++) {
        const src = ((g * cg + ci) * mg + mi) * k;
        const dst = ((g * mg + mi) * cg + ci) * k;
        for (let t = 0; t < k; t++) out[dst + t] = w.data[src + k - 1 - t]!;
      }
    }
  }
  return tensor([mg * group, cg, kh, kw], out);
}

function resolveConvTranspose(ctx: ResolveContext): Resolved<ConvNodeAttrs> {
  const xDims = ctx.dims(0);
  if (xDims.length !== 4) ctx.fail(`only 2-D transposed convolutions (4-D input) are supported, input has rank ${xDims.length}`, true);
  const w = ctx.constant(1);
  if (w === undefined) ctx.fail('the weight must be a constant (initializer or Constant node)', true);
  if (w.dims.length !== 4) ctx.fail(`weight has rank ${w.dims.length}, expected 4`);
  const group = ctx.attr('group', 1);
  const channels = xDims[1]!;
  if (!Number.isInteger(group) || group < 1 || channels % group !== 0) ctx.fail(`group ${group} does not divide the ${channels} input channels`);
  if (w.dims[0] !== channels) ctx.fail(`weight [${w.dims}] is for ${w.dims[0]} input channels, the input has ${channels}`);
  const kernel = [w.dims[2]!, w.dims[3]!] as const;
  const kernelAttr = ctx.attr<number[]>('kernel_shape', [...kernel]);
  if (kernelAttr[0] !== kernel[0] || kernelAttr[1] !== kernel[1]) ctx.fail(`kernel_shape [${kernelAttr}] disagrees with the weight's [${kernel}]`);
  const strides = pairAttr(ctx, 'strides', 1, 1);
  const dilations = pairAttr(ctx, 'dilations', 1, 1);
  const outputPadding = pairAttr(ctx, 'output_padding', 0, 0);
  const spatial = [xDims[2]!, xDims[3]!];
  const reach = kernel.map((k, i) => dilations[i]! * (k - 1) + 1);
  const full = spatial.map((n, i) => strides[i]! * (n - 1) + outputPadding[i]! + reach[i]!);
  const { begin, end } = outputTrim(ctx, spatial, full, strides);

  // Conv pads on the zero-inserted input; a negative one is a crop of that input.
  const before = [0, 1].map((i) => reach[i]! - 1 - begin[i]!);
  const after = [0, 1].map((i) => reach[i]! - 1 - end[i]! + outputPadding[i]!);
  const crops: ZeroInsertAttrs['crops'] = [Math.max(0, -before[0]!), Math.max(0, -before[1]!), Math.max(0, -after[0]!), Math.max(0, -after[1]!)];
  const pads: ConvNodeAttrs['pads'] = [Math.max(0, before[0]!), Math.max(0, before[1]!), Math.max(0, after[0]!), Math.max(0, after[1]!)];

  const name = ctx.node.name;
  const constants: Record<string, Tensor> = { [`${name}::W`]: convTransposeWeight(w, group) };
  let x = ctx.node.inputs[0]!;
  const extra: ExtraNode[] = [];
  if (strides[0] !== 1 || strides[1] !== 1 || crops.some((c) => c > 0)) {
    const zeroed = `${name}::zero_inserted`;
    extra.push({ name: `${name}::ZeroInsert`, op: 'ZeroInsert', attrs: { strides, crops } satisfies ZeroInsertAttrs, inputs: [x], output: zeroed });
    x = zeroed;
  }
  const inputs = [x, `${name}::W`];
  if (ctx.has(2)) {
    const b = ctx.constant(2);
    if (b === undefined) ctx.fail('the bias must be a constant', true);
    if (b.data.length !== w.dims[1]! * group) ctx.fail(`bias has ${b.data.length} values, expected ${w.dims[1]! * group} (one per output channel)`);
    inputs.push(ctx.node.inputs[2]!);
  }
  return { op: 'Conv', attrs: { strides: [1, 1], pads, dilations, group, kernel }, inputs, constants, before: extra };
}

/** Resolves into Conv (plus ZeroInsert): no ConvTranspose node exists after import, so shape and float semantics are Conv's. */
export const ConvTranspose: OpDef<ConvNodeAttrs> = { ...Conv, resolve: resolveConvTranspose };

/**
 * The value a zero-inserted tensor was made from, or `name` when no ZeroInsert produced it.
 * Calibration observes that value in onnxruntime instead (the ONNX model has no zero-inserted
 * tensor); its largest |value| bounds the zero-inserted one's (equal unless a crop removed it).
 */
export function zeroInsertSource(graph: Graph, name: string): string {
  const producer = graph.nodes.find((n) => n.outputs[0] === name);
  return producer?.op === 'ZeroInsert' ? producer.inputs[0]! : name;
}

/** Zero insertion, only ever created by the ConvTranspose rewrite; a model that names it is refused. */
export const ZeroInsert: OpDef<ZeroInsertAttrs> = {
  kind: 'layout',
  resolve: (ctx: ResolveContext) => ctx.fail('ZeroInsert is internal to slalom, not an ONNX op', true),
  inferDims: ([x], a) => [zeroInsertDims(x!, a)],
  evalFloat: ([x], a) => [zeroInsert(x!, a)],
};
