import { runSingleNode } from './single-node.js';
import { tensor } from '../../src/tensor/tensor.js';
const x = tensor([1,1,4,4], Array.from({length:16},(_, i)=>i));
for (const [op, extra, opset] of [['MaxPool', {}, 13], ['AveragePool', {count_include_pad: 1}, 13], ['AveragePool', {count_include_pad: 0}, 13]] as const) {
  const [y] = await runSingleNode(op, [{name:'x', tensor:x}], {kernel_shape:[2,2], strides:[2,2], pads:[0,0,1,1], ceil_mode:1, ...extra}, 1, opset);
  console.log(op, extra, y!.dims, [...y!.data]);
}
// ceil with pads where window starts in padding? H=5, k=3, s=2, pads 0/1 -> (5+1-3)/2=1.5 ceil -> 3 windows: start 0,2,4 ; (3-1)*2=4 < 5 ok
const x5 = tensor([1,1,5,5], Array.from({length:25},(_, i)=>i));
for (const cip of [0,1]) {
  const [y] = await runSingleNode('AveragePool', [{name:'x', tensor:x5}], {kernel_shape:[3,3], strides:[2,2], pads:[0,0,0,0], ceil_mode:1, count_include_pad: cip}, 1, 13);
  console.log('avg ceil no pad', cip, y!.dims, [...y!.data]);
  const [z] = await runSingleNode('AveragePool', [{name:'x', tensor:x5}], {kernel_shape:[3,3], strides:[2,2], pads:[1,1,0,0], ceil_mode:1, count_include_pad: cip}, 1, 13);
  console.log('avg ceil pad', cip, z!.dims, [...z!.data]);
  const [w] = await runSingleNode('AveragePool', [{name:'x', tensor:x5}], {kernel_shape:[2,2], strides:[1,1], pads:[1,1,1,1], dilations:[2,2], ceil_mode:0, count_include_pad: cip}, 1, 19);
  console.log('avg dil', cip, w!.dims, [...w!.data]);
}
