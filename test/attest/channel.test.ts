/**
 * The encrypted channel (src/attest/channel.ts): a request round-trips and its response opens only
 * with the request's context; a replayed request, a stale timestamp, a flipped bit anywhere, another
 * model or another key are refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChannelError, openRequest, ReplayGuard, sealRequest } from '../../src/attest/channel.js';
import { generateX25519 } from '../../src/attest/hpke.js';

const message = { json: Buffer.from('{"inputs":[]}'), binary: Buffer.from([1, 2, 3, 4]) };

describe('encrypted channel', () => {
  const keys = generateX25519();

  it('round-trips a request and its response', () => {
    const sealed = sealRequest(keys.publicKey, 'm', message);
    const opened = openRequest(keys, 'm', sealed.body, new ReplayGuard());
    assert.deepEqual(opened.message.json, message.json);
    assert.deepEqual(opened.message.binary, message.binary);
    const reply = opened.sealResponse({ json: Buffer.from('{"outputs":[]}'), binary: Buffer.from([9]) });
    const back = sealed.openResponse(reply);
    assert.equal(back.json.toString(), '{"outputs":[]}');
    assert.deepEqual([...back.binary], [9]);
    // Another request's context cannot open it.
    assert.throws(() => sealRequest(keys.publicKey, 'm', message).openResponse(reply), ChannelError);
    const flipped = Buffer.from(reply);
    flipped[flipped.length - 1]! ^= 1;
    assert.throws(() => sealed.openResponse(flipped), /authenticate/);
  });

  it('refuses a replayed ciphertext and a stale timestamp', () => {
    const guard = new ReplayGuard(60_000);
    const sealed = sealRequest(keys.publicKey, 'm', message);
    openRequest(keys, 'm', sealed.body, guard);
    assert.throws(() => openRequest(keys, 'm', sealed.body, guard), (e: ChannelError) => e.status === 409 && /replayed/.test(e.message));
    const old = sealRequest(keys.publicKey, 'm', message, Date.now() - 120_000);
    assert.throws(() => openRequest(keys, 'm', old.body, guard), (e: ChannelError) => e.status === 400 && /timestamp/.test(e.message));
  });

  it('refuses a flipped bit anywhere, another model and another key', () => {
    const sealed = sealRequest(keys.publicKey, 'm', message);
    for (let at = 0; at < sealed.body.length; at += 7) {
      const bad = Buffer.from(sealed.body);
      bad[at]! ^= 0x10;
      assert.throws(() => openRequest(keys, 'm', bad, new ReplayGuard()), ChannelError, `byte ${at}`);
    }
    assert.throws(() => openRequest(keys, 'other', sealed.body, new ReplayGuard()), /authenticate/);
    assert.throws(() => openRequest(generateX25519(), 'm', sealed.body, new ReplayGuard()), /another key/);
    // A refused request does not enter the guard: the genuine one still opens.
    const guard = new ReplayGuard();
    assert.throws(() => openRequest(keys, 'other', sealed.body, guard));
    openRequest(keys, 'm', sealed.body, guard);
  });
});
