/**
 * The `slalom` command line as data (after vitest's cli-config.ts: a thin, lazy CLI): each verb's
 * name, description, arguments and flags, and the module that runs it. main.ts builds the parser from
 * this table and imports a verb's module (commands/<verb>.ts, which exports `run`) only when that verb
 * runs, so `slalom --help` or `slalom zoo …` never load onnxruntime, the pad store or the service.
 * Only light modules are imported here (names and defaults for the help texts).
 */
import { backendForms } from '../accel/registry.js';
import { EXACT_KERNELS } from '../kernels/exact-linear.js';
import { MODES } from '../runtime/modes.js';
import { CHECK_VARIANTS, DEFAULT_SOUNDNESS_BITS } from '../verify/soundness.js';
import { ZOO_MODELS } from '../zoo/index.js';

export interface FlagSpec {
  /** commander's flags, e.g. `--model <file>` or `--no-progress`. */
  readonly flags: string;
  readonly description: string;
  readonly default?: string;
  readonly required?: boolean;
  /** Given several times, the values are collected in order. */
  readonly repeatable?: boolean;
}

/** A verb module: what runs it, given the verb's arguments then its parsed flags; it may return its exit status (default 0). */
export interface VerbModule {
  run(...argsThenFlags: never[]): Promise<void | number> | void | number;
}

export interface VerbSpec {
  /** The words that name it: ['infer'], or ['pads', 'status'] for a verb under a group. */
  readonly path: readonly string[];
  readonly description: string;
  /** Positional arguments, e.g. `<model>`, with their descriptions. */
  readonly args?: readonly (readonly [name: string, description: string])[];
  readonly flags: readonly FlagSpec[];
  readonly load: () => Promise<VerbModule>;
}

/** Verb groups (`slalom pads …`, `slalom accelerator …`) and their descriptions. */
export const GROUPS: Readonly<Record<string, string>> = {
  pads: 'inspect the one-time pad inventory',
  accelerator: 'the untrusted accelerator as a service',
  client: 'the client of `slalom serve`: attested, encrypted requests and signed receipts',
};

const flag = (flags: string, description: string, defaultValue?: string): FlagSpec => ({ flags, description, ...(defaultValue !== undefined ? { default: defaultValue } : {}) });
const required = (flags: string, description: string): FlagSpec => ({ flags, description, required: true });
const repeatable = (f: FlagSpec): FlagSpec => ({ ...f, repeatable: true });

const JSON_FLAG = flag('--json', 'print one JSON object');
const MODEL_FLAG = required('--model <file>', 'ONNX model or quantized artifact (slalom quantize)');

const PROGRESS_FLAGS: readonly FlagSpec[] = [flag('--progress', 'show progress bars on stderr even when it is not a terminal'), flag('--no-progress', 'never show progress bars')];

/** Flags of the commands that load a model (options.ts `loadModelFromFlags` reads them). */
const MODEL_FLAGS: readonly FlagSpec[] = [
  repeatable(flag('--input-shape <dims>', 'concrete input shape, e.g. 1,3,224,224 (default: the declared one; symbolic sizes come from the given input); name=dims per input, repeatable')),
  repeatable(
    flag(
      '--calibration <source>',
      'calibration inputs: a directory, a .npy, or fashion-mnist:train:<n>; name=source per input, repeatable (default: the images named by <model>.slalom.json, else seeded normal inputs; refused for a quantized artifact)',
    ),
  ),
  flag('--margin <factor>', 'headroom between calibrated maxima and p/2 (default 4)'),
  flag('--memory-budget-mb <mb>', "megabytes the model's activations may take (every value of one inference as float64); a model whose shapes ask for more is refused before anything is allocated (default 4096)"),
  ...PROGRESS_FLAGS,
];

/** How images are turned into inputs (default: from the model's input shape and its sidecar <model>.slalom.json). */
const PREPROCESS_FLAGS: readonly FlagSpec[] = [
  flag('--size <h,w>', 'image size the model takes (default: its input shape)'),
  flag('--resize <n>', 'resize the shorter image side to n pixels first (0: no resize)'),
  flag('--crop <mode>', 'center (crop or zero-pad to --size) or none (stretch to --size)'),
  flag('--mean <values>', 'per-channel mean after dividing by --scale, e.g. 0.485,0.456,0.406'),
  flag('--std <values>', 'per-channel standard deviation, e.g. 0.229,0.224,0.225'),
  flag('--scale <n>', 'pixels are divided by n first (default 255)'),
  flag('--channels <n>', '3 (RGB) or 1 (grayscale by luma)'),
  flag('--layout <layout>', 'NCHW or NHWC'),
];

const STATE_FLAG = flag('--state <dir>', 'trusted state directory (keys, pad ledger); default $SLALOM_STATE_DIR or ~/.slalom/state');
const COUNTER_FLAG = flag('--monotonic-counter <dir>', 'bind the pad ledgers to monotonic counters kept in <dir> (outside --state), so an old copy of the state put back is refused (docs/rollback.md); every command using the state must give it');

/** The attestation policy of the client verbs (client/client.ts checks it before anything is sent). */
const POLICY_FLAGS: readonly FlagSpec[] = [
  flag('--allow-development', "accept the 'none' attestation provider (development only: it signs nothing, so nothing proves what holds the key)"),
  flag('--weights-hash <hex>', 'the service must attest a model with these weights (a prefix of ≥ 12 hex digits)'),
  flag('--key-hash <hex>', 'the service must attest exactly this key hash (one process)'),
];

const KERNELS_FLAG = flag('--kernels <impl>', `exact kernels of the trusted runtime and the embedded accelerator: ${EXACT_KERNELS.join(', ')}`, 'ort');
const TIMEOUT_FLAG = flag('--accelerator-timeout-ms <ms>', 'per-request timeout of --accelerator before failing over', '60000');

/** How the accelerator's results are checked (options.ts `parseVerifyFlags`). */
const CHECK_FLAGS: readonly FlagSpec[] = [
  flag('--check <variant>', `Freivalds variant: ${CHECK_VARIANTS.join(', ')}`, 'preprocessed'),
  flag('--repetitions <k>', 'repetitions per check (default: the fewest that reach --soundness-bits)'),
  flag('--soundness-bits <bits>', 'a wrong result may pass an inference with probability at most 2^-bits', String(DEFAULT_SOUNDNESS_BITS)),
];

/** Flags of the outsourcing modes: checks, failure policy, pads, accelerators (options.ts reads them). */
const SESSION_FLAGS: readonly FlagSpec[] = [
  flag('--pads <source>', 'where the private modes take their pads: store (sealed, in --store: an enclave with little trusted memory) or memory (precomputed in the background into trusted memory, under a key that dies with the process: a confidential VM)', 'store'),
  flag('--pad-pool <n>', 'pads kept ready with --pads memory', '4'),
  flag('--store <dir>', 'pad store for the private modes (filled by `slalom precompute`)'),
  STATE_FLAG,
  COUNTER_FLAG,
  flag('--on-exhausted <policy>', 'when no pad is left: fail, or local (run that inference in the trusted runtime)', 'fail'),
  flag('--low-water <n>', 'warn when fewer pads remain', '10'),
  KERNELS_FLAG,
  ...CHECK_FLAGS,
  flag(
    '--on-failure <policy>',
    'after a failed check or an invalid reply: abort (IntegrityError/exit 4, no output — always, whatever --accelerator-fallback says), or recompute (the same request on another accelerator, else the layer in the trusted runtime, distrusting the accelerator)',
    'abort',
  ),
  flag('--attention <place>', "where attention's products of two activations run: trusted, or accelerator (in the clear, Freivalds-checked in verified; outsourced/verified only)", 'trusted'),
  flag(
    '--accelerator <list>',
    `accelerators to try in order, comma-separated: worker (default: the embedded CPU worker), webgpu (a GPU; fails without one, unless SLALOM_WEBGPU_ADAPTER=auto|software), webgpu:auto (a GPU, else the software adapter), webgpu:software, local, or Open Inference Protocol services http://host:port[,http://host2:port…] (registered: ${backendForms('create').join(', ')})`,
  ),
  TIMEOUT_FLAG,
  flag('--accelerator-fallback <policy>', 'when no --accelerator is reachable: fail, or local (compute in the trusted runtime); only for unreachable accelerators, never a second opinion on a failed check under --on-failure abort', 'fail'),
];

export const VERBS: readonly VerbSpec[] = [
  {
    path: ['zoo'],
    description: `write a zoo model (${ZOO_MODELS.join(', ')}) with seeded random weights as ONNX`,
    args: [['<name>', `one of ${ZOO_MODELS.join(', ')}`]],
    flags: [required('--out <file>', 'where to write the .onnx file'), flag('--seed <n>', 'weight seed', '1')],
    load: () => import('./commands/zoo.js'),
  },
  {
    path: ['quantize'],
    description: 'calibrate an ONNX model once and write a quantized artifact (scales, integer weights, graph, hashes, provenance) that every command loads',
    flags: [
      required('--model <file>', 'ONNX model file'),
      required('--out <file>', 'artifact to write (e.g. m.slalom)'),
      flag('--include-onnx', 'also store the ONNX file, so the artifact alone serves compare (the float reference)'),
      JSON_FLAG,
      ...MODEL_FLAGS,
      ...PREPROCESS_FLAGS,
    ],
    load: () => import('./commands/quantize.js'),
  },
  {
    path: ['inspect'],
    description: 'per-layer table: op, shapes, MACs, parameters, scales, outsourced or trusted; totals',
    args: [['<model>', 'ONNX model or quantized artifact (slalom quantize)']],
    flags: [
      JSON_FLAG,
      ...MODEL_FLAGS,
      flag('--check <variant>', `Freivalds variant whose cost and soundness to report: ${CHECK_VARIANTS.join(', ')}`, 'preprocessed'),
      flag('--repetitions <k>', 'repetitions per check (default: the fewest that reach --soundness-bits)'),
      flag('--soundness-bits <bits>', 'soundness target per inference', String(DEFAULT_SOUNDNESS_BITS)),
    ],
    load: () => import('./commands/inspect.js'),
  },
  {
    path: ['infer'],
    description: 'run one inference (or one per item of a batch) and print the top predictions, output shapes and per-phase timings',
    flags: [
      MODEL_FLAG,
      repeatable(required('--input <file>', 'a PNG/JPEG/WebP image (preprocessed as the model wants) or a .npy tensor (a batch of N: one prediction list each); name=file per input for several inputs, repeatable')),
      flag('--mode <mode>', `one of ${MODES.join(', ')}`, 'baseline'),
      flag('--top <k>', 'how many predictions to print per item', '5'),
      JSON_FLAG,
      ...MODEL_FLAGS,
      ...PREPROCESS_FLAGS,
      ...SESSION_FLAGS,
    ],
    load: () => import('./commands/infer.js'),
  },
  {
    path: ['generate'],
    description: 'generate text token by token with a GPT-style decoder: the KV cache stays in the trusted runtime, every step\'s linear layers go to the accelerator (one pad per token in the private modes); streams one prompt\'s tokens',
    flags: [
      MODEL_FLAG,
      repeatable(flag('--prompt <text>', "a prompt (the model's tokenizer encodes it); repeat to batch several sequences into one request per layer per step")),
      repeatable(flag('--tokens <ids>', 'a prompt as comma-separated token ids (models without a tokenizer); repeatable')),
      flag('--mode <mode>', `one of ${MODES.join(', ')}`, 'baseline'),
      flag('--max-tokens <n>', 'new tokens per sequence', '64'),
      flag('--temperature <t>', '0: greedy; above 0: sample from softmax(logits / t)', '0'),
      flag('--top-k <k>', 'sample among the k most likely tokens only'),
      flag('--seed <n>', 'sampling seed (sequence k uses seed + k): the same seed gives the same tokens in every mode', '0'),
      JSON_FLAG,
      ...MODEL_FLAGS,
      ...SESSION_FLAGS,
    ],
    load: () => import('./commands/generate.js'),
  },
  {
    path: ['compare'],
    description: 'run the model in onnxruntime fp32 and in slalom; report top-1 agreement, logit error and per-layer drift',
    flags: [
      MODEL_FLAG,
      required('--inputs <source>', 'a directory of images/.npy, a (batched) .npy, or fashion-mnist:test[:<count>]'),
      flag('--limit <n>', 'use at most n inputs'),
      flag('--float-model <file>', 'the ONNX file an artifact was quantized from, when the artifact does not hold it'),
      JSON_FLAG,
      ...MODEL_FLAGS,
      ...PREPROCESS_FLAGS,
    ],
    load: () => import('./commands/compare.js'),
  },
  {
    path: ['precompute'],
    description: 'offline phase: draw N new one-time pads, compute their unblinding factors in the trusted runtime, seal them into the pad store (runs may share a store)',
    flags: [
      required('--model <file>', 'ONNX model file'),
      required('--count <n>', 'how many more inferences to prepare pads for (a decoder: tokens fed, prompt tokens included)'),
      required('--store <dir>', 'the untrusted pad store directory'),
      STATE_FLAG,
      COUNTER_FLAG,
      flag('--kernels <impl>', `exact kernels of the trusted runtime: ${EXACT_KERNELS.join(', ')}`, 'ort'),
      JSON_FLAG,
      ...MODEL_FLAGS,
    ],
    load: () => import('./commands/precompute.js'),
  },
  {
    path: ['pads', 'status'],
    description: 'usable pads (recorded in the ledger and present in the store), consumed, next pad index, bytes per inference, key epoch',
    flags: [
      required('--store <dir>', 'the pad store directory'),
      flag('--state <dir>', 'trusted state directory; default $SLALOM_STATE_DIR or ~/.slalom/state'),
      COUNTER_FLAG,
      flag('--model <file>', 'the model the pads are for (default: the one the store manifest names)'),
      flag('--low-water <n>', 'warn when fewer pads remain', '10'),
      JSON_FLAG,
    ],
    load: () => import('./commands/pads.js'),
  },
  {
    path: ['export'],
    description: 'write a Triton-style model repository: one exact ONNX model per linear layer (input x, output y, FP64 residues of Z_p)',
    flags: [MODEL_FLAG, required('--out <dir>', 'repository directory to write'), flag('--json', 'print the repository index as JSON'), ...MODEL_FLAGS],
    load: () => import('./commands/export.js'),
  },
  {
    path: ['accelerator', 'serve'],
    description: 'serve linear layers over the Open Inference Protocol (KServe v2 REST, binary tensors, repository extension)',
    flags: [
      required('--port <n>', 'TCP port (0: any free port)'),
      flag('--host <addr>', 'interface to bind', '127.0.0.1'),
      flag(
        '--backend <name>',
        `how layers are computed: ${backendForms('kernels').join(', ')} — onnxruntime (each layer's exact ONNX graph), reference (slalom's CPU kernels), webgpu (a GPU; webgpu:auto falls back to the software adapter, webgpu:software uses it)`,
        'onnxruntime',
      ),
      flag('--kernels <impl>', 'exact kernels of the reference backend: ort, js', 'ort'),
      flag('--model-repository <dir>', 'repository written by `slalom export`, to load models from'),
      flag('--no-preload', 'do not load every repository model at start-up (clients load them)'),
      flag('--threads <n>', 'onnxruntime intra-op threads', '1'),
      flag('--max-batch <n>', 'most items (sum of batch axes) merged into one batch', '8'),
      flag('--max-delay-ms <ms>', 'longest a request waits for others to join its batch', '2'),
      flag('--max-queue <n>', 'most requests queued per layer before 503 + Retry-After', '64'),
      flag('--max-body-mb <mb>', 'largest inference request body', '64'),
      flag('--max-load-mb <mb>', 'largest model upload (repository load request)', '1024'),
      flag('--request-timeout-ms <ms>', 'longest a request may take to arrive or wait in a queue', '30000'),
      flag('--max-loaded-mb <mb>', 'most memory loaded layers may hold (counted as 24 bytes per weight); a load past it evicts idle layers of the same client, least recently used first, else gets 507 (503 while they are busy)', '4096'),
      flag('--max-loaded-layers <n>', 'most layers loaded at once, under the same rule', '1024'),
      flag('--token <secret>', 'bearer token that repository loads and unloads must carry (clients: SLALOM_ACCELERATOR_TOKEN); a holder may unload any layer. Default SLALOM_ACCELERATOR_TOKEN; without one, only the client that loaded a layer may unload it'),
      flag('--quiet', 'no log lines on stderr'),
    ],
    load: () => import('./commands/accelerator.js'),
  },
  {
    path: ['serve'],
    description: 'serve models to clients: the trusted runtime as an Open Inference Protocol service with attested keys, encrypted requests, signed receipts and metrics',
    flags: [
      repeatable(required('--model <file>', 'ONNX model or quantized artifact; repeatable to serve several')),
      flag('--mode <mode>', `one of ${MODES.join(', ')}`, 'private+verified'),
      required('--port <n>', 'TCP port (0: any free port; the first stdout line names the URL)'),
      flag('--host <addr>', 'interface to bind', '127.0.0.1'),
      flag('--pads <source>', 'where the private modes take their pads: store (sealed, one --store per --model, refilled by a nice-19 child) or memory (one pool per model in trusted memory, shared by its lanes, refilled by its own thread in idle time: a confidential VM)', 'store'),
      flag('--pad-pool <n>', 'pads kept ready per model with --pads memory', '8'),
      repeatable(flag('--store <dir>', 'pad store of the private modes with --pads store, one per --model in the same order')),
      STATE_FLAG,
      COUNTER_FLAG,
      flag('--on-empty <policy>', 'when no pad is ready: wait (for the refill, up to --request-timeout-ms), fail (503 + Retry-After), local (that inference runs in the trusted runtime)', 'wait'),
      flag('--no-refill', '--pads store: no background precompute (pads come from `slalom precompute` only)'),
      flag('--refill-low <n>', '--pads store: refill when fewer pads than this are ready (a memory pool refills itself)', '8'),
      flag('--refill-high <n>', '--pads store: refill up to this many ready pads', '32'),
      flag('--lanes <n>', 'requests run at once per model (they share its accelerator: pipelining)', '2'),
      flag('--max-queue <n>', 'requests waiting per model before 503 + Retry-After', '64'),
      flag('--accelerator <list>', 'as for infer: worker (default), webgpu[:auto|software], local, or http://host:port[,…] accelerator services'),
      TIMEOUT_FLAG,
      flag('--accelerator-fallback <policy>', 'when no --accelerator is reachable: fail, or local', 'fail'),
      KERNELS_FLAG,
      ...CHECK_FLAGS,
      flag('--on-failure <policy>', 'after a failed check: abort (the client gets an error), or recompute (another accelerator, else the trusted runtime)', 'abort'),
      flag('--attestation <provider>', 'attestation provider: none (development only: signs nothing; clients refuse it unless they allow development providers)', 'none'),
      flag('--top <k>', 'predictions per item in top_k', '5'),
      flag('--max-body-mb <mb>', 'largest request body', '64'),
      flag('--request-timeout-ms <ms>', 'longest a request may take to arrive, or wait for a lane and a pad', '60000'),
      flag('--max-generate-tokens <n>', 'most tokens one generation (a decoder) may ask for; more is 400', '256'),
      flag('--quiet', 'no log lines on stderr'),
      ...MODEL_FLAGS,
    ],
    load: () => import('./commands/serve.js'),
  },
  {
    path: ['client', 'infer'],
    description: 'check the service attestation, send one input encrypted to its key, print the verified answer',
    flags: [
      required('--url <url>', 'the service, e.g. http://127.0.0.1:8080'),
      required('--input <file>', 'a PNG/JPEG/WebP image (preprocessed as the service says) or a .npy tensor'),
      flag('--model <name>', 'the served model (default: the only one)'),
      flag('--no-encrypt', 'send the input in plain OIP (for debugging: the network sees it)'),
      flag('--datatype <type>', 'FP64 (exact) or FP32', 'FP64'),
      flag('--top <k>', 'predictions per item'),
      flag('--receipt-out <file>', 'write the receipt and the attestation document, for verify-receipt'),
      flag('--timeout-ms <ms>', 'per request', '60000'),
      JSON_FLAG,
      ...POLICY_FLAGS,
    ],
    load: () => import('./commands/client.js'),
  },
  {
    path: ['client', 'generate'],
    description: "check the service attestation, generate with a served decoder streaming the tokens to stdout, then verify the generation's receipt",
    flags: [
      required('--url <url>', 'the service, e.g. http://127.0.0.1:8080'),
      flag('--prompt <text>', "the prompt as text (the service's tokenizer encodes it)"),
      flag('--tokens <ids>', 'the prompt as comma-separated token ids'),
      flag('--model <name>', 'the served model (default: the only one)'),
      flag('--max-tokens <n>', 'new tokens at most', '16'),
      flag('--temperature <t>', '0: greedy', '0'),
      flag('--top-k <k>', 'sample among the k most likely tokens only'),
      flag('--seed <n>', 'seed of the sampling', '0'),
      flag('--encrypt', 'seal the prompt to the attested key and take the answer sealed in one piece (nothing streams; the plain stream shows prompt and tokens to the network)'),
            flag('--receipt-out <file>', 'write the generation receipt and the attestation document, for verify-receipt'),
      flag('--timeout-ms <ms>', 'per request', '60000'),
      JSON_FLAG,
      ...POLICY_FLAGS,
    ],
    // Both client verbs live in commands/client.ts; this one is its `generate`.
    load: async () => ({ run: (await import('./commands/client.js')).generate }),
  },
  {
    path: ['train'],
    description: 'verified training on Fashion-MNIST: every forward and backward product of every step on the accelerator, checked (Freivalds) before use; writes the model as ONNX and a signed training receipt',
    flags: [
      flag('--model <file>', 'initial weights: an ONNX model of --arch (as scripts/train_fashion_mnist.py or scripts/train_vit_fashion_mnist.py exports it); default: seeded from --seed'),
      flag('--arch <name>', 'architecture: fashion-mnist-cnn, vit-fashion-mnist or vgg-fashion-mnist', 'fashion-mnist-cnn'),
      flag('--data <name>', 'training data', 'fashion-mnist'),
      flag('--data-dir <dir>', "folder of the four *-ubyte(.gz) files (default: Debian's dataset-fashion-mnist)"),
      flag('--train-limit <n>', 'train on the first n examples only'),
      flag('--epochs <n>', 'epochs', '1'),
      flag('--batch <n>', 'minibatch size', '32'),
      flag('--steps <n>', 'stop after n steps in all'),
      flag('--optimizer <name>', 'sgd (with --momentum) or adam', 'sgd'),
      flag('--lr <rate>', 'learning rate', '0.01'),
      flag('--momentum <m>', 'SGD momentum', '0.9'),
      flag('--weight-decay <l2>', 'L2 weight decay', '0'),
      flag('--seed <n>', 'seed of the initial weights, the data order and the stochastic rounding (default: a secret random key, kept in the checkpoint)'),
      flag('--bits <a,w,g>', 'bits of the per-step quantization of activations, weights and gradients', '8,8,8'),
      flag('--repetitions <k>', "Freivalds repetitions per product (each errs with probability ≤ 1/p)", '2'),
      flag('--mode <mode>', 'verified (products on the accelerator, checked) or baseline (every product in the trusted runtime)', 'verified'),
      flag('--on-failure <policy>', 'after a failed check: abort (no update, exit 4) or recompute (that product in the trusted runtime)', 'abort'),
      flag('--accelerator <list>', `accelerators to try in order (registered: ${backendForms('create').join(', ')})`),
      KERNELS_FLAG,
      TIMEOUT_FLAG,
      flag('--accelerator-fallback <policy>', 'when no --accelerator is reachable: fail, or local', 'fail'),
      flag('--checkpoint <dir>', 'write checkpoints (weights, optimizer, step, stream key) here, atomically'),
      flag('--checkpoint-every <n>', 'steps between checkpoints', '50'),
      flag('--resume', 'continue from the checkpoint in --checkpoint (bit-identical to an uninterrupted run)'),
      flag('--out <file>', 'write the trained model as ONNX (and <file>.slalom.json) for slalom infer'),
      flag('--receipt-out <file>', 'write a signed training receipt (and the attestation document), for client verify-receipt'),
      flag('--log-every <n>', 'progress line every n steps (stderr)', '10'),
      JSON_FLAG,
    ],
    load: () => import('./commands/train.js'),
  },
  {
    path: ['client', 'verify-receipt'],
    description: 'check a receipt: its signature, and that a key vouched for signed it (the attestation document saved with it or --attestation, or --key-hash)',
    args: [['<file>', 'a receipt saved by `slalom client infer --receipt-out` (or generate, or train)']],
    flags: [flag('--attestation <file>', 'the attestation document of the service that signed it'), JSON_FLAG, ...POLICY_FLAGS],
    // Both client verbs live in commands/client.ts; this one is its `verifyReceipt`.
    load: async () => ({ run: (await import('./commands/client.js')).verifyReceipt }),
  },
];
