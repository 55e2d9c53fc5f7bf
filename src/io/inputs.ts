/**
 * Input enumeration for `slalom compare --inputs <dir|file>`: turns a path into a list of named,
 * lazily loaded inputs.
 *
 * - A directory yields every `.png`, `.jpg`, `.jpeg`, `.webp` and `.npy` file directly inside it (not
 *   recursive; dotfiles skipped; extensions case-insensitive), sorted by name (code-unit order, so
 *   the order does not depend on the locale). Each `.npy` among them is expanded as below.
 * - A `.npy` file whose leading dimension is a batch of N > 1 yields N inputs `name[0]` … `name[N-1]`,
 *   each of dims [1, …rest]. Whether the leading dimension is a batch is decided by `expectDims` (the
 *   model input's dims): same rank and a model batch of 1 (or symbolic) → split; one rank less → a
 *   single sample, batch dim added on load; a model batch equal to N → one input. Without
 *   `expectDims`, an array of rank ≥ 4 (NCHW and up) is treated as batched.
 *   Only the header is read while listing; each item's `load()` reads just its own slice of the file.
 * - Any other file yields one input, loaded by content (see {@link loadInputTensor}).
 *
 * Nothing found is an {@link InvalidArgumentError}, as are unreadable paths and `.npy` files whose
 * shape or size cannot fit the model — reported at listing time, before any inference runs.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';

import { hasErrorCode, InvalidArgumentError } from '../errors.js';
import { sizeOf, tensor, type Tensor } from '../tensor/tensor.js';
import { fitInputDims, fitToInputDims, loadInputTensor, type LoadInputOptions } from './image.js';
import { decodeNpyData, finiteInput, isNpy, npyHeaderSize, parseNpyHeader, type NpyHeader } from './npy.js';

/** One input to run: a display name and a loader. */
export interface InputItem {
  /** `file.png`, or `batch.npy[3]` for the fourth sample of a batched `.npy`. */
  readonly name: string;
  /** The file it comes from. */
  readonly path: string;
  /** Index within a batched `.npy`; absent otherwise. */
  readonly index?: number;
  /** Reads, decodes and preprocesses the input; the result fits `expectDims` when that was given. */
  load(): Promise<Tensor>;
}

/** File extensions picked up from a directory. */
export const INPUT_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp', '.npy'];

function readAt(fd: number, position: number, length: number, path: string): Uint8Array {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new InvalidArgumentError(`${path}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
  return buf;
}

function withFile<T>(path: string, f: (fd: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InvalidArgumentError(`cannot read input ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return f(fd);
  } catch (e) {
    if (hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG') && !e.message.startsWith(path)) {
      throw new InvalidArgumentError(`${path}: ${e.message}`, { cause: e });
    }
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Reads and validates a `.npy` header and checks the file size against it; returns null when not a `.npy`. */
function probeNpy(fd: number, path: string): NpyHeader | null {
  const size = fstatSync(fd).size;
  const pre = readAt(fd, 0, Math.min(size, 12), path);
  if (!isNpy(pre)) return null;
  const headerSize = npyHeaderSize(pre);
  if (headerSize > size) throw new InvalidArgumentError(`truncated .npy header: header claims ${headerSize} bytes, file has ${size}`);
  const h = parseNpyHeader(readAt(fd, 0, headerSize, path));
  const have = size - h.dataOffset;
  if (have !== h.dataLength) {
    const what = have < h.dataLength ? 'truncated .npy data' : '.npy data longer than its shape';
    throw new InvalidArgumentError(`${what}: shape (${h.shape.join(', ')}) of ${h.descr} needs ${h.dataLength} bytes, file has ${have}`);
  }
  return h;
}

function dimsText(dims: readonly number[]): string {
  return `[${dims.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;
}

/** Whether a `.npy` of `shape` is split along its leading (batch) dimension. */
function splitsBatch(shape: readonly number[], expectDims: readonly number[] | undefined): boolean {
  if (expectDims === undefined) return shape.length >= 4;
  if (shape.length === expectDims.length) return shape.length > 0 && (expectDims[0]! === 1 || expectDims[0]! < 0);
  if (shape.length === expectDims.length - 1) return false;
  throw new InvalidArgumentError(`input shape ${dimsText(shape)} does not match the model's ${dimsText(expectDims)}`);
}

function npyItems(path: string, h: NpyHeader, opts: LoadInputOptions): InputItem[] {
  const name = basename(path);
  const loadSlice = async (index: number, dims: readonly number[]): Promise<Tensor> => {
    const count = sizeOf(dims);
    return withFile(path, (fd) => {
      const bytes = readAt(fd, h.dataOffset + index * count * h.itemSize, count * h.itemSize, path);
      const what = h.shape[0] === 1 || !splitsBatch(h.shape, opts.expectDims) ? path : `${path}[${index}]`;
      return finiteInput(fitToInputDims(tensor(dims, decodeNpyData(h, bytes, 0, count, index * count)), opts.expectDims), what);
    });
  };
  if (!splitsBatch(h.shape, opts.expectDims) || h.shape[0] === 1) {
    fitInputDims(h.shape, opts.expectDims); // report a mismatch while listing
    return [{ name, path, load: () => loadSlice(0, h.shape) }];
  }
  const sample = [1, ...h.shape.slice(1)];
  fitInputDims(sample, opts.expectDims);
  return Array.from({ length: h.shape[0]! }, (_, i) => ({ name: `${name}[${i}]`, path, index: i, load: () => loadSlice(i, sample) }));
}

function fileItems(path: string, opts: LoadInputOptions): InputItem[] {
  const h = withFile(path, (fd) => probeNpy(fd, path));
  if (h === null) return [{ name: basename(path), path, load: () => loadInputTensor(path, opts) }];
  try {
    return npyItems(path, h, opts);
  } catch (e) {
    if (hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG')) throw new InvalidArgumentError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Lists the inputs at `pathOrDir` (a directory, a batched or single `.npy`, or one image). Items load
 * lazily; shape problems of `.npy` files surface here already.
 */
export function listInputs(pathOrDir: string, opts: LoadInputOptions): InputItem[] {
  let st;
  try {
    st = statSync(pathOrDir);
  } catch (e) {
    throw new InvalidArgumentError(`input path ${pathOrDir} cannot be read: ${(e as Error).message}`, { cause: e });
  }
  let items: InputItem[];
  if (st.isDirectory()) {
    const names = readdirSync(pathOrDir)
      .filter((n) => !n.startsWith('.') && INPUT_EXTENSIONS.includes(extname(n).toLowerCase()))
      .filter((n) => statSync(join(pathOrDir, n), { throwIfNoEntry: false })?.isFile() === true)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    items = names.flatMap((n) => fileItems(join(pathOrDir, n), opts));
    if (items.length === 0) throw new InvalidArgumentError(`no inputs (${INPUT_EXTENSIONS.join(', ')}) found in directory ${pathOrDir}`);
  } else {
    items = fileItems(pathOrDir, opts);
    if (items.length === 0) throw new InvalidArgumentError(`no inputs found in ${pathOrDir}: its batch dimension is 0`);
  }
  return items;
}
