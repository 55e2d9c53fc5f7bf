/**
 * MobileNetV2 as torchvision's `mobilenet_v2` (width 1.0): 3×3/2 conv to 32 + BN + ReLU6, seventeen
 * inverted residuals (1×1 expand + BN + ReLU6 unless t = 1, 3×3 depthwise (group = C) + BN + ReLU6,
 * 1×1 linear projection + BN, identity shortcut when stride 1 and channels match), 1×1 conv to 1280 +
 * BN + ReLU6, GlobalAveragePool, Flatten, Linear 1280→1000. ReLU6 is opset-13 Clip(x, 0, 6) with the
 * bounds as inputs. 3,504,872 parameters.
 *
 * Scale: projections are linear (gain 1); a residual block's projection BN has γ scaled by
 * `RESIDUAL_GAMMA` so the stream grows by about γ² per block.
 */

import { ZooNet } from './layers.js';

/** torchvision's inverted_residual_setting: expansion t, channels c, repeats n, first stride s. */
const SETTING: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** γ multiplier on the projection BatchNorm of blocks with an identity shortcut. */
const RESIDUAL_GAMMA = 0.4;

const LAST_CHANNELS = 1280;

function invertedResidual(net: ZooNet, p: string, x: string, cin: number, cout: number, stride: number, t: number): string {
  const hidden = Math.round(cin * t);
  const residual = stride === 1 && cin === cout;
  let y = x;
  let m = 0; // index inside torchvision's `conv` Sequential
  if (t !== 1) {
    y = net.convBnAct(y, { cin, cout: hidden, k: 1 }, `${p}.conv.${m}.0`, `${p}.conv.${m}.1`, { kind: 'relu6', name: `${p}.conv.${m}.2` });
    m++;
  }
  y = net.convBnAct(y, { cin: hidden, cout: hidden, k: 3, stride, group: hidden }, `${p}.conv.${m}.0`, `${p}.conv.${m}.1`, {
    kind: 'relu6',
    name: `${p}.conv.${m}.2`,
  });
  y = net.convBnAct(y, { cin: hidden, cout, k: 1, gain: 1 }, `${p}.conv.${m + 1}`, `${p}.conv.${m + 2}`, undefined, residual ? RESIDUAL_GAMMA : 1);
  return residual ? net.add(`${p}.add`, x, y) : y;
}

/** Builds MobileNetV2 with weights drawn from `seed`. */
export function buildMobileNetV2(seed: number): Uint8Array {
  const net = new ZooNet('mobilenet_v2', seed);
  let x = net.convBnAct('input', { cin: 3, cout: 32, k: 3, stride: 2 }, 'features.0.0', 'features.0.1', { kind: 'relu6', name: 'features.0.2' });
  let cin = 32;
  let f = 1;
  for (const [t, c, n, s] of SETTING) {
    for (let i = 0; i < n; i++) {
      x = invertedResidual(net, `features.${f++}`, x, cin, c, i === 0 ? s : 1, t);
      cin = c;
    }
  }
  x = net.convBnAct(x, { cin, cout: LAST_CHANNELS, k: 1 }, `features.${f}.0`, `features.${f}.1`, { kind: 'relu6', name: `features.${f}.2` });
  x = net.flatten('flatten', net.globalAvgPool('avgpool', x));
  return net.finish(x, LAST_CHANNELS, 'classifier.1');
}
