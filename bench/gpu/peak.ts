/**
 * The device's own ceiling through WebGPU: independent i32 multiply-adds (and f32 FMAs) per second
 * from a WGSL kernel that does nothing else, so the exact kernels' int32 rate can be read against
 * what this path can reach at all on this GPU (a datasheet int32 peak is quoted next to it in the
 * report where known). The work is scaled until one dispatch takes about 200 ms.
 */
/// <reference types="@webgpu/types" />
import { openGpuDevice, type AdapterChoice } from '../../src/accel/webgpu/device.js';

const CHAINS = 8;
const UNROLL = 4;
const THREADS = 256;
const GROUPS = 1024;

function shader(kind: 'i32' | 'f32'): string {
  const t = kind;
  const zero = kind === 'i32' ? 'i32(gid.x)' : 'f32(gid.x)';
  const step = (c: number): string => (kind === 'i32' ? `a${c} = a${c} * m + c${c};` : `a${c} = fma(a${c}, m, c${c});`);
  const chains = Array.from({ length: CHAINS }, (_, c) => c);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<${t}>;
@group(0) @binding(1) var<uniform> prm: vec4<u32>;
@compute @workgroup_size(${THREADS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let m = ${kind === 'i32' ? 'i32(prm.x) | 1' : 'f32(prm.x) * 0.5 + 0.25'};
${chains.map((c) => `  var a${c} = ${zero} + ${t}(${c});\n  let c${c} = ${t}(prm.z) + ${t}(${c * 7 + 1});`).join('\n')}
  for (var i = 0u; i < prm.y; i++) {
${Array.from({ length: UNROLL }, () => chains.map((c) => `    ${step(c)}`).join('\n')).join('\n')}
  }
  out[gid.x] = ${chains.map((c) => `a${c}`).join(' + ')};
}
`;
}

export interface PeakRates {
  /** Independent i32 multiply-adds per second. */
  readonly int32MadPerS: number;
  /** Independent f32 fused multiply-adds per second. */
  readonly f32FmaPerS: number;
}

async function rate(device: GPUDevice, kind: 'i32' | 'f32'): Promise<number> {
  const module = device.createShaderModule({ code: shader(kind) });
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const out = device.createBuffer({ size: THREADS * GROUPS * 4, usage: GPUBufferUsage.STORAGE });
  const prm = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }, { binding: 1, resource: { buffer: prm } }] });
  const time = async (iterations: number): Promise<number> => {
    device.queue.writeBuffer(prm, 0, new Uint32Array([3, iterations, 5, 0]));
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(GROUPS);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await time(1);
  let iterations = 16;
  let ms = await time(iterations);
  while (ms < 200 && iterations < 1 << 24) {
    iterations *= Math.min(64, Math.max(2, Math.ceil(200 / Math.max(ms, 0.05))));
    ms = await time(iterations);
  }
  out.destroy();
  prm.destroy();
  return (THREADS * GROUPS * iterations * UNROLL * CHAINS) / (ms / 1000);
}

export async function measurePeak(adapter: AdapterChoice): Promise<PeakRates & { adapter: string }> {
  const { device, adapter: described, instance } = await openGpuDevice(adapter);
  try {
    return { adapter: described.name, int32MadPerS: await rate(device, 'i32'), f32FmaPerS: await rate(device, 'f32') };
  } finally {
    device.destroy();
    void instance; // held until the device is gone (device.ts)
  }
}
