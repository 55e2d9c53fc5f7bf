/**
 * How the trusted service answers a failed inference (src/serve/errors.ts): the status and code per
 * error, and a 422 that tells the client what went wrong without the server's calibration details
 * (issue 20: it named the calibration file's path on the server).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { IntegrityError, InvalidArgumentError, OverflowError, PadsExhaustedError } from '../../src/errors.js';
import { httpErrorOf } from '../../src/serve/errors.js';

describe('httpErrorOf', () => {
  it('an overflow is 422 with its code and layer, and nothing of how the model was calibrated', () => {
    const cause = new OverflowError('quantized input magnitude 9000000 (scale 2^7) leaves (−p/2, p/2)', { layer: 'conv1' });
    const e = new OverflowError(`${cause.message}; it was calibrated on 100 input(s) from /srv/secret/calibration/images.npy, margin 2: calibrate on inputs like this one (--calibration <dir|.npy>), or raise --margin`, { layer: 'conv1', cause });
    const { error, outcome } = httpErrorOf(e);
    assert.equal(error.status, 422);
    assert.equal(error.code, 'SLALOM_ERR_OVERFLOW');
    assert.equal(outcome, 'overflow');
    assert.match(error.message, /overflows the model's quantization at layer 'conv1'/);
    assert.doesNotMatch(error.message, /\/srv|calibration\/|\.npy|margin|--/);
  });

  it("keeps the message where it is about the client's request or the accelerator", () => {
    assert.deepEqual([httpErrorOf(new InvalidArgumentError('input x: 3 values, expected 784')).error.message, httpErrorOf(new InvalidArgumentError('x')).error.status], ['input x: 3 values, expected 784', 400]);
    const integrity = httpErrorOf(new IntegrityError('Freivalds check failed', { layer: 'fc' }));
    assert.equal(integrity.error.status, 502);
    assert.match(integrity.error.message, /Freivalds/);
    const busy = httpErrorOf(new PadsExhaustedError('no pad ready'));
    assert.equal(busy.error.status, 503);
    assert.equal(busy.error.headers['Retry-After'], '1');
  });
});
