/**
 * The accelerator registry (src/accel/registry.ts): built-ins registered once, a duplicate name
 * refused, init() run lazily and once (a failure remembered and reported with its reason), the
 * next backend tried only with `fallthrough`, every reason reported when none starts, in-process
 * kernels only from backends that have them, and command-line names parsed through it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import type { AcceleratorBackend } from '../../src/accel/backend.js';
import { ADAPTER_CHOICES } from '../../src/accel/webgpu/device.js';
import { backendForms, backendNames, backendRequest, registerBackend, resolveBackend, resolveKernels } from '../../src/accel/registry.js';
import { InvalidArgumentError, TransportError } from '../../src/errors.js';

// Test-only backends, typed like the built-ins (BackendOptionMap is open to declaration merging).
declare module '../../src/accel/registry.js' {
  interface BackendOptionMap {
    'test-broken-init': { readonly note?: string };
    'test-counting': { readonly fail?: boolean };
  }
}

let brokenInits = 0;
let countingInits = 0;
registerBackend('test-broken-init', {
  async init() {
    brokenInits++;
    throw new Error('no such device here');
  },
  async create() {
    throw new Error('unreachable: init failed');
  },
});
registerBackend('test-counting', {
  async init() {
    countingInits++;
  },
  async create(o) {
    if (o.fail) throw new Error('refused to start');
    return { name: 'test-counting', device: 'nothing', loadWeights: async () => {}, linear: async () => Promise.reject(new Error('unused')), close: async () => {} } satisfies AcceleratorBackend;
  },
});

describe('accelerator registry', () => {
  const opened: AcceleratorBackend[] = [];
  after(async () => {
    for (const b of opened) await b.close();
  });

  it('lists the built-in backends by priority, and refuses a second registration of a name', () => {
    assert.deepEqual(backendNames().filter((n) => !n.startsWith('test-')), ['worker', 'webgpu', 'http', 'local', 'onnxruntime', 'reference']);
    assert.deepEqual(backendNames('kernels'), ['webgpu', 'onnxruntime', 'reference'], 'what an accelerator service can compute with');
    assert.deepEqual(backendNames('create').filter((n) => !n.startsWith('test-')), ['worker', 'webgpu', 'http', 'local'], 'what the trusted runtime can start');
    assert.throws(() => registerBackend('worker', { create: async () => Promise.reject(new Error('x')) }), (e: unknown) => e instanceof InvalidArgumentError && /already registered/.test(e.message));
  });

  it('runs init() lazily, once, however often the backend is resolved', async () => {
    assert.equal(countingInits, 0, 'registering does not initialise');
    for (let i = 0; i < 3; i++) opened.push((await resolveBackend([{ name: 'test-counting', options: {} }])).backend);
    assert.equal(countingInits, 1);
  });

  it('remembers a failed init and reports its reason every time, without running it again', async () => {
    for (let i = 0; i < 2; i++) await assert.rejects(resolveBackend([{ name: 'test-broken-init', options: {} }]), /no such device here/);
    assert.equal(brokenInits, 1);
  });

  it('tries the next backend only when allowed, reporting what failed', async () => {
    const requests = [
      { name: 'test-broken-init', options: {} },
      { name: 'test-counting', options: { fail: true } },
      { name: 'test-counting', options: {} },
    ] as const;
    await assert.rejects(resolveBackend(requests), /no such device here/, 'without fallthrough the first failure is the answer');
    const r = await resolveBackend(requests, { fallthrough: true });
    opened.push(r.backend);
    assert.equal(r.name, 'test-counting');
    assert.deepEqual(r.failures, [
      { name: 'test-broken-init', reason: 'no such device here' },
      { name: 'test-counting', reason: 'refused to start' },
    ]);
  });

  it('when nothing starts, one TransportError gives every reason', async () => {
    await assert.rejects(
      resolveBackend([{ name: 'test-broken-init', options: {} }, { name: 'test-counting', options: { fail: true } }], { fallthrough: true }),
      (e: unknown) => e instanceof TransportError && /test-broken-init: no such device here; test-counting: refused to start/.test(e.message),
    );
  });

  it('refuses an empty request list and an unknown name', async () => {
    await assert.rejects(resolveBackend([]), InvalidArgumentError);
    await assert.rejects(resolveBackend([{ name: 'nonexistent' as 'worker', options: {} }]), (e: unknown) => e instanceof InvalidArgumentError && /unknown accelerator backend 'nonexistent'/.test(e.message));
  });

  it('gives in-process kernels for reference and onnxruntime, and refuses them for http', async () => {
    const k = await resolveKernels({ name: 'reference', options: { kernels: 'js' } });
    assert.equal(k.name, 'js');
    await k.close();
    const g = await resolveKernels({ name: 'onnxruntime', options: {} });
    assert.equal(g.name, 'onnx-graph');
    await g.close();
    await assert.rejects(resolveKernels({ name: 'http', options: { urls: ['http://127.0.0.1:1'] } }), /does not compute in-process/);
  });

  it('refuses to start, with the reason, a backend that only computes inside an accelerator service', async () => {
    await assert.rejects(resolveBackend([{ name: 'onnxruntime', options: {} }]), (e: unknown) => e instanceof InvalidArgumentError && /only computes inside an accelerator service.*--backend onnxruntime/.test(e.message));
  });

  it('turns a command line\'s name[:variant] into typed options, for both command lines', () => {
    assert.deepEqual(backendRequest('worker', undefined, { kernels: 'js' }, 'create'), { name: 'worker', options: { kernels: 'js' } });
    assert.deepEqual(backendRequest('webgpu', 'software', { kernels: 'js' }, 'create'), { name: 'webgpu', options: { adapter: 'software' } });
    assert.deepEqual(backendRequest('webgpu', undefined, {}, 'kernels'), { name: 'webgpu', options: {} });
    assert.deepEqual(backendRequest('reference', undefined, { kernels: 'ort', threads: 2 }, 'kernels'), { name: 'reference', options: { kernels: 'ort', threads: 2 } });
    assert.deepEqual(backendRequest('onnxruntime', undefined, { kernels: 'js', threads: 3 }, 'kernels'), { name: 'onnxruntime', options: { threads: 3 } });
    for (const [name, variant, can] of [['cuda', undefined, 'create'], ['worker', 'ort', 'create'], ['webgpu', 'fast', 'kernels'], ['onnxruntime', undefined, 'create'], ['worker', undefined, 'kernels']] as const) {
      assert.throws(() => backendRequest(name, variant, {}, can), (e: unknown) => e instanceof InvalidArgumentError && /is not one of/.test(e.message), `${name}:${variant} for ${can}`);
    }
  });

  it('names the webgpu adapters as webgpu/device.ts does', () => {
    assert.ok(backendForms('create').includes(`webgpu[:${ADAPTER_CHOICES.join('|')}]`));
  });

  it('starts the embedded worker, which names what computes', async () => {
    const { backend } = await resolveBackend([{ name: 'worker', options: { kernels: 'js' } }]);
    opened.push(backend);
    assert.equal(backend.name, 'worker');
    assert.equal(backend.device, 'CPU, js kernels');
  });
});
