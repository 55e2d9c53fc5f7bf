/** slalom's version, recorded in the artifacts it writes and printed by `slalom --version`. */
export const SLALOM_VERSION = '0.1.0';
