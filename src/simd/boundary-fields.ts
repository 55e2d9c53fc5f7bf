/**
 * The layout of a boundary pass's plan block (docs/design.md §7): f64 slots at 8·index in the module's
 * memory, written by src/simd/boundary.ts and read by the kernel src/simd/assembly/boundary.ts,
 * which imports this very file (plain constants, valid TypeScript and AssemblyScript alike), so the
 * two sides cannot disagree. Pointers are byte offsets into the module's memory; 0 means absent.
 */

/** What the pass reads: 0 a reply's residues (u32), 1 floats (f64), 2 residues already on the next layer's grid (u32). */
export const SOURCE = 0;
export const SOURCE_AT = 1;
/** The source as ROWS rows of ROW_LEN values: a check row and a bias run each (a Conv's output planes; a Gemm's items). */
export const ROWS = 2;
export const ROW_LEN = 3;
/** Freivalds' output side: per row, Σ_q y[q]·s[q] mod p for two secrets (u32 weights of ROW_LEN), into 2 u32 per row. */
export const CHECK_SA = 4;
export const CHECK_SB = 5;
export const CHECK_SUMS = 6;
/** The unblinding factor u, packed 3 bytes per value (16 bytes readable past the last). */
export const UNBLIND_AT = 7;
/** Bias residues (i32): per row (row mod CHANNELS) when BIAS_PER_COLUMN is 0, else per position in the row. */
export const BIAS_AT = 8;
export const BIAS_PER_COLUMN = 9;
export const CHANNELS = 10;
/** The clamp in integer units. */
export const LO = 11;
export const HI = 12;
/** A fused 2×2 max pool (stride 2): rows are planes of ROW_LEN / POOL_WIDTH rows of POOL_WIDTH values; 0 when none. */
export const POOL_WIDTH = 13;
/** ≥ 0: the next layer's grid is this right shift of the integer outputs; −1: outputs leave as floats. */
export const SHIFT = 14;
/** 2^−(lx+lw): an integer output as a float. */
export const DEQUANT = 15;
/** A residual Add's other operand (f64, one per output), and whether a ReLU follows the Add. */
export const ADDEND_AT = 16;
export const RELU = 17;
/** Where float outputs go (f64). */
export const FLOAT_OUT_AT = 18;
/** 2^lx′: floats onto the next layer's grid, round half up; 0 when floats are not quantized. */
export const QUANT_SCALE = 19;
/** The next layer's input residues (u32), blinded when PAD_AT is given. */
export const NEXT_AT = 20;
/** Next-layer values per item (the input side's unit). */
export const NEXT_ITEM = 21;
/** Freivalds' input side of the next layer: per item, ⟨x′, T⟩ mod p for two secrets (u32 T of NEXT_ITEM), into 2 u32 per item. */
export const CHECK_TA = 22;
export const CHECK_TB = 23;
export const CHECK_DOTS = 24;
/** Keystream bytes for the next layer's pad: 24-bit little-endian words, those ≥ p skipped (rejection sampling). */
export const PAD_AT = 25;
/** Results: 1 when a reply value is not a residue; max |z| before the clamp; max |x′|; 1 when a float did not round to an int32; keystream bytes used. */
export const OUT_BAD = 26;
export const OUT_WORST = 27;
export const OUT_NEXT_MAX = 28;
export const OUT_INEXACT = 29;
export const OUT_PAD_BYTES = 30;
export const FIELDS = 31;

export const SOURCE_REPLY = 0;
export const SOURCE_FLOATS = 1;
export const SOURCE_RESIDUES = 2;
