/* VAE Latent Lab: a VAE decoder's forward pass in plain JavaScript.
 *
 * Runs the layer spec written by services/export.py (read its module doc for the format): linear
 * layers, ReLU / ELU / SiLU, a reshape, and transposed convolutions, then a sigmoid (Bernoulli
 * decoder) or a clamp to [0, 1] (Gaussian decoder). A class-conditional decoder (spec version 3,
 * spec.classes = K > 0) takes z followed by the one-hot vector of a class: decode(z, cls). The same file is part of the app's browser
 * component (ui/live.py) and loaded by Node in tests/unit/test_js_decoder.py.
 * Weights come as little-endian float16 or float32 (spec.dtype) and are widened to float32;
 * activations are computed in float64.
 */

function vaeBase64ToBytes(b64) {
  /* base64 -> Uint8Array (the inline path: weights inside the component's data). */
  if (typeof atob !== "function") return new Uint8Array(Buffer.from(b64, "base64"));
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function vaeHalfToFloat(h) {
  /* One IEEE 754 half-precision value (its 16 bits) -> a number: sign, 5-bit exponent (bias 15),
   * 10-bit fraction; exponent 0 is zero or subnormal (f * 2^-24), exponent 31 infinity or NaN. */
  const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f === 0 ? sign * Infinity : NaN;
  return sign * (1024 + f) * 2 ** (e - 25);
}

let VAE_HALF_TABLE = null;  // all 65536 half values as float32, built on first use

function vaeBytesToFloat32(bytes, dtype) {
  /* Little-endian "float32" (the default) or "float16" values (a Uint8Array) -> Float32Array. */
  const half = dtype === "float16";
  if (!half && dtype !== undefined && dtype !== "float32") throw new Error(`unknown weight dtype ${dtype}`);
  const size = half ? 2 : 4;
  if (bytes.length % size !== 0) {
    throw new Error(`the weights are not a whole number of ${half ? "float16" : "float32"} values`);
  }
  const out = new Float32Array(bytes.length / size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!half) {
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  if (VAE_HALF_TABLE === null) {
    VAE_HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) VAE_HALF_TABLE[h] = vaeHalfToFloat(h);
  }
  for (let i = 0; i < out.length; i++) out[i] = VAE_HALF_TABLE[view.getUint16(2 * i, true)];
  return out;
}

function vaeSlice(weights, where, expected, what) {
  if (where === null || where === undefined) return null;
  const [offset, count] = where;
  if (count !== expected || offset < 0 || offset + count > weights.length) {
    throw new Error(`bad ${what} location [${offset}, ${count}], expected ${expected} values`);
  }
  return weights.subarray(offset, offset + count);
}

function vaeLinear(x, out, wt, b, nIn, nOut) {
  /* out = b + W x, with W stored transposed (nIn, nOut): one contiguous axpy per non-zero
   * input (after a ReLU about half of them are zero). */
  if (b) for (let j = 0; j < nOut; j++) out[j] = b[j];
  else out.fill(0, 0, nOut);
  for (let i = 0; i < nIn; i++) {
    const v = x[i];
    if (v === 0) continue;
    const row = i * nOut;
    for (let j = 0; j < nOut; j++) out[j] += v * wt[row + j];
  }
}

function vaeTranspose(w, rows, cols, Type = Float64Array) {
  /* (rows, cols) row-major -> (cols, rows) row-major, as ``Type`` (float64 unless asked). */
  const t = new Type(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

function vaeDeconv(x, out, wt, b, L, acc) {
  /* Transposed convolution: y[o, iy*s - p + ky, ix*s - p + kx] += x[c, iy, ix] W[c, o, ky, kx].
   * ``wt`` holds W as (c, ky, kx, o) and ``acc`` accumulates channel-last (oy, ox, o), so the
   * innermost loop runs over output channels in contiguous memory; then acc -> out (o, oy, ox). */
  const [inH, inW] = L.in_hw, [outH, outW] = L.out_hw, [kh, kw] = L.kernel;
  const [sh, sw] = L.stride, [ph, pw] = L.padding, inC = L.in_ch, outC = L.out_ch;
  const plane = outH * outW;
  acc.fill(0, 0, plane * outC);
  for (let c = 0; c < inC; c++) {
    for (let iy = 0; iy < inH; iy++) {
      for (let ix = 0; ix < inW; ix++) {
        const v = x[(c * inH + iy) * inW + ix];
        if (v === 0) continue;  // after a ReLU most inputs are 0
        for (let ky = 0; ky < kh; ky++) {
          const oy = iy * sh - ph + ky;
          if (oy < 0 || oy >= outH) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ox = ix * sw - pw + kx;
            if (ox < 0 || ox >= outW) continue;
            const ob = (oy * outW + ox) * outC, wb = ((c * kh + ky) * kw + kx) * outC;
            for (let o = 0; o < outC; o++) acc[ob + o] += v * wt[wb + o];
          }
        }
      }
    }
  }
  for (let o = 0; o < outC; o++) {
    const bo = b ? b[o] : 0, base = o * plane;
    for (let p = 0; p < plane; p++) out[base + p] = acc[p * outC + o] + bo;
  }
}

function vaeDeconvWeights(w, L) {
  /* W (c, o, ky, kx) -> (c, ky, kx, o), as float64. */
  const inC = L.in_ch, outC = L.out_ch, k = L.kernel[0] * L.kernel[1];
  const t = new Float64Array(w.length);
  for (let c = 0; c < inC; c++) {
    for (let o = 0; o < outC; o++) {
      for (let q = 0; q < k; q++) t[(c * k + q) * outC + o] = w[(c * outC + o) * k + q];
    }
  }
  return t;
}

function vaeActivate(a, n, L) {
  if (L.op === "relu") {
    for (let i = 0; i < n; i++) if (a[i] < 0) a[i] = 0;
  } else if (L.op === "elu") {
    const alpha = L.alpha;
    for (let i = 0; i < n; i++) if (a[i] < 0) a[i] = alpha * Math.expm1(a[i]);
  } else {  // silu
    for (let i = 0; i < n; i++) a[i] = a[i] / (1 + Math.exp(-a[i]));
  }
}

function vaeClasses(spec) {
  /* The number of classes K of a spec: 0 (unconditional) before version 3 or when absent. */
  if (!spec || spec.format !== "vae-latent-lab/decoder" || ![1, 2, 3].includes(spec.version)) {
    throw new Error("not a vae-latent-lab decoder spec (version 1, 2 or 3)");
  }
  const k = spec.version >= 3 && spec.classes !== undefined ? spec.classes : 0;
  if (!Number.isInteger(k) || k < 0) throw new Error(`bad class count ${k}`);
  return k;
}

function vaeMakeDecoder(spec, weights) {
  /* A decoder for ``spec`` (services/export.py) and its Float32Array ``weights``:
   * decode(z, cls) takes latent_dim numbers (and, for a decoder conditional on K = spec.classes
   * classes, the class: an integer 0..K-1, appended to z as a one-hot vector; ignored when K = 0)
   * and returns a Float64Array of C*H*W pixel means in [0, 1], channel-major (the same buffer is
   * reused by the next call). */
  const K = vaeClasses(spec), D = spec.latent_dim;
  if (weights.length !== spec.params) throw new Error(`expected ${spec.params} weights, got ${weights.length}`);
  const steps = [];
  let size = D + K, shape = [size], widest = size;
  for (const L of spec.layers) {
    if (L.op === "linear") {
      if (L.in !== size) throw new Error(`a linear layer of ${L.in} inputs gets ${size} values`);
      const w = vaeSlice(weights, L.weight, L.in * L.out, "weight");
      steps.push({L, n: L.out, w: vaeTranspose(w, L.out, L.in), b: vaeSlice(weights, L.bias, L.out, "bias")});
      size = L.out; shape = [size];
    } else if (L.op === "deconv") {
      if (shape.length !== 3 || shape[0] !== L.in_ch || shape[1] !== L.in_hw[0] || shape[2] !== L.in_hw[1]) {
        throw new Error(`a transposed convolution gets shape [${shape}]`);
      }
      const nw = L.in_ch * L.out_ch * L.kernel[0] * L.kernel[1];
      shape = [L.out_ch, L.out_hw[0], L.out_hw[1]];
      size = shape[0] * shape[1] * shape[2];
      const w = vaeSlice(weights, L.weight, nw, "weight");
      steps.push({L, n: size, w: vaeDeconvWeights(w, L), b: vaeSlice(weights, L.bias, L.out_ch, "bias")});
    } else if (L.op === "reshape") {
      if (L.shape.reduce((p, q) => p * q, 1) !== size) throw new Error(`cannot reshape ${size} values to [${L.shape}]`);
      shape = L.shape.slice();
    } else if (L.op === "relu" || L.op === "elu" || L.op === "silu") {
      steps.push({L, n: -1});
    } else {
      throw new Error(`unknown layer op ${L.op}`);
    }
    widest = Math.max(widest, size);
  }
  const [C, H, W] = spec.image_shape;
  if (size !== C * H * W) throw new Error(`the decoder ends with ${size} values, not ${C}x${H}x${W}`);
  let a = new Float64Array(widest), b = new Float64Array(widest);
  const acc = new Float64Array(widest);
  const result = new Float64Array(size), sigmoid = spec.output === "sigmoid";
  if (!sigmoid && spec.output !== "clamp") throw new Error(`unknown output ${spec.output}`);
  function decode(z, cls) {
    if (z.length !== D) throw new Error(`expected ${D} latent values, got ${z.length}`);
    if (K > 0 && !(Number.isInteger(cls) && cls >= 0 && cls < K)) {
      throw new Error(`this decoder is conditional on ${K} classes: give a class 0..${K - 1}, got ${cls}`);
    }
    let n = D + K;
    for (let i = 0; i < D; i++) a[i] = z[i];
    for (let c = 0; c < K; c++) a[D + c] = c === cls ? 1 : 0;
    for (const s of steps) {
      if (s.n < 0) { vaeActivate(a, n, s.L); continue; }
      if (s.L.op === "linear") vaeLinear(a, b, s.w, s.b, n, s.n);
      else vaeDeconv(a, b, s.w, s.b, s.L, acc);
      n = s.n;
      const t = a; a = b; b = t;
    }
    for (let i = 0; i < n; i++) {
      const v = a[i];
      result[i] = sigmoid ? 1 / (1 + Math.exp(-v)) : (v < 0 ? 0 : v > 1 ? 1 : v);
    }
    return result;
  }
  return {latentDim: D, classes: K, shape: [C, H, W], decode};
}

function vaeToRGBA(img, shape, rgba) {
  /* Pixel means (C*H*W, channel-major, in [0, 1]) -> RGBA bytes (H*W*4) for an ImageData. */
  const [C, H, W] = shape, plane = H * W;
  for (let p = 0; p < plane; p++) {
    const r = Math.round(255 * img[p]);
    rgba[4 * p] = r;
    rgba[4 * p + 1] = C === 3 ? Math.round(255 * img[plane + p]) : r;
    rgba[4 * p + 2] = C === 3 ? Math.round(255 * img[2 * plane + p]) : r;
    rgba[4 * p + 3] = 255;
  }
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = {vaeActivate, vaeBase64ToBytes, vaeBytesToFloat32, vaeHalfToFloat, vaeLinear, vaeMakeDecoder,
                    vaeSlice, vaeToRGBA, vaeTranspose};
}
