/**
 * Kernel contracts: the attribute and input types shared by the graph, the trusted runtime and the
 * accelerator backends. Names follow ONNX op names. Pure types, no code.
 */

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
 * Conv inputs: x is [N, C, H, W]; w is [M, C/group, kH, kW]; bias (optional) has M values.
 * Output is [N, M, OH, OW] with OH = ⌊(H + top + bottom − dH·(kH − 1) − 1)/sH⌋ + 1 (likewise OW).
 */

/** A dense layer Y = X·W + b, with X [B, K], W [K, N], b [N] (Gemm's transB and alpha already applied). */
export interface GemmShape {
  readonly batch: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
}
