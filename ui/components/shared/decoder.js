// Shared by the browser components: ui/components.script() puts this file before each component's own script.
// The decoder (an ONNX graph z -> mean image, vae_core/export.py) runs in the page on onnxruntime-web, vendored
// under static/; one session per checkpoint sha256 lives for the page's life, whichever component asked first.
// A conditional model's graph has a second input, each code's class (int64): one session decodes every class.

const DECODERS = (globalThis.__vaeDecoders ??= new Map()); // sha256 -> Promise<{ort, session}>

function loadRuntime(path) {
  // A component's script runs from a blob: URL, where a relative import cannot resolve: use the page origin.
  globalThis.__latentCanvasRuntime ??= import(new URL(path, window.location.origin).href).then((ort) => {
    ort.env.wasm.numThreads = 1; // threads need a cross-origin-isolated page, which Streamlit does not serve
    return ort;
  });
  return globalThis.__latentCanvasRuntime;
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// The decoder session of a checkpoint: created from `bytes` (a Uint8Array or a promise of one) the first time,
// reused afterwards; undefined when it was never created and no bytes came along.
function decoderSession(sha256, bytes, runtimePath) {
  if (!DECODERS.has(sha256) && bytes) {
    DECODERS.set(sha256, loadRuntime(runtimePath).then(async (ort) => {
      const session = await ort.InferenceSession.create(await bytes, { executionProviders: ["wasm"] });
      return { ort, session };
    }));
  }
  return DECODERS.get(sha256);
}

// Decodes n codes (`codes`, a Float32Array of n * latentDim) in one run: n mean images, a Float32Array of
// n * C*H*W. `names` is {input, class_input, output} as Python sent them (class_input null for an unconditional
// model); `labels` (n class labels) go to the class input when the graph has one.
async function decodeCodes({ ort, session }, names, codes, latentDim, labels) {
  const n = codes.length / latentDim;
  const feeds = { [names.input]: new ort.Tensor("float32", codes, [n, latentDim]) };
  if (names.class_input) {
    if (labels?.length !== n) throw new Error(`a conditional decoder needs ${n} class labels`);
    feeds[names.class_input] = new ort.Tensor("int64", BigInt64Array.from(labels, (label) => BigInt(label)), [n]);
  }
  const result = await session.run(feeds);
  return result[names.output].data;
}

// Decoder output (C*H*W floats in [0, 1], channel-major) into an ImageData of the same width and height.
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
