/**
 * Uniform parameter blocks: one list of u32 field names per kernel gives both the WGSL struct and
 * the packing of its values, so the two cannot disagree.
 */

/** `struct Params { a: u32, b: u32, … }`, padded to a multiple of 16 bytes (uniform layout). */
export function paramsStruct(fields: readonly string[]): string {
  const padded = [...fields];
  for (let i = 0; padded.length % 4 !== 0; i++) padded.push(`_pad${i}`);
  return `struct Params {\n${padded.map((f) => `  ${f}: u32,`).join('\n')}\n}`;
}

/** The bytes of a Params block: every field, in order, as a u32; a missing or out-of-range value throws. */
export function packParams<F extends string>(fields: readonly F[], values: Readonly<Record<F, number>>): Uint32Array {
  const out = new Uint32Array(Math.ceil(fields.length / 4) * 4);
  fields.forEach((f, i) => {
    const v = values[f];
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError(`kernel parameter ${f} = ${String(v)} is not a u32`);
    out[i] = v;
  });
  return out;
}
