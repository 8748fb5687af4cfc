/* VAE Latent Lab "Draw a digit" (ui/draw.py; joined before draw.js, which uses these): the small
 * latent plane that shows where the drawing's code lands, and the preparation's step images.
 * Uses drawEl from draw.js (defined there; called only after both files are loaded).
 */

class DrawPlane {
  /* A small latent plane: the test points (drawn once per points_id) and a dot for the code. */
  constructor(canvas) {
    this.canvas = canvas;
    this.bg = document.createElement("canvas");
    this.pid = null;
  }

  setData(plane, size) {
    this.plane = plane;
    this.size = size;
    if (!plane || (this.pid === plane.points_id && this.bgSize === size)) return;
    this.pid = plane.points_id;
    this.bgSize = size;
    const dpr = window.devicePixelRatio || 1;
    for (const c of [this.canvas, this.bg]) { c.width = Math.round(size * dpr); c.height = Math.round(size * dpr); }
    this.canvas.style.width = this.canvas.style.height = `${size}px`;
    const ctx = this.bg.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#f0f2f6";
    ctx.fillRect(0, 0, size, size);
    ctx.globalAlpha = 0.55;
    const {x, y, c} = plane.points;
    for (let i = 0; i < x.length; i++) {
      const [px, py] = this.toPixel(x[i], y[i]);
      ctx.fillStyle = plane.palette[c[i] % plane.palette.length];
      ctx.fillRect(px - 1, py - 1, 2.5, 2.5);
    }
    ctx.globalAlpha = 0.8;
    ctx.fillStyle = "#31333f";
    ctx.font = "11px sans-serif";
    ctx.fillText(`${plane.axes[0]} \u2192`, size - 6 - ctx.measureText(`${plane.axes[0]} \u2192`).width, size - 5);
    ctx.fillText(`\u2191 ${plane.axes[1]}`, 4, 13);
    this.show(null);
  }

  toPixel(a, b) {
    const [x0, x1, y0, y1] = this.plane.extent, s = this.size;
    return [((a - x0) / (x1 - x0)) * s, ((y1 - b) / (y1 - y0)) * s];
  }

  coords(mean) {
    /* The code's plane coordinates: (mean - origin) . axes (PCA), or its first two values (2-D). */
    const basis = this.plane.basis;
    if (!basis) return [mean[0], mean[1]];
    let a = 0, b = 0;
    for (let i = 0; i < mean.length; i++) {
      const d = mean[i] - basis.origin[i];
      a += d * basis.axes[0][i];
      b += d * basis.axes[1][i];
    }
    return [a, b];
  }

  show(mean) {
    if (!this.plane) return;
    const ctx = this.canvas.getContext("2d"), dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.bg, 0, 0);
    this.point = null;
    if (!mean) return;
    this.point = this.coords(mean);
    const s = this.size, [px, py] = this.toPixel(...this.point);
    const x = Math.min(s - 4, Math.max(4, px)), y = Math.min(s - 4, Math.max(4, py));
    const outside = x !== px || y !== py;  // off the view: a ring at its edge, in the code's direction
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.lineWidth = 2;
    ctx.strokeStyle = outside ? "#d62728" : "#ffffff";
    ctx.fillStyle = outside ? "#ffffff" : "#d62728";
    ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
  }
}

function drawStepFigure(s) {
  /* One step of prep.js ({caption, width, height, channels 1 or 3, data}) as a small image, its
   * longer side 72 px, with its caption. */
  const fig = drawEl("figure", "draw-step"), c = drawEl("canvas", "draw-step-image");
  c.width = s.width; c.height = s.height;
  const img = c.getContext("2d").createImageData(s.width, s.height), rgb = s.channels === 3;
  for (let i = 0, n = s.width * s.height; i < n; i++) {
    const k = rgb ? 3 * i : i;
    img.data[4 * i] = s.data[k];
    img.data[4 * i + 1] = s.data[rgb ? k + 1 : k];
    img.data[4 * i + 2] = s.data[rgb ? k + 2 : k];
    img.data[4 * i + 3] = 255;
  }
  c.getContext("2d").putImageData(img, 0, 0);
  const scale = 72 / Math.max(s.width, s.height);
  c.style.width = `${Math.round(s.width * scale)}px`;
  c.style.height = `${Math.round(s.height * scale)}px`;
  fig.append(c, drawEl("figcaption", "draw-caption", null, s.caption));
  return fig;
}
