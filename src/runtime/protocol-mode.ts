/**
 * The mode a LinearProtocol runs (docs/design.md §5), recorded by whoever built it from what it actually
 * does (accelerator, checks, pads), so a result is labelled with the protections that ran and no
 * others. A protocol nobody labelled has no mode: running with it is refused.
 */
import { InvalidArgumentError } from '../errors.js';
import type { LinearProtocol } from './linear-protocol.js';
import type { Mode } from './modes.js';

const modes = new WeakMap<LinearProtocol, Mode>();

/** Labels `protocol` with the mode it runs; returns it. */
export function labelProtocol<P extends LinearProtocol>(protocol: P, mode: Mode): P {
  modes.set(protocol, mode);
  return protocol;
}

export function protocolMode(protocol: LinearProtocol): Mode {
  const mode = modes.get(protocol);
  if (mode === undefined) throw new InvalidArgumentError('this protocol was not opened by openProtocol() (or trustedProtocol()): its mode is unknown');
  return mode;
}

/** The mode an outsourcing protocol runs, from its parts. */
export function outsourcedMode(checks: boolean, pads: boolean): Mode {
  if (pads) return checks ? 'private+verified' : 'private';
  return checks ? 'verified' : 'outsourced';
}
