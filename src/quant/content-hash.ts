/**
 * The identity of a quantized model (`SlalomModel.weightsHash`): a SHA-256 digest of everything that
 * decides its outputs, computed by the trusted runtime from the QuantizedGraph it loaded — never
 * read from a file. It is the same for a model quantized from ONNX and the artifact saved from it
 * (both hash the same graph), and it changes when any integer weight, bias, scale, constant, node,
 * attribute or wire changes. Pads (their keys and AAD), accelerator layer names, attestation,
 * receipts and `--weights-hash` pins all bind to it, so a pad or a pin made for other weights is
 * refused instead of producing a wrong result under a genuine name.
 *
 * Canonical serialization, version 1 (what is hashed, in order; all integers little-endian):
 *
 *     value := 0x00                               null
 *            | 0x01 | 0x02                        false | true
 *            | 0x03 f64                           a number (its IEEE-754 bytes: −0, NaN, ±∞ included)
 *            | 0x04 u64 n, n bytes                a string, UTF-8
 *            | 0x05 u64 n, n values               an array
 *            | 0x06 u64 n, n × (key, value)       a plain object: keys as strings, sorted by UTF-16
 *                                                 code units; keys whose value is undefined are left out
 *            | 0x07 string, u64 n, n elements     a typed array: its constructor name, its length, its
 *                                                 elements' bytes
 *     digest := SHA-256( "slalom weights hash v1",
 *                        value(inputs: [[name, dims]…]), value(outputs),
 *                        value(nodes: [[name, op, inputs, outputs, attrs]…]),  // in graph order
 *                        value(dims: [[name, dims]…] by name),
 *                        constants by name: value([name, dims]), Float64Array(values),
 *                        per layer in order: value(fields), value(weight dims), Int32Array(w̃),
 *                                            Float64Array(b̃) or null )
 *
 * where `fields` are the layer's other fields (index, name, op, conv attributes, shapes, lx, lw,
 * bounds, calibration statistics). Every item is tagged and every variable-length item
 * length-prefixed, so the byte string is prefix-free and no two graphs give the same one. The graph
 * name, the margin and the provenance do not decide outputs and are left out; so is the ONNX file's
 * hash (`modelHash`): two ONNX files that quantize to the same graph are one model to the pads.
 *
 * Integer weights are hashed as int32 whatever their storage (the quantizer's float64 integers, an
 * artifact's int8/int16/int32): |w̃| ≤ Σ|w̃| < 2^31 (field/prime.ts MAX_WEIGHT_L1), and the quantizer
 * only produces integers (Math.round), so the int32 value is exact. Big arrays go to the hash as
 * their bytes, converted in 1 MiB chunks by a native typed-array copy: no per-element JavaScript,
 * and an artifact's weights are hashed as stored, before (and without) being decoded to float64.
 */
import { createHash, type Hash } from 'node:crypto';
import { UnsupportedModelError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { QuantizedGraph } from './quantize-graph.js';

const LABEL = 'slalom weights hash v1';
const CHUNK_ELEMENTS = 2 ** 18;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Integer weights as stored, before any decoding to float64. */
export type StoredIntegers = Int8Array | Int16Array | Int32Array;

/**
 * A weight tensor that can give its stored integers without decoding them (an artifact's lazily
 * decoded weights, quant/artifact.ts); undefined once they were decoded and released.
 */
export interface IntegerBacked {
  storedIntegers(): StoredIntegers | undefined;
}

type TypedArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

const TAG = { null: 0, false: 1, true: 2, number: 3, string: 4, array: 5, object: 6, typed: 7 } as const;

/** The model identity of a quantized graph: 64 hex digits (see the module comment for what it covers). */
export function contentHash(q: QuantizedGraph): string {
  const h = new CanonicalHash();
  h.value(LABEL);
  const g = q.graph;
  h.value(g.inputs.map((i) => [i.name, i.dims]));
  h.value(g.outputs);
  h.value(g.nodes.map((n) => [n.name, n.op, n.inputs, n.outputs, n.attrs]));
  h.value([...g.dims].sort(byName));
  for (const [name, t] of [...g.constants].sort(byName)) {
    h.value([name, t.dims]);
    h.float64s(t.data);
  }
  for (const layer of q.layers) {
    const { node: _node, w, bias, ...fields } = layer;
    h.value(fields);
    h.value(w.dims);
    h.int32s(weightsOf(w));
    if (bias === undefined) h.value(null);
    else h.float64s(bias);
  }
  return h.digest();
}

function byName(a: readonly [string, unknown], b: readonly [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** The stored integers when the tensor still has them, else its float64 values (integers too). */
function weightsOf(w: Tensor): StoredIntegers | Float64Array {
  const stored = typeof (w as Partial<IntegerBacked>).storedIntegers === 'function' ? (w as unknown as IntegerBacked).storedIntegers() : undefined;
  return stored ?? w.data;
}

/** SHA-256 over the canonical serialization (module comment), fed as it is produced. */
class CanonicalHash {
  private readonly hash: Hash = createHash('sha256');
  private readonly scratch = Buffer.alloc(9);

  value(v: unknown): void {
    if (v === null) return this.tag(TAG.null);
    switch (typeof v) {
      case 'boolean':
        return this.tag(v ? TAG.true : TAG.false);
      case 'number':
        this.scratch[0] = TAG.number;
        this.scratch.writeDoubleLE(v, 1);
        this.hash.update(this.scratch);
        return;
      case 'string': {
        const bytes = Buffer.from(v, 'utf8');
        this.header(TAG.string, bytes.byteLength);
        this.hash.update(bytes);
        return;
      }
      case 'object':
        if (ArrayBuffer.isView(v)) return this.typed(v as TypedArray);
        if (Array.isArray(v)) {
          this.header(TAG.array, v.length);
          for (const e of v) this.value(e);
          return;
        }
        if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
          const entries = Object.entries(v as Record<string, unknown>)
            .filter(([, e]) => e !== undefined)
            .sort(byName);
          this.header(TAG.object, entries.length);
          for (const [k, e] of entries) {
            this.value(k);
            this.value(e);
          }
          return;
        }
    }
    throw new UnsupportedModelError(`a ${typeof v === 'object' ? (v as object).constructor?.name : typeof v} in the quantized graph has no canonical form for the weights hash`);
  }

  /** Integer weights as an Int32Array's elements (exact: see the module comment). */
  int32s(values: StoredIntegers | Float64Array): void {
    if (values instanceof Int32Array) return this.typed(values);
    this.converted(values, new Int32Array(Math.min(CHUNK_ELEMENTS, values.length)), 'Int32Array');
  }

  /** Floats as a Float64Array's elements. */
  float64s(values: Float64Array | Float32Array): void {
    if (values instanceof Float64Array) return this.typed(values);
    this.converted(values, new Float64Array(Math.min(CHUNK_ELEMENTS, values.length)), 'Float64Array');
  }

  digest(): string {
    return this.hash.digest('hex');
  }

  private typed(v: TypedArray): void {
    this.tag(TAG.typed);
    this.value(v.constructor.name);
    this.header(null, v.length);
    this.hash.update(littleEndianBytes(v));
  }

  /** Hashes `values` as they read once copied, chunk by chunk, into `chunk`'s type. */
  private converted(values: TypedArray, chunk: Int32Array | Float64Array, type: string): void {
    this.tag(TAG.typed);
    this.value(type);
    this.header(null, values.length);
    for (let at = 0; at < values.length; at += chunk.length) {
      const part = values.subarray(at, Math.min(values.length, at + chunk.length));
      chunk.set(part); // a native converting copy
      this.hash.update(littleEndianBytes(chunk.subarray(0, part.length)));
    }
  }

  private tag(t: number): void {
    this.scratch[0] = t;
    this.hash.update(this.scratch.subarray(0, 1));
  }

  /** An optional tag and a u64 length. */
  private header(t: number | null, length: number): void {
    const at = t === null ? 0 : 1;
    if (t !== null) this.scratch[0] = t;
    this.scratch.writeBigUInt64LE(BigInt(length), at);
    this.hash.update(this.scratch.subarray(0, at + 8));
  }
}

/** A typed array's element bytes in little-endian order (a swapped copy on a big-endian platform). */
function littleEndianBytes(v: TypedArray): Uint8Array {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (LITTLE_ENDIAN || v.BYTES_PER_ELEMENT === 1) return bytes;
  const copy = Buffer.from(bytes);
  if (v.BYTES_PER_ELEMENT === 2) copy.swap16();
  else if (v.BYTES_PER_ELEMENT === 4) copy.swap32();
  else copy.swap64();
  return copy;
}
