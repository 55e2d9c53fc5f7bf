/**
 * The HTTP accelerator's request body around a request buffer (issue 23, deliverable 3): the
 * boundary pass writes x into requestBodyBuffer's values, the JSON header goes in the room before
 * them, and the body is that buffer — byte for byte the body a copy of x would make. A buffer that
 * is not one of requestBodyBuffer's, a header too long for the room, or the FP64 wire: x is copied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeRequest, requestBodyBuffer } from '../../src/accel/http/client-wire.js';
import { P } from '../../src/field/prime.js';

const x = Uint32Array.from({ length: 1000 }, (_, i) => (i * 2654435761) % P);
const dims = [1, 10, 10, 10];

describe('request bodies around the buffer the boundary pass wrote', () => {
  it('are the same bytes as a copied body, in the request buffer itself', () => {
    const wire = requestBodyBuffer(x.length, 'UINT32')!;
    wire.set(x);
    const copied = encodeRequest('r-1', dims, x, 'UINT32', 'client');
    const around = encodeRequest('r-1', dims, x, 'UINT32', 'client', wire);
    assert.equal(around.body.buffer, wire.buffer, 'the body lies in the request buffer');
    assert.equal(around.headerLength, copied.headerLength);
    assert.deepEqual(around.body, copied.body);
  });

  it('copy x where the buffer cannot carry it', () => {
    const wire = requestBodyBuffer(x.length, 'UINT32')!;
    wire.set(x);
    const cases: [string, Uint32Array, string][] = [
      ['a plain array', x.slice(), 'client'],
      ['a shorter view', wire.subarray(1), 'client'],
      ['a header past the room', wire, 'c'.repeat(2000)],
    ];
    for (const [label, buffer, client] of cases) {
      const { body } = encodeRequest('r-2', dims, x, 'UINT32', client, buffer);
      assert.notEqual(body.buffer, buffer.buffer, label);
      assert.deepEqual(body, encodeRequest('r-2', dims, x, 'UINT32', client).body, label);
    }
    assert.equal(requestBodyBuffer(x.length, 'FP64'), undefined, 'FP64 residues are converted anyway');
    const fp64 = encodeRequest('r-3', dims, x, 'FP64', undefined, wire);
    assert.notEqual(fp64.body.buffer, wire.buffer);
    assert.equal(fp64.body.length, fp64.headerLength + 8 * x.length);
  });
});
