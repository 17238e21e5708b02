// The Train page's live view (data: see __init__.py): the ELBO's two terms per step and per epoch on one canvas,
// the latest epoch's test codes on another. Each canvas is redrawn only when its rows change, in place: the
// elements stay mounted across polls. Every paint leaves a performance mark (PAINT_MARK) with what it drew and
// how long it took, for tests and benchmarks.

const PAINT_MARK = "live-training:paint";
const MARGIN = { left: 58, right: 12, top: 22, bottom: 34 };
const PANEL_GAP = 38; // between the panels: room for the lower one's title
const PANEL_SHARE = 0.6; // of the plotting height, for the top panel
const MAX_MARKED_EPOCHS = 60; // test rows get a marker each, up to this many (then the bold line alone)
const TRIM = 0.02; // of the train values, at each end, left out of a panel's range
const POINT_RADIUS = 2;
const HOVER_PX = 10; // the nearest test code within this many CSS pixels is named
const AXIS_COLOR = "rgba(0, 0, 0, 0.55)";
const GRID_COLOR = "rgba(0, 0, 0, 0.08)";
const FONT = "11px sans-serif";

// About `count` round ticks spanning [low, high] (steps of 1, 2 or 5 times a power of ten).
function niceTicks(low, high, count = 5) {
  const span = high - low || Math.abs(high) || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

function tickLabel(value) {
  const abs = Math.abs(value);
  if (abs >= 1e7 || (abs > 0 && abs < 1e-3)) return value.toExponential(1);
  return abs >= 1e4 ? Math.round(value).toLocaleString("en-US") : String(Number(value.toPrecision(4)));
}

// [low, high] of the finite values, widened by `share` of their span on each side.
function paddedRange(values, share = 0.05) {
  let low = Infinity, high = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) { low = Math.min(low, v); high = Math.max(high, v); }
  }
  if (low === Infinity) return [0, 1];
  const pad = (high - low || Math.abs(high) || 1) * share;
  return [low - pad, high + pad];
}

// The values between two quantiles, padded: a few outliers (outlying codes, a loss's first steps) do not squash
// the rest.
function centralRange(values, low = 0.005, high = 0.995, share = 0.08) {
  const sorted = Float64Array.from(values.filter(Number.isFinite)).sort();
  if (!sorted.length) return [0, 1];
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
  return paddedRange([at(low), at(high)], share);
}

// A canvas sized to its CSS box at the device's pixel ratio; returns its context in CSS pixels, and the size.
function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  return { context, width, height };
}

class Axes {
  constructor(box, xRange, yRange) {
    Object.assign(this, { box, xRange, yRange });
  }

  x(value) {
    const [low, high] = this.xRange;
    return this.box.left + ((value - low) / (high - low || 1)) * this.box.width;
  }

  y(value) {
    const [low, high] = this.yRange;
    return this.box.top + this.box.height - ((value - low) / (high - low || 1)) * this.box.height;
  }

  xValue(px) {
    const [low, high] = this.xRange;
    return low + ((px - this.box.left) / this.box.width) * (high - low);
  }

  draw(context, { xTicks = true, yTicks = true, title = "", xTitle = "" } = {}) {
    const { left, top, width, height } = this.box;
    context.font = FONT;
    context.lineWidth = 1;
    if (yTicks) {
      context.textAlign = "right";
      context.textBaseline = "middle";
      for (const t of niceTicks(...this.yRange, Math.max(2, Math.round(height / 45)))) {
        const y = Math.round(this.y(t)) + 0.5;
        context.strokeStyle = GRID_COLOR;
        context.beginPath(); context.moveTo(left, y); context.lineTo(left + width, y); context.stroke();
        context.fillStyle = AXIS_COLOR;
        context.fillText(tickLabel(t), left - 6, y);
      }
    }
    if (xTicks) {
      context.textAlign = "center";
      context.textBaseline = "top";
      context.fillStyle = AXIS_COLOR;
      for (const t of niceTicks(...this.xRange, Math.max(3, Math.round(width / 70)))) {
        context.fillText(tickLabel(t), this.x(t), top + height + 5);
      }
    }
    context.strokeStyle = AXIS_COLOR;
    context.strokeRect(left + 0.5, top + 0.5, width, height);
    context.fillStyle = AXIS_COLOR;
    context.textBaseline = "bottom";
    if (title) { context.textAlign = "left"; context.fillText(title, left, top - 6); }
    if (xTitle) { context.textAlign = "center"; context.textBaseline = "top"; context.fillText(xTitle, left + width / 2, top + height + 19); }
  }
}

function strokeLine(context, axes, xs, ys, width, alpha) {
  context.globalAlpha = alpha;
  context.lineWidth = width;
  context.beginPath();
  let drawing = false;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(ys[i])) { drawing = false; continue; }
    const x = axes.x(xs[i]), y = axes.y(ys[i]);
    drawing ? context.lineTo(x, y) : context.moveTo(x, y);
    drawing = true;
  }
  context.stroke();
  context.globalAlpha = 1;
}

function nearestIndex(sorted, value) {
  let low = 0, high = sorted.length - 1;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    sorted[middle] < value ? (low = middle) : (high = middle);
  }
  return Math.abs(sorted[low] - value) <= Math.abs(sorted[high] - value) ? low : high;
}

class LiveTraining {
  constructor(parent) {
    const find = (selector) => parent.querySelector(selector);
    this.el = {
      chart: find("canvas.chart"), rule: find(".history .rule"), chartTip: find(".history .tooltip"),
      seriesLegend: find(".series-legend"), scatter: find("canvas.scatter"), scatterTip: find(".codes .tooltip"),
      codesTitle: find(".codes-title"), classLegend: find(".class-legend"), caption: find(".codes-caption"),
    };
    this.painted = { chart: null, codes: null }; // what each canvas shows now (a signature of its rows)
    this.resize = new ResizeObserver(() => this.paint(true));
    this.resize.observe(this.el.chart);
    this.resize.observe(this.el.scatter);
    this.el.chart.addEventListener("pointermove", (event) => this.hoverChart(event));
    this.el.chart.addEventListener("pointerleave", () => this.hide(this.el.chartTip, this.el.rule));
    this.el.scatter.addEventListener("pointermove", (event) => this.hoverCodes(event));
    this.el.scatter.addEventListener("pointerleave", () => this.hide(this.el.scatterTip));
  }

  destroy() {
    this.resize.disconnect();
  }

  update(data) {
    this.data = data;
    this.paint(false);
  }

  paint(force) {
    if (!this.data) return;
    const { train, test, steps, codes } = this.data;
    const chart = `${steps}|${train.step.length}|${train.step.at(-1)}|${test.step.length}`;
    if (force || chart !== this.painted.chart) this.timed("chart", () => this.paintChart(), { step: train.step.at(-1) ?? null });
    this.painted.chart = chart;
    const shown = codes ? `${codes.epoch}|${codes.x.length}` : "none";
    if (force || shown !== this.painted.codes) this.timed("codes", () => this.paintCodes(), { epoch: codes?.epoch ?? null });
    this.painted.codes = shown;
  }

  timed(what, paint, detail) {
    const start = performance.now();
    paint();
    performance.mark(PAINT_MARK, { detail: { what, ms: performance.now() - start, ...detail } });
  }

  // --- the ELBO's terms ---------------------------------------------------------------------------------------

  panels(width, height) {
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const plotHeight = height - MARGIN.top - MARGIN.bottom - PANEL_GAP;
    const topHeight = plotHeight * PANEL_SHARE;
    const { train, test, steps, series } = this.data;
    const xRange = [steps[0], Math.max(steps[1], steps[0] + 1)];
    return [0, 1].map((panel) => {
      const keys = series.filter((s) => s.panel === panel).map((s) => s.key);
      const box = panel === 0
        ? { left: MARGIN.left, top: MARGIN.top, width: plotWidth, height: topHeight }
        : { left: MARGIN.left, top: MARGIN.top + topHeight + PANEL_GAP, width: plotWidth, height: plotHeight - topHeight };
      // The train rows' first steps (far from the rest) and noise are trimmed; every test row is in range.
      const [low, high] = centralRange(keys.flatMap((key) => train[key]), TRIM, 1 - TRIM, 0);
      const range = paddedRange([low, high, ...keys.flatMap((key) => test[key])]);
      return { keys, axes: new Axes(box, xRange, range) };
    });
  }

  paintChart() {
    const { context, width, height } = fitCanvas(this.el.chart);
    if (width < MARGIN.left + MARGIN.right + 20) return;
    const { train, test, series, titles } = this.data;
    this.layout = this.panels(width, height);
    this.layout.forEach(({ keys, axes }, panel) => {
      axes.draw(context, { xTicks: panel === 1, title: titles[panel], xTitle: panel === 1 ? "step" : "" });
      context.save();
      context.beginPath();
      context.rect(axes.box.left, axes.box.top, axes.box.width, axes.box.height);
      context.clip();
      for (const key of keys) {
        const { color } = series.find((s) => s.key === key);
        context.strokeStyle = color;
        context.fillStyle = color;
        strokeLine(context, axes, train.step, train[key], 1, 0.5);
        strokeLine(context, axes, test.step, test[key], 3, 1);
        if (test.step.length <= MAX_MARKED_EPOCHS) test.step.forEach((step, i) => {
          context.beginPath();
          context.arc(axes.x(step), axes.y(test[key][i]), 3.5, 0, 2 * Math.PI);
          context.fill();
        });
      }
      context.restore();
    });
    this.drawSeriesLegend();
  }

  drawSeriesLegend() {
    const legend = this.el.seriesLegend;
    if (legend.childElementCount) return;
    for (const { key, color } of this.data.series) {
      for (const [split, style] of [["train", `1px solid ${color}; opacity: 0.6`], ["test", `3px solid ${color}`]]) {
        const item = document.createElement("span");
        item.innerHTML = `<span class="line-swatch" style="border-top: ${style}"></span>${split} ${key}`;
        legend.append(item);
      }
    }
  }

  hoverChart(event) {
    const { train, test, series } = this.data || {};
    if (!this.layout || !train?.step.length) return;
    const [top, bottom] = this.layout;
    const x = event.offsetX, y = event.offsetY;
    if (x < top.axes.box.left || x > top.axes.box.left + top.axes.box.width) return this.hide(this.el.chartTip, this.el.rule);
    const i = nearestIndex(train.step, top.axes.xValue(x));
    const step = train.step[i];
    const epochRow = test.step.findIndex((s) => s === step);
    const value = (columns, row, key) => tickLabel(columns[key][row]);
    const lines = [`step ${step.toLocaleString()}`,
      ...series.map(({ key }) => `train ${key} ${value(train, i, key)}` +
        (epochRow >= 0 ? ` · test ${value(test, epochRow, key)}` : ""))];
    this.el.chartTip.innerText = lines.join("\n");
    const ruleX = top.axes.x(step);
    Object.assign(this.el.rule.style, {
      left: `${ruleX}px`, top: `${top.axes.box.top}px`,
      height: `${bottom.axes.box.top + bottom.axes.box.height - top.axes.box.top}px`,
    });
    this.place(this.el.chartTip, ruleX, y, this.el.chart.clientWidth);
    this.el.rule.classList.remove("hidden");
  }

  // --- the test codes -----------------------------------------------------------------------------------------

  paintCodes() {
    const { codes, classes } = this.data;
    this.el.codesTitle.textContent = codes ? `Test codes after epoch ${codes.epoch}` : "";
    this.el.caption.textContent = codes ? codes.caption : "";
    this.drawClassLegend(classes);
    const { context, width, height } = fitCanvas(this.el.scatter);
    this.codeAxes = null;
    if (!codes || width < 60) return;
    const box = { left: 36, top: 8, width: width - 44, height: height - 30 };
    const axes = new Axes(box, centralRange(codes.x), centralRange(codes.y));
    axes.draw(context);
    context.save();
    context.beginPath();
    context.rect(box.left, box.top, box.width, box.height);
    context.clip();
    context.globalAlpha = 0.75;
    classes.forEach(({ color }, label) => { // one path per class: a fill per colour, not per point
      context.fillStyle = color;
      context.beginPath();
      codes.labels.forEach((l, i) => {
        if (l !== label) return;
        const x = axes.x(codes.x[i]), y = axes.y(codes.y[i]);
        context.moveTo(x + POINT_RADIUS, y);
        context.arc(x, y, POINT_RADIUS, 0, 2 * Math.PI);
      });
      context.fill();
    });
    context.restore();
    this.codeAxes = axes;
  }

  drawClassLegend(classes) {
    const legend = this.el.classLegend;
    if (legend.childElementCount === classes.length) return;
    legend.replaceChildren(...classes.map(({ name, color }) => {
      const item = document.createElement("span");
      item.innerHTML = `<span class="swatch" style="background: ${color}"></span>`;
      item.append(name);
      return item;
    }));
  }

  hoverCodes(event) {
    const { codes, classes } = this.data || {};
    const axes = this.codeAxes;
    if (!axes || !codes) return;
    let best = -1, bestDistance = HOVER_PX * HOVER_PX;
    for (let i = 0; i < codes.x.length; i++) {
      const dx = axes.x(codes.x[i]) - event.offsetX, dy = axes.y(codes.y[i]) - event.offsetY;
      if (dx * dx + dy * dy < bestDistance) { best = i; bestDistance = dx * dx + dy * dy; }
    }
    if (best < 0) return this.hide(this.el.scatterTip);
    this.el.scatterTip.innerText = `${classes[codes.labels[best]].name} (${codes.x[best]}, ${codes.y[best]})`;
    this.place(this.el.scatterTip, axes.x(codes.x[best]), axes.y(codes.y[best]), this.el.scatter.clientWidth);
  }

  // --- tooltips -----------------------------------------------------------------------------------------------

  place(tip, x, y, width) {
    tip.classList.remove("hidden");
    const left = x + 12 + tip.offsetWidth > width ? x - 12 - tip.offsetWidth : x + 12;
    Object.assign(tip.style, { left: `${Math.max(0, left)}px`, top: `${Math.max(0, y - tip.offsetHeight - 6)}px` });
  }

  hide(...elements) {
    for (const element of elements) element.classList.add("hidden");
  }
}

export default function (component) {
  return mountView(LiveTraining, component);
}
