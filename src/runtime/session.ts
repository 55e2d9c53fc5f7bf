/**
 * Opens the LinearProtocol a mode needs (DESIGN.md §5). `baseline` computes every layer in the
 * trusted runtime; the outsourcing modes attach an accelerator.
 */
import { InvalidArgumentError } from '../errors.js';
import type { LinearProtocol } from './linear-protocol.js';
import type { SlalomModel } from './model.js';
import type { Mode } from './modes.js';
import { trustedProtocol } from './protocols/trusted.js';

export async function openProtocol(_model: SlalomModel, mode: Mode): Promise<LinearProtocol> {
  if (mode === 'baseline') return trustedProtocol();
  throw new InvalidArgumentError(`mode '${mode}' is not available in this build`);
}
