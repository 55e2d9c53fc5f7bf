/**
 * The tensor codec of the Open Inference Protocol accelerator service, shared by its server and its
 * client: residues as binary tensors of datatype FP64 (8 bytes each, little-endian, as the binary
 * tensor data extension says). Decoding checks lengths only; whether a value is a residue is checked
 * by the server for requests and by the trusted gate (boundary/accept.ts) for replies.
 */
import { endianness } from 'node:os';

export type WireDatatype = 'FP64';

const LITTLE_ENDIAN = endianness() === 'LE';

export function bytesPerValue(_datatype: WireDatatype): number {
  return 8;
}

/** Residues (doubles holding integers) as little-endian bytes of `datatype`, into `out` at `offset`. */
export function writeResidues(values: Float64Array, _datatype: WireDatatype, out: Buffer, offset: number): void {
  if (LITTLE_ENDIAN) out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
  else for (let i = 0; i < values.length; i++) out.writeDoubleLE(values[i]!, offset + 8 * i);
}

/** The bytes of `values` as a binary tensor of `datatype` (no copy on a little-endian machine). */
export function residueBytes(values: Float64Array, datatype: WireDatatype): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.allocUnsafe(values.length * bytesPerValue(datatype)); // every byte written below
  writeResidues(values, datatype, out, 0);
  return out;
}

/** A binary tensor's values, in a fresh aligned array; undefined when the byte count does not fit the datatype. */
export function readTensor(datatype: WireDatatype, bytes: Uint8Array): Float64Array | undefined {
  const width = bytesPerValue(datatype);
  if (bytes.length % width !== 0) return undefined;
  const out = new Float64Array(bytes.length / width);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
  }
  return out;
}
