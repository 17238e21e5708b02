// Shared by the browser components (ui/components.script() puts it before each component's script): the latent
// pad, a square over a plane of latent space with the dataset's test codes drawn on it, coloured by label. The
// latent canvas moves a code on it; the draw pad shows a drawing's posterior on it.

const PAD_CSS_PX = 300; // a pad's width in its CSS, used until the pad is laid out (a phone's is narrower)
const PAD_MARGIN = 1.08; // the pad shows the farthest point plus 8%

const dot = (a, b) => a.reduce((sum, value, i) => sum + value * b[i], 0);

// A plane through `origin` spanned by two orthonormal rows. lift(u, z) moves z within the plane only:
// z + W^T (u - W (z - origin)), so the rest of z is kept and every point of the plane decodes exactly.
class Plane {
  constructor(origin, basis, names) {
    Object.assign(this, { origin, basis, names });
  }

  static axes(latentDim, i, j) {
    const unit = (d) => Array.from({ length: latentDim }, (_, k) => (k === d ? 1 : 0));
    return new Plane(new Array(latentDim).fill(0), [unit(i), unit(j)], [`z${i}`, `z${j}`]);
  }

  project(z) {
    const centred = Array.from(z, (value, d) => value - this.origin[d]);
    return this.basis.map((row) => dot(row, centred));
  }

  lift(u, z) {
    const [p0, p1] = this.project(z);
    const [w0, w1] = this.basis;
    return Float32Array.from(z, (value, d) => value + w0[d] * (u[0] - p0) + w1[d] * (u[1] - p1));
  }
}

// The pad's canvas: `show(plane, points, minExtent)` draws the points ({codes, labels, colors}) projected on the
// plane, once, as the background of the square [-extent, extent]^2 of plane coordinates; `begin()` clears the pad
// to that background for a frame's marks; `planeAt(event)` is a pointer's position in plane coordinates.
class PadView {
  constructor(canvas) {
    this.canvas = canvas;
  }

  show(plane, points, minExtent) {
    const { codes, labels, colors } = points;
    const coords = codes.map((code) => plane.project(code));
    const farthest = Math.max(...coords.flat().map(Math.abs));
    Object.assign(this, { plane, extent: Math.max(minExtent, farthest * PAD_MARGIN) });
    const { pixels, scale, toPixel } = this.geometry();
    this.background = Object.assign(document.createElement("canvas"), { width: pixels, height: pixels });
    const ctx = this.background.getContext("2d");
    ctx.strokeStyle = "rgba(128, 128, 128, 0.35)";
    ctx.beginPath();
    const [cx, cy] = toPixel([0, 0]);
    ctx.moveTo(cx, 0); ctx.lineTo(cx, pixels); ctx.moveTo(0, cy); ctx.lineTo(pixels, cy);
    ctx.stroke();
    ctx.globalAlpha = 0.7;
    coords.forEach((u, k) => {
      const [x, y] = toPixel(u);
      ctx.fillStyle = colors[labels[k]];
      ctx.fillRect(x - 1.5 * scale, y - 1.5 * scale, 3 * scale, 3 * scale);
    });
    ctx.globalAlpha = 1;
    ctx.fillStyle = "rgba(90, 90, 90, 0.9)";
    ctx.font = `${11 * scale}px sans-serif`;
    ctx.fillText(plane.names[0], pixels - 30 * scale, cy - 4 * scale);
    ctx.fillText(plane.names[1], cx + 4 * scale, 12 * scale);
    Object.assign(this.canvas, { width: pixels, height: pixels });
  }

  // The pad's pixels and scale, and toPixel: plane coordinates -> the pad's pixels; toPlane takes CSS pixels from
  // the pad's content box.
  geometry() {
    const css = this.canvas.clientWidth || PAD_CSS_PX;
    const scale = window.devicePixelRatio || 1;
    const pixels = Math.round(css * scale);
    const toPixel = ([u0, u1]) => [(u0 / this.extent + 1) * pixels / 2, (1 - u1 / this.extent) * pixels / 2];
    const toPlane = (x, y) => [(2 * x / css - 1) * this.extent, (1 - 2 * y / css) * this.extent];
    return { pixels, scale, toPixel, toPlane };
  }

  // The pad cleared to its background: {ctx, scale, toPixel} to draw the frame's marks with; null before `show`.
  begin() {
    if (!this.background) return null;
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(this.background, 0, 0);
    const { scale, toPixel } = this.geometry();
    return { ctx, scale, toPixel };
  }

  planeAt(event) {
    const rect = this.canvas.getBoundingClientRect();
    return this.geometry().toPlane(event.clientX - rect.left - this.canvas.clientLeft,
      event.clientY - rect.top - this.canvas.clientTop);
  }
}

// The class colours' key under a pad: one swatch and name per class.
function fillLegend(element, { colors, names }) {
  element.replaceChildren(...names.map((name, label) => {
    const entry = document.createElement("span");
    const swatch = Object.assign(document.createElement("span"), { className: "swatch" });
    swatch.style.background = colors[label];
    entry.append(swatch, name);
    return entry;
  }));
}

// The x and y selects of a pad's two latent dimensions: z0 .. z(D-1), the two with the largest `kl` chosen.
function fillAxisChoices([selectX, selectY], latentDim, kl) {
  const option = (value) => Object.assign(document.createElement("option"), { value, textContent: `z${value}` });
  for (const select of [selectX, selectY]) {
    select.replaceChildren(...Array.from({ length: latentDim }, (_, d) => option(d)));
  }
  const mostActive = Array.from(kl.keys()).sort((a, b) => kl[b] - kl[a]);
  [selectX.value, selectY.value] = mostActive.slice(0, 2).map(String);
}
