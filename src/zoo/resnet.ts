/**
 * ResNet-18 and ResNet-50 as torchvision's `resnet18` / `resnet50` (v1.5: a Bottleneck's stride sits on
 * its 3×3 conv): 7×7/2 conv + BN + ReLU, 3×3/2 max pool, four stages of BasicBlocks [2, 2, 2, 2] or
 * Bottlenecks [3, 4, 6, 3], a 1×1 conv + BN downsample where the shape changes, GlobalAveragePool,
 * Flatten, Linear to 1000. 11,689,512 and 25,557,032 parameters.
 *
 * Scale: each residual branch ends in a BatchNorm whose γ is multiplied by `RESIDUAL_GAMMA`, so a block
 * adds about γ²·E[x²] to the stream instead of doubling it; downsample convs are linear (gain 1).
 */

import { ZooNet } from './layers.js';

export type ResNetDepth = 18 | 50;

/** γ multiplier on the last BatchNorm of every residual branch. */
const RESIDUAL_GAMMA = 0.3;

const STAGE_PLANES = [64, 128, 256, 512] as const;
const STAGE_BLOCKS: Record<ResNetDepth, readonly number[]> = { 18: [2, 2, 2, 2], 50: [3, 4, 6, 3] };

function basicBlock(net: ZooNet, p: string, x: string, cin: number, planes: number, stride: number): string {
  let y = net.convBnAct(x, { cin, cout: planes, k: 3, stride }, `${p}.conv1`, `${p}.bn1`, { kind: 'relu', name: `${p}.relu1` });
  y = net.convBnAct(y, { cin: planes, cout: planes, k: 3 }, `${p}.conv2`, `${p}.bn2`, undefined, RESIDUAL_GAMMA);
  const identity = shortcut(net, p, x, cin, planes, stride);
  return net.relu(`${p}.relu`, net.add(`${p}.add`, y, identity));
}

function bottleneck(net: ZooNet, p: string, x: string, cin: number, planes: number, stride: number): string {
  const cout = planes * 4;
  let y = net.convBnAct(x, { cin, cout: planes, k: 1 }, `${p}.conv1`, `${p}.bn1`, { kind: 'relu', name: `${p}.relu1` });
  y = net.convBnAct(y, { cin: planes, cout: planes, k: 3, stride }, `${p}.conv2`, `${p}.bn2`, { kind: 'relu', name: `${p}.relu2` });
  y = net.convBnAct(y, { cin: planes, cout, k: 1 }, `${p}.conv3`, `${p}.bn3`, undefined, RESIDUAL_GAMMA);
  const identity = shortcut(net, p, x, cin, cout, stride);
  return net.relu(`${p}.relu`, net.add(`${p}.add`, y, identity));
}

/** The identity, or torchvision's `downsample` (1×1 conv with stride + BN) where shapes differ. */
function shortcut(net: ZooNet, p: string, x: string, cin: number, cout: number, stride: number): string {
  if (stride === 1 && cin === cout) return x;
  return net.convBnAct(x, { cin, cout, k: 1, stride, pad: 0, gain: 1 }, `${p}.downsample.0`, `${p}.downsample.1`);
}

/** Builds ResNet-18 or ResNet-50 with weights drawn from `seed`. */
export function buildResNet(depth: ResNetDepth, seed: number): Uint8Array {
  const net = new ZooNet(`resnet${depth}`, seed);
  const block = depth === 18 ? basicBlock : bottleneck;
  const expansion = depth === 18 ? 1 : 4;
  let x = net.convBnAct('input', { cin: 3, cout: 64, k: 7, stride: 2, pad: 3 }, 'conv1', 'bn1', { kind: 'relu', name: 'relu' });
  x = net.maxPool('maxpool', x, 3, 2, 1);
  let cin = 64;
  STAGE_PLANES.forEach((planes, s) => {
    for (let j = 0; j < STAGE_BLOCKS[depth][s]!; j++) {
      const stride = s > 0 && j === 0 ? 2 : 1;
      x = block(net, `layer${s + 1}.${j}`, x, cin, planes, stride);
      cin = planes * expansion;
    }
  });
  x = net.flatten('flatten', net.globalAvgPool('avgpool', x));
  return net.finish(x, cin, 'fc');
}
