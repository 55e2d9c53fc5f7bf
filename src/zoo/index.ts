/**
 * The model zoo: seeded, architecture-faithful ONNX builds of VGG-16, MobileNetV1/V2 and ResNet-18/50
 * (input "input" [1, 3, 224, 224] float, output "logits" [1, 1000]), and of the transformer encoders
 * ViT-Tiny and BERT-base (transformer.ts, which says what they take and give), and of GPT-2 style
 * decoders (decoder.ts: token ids and positions in, logits and the key/value cache out; the zoo builds
 * them with the cache inputs and outputs). BatchNorms are left unfolded, as a PyTorch export has them. Weights are random but scaled so that a standard-normal input keeps every
 * activation near unit magnitude (see layers.ts), which slalom's fixed-point quantization relies on.
 * The same name and seed always give byte-identical model bytes.
 */

import { InvalidArgumentError } from '../errors.js';
import { buildMobileNetV1 } from './mobilenet-v1.js';
import { buildMobileNetV2 } from './mobilenet-v2.js';
import { buildResNet } from './resnet.js';
import { BERT_BASE, buildEncoder, VIT_TINY } from './transformer.js';
import { buildDecoder, GPT2_SMALL, GPT_TINY } from './decoder.js';
import { buildVgg16 } from './vgg16.js';
import { aInt } from '../util/assert.js';

export { ZOO_CLASSES, ZOO_INPUT, ZOO_INPUT_DIMS, ZOO_OUTPUT } from './layers.js';

export const ZOO_CNNS = ['vgg16', 'mobilenet-v1', 'mobilenet-v2', 'resnet18', 'resnet50'] as const;
export const ZOO_TRANSFORMERS = ['vit-tiny', 'bert-base'] as const;
/** Decoders take int64 token ids, not a float tensor: code that feeds every zoo model a synthetic input takes `ZOO_CLASSIFIERS`. */
export const ZOO_DECODERS = ['gpt2-small', 'gpt-tiny'] as const;
/** The zoo models with one float input ("input") and one output ("logits"). */
export const ZOO_CLASSIFIERS = [...ZOO_CNNS, ...ZOO_TRANSFORMERS] as const;
export const ZOO_MODELS = [...ZOO_CLASSIFIERS, ...ZOO_DECODERS] as const;
export type ZooModelName = (typeof ZOO_MODELS)[number];

export interface ZooBuildOptions {
  /** Weight seed (default 0). */
  seed?: number;
}

const BUILDERS: Record<ZooModelName, (seed: number) => Uint8Array> = {
  vgg16: buildVgg16,
  'mobilenet-v1': buildMobileNetV1,
  'mobilenet-v2': buildMobileNetV2,
  resnet18: (seed) => buildResNet(18, seed),
  resnet50: (seed) => buildResNet(50, seed),
  'vit-tiny': (seed) => buildEncoder(VIT_TINY, seed),
  'bert-base': (seed) => buildEncoder(BERT_BASE, seed),
  'gpt2-small': (seed) => buildDecoder(GPT2_SMALL, seed, { withPast: true }),
  'gpt-tiny': (seed) => buildDecoder(GPT_TINY, seed, { withPast: true }),
};

/** True when `name` is one of `ZOO_MODELS`. */
export function isZooModelName(name: string): name is ZooModelName {
  return (ZOO_MODELS as readonly string[]).includes(name);
}

/** The ONNX ModelProto bytes of zoo model `name` with weights drawn from `opts.seed`. */
export function buildZooModel(name: ZooModelName, opts: ZooBuildOptions = {}): Uint8Array {
  if (!isZooModelName(name)) throw new InvalidArgumentError(`unknown zoo model "${String(name)}"; one of ${ZOO_MODELS.join(', ')}`);
  const seed = aInt(opts.seed ?? 0, 'seed');
  return BUILDERS[name](seed);
}
