/**
 * The tensor codec of the Open Inference Protocol service, shared by its server and client: residues
 * as binary tensors of datatype UINT32 (slalom's own: 4 bytes per residue; INT32, the same bits for
 * values < 2^31, is accepted) or FP64 (8 bytes; what existing clients and servers, and a Triton
 * serving the exported repository, speak). Little-endian, as the binary tensor data extension says.
 * Decoding checks lengths only where the value's type demands it; whether a value is a residue is
 * checked by the server for requests (field/residues.ts) and by the trusted gate for replies.
 */
import { endianness } from 'node:os';

/** The datatypes a residue tensor may have on the wire; the first is the one slalom sends. */
export const WIRE_DATATYPES = ['UINT32', 'INT32', 'FP64'] as const;
export type WireDatatype = (typeof WIRE_DATATYPES)[number];
export const RESIDUE_DATATYPE: WireDatatype = 'UINT32';

export const LITTLE_ENDIAN = endianness() === 'LE';

export function isWireDatatype(v: unknown): v is WireDatatype {
  return typeof v === 'string' && (WIRE_DATATYPES as readonly string[]).includes(v);
}

export function bytesPerValue(datatype: WireDatatype): number {
  return datatype === 'FP64' ? 8 : 4;
}

/** Residues (u32, or doubles holding integers) as little-endian bytes of `datatype`, into `out` at `offset`. */
export function writeResidues(values: Uint32Array | Float64Array, datatype: WireDatatype, out: Buffer, offset: number): void {
  const wide = datatype === 'FP64';
  if (LITTLE_ENDIAN && (values instanceof Float64Array) === wide) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
    return;
  }
  if (LITTLE_ENDIAN) {
    // One conversion pass into an aligned view of the right width, then one copy.
    const converted = wide ? Float64Array.from(values) : Uint32Array.from(values);
    out.set(new Uint8Array(converted.buffer), offset);
    return;
  }
  for (let i = 0; i < values.length; i++) {
    if (wide) out.writeDoubleLE(values[i]!, offset + 8 * i);
    else out.writeUInt32LE(values[i]!, offset + 4 * i);
  }
}

/** The bytes of `values` as a binary tensor of `datatype`. */
export function residueBytes(values: Uint32Array | Float64Array, datatype: WireDatatype): Buffer {
  const out = Buffer.allocUnsafe(values.length * bytesPerValue(datatype)); // every byte written below
  writeResidues(values, datatype, out, 0);
  return out;
}

/**
 * A binary tensor's values, in a fresh aligned array: UINT32 and INT32 as a Uint32Array (an INT32
 * below 0 becomes a value ≥ 2^31, which no residue is), FP64 as a Float64Array; undefined when the
 * byte count does not fit the datatype.
 */
export function readTensor(datatype: WireDatatype, bytes: Uint8Array): Uint32Array | Float64Array | undefined {
  const width = bytesPerValue(datatype);
  if (bytes.length % width !== 0) return undefined;
  const out = datatype === 'FP64' ? new Float64Array(bytes.length / 8) : new Uint32Array(bytes.length / 4);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = datatype === 'FP64' ? view.getFloat64(8 * i, true) : view.getUint32(4 * i, true);
  }
  return out;
}
