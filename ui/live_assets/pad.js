/* VAE Latent Lab: the latent pad of the live component (ui/live.py; after live.js).
 *
 * A 2-D latent plane drawn over the encoded test points (data.points, coloured by class).
 * Dragging moves a cursor and decodes under it on every pointer event; a click (pointer down
 * and up without moving 5 px) or Enter pins the point: setTriggerValue("pin", [a, b]).
 * Plane coordinates map to z by data.basis (origin + a axes[0] + b axes[1]; none: z = (a, b)).
 * A conditional model's decoder draws class data.label there; a new label redraws the cursor's z.
 * With data.path (path_view.js) it also shows the path between two codes and a marker at its t.
 */

const PAD_HINT = "Drag to decode under the cursor \u00b7 click (or Enter) to pin the point";

class Pad extends Base {
  constructor(parent) {
    super(parent, "live-pad");
    this.plane = el("canvas", "pad-canvas", "latentPad");
    this.plane.tabIndex = 0;
    this.image = el("canvas", "live-canvas", "padImage");
    this.readout = el("div", "pad-readout", "padReadout");
    this.hint = el("div", "live-caption");
    this.hint.textContent = PAD_HINT;
    const side = el("div", "pad-side");
    side.append(this.image, this.readout, this.hint);
    this.root.append(this.plane, side);
    this.painter = new Painter(this.image);
    this.bg = document.createElement("canvas");
    this.cursor = null;
    this.down = null;
    this.plane.addEventListener("pointerdown", (ev) => this.onDown(ev));
    this.plane.addEventListener("pointermove", (ev) => { if (this.down) this.moveTo(ev); });
    this.plane.addEventListener("pointerup", (ev) => this.onUp(ev));
    this.plane.addEventListener("pointercancel", () => { this.down = null; });
    this.plane.addEventListener("keydown", (ev) => this.onKey(ev));
  }

  update(data, api, fresh) {
    this.api = api;
    const modelChanged = this.data && this.data.model !== data.model;
    const old = this.data;
    this.data = data;
    this.label = classOf(data);
    this.dec = resolveDecoder(this, data);
    if (this.dec) this.painter.setShape(this.dec.shape, data.image_size || 224);
    padJoinPath(this, data);  // path_view.js: data.path, the path between two codes (or none)
    this.plane.setAttribute("aria-label", `latent plane ${data.axes[0]} by ${data.axes[1]}: ${PAD_HINT}`);
    if (!old || old.points_id !== data.points_id || old.pad_size !== data.pad_size) this.drawBackground();
    if (fresh || modelChanged || !this.cursor) {
      const [x0, x1, y0, y1] = data.extent;
      this.cursor = data.pinned ? data.pinned.slice() : [(x0 + x1) / 2, (y0 + y1) / 2];
    }
    this.draw();
    this.render();
  }

  toPlane(px, py) {
    const [x0, x1, y0, y1] = this.data.extent, s = this.data.pad_size;
    return [x0 + (px / s) * (x1 - x0), y1 - (py / s) * (y1 - y0)];
  }

  toPixel(a, b) {
    const [x0, x1, y0, y1] = this.data.extent, s = this.data.pad_size;
    return [((a - x0) / (x1 - x0)) * s, ((y1 - b) / (y1 - y0)) * s];
  }

  latent(a, b) {
    /* Plane coordinates -> z: (a, b) itself, or origin + a axes[0] + b axes[1] (a PCA plane). */
    const basis = this.data.basis;
    if (!basis) return [a, b];
    return basis.origin.map((o, i) => o + a * basis.axes[0][i] + b * basis.axes[1][i]);
  }

  drawBackground() {
    const d = this.data, s = d.pad_size, dpr = window.devicePixelRatio || 1;
    for (const c of [this.plane, this.bg]) {
      c.width = Math.round(s * dpr);
      c.height = Math.round(s * dpr);
    }
    this.plane.style.width = this.plane.style.height = `${s}px`;
    const ctx = this.bg.getContext("2d"), css = getComputedStyle(this.root);
    const ink = css.getPropertyValue("--st-text-color").trim() || "#31333f";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = css.getPropertyValue("--st-secondary-background-color").trim() || "#f0f2f6";
    ctx.fillRect(0, 0, s, s);
    ctx.globalAlpha = 0.35;
    ctx.strokeStyle = ink;
    ctx.lineWidth = 1;
    const [ox, oy] = this.toPixel(0, 0);
    ctx.beginPath();
    ctx.moveTo(ox, 0); ctx.lineTo(ox, s); ctx.moveTo(0, oy); ctx.lineTo(s, oy);
    ctx.stroke();
    if (d.box) {
      const [p0, q0] = this.toPixel(d.box[0], d.box[3]), [p1, q1] = this.toPixel(d.box[1], d.box[2]);
      ctx.setLineDash([4, 4]);
      ctx.strokeRect(p0, q0, p1 - p0, q1 - q0);
      ctx.setLineDash([]);
    }
    ctx.globalAlpha = 0.6;
    const {x, y, c} = d.points;
    for (let i = 0; i < x.length; i++) {
      const [px, py] = this.toPixel(x[i], y[i]);
      ctx.fillStyle = d.palette[c[i] % d.palette.length];
      ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
    }
    ctx.globalAlpha = 0.8;
    ctx.fillStyle = ink;
    ctx.font = "12px sans-serif";
    ctx.fillText(d.axes[0] + " \u2192", s - 8 - ctx.measureText(d.axes[0] + " \u2192").width, s - 6);
    ctx.fillText("\u2191 " + d.axes[1], 6, 16);
    ctx.globalAlpha = 1;
  }

  draw() {
    const s = this.data.pad_size, dpr = window.devicePixelRatio || 1, ctx = this.plane.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.bg, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const ink = getComputedStyle(this.root).getPropertyValue("--st-text-color").trim() || "#31333f";
    padDrawPath(this, ctx, ink);  // path_view.js: nothing without data.path
    if (this.data.pinned) {
      const [px, py] = this.toPixel(...this.data.pinned);
      ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 4;
      ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI); ctx.stroke();
      ctx.strokeStyle = ink; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI); ctx.stroke();
    }
    const [cx, cy] = this.toPixel(...this.cursor);
    ctx.strokeStyle = ink; ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(cx - 10, cy); ctx.lineTo(cx - 3, cy); ctx.moveTo(cx + 3, cy); ctx.lineTo(cx + 10, cy);
    ctx.moveTo(cx, cy - 10); ctx.lineTo(cx, cy - 3); ctx.moveTo(cx, cy + 3); ctx.lineTo(cx, cy + 10);
    ctx.stroke();
    const [a, b] = this.cursor, [na, nb] = this.data.axes;
    this.readout.textContent = `${na} = ${fmt(a)}, ${nb} = ${fmt(b)}`;
  }

  render(t0) {
    if (!this.dec || !this.data) return;
    const z = this.latent(...this.cursor);
    if (z.length !== this.dec.latentDim) return;
    const t = performance.now();
    this.painter.paint(this.dec.decode(z, this.label));
    record(probe().decodeMs, performance.now() - t);
    if (t0 !== undefined) painted(t0);
  }

  moveTo(ev) {
    const r = this.plane.getBoundingClientRect(), s = this.data.pad_size;
    const px = Math.min(s, Math.max(0, ((ev.clientX - r.left) / r.width) * s));
    const py = Math.min(s, Math.max(0, ((ev.clientY - r.top) / r.height) * s));
    noteInput(ev.timeStamp);
    if (this.down) this.down.far = this.down.far || Math.hypot(ev.clientX - this.down.x, ev.clientY - this.down.y) >= 5;
    this.cursor = this.toPlane(px, py);
    this.draw();
    this.render(ev.timeStamp);
  }

  onDown(ev) {
    if (ev.button !== 0) return;
    this.plane.setPointerCapture(ev.pointerId);
    this.down = {x: ev.clientX, y: ev.clientY, far: false};
    this.moveTo(ev);
  }

  onUp(ev) {
    if (!this.down) return;
    const far = this.down.far || Math.hypot(ev.clientX - this.down.x, ev.clientY - this.down.y) >= 5;
    this.down = null;
    if (!far) this.pin();  // a click; a drag (even one that came back) pins nothing
  }

  onKey(ev) {
    const [x0, x1] = this.data.extent, step = (x1 - x0) / 50;
    const moves = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step]};
    if (moves[ev.key]) {
      ev.preventDefault();
      noteInput(ev.timeStamp);
      this.cursor = [this.cursor[0] + moves[ev.key][0], this.cursor[1] + moves[ev.key][1]];
      this.draw();
      this.render(ev.timeStamp);
    } else if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      this.pin();
    }
  }

  pin() {
    probe().sent++;
    this.api.setTriggerValue("pin", this.cursor.map((v) => Math.round(v * 1e4) / 1e4));
  }
}
