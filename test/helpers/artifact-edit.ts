/**
 * Edits a quantized artifact the way an attacker with write access to it would (quant/artifact.ts
 * layout): the header JSON and the blob section are changed, then the unkeyed SHA-256 checksum is
 * recomputed, so the file still loads. The red team's edits: a layer's weights replaced by another
 * artifact's, one weight +1, a layer's weights negated — each with the header's Σ|w̃| fixed up so
 * the decoding check passes too.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { rowL1 } from '../../src/quant/quantize-graph.js';

const PREAMBLE = 48;

interface BlobRef {
  dtype: 'i8' | 'i16' | 'i32';
  offset: number;
  length: number;
}
interface LayerEntry {
  node: string;
  fields: { op: 'Conv' | 'Gemm'; weightRowL1: number } & Record<string, unknown>;
  w: { dims: number[]; blob: BlobRef };
}
export interface EditableArtifact {
  header: { layers: LayerEntry[]; blobs: { bytes: number } } & Record<string, unknown>;
  /** The blob section (a copy: grow it with `appendBlob`). */
  blobs: Buffer;
  /** Bytes after the blob section (the embedded ONNX file, if any). */
  tail: Buffer;
}

const ARRAYS = { i8: Int8Array, i16: Int16Array, i32: Int32Array } as const;

export function readEditable(path: string): EditableArtifact {
  const bytes = readFileSync(path);
  const headerBytes = bytes.readUInt32LE(12);
  const header = JSON.parse(bytes.subarray(PREAMBLE, PREAMBLE + headerBytes).toString('utf8'));
  const start = blobStart(headerBytes);
  const blobs = Buffer.from(bytes.subarray(start, start + header.blobs.bytes));
  return { header, blobs, tail: Buffer.from(bytes.subarray(start + header.blobs.bytes)) };
}

/** Writes `a` back with a recomputed checksum. */
export function writeEditable(path: string, a: EditableArtifact): void {
  a.header.blobs.bytes = a.blobs.byteLength;
  const json = Buffer.from(JSON.stringify(a.header), 'utf8');
  const pre = Buffer.alloc(PREAMBLE);
  pre.set([0x89, 0x53, 0x4c, 0x41, 0x4c, 0x4f, 0x4d, 0x51]);
  pre.writeUInt32LE(1, 8);
  pre.writeUInt32LE(json.byteLength, 12);
  pre.set(createHash('sha256').update(json).update(a.blobs).digest(), 16);
  const pad = Buffer.alloc(blobStart(json.byteLength) - PREAMBLE - json.byteLength);
  writeFileSync(path, Buffer.concat([pre, json, pad, a.blobs, a.tail]));
}

function blobStart(headerBytes: number): number {
  const end = PREAMBLE + headerBytes;
  return end + ((8 - (end % 8)) % 8);
}

function layerOf(a: EditableArtifact, name: string): LayerEntry {
  const layer = a.header.layers.find((l) => l.node === name);
  if (layer === undefined) throw new Error(`no layer ${name}`);
  return layer;
}

/** A view of layer `name`'s stored integer weights, in the blob section (edits write through). */
export function weightsOf(a: EditableArtifact, name: string): Int8Array | Int16Array | Int32Array {
  const { blob } = layerOf(a, name).w;
  const ctor = ARRAYS[blob.dtype];
  return new ctor(a.blobs.buffer as ArrayBuffer, a.blobs.byteOffset + blob.offset, blob.length);
}

/** Sets the header's Σ|w̃| of layer `name` to what its stored weights give (what an attacker fixes up). */
function fixRowL1(a: EditableArtifact, name: string): void {
  const layer = layerOf(a, name);
  layer.fields.weightRowL1 = rowL1({ dims: layer.w.dims, data: Float64Array.from(weightsOf(a, name)) }, layer.fields.op);
}

/** Layer `name` takes `donor`'s weights for its layer of the same name (same dims, any dtype). */
export function swapWeights(a: EditableArtifact, donor: EditableArtifact, name: string): void {
  const theirs = weightsOf(donor, name);
  const layer = layerOf(a, name);
  if (layer.w.dims.join() !== layerOf(donor, name).w.dims.join()) throw new Error(`layer ${name}: dims differ`);
  const offset = a.blobs.byteLength; // a multiple of 8: blobs are padded
  const bytes = Buffer.from(theirs.buffer, theirs.byteOffset, theirs.byteLength);
  a.blobs = Buffer.concat([a.blobs, bytes, Buffer.alloc((8 - (bytes.byteLength % 8)) % 8)]);
  layer.w.blob = { dtype: layerOf(donor, name).w.blob.dtype, offset, length: theirs.length };
  fixRowL1(a, name);
}

/** Adds `delta` to weight `index` of layer `name`. */
export function bumpWeight(a: EditableArtifact, name: string, index: number, delta: number): void {
  weightsOf(a, name)[index]! += delta;
  fixRowL1(a, name);
}

/** Negates every weight of layer `name` (Σ|w̃| is unchanged). */
export function negateWeights(a: EditableArtifact, name: string): void {
  const w = weightsOf(a, name);
  for (let i = 0; i < w.length; i++) w[i] = -w[i]!;
}
