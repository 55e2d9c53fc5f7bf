/**
 * errors.ts: structured fields on every error, a message that names the layer and the argument, a
 * `Symbol.for` brand so `isSlalomError` and `hasErrorCode` hold for an error thrown by another copy
 * of the module (two copies of slalom in one process), and nothing else passing for one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { EXIT_CODES, hasErrorCode, IntegrityError, InvalidArgumentError, isSlalomError, PadReuseError, SlalomError } from '../src/errors.js';

describe('errors', () => {
  it('carry their code and structured fields, and name the layer and the argument in the message', () => {
    const integrity = new IntegrityError('the result failed the check', { layer: 'conv1', variant: 'preprocessed', repetition: 2 });
    assert.deepEqual([integrity.code, integrity.layer, integrity.variant, integrity.repetition, integrity.message], ['SLALOM_ERR_INTEGRITY', 'conv1', 'preprocessed', 2, 'conv1: the result failed the check']);
    const reuse = new PadReuseError('pad 7 was used', { padIndex: 7 });
    assert.equal(reuse.padIndex, 7);
    const arg = new InvalidArgumentError('must be a positive integer, got 0', { argument: 'count', reason: 'range' });
    assert.deepEqual([arg.message, arg.argument, arg.reason, arg.requirement], ['count must be a positive integer, got 0', 'count', 'range', 'must be a positive integer, got 0']);
    assert.equal(new InvalidArgumentError('plain').requirement, undefined);
  });

  it('are recognised by code across copies of the module', async () => {
    const other = (await import(`${pathToFileURL('src/errors.ts').href}?copy=2`)) as typeof import('../src/errors.js');
    assert.notEqual(other.SlalomError, SlalomError, 'a second copy of the module');
    const e: unknown = new other.OverflowError('too large', { layer: 'fc' });
    assert.ok(!(e instanceof SlalomError), 'instanceof fails across copies');
    assert.ok(isSlalomError(e));
    assert.deepEqual([EXIT_CODES[e.code], e.layer], [3, 'fc']);
    assert.ok(hasErrorCode(e, 'SLALOM_ERR_OVERFLOW'));
    assert.ok(hasErrorCode(e, 'SLALOM_ERR_INTEGRITY', 'SLALOM_ERR_OVERFLOW'));
    assert.ok(!hasErrorCode(e, 'SLALOM_ERR_INTEGRITY'));
  });

  it('are not mistaken for look-alikes', () => {
    for (const fake of [new Error('x'), { code: 'SLALOM_ERR_INTEGRITY', message: 'x' }, Object.assign(new Error('x'), { code: 'SLALOM_ERR_INTEGRITY' }), null, 'SLALOM_ERR_INTEGRITY']) {
      assert.ok(!isSlalomError(fake), String(fake));
      assert.ok(!hasErrorCode(fake, 'SLALOM_ERR_INTEGRITY'));
    }
  });
});
