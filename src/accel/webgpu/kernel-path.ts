/**
 * Which exact scheme the WebGPU conv and dense kernels use (depthwise: always limbs): 'dot4' (packed 4×8-bit dot products, dot4.ts) or
 * 'limbs' (two 12-bit limbs on i32, limbs.ts). 'auto' (the default) takes dot4 where the adapter
 * offers the WGSL feature and the start-up probe (probe-dot4.ts) finds it exact, else limbs. A path
 * can be forced — the option `kernel`, else the environment variable SLALOM_WEBGPU_KERNEL — to test
 * or measure it; a forced dot4 that the device cannot run exactly is an error, never a result.
 */
import { aOneOf } from '../../util/assert.js';

export const WEBGPU_KERNEL_PATHS = ['dot4', 'limbs'] as const;
export type WebGpuKernelPath = (typeof WEBGPU_KERNEL_PATHS)[number];
export type WebGpuKernelChoice = 'auto' | WebGpuKernelPath;

/** The WGSL language feature the dot4 kernels need. */
export const DOT4_FEATURE = 'packed_4x8_integer_dot_product';

/** The path asked for: the option, else SLALOM_WEBGPU_KERNEL, else 'auto'. */
export function askedKernelPath(option: WebGpuKernelChoice | undefined): WebGpuKernelChoice {
  const env = process.env['SLALOM_WEBGPU_KERNEL'];
  const asked = option ?? (env === undefined || env === '' ? 'auto' : env);
  return aOneOf(asked, option === undefined ? 'SLALOM_WEBGPU_KERNEL' : 'kernel', ['auto', ...WEBGPU_KERNEL_PATHS] as const);
}

/** What computes, for the device string reports carry. */
export function describeKernelPath(path: WebGpuKernelPath, whyNotDot4?: string): string {
  if (path === 'dot4') return 'exact kernels: packed 4×8-bit dot products (dot4U8Packed), 12-bit limbs in depthwise';
  return `exact kernels: 12-bit limbs on i32${whyNotDot4 ? ` (dot4 not used: ${whyNotDot4})` : ''}`;
}
