/**
 * Small malformed ONNX models (issue 20, deliverable 6), built with the project's own builder: each
 * case names a model and what its one-line error must say. Cases the builder refuses to write (a
 * negative or unrepresentable declared size) are edited into its bytes afterwards.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import { OnnxBuilder } from '../../src/onnx/build.js';

export interface MalformedCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** The error code the model must be refused with. */
  readonly code: 'SLALOM_ERR_MALFORMED_MODEL' | 'SLALOM_ERR_UNSUPPORTED';
  /** Text the one-line error must hold (the node or tensor at fault). */
  readonly says: readonly string[];
}

interface SmallOptions {
  readonly batch?: number | string;
  readonly convW?: Float32Array;
  readonly fcB?: Float32Array;
  readonly withOutput?: boolean;
}

/** input[batch,3,8,8] → Conv(3→4) → Relu → GlobalAveragePool → Flatten → Gemm(4→10). */
export function smallModel(options: SmallOptions = {}): Uint8Array {
  const batch = options.batch ?? 1;
  const b = new OnnxBuilder('small')
    .input('input', [batch, 3, 8, 8])
    .initializer('conv.w', [4, 3, 3, 3], options.convW ?? Float32Array.from({ length: 108 }, (_, i) => ((i % 7) - 3) / 10))
    .initializer('conv.b', [4], new Float32Array([0.1, -0.1, 0.2, 0]))
    .initializer('fc.w', [10, 4], Float32Array.from({ length: 40 }, (_, i) => ((i % 5) - 2) / 4))
    .initializer('fc.b', [10], options.fcB ?? new Float32Array(10))
    .node('Conv', ['input', 'conv.w', 'conv.b'], ['c'], { pads: [1, 1, 1, 1] }, 'conv')
    .node('Relu', ['c'], ['r'], {}, 'relu')
    .node('GlobalAveragePool', ['r'], ['g'], {}, 'gap')
    .node('Flatten', ['g'], ['f'], {}, 'flatten')
    .node('Gemm', ['f', 'fc.w', 'fc.b'], ['logits'], { transB: 1 }, 'fc');
  if (options.withOutput !== false) b.output('logits', [batch, 10]);
  return b.toBytes();
}

function edited(bytes: Uint8Array, edit: (m: ModelProto) => void): Uint8Array {
  const m = fromBinary(ModelProtoSchema, bytes);
  edit(m);
  return toBinary(ModelProtoSchema, m);
}

/** The input's declared size at `axis` replaced by `size` (a negative one the builder would refuse). */
function declaredSize(axis: number, size: bigint): Uint8Array {
  return edited(smallModel(), (m) => {
    const type = m.graph!.input[0]!.type!.value;
    if (type.case !== 'tensorType') throw new Error('tensor input expected');
    type.value.shape!.dim[axis]!.value = { case: 'dimValue', value: size };
  });
}

const withNan = (n: number, at: number, value: number): Float32Array => {
  const a = Float32Array.from({ length: n }, (_, i) => ((i % 7) - 3) / 10);
  a[at] = value;
  return a;
};

export const MALFORMED_CASES: readonly MalformedCase[] = [
  { name: 'no-outputs', bytes: smallModel({ withOutput: false }), code: 'SLALOM_ERR_MALFORMED_MODEL', says: ['declares no outputs'] },
  { name: 'negative-dim', bytes: declaredSize(2, -8n), code: 'SLALOM_ERR_MALFORMED_MODEL', says: ["input 'input'", '-8', 'axis 2'] },
  { name: 'unrepresentable-dim', bytes: declaredSize(0, 2n ** 60n), code: 'SLALOM_ERR_MALFORMED_MODEL', says: ["input 'input'", String(2n ** 60n), 'axis 0'] },
  { name: 'huge-batch', bytes: smallModel({ batch: 1_000_000 }), code: 'SLALOM_ERR_UNSUPPORTED', says: ["node 'conv' (Conv) output 'c' [1000000×4×8×8]", 'memory budget of 4096 MB', '--memory-budget-mb'] },
  { name: 'nan-weight', bytes: smallModel({ convW: withNan(108, 5, Number.NaN) }), code: 'SLALOM_ERR_MALFORMED_MODEL', says: ["node 'conv' (Conv)", "weight 'conv.w'", 'NaN', 'element 5'] },
  { name: 'infinite-bias', bytes: smallModel({ fcB: Float32Array.from({ length: 10 }, (_, i) => (i === 3 ? -Infinity : 0)) }), code: 'SLALOM_ERR_MALFORMED_MODEL', says: ["node 'fc' (Gemm)", "bias 'fc.b'", '-Infinity', 'element 3'] },
];
