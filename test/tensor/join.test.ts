import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinArrays } from '../../src/tensor/join.js';

describe('joinArrays', () => {
  it('lays the parts one after the other in an array of their type', () => {
    const u = joinArrays([Uint32Array.of(1, 2), Uint32Array.of(), Uint32Array.of(16_777_212)]);
    assert.ok(u instanceof Uint32Array);
    assert.deepEqual([...u], [1, 2, 16_777_212]);
    const f = joinArrays([Float64Array.of(0.5), Float64Array.of(-0, 3)]);
    assert.ok(f instanceof Float64Array);
    assert.deepEqual([...f], [0.5, -0, 3]);
    assert.deepEqual([...joinArrays([Uint8Array.of(255), Uint8Array.of(0, 7)])], [255, 0, 7]);
  });

  it('gives a lone part back as it is, without a copy', () => {
    const only = Uint32Array.of(4, 5);
    assert.equal(joinArrays([only]), only);
  });
});
