/**
 * A one-node ONNX model: the shorthand over build.ts that the exact kernels (kernels/ort-*.ts: a
 * MatMul or ConvInteger session whose symbolic dims serve every shape), benchmarks and the tests'
 * onnxruntime cross-checks (test/helpers/single-node.ts) all use, so one builder writes every proto.
 */
import { OnnxBuilder, type OnnxAttrValue, type OnnxElemType, type OnnxOutputType } from './build.js';

/** A graph input: name, element type, dims (a string is a symbolic `dim_param`; [] a scalar). */
export interface OnnxInput {
  readonly name: string;
  readonly elemType: OnnxElemType;
  readonly dims: readonly (number | string)[];
}

/** A graph output; without dims it has a type but no shape ('inferred': no type either). */
export interface OnnxOutput {
  readonly name: string;
  readonly elemType: OnnxOutputType;
  readonly dims?: readonly (number | string)[];
}

export interface SingleNodeSpec {
  readonly op: string;
  /** The node's inputs in order; `null` leaves an optional one out (trailing ones are dropped). */
  readonly inputs: readonly (OnnxInput | null)[];
  readonly outputs: readonly OnnxOutput[];
  readonly attrs?: Readonly<Record<string, OnnxAttrValue>>;
  /** Default-domain opset (default 13). */
  readonly opset?: number;
  readonly producer?: string;
}

/** The ModelProto bytes of one node of the default domain, named `<op>_0`, in a graph named after the op. */
export function singleNodeModel(spec: SingleNodeSpec): Uint8Array {
  const b = new OnnxBuilder(spec.op, { ...(spec.opset !== undefined ? { opset: spec.opset } : {}), ...(spec.producer !== undefined ? { producer: spec.producer } : {}) });
  const names = spec.inputs.map((v) => v?.name ?? '');
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  for (const v of spec.inputs) if (v !== null) b.input(v.name, v.dims, v.elemType);
  b.node(spec.op, names, spec.outputs.map((v) => v.name), spec.attrs ?? {}, `${spec.op}_0`);
  for (const v of spec.outputs) b.output(v.name, v.dims, v.elemType);
  return b.toBytes();
}
