// The embedding inspector: every encoded example of a split as a WebGL point; drag pans, the wheel zooms; hover
// shows the example's image (from the dataset's sprite, fetched once) and its reconstruction (its posterior mean
// decoded here by ../shared/model_client.js, which comes before this script; a conditional model's as the example's own
// label); click, box and lasso select, and the selected dataset indices go to Python on release. What `data`
// holds is described in __init__.py.
//
// Points are always named by their dataset index (the row of the split's arrays), never by their position in
// the drawn or filtered list, so thumbnails stay right whatever is hidden. Big arrays arrive as static files
// (immutable, named by their content), fetched once per page by ../shared/assets.js.
//
// For tests and benchmarks the root element carries data attributes (state, points, hover-index, selected,
// transform, and the URLs of the drawn view's coords and indices) and the component leaves performance marks (MOUNT_MARK, PAINT_MARK, HOVER_MARK, RECON_MARK, VIEW_MARK).

const MOUNT_MARK = "inspector:mount"; // the component's first data from Python on this page
const PAINT_MARK = "inspector:paint"; // the first frame that shows a view's points
const HOVER_MARK = "inspector:hover"; // the frame that shows a hovered point's image
const RECON_MARK = "inspector:recon"; // ... and its reconstruction
const VIEW_MARK = "inspector:view"; // a frame drawn for a pan or zoom: its input time and the draw's own ms
const MAX_RINGS = 5000; // selected points drawn ringed (also MAX_RINGS in __init__.py)
const CONTOUR_POINTS = 2000; // points the density contours are estimated from
const HOVER_RADIUS_PX = 12; // a point this close to the pointer is hovered / clicked
const CLICK_SLOP_PX = 4; // a press that moves less is a click
const FIT_MARGIN = 0.05;
const ZOOM_REST_MS = 400; // a pan or zoom still for this long goes to Python (the link keeps it)
const DIMMED = [190, 190, 190, 60]; // filtered-out points when they are dimmed, not hidden
// Viridis at 9 stops (matplotlib), for continuous colours; interpolated linearly.
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
  [92, 200, 99], [170, 220, 50], [253, 231, 37]];

function hexColor(hex) {
  const value = parseInt(hex.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

function viridis(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return VIRIDIS[i].map((c, k) => c + f * (VIRIDIS[i + 1][k] - c));
}

const VERTEX_SHADER = `
attribute vec2 a_position;
attribute vec4 a_color;
uniform vec2 u_center;
uniform vec2 u_scale;
uniform float u_size;
varying vec4 v_color;
void main() {
  gl_Position = vec4((a_position - u_center) * u_scale, 0.0, 1.0);
  gl_PointSize = u_size;
  v_color = a_color;
}`;
const FRAGMENT_SHADER = `
precision mediump float;
varying vec4 v_color;
void main() {
  vec2 d = gl_PointCoord - vec2(0.5);
  if (dot(d, d) > 0.25 || v_color.a == 0.0) discard;
  gl_FragColor = vec4(v_color.rgb * v_color.a, v_color.a);
}`;

// Draws M points with one draw call; positions and colours are buffers refilled only when they change.
class PointRenderer {
  constructor(canvas) {
    const gl = canvas.getContext("webgl", { antialias: false, premultipliedAlpha: true });
    if (!gl) throw new Error("this browser has no WebGL");
    this.gl = gl;
    const shader = (type, source) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, source);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const program = gl.createProgram();
    gl.attachShader(program, shader(gl.VERTEX_SHADER, VERTEX_SHADER));
    gl.attachShader(program, shader(gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
    gl.linkProgram(program);
    gl.useProgram(program);
    this.program = program;
    this.uniform = (name) => gl.getUniformLocation(program, name);
    this.positions = this.attribute("a_position", 2, gl.FLOAT, false);
    this.colors = this.attribute("a_color", 4, gl.UNSIGNED_BYTE, true);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    this.count = 0;
  }

  attribute(name, size, type, normalized) {
    const gl = this.gl;
    const buffer = gl.createBuffer();
    const location = gl.getAttribLocation(this.program, name);
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.enableVertexAttribArray(location);
    gl.vertexAttribPointer(location, size, type, normalized, 0, 0);
    return buffer;
  }

  setPositions(coords) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.positions);
    gl.bufferData(gl.ARRAY_BUFFER, coords, gl.STATIC_DRAW);
    this.count = coords.length / 2;
  }

  setColors(rgba) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.colors);
    gl.bufferData(gl.ARRAY_BUFFER, rgba, gl.STATIC_DRAW);
  }

  // `seeThrough`: the background is left transparent, for the decoded map under the points.
  draw(width, height, { cx, cy, sx, sy }, sizePx, seeThrough = false) {
    const gl = this.gl;
    gl.viewport(0, 0, width, height);
    if (seeThrough) gl.clearColor(0, 0, 0, 0); // premultiplied: transparent is all zeros
    else gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.uniform2f(this.uniform("u_center"), cx, cy);
    gl.uniform2f(this.uniform("u_scale"), (2 * sx) / width, (2 * sy) / height);
    gl.uniform1f(this.uniform("u_size"), sizePx);
    if (this.count) gl.drawArrays(gl.POINTS, 0, this.count);
  }
}

class Inspector {
  constructor(root) {
    const find = (selector) => root.querySelector(selector);
    this.el = {
      root: find(".embedding-inspector"), stage: find(".stage"), points: find("canvas.points"),
      overlay: find("canvas.overlay"), tooltip: find(".tooltip"), thumbImage: find(".thumb-image"),
      thumbRecon: find(".thumb-recon"), tipText: find(".tip-text"), legend: find(".legend"),
      status: find(".status"), reset: find(".reset"), tools: root.querySelectorAll(".tool"),
      mapCanvas: find("canvas.map"), mapChoices: root.querySelectorAll(".map-choice"), mapToggle: find(".map-toggle"),
      contoursToggle: find(".contours-toggle"),
    };
    this.map = null; // the DecodedMap drawn under the points (../shared/latent_pad.js), in a direct view when ticked
    this.tool = "pan";
    this.selected = [];
    this.decoder = new ModelClient({
      name: "decoder", frameMark: RECON_MARK, onStatus: (status) => this.onDecoderStatus(status),
    });
    mark(MOUNT_MARK, {});
    try {
      this.renderer = new PointRenderer(this.el.points);
    } catch (error) {
      this.fail(`the points cannot be drawn (${error.message ?? error})`);
    }
    for (const button of this.el.tools) button.addEventListener("click", () => this.setTool(button.dataset.tool));
    this.el.reset.addEventListener("click", () => { this.fit(); this.requestDraw(); this.reportZoom(); });
    this.el.mapToggle.addEventListener("change", () => this.showMap());
    this.el.contoursToggle.addEventListener("change", () => this.requestDraw());
    this.setTool("pan");
    this.listen();
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.el.stage);
  }

  destroy() {
    this.resizer.disconnect();
    clearTimeout(this.zoomRest);
    this.decoder.destroy();
    this.destroyed = true;
  }

  // --- data from Python ---

  update(data, api) {
    this.api = api;
    this.data = data;
    if (!this.renderer) return;
    this.loadPoints(data.points);
    this.loadDecoder(data.decoder);
    if (data.view.id !== this.viewId) this.loadView(data.view);
    else this.recolor();
    this.setMapSource(data);
    this.selected = data.selected;
    this.requestDraw();
  }

  loadPoints(points) {
    const key = JSON.stringify([points.labels, points.images, points.codes]);
    if (key === this.pointsKey) return;
    this.pointsKey = key;
    this.labels = null;
    this.images = null;
    this.codes = null;
    this.el.root.dataset.images = "loading";
    int32s(points.labels).then((labels) => {
      if (this.pointsKey !== key) return;
      this.labels = labels;
      this.recolor();
      this.requestDraw();
    });
    // The images (MNIST: 14 MB) and codes are for hovering: fetched once the points are drawn, so that the
    // first paint does not share the network and the main thread with them.
    this.afterPaint(() => {
      if (this.pointsKey !== key) return;
      float32s(points.codes).then((codes) => { if (this.pointsKey === key) this.codes = codes; });
      Promise.all(points.images.map((part) => asset(part.url))).then((parts) => {
        if (this.pointsKey !== key) return;
        this.images = parts.map((buffer) => new Uint8Array(buffer));
        this.el.root.dataset.images = "ready";
      }, (error) => this.fail(`the images could not be loaded (${error.message ?? error})`));
    });
  }

  afterPaint(task) {
    if (this.el.root.dataset.state === "ready") return task();
    (this.waitingForPaint ??= []).push(task);
  }

  // The decoder is for hovering: loaded once the points are drawn.
  loadDecoder(spec) {
    if (spec.url === this.decoderUrl) return;
    this.decoderUrl = spec.url;
    this.afterPaint(() => this.decoderUrl === spec.url && this.decoder.use(spec));
  }

  onDecoderStatus(status) {
    this.el.root.dataset.decoder = status.state;
    if (status.state === "error") this.setStatus(`Reconstructions are off: ${status.reason}.`, true);
  }

  loadView(view) {
    this.viewId = view.id;
    this.el.root.dataset.state = "loading";
    this.setStatus(`Loading ${view.count.toLocaleString()} points…`);
    const indices = view.indices ? int32s(view.indices) : Promise.resolve(null);
    Promise.all([float32s(view.coords), indices]).then(([coords, indices]) => {
      if (this.viewId !== view.id || this.destroyed) return;
      this.coords = coords;
      this.indices = indices ?? Int32Array.from({ length: coords.length / 2 }, (_, j) => j);
      this.renderer.setPositions(coords);
      this.paintPending = view.id;
      this.pendingZoom = view.zoom; // where a link left the view, applied once the stage has a size
      this.fit();
      this.recolor();
      this.requestDraw();
    }, (error) => this.fail(`the points could not be loaded (${error.message ?? error})`));
  }

  // Colours and visibility of the drawn points from the colouring and the filter Python asks for.
  recolor() {
    if (!this.coords || !this.labels) return;
    const { colour, filter, points } = this.data;
    const key = JSON.stringify([this.viewId, this.pointsKey, colour, filter]);
    if (key === this.colorKey) return;
    if (colour.values && this.metricUrl !== colour.values) {
      this.metricUrl = colour.values;
      this.metric = null;
      float32s(colour.values).then((values) => {
        if (this.metricUrl === colour.values) { this.metric = values; this.colorKey = null; this.recolor(); this.requestDraw(); }
      });
    }
    if (colour.values && !this.metric) return;
    this.colorKey = key;
    const palette = points.palette.map(hexColor);
    const allowed = filter.labels ? new Set(filter.labels) : null;
    const matches = filter.matches ? new Set(filter.matches) : null;
    const [lo, hi] = colour.range ?? [0, 1];
    const m = this.indices.length;
    const rgba = new Uint8Array(4 * m);
    this.visible = new Uint8Array(m);
    let shown = 0;
    for (let j = 0; j < m; j++) {
      const index = this.indices[j];
      const label = this.labels[index];
      const visible = (!allowed || allowed.has(label)) && (!matches || matches.has(index));
      this.visible[j] = visible ? 1 : 0;
      shown += visible;
      let color;
      if (!visible) color = filter.hide ? [0, 0, 0, 0] : DIMMED;
      else if (colour.values) color = [...viridis((this.metric[index * colour.columns + colour.column] - lo) / (hi - lo)), 200];
      else color = [...palette[label % palette.length], 200];
      rgba.set(color, 4 * j);
    }
    this.renderer.setColors(rgba);
    this.shownCount = shown;
    this.setLegend(colour, points);
    this.el.root.dataset.points = String(shown);
  }

  setLegend(colour, points) {
    const legend = this.el.legend;
    if (colour.values) {
      const scale = Object.assign(document.createElement("span"), { className: "scale" });
      scale.style.background = `linear-gradient(to right, ${VIRIDIS.map((c) => `rgb(${c})`).join(", ")})`;
      const [lo, hi] = colour.range;
      legend.replaceChildren(`${colour.name}:`, ` ${lo.toFixed(1)}`, scale, `${hi.toFixed(1)}`);
      return;
    }
    legend.replaceChildren(...points.names.map((name, label) => {
      const entry = document.createElement("span");
      const swatch = Object.assign(document.createElement("span"), { className: "swatch" });
      swatch.style.background = points.palette[label % points.palette.length];
      entry.append(swatch, name);
      return entry;
    }));
  }

  // --- view: pan and zoom ---

  resize() {
    const { clientWidth: width, clientHeight: height } = this.el.stage; // inside its border, as the canvases
    const ratio = window.devicePixelRatio || 1;
    this.size = { width, height, ratio };
    for (const canvas of [this.el.mapCanvas, this.el.points, this.el.overlay]) {
      canvas.width = Math.max(1, Math.round(width * ratio));
      canvas.height = Math.max(1, Math.round(height * ratio));
    }
    if (this.coords && !this.transform) this.fit();
    this.requestDraw();
  }

  fit() {
    if (!this.coords || !this.size) return;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let j = 0; j < this.coords.length; j += 2) {
      x0 = Math.min(x0, this.coords[j]); x1 = Math.max(x1, this.coords[j]);
      y0 = Math.min(y0, this.coords[j + 1]); y1 = Math.max(y1, this.coords[j + 1]);
    }
    const spanX = Math.max(x1 - x0, 1e-6), spanY = Math.max(y1 - y0, 1e-6);
    const { width, height } = this.size;
    this.transform = {
      cx: (x0 + x1) / 2, cy: (y0 + y1) / 2,
      sx: (width * (1 - 2 * FIT_MARGIN)) / spanX, sy: (height * (1 - 2 * FIT_MARGIN)) / spanY,
    };
    this.fitted = this.transform.sx;
    this.fitScale ??= this.fitted;
    const zoom = this.pendingZoom;
    this.pendingZoom = null;
    if (zoom) Object.assign(this.transform, { cx: zoom.cx, cy: zoom.cy, sx: this.transform.sx * zoom.k,
      sy: this.transform.sy * zoom.k });
  }

  // A pan or zoom that has rested goes to Python as the centre and the zoom relative to the fitted view, so a
  // link opens the same region whatever the stage's size.
  reportZoom() {
    clearTimeout(this.zoomRest);
    this.zoomRest = setTimeout(() => {
      const { cx, cy, sx } = this.transform;
      this.api?.setStateValue("zoom", { view: this.viewId, cx, cy, k: sx / this.fitted });
    }, ZOOM_REST_MS);
  }

  // Data coordinates -> CSS pixels within the stage, and back.
  toScreen(x, y) {
    const { cx, cy, sx, sy } = this.transform;
    return [this.size.width / 2 + (x - cx) * sx, this.size.height / 2 - (y - cy) * sy];
  }

  toData(px, py) {
    const { cx, cy, sx, sy } = this.transform;
    return [cx + (px - this.size.width / 2) / sx, cy - (py - this.size.height / 2) / sy];
  }

  zoom(factor, px, py, inputTime) {
    this.viewInput ??= inputTime;
    const [x, y] = this.toData(px, py);
    const t = this.transform;
    t.sx *= factor; t.sy *= factor;
    t.cx = x - (px - this.size.width / 2) / t.sx;
    t.cy = y + (py - this.size.height / 2) / t.sy;
    this.requestDraw();
    this.reportZoom();
  }

  // --- drawing ---

  requestDraw() {
    if (this.drawPending) return;
    this.drawPending = true;
    requestAnimationFrame(() => {
      this.drawPending = false;
      this.draw();
    });
  }

  pointSize() {
    const n = this.indices?.length ?? 0;
    const base = n > 20000 ? 2.5 : n > 3000 ? 3.5 : 6;
    const zoomed = this.fitScale ? Math.sqrt(this.transform.sx / this.fitScale) : 1;
    return base * Math.min(3, Math.max(1, zoomed));
  }

  draw() {
    if (!this.size || !this.transform || !this.coords || !this.colorKey) return;
    const { width, height, ratio } = this.size;
    const started = performance.now();
    this.renderer.draw(this.el.points.width, this.el.points.height, this.transform, this.pointSize() * ratio,
      Boolean(this.map));
    this.drawMap();
    this.drawOverlay();
    if (this.viewInput !== undefined) {
      mark(VIEW_MARK, { inputTime: this.viewInput, drawMs: performance.now() - started });
      this.viewInput = undefined;
    }
    this.el.root.dataset.transform = JSON.stringify({ ...this.transform, width, height });
    if (this.paintPending === this.viewId) {
      this.paintPending = null;
      this.el.root.dataset.state = "ready";
      Object.assign(this.el.root.dataset, { view: this.viewId, coords: this.data.view.coords,
        indices: this.data.view.indices ?? "" });
      this.setStatus(`${this.shownCount.toLocaleString()} of ${this.indices.length.toLocaleString()} points shown. ` +
        "Hover for the image; click, box or lasso to select.");
      mark(PAINT_MARK, { view: this.viewId, count: this.indices.length });
      for (const task of this.waitingForPaint?.splice(0) ?? []) task();
    }
  }

  // --- the decoded map under a direct view's points: the decoder's image of each tile's centre in the two shown
  // dimensions (the other dimensions at the prior's mean, 0; a conditional model's as class 0) ---

  setMapSource(data) {
    const direct = data.view.direct;
    for (const choice of this.el.mapChoices) choice.classList.toggle("hidden", !direct);
    if (!direct) {
      this.map = null;
      this.el.mapToggle.checked = this.el.contoursToggle.checked = false;
      return;
    }
    const { latent_dim: dim, image_shape: imageShape } = data.points;
    if (String(this.decodedMap?.imageShape) !== String(imageShape)) {
      this.decodedMap = new DecodedMap(this, this.decoder, imageShape);
    }
    const [i, j] = direct;
    const lift = ([u0, u1]) => Float32Array.from({ length: dim }, (_, d) => (d === i ? u0 : d === j ? u1 : 0));
    this.decodedMap.setSource(JSON.stringify([data.decoder.url, direct]), lift, 0);
    this.showMap();
  }

  showMap() {
    this.map = this.el.mapToggle.checked && this.data.view.direct ? this.decodedMap : null;
    this.requestDraw();
  }

  mapBounds() {
    if (!this.transform || !this.size) return [0, 0, 0, 0];
    const [x0, y1] = this.toData(0, 0), [x1, y0] = this.toData(this.size.width, this.size.height);
    return [x0, x1, y0, y1];
  }

  invalidateSoon() {
    this.requestDraw();
  }

  // The prior's circles and the codes' density (of at most CONTOUR_POINTS of them, evenly spaced) as contours.
  drawDensityContours(ctx) {
    if (this.contourCoords !== this.coords) {
      const n = this.coords.length / 2, step = Math.ceil(n / CONTOUR_POINTS);
      this.contourPoints = Array.from({ length: Math.ceil(n / step) },
        (_, k) => [this.coords[2 * k * step], this.coords[2 * k * step + 1]]);
      this.contourCoords = this.coords;
    }
    const { width, height } = this.size;
    drawContours(ctx, {
      points: this.contourPoints, priorCentre: [0, 0], light: Boolean(this.map), width, height, scale: 1,
      toPixel: ([x, y]) => this.toScreen(x, y), fromPixel: (x, y) => this.toData(x, y), holder: this,
      viewKey: JSON.stringify([this.transform, width, height, this.viewId]),
    });
  }

  drawMap() {
    const ctx = this.el.mapCanvas.getContext("2d");
    ctx.setTransform(this.size.ratio, 0, 0, this.size.ratio, 0, 0);
    ctx.clearRect(0, 0, this.size.width, this.size.height);
    if (!this.map) return;
    this.map.update();
    this.map.draw(ctx, ([x, y]) => this.toScreen(x, y));
  }

  drawOverlay() {
    const ctx = this.el.overlay.getContext("2d");
    const { ratio } = this.size;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, this.size.width, this.size.height);
    const axes = this.data.view.axes;
    ctx.fillStyle = "rgba(80, 80, 80, 0.9)";
    ctx.font = "12px sans-serif";
    ctx.fillText(`→ ${axes[0]}`, this.size.width - 90, this.size.height - 8);
    ctx.fillText(`↑ ${axes[1]}`, 8, 16);
    if (this.el.contoursToggle.checked && this.data.view.direct) this.drawDensityContours(ctx);
    this.drawEllipses(ctx);
    this.drawSelected(ctx);
    if (this.data.star) this.drawStar(ctx, ...this.toScreen(...this.data.star));
    if (this.hovered !== undefined && this.hovered !== null) this.ring(ctx, this.hovered.j, "#000", 7, 2);
    if (this.box) {
      ctx.strokeStyle = "#444"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
      const [[x0, y0], [x1, y1]] = this.box;
      ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      ctx.setLineDash([]);
    }
    if (this.lasso?.length > 1) {
      ctx.strokeStyle = "#444"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
      ctx.beginPath();
      this.lasso.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); ctx.stroke(); ctx.setLineDash([]);
    }
    this.el.root.dataset.selected = String(this.selected.length);
  }

  ring(ctx, j, color, radius, width) {
    const [x, y] = this.toScreen(this.coords[2 * j], this.coords[2 * j + 1]);
    ctx.strokeStyle = color; ctx.lineWidth = width;
    ctx.beginPath(); ctx.arc(x, y, radius, 0, 2 * Math.PI); ctx.stroke();
  }

  drawSelected(ctx) {
    if (!this.selected.length) return;
    const positions = this.positionsOf();
    ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (const index of this.selected.slice(0, MAX_RINGS)) {
      const j = positions.get(index);
      if (j === undefined) continue;
      const [x, y] = this.toScreen(this.coords[2 * j], this.coords[2 * j + 1]);
      ctx.moveTo(x + 5, y); ctx.arc(x, y, 5, 0, 2 * Math.PI);
    }
    ctx.stroke();
  }

  // Posterior sigma of the two shown dimensions around each selected mean: 1 sigma solid, 2 sigma dashed.
  drawEllipses(ctx) {
    const { sx, sy } = this.transform;
    ctx.strokeStyle = "rgba(214, 39, 40, 0.9)"; ctx.lineWidth = 1.5;
    for (const { x, y, sigma } of this.data.ellipses ?? []) {
      const [px, py] = this.toScreen(x, y);
      for (const k of [1, 2]) {
        ctx.setLineDash(k === 2 ? [5, 4] : []);
        ctx.beginPath();
        ctx.ellipse(px, py, Math.max(0.5, k * sigma[0] * sx), Math.max(0.5, k * sigma[1] * sy), 0, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
    ctx.setLineDash([]);
  }

  drawStar(ctx, x, y) {
    ctx.fillStyle = "#000"; ctx.strokeStyle = "#fff"; ctx.lineWidth = 1;
    ctx.beginPath();
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 4 : 10, a = -Math.PI / 2 + (k * Math.PI) / 5;
      ctx.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
    ctx.closePath(); ctx.fill(); ctx.stroke();
  }

  positionsOf() {
    if (this.positionsFor !== this.indices) {
      this.positionsFor = this.indices;
      this.positions = new Map();
      this.indices.forEach((index, j) => this.positions.set(index, j));
    }
    return this.positions;
  }

  // --- pointer: hover, click, pan, box, lasso ---

  setTool(tool) {
    this.tool = tool;
    for (const button of this.el.tools) button.classList.toggle("active", button.dataset.tool === tool);
    this.el.stage.classList.remove("pan", "box", "lasso");
    this.el.stage.classList.add(tool);
  }

  listen() {
    const stage = this.el.stage;
    const local = (event) => {
      const rect = stage.getBoundingClientRect();
      return [event.clientX - rect.left - stage.clientLeft, event.clientY - rect.top - stage.clientTop];
    };
    stage.addEventListener("pointerdown", (event) => {
      if (!this.coords || event.button !== 0) return;
      stage.setPointerCapture(event.pointerId);
      const at = local(event);
      this.press = { at, last: at, moved: false, shift: event.shiftKey };
      if (this.tool === "lasso") this.lasso = [at];
      this.hideTooltip();
    });
    stage.addEventListener("pointermove", (event) => {
      if (!this.coords) return;
      const at = local(event);
      if (!this.press) return this.hover(at, event.timeStamp);
      const [dx, dy] = [at[0] - this.press.at[0], at[1] - this.press.at[1]];
      this.press.moved ||= Math.hypot(dx, dy) >= CLICK_SLOP_PX;
      if (!this.press.moved) return;
      if (this.tool === "pan") {
        this.viewInput ??= event.timeStamp;
        const t = this.transform;
        t.cx -= (at[0] - this.press.last[0]) / t.sx;
        t.cy += (at[1] - this.press.last[1]) / t.sy;
      } else if (this.tool === "box") {
        this.box = [this.press.at, at];
      } else {
        // Moves arriving within one frame come as one event: take every position, or the lasso cuts corners.
        const moves = event.getCoalescedEvents?.() ?? [];
        this.lasso.push(...(moves.length ? moves.map(local) : [at]));
      }
      this.press.last = at;
      this.requestDraw();
    });
    const release = (event) => {
      const press = this.press;
      if (!press) return;
      this.press = null;
      if (!press.moved) this.click(press.at, press.shift);
      else if (this.tool === "pan") this.reportZoom();
      else if (this.tool === "box") this.select(this.inside(([x, y]) => {
        const [[x0, y0], [x1, y1]] = this.box;
        return x >= Math.min(x0, x1) && x <= Math.max(x0, x1) && y >= Math.min(y0, y1) && y <= Math.max(y0, y1);
      }));
      else if (this.tool === "lasso") this.select(this.inside((p) => insidePolygon(p, this.lasso)));
      this.box = null;
      this.lasso = null;
      this.requestDraw();
      if (event.type === "pointerup") this.hover(local(event), event.timeStamp);
    };
    stage.addEventListener("pointerup", release);
    stage.addEventListener("pointercancel", release);
    stage.addEventListener("pointerleave", () => { if (!this.press) this.hideTooltip(); });
    stage.addEventListener("wheel", (event) => {
      if (!this.coords) return;
      event.preventDefault();
      this.zoom(Math.exp(-event.deltaY * 0.0015), ...local(event), event.timeStamp);
    }, { passive: false });
  }

  // The visible point nearest to a stage position, within HOVER_RADIUS_PX: {j, index} or null.
  nearest([px, py]) {
    const { cx, cy, sx, sy } = this.transform;
    const x = px - this.size.width / 2, y = this.size.height / 2 - py;
    let best = HOVER_RADIUS_PX * HOVER_RADIUS_PX, found = -1;
    const coords = this.coords, visible = this.visible;
    for (let j = 0; j < this.indices.length; j++) {
      if (!visible[j]) continue;
      const dx = (coords[2 * j] - cx) * sx - x, dy = (coords[2 * j + 1] - cy) * sy - y;
      const d = dx * dx + dy * dy;
      if (d < best) { best = d; found = j; }
    }
    return found < 0 ? null : { j: found, index: this.indices[found] };
  }

  inside(test) {
    const picked = [];
    for (let j = 0; j < this.indices.length; j++) {
      if (this.visible[j] && test(this.toScreen(this.coords[2 * j], this.coords[2 * j + 1]))) picked.push(this.indices[j]);
    }
    return picked;
  }

  click(at, shift) {
    const point = this.nearest(at);
    if (!point) return;
    if (!shift) return this.select([point.index]);
    const others = this.selected.filter((index) => index !== point.index);
    this.select(others.length < this.selected.length ? others : [...this.selected, point.index]);
  }

  select(indices) {
    this.selected = indices;
    this.selectionSeq = (this.selectionSeq ?? 0) + 1;
    this.requestDraw();
    this.api.setStateValue("selection", { view: this.viewId, indices, seq: `${Date.now()}-${this.selectionSeq}` });
  }

  hover(at, moveTime) {
    const point = this.visible ? this.nearest(at) : null;
    if (!point) return this.hideTooltip();
    this.placeTooltip(at);
    if (point.index === this.hovered?.index) return;
    this.hovered = point;
    this.el.root.dataset.hoverIndex = String(point.index);
    this.showThumbnail(point.index, moveTime);
    this.requestDraw();
  }

  hideTooltip() {
    if (this.hovered === null) return;
    this.hovered = null;
    delete this.el.root.dataset.hoverIndex;
    this.el.tooltip.classList.add("hidden");
    this.requestDraw();
  }

  placeTooltip([x, y]) {
    const tip = this.el.tooltip;
    tip.classList.remove("hidden");
    const left = x + 16 + tip.offsetWidth > this.size.width ? x - 16 - tip.offsetWidth : x + 16;
    const top = Math.min(Math.max(0, y - tip.offsetHeight / 2), this.size.height - tip.offsetHeight);
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
  }

  // --- thumbnails: the image from the sprite, the reconstruction decoded from the mean ---

  showThumbnail(index, moveTime) {
    const { points } = this.data;
    const label = this.labels ? this.labels[index] : null;
    const { split, position } = partOf(points.images, index);
    const name = label === null ? "" : ` · ${points.names[label] ?? label}`;
    const where = points.images.length > 1 ? ` (${split} #${position})` : ""; // "all": which split it is from
    this.el.tipText.textContent = `#${index}${where}${name}`;
    const [channels, height, width] = points.image_shape;
    const canvas = this.el.thumbImage;
    Object.assign(canvas, { width, height });
    delete canvas.dataset.index;
    if (this.images) {
      const part = this.images[points.images.indexOf(partOf(points.images, index).part)];
      canvas.getContext("2d").putImageData(paintBytes(part, position, channels, new ImageData(width, height)), 0, 0);
      canvas.dataset.index = String(index);
      requestAnimationFrame(() => mark(HOVER_MARK, { index, moveTime }));
    }
    this.decodeRecon(index, moveTime);
  }

  // The newest hover wins (ModelClient); a conditional model decodes the point's mean as the point's own label:
  // its reconstruction.
  decodeRecon(index, moveTime) {
    const canvas = this.el.thumbRecon;
    delete canvas.dataset.index;
    if (!this.codes || !this.labels) return;
    const { latent_dim: dim, image_shape: [channels, height, width] } = this.data.points;
    const z = this.codes.slice(index * dim, (index + 1) * dim), label = this.labels[index];
    this.decoder.request({
      inputs: (spec) => decoderInputs(spec, z, dim, [label]),
      show: (pixels, decodeMs) => {
        if (this.hovered?.index !== index) return null;
        Object.assign(canvas, { width, height });
        canvas.getContext("2d").putImageData(paintPixels(pixels, channels, new ImageData(width, height)), 0, 0);
        canvas.dataset.index = String(index);
        return { index, moveTime, decodeMs };
      },
    });
  }

  setStatus(text, isError = false) {
    this.el.status.textContent = text;
    this.el.status.classList.toggle("error", isError);
  }

  fail(reason) {
    this.el.root.dataset.state = "error";
    this.setStatus(`The inspector cannot draw: ${reason}.`, true);
    if (this.api && reason !== this.reported) {
      this.reported = reason;
      this.api.setStateValue("problem", reason);
    }
  }
}

// Which image part (a split's file) holds dataset index `index`, and the position in it.
function partOf(parts, index) {
  let offset = 0;
  for (const part of parts) {
    if (index < offset + part.count) return { part, split: part.split, position: index - offset };
    offset += part.count;
  }
  return { part: parts.at(-1), split: "?", position: index };
}

function insidePolygon([x, y], polygon) {
  let inside = false;
  for (let i = 0, k = polygon.length - 1; i < polygon.length; k = i++) {
    const [xi, yi] = polygon[i], [xk, yk] = polygon[k];
    if ((yi > y) !== (yk > y) && x < ((xk - xi) * (y - yi)) / (yk - yi) + xi) inside = !inside;
  }
  return inside;
}

export default function (component) {
  return mountView(Inspector, component);
}
