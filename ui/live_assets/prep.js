/* VAE Latent Lab: the MNIST-style preparation of a drawing, in plain JavaScript ("Draw a digit").
 *
 * The same steps, in the same order and with the same arithmetic, as services/preprocess.py does
 * to an uploaded PNG of the drawing (prepare(png, (1, H, W), style, invert)), so the browser's
 * 28x28 input is the server's, pixel for pixel:
 *   work size   a drawing over max(256, 4*max(H, W)) pixels on its longer side is reduced first
 *               (Pillow's BOX filter; RGBA through premultiplied alpha, as Image.resize does);
 *   flatten     RGBA with any transparency goes over white (dark ink) or black (light ink);
 *   grayscale   ITU-R 601-2 luma, Pillow's integer formula;
 *   invert      when the border's median is light ("auto"), or always ("yes");
 *   level       background (border median) to black, brightest pixel to white, when needed;
 *   crop        to the box of pixels brighter than max(8, 20% of the brightest);
 *   fit         the longer side to 20 px (of 28; "fit": the whole frame), Pillow's LANCZOS;
 *   place       centre of mass at (H/2, W/2) ("fit": centred by the box).
 * Resampling is Pillow 13's 8-bit resampler (libImaging/Resample.c) re-done here: the filter's
 * coefficients in float64, normalised to 22-bit fixed point, integer sums rounded to 8 bits
 * after each pass (horizontal then vertical, or vertical first when the height shrinks more
 * than twice as much as the width). Rounding follows NumPy/Python (half to even). The only
 * possible difference is Math.sin against the C library's sin in the LANCZOS weights (at most
 * 1 ulp), which could move a weight by one 2^-22 step and a pixel by one grey level.
 * No dependencies: it can be joined with decoder.js, encoder.js, ... into the live component's
 * module; loaded by Node in tests/unit/test_js_prep.py.
 */

const VAE_PREP_BLANK = "The image looks blank: it has no visible strokes or shapes, so there is nothing to crop to.";
const VAE_PREP_BITS = 22;  // Pillow's PRECISION_BITS for 8-bit images

function vaePrepRound(x) {
  /* Round half to even, as Python's round() and NumPy's round() do. */
  const f = Math.floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

const VAE_PREP_FILTERS = {
  box: {support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0)},
  lanczos: {support: 3.0, f: (x) => (-3.0 <= x && x < 3.0 ? vaePrepSinc(x) * vaePrepSinc(x / 3) : 0.0)},
};

function vaePrepSinc(x) {
  if (x === 0.0) return 1.0;
  const t = x * Math.PI;
  return Math.sin(t) / t;
}

function vaePrepCoeffs(inSize, outSize, filter) {
  /* Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output pixel, the first input
   * index, the number of inputs and their fixed-point weights (ksize slots each). */
  const scale = inSize / outSize, filterscale = Math.max(scale, 1.0);
  const support = filter.support * filterscale, ksize = Math.ceil(support) * 2 + 1;
  const inv = 1.0 / filterscale, bounds = new Int32Array(2 * outSize);
  const pre = new Float64Array(ksize), kk = new Int32Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.f((x + xmin - center + 0.5) * inv);
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0.0 ? pre[x] / ww : pre[x];
      kk[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * 2 ** VAE_PREP_BITS : 0.5 + k * 2 ** VAE_PREP_BITS);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return {bounds, kk, ksize};
}

function vaePrepPass(src, w, h, bands, outLen, c, horizontal) {
  /* One resampling pass over ``bands`` interleaved 8-bit channels: along x (to outLen columns)
   * or along y (to outLen rows). Sums stay within int32, as in Pillow (2 guard bits). */
  const ow = horizontal ? outLen : w, oh = horizontal ? h : outLen;
  const out = new Uint8Array(ow * oh * bands);
  if (horizontal) vaePrepPassX(src, out, w, h, bands, outLen, c.bounds, c.kk, c.ksize);
  else vaePrepPassY(src, out, w, bands, outLen, c.bounds, c.kk, c.ksize);
  return out;
}

function vaePrepPassX(src, out, w, h, bands, ow, bounds, kk, ksize) {
  const half = 1 << (VAE_PREP_BITS - 1);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      const n = bounds[2 * x + 1], k = x * ksize, start = (y * w + bounds[2 * x]) * bands, o = (y * ow + x) * bands;
      for (let b = 0; b < bands; b++) {
        let ss = half;
        for (let t = 0, at = start + b; t < n; t++, at += bands) ss += src[at] * kk[k + t];
        const v = ss >> VAE_PREP_BITS;
        out[o + b] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
}

function vaePrepPassY(src, out, w, bands, oh, bounds, kk, ksize) {
  const half = 1 << (VAE_PREP_BITS - 1), row = w * bands;
  for (let y = 0; y < oh; y++) {
    const n = bounds[2 * y + 1], k = y * ksize, start = bounds[2 * y] * row;
    for (let i = 0; i < row; i++) {
      let ss = half;
      for (let t = 0, at = start + i; t < n; t++, at += row) ss += src[at] * kk[k + t];
      const v = ss >> VAE_PREP_BITS;
      out[y * row + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}

function vaePrepResize(src, w, h, bands, outW, outH, filterName) {
  /* Pillow's Image.resize of an 8-bit image (bands 1, 3 or 4 channels, not premultiplied:
   * see vaePrepResizeRGBA) with its "box" or "lanczos" filter. */
  if (outW === w && outH === h) return Uint8Array.from(src);
  const filter = VAE_PREP_FILTERS[filterName];
  const horizontalFirst = !((h - outH) > 0 && (h - outH) > (w - outW) * 2);
  let img = src, cw = w, ch = h;
  const passes = horizontalFirst ? ["x", "y"] : ["y", "x"];
  for (const axis of passes) {
    if (axis === "x" && outW !== w) {
      img = vaePrepPass(img, cw, ch, bands, outW, vaePrepCoeffs(w, outW, filter), true);
      cw = outW;
    } else if (axis === "y" && outH !== h) {
      img = vaePrepPass(img, cw, ch, bands, outH, vaePrepCoeffs(h, outH, filter), false);
      ch = outH;
    }
  }
  return img;
}

function vaePrepResizeRGBA(src, w, h, outW, outH, filterName) {
  /* RGBA resized as Pillow does it: premultiplied (RGBa), resized, divided back. */
  const n = w * h, pre = new Uint8Array(4 * n);
  for (let p = 0; p < n; p++) {
    const a = src[4 * p + 3];
    for (let b = 0; b < 3; b++) {
      const t = src[4 * p + b] * a + 128;  // MULDIV255
      pre[4 * p + b] = ((t >> 8) + t) >> 8;
    }
    pre[4 * p + 3] = a;
  }
  const out = vaePrepResize(pre, w, h, 4, outW, outH, filterName);
  for (let p = 0; p < outW * outH; p++) {
    const a = out[4 * p + 3];
    if (a === 0 || a === 255) continue;
    for (let b = 0; b < 3; b++) out[4 * p + b] = Math.min(255, Math.floor((255 * out[4 * p + b]) / a));
  }
  return out;
}

function vaePrepFlatten(img) {
  /* {data, width, height, channels 1/3/4} -> RGB bytes: transparency goes over a background
   * that contrasts with the opaque pixels' mean (services/preprocess.py's _flatten_alpha). */
  const {data, width, height, channels} = img, n = width * height, rgb = new Uint8Array(3 * n);
  if (channels !== 4) {
    for (let p = 0; p < n; p++) for (let b = 0; b < 3; b++) rgb[3 * p + b] = data[p * channels + (channels === 3 ? b : 0)];
    return rgb;
  }
  let minAlpha = 255, sum = 0, count = 0;
  for (let p = 0; p < n; p++) {
    const a = data[4 * p + 3];
    if (a < minAlpha) minAlpha = a;
    if (a > 127) { sum += data[4 * p] + data[4 * p + 1] + data[4 * p + 2]; count += 3; }
  }
  const bg = minAlpha === 255 ? 0 : (count ? sum / count : 0.0) < 128 ? 255 : 0;
  for (let p = 0; p < n; p++) {
    const a = data[4 * p + 3];
    for (let b = 0; b < 3; b++) {
      const t = bg * (255 - a) + data[4 * p + b] * a + 128;  // Pillow's paste with an L mask: DIV255
      rgb[3 * p + b] = minAlpha === 255 ? data[4 * p + b] : ((t >> 8) + t) >> 8;
    }
  }
  return rgb;
}

function vaePrepMedian(values) {
  const s = Float64Array.from(values).sort(), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function vaePrepBorder(g, w, h) {
  /* The outermost rows and columns (corners twice), as preprocess._border. */
  const out = [];
  for (let x = 0; x < w; x++) out.push(g[x]);
  for (let x = 0; x < w; x++) out.push(g[(h - 1) * w + x]);
  for (let y = 0; y < h; y++) out.push(g[y * w]);
  for (let y = 0; y < h; y++) out.push(g[y * w + w - 1]);
  return out;
}

function vaePrepRange(g) {
  let lo = 255, peak = 0;
  for (let i = 0; i < g.length; i++) {
    const v = g[i];
    if (v < lo) lo = v;
    if (v > peak) peak = v;
  }
  return [lo, peak];
}

function vaePrepLevel(g, w, h) {
  /* preprocess._level: null when not needed, "blank" when there is no contrast. The result
   * depends on the grey value alone, so it is one 256-entry table. */
  const [lo, peak] = vaePrepRange(g);
  if (peak - lo < 16) return "blank";
  const bg = vaePrepMedian(vaePrepBorder(g, w, h));
  if (peak - bg < 16 || (bg < 8 && peak >= 192)) return null;
  const gain = 255.0 / (peak - bg), table = new Uint8Array(256), out = new Uint8Array(g.length);
  for (let v = 0; v < 256; v++) table[v] = Math.min(255, Math.max(0, vaePrepRound((v - bg) * gain)));
  for (let i = 0; i < g.length; i++) out[i] = table[g[i]];
  return out;
}

function vaePrepCrop(g, w, h) {
  /* preprocess._crop_to_content: {data, width, height}, or null when blank. */
  const peak = vaePrepRange(g)[1];
  if (peak < 16) return null;
  const thr = Math.max(8, 0.2 * peak);
  let x0 = w, x1 = -1, y0 = h, y1 = -1;
  for (let y = 0; y < h; y++) {
    let first = -1, last = -1;
    for (let x = 0, i = y * w; x < w; x++, i++) {
      if (g[i] > thr) { if (first < 0) first = x; last = x; }
    }
    if (first < 0) continue;
    if (y0 > y) y0 = y;
    y1 = y;
    if (x0 > first) x0 = first;
    if (x1 < last) x1 = last;
  }
  const cw = x1 - x0 + 1, ch = y1 - y0 + 1, out = new Uint8Array(cw * ch);
  for (let y = 0; y < ch; y++) out.set(g.subarray((y0 + y) * w + x0, (y0 + y) * w + x0 + cw), y * cw);
  return {data: out, width: cw, height: ch};
}

function vaePrepPlace(img, H, W, byMass) {
  /* preprocess._place: paste into a black HxW canvas, centre of mass at (H/2, W/2) or centred. */
  const {data, width: w, height: h} = img;
  let top = Math.floor((H - h) / 2), left = Math.floor((W - w) / 2), total = 0, sy = 0, sx = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { const v = data[y * w + x]; total += v; sy += y * v; sx += x * v; }
  if (byMass && total > 0) { top = vaePrepRound(H / 2 - sy / total); left = vaePrepRound(W / 2 - sx / total); }
  top = Math.min(Math.max(top, 0), H - h);
  left = Math.min(Math.max(left, 0), W - w);
  const out = new Uint8Array(H * W);
  for (let y = 0; y < h; y++) out.set(data.subarray(y * w, y * w + w), (top + y) * W + left);
  return out;
}

function vaePrepCropFitPlace(gray, width, height, H, W, style, step) {
  /* preprocess._crop_fit_place: level, crop to content, fit and place in HxW, calling
   * step(caption, pixels, w, h) for each; null when nothing is drawn. */
  const levelled = vaePrepLevel(gray, width, height);
  if (levelled === "blank") return null;
  if (levelled) { gray = levelled; step("background to black, contrast stretched", gray, width, height); }
  const cropped = vaePrepCrop(gray, width, height);
  if (!cropped) return null;
  step("cropped to content", cropped.data, cropped.width, cropped.height);
  const box = style === "mnist" ? vaePrepRound(Math.min(H, W) * 20 / 28) : Math.min(H, W);
  const s = box / Math.max(cropped.width, cropped.height);
  const fw = Math.max(1, vaePrepRound(cropped.width * s)), fh = Math.max(1, vaePrepRound(cropped.height * s));
  const fitted = {data: vaePrepResize(cropped.data, cropped.width, cropped.height, 1, fw, fh, "lanczos"),
                  width: fw, height: fh};
  step(`fit into ${box}x${box}`, fitted.data, fw, fh);
  const out = vaePrepPlace(fitted, H, W, style === "mnist");
  step(style === "mnist" ? `centred by mass in ${W}x${H}` : `centred in ${W}x${H}`, out, W, H);
  return out;
}

function vaePrepare(img, opts = {}) {
  /* A drawing {data, width, height, channels}: 8-bit pixels row by row, channels 4 (RGBA, as a
   * canvas's ImageData), 3 (RGB) or 1 (gray) -> {ok, image, pixels, steps[, blank, message]}:
   * ``image`` the HxW model input (Float32Array in [0, 1]; ``pixels`` as bytes) and ``steps``
   * [{caption, width, height, channels, data}], services/preprocess.py's captions and arrays.
   * Nothing drawn (no contrast) gives ok false, blank true, the server's message and the steps
   * so far. opts: height, width (28), style "mnist" | "fit" | "resize", invert "auto" | "yes" | "no". */
  const H = opts.height || 28, W = opts.width || 28, style = opts.style || "mnist", invert = opts.invert || "auto";
  if (!["mnist", "fit", "resize"].includes(style) || !["auto", "yes", "no"].includes(invert)) {
    throw new Error(`unknown style ${style} or invert ${invert}`);
  }
  if (!(Number.isInteger(H) && Number.isInteger(W) && H >= 4 && W >= 4 && H <= 256 && W <= 256)) {
    throw new Error(`the model's image size must be 4..256 pixels a side, got ${W}x${H}`);
  }
  let {data, width, height, channels} = img;
  if (![1, 3, 4].includes(channels) || !(width > 0 && height > 0) || data.length !== width * height * channels) {
    throw new Error(`expected ${width}x${height} pixels of 1, 3 or 4 channels, got ${data.length} values`);
  }
  const maxSide = Math.max(256, 4 * Math.max(H, W));
  if (Math.max(width, height) > maxSide) {
    const s = maxSide / Math.max(width, height);
    const ow = Math.max(1, vaePrepRound(width * s)), oh = Math.max(1, vaePrepRound(height * s));
    data = channels === 4 ? vaePrepResizeRGBA(data, width, height, ow, oh, "box")
      : vaePrepResize(data, width, height, channels, ow, oh, "box");
    width = ow; height = oh;
  }
  const rgb = vaePrepFlatten({data, width, height, channels}), n = width * height;
  const steps = [{caption: "uploaded", width, height, channels: 3, data: rgb}];
  const step = (caption, d, w, h) => steps.push({caption, width: w, height: h, channels: 1, data: d});
  let gray = new Uint8Array(n);
  for (let p = 0; p < n; p++) gray[p] = (rgb[3 * p] * 19595 + rgb[3 * p + 1] * 38470 + rgb[3 * p + 2] * 7471 + 0x8000) >> 16;
  step("grayscale", gray, width, height);
  if (invert === "yes" || (invert === "auto" && vaePrepMedian(vaePrepBorder(gray, width, height)) > 127)) {
    const inverted = new Uint8Array(n);
    for (let p = 0; p < n; p++) inverted[p] = 255 - gray[p];
    gray = inverted;
    step(invert === "auto" ? "inverted (light background)" : "inverted", gray, width, height);
  }
  const blank = () => ({ok: false, blank: true, message: VAE_PREP_BLANK, steps, image: null, pixels: null});
  let out;
  if (style === "resize") {
    out = vaePrepResize(gray, width, height, 1, W, H, "lanczos");
    step(`resized to ${W}x${H}`, out, W, H);
  } else {
    out = vaePrepCropFitPlace(gray, width, height, H, W, style, step);
    if (!out) return blank();
  }
  return {ok: true, blank: false, message: "", steps, pixels: out, image: Float32Array.from(out, (v) => v / 255)};
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = {vaePrepare, vaePrepResize, vaePrepRound, VAE_PREP_BLANK};
}
