/**
 * Child program of the pad pool's close test (pad-pool.test.ts): opens pools with onnxruntime's
 * kernels on the Fashion-MNIST model and closes each once its first pad is made, while its thread
 * makes the next ones. Prints `closed <rounds>` and exits 0; a thread terminated inside
 * onnxruntime aborts the process instead (SIGABRT, "terminate called after throwing an instance of
 * 'Napi::Error'").
 *
 *     node --import tsx test/runtime/pad-pool-close-child.ts <rounds>
 */
import { SlalomModel } from '../../src/runtime/model.js';
import { PadPool } from '../../src/runtime/pad-pool.js';

const rounds = Number(process.argv[2] ?? 4);
const q = (await SlalomModel.load('models/fashion-mnist.onnx')).quantized;
for (let k = 0; k < rounds; k++) {
  const pool = PadPool.open(q, { capacity: 8, kernels: 'ort' });
  await pool.filled(1);
  await pool.close();
}
process.stdout.write(`closed ${rounds}\n`);
