// A slider along a path in latent space, decoded in the browser (model_client.js) at every pointer move: a line
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
    this.decoder = new ModelClient({
      name: "decoder", frameMark: FRAME_MARK, onStatus: (status) => this.onStatus(status),
    });
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
    this.decoder.destroy();
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
    this.decoder.use(data.decoder);
    this.request(performance.now());
  }

  onStatus(status) {
    this.el.root.dataset.state = status.state;
    this.el.status.textContent = status.state === "ready" ? "" : `In-browser decoding is off: ${status.reason}.`;
    this.api.setStateValue("status", status);
  }

  // The newest amount wins (ModelClient): moves that arrive while a decode runs are folded into the next one.
  request(inputTime) {
    const amount = Number(this.el.slider.value);
    this.el.value.textContent = amount.toFixed(2);
    const { label, image_shape: [channels, height, width] } = this.data;
    const z = this.codeAt(amount);
    this.decoder.request({
      inputs: (spec) => decoderInputs(spec, z, z.length, label === null ? null : [label]),
      show: (pixels, decodeMs) => {
        this.el.image.getContext("2d").putImageData(paintPixels(pixels, channels, new ImageData(width, height)), 0, 0);
        this.el.root.dataset.amount = String(amount);
        return { amount, inputTime, decodeMs };
      },
    });
  }

  release() {
    this.api.setStateValue("amount", { path: this.pathId, value: Number(this.el.slider.value) });
  }
}

export default function (component) {
  return mountView(LatentPath, component);
}
