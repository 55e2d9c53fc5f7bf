/**
 * The model identity (quant/content-hash.ts): a known answer from an independent implementation of
 * the canonical serialization (test/vectors/quant/weights_hash_v1.py); the same digest whatever the
 * weights' storage (float64, int8, int32, −0) or the order of object keys and constant maps; a
 * different digest for any change to a weight, bias, scale, constant, attribute, wire, shape or
 * output, and for names split differently (everything is length-prefixed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { UnsupportedModelError } from '../../src/errors.js';
import type { Node } from '../../src/graph/ir.js';
import { contentHash, type IntegerBacked } from '../../src/quant/content-hash.js';
import type { QuantizedGraph, QuantizedLayer } from '../../src/quant/quantize-graph.js';
import type { Tensor } from '../../src/tensor/tensor.js';

/** x [1, 2] → Gemm 'fc' → y → Add 'add' (constant k) → z: the graph of the known-answer case. */
function graph(edit: { w?: Tensor; bias?: Float64Array; node?: Partial<Node>; layer?: Partial<QuantizedLayer>; k?: Float64Array; outputs?: string[]; add?: Partial<Node> } = {}): QuantizedGraph {
  const fcNode: Node = { name: 'fc', op: 'Gemm', inputs: ['x', 'fc.w', 'fc.b'], outputs: ['y'], attrs: { alpha: 1, transB: 0 }, ...edit.node };
  const addNode: Node = { name: 'add', op: 'Add', inputs: ['y', 'k'], outputs: ['z'], attrs: {}, ...edit.add };
  const layer = {
    index: 0,
    name: 'fc',
    op: 'Gemm',
    node: fcNode,
    wDims: [2, 3],
    inDims: [1, 2],
    outDims: [1, 3],
    lx: 4,
    lw: 5,
    w: edit.w ?? { dims: [2, 3], data: Float64Array.of(1, -2, 3, -4, 5, -6) },
    bias: edit.bias ?? Float64Array.of(7, 8, -9),
    weightRowL1: 10,
    maxAbsBias: 9,
    macs: 6,
    stats: { maxAbsIn: 1.5, maxAbsOut: 2.25 },
    ...edit.layer,
  } as QuantizedLayer;
  return {
    graph: {
      name: 'g',
      inputs: [{ name: 'x', dims: [1, 2] }],
      outputs: edit.outputs ?? ['z'],
      nodes: [fcNode, addNode],
      constants: new Map([['k', { dims: [3], data: edit.k ?? Float64Array.of(0.5, -0, 2) }]]),
      dims: new Map([
        ['x', [1, 2]],
        ['y', [1, 3]],
        ['z', [1, 3]],
      ]),
    },
    layers: [layer],
    byNode: new Map([['fc', layer]]),
    margin: 4,
  };
}

const KNOWN = '50383e31d0caa312d2a58d17aafd608bc6831a54ad84d2979be18281c502b6fd';

describe('model identity (content hash)', () => {
  it('matches an independent implementation of the canonical serialization', () => {
    assert.equal(contentHash(graph()), KNOWN);
  });

  it('does not depend on how the weights are stored, on key order or on map order', () => {
    const stored = (ints: Int8Array | Int32Array): Tensor & IntegerBacked => ({ dims: [2, 3], data: new Float64Array(0), storedIntegers: () => ints });
    assert.equal(contentHash(graph({ w: stored(Int8Array.of(1, -2, 3, -4, 5, -6)) })), KNOWN, 'int8 as stored in an artifact');
    assert.equal(contentHash(graph({ w: stored(Int32Array.of(1, -2, 3, -4, 5, -6)) })), KNOWN, 'int32');
    const decoded = { dims: [2, 3], data: Float64Array.of(1, -2, 3, -4, 5, -6), storedIntegers: () => undefined };
    assert.equal(contentHash(graph({ w: decoded })), KNOWN, 'an artifact layer decoded already: its float64 values');
    // The quantizer rounds small negative weights to −0; stored as integers they are 0.
    const zero = (z: number): QuantizedGraph => graph({ w: { dims: [2, 3], data: Float64Array.of(z, -2, 3, -4, 5, -6) } });
    assert.equal(contentHash(zero(-0)), contentHash(zero(0)));
    assert.equal(contentHash(graph({ node: { attrs: { transB: 0, alpha: 1 } } })), KNOWN, 'attribute order');
    const q = graph();
    const reordered = { ...q, graph: { ...q.graph, dims: new Map([...q.graph.dims].reverse()) } };
    assert.equal(contentHash(reordered), KNOWN, 'map order');
    assert.equal(contentHash(graph({ node: { attrs: { alpha: 1, transB: 0, beta: undefined } } })), KNOWN, 'an undefined attribute is no attribute (an artifact drops it)');
  });

  it('changes with every weight, bias, scale, constant, attribute, wire, shape and output', () => {
    const w = (i: number, v: number): Tensor => {
      const data = Float64Array.of(1, -2, 3, -4, 5, -6);
      data[i] = v;
      return { dims: [2, 3], data };
    };
    const variants: [string, QuantizedGraph][] = [
      ['one weight +1', graph({ w: w(5, -5) })],
      ['weights negated', graph({ w: { dims: [2, 3], data: Float64Array.of(-1, 2, -3, 4, -5, 6) } })],
      ['weights transposed (dims)', graph({ w: { dims: [3, 2], data: Float64Array.of(1, -2, 3, -4, 5, -6) } })],
      ['a bias', graph({ bias: Float64Array.of(7, 8, -8) })],
      ['lx', graph({ layer: { lx: 5 } })],
      ['lw', graph({ layer: { lw: 4 } })],
      ['a non-linear constant', graph({ k: Float64Array.of(0.5, -0, 2.0000000000000004) })],
      ['an attribute', graph({ node: { attrs: { alpha: 1, transB: 1 } } })],
      ['a wire', graph({ add: { inputs: ['k', 'y'] } })],
      ['an op', graph({ add: { op: 'Sub' } })],
      ['the outputs', graph({ outputs: ['y'] })],
      ['names split differently', graph({ add: { inputs: ['yk', ''] } })],
    ];
    const seen = new Map([[KNOWN, 'the original']]);
    for (const [what, q] of variants) {
      const h = contentHash(q);
      assert.ok(!seen.has(h), `${what} gives the same hash as ${seen.get(h)}`);
      seen.set(h, what);
    }
  });

  it('refuses a value it has no canonical form for', () => {
    assert.throws(() => contentHash(graph({ node: { attrs: { table: new Map() } } })), (e: unknown) => e instanceof UnsupportedModelError && /Map/.test(e.message));
  });
});
