/* VAE Latent Lab: "Draw a digit", a drawing canvas as an input source (st.components.v2, ui/draw.py).
 *
 * ui/draw.py joins decoder.js, encoder.js, prep.js, draw_plane.js (the small latent plane, the
 * step images) and this file, in that order, into one ES module (inlined, or under serve.py
 * imported by loader.js from a cacheable URL). The canvas
 * takes pointer events (mouse, touch and pen; touch-action: none) and draws white ink on black,
 * as MNIST's digits are. While a stroke goes on, at most once per animation frame and with no
 * message to the server: the canvas's pixels -> vaePrepare (prep.js: the server's MNIST-style
 * preparation, pixel for pixel) -> the encoder's posterior mean (encoder.js; with data.label for
 * a conditional model) -> the decoder (decoder.js) -> the reconstruction beside the canvas, the
 * code's position as a dot on a small latent plane (z itself for 2-D, else the PCA plane's
 * coordinates (mean - origin) . axes, data.plane.basis), and the preparation's steps as small
 * images. When the pen is lifted it sends ONE value, setStateValue("drawing", {pixels, width,
 * height}): the prepared gray levels as base64 bytes (null when blank or cleared), which Python
 * re-checks (services/drawing.py) and reconstructs again. Without an encoder/decoder for the
 * browser (data.reason), or when they fail here (setTriggerValue("failed", message)), it still
 * draws and prepares, and the server's reconstruction follows the release.
 * window.__vaeDraw counts moves, frames that painted a new reconstruction and timings, and keeps
 * the last value sent with the browser's posterior mean for it, for tests and bench/draw_fps.py.
 */

const DRAW_MODELS = new Map();    // "enc:" / "dec:" + id -> encoder or decoder
const DRAW_LOADING = new Map();   // the same keys -> promise, while weights are fetched
const DRAW_INSTANCES = new WeakMap();
const DRAW_STEP_EVERY_MS = 120;   // step thumbnails redraw at most this often during a stroke
const DRAW_HINT = "Draw with the mouse, a finger or a pen; lift it to send the drawing to the server.";

function drawProbe() {
  if (!window.__vaeDraw) {
    const p = {moves: 0, computes: 0, frames: 0, sent: 0, prepMs: [], modelMs: [], firstMove: null, lastFrame: null};
    p.reset = () => {
      p.moves = p.computes = p.frames = p.sent = 0;
      p.prepMs.length = 0; p.modelMs.length = 0; p.firstMove = p.lastFrame = null;
    };
    window.__vaeDraw = p;
  }
  return window.__vaeDraw;
}

function drawRecord(list, value) {
  if (list.length >= 20000) list.splice(0, 10000);
  list.push(value);
}

function drawEl(tag, cls, testid, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (testid) e.dataset.testid = testid;
  if (text) e.textContent = text;
  return e;
}

function drawBytesToBase64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function drawBuild(kind, source) {
  /* An encoder ("enc") or decoder ("dec") from its spec and Float32Array weights. */
  const w = (bytes) => vaeBytesToFloat32(bytes, source.spec.dtype);
  const make = kind === "enc" ? vaeMakeEncoder : vaeMakeDecoder;
  if (source.weights !== undefined) return make(source.spec, w(vaeBase64ToBytes(source.weights)));
  return fetch(new URL(source.url, document.baseURI))
    .catch((err) => { throw new Error(`could not download the weights (${err.message || err})`); })
    .then((r) => {
      if (!r.ok) throw new Error(`could not download the weights (HTTP ${r.status})`);
      return r.arrayBuffer();
    })
    .then((buf) => make(source.spec, w(new Uint8Array(buf))));
}

function drawResolve(kind, source) {
  /* {model} when ready, {pending: promise} while fetching, {missing: true} when the page lacks
   * the weights (inline, sent earlier to a page that was reloaded): then Python is asked. */
  const key = `${kind}:${source.id}`;
  if (DRAW_MODELS.has(key)) return {model: DRAW_MODELS.get(key)};
  if (DRAW_LOADING.has(key)) return {pending: DRAW_LOADING.get(key)};
  if (source.weights === undefined && !source.url) return {missing: true};
  const built = drawBuild(kind, source);
  if (!(built instanceof Promise)) {
    DRAW_MODELS.set(key, built);
    return {model: built};
  }
  const pending = built.then((m) => { DRAW_MODELS.set(key, m); return m; }).finally(() => DRAW_LOADING.delete(key));
  DRAW_LOADING.set(key, pending);
  return {pending};
}

class DrawPad {
  constructor(parent) {
    this.parent = parent;
    this.root = drawEl("div", "draw");
    this.error = drawEl("div", "draw-error", "drawError");
    this.error.hidden = true;
    parent.append(this.root, this.error);
    this.buildPad();
    this.buildSide();
    this.status = drawEl("div", "draw-caption", "drawStatus");
    this.steps = drawEl("div", "draw-steps", "drawSteps");
    this.root.append(this.status, this.steps);
    this.plane = new DrawPlane(this.planeCanvas);
    this.down = null;
    this.dirty = false;
    this.scheduled = false;
    this.drawn = false;
    this.lastSteps = 0;
    this.prev = null;
    this.failed = null;
    this.opts = null;
  }

  buildPad() {
    const pad = drawEl("div", "draw-pad");
    this.canvas = drawEl("canvas", "draw-canvas", "drawCanvas");
    this.canvas.setAttribute("aria-label", "drawing canvas: draw a digit");
    this.ctx = this.canvas.getContext("2d", {willReadFrequently: true});
    const tools = drawEl("div", "draw-tools");
    const label = drawEl("label", "draw-label", null, "Stroke");
    this.width = drawEl("input", "draw-width", "drawWidth");
    Object.assign(this.width, {type: "range", min: 4, max: 40, step: 1});
    this.width.id = `draw-width-${Math.random().toString(36).slice(2, 8)}`;
    label.htmlFor = this.width.id;
    this.clear = drawEl("button", "draw-button", "drawClear", "Clear");
    this.clear.type = "button";
    this.clear.addEventListener("click", () => this.onClear());
    tools.append(label, this.width, this.clear);
    pad.append(this.canvas, tools);
    this.root.appendChild(pad);
    const on = (name, fn) => this.canvas.addEventListener(name, fn);
    on("pointerdown", (ev) => this.onDown(ev));
    on("pointermove", (ev) => this.onMove(ev));
    on("pointerup", (ev) => this.onUp(ev));
    on("pointercancel", (ev) => this.onUp(ev));
    on("contextmenu", (ev) => ev.preventDefault());
  }

  buildSide() {
    const side = drawEl("div", "draw-side");
    const recon = drawEl("figure", "draw-figure");
    this.recon = drawEl("canvas", "draw-recon", "drawRecon");
    this.reconCaption = drawEl("figcaption", "draw-caption", null, "reconstruction (in your browser)");
    recon.append(this.recon, this.reconCaption);
    this.planeFigure = drawEl("figure", "draw-figure");
    this.planeCanvas = drawEl("canvas", "draw-plane", "drawPlane");
    this.planeCaption = drawEl("figcaption", "draw-caption", "drawWhere");
    this.planeFigure.append(this.planeCanvas, this.planeCaption);
    side.append(recon, this.planeFigure);
    this.root.appendChild(side);
  }

  update(data, api) {
    this.api = api;
    this.data = data;
    const S = Math.max(64, Math.min(256, data.canvas || 256));
    if (this.canvas.width !== S) this.reset(S);
    this.canvas.style.width = `${data.css || S}px`;
    if (!this.widthSet) { this.width.value = String(data.stroke || 18); this.widthSet = true; }
    this.label = Number.isInteger(data.label) && data.label >= 0 ? data.label : null;
    const size = data.image_size || 168;
    if (this.recon.height !== data.prep.height || this.recon.width !== data.prep.width) {
      this.recon.width = data.prep.width;
      this.recon.height = data.prep.height;
    }
    this.recon.style.width = this.recon.style.height = `${size}px`;
    this.planeFigure.hidden = !data.plane;
    this.plane.setData(data.plane, data.plane_size || size);
    const optsChanged = this.opts !== null && JSON.stringify(this.opts) !== JSON.stringify(data.prep);
    this.opts = data.prep;
    this.models();
    this.status.textContent = this.statusText();
    if (this.drawn) this.compute(true, optsChanged);  // a new class, model or preparation: redo, resend if it changed
  }

  reset(S) {
    this.canvas.width = this.canvas.height = S;
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, S, S);
    this.drawn = false;
  }

  models() {
    /* The encoder and decoder for live reconstruction, or none (server only) with a reason. */
    const d = this.data;
    this.enc = this.dec = null;
    this.reason = d.reason || (this.failed && this.failed.id === d.encoder.id ? this.failed.msg : null);
    if (this.reason) return;
    const got = [["enc", d.encoder], ["dec", d.decoder]].map(([kind, src]) => [kind, drawResolve(kind, src)]);
    for (const [kind, r] of got) {
      if (r.model) this[kind] = r.model;
      else if (r.pending) this.wait(r.pending);
      else if (this.asked !== d.encoder.id) { this.asked = d.encoder.id; this.api.setTriggerValue("need", kind); }
    }
  }

  wait(pending) {
    const id = this.data.encoder.id;
    pending.then(() => { if (!this.gone && this.data.encoder.id === id) this.update(this.data, this.api); },
                 (err) => { if (!this.gone && this.data.encoder.id === id) this.fail(err); });
  }

  statusText() {
    if (this.reason) return `Live reconstruction is off (${this.reason}): the server reconstructs your drawing when you lift the pen.`;
    if (!this.enc || !this.dec) return "Loading the encoder and decoder for your browser\u2026";
    return `${DRAW_HINT} The reconstruction follows your strokes, computed in your browser.`;
  }

  fail(err) {
    const msg = err && err.message ? err.message : String(err);
    console.error("VAE Latent Lab draw component:", err);
    this.failed = {id: this.data.encoder ? this.data.encoder.id : null, msg: `your browser could not run it: ${msg}`};
    this.error.textContent = `Live reconstruction stopped: ${msg}`;
    this.error.hidden = false;
    this.enc = this.dec = null;
    this.reason = this.failed.msg;
    this.status.textContent = this.statusText();
    this.api.setTriggerValue("failed", msg);
  }

  point(ev) {
    const r = this.canvas.getBoundingClientRect(), S = this.canvas.width;
    return [((ev.clientX - r.left) / r.width) * S, ((ev.clientY - r.top) / r.height) * S];
  }

  onDown(ev) {
    if (ev.pointerType === "mouse" && ev.button !== 0) return;
    ev.preventDefault();
    try { this.canvas.setPointerCapture(ev.pointerId); } catch (err) { /* a synthetic event has no capture */ }
    const [x, y] = this.point(ev);
    this.down = {id: ev.pointerId, x, y};
    const p = drawProbe();
    p.moves++;
    if (p.firstMove === null) p.firstMove = ev.timeStamp;
    const w = Number(this.width.value);
    this.ctx.fillStyle = "#fff";
    this.ctx.beginPath(); this.ctx.arc(x, y, w / 2, 0, 2 * Math.PI); this.ctx.fill();
    this.drawn = true;
    this.schedule();
  }

  onMove(ev) {
    if (!this.down || ev.pointerId !== this.down.id) return;
    ev.preventDefault();
    const events = typeof ev.getCoalescedEvents === "function" ? ev.getCoalescedEvents() : [];
    const ctx = this.ctx;
    Object.assign(ctx, {strokeStyle: "#fff", lineWidth: Number(this.width.value), lineCap: "round", lineJoin: "round"});
    ctx.beginPath();
    ctx.moveTo(this.down.x, this.down.y);
    for (const e of events.length ? events : [ev]) {
      const [x, y] = this.point(e);
      ctx.lineTo(x, y);
      this.down.x = x; this.down.y = y;
    }
    ctx.stroke();
    const p = drawProbe();
    p.moves++;
    if (p.firstMove === null) p.firstMove = ev.timeStamp;
    this.schedule();
  }

  onUp(ev) {
    if (!this.down || ev.pointerId !== this.down.id) return;
    this.down = null;
    this.dirty = false;
    this.compute(true, true);
  }

  onClear() {
    this.reset(this.canvas.width);
    this.prev = null;
    this.compute(true, true);
  }

  schedule() {
    this.dirty = true;
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      if (this.dirty && !this.gone) {
        this.dirty = false;
        this.compute(performance.now() - this.lastSteps > DRAW_STEP_EVERY_MS, false);
      }
    });
  }

  compute(withSteps, send) {
    /* The canvas -> prepared input -> (live) code and reconstruction; the steps when asked;
     * the prepared pixels to Python when ``send`` (a release, Clear, new options). */
    const S = this.canvas.width, p = drawProbe(), t0 = performance.now();
    const r = vaePrepare({data: this.ctx.getImageData(0, 0, S, S).data, width: S, height: S, channels: 4}, this.opts);
    drawRecord(p.prepMs, performance.now() - t0);
    p.computes++;
    if (withSteps) { this.showSteps(r); this.lastSteps = performance.now(); }
    const ok = r.ok && this.drawn;
    this.reconstruct(ok ? r.image : null);
    this.planeCaption.textContent = this.whereText();
    if (send) this.send(ok ? r.pixels : null);
  }

  reconstruct(image) {
    /* Encode ``image`` (the posterior mean), decode it, paint it; count it when it changed. */
    const rctx = this.recon.getContext("2d");
    if (!image || !this.enc || !this.dec) {
      rctx.fillStyle = "#000"; rctx.fillRect(0, 0, this.recon.width, this.recon.height);
      this.mean = null;
      this.plane.show(null);
      return;
    }
    try {
      const t0 = performance.now(), mean = this.enc.encode(image, this.label).mean;
      const out = this.dec.decode(mean, this.label);
      drawRecord(drawProbe().modelMs, performance.now() - t0);
      this.mean = Array.from(mean);
      const rgba = rctx.createImageData(this.recon.width, this.recon.height);
      vaeToRGBA(out, this.dec.shape, rgba.data);
      rctx.putImageData(rgba, 0, 0);
      this.plane.show(this.mean);
      this.counted(out);
    } catch (err) {
      this.fail(err);
    }
  }

  counted(out) {
    /* A frame that painted a new reconstruction (bench/draw_fps.py counts these). */
    const prev = this.prev;
    let changed = !prev || prev.length !== out.length;
    for (let i = 0; !changed && i < out.length; i++) changed = prev[i] !== out[i];
    if (!changed) return;
    this.prev = Float64Array.from(out);
    const p = drawProbe();
    p.frames++;
    p.lastFrame = performance.now();
  }

  whereText() {
    if (!this.plane.point) return "where its code lands on the latent map";
    const [a, b] = this.plane.point, [na, nb] = this.data.plane.axes;
    const f = (v) => (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(2);
    return `${na} = ${f(a)}, ${nb} = ${f(b)}`;
  }

  send(pixels) {
    const value = pixels ? {pixels: drawBytesToBase64(pixels), width: this.opts.width, height: this.opts.height} : null;
    const text = JSON.stringify(value);
    if (text === this.sentText) return;
    this.sentText = text;
    const p = drawProbe();
    p.sent++;
    p.last = {value, mean: this.mean};  // what was sent, and the browser's code for it (tests)
    this.api.setStateValue("drawing", value);
  }

  showSteps(r) {
    /* prep.js's steps as small images with their captions (the last is the model's input). */
    const steps = this.drawn ? r.steps : [];
    this.steps.replaceChildren(...steps.map(drawStepFigure));
    if (!r.ok && this.drawn) this.steps.append(drawEl("div", "draw-caption", null, r.message));
  }

  destroy() {
    this.gone = true;
    this.root.remove();
    this.error.remove();
  }
}

export default function (component) {
  const {data, parentElement, setStateValue, setTriggerValue} = component;
  if (!data || !data.prep) return undefined;
  let inst = DRAW_INSTANCES.get(parentElement);
  if (!inst) {
    inst = new DrawPad(parentElement);
    DRAW_INSTANCES.set(parentElement, inst);
  }
  try {
    inst.update(data, {setStateValue, setTriggerValue});
  } catch (err) {
    inst.fail(err);
  }
  return () => {
    if (DRAW_INSTANCES.get(parentElement) === inst) {
      inst.destroy();
      DRAW_INSTANCES.delete(parentElement);
    }
  };
}
