/**
 * ONNX Resize (opset 11–19), which stays in the trusted runtime (docs/design.md §1): modes `nearest`
 * (every nearest_mode) and `linear`, every coordinate_transformation_mode, `scales` or `sizes`
 * (constants), opset 18's `axes` and `keep_aspect_ratio_policy`. Resolution fixes the output shape
 * and the per-axis scale once; kernels/float/resize.ts interpolates. Refused with an
 * UnsupportedModelError naming the node: `cubic`, `antialias`, Resize-10 (Upsample's coordinate
 * rules) and scales/sizes/roi that are not constants.
 */
import { resize, type CoordinateTransform, type NearestMode, type ResizeAttrs, type ResizeMode } from '../../kernels/float/resize.js';
import type { OpDef, ResolveContext } from './op.js';

const TRANSFORMS: readonly CoordinateTransform[] = [
  'half_pixel',
  'half_pixel_symmetric',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
  'tf_crop_and_resize',
];
const NEAREST_MODES: readonly NearestMode[] = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

function oneOf<T extends string>(ctx: ResolveContext, name: string, fallback: T, allowed: readonly T[]): T {
  const v = ctx.attr<string>(name, fallback);
  if (!(allowed as readonly string[]).includes(v)) ctx.fail(`${name} '${v}' is not one of ${allowed.join(', ')}`);
  return v as T;
}

/** A constant input's values, or undefined when it is absent or empty (opset 11 models pass empty tensors for "none"). */
function constantList(ctx: ResolveContext, i: number, what: string): number[] | undefined {
  if (!ctx.has(i)) return undefined;
  const c = ctx.constant(i);
  if (c === undefined) ctx.fail(`${what} must be a constant`, true);
  return c.data.length === 0 ? undefined : Array.from(c.data);
}

/** Spreads per-listed-axis values over every axis (fill elsewhere). */
function spread(values: readonly number[], axes: readonly number[], rank: number, fill: (axis: number) => number): number[] {
  const out = Array.from({ length: rank }, (_, i) => fill(i));
  axes.forEach((a, i) => (out[a] = values[i]!));
  return out;
}

export const Resize: OpDef<ResizeAttrs> = {
  kind: 'nonlinear',
  resolve(ctx: ResolveContext) {
    if (ctx.opset < 11) ctx.fail('Resize before opset 11 (Upsample coordinate rules) is not supported', true);
    const inDims = ctx.dims(0);
    const rank = inDims.length;
    const modeName = ctx.attr<string>('mode', 'nearest');
    if (modeName === 'cubic') ctx.fail("mode 'cubic' is not supported (only 'nearest' and 'linear')", true);
    if (modeName !== 'nearest' && modeName !== 'linear') ctx.fail(`mode '${modeName}' is not one of nearest, linear, cubic`);
    const mode: ResizeMode = modeName;
    if (ctx.attr('antialias', 0) !== 0) ctx.fail('antialias = 1 is not supported', true);
    const coordinateTransform = oneOf(ctx, 'coordinate_transformation_mode', 'half_pixel', TRANSFORMS);
    const nearestMode = oneOf(ctx, 'nearest_mode', 'round_prefer_floor', NEAREST_MODES);
    const policy = oneOf(ctx, 'keep_aspect_ratio_policy', 'stretch', ['stretch', 'not_larger', 'not_smaller']);

    const axesAttr = ctx.attr<number[]>('axes', []);
    if (axesAttr.some((a) => !Number.isInteger(a) || a < -rank || a >= rank)) ctx.fail(`axes [${axesAttr}] are out of range for rank ${rank}`);
    const axes = axesAttr.length === 0 ? [...Array(rank).keys()] : axesAttr.map((a) => (a < 0 ? a + rank : a));
    if (new Set(axes).size !== axes.length) ctx.fail(`axes [${axesAttr}] repeat an axis`);

    const roiGiven = constantList(ctx, 1, 'roi');
    const scalesGiven = constantList(ctx, 2, 'scales');
    const sizesGiven = constantList(ctx, 3, 'sizes');
    if ((scalesGiven === undefined) === (sizesGiven === undefined)) ctx.fail('exactly one of scales and sizes must be given');
    const given = (scalesGiven ?? sizesGiven)!;
    if (given.length !== axes.length) ctx.fail(`${scalesGiven ? 'scales' : 'sizes'} has ${given.length} values, expected ${axes.length}`);

    let scales: number[];
    let outDims: number[];
    if (scalesGiven !== undefined) {
      if (scalesGiven.some((s) => !(s > 0) || !Number.isFinite(s))) ctx.fail(`scales [${scalesGiven}] must be positive`);
      scales = spread(scalesGiven, axes, rank, () => 1);
      outDims = inDims.map((d, i) => Math.floor(d * scales[i]!));
    } else {
      if (sizesGiven!.some((s) => !Number.isInteger(s) || s <= 0)) ctx.fail(`sizes [${sizesGiven}] must be positive integers`);
      outDims = spread(sizesGiven!, axes, rank, (i) => inDims[i]!);
      scales = outDims.map((d, i) => d / inDims[i]!);
      if (policy !== 'stretch') {
        const ratios = axes.map((a) => scales[a]!);
        const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
        scales = inDims.map((_, i) => (axes.includes(i) ? scale : 1));
        outDims = inDims.map((d, i) => (axes.includes(i) ? Math.floor(scale * d + 0.5) : d));
      }
    }

    let roi: number[] | undefined;
    if (coordinateTransform === 'tf_crop_and_resize') {
      if (roiGiven === undefined || roiGiven.length !== 2 * axes.length) ctx.fail(`tf_crop_and_resize needs roi of ${2 * axes.length} values`);
      const starts = spread(roiGiven.slice(0, axes.length), axes, rank, () => 0);
      const ends = spread(roiGiven.slice(axes.length), axes, rank, () => 1);
      roi = [...starts, ...ends];
    }
    const attrs: ResizeAttrs = { mode, coordinateTransform, nearestMode, outDims, scales, roi, extrapolationValue: ctx.attr('extrapolation_value', 0) };
    return { attrs, inputs: [ctx.node.inputs[0]!] };
  },
  inferDims: (_inputs, a) => [[...a.outDims]],
  evalFloat: ([x], a) => [resize(x!, a)],
};
