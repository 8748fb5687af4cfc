/* VAE Latent Lab: a VAE encoder's forward pass in plain JavaScript ("Draw a digit").
 *
 * Runs the layer spec written by services/encoder_export.py (read its module doc for the format):
 * convolutions, ReLU / ELU / SiLU, flatten, the one-hot class label of a conditional model, and
 * linear layers, ending with the posterior's mean and log variance (clamped as VAE.encode does).
 * No dependencies and no build step: it can be joined with decoder.js, live.js, ... into the live
 * component's module (ui/live.py) and is loaded by Node in tests/unit/test_js_encoder.py. Its
 * weights come as a Float32Array, as decoder.js's vaeBytesToFloat32 makes them from the buffer
 * (float16 or float32); activations are float64.
 *
 * Speed: everything is allocated when the encoder is made, nothing per call. A convolution is an
 * im2col product: a precomputed table maps each (output position, c*kh*kw tap) to its input index
 * (-1 in the zero padding), each position's taps are gathered once into a row, then one dot
 * product per output channel with that channel's contiguous weights. Linear layers keep their
 * weights transposed, (in, out), and skip zero inputs (blank pixels, ReLU zeros).
 */

// The layer helpers shared with decoder.js (vaeSlice, vaeLinear, vaeTranspose, vaeActivate): in
// the browser both files are joined into one module, so they are in scope; Node loads decoder.js.
const vaeEncShared = typeof vaeLinear === "function"
  ? {vaeSlice, vaeLinear, vaeTranspose, vaeActivate}
  : require("./decoder.js");

function vaeEncConvTable(L) {
  /* (out positions P, taps K = in_ch*kh*kw) -> input index c*H*W + iy*W + ix, or -1 outside. */
  const [inH, inW] = L.in_hw, [outH, outW] = L.out_hw, [kh, kw] = L.kernel;
  const [sh, sw] = L.stride, [ph, pw] = L.padding, inC = L.in_ch;
  const K = inC * kh * kw, table = new Int32Array(outH * outW * K);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const base = (oy * outW + ox) * K;
      for (let c = 0; c < inC; c++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - ph + ky;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pw + kx;
            const inside = iy >= 0 && iy < inH && ix >= 0 && ix < inW;
            table[base + (c * kh + ky) * kw + kx] = inside ? (c * inH + iy) * inW + ix : -1;
          }
        }
      }
    }
  }
  return table;
}

function vaeEncConv(x, out, s, col) {
  /* out[o, p] = b[o] + sum_k W[o, k] x[table[p, k]]: W is (out_ch, K) as nn.Conv2d stores it. */
  const P = s.P, K = s.K, outC = s.L.out_ch, w = s.w, b = s.b, table = s.table;
  for (let p = 0; p < P; p++) {
    const base = p * K;
    for (let k = 0; k < K; k++) {
      const i = table[base + k];
      col[k] = i < 0 ? 0 : x[i];
    }
    for (let o = 0; o < outC; o++) {
      const row = o * K;
      let acc = b ? b[o] : 0;
      for (let k = 0; k < K; k++) acc += w[row + k] * col[k];
      out[o * P + p] = acc;
    }
  }
}

function vaeEncStep(L, shape, weights) {
  /* One spec layer applied to ``shape``: [step or null, the shape after it]. */
  const size = shape.reduce((p, q) => p * q, 1);
  if (L.op === "conv") {
    if (shape.length !== 3 || shape[0] !== L.in_ch || shape[1] !== L.in_hw[0] || shape[2] !== L.in_hw[1]) {
      throw new Error(`a convolution gets shape [${shape}]`);
    }
    for (let i = 0; i < 2; i++) {
      if (L.out_hw[i] !== Math.floor((L.in_hw[i] + 2 * L.padding[i] - L.kernel[i]) / L.stride[i]) + 1) {
        throw new Error(`a convolution's output size [${L.out_hw}] does not fit its input [${L.in_hw}]`);
      }
    }
    const K = L.in_ch * L.kernel[0] * L.kernel[1], P = L.out_hw[0] * L.out_hw[1];
    const step = {L, n: L.out_ch * P, P, K, table: vaeEncConvTable(L),
                  w: vaeEncShared.vaeSlice(weights, L.weight, L.out_ch * K, "weight"),
                  b: vaeEncShared.vaeSlice(weights, L.bias, L.out_ch, "bias")};
    return [step, [L.out_ch, L.out_hw[0], L.out_hw[1]]];
  }
  if (L.op === "linear") {
    if (L.in !== size || shape.length !== 1) throw new Error(`a linear layer of ${L.in} inputs gets shape [${shape}]`);
    const w = vaeEncShared.vaeSlice(weights, L.weight, L.in * L.out, "weight");
    const step = {L, n: L.out, w: vaeEncShared.vaeTranspose(w, L.out, L.in, Float32Array), b: vaeEncShared.vaeSlice(weights, L.bias, L.out, "bias")};
    return [step, [L.out]];
  }
  if (L.op === "flatten") return [null, [size]];
  if (L.op === "label") {
    if (shape.length !== 1) throw new Error(`the class label is appended to shape [${shape}], not to flat features`);
    return [{L, n: size + L.classes}, [size + L.classes]];
  }
  if (L.op === "relu" || L.op === "elu" || L.op === "silu") return [{L, n: -1}, shape];
  throw new Error(`unknown layer op ${L.op}`);
}

function vaeMakeEncoder(spec, weights) {
  /* An encoder for ``spec`` (services/encoder_export.py) and its Float32Array ``weights``:
   * encode(x, label) takes one image, C*H*W numbers in [0, 1] channel-major (an Array or typed
   * array), and for a conditional model (classes > 0) the class, an integer in 0..classes-1; it
   * returns {mean, logvar}, two Float64Arrays of latent_dim values (the same buffers are reused
   * by the next call). */
  if (!spec || spec.format !== "vae-latent-lab/encoder" || spec.version !== 1) {
    throw new Error("not a vae-latent-lab encoder spec (version 1)");
  }
  if (weights.length !== spec.params) throw new Error(`expected ${spec.params} weights, got ${weights.length}`);
  const [C, H, W] = spec.image_shape, D = spec.latent_dim, classes = spec.classes || 0;
  const [lo, hi] = spec.logvar_clamp;
  const steps = [];
  let shape = [C, H, W], widest = C * H * W, widestCol = 0;
  for (const L of spec.layers) {
    const [step, next] = vaeEncStep(L, shape, weights);
    if (step) steps.push(step);
    if (step && step.K) widestCol = Math.max(widestCol, step.K);
    if (L.op === "label" && L.classes !== classes) throw new Error(`a label of ${L.classes} classes in a spec of ${classes}`);
    shape = next;
    widest = Math.max(widest, shape.reduce((p, q) => p * q, 1));
  }
  if (shape.length !== 1 || shape[0] !== 2 * D) throw new Error(`the encoder ends with shape [${shape}], not ${2 * D} values`);
  let a = new Float64Array(widest), b = new Float64Array(widest);
  const col = new Float64Array(widestCol), mean = new Float64Array(D), logvar = new Float64Array(D);
  function encode(x, label) {
    if (!x || x.length !== C * H * W) throw new Error(`expected ${C * H * W} pixel values, got ${x ? x.length : x}`);
    if (classes > 0 && !(Number.isInteger(label) && label >= 0 && label < classes)) {
      throw new Error(`this model is conditional on ${classes} classes: give a class in 0..${classes - 1}, got ${label}`);
    }
    let n = C * H * W;
    for (let i = 0; i < n; i++) a[i] = x[i];
    for (const s of steps) {
      if (s.n < 0) { vaeEncShared.vaeActivate(a, n, s.L); continue; }
      if (s.L.op === "label") {
        a.fill(0, n, s.n);
        a[n + label] = 1;
        n = s.n;
        continue;
      }
      if (s.L.op === "linear") vaeEncShared.vaeLinear(a, b, s.w, s.b, n, s.n);
      else vaeEncConv(a, b, s, col);
      n = s.n;
      const t = a; a = b; b = t;
    }
    for (let i = 0; i < D; i++) {
      const v = a[D + i];
      mean[i] = a[i];
      logvar[i] = v < lo ? lo : v > hi ? hi : v;
    }
    return {mean, logvar};
  }
  return {latentDim: D, shape: [C, H, W], classes, encode};
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = {vaeMakeEncoder};
}
