// Shared by the browser components (ui/components.script() puts it before each component's script): the latent
// pad, a square over a plane of latent space with the dataset's test codes drawn on it, coloured by label, that
// zooms and pans, optionally over the decoder's images tiled across the view and with density contours. The
// latent canvas moves a code on it; the draw pad shows a drawing's posterior on it.

const PAD_CSS_PX = 300; // a pad's width in its CSS, used until the pad is laid out (a phone's is narrower)
const PAD_MARGIN = 1.08; // the pad shows the farthest point plus 8%
const PAD_VIEW_MARK = "latent-pad:view"; // the frame that shows a pan or zoom: detail {inputTime, extent}
const WHEEL_ZOOM = 0.0015; // per wheel delta unit: a notch (100) zooms by 16%
// A frame that shows newly decoded tiles: detail {decodeMs, tiles (of the last run), decodedTiles and decodingMs (all
// runs so far), size, and the last run's first tile: u (its centre), z (its code), pixels}.
const MAP_MARK = "decoded-map:tiles";
const MAP_TILES_ACROSS = 8; // 8 to 16 tiles span the pad at any zoom
const MAP_BATCH = 64; // tiles decoded per run at most ...
const MAP_RUN_MS = 8; // ... and as many as the decoder runs in this long: a run holds the page's one thread
const MAP_MAX_TILES = 4096; // tiles kept, the oldest dropped
const CONTOUR_GRID = 48; // density evaluated on 48 x 48 points over the pad
const DENSITY_LEVELS = [0.05, 0.25, 0.6]; // contours at these fractions of the density's peak on the pad

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

// The pad's canvas: `show(plane, points, minExtent)` puts the points ({codes, labels, colors}) projected on the plane
// on it, first seen as the square [-extent, extent]^2 of plane coordinates around the origin; the wheel zooms about
// the pointer and a drag with Shift, the middle or the right button (or any drag, `panWithDrag`) pans. What does not
// change from frame to frame (the decoded map, contours, axes, points) is drawn once per view as the background;
// `begin()` clears the pad to it for a frame's marks; `planeAt(event)` is a pointer's position in plane coordinates.
// onChange() is called when the background changed (the component draws its marks again), onView() when the user
// moved the view (a wheel or a pan).
class PadView {
  constructor(canvas, { onChange = () => {}, onView = () => {}, panWithDrag = false } = {}) {
    Object.assign(this, { canvas, onChange, onView, panWithDrag, centre: [0, 0], contours: false, map: null });
    this.listenToNavigation();
  }

  show(plane, points, minExtent) {
    const coords = points.codes.map((code) => plane.project(code));
    const farthest = Math.max(...coords.flat().map(Math.abs));
    Object.assign(this, { plane, points, coords, homeExtent: Math.max(minExtent, farthest * PAD_MARGIN) });
    this.density = null;
    this.home();
  }

  home() {
    this.setView([0, 0], this.homeExtent);
  }

  setView(centre, extent, inputTime = null) {
    Object.assign(this, { centre, extent });
    this.viewInput = inputTime;
    this.map?.update();
    this.invalidate();
    if (inputTime !== null) this.onView();
  }

  setContours(on) {
    this.contours = on;
    this.invalidate();
  }

  setMap(map) {
    this.map = map;
    map?.update();
    this.invalidate();
  }

  // The square in view, [x0, x1, y0, y1] in plane coordinates (a DecodedMap's view).
  mapBounds() {
    const [c0, c1] = this.centre, e = this.extent;
    return [c0 - e, c0 + e, c1 - e, c1 + e];
  }

  // The background must be drawn again (the view or a layer changed).
  invalidate() {
    this.background = null;
    if (this.plane) this.onChange();
  }

  // ... at the next frame, once for everything that changes before it (decoded tiles arriving).
  invalidateSoon() {
    if (this.redrawPending) return;
    this.redrawPending = true;
    requestAnimationFrame(() => {
      this.redrawPending = false;
      this.invalidate();
    });
  }

  // The pad's pixels and scale, and toPixel: plane coordinates -> the pad's pixels; toPlane takes CSS pixels from
  // the pad's content box.
  geometry() {
    const css = this.canvas.clientWidth || PAD_CSS_PX;
    const scale = window.devicePixelRatio || 1;
    const pixels = Math.round(css * scale);
    const [c0, c1] = this.centre, extent = this.extent;
    const toPixel = ([u0, u1]) => [((u0 - c0) / extent + 1) * pixels / 2, (1 - (u1 - c1) / extent) * pixels / 2];
    const toPlane = (x, y) => [c0 + (2 * x / css - 1) * extent, c1 + (1 - 2 * y / css) * extent];
    return { css, pixels, scale, toPixel, toPlane };
  }

  // The pad cleared to its background: {ctx, scale, toPixel} to draw the frame's marks with; null before `show`.
  begin() {
    if (!this.plane) return null;
    if (!this.background) this.render();
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(this.background, 0, 0);
    const { scale, toPixel } = this.geometry();
    return { ctx, scale, toPixel };
  }

  render() {
    const { pixels, scale, toPixel, toPlane } = this.geometry();
    this.background = Object.assign(document.createElement("canvas"), { width: pixels, height: pixels });
    const ctx = this.background.getContext("2d");
    this.map?.draw(ctx, toPixel);
    if (this.contours) this.drawContours(ctx, { pixels, scale, toPixel, toPlane });
    ctx.strokeStyle = "rgba(128, 128, 128, 0.35)";
    ctx.beginPath();
    const [cx, cy] = toPixel([0, 0]);
    ctx.moveTo(cx, 0); ctx.lineTo(cx, pixels); ctx.moveTo(0, cy); ctx.lineTo(pixels, cy);
    ctx.stroke();
    const { labels, colors } = this.points;
    ctx.globalAlpha = this.map ? 0.45 : 0.7;
    const size = this.map ? 2 : 3;
    this.coords.forEach((u, k) => {
      const [x, y] = toPixel(u);
      if (x < -size || y < -size || x > pixels + size || y > pixels + size) return;
      ctx.fillStyle = colors[labels[k]];
      ctx.fillRect(x - size / 2 * scale, y - size / 2 * scale, size * scale, size * scale);
    });
    ctx.globalAlpha = 1;
    ctx.fillStyle = this.map ? "rgba(255, 255, 255, 0.9)" : "rgba(90, 90, 90, 0.9)";
    ctx.font = `${11 * scale}px sans-serif`;
    ctx.fillText(this.plane.names[0], pixels - 30 * scale, Math.min(pixels, Math.max(12 * scale, cy - 4 * scale)));
    ctx.fillText(this.plane.names[1], Math.min(pixels - 30 * scale, Math.max(0, cx + 4 * scale)), 12 * scale);
    Object.assign(this.canvas, { width: pixels, height: pixels });
    this.canvas.dataset.view = JSON.stringify({ centre: this.centre, extent: this.extent }); // read by tests
    if (this.viewInput !== null) {
      const inputTime = this.viewInput;
      this.viewInput = null;
      requestAnimationFrame(() => mark(PAD_VIEW_MARK, { inputTime, extent: this.extent }));
    }
  }

  drawContours(ctx, { pixels, scale, toPixel, toPlane }) {
    const viewKey = JSON.stringify([this.centre, this.extent, pixels, this.plane.names, this.plane.origin]);
    drawContours(ctx, {
      points: this.coords, priorCentre: this.plane.project(new Array(this.plane.origin.length).fill(0)),
      light: Boolean(this.map), width: pixels, height: pixels, toPixel, scale, holder: this, viewKey,
      fromPixel: (x, y) => toPlane(x / scale, y / scale),
    });
  }

  planeAt(event) {
    return this.geometry().toPlane(...this.cssAt(event));
  }

  // A pointer's position in CSS pixels from the pad's content box.
  cssAt(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left - this.canvas.clientLeft, event.clientY - rect.top - this.canvas.clientTop];
  }

  // Two fingers down: the pinch starts from their distance and the plane point under their midpoint.
  startPinch() {
    const [a, b] = this.pointers.values();
    const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    this.pinch = { gap: Math.hypot(a[0] - b[0], a[1] - b[1]), extent: this.extent,
      at: this.geometry().toPlane(...mid) };
  }

  // The view zoomed by how far the two fingers have spread, with the pinch's plane point under their midpoint.
  pinchTo(inputTime) {
    const [a, b] = this.pointers.values();
    const extent = this.pinch.extent * this.pinch.gap / Math.max(1, Math.hypot(a[0] - b[0], a[1] - b[1]));
    const css = this.geometry().css;
    const offset = [(a[0] + b[0]) / css - 1, 1 - (a[1] + b[1]) / css]; // the midpoint, in [-1, 1] of the view
    this.setView(this.pinch.at.map((u, axis) => u - offset[axis] * extent), extent, inputTime);
  }

  // The wheel zooms about the pointer; a pan drag moves the view; two fingers pinch (zoom about their midpoint and
  // pan with it). A pan's and a pinch's events stop here (until every finger of a pinch is lifted): the component's
  // own pointer handlers (registered after this) do not see them, so a pinch does not move the component's code.
  listenToNavigation() {
    const canvas = this.canvas;
    this.pointers = new Map(); // pointerId -> [x, y] in the pad's CSS pixels, of each finger down on it
    canvas.addEventListener("wheel", (event) => {
      if (!this.plane) return;
      event.preventDefault();
      const at = this.planeAt(event);
      const factor = Math.exp(Math.max(-1, Math.min(1, event.deltaY * WHEEL_ZOOM)));
      const extent = this.extent * factor;
      this.setView(at.map((u, axis) => u + (this.centre[axis] - u) * factor), extent, event.timeStamp);
    }, { passive: false });
    canvas.addEventListener("pointerdown", (event) => {
      if (!this.plane) return;
      if (event.pointerType === "touch") this.pointers.set(event.pointerId, this.cssAt(event));
      if (this.pointers.size >= 2) {
        event.stopImmediatePropagation();
        if (this.pointers.size > 2) return;
        canvas.setPointerCapture(event.pointerId);
        this.panFrom = null;
        this.startPinch();
        return;
      }
      if (!(this.panWithDrag || event.shiftKey || event.button !== 0)) return;
      event.stopImmediatePropagation();
      canvas.setPointerCapture(event.pointerId);
      this.panFrom = this.planeAt(event);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (this.pointers.has(event.pointerId)) this.pointers.set(event.pointerId, this.cssAt(event));
      if (this.pinch) {
        event.stopImmediatePropagation();
        if (this.pointers.size >= 2) this.pinchTo(event.timeStamp);
        return;
      }
      if (!this.panFrom) return;
      event.stopImmediatePropagation();
      const at = this.planeAt(event);
      this.setView(this.centre.map((c, axis) => c + this.panFrom[axis] - at[axis]), this.extent, event.timeStamp);
    });
    const release = (event) => {
      this.pointers.delete(event.pointerId);
      if (this.pinch && !this.pointers.size) this.pinch = null; // the component sees the release: it ends its drag
      if (!this.panFrom) return;
      event.stopImmediatePropagation();
      this.panFrom = null;
    };
    canvas.addEventListener("pointerup", release);
    canvas.addEventListener("pointercancel", release);
    canvas.addEventListener("contextmenu", (event) => event.preventDefault()); // the right button pans
  }
}

// --- the decoded map: the decoder's images tiled over the visible region, re-decoded as the view changes ---

// Its view is the pad (PadView) or the scatter's direct view (the inspector): {mapBounds() -> [x0, x1, y0, y1] in
// view, map: the DecodedMap it shows (or null), invalidateSoon(): draw again}. Tiles are squares of a side 2^k in
// plane coordinates, k chosen so that MAP_TILES_ACROSS to twice as many span the view's longer side at any zoom;
// each shows the decoder's image at its centre. Tiles are cached by level and position (for one source: the plane,
// the rest of the code, the class) and decoded in batches sized to take about MAP_RUN_MS in the decoder client's
// "map" lane, so the pad's own code is decoded first and input is never held up long.
class DecodedMap {
  constructor(view, client, imageShape) {
    Object.assign(this, { view, client, imageShape, tiles: new Map(), batch: 8, decodedTiles: 0, decodingMs: 0 });
  }

  // `key` names what the tiles show besides their position; lift(u) is the code at plane point u; a conditional
  // model's tiles are decoded as class `label` (null for an unconditional one).
  setSource(key, lift, label) {
    if (key === this.key) return;
    Object.assign(this, { key, lift, label });
    this.tiles.clear();
    this.update();
    this.view.invalidateSoon();
  }

  tileSize() {
    const [x0, x1, y0, y1] = this.view.mapBounds();
    return 2 ** Math.floor(Math.log2(Math.max(x1 - x0, y1 - y0) / MAP_TILES_ACROSS));
  }

  // The tiles of side `size` over the view: {id, u (centre), size}.
  visible(size) {
    const [x0, x1, y0, y1] = this.view.mapBounds();
    const tiles = [];
    for (let iy = Math.floor(y0 / size); iy * size < y1; iy++) {
      for (let ix = Math.floor(x0 / size); ix * size < x1; ix++) {
        tiles.push({ id: `${size}:${ix}:${iy}`, u: [(ix + 0.5) * size, (iy + 0.5) * size], size });
      }
    }
    return tiles;
  }

  // Decode the visible tiles not decoded yet, MAP_BATCH at a time, the newest view's first.
  update() {
    const size = this.tileSize();
    if (!this.lift || this.view.map !== this || !(size > 0)) return; // decoded only while it is shown
    const missing = this.visible(size).filter((tile) => !this.tiles.has(tile.id)).slice(0, this.batch);
    if (!missing.length) return;
    const key = this.key, codes = missing.map((tile) => this.lift(tile.u)), dim = codes[0].length;
    const batch = new Float32Array(missing.length * dim);
    codes.forEach((z, k) => batch.set(z, k * dim));
    this.client.request({
      frameMark: MAP_MARK,
      inputs: (spec) => decoderInputs(spec, batch, dim, missing.map(() => this.label)),
      show: (output, decodeMs) => {
        if (key !== this.key) return null;
        const pixels = Array.isArray(output) ? output[0] : output; // with other models' decoders: this model's
        const [channels, height, width] = this.imageShape, area = channels * height * width;
        missing.forEach((tile, k) => this.keep(tile.id, paintPixels(pixels.subarray(k * area, (k + 1) * area),
          channels, new ImageData(width, height))));
        this.decodedTiles += missing.length;
        this.decodingMs += decodeMs;
        const perTile = Math.max(decodeMs, 0.01) / missing.length;
        this.batch = Math.max(1, Math.min(MAP_BATCH, Math.round(MAP_RUN_MS / perTile)));
        this.view.invalidateSoon();
        setTimeout(() => this.update(), 0); // a task of its own: input and frames come between the runs
        return { decodeMs, tiles: missing.length, decodedTiles: this.decodedTiles, decodingMs: this.decodingMs,
          size: missing[0].size, u: missing[0].u,
          z: Array.from(codes[0]), pixels: Array.from(pixels.subarray(0, area)) };
      },
    }, "map");
  }

  keep(id, image) {
    const canvas = Object.assign(document.createElement("canvas"), { width: image.width, height: image.height });
    canvas.getContext("2d").putImageData(image, 0, 0);
    this.tiles.set(id, canvas);
    while (this.tiles.size > MAP_MAX_TILES) this.tiles.delete(this.tiles.keys().next().value);
  }

  // The visible tiles, each over its square; where a tile is not decoded yet, the tile one level up stands in.
  draw(ctx, toPixel) {
    const size = this.tileSize();
    if (!(size > 0)) return;
    ctx.imageSmoothingEnabled = false;
    for (const tile of [...this.visible(2 * size), ...this.visible(size)]) {
      const image = this.tiles.get(tile.id);
      if (!image) continue;
      const [x0, y0] = toPixel([tile.u[0] - tile.size / 2, tile.u[1] + tile.size / 2]);
      const [x1, y1] = toPixel([tile.u[0] + tile.size / 2, tile.u[1] - tile.size / 2]);
      ctx.drawImage(image, x0, y0, x1 - x0, y1 - y0);
    }
    ctx.imageSmoothingEnabled = true;
  }
}

// --- density contours: the dataset's codes (a Gaussian kernel estimate) and the prior N(0, I) ---

// On `ctx`, over width x height of its units: the prior's 1-, 2- and 3-sigma circles around `priorCentre` (its
// marginal on an orthonormal plane is N(project(0), I)) and contours of the density of `points` (plane coordinates
// [u0, u1]) at DENSITY_LEVELS of its peak in view (marching squares on a CONTOUR_GRID grid). toPixel: plane -> ctx
// units; fromPixel: ctx units -> plane; `light` for lines over the decoded map; `holder.density` keeps the grid while
// `viewKey` stays the same.
function drawContours(ctx, { points, priorCentre, light, width, height, toPixel, fromPixel, scale, holder, viewKey }) {
  ctx.lineWidth = 1.5 * scale;
  ctx.setLineDash([4 * scale, 3 * scale]);
  ctx.strokeStyle = light ? "rgba(255, 255, 255, 0.8)" : "rgba(60, 60, 60, 0.8)";
  const [cx, cy] = toPixel(priorCentre);
  for (const r of [1, 2, 3]) {
    const [right, top] = toPixel([priorCentre[0] + r, priorCentre[1] + r]);
    ctx.beginPath();
    ctx.ellipse(cx, cy, Math.abs(right - cx), Math.abs(cy - top), 0, 0, 2 * Math.PI);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  if (holder.density?.viewKey !== viewKey) {
    holder.density = { viewKey, grid: densityGrid(points, fromPixel, width, height) };
  }
  const density = holder.density.grid;
  const peak = Math.max(...density.values);
  ctx.strokeStyle = "rgba(255, 75, 75, 0.9)";
  const cells = [width / (CONTOUR_GRID - 1), height / (CONTOUR_GRID - 1)];
  for (const level of DENSITY_LEVELS) marchingSquares(ctx, density, level * peak, cells);
}

// The points' density (unnormalised) at CONTOUR_GRID x CONTOUR_GRID points over width x height: a Gaussian kernel of
// Scott's bandwidth in plane units, so the contours keep their shape as the view zooms.
function densityGrid(points, fromPixel, width, height) {
  const n = points.length;
  const spread = [0, 1].map((axis) => {
    const values = points.map((u) => u[axis]), mean = values.reduce((a, b) => a + b, 0) / n;
    return Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / n);
  });
  const bandwidth = spread.map((s) => Math.max(1e-6, s * n ** (-1 / 6)));
  const values = new Float32Array(CONTOUR_GRID * CONTOUR_GRID);
  for (let j = 0; j < CONTOUR_GRID; j++) {
    for (let i = 0; i < CONTOUR_GRID; i++) {
      const [u0, u1] = fromPixel(i * width / (CONTOUR_GRID - 1), j * height / (CONTOUR_GRID - 1));
      let sum = 0;
      for (const [v0, v1] of points) {
        const d0 = (u0 - v0) / bandwidth[0], d1 = (u1 - v1) / bandwidth[1];
        if (d0 * d0 + d1 * d1 < 16) sum += Math.exp(-0.5 * (d0 * d0 + d1 * d1));
      }
      values[j * CONTOUR_GRID + i] = sum;
    }
  }
  return { values, size: CONTOUR_GRID };
}

// The contour of `grid` at `level` as line segments, each cell's by linear interpolation along its edges.
function marchingSquares(ctx, { values, size }, level, [cellX, cellY]) {
  const at = (i, j) => values[j * size + i];
  const cross = (a, b) => (level - a) / (b - a);
  ctx.beginPath();
  for (let j = 0; j < size - 1; j++) {
    for (let i = 0; i < size - 1; i++) {
      const corners = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
      const edges = []; // the points where the level crosses the cell's edges: top, right, bottom, left
      if ((corners[0] > level) !== (corners[1] > level)) edges.push([i + cross(corners[0], corners[1]), j]);
      if ((corners[1] > level) !== (corners[2] > level)) edges.push([i + 1, j + cross(corners[1], corners[2])]);
      if ((corners[3] > level) !== (corners[2] > level)) edges.push([i + cross(corners[3], corners[2]), j + 1]);
      if ((corners[0] > level) !== (corners[3] > level)) edges.push([i, j + cross(corners[0], corners[3])]);
      for (let k = 0; k + 1 < edges.length; k += 2) {
        ctx.moveTo(edges[k][0] * cellX, edges[k][1] * cellY);
        ctx.lineTo(edges[k + 1][0] * cellX, edges[k + 1][1] * cellY);
      }
    }
  }
  ctx.stroke();
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
