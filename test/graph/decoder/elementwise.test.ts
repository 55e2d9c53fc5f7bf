/**
 * A block's activation compiled into one loop (src/graph/decoder/elementwise.ts) gives exactly what
 * the graph's ops give node by node: the erf GELU as torch spells it out, and a chain of every other
 * supported op with scalar operands on either side.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileActivation } from '../../../src/graph/decoder/elementwise.js';
import type { Graph, Node } from '../../../src/graph/ir.js';
import { OPS } from '../../../src/graph/ops/registry.js';
import { tensor, type Tensor } from '../../../src/tensor/tensor.js';
import { Rng } from '../../../src/util/seeded-rng.js';

const node = (op: string, inputs: string[], output: string, attrs: object = {}): Node => ({ name: output, op, inputs, outputs: [output], attrs });

function byOps(graph: Graph, nodes: readonly Node[], x: Tensor, output: string): Float64Array {
  const values = new Map<string, Tensor>([['x', x]]);
  for (const n of nodes) values.set(n.outputs[0]!, OPS[n.op]!.evalFloat(n.inputs.map((i) => values.get(i) ?? graph.constants.get(i)!), n.attrs)[0]!);
  return values.get(output)!.data;
}

describe('compiled activation', () => {
  const x = tensor([3, 64], new Rng(4).fillNormal(new Float64Array(192), 2));
  const constants = new Map(Object.entries({ sqrt2: tensor([], [Math.SQRT2]), one: tensor([], [1]), half: tensor([1], [0.5]), three: tensor([], [3]), c: tensor([], [0.25]) }));
  const graph = { constants } as unknown as Graph;

  it('the erf GELU as torch exports it, bit for bit', () => {
    const nodes = [node('Div', ['x', 'sqrt2'], 'd'), node('Erf', ['d'], 'e'), node('Add', ['e', 'one'], 'a'), node('Mul', ['x', 'a'], 'm'), node('Mul', ['m', 'half'], 'y')];
    assert.deepEqual(compileActivation(graph, nodes, 'x', 'y')(x.data), byOps(graph, nodes, x, 'y'));
  });

  it('every other op, scalars on either side, bit for bit', () => {
    const nodes = [
      node('Pow', ['x', 'three'], 'p'),
      node('Sub', ['c', 'p'], 's'),
      node('Tanh', ['s'], 't'),
      node('Sigmoid', ['x'], 'g'),
      node('Mul', ['t', 'g'], 'm'),
      node('Relu', ['m'], 'r'),
      node('Gelu', ['r'], 'u', { approximate: 'tanh' }),
      node('Gelu', ['u'], 'v', { approximate: 'none' }),
      node('Div', ['one', 'v'], 'y'),
    ];
    assert.deepEqual(compileActivation(graph, nodes, 'x', 'y')(x.data), byOps(graph, nodes, x, 'y'));
  });
});
