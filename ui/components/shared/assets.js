// Shared by the browser components (ui/components.script() puts it before each component's script): big arrays and
// a dataset's images arrive as static files (ui/components/static_files.py: immutable, named by their content),
// fetched once per page and kept across remounts; ".gz" files are gunzipped as they arrive.

const ASSETS = (globalThis.__staticAssets ??= new Map()); // url -> Promise<ArrayBuffer>
const MAX_ASSETS = 32;

function asset(url) {
  let promise = ASSETS.get(url);
  if (promise) {
    ASSETS.delete(url); // re-inserted: the Map's order is the order of use
  } else {
    promise = fetch(url).then((response) => {
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      if (!url.endsWith(".gz")) return response.arrayBuffer();
      return new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
    });
    promise.catch(() => ASSETS.delete(url));
  }
  ASSETS.set(url, promise);
  while (ASSETS.size > MAX_ASSETS) ASSETS.delete(ASSETS.keys().next().value);
  return promise;
}

const float32s = (url) => asset(url).then((buffer) => new Float32Array(buffer));
const int32s = (url) => asset(url).then((buffer) => new Int32Array(buffer));
const uint8s = (url) => asset(url).then((buffer) => new Uint8Array(buffer));

// Image number `index` of a dataset's uint8 images (n, H, W[, 3]), as static_files publishes them (vae_core.images.
// to_uint8), into an ImageData of the same width and height.
function paintBytes(images, index, channels, imageData) {
  const area = imageData.width * imageData.height;
  const pixels = images.subarray(index * area * channels, (index + 1) * area * channels);
  const rgba = imageData.data;
  for (let i = 0; i < area; i++) {
    const c = channels === 3 ? 3 * i : i;
    rgba[4 * i] = pixels[c];
    rgba[4 * i + 1] = pixels[channels === 3 ? c + 1 : c];
    rgba[4 * i + 2] = pixels[channels === 3 ? c + 2 : c];
    rgba[4 * i + 3] = 255;
  }
  return imageData;
}
