/**
 * `--accelerator` (src/cli/options.ts) and `accelerator serve --backend` (src/cli/commands/accelerator.ts)
 * turned into registry requests: backend names and adapter variants, runs of URLs as one http
 * backend, the embedded worker by default, and a one-line error for anything else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseServeBackend } from '../../src/cli/commands/accelerator.js';
import { acceleratorRequests, type SessionFlags } from '../../src/cli/options.js';
import { InvalidArgumentError } from '../../src/errors.js';

const flags = (accelerator?: string): SessionFlags => ({
  check: 'preprocessed',
  pads: 'store',
  padPool: '4',
  soundnessBits: '40',
  onFailure: 'abort',
  onExhausted: 'fail',
  lowWater: '10',
  kernels: 'js',
  acceleratorFallback: 'fail',
  ...(accelerator !== undefined ? { accelerator } : {}),
});
const model = { name: 'm', weightsHash: 'ab'.repeat(32) };
const summary = (text?: string): string[] =>
  acceleratorRequests(flags(text), model).map((r) => {
    if (r.name === 'http') return `http ${r.options.urls.join(' ')}`;
    if (r.name === 'webgpu') return `webgpu:${r.options.adapter ?? 'default'}`;
    if (r.name === 'worker' || r.name === 'local') return `${r.name} ${r.options.kernels}`;
    return `unexpected ${r.name}`;
  });

describe('--accelerator', () => {
  it('defaults to the embedded worker with the --kernels kernels', () => {
    assert.deepEqual(summary(), ['worker js']);
  });

  it('names backends and webgpu adapters, in order', () => {
    assert.deepEqual(summary('webgpu'), ['webgpu:default'], 'the bare name leaves the policy to SLALOM_WEBGPU_ADAPTER, else gpu');
    assert.deepEqual(summary('webgpu:auto'), ['webgpu:auto']);
    assert.deepEqual(summary('webgpu:software, worker'), ['webgpu:software', 'worker js']);
    assert.deepEqual(summary('local'), ['local js']);
  });

  it('groups consecutive URLs into one http backend', () => {
    assert.deepEqual(summary('http://a:1,http://b:2'), ['http http://a:1 http://b:2']);
    assert.deepEqual(summary('webgpu,http://a:1,http://b:2,worker'), ['webgpu:default', 'http http://a:1 http://b:2', 'worker js']);
  });

  it('refuses anything else with one line naming the forms', () => {
    for (const bad of ['', ',', 'gpu', 'webgpu:fast', 'webgpu:auto:x', 'worker:ort', 'ftp://x']) {
      assert.throws(() => acceleratorRequests(flags(bad), model), (e: unknown) => e instanceof InvalidArgumentError && /--accelerator/.test(e.message) && /webgpu\[:gpu\|auto\|software\]/.test(e.message), bad);
    }
  });
});

describe('accelerator serve --backend', () => {
  it('takes onnxruntime, reference and webgpu with an adapter', () => {
    assert.deepEqual(parseServeBackend('onnxruntime'), { backend: 'onnxruntime' });
    assert.deepEqual(parseServeBackend('reference'), { backend: 'reference' });
    assert.deepEqual(parseServeBackend('webgpu'), { backend: 'webgpu' });
    assert.deepEqual(parseServeBackend('webgpu:software'), { backend: 'webgpu', adapter: 'software' });
    for (const bad of ['cuda', 'reference:auto', 'webgpu:fast', 'webgpu:gpu:x']) assert.throws(() => parseServeBackend(bad), InvalidArgumentError, bad);
  });
});
