/* VAE Latent Lab: the live-decoding component (st.components.v2), mounted by ui/live.py.
 *
 * ui/live.py joins decoder.js, path.js, this file, pad.js, path_view.js and mount.js, in that order, into one ES
 * module: inlined into the component, or (under serve.py) served over HTTP and imported by
 * loader.js. It serves four kinds of instance, picked by data.kind:
 *   "view"    a canvas showing the decoded image of a channel's latent vector z (a conditional
 *             model's decoder draws it as class data.label; a new label redraws the same z), or
 *             with data.labels, one row of images: z drawn as each of those classes;
 *   "sliders" one range input per latent dim; every `input` event updates the channel's z and
 *             redraws its views at once (no server round trip), and the value goes to Python
 *             only on release (`change`: setStateValue("z", z));
 *   "pad"     a 2-D latent plane with the encoded test points (pad.js): dragging decodes under
 *             the cursor, a click (or Enter) pins the point (setTriggerValue("pin", [a, b]));
 *             with data.path, the path between two codes and a marker at its t (path_view.js);
 *   "path"    Morph's t slider (path_view.js): z_t on the path z0 -> z1 (path.js) decoded on
 *             every `input` event, t sent only on release (setStateValue("t", t)).
 * Decoders are kept by model id for the page's lifetime, so the weights cross the wire once:
 * inline in data.decoder.weights (base64), or, under serve.py, fetched from data.decoder.url
 * (then cached by the browser); an instance that lacks them asks Python again
 * (setTriggerValue("need", id)); one that cannot get or run them says so
 * (setTriggerValue("failed", message)) and Python decodes on the server instead.
 * window.__vaeLive counts inputs, redraws and painted frames and records input-to-paint delays
 * (event time to the next animation frame after the redraw) for tests and bench/live_drag.py.
 */

const MAX_MODELS = 6;
const MODELS = new Map();     // model id -> decoder from vaeMakeDecoder
const LOADING = new Map();    // model id -> promise of its decoder, while its weights are fetched
const CHANNELS = new Map();   // channel name -> {z, rev, model, members}
const INSTANCES = new WeakMap();  // parentElement -> instance

function probe() {
  if (!window.__vaeLive) {
    const p = {inputs: 0, redraws: 0, frames: 0, sent: 0, latencies: [], decodeMs: [], firstInput: null,
               lastFrame: null, pending: [], scheduled: false};
    p.reset = () => {
      p.inputs = p.redraws = p.frames = p.sent = 0;
      p.latencies.length = 0; p.decodeMs.length = 0; p.firstInput = p.lastFrame = null;
    };
    window.__vaeLive = p;
  }
  return window.__vaeLive;
}

function record(list, value) {
  if (list.length >= 20000) list.splice(0, 10000);
  list.push(value);
}

function noteInput(t0) {
  const p = probe();
  p.inputs++;
  if (p.firstInput === null) p.firstInput = t0;
}

function painted(t0) {
  /* A redraw caused by an input at time t0: its delay is measured at the next animation frame. */
  const p = probe();
  p.redraws++;
  p.pending.push(t0);
  if (p.scheduled) return;
  p.scheduled = true;
  requestAnimationFrame(() => {
    const now = performance.now();
    p.frames++;
    p.lastFrame = now;
    for (const t of p.pending) record(p.latencies, now - t);
    p.pending.length = 0;
    p.scheduled = false;
  });
}

function classOf(data) {
  /* The class a conditional decoder draws (data.label, a class index), or null (unconditional). */
  return Number.isInteger(data.label) && data.label >= 0 ? data.label : null;
}

function el(tag, cls, testid) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (testid) e.dataset.testid = testid;
  return e;
}

function fmt(v) {
  return (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(2);
}

function keepDecoder(id, dec) {
  MODELS.set(id, dec);
  while (MODELS.size > MAX_MODELS) MODELS.delete(MODELS.keys().next().value);
  return dec;
}

function fetchDecoder(id, decoder) {
  /* The decoder whose weights are at decoder.url (ui/live.py, served by serve.py): one fetch per
   * model id at a time, shared by every instance that waits for it; the browser's HTTP cache
   * keeps the bytes (their URL names their content), so a reload does not download them again. */
  let pending = LOADING.get(id);
  if (!pending) {
    pending = fetch(new URL(decoder.url, document.baseURI))
      .catch((err) => { throw new Error(`could not download the decoder's weights (${err.message || err})`); })
      .then((r) => {
        if (!r.ok) throw new Error(`could not download the decoder's weights (HTTP ${r.status})`);
        return r.arrayBuffer();
      })
      .then((buf) => keepDecoder(id, vaeMakeDecoder(decoder.spec, vaeBytesToFloat32(new Uint8Array(buf),
                                                                                      decoder.spec.dtype))))
      .finally(() => LOADING.delete(id));
    LOADING.set(id, pending);
  }
  return pending;
}

function awaitDecoder(inst, id, pending) {
  /* Redraw ``inst`` when the decoder of ``id`` arrives (if it still shows that model), or show
   * the error (which reports "failed": the server then decodes this model itself). */
  if (inst.waiting === id) return;
  inst.waiting = id;
  pending.then(
    () => { if (inst.waiting === id) { inst.waiting = null; inst.refresh(); } },
    (err) => {
      if (inst.waiting !== id) return;
      inst.waiting = null;
      if (!inst.gone && inst.last && inst.last.model === id) inst.fail(err, inst.last);
    });
}

function resolveDecoder(inst, data) {
  /* The decoder for data.model: cached, built from data.decoder (inline base64 weights, or a URL
   * to fetch: null until they arrive, then the instance redraws), or asked for (null meanwhile). */
  const id = data.model;
  let dec = MODELS.get(id);
  if (dec) return dec;
  const source = data.decoder;
  if (source && source.weights !== undefined) {
    return keepDecoder(id, vaeMakeDecoder(source.spec, vaeBytesToFloat32(vaeBase64ToBytes(source.weights),
                                                                          source.spec.dtype)));
  }
  if (source && source.url) {
    awaitDecoder(inst, id, fetchDecoder(id, source));
    return null;
  }
  if (LOADING.has(id)) {  // another instance is fetching it
    awaitDecoder(inst, id, LOADING.get(id));
    return null;
  }
  if (inst.requested !== id) {
    inst.requested = id;
    inst.api.setTriggerValue("need", id);
  }
  return null;
}

function join(name, member, data, fresh) {
  /* Add ``member`` to channel ``name``; take the server's z when it set a new one (rev), the
   * model changed, or this is the first instance of a freshly drawn page. */
  let ch = CHANNELS.get(name);
  if (!ch) {
    ch = {z: null, rev: null, model: null, members: new Set()};
    CHANNELS.set(name, ch);
  }
  const alone = [...ch.members].every((m) => m === member);
  ch.members.add(member);
  if (ch.z === null || ch.rev !== data.rev || ch.model !== data.model || ch.z.length !== data.z.length ||
      (fresh && alone)) {
    ch.z = data.z.slice();
    ch.rev = data.rev;
    ch.model = data.model;
    for (const m of ch.members) if (m !== member) m.render();
  }
  return ch;
}

const GUTTER = 2;  // source pixels between the images of a row, in ui/figures.grid's grey

class Painter {
  /* Draws C*H*W pixel means on a canvas, nearest-neighbour upscaled by a whole factor: one
   * image, or a row of n (put() each, then blit()). */
  constructor(canvas) {
    this.canvas = canvas;
    this.off = document.createElement("canvas");
    this.shape = null;
  }

  setShape(shape, size, n = 1) {
    const [, H, W] = shape, k = Math.max(1, Math.floor(size / Math.max(H, W)));
    if (this.shape && this.shape.join() === shape.join() && this.k === k && this.n === n) return;
    this.shape = shape.slice();
    this.k = k;
    this.n = n;
    const width = n * W + (n - 1) * GUTTER;
    this.canvas.width = width * k;
    this.canvas.height = H * k;
    this.off.width = width;
    this.off.height = H;
    const ctx = this.off.getContext("2d");
    ctx.fillStyle = "rgb(64, 64, 64)";
    ctx.fillRect(0, 0, width, H);
    this.image = ctx.createImageData(W, H);
  }

  put(img, i = 0) {
    vaeToRGBA(img, this.shape, this.image.data);
    this.off.getContext("2d").putImageData(this.image, i * (this.shape[2] + GUTTER), 0);
  }

  blit() {
    const ctx = this.canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.off, 0, 0, this.canvas.width, this.canvas.height);
  }

  paint(img) {
    this.put(img, 0);
    this.blit();
  }
}

class Base {
  constructor(parent, cls) {
    this.root = el("div", cls);
    this.error = el("div", "live-error", "liveError");
    this.error.hidden = true;
    parent.appendChild(this.root);
    parent.appendChild(this.error);
    this.parent = parent;
    this.failedFor = null;
  }

  refresh() {
    /* Run the last update again (a decoder it lacked has arrived). */
    if (this.gone || !this.last) return;
    try {
      this.update(this.last, this.api, false);
      this.error.hidden = true;
    } catch (err) {
      console.error("VAE Latent Lab live component:", err);
      this.fail(err, this.last);
    }
  }

  fail(err, data) {
    const msg = err && err.message ? err.message : String(err);
    this.error.textContent = `Live decoding stopped: ${msg}`;
    this.error.hidden = false;
    if (this.failedFor !== data.model) {
      this.failedFor = data.model;
      this.api.setTriggerValue("failed", msg);
    }
  }

  destroy() {
    this.gone = true;
    if (this.channel) this.channel.members.delete(this);
    this.root.remove();
    this.error.remove();
  }

  render() {}
}

class View extends Base {
  constructor(parent) {
    super(parent, "live-view");
    this.canvas = el("canvas", "live-canvas", "liveCanvas");
    this.caption = el("div", "live-caption");
    this.root.append(this.canvas, this.caption);
    this.painter = new Painter(this.canvas);
  }

  update(data, api, fresh) {
    this.api = api;
    this.caption.textContent = data.caption || "";
    this.canvas.setAttribute("aria-label", data.caption || "decoded image");
    this.label = classOf(data);
    this.row = Array.isArray(data.labels) ? data.labels.filter((c) => Number.isInteger(c) && c >= 0) : null;
    this.dec = resolveDecoder(this, data);
    if (this.dec) this.painter.setShape(this.dec.shape, data.size || 336, this.row ? this.row.length : 1);
    if (this.row) Object.assign(this.canvas.style, {maxWidth: "100%", height: "auto"});  // a row fits its column
    this.channel = join(data.channel, this, data, fresh);
    this.render();
  }

  render(t0) {
    if (!this.dec || !this.channel || !this.channel.z || this.channel.z.length !== this.dec.latentDim) return;
    const t = performance.now();
    if (this.row) {
      this.row.forEach((c, i) => this.painter.put(this.dec.decode(this.channel.z, c), i));
      this.painter.blit();
    } else {
      this.painter.paint(this.dec.decode(this.channel.z, this.label));
      for (const m of this.channel.members) if (m.mirror) m.mirror(this.canvas);
    }
    record(probe().decodeMs, performance.now() - t);
    if (t0 !== undefined) painted(t0);
  }
}

class Sliders extends Base {
  constructor(parent) {
    super(parent, "live-sliders");
    this.rows = [];
    this.signature = null;
    this.pointerT = null;
    // Phones: a small copy of the channel's image, stuck to the top of the screen above the
    // slider rows (live.css), so a finger dragging a slider far down still sees the picture.
    this.mini = el("canvas", "live-mini", "liveMini");
    this.narrow = window.matchMedia("(max-width: 640px)");
    this.narrow.addEventListener("change", () => this.mirrorChannel());
  }

  mirror(src) {
    if (!this.narrow.matches || !src.width) return;
    if (this.mini.width !== src.width || this.mini.height !== src.height) {
      this.mini.width = src.width;
      this.mini.height = src.height;
    }
    this.mini.getContext("2d").drawImage(src, 0, 0);
  }

  mirrorChannel() {
    if (!this.channel) return;
    for (const m of this.channel.members) if (m instanceof View && !m.row && m.canvas.width) this.mirror(m.canvas);
  }

  update(data, api, fresh) {
    this.api = api;
    const signature = JSON.stringify([data.dims, data.limit, data.step]);
    if (signature !== this.signature) {
      this.build(data);
      this.signature = signature;
    }
    this.channel = join(data.channel, this, data, fresh);
    this.render();
    this.mirrorChannel();
  }

  build(data) {
    this.root.replaceChildren(this.mini);
    this.rows = data.dims.map(({dim, label, note}) => {
      const row = el("div", "live-row");
      const id = `live-z${dim}-${Math.random().toString(36).slice(2, 8)}`;
      const name = el("label", "live-label");
      name.htmlFor = id;
      name.textContent = label;
      if (note) {
        const small = el("span", "live-note");
        small.textContent = `  (${note})`;
        name.appendChild(small);
      }
      const out = el("output", "live-value");
      out.htmlFor = id;
      const input = el("input", "live-range", "liveSlider");
      Object.assign(input, {type: "range", id, min: -data.limit, max: data.limit, step: data.step});
      input.dataset.dim = String(dim);
      const seen = (ev) => { this.pointerT = ev.timeStamp; };
      input.addEventListener("pointerdown", seen);
      input.addEventListener("pointermove", seen);
      input.addEventListener("input", (ev) => this.onInput(dim, input, out, ev));
      input.addEventListener("change", () => this.onChange());
      row.append(name, out, input);
      this.root.appendChild(row);
      return {dim, input, out};
    });
  }

  render() {
    if (!this.channel || !this.channel.z) return;
    for (const {dim, input, out} of this.rows) {
      const v = this.channel.z[dim];
      if (Number(input.value) !== v) input.value = String(v);
      out.textContent = fmt(v);
    }
  }

  onInput(dim, input, out, ev) {
    // Time from the pointer event that moved the thumb (a key press has none: the input's own).
    const t0 = this.pointerT !== null && ev.timeStamp - this.pointerT < 100 ? this.pointerT : ev.timeStamp;
    this.pointerT = null;
    noteInput(t0);
    const v = Number(input.value);
    this.channel.z[dim] = v;
    out.textContent = fmt(v);
    for (const m of this.channel.members) if (m !== this) m.render(t0);
  }

  onChange() {
    probe().sent++;
    this.api.setStateValue("z", this.channel.z.slice());
  }
}
