/** The inference modes of docs/design.md §5. */
export const MODES = ['baseline', 'outsourced', 'verified', 'private', 'private+verified'] as const;
export type Mode = (typeof MODES)[number];

export function isMode(s: string): s is Mode {
  return (MODES as readonly string[]).includes(s);
}

/** Modes that give the accelerator plaintext activations and check nothing: for measurement only. */
export const INSECURE_MODES: ReadonlySet<Mode> = new Set(['outsourced']);
