/**
 * The WebGPU engine: owns one device (device.ts), decides once which exact scheme the conv and dense
 * kernels use (kernel-path.ts: packed dot products where the device has them and passes probe-dot4.ts, else
 * 12-bit limbs), registers layers (their weights uploaded once and kept resident; a layer the scheme
 * cannot compute exactly is refused here, limbs.ts and dot4.ts), and runs
 * requests: upload x, encode the layer's dispatches (layer.ts), read y back. Buffers come from a pool
 * (buffers.ts) and pipelines are compiled once per kernel variant. Requests run one at a time, in
 * order. Every run is wrapped in error scopes, so a GPU validation or out-of-memory error fails the
 * request instead of returning whatever the buffer held.
 *
 * Residues travel as Uint32Array (p < 2^24), as everywhere in slalom.
 */
/// <reference types="@webgpu/types" />
import { InvalidArgumentError } from '../../errors.js';
import { P } from '../../field/prime.js';
import type { ExactLinearLayer } from '../../kernels/exact-linear.js';
import { sizeOf } from '../../tensor/tensor.js';
import { BufferPool } from './buffers.js';
import { openGpuDevice, type AdapterChoice, type AdapterDescription } from './device.js';
import { askedKernelPath, describeKernelPath, DOT4_FEATURE, type WebGpuKernelChoice, type WebGpuKernelPath } from './kernel-path.js';
import { dispatchPlan, planRegistration, tapTable, weightData, type Dispatch, type DispatchPlan, type KernelLimits, type RegisteredLayer, type WeightKind } from './layer.js';
import { probeDot4 } from './probe-dot4.js';
import type { DenseConfig } from './wgsl/dense.js';
import { checkDot4TileConfig } from './wgsl/tiled-dot4.js';
import { checkTileConfig, tiledSharedBytes, type Arithmetic, type TileConfig } from './wgsl/tiled.js';

export interface WebGpuOptions {
  /** Which adapter (device.ts): 'gpu' (default), 'auto' or 'software'. */
  readonly adapter?: AdapterChoice;
  /** Tiled kernel shape (default from the device's limits); for tuning on a given GPU. */
  readonly tile?: TileConfig;
  /** The conv and dense kernels' exact scheme (kernel-path.ts): 'auto' (default, or SLALOM_WEBGPU_KERNEL), 'dot4' or 'limbs'. */
  readonly kernel?: WebGpuKernelChoice;
}

const STORAGE_IN = 0x0080 | 0x0008; // STORAGE | COPY_DST
const STORAGE_OUT = 0x0080 | 0x0004; // STORAGE | COPY_SRC
const UNIFORM = 0x0040 | 0x0008; // UNIFORM | COPY_DST
const READBACK = 0x0001 | 0x0008; // MAP_READ | COPY_DST

/** The dot4 probe's verdict per adapter and tile: 'exact', or why not. */
const PROBED = new Map<string, string>();

function defaultTile(maxInvocations: number, maxShared: number): TileConfig {
  const big: TileConfig = { wgX: 16, wgY: 16, tm: 4, tn: 4 };
  if (maxInvocations >= 256 && tiledSharedBytes(big, 'exact') <= maxShared) return big;
  return { wgX: 16, wgY: 8, tm: 4, tn: 4 };
}

export class WebGpuEngine {
  private readonly pool: BufferPool;
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly limits: KernelLimits;
  private queue: Promise<unknown> = Promise.resolve();
  private lost: string | undefined;
  /** The conv and dense kernels' scheme; decided in open(), before any layer is registered. */
  private path: WebGpuKernelPath = 'limbs';
  private forcedPath = false;
  private whyNotDot4: string | undefined;

  private constructor(
    private readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    /** Held for as long as the device lives (device.ts says why). */
    private readonly instance: GPU,
    tile: TileConfig | undefined,
  ) {
    this.pool = new BufferPool(device);
    const l = device.limits;
    const chosen = tile ?? defaultTile(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupStorageSize);
    checkTileConfig(chosen);
    if (chosen.wgX * chosen.wgY > l.maxComputeInvocationsPerWorkgroup || tiledSharedBytes(chosen, 'exact') > l.maxComputeWorkgroupStorageSize) {
      throw new InvalidArgumentError(`tile ${JSON.stringify(chosen)} exceeds the device's ${l.maxComputeInvocationsPerWorkgroup} invocations or ${l.maxComputeWorkgroupStorageSize} bytes of workgroup memory`);
    }
    const dense: DenseConfig = { cols: 32, slices: Math.min(8, Math.floor(l.maxComputeInvocationsPerWorkgroup / 32)), rowsPerGroup: 4 };
    this.limits = { tile: chosen, dense, maxSharedBytes: l.maxComputeWorkgroupStorageSize, maxInvocations: l.maxComputeInvocationsPerWorkgroup, maxWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension };
    void device.lost.then((info) => {
      this.lost = `the GPU device was lost (${info.reason}): ${info.message}`;
    });
  }

  static async open(options: WebGpuOptions = {}): Promise<WebGpuEngine> {
    const asked = askedKernelPath(options.kernel);
    const { device, adapter, instance } = await openGpuDevice(options.adapter ?? 'gpu');
    let engine: WebGpuEngine;
    try {
      engine = new WebGpuEngine(device, adapter, instance, options.tile);
    } catch (e) {
      device.destroy();
      throw e;
    }
    if (asked !== 'limbs') {
      // The probe registers its layer on the dot4 kernels, as a forced path would.
      engine.usePath('dot4', true, undefined);
      const why = await engine.dot4Unusable(instance);
      if (why !== undefined && asked === 'dot4') {
        await engine.close();
        throw new InvalidArgumentError(`the dot4 WebGPU kernels were asked for, but ${why}; use kernel 'limbs' or 'auto' (SLALOM_WEBGPU_KERNEL)`);
      }
      engine.usePath(why === undefined ? 'dot4' : 'limbs', asked !== 'auto', why);
    } else {
      engine.usePath('limbs', true, undefined);
    }
    return engine;
  }

  private usePath(path: WebGpuKernelPath, forced: boolean, whyNotDot4: string | undefined): void {
    this.path = path;
    this.forcedPath = forced;
    this.whyNotDot4 = whyNotDot4;
  }

  /** Why this device cannot run the dot4 kernels exactly (no feature, a tile they cannot use, a failed probe), or undefined. */
  private async dot4Unusable(instance: GPU): Promise<string | undefined> {
    if (!instance.wgslLanguageFeatures.has(DOT4_FEATURE)) return `the adapter's WGSL lacks ${DOT4_FEATURE}`;
    try {
      checkDot4TileConfig(this.limits.tile);
    } catch (e) {
      return (e as Error).message;
    }
    // One probe per adapter and tile in a process (llvmpipe takes a few hundred ms over it).
    const key = `${this.adapter.name}|${JSON.stringify(this.limits.tile)}`;
    let verdict = PROBED.get(key);
    if (verdict === undefined) {
      try {
        verdict = (await probeDot4(this)) ?? 'exact';
      } catch (e) {
        verdict = `its probe failed to run: ${(e as Error).message}`;
      }
      PROBED.set(key, verdict);
    }
    return verdict === 'exact' ? undefined : verdict;
  }

  /** The kernel configuration in use (tile shapes, exact scheme), for reports. */
  get kernelConfig(): { tile: TileConfig; dense: DenseConfig; path: WebGpuKernelPath } {
    return { tile: this.limits.tile, dense: this.limits.dense, path: this.path };
  }

  /** Which exact scheme computes, in words (and why not dot4, where it was not used). */
  get kernelDescription(): string {
    return describeKernelPath(this.path, this.whyNotDot4);
  }

  /** Checks the layer against the scheme's bound and uploads its weights; throws OverflowError / InvalidArgumentError naming it. */
  register(layer: ExactLinearLayer, name: string): RegisteredLayer {
    this.assertAlive();
    const planned = planRegistration(layer, name, this.path, this.forcedPath);
    const registered: RegisteredLayer = { name, source: layer, ...planned, weights: {}, taps: new Map() };
    // The weights its exact kernels read; the float twin's come when the benchmark first asks.
    this.weightBuffer(registered, planned.dot4 !== undefined ? 'dot4' : 'exact');
    return registered;
  }

  /** The exact scheme a request of shape `dims` runs in (dot4 where the layer was planned for it, never depthwise). */
  schemeOf(layer: RegisteredLayer, dims: readonly number[]): WebGpuKernelPath {
    return dispatchPlan(layer, dims, 'exact', this.limits).dispatches.some((d) => d.weights === 'dot4') ? 'dot4' : 'limbs';
  }

  release(layer: RegisteredLayer): void {
    for (const b of Object.values(layer.weights)) b.destroy();
    for (const t of layer.taps.values()) t.destroy();
    layer.taps.clear();
  }

  /** f(x) mod p (no bias) for canonical residues x of shape `dims`; the output's residues and shape. */
  run(layer: RegisteredLayer, dims: readonly number[], x: Uint32Array): Promise<{ dims: number[]; data: Uint32Array }> {
    return this.serialized(async () => {
      this.assertAlive();
      if (x.length !== sizeOf(dims)) throw new InvalidArgumentError(`input of ${x.length} values does not fill its shape`, { layer: layer.name });
      const plan = dispatchPlan(layer, dims, 'exact', this.limits);
      const outCount = sizeOf(plan.outDims);
      if (outCount === 0) return { dims: [...plan.outDims], data: new Uint32Array(0) };
      const xBuf = this.pool.acquire(x.byteLength, STORAGE_IN);
      const bufs = this.acquireWork(layer, plan, outCount);
      const readback = this.pool.acquire(outCount * 4, READBACK);
      try {
        await this.scoped(layer.name, async () => {
          this.device.queue.writeBuffer(xBuf, 0, x.buffer, x.byteOffset, x.byteLength);
          this.writeParams(plan, bufs);
          const enc = this.device.createCommandEncoder();
          await this.encode(enc, layer, plan, xBuf, bufs, 1);
          enc.copyBufferToBuffer(bufs.y, 0, readback, 0, outCount * 4);
          this.device.queue.submit([enc.finish()]);
        });
        await readback.mapAsync(GPUMapMode.READ, 0, outCount * 4);
        const data = new Uint32Array(readback.getMappedRange(0, outCount * 4).slice(0));
        readback.unmap();
        return { dims: [...plan.outDims], data };
      } finally {
        this.pool.release(xBuf);
        this.releaseWork(bufs);
        this.pool.release(readback);
      }
    });
  }

  /**
   * Milliseconds per execution of the layer's kernels alone (no upload, no read-back): the median
   * of three submissions of `repeats` runs each, on an input already on the GPU (random residues for 'exact',
   * random floats for 'f32', the same kernels in float32: the fp32 path on this device), timed to
   * the queue's completion. For the benchmark's GMAC/s and exactness tax.
   */
  kernelMs(layer: RegisteredLayer, dims: readonly number[], arith: Arithmetic, repeats: number): Promise<number> {
    return this.serialized(async () => {
      this.assertAlive();
      const plan = dispatchPlan(layer, dims, arith, this.limits);
      const n = sizeOf(dims);
      const x = arith === 'exact' ? new Uint32Array(n) : new Float32Array(n);
      // Spread values (timing only): residues below p, or floats in [−1, 1).
      for (let i = 0, s = 1; i < n; i++, s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0) x[i] = arith === 'exact' ? s % P : s / 2 ** 31 - 1;
      const xBuf = this.pool.acquire(x.byteLength, STORAGE_IN);
      const bufs = this.acquireWork(layer, plan, sizeOf(plan.outDims));
      try {
        this.device.queue.writeBuffer(xBuf, 0, x.buffer, 0, x.byteLength);
        this.writeParams(plan, bufs);
        const warm = this.device.createCommandEncoder();
        await this.encode(warm, layer, plan, xBuf, bufs, 1);
        this.device.queue.submit([warm.finish()]);
        await this.device.queue.onSubmittedWorkDone();
        // The median of three timed submissions of `repeats` executions each.
        const ms: number[] = [];
        for (let i = 0; i < 3; i++) {
          const enc = this.device.createCommandEncoder();
          await this.encode(enc, layer, plan, xBuf, bufs, repeats);
          const cmd = enc.finish();
          const t0 = performance.now();
          this.device.queue.submit([cmd]);
          await this.device.queue.onSubmittedWorkDone();
          ms.push((performance.now() - t0) / repeats);
        }
        return ms.sort((a, b) => a - b)[1]!;
      } finally {
        this.pool.release(xBuf);
        this.releaseWork(bufs);
      }
    });
  }

  async close(): Promise<void> {
    await this.queue.catch(() => {});
    this.pool.destroy();
    this.device.destroy();
    this.lost ??= 'the WebGPU engine is closed';
  }

  private serialized<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => {});
    return next;
  }

  private assertAlive(): void {
    if (this.lost !== undefined) throw new Error(this.lost);
  }

  /** The layer's weights of `kind`, uploaded on first use. */
  private weightBuffer(layer: RegisteredLayer, kind: WeightKind): GPUBuffer {
    return (layer.weights[kind] ??= this.upload(weightData(layer, kind), layer.name));
  }

  private upload(data: Int32Array | Uint32Array | Float32Array, name: string): GPUBuffer {
    if (data.byteLength > this.device.limits.maxStorageBufferBindingSize) {
      throw new InvalidArgumentError(`its weights (${data.byteLength} bytes) exceed the device's largest storage binding (${this.device.limits.maxStorageBufferBindingSize} bytes)`, { layer: name });
    }
    const buffer = this.device.createBuffer({ size: Math.max(16, data.byteLength), usage: STORAGE_IN, label: `${name} weights` });
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /** Runs `f` inside validation and out-of-memory error scopes; a reported error fails the request. */
  private async scoped(name: string, f: () => Promise<void>): Promise<void> {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    let thrown: unknown;
    try {
      await f();
    } catch (e) {
      thrown = e;
    }
    const oom = await this.device.popErrorScope();
    const invalid = await this.device.popErrorScope();
    if (thrown !== undefined) throw thrown;
    const err = oom ?? invalid;
    if (err) throw new Error(`GPU ${oom ? 'out of memory' : 'validation error'} in layer ${name}: ${err.message}`);
  }

  private acquireWork(layer: RegisteredLayer, plan: DispatchPlan, outCount: number): { y: GPUBuffer; partial?: GPUBuffer; params: GPUBuffer[] } {
    const y = this.pool.acquire(Math.max(outCount, 1) * 4, STORAGE_OUT, `${layer.name} y`);
    const partial = plan.partialElems > 0 ? this.pool.acquire(plan.partialElems * 4, STORAGE_OUT) : undefined;
    const params = plan.dispatches.map((d) => this.pool.acquire(d.params.byteLength, UNIFORM));
    return { y, ...(partial ? { partial } : {}), params };
  }

  private writeParams(plan: DispatchPlan, bufs: { params: GPUBuffer[] }): void {
    plan.dispatches.forEach((d, i) => this.device.queue.writeBuffer(bufs.params[i]!, 0, d.params.buffer, d.params.byteOffset, d.params.byteLength));
  }

  private releaseWork(bufs: { y: GPUBuffer; partial?: GPUBuffer; params: GPUBuffer[] }): void {
    this.pool.release(bufs.y);
    if (bufs.partial) this.pool.release(bufs.partial);
    for (const b of bufs.params) this.pool.release(b);
  }

  private pipeline(d: Dispatch): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(d.key);
    if (p === undefined) {
      const module = this.device.createShaderModule({ code: d.shader(), label: d.key });
      p = this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: d.key }).catch(async (e: unknown) => {
        // The compiler's own messages say more than "invalid shader module".
        const info = await module.getCompilationInfo();
        const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
        throw new Error(`the ${d.key} kernel did not compile: ${errors.join('; ') || (e as Error).message}`);
      });
      this.pipelines.set(d.key, p);
      p.catch(() => this.pipelines.delete(d.key));
    }
    return p;
  }

  private tapBuffer(layer: RegisteredLayer, d: Dispatch): GPUBuffer {
    const g = d.taps!;
    const key = `${g.h}×${g.w}`;
    let b = layer.taps.get(key);
    if (b === undefined) {
      const table = tapTable(g);
      b = this.device.createBuffer({ size: Math.max(16, table.byteLength), usage: STORAGE_IN, label: `${layer.name} taps ${key}` });
      this.device.queue.writeBuffer(b, 0, table.buffer, 0, table.byteLength);
      layer.taps.set(key, b);
    }
    return b;
  }

  private async encode(enc: GPUCommandEncoder, layer: RegisteredLayer, plan: DispatchPlan, xBuf: GPUBuffer, bufs: { y: GPUBuffer; partial?: GPUBuffer; params: GPUBuffer[] }, repeats: number): Promise<void> {
    const steps = await Promise.all(
      plan.dispatches.map(async (d, i) => {
        const pipeline = await this.pipeline(d);
        // Bindings cover the bytes in use, not the pooled buffer's rounded-up size.
        const xBytes = sizeOf(plan.inDims) * 4;
        const yBytes = sizeOf(plan.outDims) * 4;
        const partialBytes = plan.partialElems * 4;
        const entries: GPUBindGroupEntry[] = [
          { binding: 0, resource: { buffer: bufs.params[i]!, size: d.params.byteLength } },
          { binding: 1, resource: d.input === 'x' ? { buffer: xBuf, size: xBytes } : { buffer: bufs.partial!, size: partialBytes } },
          { binding: 3, resource: d.output === 'y' ? { buffer: bufs.y, size: yBytes } : { buffer: bufs.partial!, size: partialBytes } },
        ];
        if (d.input === 'x') entries.push({ binding: 2, resource: { buffer: this.weightBuffer(layer, d.weights) } });
        if (d.taps !== undefined) entries.push({ binding: 4, resource: { buffer: this.tapBuffer(layer, d) } });
        return { pipeline, group: this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), grid: d.grid };
      }),
    );
    const pass = enc.beginComputePass();
    for (let r = 0; r < repeats; r++) {
      for (const s of steps) {
        pass.setPipeline(s.pipeline);
        pass.setBindGroup(0, s.group);
        pass.dispatchWorkgroups(s.grid[0], s.grid[1], s.grid[2]);
      }
    }
    pass.end();
  }
}
