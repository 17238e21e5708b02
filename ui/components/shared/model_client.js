// Shared by the browser components: ui/components.script() puts this file before each component's own script.
// The one client for models that run in the page on onnxruntime-web (vendored under static/): a model comes as a
// spec from ui/components/runtime.py, {runtime: the runtime module's URL, url: its ONNX file, and the graph's
// input and output names}. The runtime is imported once per page and each model loaded once per URL (its file is
// named by its content), whichever component asked first; the page keeps both for its life.
//
// A component makes one ModelClient per model it runs: the client reports the model's status, runs only the
// newest request (one that arrives while a run is busy replaces the one waiting) and, at the animation frame that
// shows a result, leaves the component's performance mark (tests and benchmarks read them). Requests of different
// lanes (the pad's code and the decoded map behind it) wait side by side, and run one at a time, "main" first. A
// client given a list of specs runs them as one: each request runs every model, and their outputs are shown
// together (the same frame).

const RUNTIMES = (globalThis.__modelRuntimes ??= new Map()); // runtime URL -> Promise<ort>
const SESSIONS = (globalThis.__modelSessions ??= new Map()); // model URL -> Promise<{ort, session}>
const LOAD_MARK = "model:load"; // a measure per model loaded: fetch and session creation, detail {url, bytes}
const MAX_MARKS = 5000; // of one name; then they are cleared, so a long session does not grow without bound
const MARK_COUNTS = (globalThis.__markCounts ??= new Map()); // mark name -> marks left since the last clear

function mark(name, detail) {
  const count = (MARK_COUNTS.get(name) ?? 0) + 1;
  if (count > MAX_MARKS) performance.clearMarks(name);
  MARK_COUNTS.set(name, count > MAX_MARKS ? 1 : count);
  performance.mark(name, { detail });
}

function loadRuntime(url) {
  if (!RUNTIMES.has(url)) {
    // A component's script runs from a blob: URL, where a relative import cannot resolve: use the page origin.
    RUNTIMES.set(url, import(new URL(url, window.location.origin).href).then((ort) => {
      ort.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page, which Streamlit does not serve
      return ort;
    }));
  }
  return RUNTIMES.get(url);
}

async function createModel({ runtime, url }) {
  const started = performance.now();
  const [ort, bytes] = await Promise.all([loadRuntime(runtime), fetch(url).then((response) => {
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.arrayBuffer();
  })]);
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ["wasm"] });
  performance.measure(LOAD_MARK, { start: started, detail: { url, bytes: bytes.byteLength } });
  return { ort, session };
}

function loadModel(spec) {
  if (!SESSIONS.has(spec.url)) {
    const model = createModel(spec);
    model.catch(() => SESSIONS.delete(spec.url)); // a later mount may try again
    SESSIONS.set(spec.url, model);
  }
  return SESSIONS.get(spec.url);
}

// A graph's inputs as [type, data, dims] by input name -> the model's outputs by name.
async function runModel({ ort, session }, inputs) {
  const feeds = {};
  for (const [name, [type, data, dims]] of Object.entries(inputs)) feeds[name] = new ort.Tensor(type, data, dims);
  return session.run(feeds);
}

// A graph's inputs (spec as runtime.decoder or runtime.encoder sends it) for a batch of n rows of shape `row`
// (`values`, a Float32Array of n * the row's size); a conditional model's graph (spec.class_input) also takes the
// n rows' class `labels`.
function batchInputs(spec, values, row, labels) {
  const n = values.length / row.reduce((size, side) => size * side, 1);
  const inputs = { [spec.input]: ["float32", values, [n, ...row]] };
  if (spec.class_input) {
    if (labels?.length !== n) throw new Error(`a conditional model needs ${n} class labels`);
    inputs[spec.class_input] = ["int64", BigInt64Array.from(labels, (label) => BigInt(label)), [n]];
  }
  return inputs;
}

// A decoder's inputs for n codes (`codes`, a Float32Array of n * latentDim), and their `labels` if conditional.
function decoderInputs(spec, codes, latentDim, labels) {
  return batchInputs(spec, codes, [latentDim], labels);
}

// An encoder's inputs for n images (`images`, a Float32Array of n * C * H * W in [0, 1]), and their `labels`.
function encoderInputs(spec, images, imageShape, labels) {
  return batchInputs(spec, images, imageShape, labels);
}

class ModelClient {
  // `name` words the reasons ("the decoder could not be loaded ..."); `frameMark` is the performance mark left at
  // the frame that shows a result; onStatus({state: "ready"} or {state: "error", reason}) on every change.
  constructor({ name, frameMark, onStatus }) {
    Object.assign(this, { name, frameMark, onStatus });
    this.waiting = new Map(); // lane -> the newest request not yet run
    this.shown = new Map(); // mark name -> the detail of the newest result shown, until its frame
  }

  destroy() {
    this.destroyed = true;
    this.model = null;
  }

  // Runs the model of `spec` (or the models of a list of specs) from now on, loading each unless the page has it;
  // a no-op for the models in use.
  use(spec) {
    const specs = [spec].flat();
    const key = specs.map(({ url }) => url).join(" ");
    if (key === this.key) return;
    Object.assign(this, { key, spec, specs, model: null });
    if (typeof WebAssembly !== "object") return this.fail("this browser has no WebAssembly");
    Promise.all(specs.map(loadModel)).then((models) => {
      if (this.spec !== spec || this.destroyed) return;
      this.model = models;
      this.setStatus({ state: "ready" });
      this.drain();
    }, (error) => {
      if (this.spec !== spec) return;
      this.fail(`the ${this.name} could not be loaded in this browser (${error.message ?? error})`);
    });
  }

  // Runs the newest request once the model is ready: {inputs(spec) -> the graph's inputs (runModel), show(output,
  // runMs, outputs) -> the frame mark's detail, or null when the result is no longer wanted}; `output` is the data
  // of the spec's output, `outputs` the data of each of the spec's outputs by name (an encoder's mu and logvar);
  // for a list of specs, each is a list of those, in order. A request made while a run is busy replaces the one
  // waiting in its `lane`; `request.frameMark` names the mark left for its result (else the client's).
  request(request, lane = "main") {
    this.waiting.delete(lane); // re-inserted: the lanes run in the order their requests came, "main" first
    this.waiting.set(lane, request);
    this.drain();
  }

  // The next request to run: the main lane's, else the one waiting longest.
  next() {
    const lane = this.waiting.has("main") ? "main" : this.waiting.keys().next().value;
    const request = this.waiting.get(lane);
    this.waiting.delete(lane);
    return request;
  }

  async drain() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.waiting.size && this.model && !this.destroyed) {
        const { inputs, show, frameMark = this.frameMark } = this.next();
        const { model, spec, specs } = this;
        const started = performance.now();
        const outputs = [];
        for (const [i, each] of specs.entries()) outputs.push(await runModel(model[i], inputs(each)));
        if (model !== this.model) continue; // the model changed during the run: its result is not wanted
        const byName = outputs.map((result, i) => Object.fromEntries(
          (specs[i].outputs ?? [specs[i].output]).map((name) => [name, result[name].data])));
        const output = outputs.map((result, i) => result[specs[i].output].data);
        const one = !Array.isArray(spec);
        const detail = show(one ? output[0] : output, performance.now() - started, one ? byName[0] : byName);
        if (detail) this.markAtFrame(frameMark, detail);
      }
    } catch (error) {
      this.fail(`the ${this.name} failed in this browser (${error.message ?? error})`);
    } finally {
      this.running = false;
    }
  }

  // One mark of a name per animation frame, at the frame that shows the newest result.
  markAtFrame(name, detail) {
    const framePending = this.shown.has(name);
    this.shown.set(name, detail);
    if (framePending) return;
    requestAnimationFrame(() => {
      mark(name, this.shown.get(name));
      this.shown.delete(name);
    });
  }

  setStatus(status) {
    if (JSON.stringify(status) === JSON.stringify(this.status)) return;
    this.status = status;
    this.onStatus(status);
  }

  fail(reason) {
    this.model = null;
    this.setStatus({ state: "error", reason });
  }
}

// Model output (C*H*W floats in [0, 1], channel-major) into an ImageData of the same width and height.
function paintPixels(pixels, channels, imageData) {
  const area = imageData.width * imageData.height;
  const rgba = imageData.data; // Uint8ClampedArray: rounds and clamps
  for (let i = 0; i < area; i++) {
    const r = pixels[i] * 255;
    rgba[4 * i] = r;
    rgba[4 * i + 1] = channels === 3 ? pixels[area + i] * 255 : r;
    rgba[4 * i + 2] = channels === 3 ? pixels[2 * area + i] * 255 : r;
    rgba[4 * i + 3] = 255;
  }
  return imageData;
}
