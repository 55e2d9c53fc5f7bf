/**
 * What every onnxruntime session slalom creates shares: its log severity (SLALOM_ORT_LOG) and the
 * rule that ORT takes no typed array on a SharedArrayBuffer.
 */
import * as ort from 'onnxruntime-node';
import { InvalidArgumentError } from '../../errors.js';

const ORT_LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;

/**
 * onnxruntime's log severity for every session slalom creates: 4 (fatal only) unless the environment
 * variable SLALOM_ORT_LOG names another (verbose, info, warning, error, fatal, or 0–4). onnxruntime's
 * own lines would only repeat, in colour, errors that slalom reports in one line. Also sets the
 * process-wide level, which onnxruntime reads when it first initialises.
 */
export function ortLogSeverity(): 0 | 1 | 2 | 3 | 4 {
  const asked = process.env['SLALOM_ORT_LOG'];
  let level = 4;
  if (asked !== undefined && asked !== '') {
    level = /^[0-4]$/.test(asked) ? Number(asked) : ORT_LOG_LEVELS.indexOf(asked.toLowerCase() as (typeof ORT_LOG_LEVELS)[number]);
    if (level < 0) throw new InvalidArgumentError(`SLALOM_ORT_LOG must be one of ${ORT_LOG_LEVELS.join(', ')} (or 0–4), got '${asked}'`);
  }
  ort.env.logLevel = ORT_LOG_LEVELS[level]!;
  return level as 0 | 1 | 2 | 3 | 4;
}

/** ORT refuses typed arrays on a SharedArrayBuffer: copy those. */
export function ortSafe<T extends Float64Array | Uint8Array>(a: T): T {
  return a.buffer instanceof ArrayBuffer ? a : (a.slice() as T);
}
