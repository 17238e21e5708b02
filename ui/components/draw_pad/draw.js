// The draw pad: what the user draws is encoded in the browser at every stroke move (../shared/model_client.js runs
// the encoder and the decoder; ../shared/latent_pad.js draws the test codes on the pad; ../shared/assets.js fetches
// the test examples). What `data` holds is described in __init__.py.
//
// At each move: the drawing becomes the model's input x (C, H, W) in [0, 1], as the dataset's images are (stretched
// to the model's size, grey as PIL's "L"); the encoder gives q(z|x) = N(mu, diag(exp(logvar))), drawn as 1- and
// 2-sigma ellipses on the pad with the nearest test examples; the mean and one sample z ~ q are decoded in one
// batch, and log p(x|z) of the sample (as vae_core/loss.py computes it, from the decoder's logits), the KL to
// N(0, I) and their difference, the ELBO, are shown. Newest wins: moves that arrive during a run are coalesced.
//
// Performance marks for tests and benchmarks: MOVE_MARK per stroke move that changed the drawing, POSTERIOR_MARK at
// the frame that shows a posterior (detail: moveTime, encodeMs, mu, logvar, neighbours' labels) and RECON_MARK at
// the frame that shows its decoded images and ELBO terms (detail: moveTime, decodeMs, x, noise, recon, kl, elbo).

const MOVE_MARK = "draw-pad:move";
const POSTERIOR_MARK = "draw-pad:posterior";
const RECON_MARK = "draw-pad:recon";
const PRIOR_EXTENT = 3; // the pad spans at least +-3 prior standard deviations
const NEIGHBOURS = 10;
const LOG_2PI = Math.log(2 * Math.PI);
const INK = "#fff"; // light ink on black, as MNIST-like data (and vae_core.data's BACKGROUND) is
const PAPER = "#000";
const TIMING_EVERY_MS = 250;

// One standard-normal draw (Box-Muller).
function standardNormal() {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

// KL(N(mu, exp(logvar)) || N(0, 1)) summed over dimensions, as vae_core.distributions.DiagonalGaussian.kl.
function klToPrior(mu, logvar) {
  return mu.reduce((sum, m, d) => sum + 0.5 * (m * m + Math.expm1(logvar[d]) - logvar[d]), 0);
}

// log p(x|z) summed over pixels, as vae_core.loss.reconstruction_log_likelihood: from the decoder's logits for a
// Bernoulli likelihood (-BCE with logits, stable), else log N(x; sigmoid(logits), std^2) from the mean image.
function reconLogLikelihood(x, logits, mean, { likelihood, gaussian_std: std }) {
  let sum = 0;
  if (likelihood === "bernoulli") {
    for (let i = 0; i < x.length; i++) {
      const l = logits[i];
      sum += l * x[i] - Math.max(l, 0) - Math.log1p(Math.exp(-Math.abs(l)));
    }
    return sum;
  }
  const logvar = 2 * Math.log(std), variance = Math.exp(logvar);
  for (let i = 0; i < x.length; i++) sum += -0.5 * ((x[i] - mean[i]) ** 2 / variance + logvar + LOG_2PI);
  return sum;
}

class DrawPad {
  constructor(root) {
    const find = (selector) => root.querySelector(selector);
    this.el = {
      status: find(".status"), drawing: find(".drawing"), brush: find(".brush"), erase: find(".erase"),
      clear: find(".clear"), example: find(".example"), invert: find(".invert"), file: find(".file"),
      classChoice: find(".class-choice"), classSelect: find(".class"), padView: find(".pad-view"),
      pad: find(".pad"), legend: find(".legend"), axisX: find(".axis-x"), axisY: find(".axis-y"),
      axisChoices: root.querySelectorAll(".axis-choice"), reconMean: find(".recon-mean"),
      reconSample: find(".recon-sample"), recon: find(".recon"), kl: find(".kl"), elbo: find(".elbo"),
      timing: find(".timing"), posterior: find(".posterior"), neighbours: find(".neighbours"),
    };
    this.pad = new PadView(this.el.pad, { onChange: () => this.drawPad(), panWithDrag: true });
    const onStatus = () => this.onStatus();
    this.encoder = new ModelClient({ name: "encoder", frameMark: POSTERIOR_MARK, onStatus });
    this.decoder = new ModelClient({ name: "decoder", frameMark: RECON_MARK, onStatus });
    this.paper = this.el.drawing.getContext("2d", { willReadFrequently: true });
    this.clearDrawing();
    this.listenToDrawing();
    this.listenToTools();
    for (const select of [this.el.axisX, this.el.axisY]) select.addEventListener("change", () => this.choosePlane());
    this.padResized = new ResizeObserver(() => this.pad.invalidate());
    this.padResized.observe(this.el.pad);
  }

  destroy() {
    this.padResized.disconnect();
    this.encoder.destroy();
    this.decoder.destroy();
    this.model = null;
  }

  update(data, api) {
    this.api = api;
    if (data.model.sha256 !== this.model?.sha256) this.setModel(data.model);
  }

  setModel(model) {
    this.model = model;
    this.points = null;
    this.posterior = null;
    const [, height, width] = model.image_shape;
    this.input = Object.assign(document.createElement("canvas"), { width, height });
    for (const canvas of [this.el.reconMean, this.el.reconSample]) Object.assign(canvas, { width, height });
    this.setClassChoice(model.names, Boolean(model.encoder.class_input));
    fillLegend(this.el.legend, model);
    this.el.padView.classList.toggle("hidden", model.latent_dim < 2);
    fillAxisChoices([this.el.axisX, this.el.axisY], model.latent_dim, model.kl);
    for (const choice of this.el.axisChoices) choice.classList.toggle("hidden", model.latent_dim <= 2);
    this.loadPoints(model);
    this.encoder.use(model.encoder);
    this.decoder.use(model.decoder);
    this.encode(null);
  }

  // The test examples: their codes are the pad's points and the neighbours' candidates, their images the thumbnails.
  loadPoints(model) {
    const { points, latent_dim: dim } = model;
    const arrays = [float32s(points.codes), int32s(points.labels), uint8s(points.images)];
    Promise.all(arrays).then(([codes, labels, images]) => {
      if (this.model !== model) return;
      const rows = Array.from({ length: points.count }, (_, i) => codes.subarray(i * dim, (i + 1) * dim));
      this.points = { codes: rows, labels, images, colors: model.colors };
      this.choosePlane();
      if (this.posterior) this.showPosterior(this.posterior);
    }, (error) => this.setStatus(`The test examples could not be loaded (${error.message ?? error}).`, true));
  }

  onStatus() {
    const statuses = [this.encoder.status, this.decoder.status];
    const failed = statuses.find((status) => status?.state === "error");
    if (failed) {
      this.setStatus(`In-browser encoding is off: ${failed.reason}.`, true);
      this.api?.setStateValue("status", failed);
    } else if (statuses.every((status) => status?.state === "ready")) {
      this.setStatus("Encoded and decoded in your browser as you draw (onnxruntime-web, WebAssembly).");
      this.api?.setStateValue("status", { state: "ready" });
    }
  }

  setStatus(text, isError = false) {
    this.el.status.textContent = text;
    this.el.status.classList.toggle("error", isError);
  }

  setClassChoice(names, conditional) {
    this.el.classChoice.classList.toggle("hidden", !conditional);
    this.el.classSelect.replaceChildren(...names.map((name, label) =>
      Object.assign(document.createElement("option"), { value: label, textContent: name })));
  }

  // --- drawing ---

  clearDrawing() {
    this.paper.fillStyle = PAPER;
    this.paper.fillRect(0, 0, this.el.drawing.width, this.el.drawing.height);
  }

  listenToDrawing() {
    const canvas = this.el.drawing;
    const at = (event) => {
      const rect = canvas.getBoundingClientRect();
      const scale = canvas.width / canvas.clientWidth;
      return [(event.clientX - rect.left - canvas.clientLeft) * scale,
        (event.clientY - rect.top - canvas.clientTop) * scale];
    };
    canvas.addEventListener("pointerdown", (event) => {
      canvas.setPointerCapture(event.pointerId);
      this.stroke = at(event);
      this.drawTo(this.stroke, event.timeStamp);
    });
    canvas.addEventListener("pointermove", (event) => this.stroke && this.drawTo(at(event), event.timeStamp));
    const release = () => { this.stroke = null; };
    canvas.addEventListener("pointerup", release);
    canvas.addEventListener("pointercancel", release);
    canvas.addEventListener("dragover", (event) => {
      event.preventDefault();
      canvas.classList.add("dropping");
    });
    canvas.addEventListener("dragleave", () => canvas.classList.remove("dropping"));
    canvas.addEventListener("drop", (event) => {
      event.preventDefault();
      canvas.classList.remove("dropping");
      const file = event.dataTransfer.files[0];
      if (file) this.openImage(file);
    });
  }

  drawTo(point, moveTime) {
    const ctx = this.paper;
    ctx.strokeStyle = this.el.erase.checked ? PAPER : INK;
    ctx.lineWidth = Number(this.el.brush.value);
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...this.stroke);
    ctx.lineTo(...point);
    ctx.stroke();
    this.stroke = point;
    mark(MOVE_MARK, { moveTime });
    this.encode(moveTime);
  }

  listenToTools() {
    this.el.clear.addEventListener("click", (event) => {
      this.clearDrawing();
      this.encode(event.timeStamp);
    });
    this.el.invert.addEventListener("click", (event) => {
      const { width, height } = this.el.drawing;
      const image = this.paper.getImageData(0, 0, width, height);
      for (let i = 0; i < image.data.length; i += 4) {
        for (let c = 0; c < 3; c++) image.data[i + c] = 255 - image.data[i + c];
      }
      this.paper.putImageData(image, 0, 0);
      this.encode(event.timeStamp);
    });
    this.el.example.addEventListener("click", (event) => this.startFromExample(event.timeStamp));
    this.el.file.addEventListener("change", () => this.el.file.files[0] && this.openImage(this.el.file.files[0]));
    this.el.classSelect.addEventListener("change", (event) => this.encode(event.timeStamp));
  }

  // A random test example, scaled up onto the drawing (each pixel a block: scaled back down it is the example).
  startFromExample(moveTime) {
    if (!this.points) return;
    const [channels, height, width] = this.model.image_shape;
    const index = Math.floor(Math.random() * this.points.labels.length);
    this.input.getContext("2d").putImageData(paintBytes(this.points.images, index, channels,
      new ImageData(width, height)), 0, 0);
    this.paper.imageSmoothingEnabled = false;
    this.paper.drawImage(this.input, 0, 0, this.el.drawing.width, this.el.drawing.height);
    this.paper.imageSmoothingEnabled = true;
    if (this.model.encoder.class_input) this.el.classSelect.value = String(this.points.labels[index]);
    this.encode(moveTime);
  }

  // An image file, stretched onto the drawing over black (transparent pixels become black, as vae_core.data does).
  openImage(file) {
    createImageBitmap(file).then((bitmap) => {
      this.clearDrawing();
      this.paper.drawImage(bitmap, 0, 0, this.el.drawing.width, this.el.drawing.height);
      this.encode(performance.now());
    }, () => this.setStatus(`${file.name} is not an image this browser can read.`, true));
  }

  // The drawing as the model's input: (C, H, W) in [0, 1], channel-major; one channel is grey as PIL's "L".
  modelInput() {
    const [channels, height, width] = this.model.image_shape;
    const ctx = this.input.getContext("2d", { willReadFrequently: true });
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.el.drawing, 0, 0, width, height);
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const area = width * height, x = new Float32Array(channels * area);
    for (let i = 0; i < area; i++) {
      const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
      if (channels === 1) x[i] = Math.round((r * 299 + g * 587 + b * 114) / 1000) / 255;
      else [x[i], x[area + i], x[2 * area + i]] = [r / 255, g / 255, b / 255];
    }
    return x;
  }

  // --- the posterior ---

  encode(moveTime) {
    if (!this.model) return;
    const model = this.model, x = this.modelInput();
    const label = Number(this.el.classSelect.value || 0);
    this.encoder.request({
      inputs: (spec) => encoderInputs(spec, x, model.image_shape, [label]),
      show: (mu, encodeMs, { logvar }) => {
        if (model !== this.model) return null;
        this.posterior = { x, label, mu: Float32Array.from(mu), logvar: Float32Array.from(logvar), moveTime, encodeMs };
        const neighbours = this.showPosterior(this.posterior);
        this.decode(this.posterior);
        return { moveTime, encodeMs, mu: Array.from(mu), logvar: Array.from(logvar), neighbours };
      },
    });
  }

  // The posterior's numbers, its ellipses on the pad and its nearest test examples (their labels, nearest first).
  showPosterior({ mu, logvar }) {
    const sigma = Array.from(logvar, (value) => Math.exp(0.5 * value));
    this.el.posterior.replaceChildren(...Array.from(mu, (m, d) => Object.assign(document.createElement("span"), {
      textContent: `z${d}: μ ${m >= 0 ? "+" : ""}${m.toFixed(2)}  σ ${sigma[d].toFixed(2)}`,
    })));
    this.el.posterior.dataset.mu = Array.from(mu, (m) => m.toFixed(4)).join(",");
    const nearest = this.nearest(mu);
    this.drawPad();
    this.showNeighbours(nearest);
    return nearest.map((i) => this.points.labels[i]);
  }

  // Indices of the NEIGHBOURS test examples whose means are nearest to mu (the lower index first among equals), in
  // one pass that keeps the nearest so far: a tenth of sorting every example's distance, which a move cannot afford.
  nearest(mu) {
    const best = []; // [distance, index], nearest first
    for (const [index, code] of (this.points?.codes ?? []).entries()) {
      let distance = 0;
      for (let d = 0; d < code.length; d++) distance += (code[d] - mu[d]) ** 2;
      if (best.length === NEIGHBOURS && distance >= best[NEIGHBOURS - 1][0]) continue;
      const at = best.findIndex(([other]) => distance < other);
      best.splice(at < 0 ? best.length : at, 0, [distance, index]);
      best.length = Math.min(best.length, NEIGHBOURS);
    }
    return best.map(([, index]) => index);
  }

  showNeighbours(indices) {
    const [channels, height, width] = this.model.image_shape;
    const { images, labels } = this.points ?? {};
    this.el.neighbours.replaceChildren(...indices.map((index) => {
      const canvas = Object.assign(document.createElement("canvas"), { width, height });
      canvas.getContext("2d").putImageData(paintBytes(images, index, channels, new ImageData(width, height)), 0, 0);
      canvas.style.borderColor = this.model.colors[labels[index]];
      const figure = document.createElement("figure");
      figure.dataset.label = labels[index];
      figure.append(canvas, Object.assign(document.createElement("figcaption"), {
        textContent: this.model.names[labels[index]],
      }));
      return figure;
    }));
  }

  // --- the pad ---

  choosePlane() {
    if (!this.points || this.model.latent_dim < 2) return;
    const [i, j] = this.model.latent_dim === 2 ? [0, 1] : [Number(this.el.axisX.value), Number(this.el.axisY.value)];
    this.axes = [i, j];
    this.pad.show(Plane.axes(this.model.latent_dim, i, j), this.points, PRIOR_EXTENT);
    this.drawPad();
  }

  // The posterior's 1- and 2-sigma ellipses in the pad's two dimensions, its mean and the decoded sample.
  drawPad() {
    const frame = this.axes && this.pad.begin();
    if (!frame || !this.posterior) return; // begin() drew the background
    const { ctx, scale, toPixel } = frame;
    const { mu, logvar, sample } = this.posterior;
    const [i, j] = this.axes;
    const [x, y] = toPixel([mu[i], mu[j]]);
    const [right, top] = toPixel([mu[i] + Math.exp(0.5 * logvar[i]), mu[j] + Math.exp(0.5 * logvar[j])]);
    ctx.strokeStyle = "#111";
    ctx.fillStyle = "rgba(255, 75, 75, 0.12)";
    for (const k of [2, 1]) {
      ctx.lineWidth = (k === 1 ? 2 : 1) * scale;
      ctx.beginPath();
      ctx.ellipse(x, y, Math.max(1, k * (right - x)), Math.max(1, k * (y - top)), 0, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
    ctx.beginPath();
    ctx.moveTo(x - 6 * scale, y); ctx.lineTo(x + 6 * scale, y);
    ctx.moveTo(x, y - 6 * scale); ctx.lineTo(x, y + 6 * scale);
    ctx.stroke();
    if (sample) {
      const [sx, sy] = toPixel([sample[i], sample[j]]);
      ctx.fillStyle = "#ff4b4b";
      ctx.beginPath();
      ctx.arc(sx, sy, 3.5 * scale, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  // --- decoding: the mean and one sample z ~ q(z|x), one batch ---

  decode(posterior) {
    const { x, label, mu, logvar, moveTime } = posterior;
    const model = this.model, dim = mu.length;
    const noise = Float32Array.from(mu, () => standardNormal());
    const sample = Float32Array.from(mu, (m, d) => m + noise[d] * Math.exp(0.5 * logvar[d]));
    posterior.sample = sample;
    this.drawPad();
    const codes = new Float32Array(2 * dim);
    codes.set(mu);
    codes.set(sample, dim);
    this.decoder.request({
      inputs: (spec) => decoderInputs(spec, codes, dim, [label, label]),
      show: (means, decodeMs, outputs) => {
        if (model !== this.model) return null;
        const size = means.length / 2;
        const logits = outputs[model.decoder.outputs[1]].subarray(size);
        this.paintImage(this.el.reconMean, means.subarray(0, size));
        this.paintImage(this.el.reconSample, means.subarray(size));
        const recon = reconLogLikelihood(x, logits, means.subarray(size), model);
        const kl = klToPrior(mu, logvar);
        this.showTerms(recon, kl, posterior.encodeMs, decodeMs);
        return { moveTime, decodeMs, x: Array.from(x), label, noise: Array.from(noise), recon, kl, elbo: recon - kl };
      },
    });
  }

  paintImage(canvas, pixels) {
    const [channels, height, width] = this.model.image_shape;
    canvas.getContext("2d").putImageData(paintPixels(pixels, channels, new ImageData(width, height)), 0, 0);
  }

  showTerms(recon, kl, encodeMs, decodeMs) {
    this.el.recon.textContent = `${recon.toFixed(1)} nats`;
    this.el.kl.textContent = `${kl.toFixed(2)} nats`;
    this.el.elbo.textContent = `${(recon - kl).toFixed(1)} nats`;
    const now = performance.now();
    if (!(now - this.timingShownAt < TIMING_EVERY_MS)) {
      this.timingShownAt = now;
      this.el.timing.textContent =
        `encode ${encodeMs.toFixed(2)} ms + decode ${decodeMs.toFixed(2)} ms in your browser`;
    }
  }
}

export default function (component) {
  return mountView(DrawPad, component);
}
