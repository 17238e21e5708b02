// The latent canvas: sliders and a 2-D pad that edit one latent code, decoded in the browser on every pointer
// move (onnxruntime-web, WebAssembly, loaded by ../shared/decoder.js, which comes before this script). The data
// it reads is described in ui/components/latent_canvas/__init__.py.
//
// Streamlit calls the default export again, with the same parentElement, whenever the data changes: one
// LatentCanvas lives per parentElement. Models live per page, keyed by checkpoint sha256, because Python sends
// a model's bytes once per session and a remount (page switch and back) must not recompile it. A conditional
// model's one graph decodes every class: the class chosen on the page comes in data.decoded_class.

const MODELS = (globalThis.__latentCanvasModels ??= new Map()); // sha256 -> model payload + session promise
const FRAME_MARK = "latent-canvas:frame"; // performance marks the browser test reads
const MOVE_MARK = "latent-canvas:move";
const MAX_MARKS = 5000; // then the marks are cleared, so a long session does not grow without bound
const PAD_CSS_PX = 300; // also .pad in canvas.css
const PAD_MARGIN = 1.08; // the pad shows the farthest point plus 8%
const POINTER_FRESH_MS = 100; // an input event this soon after a pointer move was caused by it (a drag)

// The model for this payload, loading its decoder when its bytes came along; undefined when they did not.
function modelFor(payload, runtimePath) {
  let model = MODELS.get(payload.sha256);
  if (!model && payload.onnx) {
    const bytes = base64Bytes(payload.onnx);
    const started = performance.now();
    const session = decoderSession(payload.sha256, bytes, runtimePath).then((loaded) => {
      performance.measure("latent-canvas:model-load", { start: started, detail: { bytes: bytes.length } });
      return loaded;
    });
    model = { ...payload, onnx: null, session };
    MODELS.set(payload.sha256, model);
  }
  return model;
}

// n copies of the code z, one after another (a batch of n codes).
function repeated(z, n) {
  const codes = new Float32Array(n * z.length);
  for (let i = 0; i < n; i++) codes.set(z, i * z.length);
  return codes;
}

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

class LatentCanvas {
  constructor(root) {
    const find = (selector) => root.querySelector(selector);
    this.el = {
      status: find(".status"), padView: find(".pad-view"), pad: find(".pad"), image: find(".image"),
      timing: find(".timing"), sliders: find(".sliders"), plane: find(".plane"), axisX: find(".axis-x"),
      axisY: find(".axis-y"), legend: find(".legend"), planeChoice: find(".plane-choice"),
      axisChoices: root.querySelectorAll(".axis-choice"), classRow: find(".class-row"),
      classImages: find(".class-images"),
    };
    this.marks = 0;
    this.lastPointerMove = -Infinity;
    this.onAnyPointerMove = (event) => { this.lastPointerMove = event.timeStamp; };
    window.addEventListener("pointermove", this.onAnyPointerMove, { capture: true, passive: true });
    this.listenToPad();
    for (const select of [this.el.plane, this.el.axisX, this.el.axisY]) {
      select.addEventListener("change", () => this.choosePlane());
    }
  }

  destroy() {
    window.removeEventListener("pointermove", this.onAnyPointerMove, { capture: true });
    this.model = null;
  }

  update(data, api) {
    this.api = api;
    if (typeof WebAssembly !== "object") return this.fail("this browser has no WebAssembly");
    const model = modelFor(data.model, data.runtime);
    if (!model) return api.setTriggerValue("model_missing", data.model.sha256);
    const newModel = model !== this.model;
    const restart = newModel || data.start.id !== this.startId;
    this.model = model;
    if (restart) {
      this.startId = data.start.id;
      this.z = Float32Array.from(data.start.z);
    }
    const newClass = data.decoded_class !== this.decodedClass;
    this.decodedClass = data.decoded_class; // a conditional model's: the same session decodes every class
    this.setSliders(data.sliders);
    if (newModel) return this.setModel(model); // it decodes once the model is ready
    this.showCode();
    if (restart || newClass) this.requestDecode(null);
  }

  setModel(model) {
    this.session = null;
    this.setPlaneChoices(model);
    this.setLegend(model.points);
    this.imageData = new ImageData(model.image_shape[2], model.image_shape[1]);
    Object.assign(this.el.image, { width: model.image_shape[2], height: model.image_shape[1] });
    this.setClassRow(model);
    model.session.then(
      ({ ort, session }) => {
        if (this.model !== model) return;
        Object.assign(this, { ort, session });
        this.setStatus(`Decoded in your browser as you drag (onnxruntime-web, WebAssembly).`);
        this.report({ state: "ready" });
        this.requestDecode(null);
      },
      (error) => this.fail(`the decoder could not be loaded in this browser (${error.message ?? error})`),
    );
  }

  // --- the code and who changes it ---

  setCode(z, moveTime) {
    this.z = z;
    this.mark(MOVE_MARK, { moveTime });
    this.showCode();
    this.requestDecode(moveTime);
  }

  commit() {
    this.report(undefined, { start: this.startId, z: Array.from(this.z) });
  }

  showCode() {
    for (const { dim, input, value } of this.sliderRows ?? []) {
      input.value = this.z[dim];
      value.textContent = this.z[dim].toFixed(2);
    }
    this.drawPad();
  }

  // --- decoding and painting ---

  requestDecode(moveTime) {
    this.wanted = { z: Float32Array.from(this.z), label: this.decodedClass, moveTime };
    if (this.session && !this.decoding) this.decodeLatest();
  }

  // Decodes the newest wanted code until none is waiting: moves that arrive during a decode are coalesced.
  // A conditional model's code is decoded as every class in one batch (the row), the chosen class's image
  // among them.
  async decodeLatest() {
    this.decoding = true;
    try {
      while (this.wanted && this.session) {
        const { model, ort, session } = this;
        const { z, label, moveTime } = this.wanted;
        this.wanted = null;
        const labels = model.class_input ? model.points.names.map((_, k) => k) : null;
        const codes = labels ? repeated(z, labels.length) : z;
        const started = performance.now();
        const pixels = await decodeCodes({ ort, session }, model, codes, z.length, labels);
        if (model !== this.model) break; // the model changed during the decode: its image is not wanted
        const decodeMs = performance.now() - started;
        const size = pixels.length / (labels?.length ?? 1);
        if (labels) this.paintClassRow(pixels, size);
        this.paint(labels ? pixels.slice(label * size, (label + 1) * size) : pixels, z, moveTime, decodeMs,
          labels?.length ?? 1);
      }
    } catch (error) {
      this.fail(`decoding failed in this browser (${error.message ?? error})`);
    } finally {
      this.decoding = false;
    }
  }

  paint(pixels, z, moveTime, decodeMs, batch) {
    paintPixels(pixels, this.model.image_shape[0], this.imageData);
    this.el.image.getContext("2d").putImageData(this.imageData, 0, 0);
    this.shown = { pixels, z, moveTime, decodeMs, batch };
    if (!this.framePending) {
      this.framePending = true;
      requestAnimationFrame(() => this.framePainted());
    }
  }

  // Runs as the browser renders the next frame, the first one that shows the newest image.
  framePainted() {
    this.framePending = false;
    const { pixels, z, moveTime, decodeMs, batch } = this.shown;
    this.mark(FRAME_MARK, { moveTime, decodeMs, batch, z: Array.from(z), pixels });
    const now = performance.now();
    if (!(now - this.timingShownAt < 250)) {
      this.timingShownAt = now;
      const images = batch > 1 ? ` (${batch} images, one batch)` : "";
      this.el.timing.textContent = `decode ${decodeMs.toFixed(2)} ms in the browser${images}`;
    }
  }

  // --- a conditional model's row: the code as every class ---

  setClassRow(model) {
    const [, height, width] = model.image_shape;
    this.el.classRow.classList.toggle("hidden", !model.class_input);
    const figures = (model.class_input ? model.points.names : []).map((name, label) => {
      const canvas = Object.assign(document.createElement("canvas"), { className: "class-image", width, height });
      canvas.dataset.label = label;
      canvas.setAttribute("aria-label", `decoded as class ${name}`);
      const figure = document.createElement("figure");
      figure.append(canvas, Object.assign(document.createElement("figcaption"), { textContent: name }));
      return figure;
    });
    this.el.classImages.replaceChildren(...figures);
    this.classCanvases = figures.map((figure) => figure.firstChild);
    this.classImageData = new ImageData(width, height);
  }

  paintClassRow(pixels, size) {
    this.classCanvases.forEach((canvas, label) => {
      paintPixels(pixels.subarray(label * size, (label + 1) * size), this.model.image_shape[0], this.classImageData);
      canvas.getContext("2d").putImageData(this.classImageData, 0, 0);
    });
  }

  mark(name, detail) {
    if (++this.marks > MAX_MARKS) {
      performance.clearMarks(FRAME_MARK);
      performance.clearMarks(MOVE_MARK);
      this.marks = 0;
    }
    performance.mark(name, { detail });
  }

  // --- status: reported once per mount (Python forgets it when the page is left) and on change ---

  report(status, code) {
    if (status && JSON.stringify(status) !== JSON.stringify(this.known)) {
      this.known = status;
      this.api.setStateValue("status", status);
    }
    if (code) this.api.setStateValue("code", code);
  }

  setStatus(text, isError = false) {
    this.el.status.textContent = text;
    this.el.status.classList.toggle("error", isError);
  }

  fail(reason) {
    this.session = null;
    this.setStatus(`In-browser decoding is off: ${reason}.`, true);
    this.report({ state: "error", reason });
  }

  // --- sliders ---

  setSliders({ dims, kl, limit }) {
    Object.assign(this, { kl, limit });
    const layout = JSON.stringify([dims, kl, limit, this.model?.sha256]);
    if (layout === this.sliderLayout) return;
    this.sliderLayout = layout;
    this.el.sliders.replaceChildren();
    this.sliderRows = dims.map((dim) => this.sliderRow(dim, kl[dim], limit));
  }

  sliderRow(dim, kl, limit) {
    const row = document.createElement("label");
    row.className = "slider";
    const name = Object.assign(document.createElement("span"), {
      className: "name", textContent: `z${dim} · KL ${kl.toFixed(2)} nats`,
    });
    const input = Object.assign(document.createElement("input"), {
      type: "range", min: -limit, max: limit, step: 0.01, value: this.z[dim],
    });
    input.dataset.dim = dim;
    input.setAttribute("aria-label", `z${dim}`);
    const value = Object.assign(document.createElement("span"), { className: "value" });
    input.addEventListener("input", (event) => {
      const z = Float32Array.from(this.z);
      z[dim] = Number(input.value);
      const fromDrag = event.timeStamp - this.lastPointerMove < POINTER_FRESH_MS;
      this.setCode(z, fromDrag ? this.lastPointerMove : event.timeStamp);
    });
    input.addEventListener("change", () => this.commit());
    row.append(name, input, value);
    this.el.sliders.append(row);
    return { dim, input, value };
  }

  // --- the pad ---

  setPlaneChoices(model) {
    const latentDim = model.latent_dim;
    this.el.padView.classList.toggle("hidden", latentDim < 2);
    this.el.planeChoice.classList.toggle("hidden", latentDim < 3);
    const option = (value, text) => Object.assign(document.createElement("option"), { value, textContent: text });
    this.el.plane.replaceChildren(option("pca", "PCA of the test codes"), option("axes", "two dimensions"));
    for (const select of [this.el.axisX, this.el.axisY]) {
      select.replaceChildren(...Array.from({ length: latentDim }, (_, d) => option(d, `z${d}`)));
    }
    const mostActive = Array.from(this.kl.keys()).sort((a, b) => this.kl[b] - this.kl[a]);
    [this.el.axisX.value, this.el.axisY.value] = mostActive.slice(0, 2).map(String);
    this.el.plane.value = latentDim > 2 ? "pca" : "axes";
    this.choosePlane();
  }

  setLegend({ colors, names }) {
    this.el.legend.replaceChildren(...names.map((name, label) => {
      const entry = document.createElement("span");
      const swatch = Object.assign(document.createElement("span"), { className: "swatch" });
      swatch.style.background = colors[label];
      entry.append(swatch, name);
      return entry;
    }));
  }

  choosePlane() {
    const model = this.model;
    const byAxes = this.el.plane.value === "axes" || model.latent_dim === 2;
    for (const choice of this.el.axisChoices) choice.classList.toggle("hidden", !byAxes || model.latent_dim === 2);
    const [i, j] = model.latent_dim === 2 ? [0, 1] : [Number(this.el.axisX.value), Number(this.el.axisY.value)];
    this.plane = byAxes ? Plane.axes(model.latent_dim, i, j)
      : new Plane(model.pca.origin, model.pca.basis, ["PC1", "PC2"]);
    this.drawPoints();
    this.drawPad();
  }

  // The square [-extent, extent]^2 of plane coordinates, drawn on the pad's pixels.
  padGeometry() {
    const pixels = PAD_CSS_PX * (window.devicePixelRatio || 1);
    const toPixel = ([u0, u1]) => [(u0 / this.extent + 1) * pixels / 2, (1 - u1 / this.extent) * pixels / 2];
    const toPlane = (x, y) => [(2 * x / PAD_CSS_PX - 1) * this.extent, (1 - 2 * y / PAD_CSS_PX) * this.extent];
    return { pixels, toPixel, toPlane };
  }

  drawPoints() {
    const { codes, labels, colors } = this.model.points;
    const coords = codes.map((code) => this.plane.project(code));
    const farthest = Math.max(...coords.flat().map(Math.abs));
    this.extent = Math.max(this.limit, farthest * PAD_MARGIN);
    const { pixels, toPixel } = this.padGeometry();
    this.background = Object.assign(document.createElement("canvas"), { width: pixels, height: pixels });
    const ctx = this.background.getContext("2d");
    const scale = pixels / PAD_CSS_PX;
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
    ctx.fillText(this.plane.names[0], pixels - 30 * scale, cy - 4 * scale);
    ctx.fillText(this.plane.names[1], cx + 4 * scale, 12 * scale);
    Object.assign(this.el.pad, { width: pixels, height: pixels });
  }

  drawPad() {
    if (!this.background || !this.plane) return;
    const ctx = this.el.pad.getContext("2d");
    const { toPixel } = this.padGeometry();
    const scale = this.el.pad.width / PAD_CSS_PX;
    const [x, y] = toPixel(this.plane.project(this.z));
    ctx.clearRect(0, 0, this.el.pad.width, this.el.pad.height);
    ctx.drawImage(this.background, 0, 0);
    ctx.lineWidth = 2 * scale;
    ctx.strokeStyle = "#111";
    ctx.beginPath();
    ctx.arc(x, y, 7 * scale, 0, 2 * Math.PI);
    ctx.moveTo(x - 11 * scale, y); ctx.lineTo(x + 11 * scale, y);
    ctx.moveTo(x, y - 11 * scale); ctx.lineTo(x, y + 11 * scale);
    ctx.stroke();
  }

  listenToPad() {
    const pad = this.el.pad;
    const move = (event) => {
      const rect = pad.getBoundingClientRect();
      const u = this.padGeometry().toPlane(event.clientX - rect.left, event.clientY - rect.top);
      this.setCode(this.plane.lift(u, this.z), event.timeStamp);
    };
    pad.addEventListener("pointerdown", (event) => {
      if (!this.plane) return;
      pad.setPointerCapture(event.pointerId);
      this.dragging = true;
      move(event);
    });
    pad.addEventListener("pointermove", (event) => this.dragging && move(event));
    const release = () => {
      if (!this.dragging) return;
      this.dragging = false;
      this.commit();
    };
    pad.addEventListener("pointerup", release);
    pad.addEventListener("pointercancel", release);
  }
}

export default function (component) {
  return mountView(LatentCanvas, component);
}
