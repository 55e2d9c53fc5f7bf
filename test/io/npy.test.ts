import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { InvalidArgumentError } from '../../src/errors.js';
import { readNpy, writeNpy, parseNpyHeader, isNpy, type NpyDtype } from '../../src/io/npy.js';
import { tensor } from '../../src/tensor/tensor.js';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** Fixtures written by numpy 2.4 (numpy.lib.format.write_array). */
const NUMPY = {
  // np.array([[1.5,-2.25,3],[4,5,6.125]], '<f4')
  f4: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAQwAAAQEAAAIBAAACgQAAAxEA=',
  // np.array([-3, 2**53, 7], '<i8'), version 2.0
  i8v2: 'k05VTVBZAgB0AAAAeydkZXNjcic6ICc8aTgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr9/////////wAAAAAAACAABwAAAAAAAAA=',
  // np.arange(6, dtype='u1').reshape(1,2,3), version 3.0
  u1v3: 'k05VTVBZAwB0AAAAeydkZXNjcic6ICd8dTEnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMSwgMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAQIDBAU=',
  // np.array(2.5)
  scalar: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAEQA==',
  // np.asfortranarray(np.arange(6.).reshape(2,3))
  fortran: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAAhAAAAAAAAA8D8AAAAAAAAQQAAAAAAAAABAAAAAAAAAFEA=',
  // np.arange(3, dtype='>f4')
  bigEndian: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAP4AAAEAAAAA=',
};

/** Builds a v1.0 file from a raw header dictionary and data bytes. */
function rawNpy(dict: string, data: Uint8Array | number[] = [], version = 1): Uint8Array {
  const header = Buffer.from(dict + '\n', 'latin1');
  const pre = version === 1 ? 10 : 12;
  const out = new Uint8Array(pre + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const v = new DataView(out.buffer);
  if (version === 1) v.setUint16(8, header.length, true);
  else v.setUint32(8, header.length, true);
  out.set(header, pre);
  out.set(data, pre + header.length);
  return out;
}

function throwsInvalid(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(e)}`);
    assert.equal(e.code, 'SLALOM_ERR_INVALID_ARG');
    assert.match(e.message, pattern);
    return true;
  });
}

describe('readNpy: files written by numpy', () => {
  it('reads <f4 (v1.0)', () => {
    const t = readNpy(b64(NUMPY.f4));
    assert.deepEqual(t.dims, [2, 3]);
    assert.deepEqual([...t.data], [1.5, -2.25, 3, 4, 5, 6.125]);
  });
  it('reads <i8 (v2.0), including 2^53', () => {
    const t = readNpy(b64(NUMPY.i8v2));
    assert.deepEqual(t.dims, [3]);
    assert.deepEqual([...t.data], [-3, 2 ** 53, 7]);
  });
  it('reads |u1 (v3.0)', () => {
    const t = readNpy(b64(NUMPY.u1v3));
    assert.deepEqual(t.dims, [1, 2, 3]);
    assert.deepEqual([...t.data], [0, 1, 2, 3, 4, 5]);
  });
  it('reads a 0-d array', () => {
    const t = readNpy(b64(NUMPY.scalar));
    assert.deepEqual(t.dims, []);
    assert.deepEqual([...t.data], [2.5]);
  });
  it('parses the header alone', () => {
    const h = parseNpyHeader(b64(NUMPY.f4));
    assert.equal(h.descr, '<f4');
    assert.equal(h.dtype, 'float32');
    assert.deepEqual(h.shape, [2, 3]);
    assert.equal(h.dataOffset, 128);
    assert.equal(h.dataLength, 24);
    assert.ok(isNpy(b64(NUMPY.f4)));
    assert.ok(!isNpy(new Uint8Array([0x89, 0x50])));
  });
});

describe('writeNpy', () => {
  it('is byte-identical to numpy.save for <f4', () => {
    const t = tensor([2, 3], [1.5, -2.25, 3, 4, 5, 6.125]);
    assert.deepEqual(Buffer.from(writeNpy(t, 'float32')), Buffer.from(b64(NUMPY.f4)));
  });
  it('pads the header to a 64-byte boundary and ends it with a newline', () => {
    for (const dims of [[], [5], [1, 3, 224, 224], [2, 3, 4, 5, 6, 7, 8]]) {
      const bytes = writeNpy(tensor(dims));
      const h = parseNpyHeader(bytes);
      assert.equal(h.dataOffset % 64, 0);
      assert.equal(bytes[h.dataOffset - 1], 0x0a);
      assert.deepEqual(h.shape, dims);
    }
  });
  it('defaults to float64', () => {
    assert.equal(parseNpyHeader(writeNpy(tensor([1], [0.1]))).descr, '<f8');
  });

  const cases: [NpyDtype, string, number[]][] = [
    ['float64', '<f8', [0.1, -1e300, 5e-324, 0, -0, Infinity, NaN]],
    ['float32', '<f4', [0.5, -3.25, 2 ** 100, -Infinity]],
    ['int64', '<i8', [-(2 ** 53), 2 ** 53, -1, 0, 123456789012]],
    ['int32', '<i4', [-(2 ** 31), 2 ** 31 - 1, 0, -7]],
    ['int16', '<i2', [-32768, 32767, 0, -1]],
    ['uint16', '<u2', [0, 65535, 1234]],
    ['int8', '|i1', [-128, 127, 0, -1]],
    ['uint8', '|u1', [0, 255, 17]],
  ];
  for (const [dtype, descr, values] of cases) {
    it(`round-trips ${dtype} (${descr})`, () => {
      const t = tensor([1, values.length], values);
      const bytes = writeNpy(t, dtype);
      assert.equal(parseNpyHeader(bytes).descr, descr);
      const back = readNpy(bytes);
      assert.deepEqual(back.dims, [1, values.length]);
      assert.deepEqual([...back.data], values);
    });
  }
  it('round-trips float32 with float32 rounding', () => {
    const back = readNpy(writeNpy(tensor([2], [0.1, 1 / 3]), 'float32'));
    assert.deepEqual([...back.data], [Math.fround(0.1), Math.fround(1 / 3)]);
  });
  it('switches to version 2.0 when the header does not fit 65535 bytes', () => {
    const dims = new Array<number>(30000).fill(1);
    const bytes = writeNpy(tensor(dims), 'uint8');
    assert.equal(bytes[6], 2);
    assert.deepEqual(readNpy(bytes).dims, dims);
  });
  it('refuses values that do not fit an integer dtype', () => {
    throwsInvalid(() => writeNpy(tensor([1], [1.5]), 'int32'), /element 0 \(1\.5\) as int32/);
    throwsInvalid(() => writeNpy(tensor([2], [0, 256]), 'uint8'), /element 1 \(256\)/);
    throwsInvalid(() => writeNpy(tensor([1], [-1]), 'uint16'), /uint16/);
  });
});

describe('readNpy: hostile input', () => {
  it('bad magic', () => {
    throwsInvalid(() => readNpy(new Uint8Array(64)), /magic/);
    throwsInvalid(() => readNpy(new Uint8Array([0x93, 0x4e, 0x55])), /magic/);
    const b = b64(NUMPY.f4);
    b[1] = 0x6e;
    throwsInvalid(() => readNpy(b), /magic/);
  });
  it('unknown version', () => {
    const b = b64(NUMPY.f4);
    b[6] = 4;
    throwsInvalid(() => readNpy(b), /version 4\.0/);
    b[6] = 1;
    b[7] = 1;
    throwsInvalid(() => readNpy(b), /version 1\.1/);
  });
  it('truncated preamble and header', () => {
    throwsInvalid(() => readNpy(b64(NUMPY.f4).subarray(0, 8)), /truncated \.npy header/);
    throwsInvalid(() => readNpy(b64(NUMPY.f4).subarray(0, 60)), /truncated \.npy header: header claims 128 bytes, file has 60/);
    throwsInvalid(() => readNpy(b64(NUMPY.i8v2).subarray(0, 11)), /truncated \.npy header/);
  });
  it('oversized v2 header length', () => {
    const b = b64(NUMPY.i8v2);
    new DataView(b.buffer).setUint32(8, 0xffffffff, true);
    throwsInvalid(() => readNpy(b), /header length 4294967295 exceeds/);
  });
  it('truncated data', () => {
    const b = b64(NUMPY.f4);
    throwsInvalid(() => readNpy(b.subarray(0, b.length - 1)), /truncated \.npy data: shape \(2, 3\) of <f4 needs 24 bytes, file has 23/);
  });
  it('data longer than the shape', () => {
    const b = b64(NUMPY.f4);
    const longer = new Uint8Array(b.length + 4);
    longer.set(b);
    throwsInvalid(() => readNpy(longer), /longer than its shape.*needs 24 bytes, file has 28/);
  });
  it('shape/data mismatch', () => {
    throwsInvalid(() => readNpy(rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", new Array(24).fill(0))), /needs 32 bytes, file has 24/);
  });
  it('fortran order', () => {
    throwsInvalid(() => readNpy(b64(NUMPY.fortran)), /Fortran \(column-major\) order.*np\.ascontiguousarray/);
  });
  it('big-endian', () => {
    throwsInvalid(() => readNpy(b64(NUMPY.bigEndian)), /'>f4': big-endian data is not supported/);
    throwsInvalid(() => readNpy(rawNpy("{'descr': '>i8', 'fortran_order': False, 'shape': (0,), }")), /big-endian/);
  });
  it('unsupported dtypes', () => {
    for (const descr of ['<c8', '<U3', '|b1', '|O', '<f2', '<u8', '|f4', 'float32']) {
      throwsInvalid(() => readNpy(rawNpy(`{'descr': '${descr}', 'fortran_order': False, 'shape': (0,), }`)), /dtype/);
    }
    throwsInvalid(() => readNpy(rawNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (0,), }")), /structured/);
  });
  it('int64 beyond 2^53', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigInt64(0, 2n ** 53n + 1n, true);
    throwsInvalid(() => readNpy(rawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", data)), /exceeds ±2\^53/);
  });
  it('malformed dictionaries', () => {
    const bad = [
      "{'descr': '<f8', 'fortran_order': False}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': True}",
      "{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1.5,)}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': [1]}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)",
      "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} junk",
      "'descr': '<f8'",
      '',
    ];
    for (const dict of bad) throwsInvalid(() => readNpy(rawNpy(dict, new Array(8).fill(0))), /header/);
  });
  it('accepts hand-written headers with odd spacing and v2.0', () => {
    const t = readNpy(rawNpy('{ "shape":(2,) ,"fortran_order":False,"descr":"<i2" }', [1, 0, 0xff, 0xff], 2));
    assert.deepEqual([...t.data], [1, -1]);
  });
});
