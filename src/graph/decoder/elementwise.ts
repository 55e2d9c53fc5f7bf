/**
 * A block's activation (the element-wise nodes between fc1 and fc2: GELU spelled out as
 * Div/Erf/Add/Mul/Mul, a fused Gelu, a ReLU, …) compiled into one loop over the values: each node's
 * scalar formula, the same as its op's (graph/ops, kernels/float), applied per value through a few
 * registers, instead of one broadcasting pass and one new tensor per node.
 */
import { erf } from '../../kernels/float/erf.js';
import type { Graph, Node } from '../ir.js';

type Scalar = (a: number, b: number) => number;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Each supported op's formula on one value (`b`: its second operand, when it has one). */
const FORMULAS: Readonly<Record<string, (node: Node) => Scalar>> = {
  Add: () => (a, b) => a + b,
  Sub: () => (a, b) => a - b,
  Mul: () => (a, b) => a * b,
  Div: () => (a, b) => a / b,
  Pow: () => (a, b) => a ** b,
  Erf: () => (a) => erf(a),
  Tanh: () => (a) => Math.tanh(a),
  Relu: () => (a) => (a > 0 ? a : 0),
  Sigmoid: () => (a) => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a))),
  Gelu: (node) =>
    (node.attrs as { approximate?: string }).approximate === 'tanh'
      ? (a) => 0.5 * a * (1 + Math.tanh(SQRT_2_OVER_PI * (a + 0.044715 * a * a * a)))
      : (a) => 0.5 * a * (1 + erf(a * Math.SQRT1_2)),
};

/**
 * The chain `nodes` from `input` to `output` (structure.ts has checked that each node is
 * element-wise and reads chain values or scalars) as a function of the input values. Every operand
 * is a register: the input, each node's output, and each scalar constant (set once).
 */
export function compileActivation(graph: Graph, nodes: readonly Node[], input: string, output: string): (x: Float64Array) => Float64Array {
  const registers = new Map<string, number>([[input, 0]]);
  const constants: number[] = [];
  const register = (name: string): number => {
    let r = registers.get(name);
    if (r === undefined) {
      registers.set(name, (r = registers.size));
      constants[r] = graph.constants.get(name)!.data[0]!;
    }
    return r;
  };
  const steps = nodes.map((node) => {
    const [a, b] = node.inputs.filter((i) => i !== '').map(register);
    registers.set(node.outputs[0]!, registers.size);
    return { f: FORMULAS[node.op]!(node), a: a!, b: b ?? a!, out: registers.size - 1 };
  });
  const out = registers.get(output)!;
  const size = registers.size;
  return (x) => {
    const y = new Float64Array(x.length);
    const r = new Float64Array(size);
    constants.forEach((v, i) => (r[i] = v));
    for (let i = 0; i < x.length; i++) {
      r[0] = x[i]!;
      for (const step of steps) r[step.out] = step.f(r[step.a]!, r[step.b]!);
      y[i] = r[out]!;
    }
    return y;
  };
}
