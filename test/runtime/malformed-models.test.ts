/**
 * Malformed models through the library (issue 20, deliverable 6): no graph outputs, a negative or
 * unrepresentable declared size, a batch whose activations pass the memory budget, a non-finite
 * weight or bias. Each is refused by `SlalomModel.load` with its code and a message naming the node
 * or tensor, before calibration allocates anything; the budget can be raised.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasErrorCode } from '../../src/errors.js';
import { SlalomModel } from '../../src/runtime/model.js';
import { MALFORMED_CASES, smallModel } from '../helpers/malformed-models.js';

describe('malformed models are refused by SlalomModel.load', () => {
  for (const c of MALFORMED_CASES) {
    it(`${c.name} → ${c.code}`, async () => {
      await assert.rejects(SlalomModel.load(c.bytes), (e: unknown) => {
        assert.ok(hasErrorCode(e, c.code), `got ${String(e)}`);
        for (const s of c.says) assert.ok(e.message.includes(s), `'${e.message}' lacks '${s}'`);
        assert.ok(!e.message.includes('\n'), 'one line');
        return true;
      });
    });
  }

  it('the memory budget is checked before calibration allocates the batch, and memoryBudgetMb moves it', async () => {
    const bytes = smallModel({ batch: 64 });
    // 64 × (192 + 256 + 256 + 4 + 4 + 10) values × 8 bytes ≈ 0.35 MB.
    await assert.rejects(SlalomModel.load(bytes, { memoryBudgetMb: 0.25 }), (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_UNSUPPORTED') && /about 1 MB, over the memory budget of 0\.25 MB/.test(e.message));
    const model = await SlalomModel.load(bytes, { memoryBudgetMb: 1 });
    assert.deepEqual(model.inputDims, [64, 3, 8, 8]);
  });

  it('an input shape given by the caller is held to the budget too', async () => {
    await assert.rejects(SlalomModel.load(smallModel({ batch: 'N' }), { inputDims: [1_000_000, 3, 8, 8] }), (e: unknown) => hasErrorCode(e, 'SLALOM_ERR_UNSUPPORTED'));
    // 2^52 × 192 elements cannot even be counted exactly: malformed, not merely large.
    await assert.rejects(SlalomModel.load(smallModel({ batch: 'N' }), { inputDims: [2 ** 52, 3, 8, 8] }), (e: unknown) =>
      hasErrorCode(e, 'SLALOM_ERR_MALFORMED_MODEL') && e.message.includes("input 'input'") && e.message.includes('impossible shape'));
  });
});
