/**
 * Float max pooling over NCHW planes of doubles (owner: src/kernels/float/pool.ts, which picks these
 * for the shapes they serve): f64x2.max is Math.max, so NaN propagates and +0 beats −0 exactly as
 * the plain kernels do.
 */

/**
 * 2×2 max pooling with stride 2 over `pairs` pairs of rows of `width` doubles (width even): each
 * pair gives one row of width/2 maxima at out. f64x2.max is Math.max: NaN propagates, +0 beats −0.
 */
export function maxPool2x2(x: usize, out: usize, pairs: i32, width: i32): void {
  const half = width >> 1;
  for (let pair = 0; pair < pairs; pair++) {
    const top = x + (<usize>(2 * pair * width) << 3);
    const bottom = top + (<usize>width << 3);
    const row = out + (<usize>(pair * half) << 3);
    let o = 0;
    for (; o + 2 <= half; o += 2) {
      const at = <usize>(2 * o) << 3;
      const m0 = f64x2.max(v128.load(top + at), v128.load(bottom + at));
      const m1 = f64x2.max(v128.load(top + at, 16), v128.load(bottom + at, 16));
      const evens = i8x16.shuffle(m0, m1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      const odds = i8x16.shuffle(m0, m1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
      v128.store(row + (<usize>o << 3), f64x2.max(evens, odds));
    }
    if (o < half) {
      const at = <usize>(2 * o) << 3;
      const m = f64x2.max(v128.load(top + at), v128.load(bottom + at));
      store<f64>(row + (<usize>o << 3), Math.max(f64x2.extract_lane(m, 0), f64x2.extract_lane(m, 1)));
    }
  }
}

/**
 * 3×3 max pooling with stride 2 and padding 1 on every side (the ResNet stem's), over `planes` planes
 * of h×w doubles at x, into planes of ⌊(h − 1)/2⌋ + 1 × ⌊(w − 1)/2⌋ + 1 at out. Separable: the max of
 * each window's three columns per input row into `rows` (h × out-width doubles of scratch), then of
 * three such rows. Padding never takes part; f64x2.max is Math.max (NaN propagates, +0 beats −0).
 */
export function maxPool3x3s2p1(x: usize, out: usize, planes: i32, h: i32, w: i32, rows: usize): void {
  const oh = (h - 1) / 2 + 1;
  const ow = (w - 1) / 2 + 1;
  for (let plane = 0; plane < planes; plane++) {
    const src = x + (<usize>(plane * h * w) << 3);
    const dst = out + (<usize>(plane * oh * ow) << 3);
    for (let r = 0; r < h; r++) {
      const row = src + (<usize>(r * w) << 3);
      const hrow = rows + (<usize>(r * ow) << 3);
      store<f64>(hrow, w > 1 ? Math.max(load<f64>(row), load<f64>(row, 8)) : load<f64>(row));
      let c = 1;
      // Two results from columns 2c − 1 … 2c + 3.
      for (; c + 1 < ow && 2 * c + 3 < w; c += 2) {
        const at = row + (<usize>(2 * c - 1) << 3);
        const v0 = v128.load(at); // 2c − 1, 2c
        const v1 = v128.load(at, 16); // 2c + 1, 2c + 2
        const v2 = v128.load(at, 24); // 2c + 2, 2c + 3
        const left = i8x16.shuffle(v0, v1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        const middle = i8x16.shuffle(v0, v1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        const right = i8x16.shuffle(v1, v2, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31);
        v128.store(hrow + (<usize>c << 3), f64x2.max(f64x2.max(left, middle), right));
      }
      for (; c < ow; c++) {
        let m = load<f64>(row + (<usize>(2 * c - 1) << 3));
        if (2 * c < w) m = Math.max(m, load<f64>(row + (<usize>(2 * c) << 3)));
        if (2 * c + 1 < w) m = Math.max(m, load<f64>(row + (<usize>(2 * c + 1) << 3)));
        store<f64>(hrow + (<usize>c << 3), m);
      }
    }
    for (let y = 0; y < oh; y++) {
      const first = max(2 * y - 1, 0);
      const last = min(2 * y + 1, h - 1);
      const target = dst + (<usize>(y * ow) << 3);
      let c = 0;
      for (; c + 2 <= ow; c += 2) {
        let m = v128.load(rows + (<usize>(first * ow + c) << 3));
        for (let r = first + 1; r <= last; r++) m = f64x2.max(m, v128.load(rows + (<usize>(r * ow + c) << 3)));
        v128.store(target + (<usize>c << 3), m);
      }
      for (; c < ow; c++) {
        let m = load<f64>(rows + (<usize>(first * ow + c) << 3));
        for (let r = first + 1; r <= last; r++) m = Math.max(m, load<f64>(rows + (<usize>(r * ow + c) << 3)));
        store<f64>(target + (<usize>c << 3), m);
      }
    }
  }
}
