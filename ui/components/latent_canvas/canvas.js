// The latent canvas: sliders and a 2-D pad that edit one latent code, decoded in the browser on every pointer
// move (../shared/model_client.js, which comes before this script, runs the decoder; ../shared/latent_pad.js
// draws the pad's points). The data it reads is
// described in ui/components/latent_canvas/__init__.py.
//
// Streamlit calls the default export again, with the same parentElement, whenever the data changes: one
// LatentCanvas lives per parentElement. A model's payload (its points and plane, the decoder's URL) lives per page,
// keyed by checkpoint sha256, because Python sends it once per session and a remount (page switch and back) must
// not need it again. A conditional model's one graph decodes every class: the class chosen on the page comes in
// data.decoded_class. data.others (models of the same latent size and image shape) are decoded with the same code, by
// the same client, and painted in the same frame.

const MODELS = (globalThis.__latentCanvasModels ??= new Map()); // sha256 -> model payload
const FRAME_MARK = "latent-canvas:frame"; // performance marks the browser test reads
const MOVE_MARK = "latent-canvas:move";
const RECORDED_MARK = "latent-canvas:recorded"; // a frame added to the recording, detail {frames so far}
const RECORDING_PX = 256; // the recording's pad and image, each a square this many pixels wide
const POINTER_FRESH_MS = 100; // an input event this soon after a pointer move was caused by it (a drag)
const KEY_DIRECTIONS = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
const KEY_STEP = 0.02; // of the pad's width per arrow key; with Shift, KEY_STEP_LARGE
const KEY_STEP_LARGE = 0.1;
const KEY_COMMIT_MS = 300; // after the last arrow key is released the code goes to Python, as on a pointer release
const VIEW_REST_MS = 400; // the pad's plane and view, still for this long, go to Python (the link keeps them)

// The model of this payload (kept for the page when it came whole); undefined when only its sha256 came.
function modelFor(payload) {
  if (!MODELS.has(payload.sha256) && payload.decoder) MODELS.set(payload.sha256, payload);
  return MODELS.get(payload.sha256);
}

// n copies of the code z, one after another (a batch of n codes).
function repeated(z, n) {
  const codes = new Float32Array(n * z.length);
  for (let i = 0; i < n; i++) codes.set(z, i * z.length);
  return codes;
}

class LatentCanvas {
  constructor(root) {
    const find = (selector) => root.querySelector(selector);
    this.el = {
      status: find(".status"), padView: find(".pad-view"), pad: find(".pad"), image: find(".image"),
      timing: find(".timing"), sliders: find(".sliders"), plane: find(".plane"), axisX: find(".axis-x"),
      axisY: find(".axis-y"), legend: find(".legend"), planeChoice: find(".plane-choice"),
      axisChoices: root.querySelectorAll(".axis-choice"), classRow: find(".class-row"),
      classImages: find(".class-images"), mapToggle: find(".map-toggle"), contoursToggle: find(".contours-toggle"),
      home: find(".home"), record: find(".record"), others: find(".others"), otherImages: find(".other-images"),
    };
    this.el.record.addEventListener("click", () => (this.recorder ? this.stopRecording() : this.startRecording()));
    this.decoder = new ModelClient({
      name: "decoder", frameMark: FRAME_MARK, onStatus: (status) => this.onStatus(status),
    });
    // ../shared/latent_pad.js
    this.pad = new PadView(this.el.pad, { onChange: () => this.drawPad(), onView: () => this.reportView() });
    this.lastPointerMove = -Infinity;
    this.onAnyPointerMove = (event) => { this.lastPointerMove = event.timeStamp; };
    window.addEventListener("pointermove", this.onAnyPointerMove, { capture: true, passive: true });
    this.listenToPad();
    this.padResized = new ResizeObserver(() => this.pad.invalidate()); // a narrow layout sizes the pad by its column
    this.padResized.observe(this.el.pad);
    for (const select of [this.el.plane, this.el.axisX, this.el.axisY]) {
      select.addEventListener("change", () => { this.choosePlane(); this.reportView(); });
    }
    this.el.mapToggle.addEventListener("change", () => this.pad.setMap(this.el.mapToggle.checked ? this.map : null));
    this.el.contoursToggle.addEventListener("change", () => this.pad.setContours(this.el.contoursToggle.checked));
    this.el.home.addEventListener("click", () => { this.pad.home(); this.reportView(); });
  }

  destroy() {
    window.removeEventListener("pointermove", this.onAnyPointerMove, { capture: true });
    this.padResized.disconnect();
    clearTimeout(this.keyCommit);
    clearTimeout(this.viewRest);
    this.recorder?.stop();
    this.decoder.destroy();
    this.model = null;
  }

  update(data, api) {
    this.api = api;
    const model = modelFor(data.model);
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
    if (newModel) this.setModel(model, data.view);
    const newOthers = this.setOthers(model, data.others ?? []);
    this.showCode();
    if (restart || newClass || newOthers) this.requestDecode(null); // decoded once the decoder is ready
  }

  setModel(model, view) {
    this.map = new DecodedMap(this.pad, this.decoder, model.image_shape); // ../shared/latent_pad.js
    this.setPlaneChoices(model);
    if (view) this.setView(view);
    fillLegend(this.el.legend, model.points);
    this.imageData = new ImageData(model.image_shape[2], model.image_shape[1]);
    Object.assign(this.el.image, { width: model.image_shape[2], height: model.image_shape[1] });
    this.setClassRow(model);
    this.pad.setMap(this.el.mapToggle.checked ? this.map : null);
  }

  // The other models' images (one canvas each, captioned) and one client for every decoder; true when they changed.
  setOthers(model, others) {
    const layout = JSON.stringify([model.sha256, others.map(({ name, decoder }) => [name, decoder.url])]);
    if (layout === this.othersLayout) return false;
    this.othersLayout = layout;
    this.others = others;
    const [, height, width] = model.image_shape;
    this.el.others.classList.toggle("hidden", !others.length);
    const figures = others.map(({ name }) => {
      const canvas = Object.assign(document.createElement("canvas"), { className: "other-image", width, height });
      canvas.setAttribute("aria-label", `decoded by ${name}`);
      const figure = document.createElement("figure");
      figure.append(canvas, Object.assign(document.createElement("figcaption"), { textContent: name }));
      return figure;
    });
    this.el.otherImages.replaceChildren(...figures);
    this.otherCanvases = figures.map((figure) => figure.firstChild);
    this.decoder.use(others.length ? [model.decoder, ...others.map(({ decoder }) => decoder)] : model.decoder);
    return true;
  }

  onStatus(status) {
    if (status.state === "ready") this.setStatus("Decoded in your browser as you drag (onnxruntime-web, WebAssembly).");
    else this.setStatus(`In-browser decoding is off: ${status.reason}.`, true);
    this.api.setStateValue("status", status); // once per mount (Python forgets it when the page is left), on change
  }

  // --- the code and who changes it ---

  setCode(z, moveTime) {
    this.z = z;
    mark(MOVE_MARK, { moveTime });
    this.showCode();
    this.requestDecode(moveTime);
  }

  commit() {
    this.api.setStateValue("code", { start: this.startId, z: Array.from(this.z) });
  }

  showCode() {
    for (const { dim, input, value } of this.sliderRows ?? []) {
      input.value = this.z[dim];
      value.textContent = this.z[dim].toFixed(2);
    }
    this.setMapSource();
    this.drawPad();
  }

  // The decoded map shows the plane through the code: the code's part off the plane (and the class) names its tiles.
  setMapSource() {
    if (!this.map || !this.plane) return;
    const plane = this.plane, base = plane.lift([0, 0], this.z), label = this.decodedClass ?? 0;
    const key = JSON.stringify([this.planeId, Array.from(base, (v) => v.toFixed(5)), label]);
    this.map.setSource(key, (u) => plane.lift(u, base), label);
  }

  // --- decoding and painting ---

  // The newest code wins (ModelClient): moves that arrive during a decode are coalesced. A conditional model's
  // code is decoded as every class in one batch (the row), the chosen class's image among them. With other models,
  // the client runs every decoder on the code and shows all images at once.
  requestDecode(moveTime) {
    const { model, decodedClass: label, others } = this;
    const z = Float32Array.from(this.z);
    const labels = model.decoder.class_input ? model.points.names.map((_, k) => k) : null;
    this.decoder.request({
      inputs: (spec) => decoderInputs(spec, labels ? repeated(z, labels.length) : z, z.length, labels),
      show: (outputs, decodeMs) => {
        if (model !== this.model || others !== this.others) return null; // changed during the decode: not wanted
        const [pixels, ...otherPixels] = others.length ? outputs : [outputs];
        const size = pixels.length / (labels?.length ?? 1);
        if (labels) this.paintClassRow(pixels, size);
        const choose = (images) => (labels ? images.slice(label * size, (label + 1) * size) : images);
        const shown = choose(pixels);
        this.paint(shown, decodeMs, labels?.length ?? 1);
        const othersShown = otherPixels.map(choose);
        this.paintOthers(othersShown);
        return { moveTime, decodeMs, batch: labels?.length ?? 1, z: Array.from(z), pixels: shown,
          others: othersShown };
      },
    });
  }

  paintOthers(images) {
    images.forEach((pixels, i) => {
      paintPixels(pixels, this.model.image_shape[0], this.imageData);
      this.otherCanvases[i].getContext("2d").putImageData(this.imageData, 0, 0);
    });
  }

  paint(pixels, decodeMs, batch) {
    paintPixels(pixels, this.model.image_shape[0], this.imageData);
    this.el.image.getContext("2d").putImageData(this.imageData, 0, 0);
    if (this.recorder) this.recordFrame();
    const now = performance.now();
    if (!(now - this.timingShownAt < 250)) {
      this.timingShownAt = now;
      const images = batch > 1 ? ` (${batch} images, one batch)` : "";
      this.el.timing.textContent = `decode ${decodeMs.toFixed(2)} ms in the browser${images}`;
    }
  }

  // --- recording: each decoded frame as shown, the pad (with the trace so far) beside it, as a WebM video ---

  startRecording() {
    const frame = Object.assign(document.createElement("canvas"), { width: 2 * RECORDING_PX, height: RECORDING_PX });
    const stream = frame.captureStream(0); // a video frame only when requestFrame() is called: one per decode
    this.recorder = new MediaRecorder(stream, { mimeType: "video/webm" });
    Object.assign(this, { recording: { frame, track: stream.getVideoTracks()[0], chunks: [], frames: 0, trace: [] } });
    this.recorder.ondataavailable = (event) => this.recording.chunks.push(event.data);
    this.recorder.start();
    this.el.record.textContent = "Stop and save";
    this.el.record.classList.add("on");
    this.recordFrame();
  }

  recordFrame() {
    const { frame, track, trace } = this.recording;
    const ctx = frame.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    trace.push(this.pad.geometry().toPixel(this.plane.project(this.z)));
    ctx.fillStyle = "#fff"; // the pad's canvas is transparent where no point is: a video has no alpha
    ctx.fillRect(0, 0, RECORDING_PX, RECORDING_PX);
    ctx.drawImage(this.el.pad, 0, 0, RECORDING_PX, RECORDING_PX);
    const scale = RECORDING_PX / this.el.pad.width;
    ctx.strokeStyle = "#d62728";
    ctx.lineWidth = 2;
    ctx.beginPath();
    trace.forEach(([x, y], k) => (k ? ctx.lineTo(x * scale, y * scale) : ctx.moveTo(x * scale, y * scale)));
    ctx.stroke();
    ctx.drawImage(this.el.image, RECORDING_PX, 0, RECORDING_PX, RECORDING_PX);
    track.requestFrame();
    this.recording.frames += 1;
    mark(RECORDED_MARK, { frames: this.recording.frames });
  }

  stopRecording() {
    const { recorder, recording } = this;
    this.recorder = null;
    this.el.record.textContent = "Record";
    this.el.record.classList.remove("on");
    recorder.onstop = () => {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob(recording.chunks, { type: "video/webm" }));
      link.download = "latent-drag.webm";
      link.dataset.frames = recording.frames;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    };
    recorder.stop();
  }

  // --- a conditional model's row: the code as every class ---

  setClassRow(model) {
    const [, height, width] = model.image_shape;
    this.el.classRow.classList.toggle("hidden", !model.decoder.class_input);
    const figures = (model.decoder.class_input ? model.points.names : []).map((name, label) => {
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

  setStatus(text, isError = false) {
    this.el.status.textContent = text;
    this.el.status.classList.toggle("error", isError);
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
    fillAxisChoices([this.el.axisX, this.el.axisY], latentDim, this.kl);
    this.el.plane.value = latentDim > 2 ? "pca" : "axes";
    this.choosePlane();
  }

  // The plane and the view a link (or this session, before a page switch) left: {plane, axes, centre, extent}.
  setView({ plane, axes, centre, extent }) {
    if (this.model.latent_dim > 2) {
      this.el.plane.value = plane;
      [this.el.axisX.value, this.el.axisY.value] = axes.map(String);
      this.choosePlane();
    }
    this.pad.setView(centre, extent);
  }

  reportView() {
    clearTimeout(this.viewRest);
    this.viewRest = setTimeout(() => this.api?.setStateValue("view", {
      plane: this.el.plane.value, axes: [Number(this.el.axisX.value), Number(this.el.axisY.value)],
      centre: this.pad.centre, extent: this.pad.extent,
    }), VIEW_REST_MS);
  }

  choosePlane() {
    const model = this.model;
    const byAxes = this.el.plane.value === "axes" || model.latent_dim === 2;
    for (const choice of this.el.axisChoices) choice.classList.toggle("hidden", !byAxes || model.latent_dim === 2);
    const [i, j] = model.latent_dim === 2 ? [0, 1] : [Number(this.el.axisX.value), Number(this.el.axisY.value)];
    this.plane = byAxes ? Plane.axes(model.latent_dim, i, j)
      : new Plane(model.pca.origin, model.pca.basis, ["PC1", "PC2"]);
    this.planeId = (this.planeId ?? 0) + 1;
    this.drawPoints();
    this.drawPad();
  }

  drawPoints() {
    this.pad.show(this.plane, this.model.points, this.limit);
    this.setMapSource();
  }

  drawPad() {
    const frame = this.plane && this.pad.begin();
    if (!frame) return;
    const { ctx, scale, toPixel } = frame;
    const [x, y] = toPixel(this.plane.project(this.z));
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
    const move = (event) => this.setCode(this.plane.lift(this.pad.planeAt(event), this.z), event.timeStamp);
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
    this.listenToPadKeys();
  }

  // Arrow keys move the code along the pad's axes, decoded at each key as a drag is; the code goes to Python
  // once the keys have been let go for KEY_COMMIT_MS (a held or repeated key is one release).
  listenToPadKeys() {
    const pad = this.el.pad;
    pad.addEventListener("keydown", (event) => {
      const direction = KEY_DIRECTIONS[event.key];
      if (!direction || !this.plane) return;
      event.preventDefault(); // the page does not scroll
      clearTimeout(this.keyCommit);
      const step = 2 * this.pad.extent * (event.shiftKey ? KEY_STEP_LARGE : KEY_STEP);
      const u = this.plane.project(this.z).map((value, axis) => value + direction[axis] * step);
      this.setCode(this.plane.lift(u, this.z), event.timeStamp);
    });
    pad.addEventListener("keyup", (event) => {
      if (!(event.key in KEY_DIRECTIONS) || !this.plane) return;
      clearTimeout(this.keyCommit);
      this.keyCommit = setTimeout(() => this.commit(), KEY_COMMIT_MS);
    });
  }
}

export default function (component) {
  return mountView(LatentCanvas, component);
}
