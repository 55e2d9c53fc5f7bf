/**
 * MobileNetV1 (Howard et al. 2017, width 1.0, 224×224; torchvision has none, the layout follows the
 * paper and Keras' `MobileNet`): 3×3/2 conv to 32 + BN + ReLU, thirteen depthwise-separable blocks
 * (3×3 depthwise conv, group = C, + BN + ReLU; 1×1 pointwise conv + BN + ReLU), GlobalAveragePool (the
 * paper's 7×7 average pool), Flatten, Linear 1024→1000. 4,231,976 parameters (conv, BN γ/β, FC).
 */

import { ZooNet } from './layers.js';

/** [output channels, depthwise stride] of each depthwise-separable block. */
const BLOCKS: readonly (readonly [number, number])[] = [
  [64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2],
  [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1],
];

/** Builds MobileNetV1 with weights drawn from `seed`. */
export function buildMobileNetV1(seed: number): Uint8Array {
  const net = new ZooNet('mobilenet_v1', seed);
  let x = net.convBnAct('input', { cin: 3, cout: 32, k: 3, stride: 2 }, 'features.0.0', 'features.0.1', { kind: 'relu', name: 'features.0.2' });
  let cin = 32;
  BLOCKS.forEach(([cout, stride], i) => {
    const p = `features.${i + 1}`;
    x = net.convBnAct(x, { cin, cout: cin, k: 3, stride, group: cin }, `${p}.0`, `${p}.1`, { kind: 'relu', name: `${p}.2` });
    x = net.convBnAct(x, { cin, cout, k: 1 }, `${p}.3`, `${p}.4`, { kind: 'relu', name: `${p}.5` });
    cin = cout;
  });
  x = net.flatten('flatten', net.globalAvgPool('avgpool', x));
  return net.finish(x, cin, 'fc');
}
