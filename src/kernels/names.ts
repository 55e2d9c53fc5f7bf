/**
 * Kernel contracts (after tfjs's kernel_names.ts): the attribute and shape types shared by the
 * graph, the trusted runtime, the verifier and the accelerator backends. Names follow ONNX op names.
 * Pure types, no code.
 */
import type { Tensor } from '../tensor/tensor.js';

/** A 2-D convolution, attributes fully resolved (auto_pad already turned into explicit pads). */
export interface ConvAttrs {
  /** [strideH, strideW] */
  readonly strides: readonly [number, number];
  /** [top, left, bottom, right] */
  readonly pads: readonly [number, number, number, number];
  /** [dilationH, dilationW] */
  readonly dilations: readonly [number, number];
  readonly group: number;
}

/** The linear ops slalom outsources (a MatMul is imported as a Gemm). */
export type LinearOpName = 'Conv' | 'Gemm';

/**
 * One linear layer's contract, f(x) = conv(x, w) or x·w (no bias): what every other layer type
 * extends — the accelerator's PublicLayer, the exact kernels' ExactLinearLayer, the verifier's
 * LinearMap, the quantizer's QuantizedLayer — so a layer's shape is declared once.
 *
 * - Conv: x [N, C, H, W], w [M, C/group, kH, kW], y [N, M, OH, OW] with
 *   OH = ⌊(H + top + bottom − dH·(kH − 1) − 1)/sH⌋ + 1 (likewise OW); `conv` is required.
 * - Gemm: x [B, K], w [K, N], y [B, N] (Gemm's transB and alpha already applied).
 *
 * kernels/output-dims.ts computes y's dims from x's (`outputDims`); a layer that knows its model's
 * shapes carries them as inDims/outDims (batch included), a service's layer may leave them free.
 */
export interface LinearSpec {
  readonly op: LinearOpName;
  readonly conv?: ConvAttrs;
  readonly wDims: readonly number[];
  readonly inDims?: readonly number[];
  readonly outDims?: readonly number[];
}

/** A LinearSpec with its integer weights (dims wDims): enough to compute the layer exactly. */
export interface LinearWeights extends LinearSpec {
  readonly w: Tensor;
}
