// Hovering a model's point on the rate-distortion plane highlights that model's views and dims the others, in the
// browser while the pointer stays (plotly_chart sends no hover to the server). This component draws nothing: it
// finds the page's charts by their Streamlit keys and listens to plotly's own hover events on the plane.
// data: {plane, bars, maps, pad: the elements' keys, colors: one per model}. Model i is the plane's and the bars'
// trace with meta i, the maps' subplot i, and the pad's image i (the large one first, then the others in order).
const DIMMED = "0.2";
const MAP_VEIL = "rgba(255, 255, 255, 0.75)";
const ATTACH_EVERY_MS = 300; // the charts mount after this component and are replaced when the page reruns

// A component draws inside a shadow root of an element under its Streamlit container: that root, else the container.
function shadowOf(container) {
  return container && (Array.from(container.querySelectorAll("*")).find((el) => el.shadowRoot)?.shadowRoot ?? container);
}

class ModelHover {
  constructor(parentElement) {
    this.root = parentElement;
    this.plane = null;
    this.hovered = null;
    this.timer = setInterval(() => this.attach(), ATTACH_EVERY_MS);
  }

  update(data) {
    this.data = data;
    this.attach();
  }

  destroy() {
    clearInterval(this.timer);
    this.highlight(null);
  }

  chart(key) {
    return document.querySelector(`.st-key-${key} .js-plotly-plot`);
  }

  attach() {
    const plane = this.data && this.chart(this.data.plane);
    if (!plane || plane === this.plane || typeof plane.on !== "function") return;
    this.plane = plane;
    plane.on("plotly_hover", (event) => this.highlight(event.points[0]?.data?.meta ?? null));
    plane.on("plotly_unhover", () => this.highlight(null));
  }

  highlight(model) {
    if (model === this.hovered) return;
    this.hovered = model;
    const { plane, bars, maps, pad } = this.data;
    for (const key of [plane, bars]) this.dimTraces(this.chart(key), model);
    this.veilMaps(this.chart(maps), model);
    this.dimImages(shadowOf(document.querySelector(`.st-key-${pad}`)), model);
  }

  // SVG traces (the plane's points, the bars): each group's plotly data names its model (trace.meta).
  dimTraces(chart, model) {
    if (!chart) return;
    for (const group of chart.querySelectorAll("g.trace")) {
      const meta = group.__data__?.[0]?.trace?.meta;
      if (meta === undefined) continue;
      group.style.opacity = model === null || meta === model ? "" : DIMMED;
    }
  }

  // The maps are WebGL (no element per trace): a veil over every other model's subplot, a frame around its own.
  veilMaps(chart, model) {
    if (!chart) return;
    chart.querySelectorAll(".model-hover-veil").forEach((veil) => veil.remove());
    const layout = chart._fullLayout;
    const container = chart.querySelector(".svg-container");
    if (model === null || !layout || !container) return;
    this.data.colors.forEach((color, i) => {
      const x = layout[i ? `xaxis${i + 1}` : "xaxis"];
      const y = layout[i ? `yaxis${i + 1}` : "yaxis"];
      if (!x || !y) return;
      const veil = document.createElement("div");
      veil.className = "model-hover-veil";
      veil.dataset.model = String(i);
      Object.assign(veil.style, {
        position: "absolute", left: `${x._offset}px`, top: `${y._offset}px`, width: `${x._length}px`,
        height: `${y._length}px`, pointerEvents: "none", zIndex: 10, boxSizing: "border-box",
        background: i === model ? "transparent" : MAP_VEIL, border: i === model ? `3px solid ${color}` : "none",
      });
      container.append(veil);
    });
  }

  dimImages(pad, model) {
    if (!pad) return;
    const figures = [pad.querySelector(".image-view"), ...pad.querySelectorAll(".other-images figure")];
    figures.forEach((figure, i) => {
      if (figure) figure.style.opacity = model === null || i === model ? "" : DIMMED;
    });
  }
}

export default function (component) {
  return mountView(ModelHover, component);
}
