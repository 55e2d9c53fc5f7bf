/**
 * NumPy `.npy` reading and writing (format versions 1.0, 2.0 and 3.0).
 *
 * Reads the little-endian numeric dtypes `<f8 <f4 <i8 <i4 <i2 <u2 |i1 |u1` (single-byte types may
 * also be spelled `<` or `=`) in C order into a {@link Tensor} of doubles. Everything else — big-endian
 * data, Fortran order, structured/object/string/complex dtypes, a malformed or oversized header, data
 * that does not match the shape — is rejected with an {@link InvalidArgumentError} naming the
 * problem; nothing is guessed. `<i8` values beyond ±2^53 are rejected too, since a double cannot hold
 * them exactly.
 *
 * Writing emits version 1.0 (2.0 when the header would not fit in 65535 bytes) with the header padded
 * so the data starts on a 64-byte boundary, exactly as `numpy.save` does.
 *
 * The header parser is split from the data decoder ({@link parseNpyHeader}, {@link decodeNpyData}) so
 * callers can read the shape of a large file and then decode only a slice of it (see io/inputs.ts).
 */
import { readFileSync } from 'node:fs';

import { hasErrorCode, InvalidArgumentError } from '../errors.js';
import { sizeOf, tensor, type Tensor } from '../tensor/tensor.js';

/** The element types slalom reads from and writes to `.npy` files. */
export type NpyDtype = 'float64' | 'float32' | 'int64' | 'int32' | 'int16' | 'uint16' | 'int8' | 'uint8';

/** The parsed, validated header of a `.npy` file. */
export interface NpyHeader {
  /** Format major version (1, 2 or 3; the minor version is always 0). */
  readonly version: 1 | 2 | 3;
  /** The dtype string as written in the file, e.g. `'<f4'`. */
  readonly descr: string;
  readonly dtype: NpyDtype;
  /** Bytes per element. */
  readonly itemSize: number;
  /** Shape; `[]` for a 0-d array. */
  readonly shape: readonly number[];
  /** Byte offset of the first data byte (= total header size). */
  readonly dataOffset: number;
  /** Byte length the data must have: elements × itemSize. */
  readonly dataLength: number;
}

/** The six magic bytes every `.npy` file starts with: `\x93NUMPY`. */
export const NPY_MAGIC: Uint8Array = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59);

/** Headers above this size are refused (numpy itself refuses above 10000 bytes without opt-in). */
export const MAX_NPY_HEADER_BYTES = 1 << 20;

const DTYPES: Readonly<Record<NpyDtype, { kind: string; size: number }>> = {
  float64: { kind: 'f', size: 8 },
  float32: { kind: 'f', size: 4 },
  int64: { kind: 'i', size: 8 },
  int32: { kind: 'i', size: 4 },
  int16: { kind: 'i', size: 2 },
  uint16: { kind: 'u', size: 2 },
  int8: { kind: 'i', size: 1 },
  uint8: { kind: 'u', size: 1 },
};

function dtypeFromDescr(descr: string): NpyDtype {
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (m === null) throw new InvalidArgumentError(`.npy dtype '${descr}' is not supported (expected one of <f8 <f4 <i8 <i4 <i2 <u2 |i1 |u1)`);
  const [, order, kind, sizeText] = m as unknown as [string, string, string, string];
  const size = Number(sizeText);
  const found = (Object.keys(DTYPES) as NpyDtype[]).find((k) => DTYPES[k].kind === kind && DTYPES[k].size === size);
  if (found === undefined) {
    throw new InvalidArgumentError(`.npy dtype '${descr}' is not supported (expected one of <f8 <f4 <i8 <i4 <i2 <u2 |i1 |u1)`);
  }
  if (size > 1 && order !== '<') {
    // '=' (native) never appears in files numpy writes; '>' is big-endian; '|' is only for 1-byte types.
    const why = order === '>' ? 'big-endian data is not supported' : `byte order '${order}' is ambiguous for a ${size}-byte type`;
    throw new InvalidArgumentError(`.npy dtype '${descr}': ${why}; re-save it little-endian (e.g. arr.astype('<${kind}${size}'))`);
  }
  return found;
}

function descrOf(dtype: NpyDtype): string {
  const { kind, size } = DTYPES[dtype];
  return `${size === 1 ? '|' : '<'}${kind}${size}`;
}

// ---- header dictionary parsing ---------------------------------------------------------------------

type PyValue = string | boolean | number[];

/**
 * Parses the restricted Python literal numpy writes: a dict with string keys whose values are string
 * literals, True/False, or tuples of non-negative integers. Anything else is an error.
 */
function parseHeaderDict(text: string): Map<string, PyValue> {
  let i = 0;
  const fail = (what: string): never => {
    throw new InvalidArgumentError(`malformed .npy header: ${what} at offset ${i} in ${JSON.stringify(text.trim())}`);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const expect = (c: string): void => {
    ws();
    if (text[i] !== c) fail(`expected '${c}'`);
    i++;
  };
  const str = (): string => {
    ws();
    const q = text[i];
    if (q !== "'" && q !== '"') return fail('expected a string literal');
    const end = text.indexOf(q, i + 1);
    if (end < 0) return fail('unterminated string literal');
    const s = text.slice(i + 1, end);
    if (s.includes('\\')) return fail('escape sequences are not supported');
    i = end + 1;
    return s;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return str();
    if (c === '[') return fail('structured (record) dtypes are not supported');
    if (text.startsWith('True', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('False', i)) {
      i += 5;
      return false;
    }
    if (c === '(') {
      i++;
      const dims: number[] = [];
      for (;;) {
        ws();
        if (text[i] === ')') {
          i++;
          return dims;
        }
        const m = /^\d+L?/.exec(text.slice(i, i + 32));
        if (m === null) return fail('expected a non-negative integer in the shape tuple');
        const d = Number(m[0].replace('L', ''));
        if (!Number.isSafeInteger(d)) return fail(`shape dimension ${m[0]} is too large`);
        dims.push(d);
        i += m[0].length;
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== ')') return fail("expected ',' or ')' in the shape tuple");
      }
    }
    return fail('expected a string, True, False or a tuple');
  };

  const out = new Map<string, PyValue>();
  expect('{');
  for (;;) {
    ws();
    if (text[i] === '}') {
      i++;
      break;
    }
    const key = str();
    if (out.has(key)) fail(`duplicate key '${key}'`);
    expect(':');
    out.set(key, value());
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail("expected ',' or '}'");
  }
  ws();
  if (i !== text.length) fail('trailing characters after the dictionary');
  return out;
}

// ---- reading -----------------------------------------------------------------------------------------

/** Whether `bytes` starts with the `.npy` magic string. */
export function isNpy(bytes: Uint8Array): boolean {
  if (bytes.length < NPY_MAGIC.length) return false;
  return NPY_MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Number of leading bytes needed to parse the header: 10 or 12 bytes of preamble are enough to call
 * this; it returns the full header size (= data offset) without validating the dictionary.
 */
export function npyHeaderSize(prefix: Uint8Array): number {
  if (!isNpy(prefix)) throw new InvalidArgumentError('not a .npy file: missing the \\x93NUMPY magic string');
  if (prefix.length < 10) throw new InvalidArgumentError(`truncated .npy header: ${prefix.length} bytes`);
  const major = prefix[6]!;
  const minor = prefix[7]!;
  if ((major !== 1 && major !== 2 && major !== 3) || minor !== 0) {
    throw new InvalidArgumentError(`unsupported .npy format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (major === 1) return 10 + view.getUint16(8, true);
  if (prefix.length < 12) throw new InvalidArgumentError(`truncated .npy header: ${prefix.length} bytes`);
  const len = view.getUint32(8, true);
  if (len > MAX_NPY_HEADER_BYTES) throw new InvalidArgumentError(`.npy header length ${len} exceeds the ${MAX_NPY_HEADER_BYTES}-byte limit`);
  return 12 + len;
}

/**
 * Parses and validates the header. `bytes` needs to hold at least the header (see
 * {@link npyHeaderSize}); the data is not looked at.
 */
export function parseNpyHeader(bytes: Uint8Array): NpyHeader {
  const dataOffset = npyHeaderSize(bytes);
  if (dataOffset > bytes.length) {
    throw new InvalidArgumentError(`truncated .npy header: header claims ${dataOffset} bytes, file has ${bytes.length}`);
  }
  const version = bytes[6] as 1 | 2 | 3;
  const start = version === 1 ? 10 : 12;
  const raw = bytes.subarray(start, dataOffset);
  let text: string;
  if (version === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new InvalidArgumentError('malformed .npy header: not valid UTF-8');
    }
  } else {
    text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  }
  const dict = parseHeaderDict(text);

  const keys = [...dict.keys()].sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    throw new InvalidArgumentError(`malformed .npy header: keys are {${keys.join(', ')}}, expected exactly {descr, fortran_order, shape}`);
  }
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string') throw new InvalidArgumentError("malformed .npy header: 'descr' must be a dtype string (structured dtypes are not supported)");
  if (typeof fortran !== 'boolean') throw new InvalidArgumentError("malformed .npy header: 'fortran_order' must be True or False");
  if (!Array.isArray(shape)) throw new InvalidArgumentError("malformed .npy header: 'shape' must be a tuple of integers");
  if (fortran) {
    throw new InvalidArgumentError('.npy array is in Fortran (column-major) order, which is not supported; re-save it with np.ascontiguousarray(arr)');
  }
  const dtype = dtypeFromDescr(descr);
  const itemSize = DTYPES[dtype].size;
  const count = sizeOf(shape);
  const dataLength = count * itemSize;
  if (!Number.isSafeInteger(dataLength)) throw new InvalidArgumentError(`.npy shape (${shape.join(', ')}) is too large`);
  return { version, descr, dtype, itemSize, shape, dataOffset, dataLength };
}

const TWO_53 = 2 ** 53;

/**
 * Decodes `count` elements of `header`'s dtype from `bytes` starting at `byteOffset` into doubles.
 * `elementBase` only feeds error messages (the index of the first decoded element in the file).
 */
export function decodeNpyData(header: Pick<NpyHeader, 'dtype' | 'itemSize'>, bytes: Uint8Array, byteOffset: number, count: number, elementBase = 0): Float64Array {
  const need = count * header.itemSize;
  if (byteOffset < 0 || byteOffset + need > bytes.length) {
    throw new InvalidArgumentError(`truncated .npy data: need ${need} bytes at offset ${byteOffset}, have ${Math.max(0, bytes.length - byteOffset)}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset + byteOffset, need);
  const out = new Float64Array(count);
  switch (header.dtype) {
    case 'float64':
      for (let k = 0; k < count; k++) out[k] = v.getFloat64(8 * k, true);
      break;
    case 'float32':
      for (let k = 0; k < count; k++) out[k] = v.getFloat32(4 * k, true);
      break;
    case 'int64':
      for (let k = 0; k < count; k++) {
        const x = v.getBigInt64(8 * k, true);
        if (x > TWO_53 || x < -TWO_53) {
          throw new InvalidArgumentError(`.npy int64 element ${elementBase + k} (${x}) exceeds ±2^53 and cannot be represented exactly`);
        }
        out[k] = Number(x);
      }
      break;
    case 'int32':
      for (let k = 0; k < count; k++) out[k] = v.getInt32(4 * k, true);
      break;
    case 'int16':
      for (let k = 0; k < count; k++) out[k] = v.getInt16(2 * k, true);
      break;
    case 'uint16':
      for (let k = 0; k < count; k++) out[k] = v.getUint16(2 * k, true);
      break;
    case 'int8':
      for (let k = 0; k < count; k++) out[k] = v.getInt8(k);
      break;
    case 'uint8':
      for (let k = 0; k < count; k++) out[k] = v.getUint8(k);
      break;
  }
  return out;
}

/** Parses a whole `.npy` file. The data must be exactly as long as the shape says. */
export function readNpy(bytes: Uint8Array): Tensor {
  const h = parseNpyHeader(bytes);
  const have = bytes.length - h.dataOffset;
  if (have !== h.dataLength) {
    const what = have < h.dataLength ? 'truncated .npy data' : '.npy data longer than its shape';
    throw new InvalidArgumentError(`${what}: shape (${h.shape.join(', ')}) of ${h.descr} needs ${h.dataLength} bytes, file has ${have}`);
  }
  return tensor(h.shape, decodeNpyData(h, bytes, h.dataOffset, sizeOf(h.shape)));
}

/**
 * `t` if every value is finite, else an {@link InvalidArgumentError} naming `input` and the first
 * NaN or ±Infinity: a `.npy` may hold them (images cannot), and a model input holding one is a bad
 * input, not a model overflow.
 */
export function finiteInput(t: Tensor, input: string): Tensor {
  const i = t.data.findIndex((v) => !Number.isFinite(v));
  if (i >= 0) throw new InvalidArgumentError(`input ${input}: element ${i} is ${t.data[i]}; inputs must be finite numbers`);
  return t;
}

/** Reads and parses a `.npy` file; an unreadable path is an {@link InvalidArgumentError}. */
export function readNpyFile(path: string): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new InvalidArgumentError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return readNpy(bytes);
  } catch (e) {
    if (hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG')) throw new InvalidArgumentError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

// ---- writing -----------------------------------------------------------------------------------------

const INT_RANGE: Partial<Record<NpyDtype, [number, number]>> = {
  int64: [-TWO_53, TWO_53],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int8: [-128, 127],
  uint8: [0, 255],
};

/**
 * Serializes a tensor as a C-order `.npy` file. `dtype` defaults to `'float64'` (lossless); integer
 * dtypes require every value to be an integer in range, or an {@link InvalidArgumentError} is thrown.
 */
export function writeNpy(t: Tensor, dtype: NpyDtype = 'float64'): Uint8Array {
  if (!(dtype in DTYPES)) throw new InvalidArgumentError(`unsupported .npy dtype '${String(dtype)}'`);
  const { size } = DTYPES[dtype];
  const n = sizeOf(t.dims);
  if (t.data.length !== n) throw new InvalidArgumentError(`shape [${t.dims.join(', ')}] needs ${n} values, got ${t.data.length}`);
  const shapeText = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  const dict = `{'descr': '${descrOf(dtype)}', 'fortran_order': False, 'shape': ${shapeText}, }`;

  let version: 1 | 2 = 1;
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    version = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const headerText = dict + ' '.repeat(total - pre - dict.length - 1) + '\n';

  const out = new Uint8Array(total + n * size);
  const v = new DataView(out.buffer);
  out.set(NPY_MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  if (version === 1) v.setUint16(8, headerText.length, true);
  else v.setUint32(8, headerText.length, true);
  out.set(Buffer.from(headerText, 'latin1'), pre);

  const range = INT_RANGE[dtype];
  if (range !== undefined) {
    for (let k = 0; k < n; k++) {
      const x = t.data[k]!;
      if (!Number.isInteger(x) || x < range[0] || x > range[1]) {
        throw new InvalidArgumentError(`cannot write element ${k} (${x}) as ${dtype}: not an integer in [${range[0]}, ${range[1]}]`);
      }
    }
  }
  const d = t.data;
  const o = total;
  switch (dtype) {
    case 'float64':
      for (let k = 0; k < n; k++) v.setFloat64(o + 8 * k, d[k]!, true);
      break;
    case 'float32':
      for (let k = 0; k < n; k++) v.setFloat32(o + 4 * k, d[k]!, true);
      break;
    case 'int64':
      for (let k = 0; k < n; k++) v.setBigInt64(o + 8 * k, BigInt(d[k]!), true);
      break;
    case 'int32':
      for (let k = 0; k < n; k++) v.setInt32(o + 4 * k, d[k]!, true);
      break;
    case 'int16':
      for (let k = 0; k < n; k++) v.setInt16(o + 2 * k, d[k]!, true);
      break;
    case 'uint16':
      for (let k = 0; k < n; k++) v.setUint16(o + 2 * k, d[k]!, true);
      break;
    case 'int8':
      for (let k = 0; k < n; k++) v.setInt8(o + k, d[k]!);
      break;
    case 'uint8':
      for (let k = 0; k < n; k++) v.setUint8(o + k, d[k]!);
      break;
  }
  return out;
}
