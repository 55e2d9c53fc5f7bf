/**
 * Test helper: a model's ONNX bytes with its first input declared at other dimensions. The zoo
 * builds its networks at 224×224; ResNet-18 ends in a global average pool, so it runs unchanged at
 * a smaller size, which a slow accelerator (the software GPU adapter) can afford in a unit test.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';

export function withInputDims(bytes: Uint8Array, dims: readonly number[]): Uint8Array {
  const model = fromBinary(ModelProtoSchema, bytes);
  const type = model.graph?.input[0]?.type?.value;
  if (type?.case !== 'tensorType' || type.value.shape === undefined) throw new Error('the model has no tensor input with a shape');
  const shape = type.value.shape;
  if (shape.dim.length !== dims.length) throw new Error(`input rank ${shape.dim.length}, asked for ${dims.length} dims`);
  shape.dim.forEach((d, i) => {
    d.value = { case: 'dimValue', value: BigInt(dims[i]!) };
  });
  return toBinary(ModelProtoSchema, model);
}
