/**
 * VGG-16 (configuration D, no BatchNorm) as torchvision's `vgg16`: 13 3×3 convs with bias and ReLU in
 * five stages closed by 2×2 max pools, then Flatten and three Linear layers (25088→4096→4096→1000).
 * torchvision's AdaptiveAvgPool2d(7×7) is the identity on the 7×7 map a 224×224 input gives, so it is
 * omitted, as are the inference-time no-op Dropouts. 138,357,544 parameters.
 */

import { ZooNet } from './layers.js';

/** torchvision's cfg "D": output channels, 'M' a 2×2 stride-2 max pool. */
const VGG16_CFG: readonly (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

/**
 * Weight gain of the first conv after each max pool. A 2×2 max of ReLU outputs raises E[x²]; a gain
 * below Kaiming's 2 on the next conv takes that back, so the five pools do not compound.
 */
const POST_POOL_GAIN = 1;

/** Builds VGG-16 with weights drawn from `seed`. */
export function buildVgg16(seed: number): Uint8Array {
  const net = new ZooNet('vgg16', seed);
  let x = 'input';
  let cin = 3;
  let afterPool = false;
  let i = 0; // index into torchvision's `features` Sequential: a conv and its ReLU take two
  for (const v of VGG16_CFG) {
    if (v === 'M') {
      x = net.maxPool(`features.${i++}`, x, 2, 2, 0);
      afterPool = true;
      continue;
    }
    x = net.conv(`features.${i++}`, x, { cin, cout: v, k: 3, pad: 1, bias: true, gain: afterPool ? POST_POOL_GAIN : 2 });
    x = net.relu(`features.${i++}`, x);
    cin = v;
    afterPool = false;
  }
  x = net.flatten('flatten', x);
  x = net.relu('classifier.1', net.linear('classifier.0', x, 512 * 7 * 7, 4096, 2));
  x = net.relu('classifier.4', net.linear('classifier.3', x, 4096, 4096, 2));
  return net.finish(x, 4096, 'classifier.6');
}
