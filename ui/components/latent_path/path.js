// A slider along a path in latent space, decoded in the browser (decoder.js) at every pointer move: a line
// (z = start + amount * direction) or the slerp arc from start to end (z at t = amount, as vae_core.latent.slerp_at
// computes it). The amount goes back to Python on release only (state "amount": {"path", "value"}).
// Each frame that shows a decoded amount leaves a performance mark (FRAME_MARK) with the input's time, for tests.

const FRAME_MARK = "latent-path:frame";

// amount -> the code (Float32Array) on `path`: {"kind": "line", "start", "direction"} or {"kind": "arc", "start",
// "end"} (slerp in float64, falling back to the straight line for (anti)parallel ends, as slerp_at does).
function pathFunction(path) {
  const a = Float64Array.from(path.start);
  if (path.kind === "line") {
    const d = Float64Array.from(path.direction);
    return (t) => Float32Array.from(a, (v, i) => v + t * d[i]);
  }
  const b = Float64Array.from(path.end);
  const dot = a.reduce((sum, v, i) => sum + v * b[i], 0);
  const norm = (v) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
  const omega = Math.acos(Math.min(1, Math.max(-1, dot / Math.max(norm(a) * norm(b), 1e-12))));
  if (omega < 1e-6 || Math.PI - omega < 1e-6) return (t) => Float32Array.from(a, (v, i) => (1 - t) * v + t * b[i]);
  const sinOmega = Math.sin(omega);
  return (t) => {
    const wa = Math.sin((1 - t) * omega) / sinOmega, wb = Math.sin(t * omega) / sinOmega;
    return Float32Array.from(a, (v, i) => wa * v + wb * b[i]);
  };
}

class LatentPath {
  constructor(parent) {
    const find = (selector) => parent.querySelector(selector);
    this.el = { root: find(".latent-path"), image: find("canvas.image"), slider: find("input.amount"),
      label: find(".label"), value: find("output.value"), status: find(".status") };
    // A frame's latency counts from the pointer move that caused it (the input event comes after the move is
    // handled); for keys it counts from the input event. Event timestamps share performance.now()'s clock.
    this.onPointerMove = (event) => { this.pointerTime = event.timeStamp; };
    window.addEventListener("pointermove", this.onPointerMove, { capture: true, passive: true });
    this.el.slider.addEventListener("input", (event) => {
      const fromPointer = this.pointerTime !== undefined && event.timeStamp - this.pointerTime < 100;
      this.request(fromPointer ? this.pointerTime : event.timeStamp);
    });
    this.el.slider.addEventListener("change", () => this.release());
  }

  destroy() {
    window.removeEventListener("pointermove", this.onPointerMove, { capture: true });
    this.destroyed = true;
  }

  update(data, api) {
    this.data = data;
    this.api = api;
    const { min, max, step, value, label } = data.range;
    Object.assign(this.el.slider, { min, max, step });
    this.el.label.textContent = label;
    if (data.path.id !== this.pathId) { // a new path (or the first): the slider starts where Python says
      this.pathId = data.path.id;
      this.codeAt = pathFunction(data.path);
      this.el.slider.value = String(value);
    }
    const [, height, width] = data.image_shape;
    Object.assign(this.el.image, { width, height });
    Object.assign(this.el.image.style, { width: `${data.size}px`, height: `${(data.size * height) / width}px` });
    this.loadDecoder(data.decoder, data.runtime);
    this.request(performance.now());
  }

  loadDecoder(decoder, runtime) {
    if (decoder.sha256 === this.decoderSha) return;
    this.decoderSha = decoder.sha256;
    this.session = null;
    const bytes = DECODERS.has(decoder.sha256) ? null : fetch(decoder.url).then((response) => {
      if (!response.ok) throw new Error(`${decoder.url}: HTTP ${response.status}`);
      return response.arrayBuffer();
    }).then((buffer) => new Uint8Array(buffer));
    decoderSession(decoder.sha256, bytes, runtime).then((loaded) => {
      if (this.decoderSha !== decoder.sha256 || this.destroyed) return;
      this.session = loaded;
      this.el.root.dataset.state = "ready";
      this.el.status.textContent = "";
      this.report({ state: "ready" });
      this.request(performance.now());
    }, (error) => {
      this.el.root.dataset.state = "error";
      const reason = `the decoder could not be loaded (${error.message ?? error})`;
      this.el.status.textContent = `In-browser decoding is off: ${reason}.`;
      this.report({ state: "error", reason });
    });
  }

  report(status) {
    const text = JSON.stringify(status);
    if (text === this.reported) return;
    this.reported = text;
    this.api.setStateValue("status", status);
  }

  // The newest amount wins: moves that arrive while a decode runs are folded into the next one.
  request(inputTime) {
    this.wanted = { amount: Number(this.el.slider.value), inputTime };
    this.el.value.textContent = this.wanted.amount.toFixed(2);
    if (!this.decoding) this.decodeWanted();
  }

  async decodeWanted() {
    if (!this.session) return;
    this.decoding = true;
    try {
      while (this.wanted && this.session && !this.destroyed) {
        const { amount, inputTime } = this.wanted;
        this.wanted = null;
        const z = this.codeAt(amount);
        const dim = z.length;
        const started = performance.now();
        const labels = this.data.label === null ? null : [this.data.label];
        const pixels = await decodeCodes(this.session, this.data.decoder, z, dim, labels);
        const [channels, height, width] = this.data.image_shape;
        this.el.image.getContext("2d").putImageData(paintPixels(pixels, channels, new ImageData(width, height)), 0, 0);
        this.el.root.dataset.amount = String(amount);
        const decodeMs = performance.now() - started;
        await new Promise((resolve) => requestAnimationFrame(resolve)); // the frame that shows it
        performance.mark(FRAME_MARK, { detail: { amount, inputTime, decodeMs } });
      }
    } catch (error) {
      this.el.status.textContent = `Decoding failed: ${error.message ?? error}`;
    } finally {
      this.decoding = false;
    }
  }

  release() {
    this.api.setStateValue("amount", { path: this.pathId, value: Number(this.el.slider.value) });
  }
}

export default function (component) {
  return mountView(LatentPath, component);
}
