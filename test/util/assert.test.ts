/**
 * util/assert.ts: each check returns the value it accepts, and refuses with an InvalidArgumentError
 * (SLALOM_ERR_INVALID_ARG) that names the argument, says what was wanted and what came, and tells a
 * wrong kind (reason 'type') from a value out of range (reason 'range').
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasErrorCode } from '../../src/errors.js';
import { aBytes, aInt, aNumber, aOneOf, aShape } from '../../src/util/assert.js';

/** Asserts that `f` throws the argument error `message`, for `argument`, with `reason`. */
function refuses(f: () => unknown, argument: string, reason: 'type' | 'range', message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(hasErrorCode(e, 'SLALOM_ERR_INVALID_ARG'), String(e));
    assert.deepEqual([e.argument, e.reason, e.message], [argument, reason, message]);
    return true;
  });
}

describe('util/assert', () => {
  it('aInt returns integers in range and names the argument otherwise', () => {
    assert.equal(aInt(3, 'count', { min: 1 }), 3);
    assert.equal(aInt(-0, 'n'), -0);
    refuses(() => aInt(0, 'count', { min: 1 }), 'count', 'range', 'count must be a positive integer, got 0');
    refuses(() => aInt(1.5, 'count', { min: 1 }), 'count', 'type', 'count must be a positive integer, got 1.5');
    refuses(() => aInt('3', 'count', { min: 1 }), 'count', 'type', "count must be a positive integer, got '3'");
    refuses(() => aInt(2 ** 53, 'index', { min: 0 }), 'index', 'type', `index must be a non-negative integer, got ${2 ** 53}`);
    refuses(() => aInt(9, 'layer', { min: 0, max: 7 }), 'layer', 'range', 'layer must be an integer in [0, 7], got 9');
    refuses(() => aInt(NaN, 'port', { min: 2 }), 'port', 'type', 'port must be an integer ≥ 2, got NaN');
  });

  it('aNumber takes finite numbers, positive ones when asked', () => {
    assert.equal(aNumber(0.5, 'margin', { positive: true }), 0.5);
    refuses(() => aNumber(0, 'margin', { positive: true }), 'margin', 'range', 'margin must be a positive number, got 0');
    refuses(() => aNumber(Infinity, 'x'), 'x', 'range', 'x must be a finite number, got Infinity');
    refuses(() => aNumber(NaN, 'x'), 'x', 'type', 'x must be a finite number, got NaN');
  });

  it('aOneOf takes one of the choices', () => {
    assert.equal(aOneOf('js', 'kernels', ['ort', 'js'] as const), 'js');
    refuses(() => aOneOf('cuda', 'kernels', ['ort', 'js']), 'kernels', 'range', "kernels must be one of ort, js, got 'cuda'");
    refuses(() => aOneOf(undefined, 'kernels', ['ort', 'js']), 'kernels', 'type', 'kernels must be one of ort, js, got undefined');
  });

  it('aShape takes arrays of non-negative integers, of a rank when asked', () => {
    const dims = [1, 3, 0];
    assert.equal(aShape(dims, 'dims'), dims);
    refuses(() => aShape([1, -2], 'dims'), 'dims', 'range', 'dims must be a shape (non-negative integers), got [1, -2]');
    refuses(() => aShape([1, 2], 'x', 4), 'x', 'range', 'x must be a 4-D shape (non-negative integers), got [1, 2]');
    refuses(() => aShape([1, 0.5], 'dims'), 'dims', 'type', 'dims must be a shape (non-negative integers), got [1, 0.5]');
    refuses(() => aShape('1,2', 'dims'), 'dims', 'type', "dims must be a shape (non-negative integers), got '1,2'");
  });

  it('aBytes takes Uint8Arrays (Buffers too), of a length when asked', () => {
    const key = new Uint8Array(32);
    assert.equal(aBytes(key, 'key', 32), key);
    assert.ok(aBytes(Buffer.alloc(2), 'data') instanceof Uint8Array);
    refuses(() => aBytes(new Uint8Array(31), 'key', 32), 'key', 'range', 'key must be 32 bytes (a Uint8Array), got Uint8Array(31)');
    refuses(() => aBytes(new Uint16Array(32), 'key', 32), 'key', 'type', 'key must be 32 bytes (a Uint8Array), got Uint16Array(32)');
  });
});
