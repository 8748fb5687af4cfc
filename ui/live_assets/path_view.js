/* VAE Latent Lab: the live path of the live component (ui/live.py; after live.js, pad.js, path.js).
 *
 * "path"  a canvas with the decoded image of z_t on the path data.z0 -> data.z1 (data.method:
 *         lerp or slerp, vaePathPoint in path.js, as vae.explore.interpolate_at) right above one
 *         range input for t in [0, 1]. Every `input` event recomputes z_t and redraws (no server
 *         round trip); t goes to Python only on release (`change`: setStateValue("t", t)). The
 *         server's t is taken only when data.rev changes, so a rerun never undoes a drag.
 * A pad (pad.js) whose data.path names the same channel draws the path's polyline (its plane
 * coordinates, sampled by the server) and a marker at the exact projection of z_t, which moves
 * while the slider is dragged.
 */

const PATHS = new Map();  // channel -> {t, pads: Set of Pad instances showing that path}

function pathChannel(name) {
  let ch = PATHS.get(name);
  if (!ch) {
    ch = {t: null, pads: new Set()};
    PATHS.set(name, ch);
  }
  return ch;
}

function publishT(name, t) {
  /* The path slider of channel ``name`` is at t: move the markers of the pads showing that path. */
  const ch = pathChannel(name);
  ch.t = t;
  for (const pad of ch.pads) if (!pad.gone) pad.draw();
}

function padJoinPath(pad, data) {
  /* Called by Pad.update: follow data.path's channel (or leave the old one). */
  if (pad.pathChannel && (!data.path || pad.pathChannel !== data.path.channel)) {
    pathChannel(pad.pathChannel).pads.delete(pad);
    pad.pathChannel = null;
  }
  if (!data.path) return;
  const ch = pathChannel(data.path.channel);
  ch.pads.add(pad);
  pad.pathChannel = data.path.channel;
  if (ch.t === null) ch.t = data.path.t;
}

function padDrawPath(pad, ctx, ink) {
  /* Called by Pad.draw: the path's polyline, its two ends (start hollow, end filled) and the
   * marker at the channel's t: the projection (z_t - origin) . axes of z_t (z_t itself for D = 2). */
  const path = pad.data.path;
  if (!path || !path.x || path.x.length < 2) return;
  ctx.save();
  ctx.strokeStyle = "#ff4b4b";
  ctx.lineWidth = 2;
  ctx.beginPath();
  path.x.forEach((x, i) => {
    const [px, py] = pad.toPixel(x, path.y[i]);
    if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
  });
  ctx.stroke();
  const n = path.x.length - 1, [sx, sy] = pad.toPixel(path.x[0], path.y[0]), [ex, ey] = pad.toPixel(path.x[n], path.y[n]);
  ctx.fillStyle = "#ff4b4b";
  ctx.beginPath(); ctx.arc(ex, ey, 4, 0, 2 * Math.PI); ctx.fill();
  ctx.fillStyle = "#ffffff";
  ctx.beginPath(); ctx.arc(sx, sy, 4, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
  const ch = PATHS.get(path.channel), t = ch && ch.t !== null ? ch.t : path.t;
  const z = vaePathPoint(path.z0, path.z1, t, path.method), basis = pad.data.basis;
  const p = basis ? basis.axes.map((ax) => ax.reduce((s, a, i) => s + a * (z[i] - basis.origin[i]), 0)) : z;
  const [mx, my] = pad.toPixel(p[0], p[1]);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#ffffff";
  ctx.beginPath(); ctx.arc(mx, my, 6, 0, 2 * Math.PI); ctx.stroke();
  ctx.strokeStyle = ink;
  ctx.beginPath(); ctx.arc(mx, my, 4, 0, 2 * Math.PI); ctx.stroke();
  ctx.restore();
  pad.plane.dataset.pathT = String(t);
}

class PathView extends Base {
  constructor(parent) {
    super(parent, "live-view live-path");
    this.canvas = el("canvas", "live-canvas", "liveCanvas");
    this.caption = el("div", "live-caption", "pathCaption");
    const id = `live-t-${Math.random().toString(36).slice(2, 8)}`;
    this.name = el("label", "live-label");
    this.name.htmlFor = id;
    this.out = el("output", "live-value");
    this.out.htmlFor = id;
    this.input = el("input", "live-range", "pathSlider");
    Object.assign(this.input, {type: "range", id, min: 0, max: 1, step: 0.01});
    const row = el("div", "live-row");
    row.style.width = "100%";
    row.append(this.name, this.out, this.input);
    this.root.append(this.canvas, row, this.caption);
    this.painter = new Painter(this.canvas);
    this.t = null;
    this.rev = null;
    this.pointerT = null;
    const seen = (ev) => { this.pointerT = ev.timeStamp; };
    this.input.addEventListener("pointerdown", seen);
    this.input.addEventListener("pointermove", seen);
    this.input.addEventListener("input", (ev) => this.onInput(ev));
    this.input.addEventListener("change", () => this.onChange());
  }

  update(data, api, fresh) {
    this.api = api;
    this.data = data;
    this.label = classOf(data);
    this.name.textContent = data.slider_label || "t";
    this.input.step = String(data.step || 0.01);
    this.dec = resolveDecoder(this, data);
    if (this.dec) this.painter.setShape(this.dec.shape, data.size || 280);
    this.canvas.setAttribute("aria-label", "decoded image at t");
    if (fresh || this.t === null || this.rev !== data.rev || this.model !== data.model) {
      this.t = Math.min(1, Math.max(0, Number(data.t) || 0));
      this.rev = data.rev;
      this.model = data.model;
    }
    if (Number(this.input.value) !== this.t) this.input.value = String(this.t);
    publishT(data.channel, this.t);
    this.render();
  }

  render(t0) {
    const d = this.data, text = this.t.toFixed(2);
    this.out.textContent = text;
    this.caption.textContent = (d.caption || "").replace("{t}", text);
    if (!this.dec || d.z0.length !== this.dec.latentDim) return;
    const t = performance.now();
    this.painter.paint(this.dec.decode(vaePathPoint(d.z0, d.z1, this.t, d.method), this.label));
    record(probe().decodeMs, performance.now() - t);
    if (t0 !== undefined) painted(t0);
  }

  onInput(ev) {
    const t0 = this.pointerT !== null && ev.timeStamp - this.pointerT < 100 ? this.pointerT : ev.timeStamp;
    this.pointerT = null;
    noteInput(t0);
    this.t = Number(this.input.value);
    publishT(this.data.channel, this.t);
    this.render(t0);
  }

  onChange() {
    probe().sent++;
    this.api.setStateValue("t", this.t);
  }
}
