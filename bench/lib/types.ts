/** The benchmark's vocabulary: which models and modes it runs, and what it records for each. */
import type { LayerTax } from './exactness-tax.js';
import type { CipherSpeed } from './ciphers.js';
import type { Bandwidth } from './membw.js';

export const BENCH_MODELS = ['vgg16', 'resnet50', 'resnet18', 'mobilenet-v2', 'fashion-mnist'] as const;
export type BenchModel = (typeof BENCH_MODELS)[number];

/** `ort-fp32` is the whole network in onnxruntime fp32 on one thread; the rest are slalom's modes (docs/design.md §5). */
/** `private` and `private+verified` take their pads from the sealed store (`--pads store`); the `:memory` rows are the same modes with the in-memory pool (`--pads memory`). */
export const BENCH_MODES = ['ort-fp32', 'baseline', 'outsourced', 'verified', 'private', 'private+verified', 'private:memory', 'private+verified:memory'] as const;
export type BenchMode = (typeof BENCH_MODES)[number];

/** Private modes with pads from the sealed store (precomputed before they run). */
export const PRIVATE_MODES: ReadonlySet<BenchMode> = new Set(['private', 'private+verified']);
/** Private modes with pads from the in-memory pool (precomputed by its thread between inferences). */
export const MEMORY_PAD_MODES: ReadonlySet<BenchMode> = new Set(['private:memory', 'private+verified:memory']);
/** Modes whose linear layers cross the trust boundary to the accelerator. */
export const OUTSOURCING_MODES: ReadonlySet<BenchMode> = new Set(['outsourced', 'verified', 'private', 'private+verified', 'private:memory', 'private+verified:memory']);

/** Images in flight at once on one protocol for the throughput comparison (issue 12, deliverable 5). */
export const IN_FLIGHT = 4;

/** Modes also measured end to end against the accelerator as a loopback HTTP service (a `slalom accelerator serve` child process). */
export const SERVICE_MODES: ReadonlySet<BenchMode> = new Set(['verified', 'private+verified']);

/** Phases in display order (runtime/timings.ts names); 'accelerator' is waiting, not trusted work. */
export const PHASE_ORDER = ['pad', 'quantize', 'linear', 'blind', 'transfer', 'validate', 'verify', 'unseal', 'requantize', 'nonlinear'] as const;

/** One model × mode measurement; results.json is an array of these. */
export interface BenchRecord {
  readonly model: string;
  readonly mode: BenchMode;
  readonly warmup: number;
  readonly runs: number;
  /** Median trusted-runtime milliseconds per image (ort-fp32, baseline: the whole inference). */
  readonly trustedMsPerImage: number;
  /** Fastest run's trusted milliseconds (less sensitive to other load on the machine). */
  readonly trustedMsBest: number;
  /** The model's ort-fp32 median (the same number on every row of a model). */
  readonly ortFp32MsPerImage: number;
  /** ortFp32MsPerImage / trustedMsPerImage: > 1 means slalom's trusted side is faster than onnxruntime fp32. */
  readonly ratioVsOrt: number;
  /** baseline / trusted (the paper's methodology); null when baseline was not run. */
  readonly ratioVsBaseline: number | null;
  /** Median wall-clock milliseconds per image, end to end, with the embedded (CPU worker) accelerator. */
  readonly wallMsPerImage: number;
  /** Images per second, 1000 / wallMsPerImage (one image at a time). */
  readonly throughput: number;
  /** Median milliseconds waiting on the accelerator (its compute plus transfers). */
  readonly acceleratorMsPerImage: number;
  /** Bytes crossing the trust boundary per image as the embedded worker sends them: 8 · (Σ linear inputs + Σ linear outputs) (Float64 residues); 0 for ort-fp32 and baseline. */
  readonly bytesPerImage: number;
  /** The same traffic packed at 3 bytes per residue (p < 2^24). */
  readonly packedBytesPerImage: number;
  /** Median milliseconds per phase (each phase's own median; they need not sum to trustedMsPerImage). */
  readonly phasesMs: Record<string, number>;
  /** Largest process RSS sampled while this mode ran (bytes; the accelerator worker shares the process). */
  readonly peakRssBytes: number;
  /** Setup before the first inference: session creation, weight upload, verifier secrets (ms). */
  readonly setupMs: number;
  /** Private modes: offline precompute milliseconds per image (one pad) and sealed pad bytes per image. */
  readonly precomputeMsPerImage?: number;
  readonly padBytesPerImage?: number;
  /** Verified modes: log2 of the probability that a wrong result goes undetected, per inference. */
  readonly soundnessLog2PerInference?: number;
  /** The bandwidth floor of the model's trusted traffic (ms), and trusted time / floor. */
  readonly floorMs: number;
  readonly vsFloor: number;
  /** Quantized modes: logits bit-identical to baseline's; all modes: top-1 equal to onnxruntime fp32's. */
  readonly logitsMatchBaseline?: boolean;
  readonly top1MatchesOrt: boolean;
  readonly trustedMsSamples: readonly number[];
  readonly wallMsSamples: readonly number[];
  /** Outsourcing modes except the store's: IN_FLIGHT images at a time on the same protocol (embedded worker). */
  readonly inFlight?: InFlightMeasurement;
  /** SERVICE_MODES: the same mode with the accelerator as a loopback service instead of the embedded worker. */
  readonly service?: ServiceMeasurement;
  /** SERVICE_MODES without `service`: why (skipped, or the error it failed with). Both absent in runs before the service was measured. */
  readonly serviceNotRun?: string;
}

/** Throughput with several images in flight on one protocol, against the same protocol's one-at-a-time runs. */
export interface InFlightMeasurement {
  readonly images: number;
  readonly batches: number;
  /** Median wall-clock milliseconds per batch of `images`, and images per second from it. */
  readonly wallMsPerBatch: number;
  readonly throughput: number;
  /** Every image's logits bit-identical to baseline's. */
  readonly logitsMatchBaseline: boolean;
}

/** One mode against `slalom accelerator serve` on 127.0.0.1 (onnxruntime backend, one thread), through HttpBackend. */
export interface ServiceMeasurement {
  readonly warmup: number;
  readonly runs: number;
  /** Median wall-clock milliseconds per image, end to end, and 1000 / it. */
  readonly wallMsPerImage: number;
  readonly throughput: number;
  /** Median trusted-runtime milliseconds per image (model.infer's trustedMs). */
  readonly trustedMsPerImage: number;
  /** Median milliseconds waiting on the service (HTTP round trips, its compute included). */
  readonly acceleratorMsPerImage: number;
  /** Opening the protocol: weight upload to the service (registration) and verifier secrets (ms). */
  readonly setupMs: number;
  /** Every measured run's logits bit-identical to baseline's. */
  readonly logitsMatchBaseline: boolean;
  readonly trustedMsSamples: readonly number[];
  readonly wallMsSamples: readonly number[];
}

/** Per-model facts shared by its records. */
export interface ModelSummary {
  readonly model: string;
  readonly inputDims: readonly number[];
  readonly linearLayers: number;
  readonly macs: number;
  readonly linearInputElements: number;
  readonly linearOutputElements: number;
  /** Load: import, calibration (onnxruntime) and quantization (ms). */
  readonly loadMs: number;
  /** 8 · (Σ in + Σ out): the trusted runtime's unavoidable traffic (bytes). */
  readonly floorTrafficBytes: number;
  readonly floorMs: number;
  readonly precompute?: { readonly pads: number; readonly ms: number; readonly msPerImage: number; readonly padBytesPerImage: number };
  /** Σ over linear layers of the accelerator's exact kernel (median ms per layer; exactness-tax.ts). Absent in runs before it was measured. */
  readonly exactLinearMs?: number;
  /** Σ over the same layers of onnxruntime fp32 on each layer alone (median ms per layer). */
  readonly fp32LinearMs?: number;
  /** exactLinearMs / fp32LinearMs: the accelerator's exactness tax (target ≤ 1.4). */
  readonly exactnessTax?: number;
  readonly exactnessLayers?: readonly LayerTax[];
}

export interface BenchEnvironment {
  readonly date: string;
  readonly node: string;
  readonly platform: string;
  readonly cpus: string;
  readonly cpuCount: number;
  readonly loadAvgAtStart: readonly number[];
  readonly loadAvgAtEnd?: readonly number[];
  readonly totalMemBytes: number;
  readonly bandwidth: Bandwidth;
  /** SIMD and crypto features of the CPU (/proc/cpuinfo flags); absent in older runs. */
  readonly simd?: readonly string[];
  /** What ran the trusted side's boundary pass (wasm, native-avx512, …); absent in older runs. */
  readonly boundary?: string;
  /** The pad ciphers and their alternatives (bench/lib/ciphers.ts); absent in older runs. */
  readonly ciphers?: readonly CipherSpeed[];
  readonly quick: boolean;
  readonly warmup: number;
  readonly runs: number;
  readonly wallSeconds?: number;
  readonly argv: readonly string[];
}

export interface BenchResults {
  readonly environment: BenchEnvironment;
  readonly models: readonly ModelSummary[];
  readonly records: readonly BenchRecord[];
}
