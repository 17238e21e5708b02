// The standalone page's start (vae_core/standalone.py): inflate the embedded files, hand the runtime its binary,
// and mount the app's own components (their scripts, with the shared model client, came in the view's data).
// Marks for tests and benchmarks: body[data-state] "ready" once the components are mounted, or "error".

const view = JSON.parse(document.getElementById("view").textContent);
const blobUrls = new Map(); // asset name -> Promise<blob URL>

function bytesOf(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// An embedded file (gzip in base64) as its bytes.
function inflate(name) {
  const element = document.getElementById(`asset-${name}`);
  const stream = new Blob([bytesOf(element.textContent)]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

function blobUrl(name, type = "application/octet-stream") {
  if (!blobUrls.has(name)) {
    blobUrls.set(name, inflate(name).then((bytes) => URL.createObjectURL(new Blob([bytes], { type }))));
  }
  return blobUrls.get(name);
}

// The runtime, imported from a blob URL and given its WebAssembly binary, registered under that URL with the
// model client (shared/model_client.js keeps a page's runtimes in globalThis.__modelRuntimes, by URL).
async function provideRuntime() {
  const url = await blobUrl("ort-module", "text/javascript");
  const ort = import(url).then(async (runtime) => {
    runtime.env.wasm.wasmBinary = await inflate("ort-wasm");
    runtime.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page, which a file is not
    return runtime;
  });
  (globalThis.__modelRuntimes ??= new Map()).set(url, ort);
  await ort;
}

// `data` with every "asset:NAME" string replaced by the blob URL of that file.
async function resolved(data) {
  if (typeof data === "string" && data.startsWith("asset:")) {
    return data === "asset:ort-module" ? blobUrl("ort-module", "text/javascript") : blobUrl(data.slice(6));
  }
  if (Array.isArray(data)) return Promise.all(data.map(resolved));
  if (data && typeof data === "object") {
    const entries = await Promise.all(Object.entries(data).map(async ([key, value]) => [key, await resolved(value)]));
    return Object.fromEntries(entries);
  }
  return data;
}

let components; // Promise<{name: {html, css, js}}>, an embedded file

// A component mounted as Streamlit mounts it: its html and css in a shadow root, its module's default export
// called with the data; what it sends back has nowhere to go in a file.
async function mount(name, data) {
  components ??= inflate("components").then((bytes) => JSON.parse(new TextDecoder().decode(bytes)));
  const { html, css, js } = (await components)[name];
  const host = document.querySelector(`[data-component="${name}"]`);
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `<style>${css}</style>${html}`;
  const module = await import(URL.createObjectURL(new Blob([js], { type: "text/javascript" })));
  module.default({ data: await resolved(data), parentElement: root, setStateValue() {}, setTriggerValue() {} });
}

function setStatus(text, isError = false) {
  const status = document.querySelector("body > .status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function start() {
  if (typeof DecompressionStream !== "function") throw new Error("this browser has no DecompressionStream");
  await provideRuntime();
  await mount("latent_canvas", view.canvas);
  await mount("embedding_inspector", view.inspector);
  await mount("draw_pad", view.draw);
  setStatus("Everything runs in this page: nothing is fetched.");
  document.body.dataset.state = "ready";
}

start().catch((error) => {
  setStatus(`This page could not start: ${error.message ?? error}`, true);
  document.body.dataset.state = "error";
});
