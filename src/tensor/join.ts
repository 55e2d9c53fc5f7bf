/**
 * Typed arrays laid one after the other: the batch of several requests (the accelerator host and
 * service's batcher), the bytes of an ONNX model (onnx/build.ts).
 */
type Joinable = Uint8Array | Uint32Array | Float64Array;

/** `parts` in one array of their type; a lone part comes back as it is (no copy). */
export function joinArrays<T extends Joinable>(parts: readonly T[]): T {
  if (parts.length === 1) return parts[0]!;
  const Kind = (parts[0]?.constructor ?? Uint8Array) as new (length: number) => T;
  const out = new Kind(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p as never, at);
    at += p.length;
  }
  return out;
}
