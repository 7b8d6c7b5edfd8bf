// The fit of a chart to a phone's width, shared by the dashboard's charts (widgets.py puts this
// file before chart.js in the chart widget's module) and the static report page (the offline
// template inlines it): both call b24rFit.narrow and b24rFit.fitTexts.
var b24rFit = (() => {
  // On a phone a chart is drawn narrower than the figure was built for (the print width), but its
  // texts keep their size: titles and axis titles ran past the chart's edge, and bar or point labels
  // («702,2 тыс. ₽ · 7,8 лида») past the plot area (a layout check at 352 px found 44 texts cut in
  // 62 charts). Before the drawing, narrow() gives the chart its width and gives back the side
  // margins a figure widened for the print width. After it, fitTexts() measures the drawn chart and,
  // only where a text does not fit: breaks titles, axis titles, long category labels and legend
  // entries into lines (a category label cut with «…» where its row has no room for them); sets
  // fewer, upright numbers on a value axis; widens the value axis so that bar and point labels end
  // inside the plot; moves a point's name off another's; grows a chart whose legend would scroll.
  // Then it draws again (at most FIT_ROUNDS times). A chart as wide as its figure is never changed.
  const LINE = 1.3;  // plotly's line spacing: a line is 1.3 font sizes high
  let ruler = null;
  const textPx = (s, font) => {
    ruler = ruler || document.createElement("canvas").getContext("2d");
    ruler.font = font;
    return ruler.measureText(s).width;
  };
  const decoded = (s) => { const t = document.createElement("textarea"); t.innerHTML = s; return t.value; };
  // `text` (plotly's: escaped, lines joined by <br>) in lines of at most maxPx, broken after a space
  // or a hyphen («Рождественский-» «Константинопольская»); a word longer than that keeps a line of its own
  function wrap(text, maxPx, font) {
    const out = [];
    for (const line of String(text).split(/<br\s*\/?>/i)) {
      let cur = "";
      for (const part of line.split(/(?<=[ -])/)) {
        if (cur && textPx(decoded((cur + part).trimEnd()), font) > maxPx) { out.push(cur.trimEnd()); cur = part; } else cur += part;
      }
      out.push(cur.trimEnd());
    }
    return out;
  }
  // a category's label in at most `rows` lines, the last cut with «…» (the hover still names it
  // whole); a last part in brackets stays whole, the text before it is cut («Соколов И… (−5,5 млн ₽)»:
  // the pipeline report's change per manager, the dashboard's «(уволен)»)
  function fewLines(lines, rows, maxPx, font) {
    if (lines.length <= rows) return lines.join("<br>");
    const rest = lines.slice(rows - 1).reduce((a, l) => (a ? a + (a.endsWith("-") ? "" : " ") + l : l), "");
    const tail = (/ \([^()]*\)$/.exec(rest) || [""])[0];
    let last = rest.slice(0, rest.length - tail.length);
    if (tail && textPx(decoded(last.slice(0, 1) + "…" + tail), font) > maxPx) { last = rest; }  // no room for the bracket
    const end = last === rest ? "" : tail;
    while (last.length > 1 && textPx(decoded(last.trimEnd() + "…" + end), font) > maxPx) last = last.slice(0, -1);
    return [...lines.slice(0, rows - 1), last.trimEnd() + "…" + end].join("<br>");
  }
  const fontOf = (el) => { const s = getComputedStyle(el); return `${s.fontSize} ${s.fontFamily}`; };
  const sizeOf = (el) => parseFloat(getComputedStyle(el).fontSize) || 12;
  const linesOf = (text) => String(text || "").split(/<br\s*\/?>/i).length;
  // Before a narrowed chart is drawn: its width, and side margins no wider than the template's
  // where the axes there make their own room (plotly's automargin, on unless a figure turns it off):
  // a margin a figure widened for its long labels at the print width (160 px) took half a phone's chart.
  // `layout`: the figure's (`tl`: its template's layout); returns what changes ({width, margin}), for
  // Object.assign before a drawing or Plotly.relayout after one
  function narrow(layout, tl, w) {
    const margin = { ...(layout.margin || {}) }, tm = tl.margin || {};
    const axes = Object.keys(layout).filter((k) => /^yaxis\d*$/.test(k)).map((k) => layout[k]);
    if (!axes.some((a) => a && a.automargin === false)) {
      for (const side of ["l", "r"]) if (margin[side] > tm[side]) margin[side] = tm[side];
    }
    return { width: w, margin };
  }
  const rect = (el) => el && el.getBoundingClientRect();
  // one measurement of the drawn chart: the changes that make its texts fit, or null:
  // {layout: Plotly.relayout's, traces: {trace index: {attribute: value}}}
  function fitPatch(gd) {
    const full = gd._fullLayout;
    const svg = gd.querySelector(".main-svg");
    if (!full || !svg) return null;
    const box = rect(svg);
    const plots = Object.values(full._plots || {});
    const patch = {}, traces = {};
    const traceOf = (el) => { const cd = (el.closest(".trace, .traces") || {}).__data__; return cd && cd[0] && cd[0].trace; };
    const change = (trace, attr, value) => { (traces[trace.index] = traces[trace.index] || {})[attr] = value; };
    const margin = { t: full.margin.t, b: full.margin.b };
    // the title and its subtitle: broken into lines that end inside the chart, from the top down
    const titles = [["title.text", ".g-gtitle .gtitle", full.title && full.title.text],
      ["title.subtitle.text", ".g-gtitle .gtitle-subtitle", full.title && full.title.subtitle && full.title.subtitle.text]];
    for (const [path, sel, text] of titles) {
      const el = gd.querySelector(sel);
      if (!el || !text || rect(el).right <= box.right - 2) continue;
      patch[path] = wrap(text, box.right - rect(el).left - 6, fontOf(el)).join("<br>");
      Object.assign(patch, { "title.y": 1, "title.yref": "container", "title.yanchor": "top" });
    }
    // ...inside its top (plotly puts a title of several lines anchored at the top higher than one)
    const head = rect(gd.querySelector(".g-gtitle .gtitle"));
    let down = 0;  // px the title moves down
    if (head && head.top < box.top + 4 && full.title.yref === "container") {
      down = box.top + 8 - head.top;
      patch["title.y"] = (typeof full.title.y === "number" ? full.title.y : 1) - down / full.height;
    }
    // ...and above the plot and a legend over it, however many lines they took
    const top = Math.min(...plots.map((p) => box.top + p.yaxis._offset));
    const legend = rect(gd.querySelector(".legend .bg"));
    const over = legend && legend.bottom <= top + 2 ? legend.top : top;
    const titleEnd = Math.max(...[".g-gtitle .gtitle", ".g-gtitle .gtitle-subtitle"]
      .map((sel) => gd.querySelector(sel)).filter(Boolean).map((el) => rect(el).bottom)) + down;
    if (titleEnd > over - 4) margin.t += titleEnd - over + 8;
    // y category labels that leave the plot under half the chart's width: in lines of at most
    // a share of it (WRAP_SHARE, less when bar labels still find no room), the bars get the room
    const share = gd._b24rShare || WRAP_SHARE;
    const wrapTicks = (xaxis, ax, part) => {
      const ticks = [...gd.querySelectorAll(`.${ax._id}tick text`)];
      const max = (box.right - box.left) * part;
      if (ax.type !== "category" || !ticks.length || xaxis._length >= (box.right - box.left) / 2 || !(ax._categories || []).length
          || full._size.l <= full.margin.l + 2  // the labels fit the figure's own margin: lines would not widen the plot
          || !ticks.some((el) => rect(el).width > max + 1)) return false;
      const font = fontOf(ticks[0]);
      // as many lines as a row has room for (lines' spacing may shrink a little), at most two
      const rows = Math.max(1, Math.min(2, Math.floor(ax._length / ax._categories.length / (sizeOf(ticks[0]) * LINE) + 0.2)));
      Object.assign(patch, { [`${ax._name}.tickmode`]: "array", [`${ax._name}.tickvals`]: ax._categories,
        [`${ax._name}.ticktext`]: ax._categories.map((c) => fewLines(wrap(String(c), max, font), rows, max, font)) });
      return true;
    };
    for (const { xaxis, yaxis } of plots) wrapTicks(xaxis, yaxis, share);
    // numbers along a value axis that plotly slanted to fit: fewer of them, upright
    for (const ax of plots.map((p) => p.xaxis)) {
      const ticks = [...gd.querySelectorAll(`.${ax._id}tick text`)];
      if (ax.type !== "linear" || ax.tickmode === "array" || `${ax._name}.nticks` in patch
          || !ticks.some((el) => /rotate\((?!0[,)])/.test(el.getAttribute("transform") || ""))) continue;
      const widest = Math.max(...ticks.map((el) => textPx(el.textContent, fontOf(el))));
      patch[`${ax._name}.nticks`] = Math.max(2, Math.floor(ax._length / (widest + 24)));
    }
    // axis titles, centred on their axis: at most twice the room to the nearer edge of the chart; a
    // legend under the plot moves down by the lines added
    for (const ax of plots.map((p) => p.xaxis)) {
      const el = gd.querySelector(`.g-${ax._id}title text`);
      const text = ax.title && ax.title.text;
      if (!el || !text || `${ax._name}.title.text` in patch) continue;
      const r = rect(el);
      if (r.left >= box.left - 2 && r.right <= box.right + 2) continue;
      const mid = (r.left + r.right) / 2;
      const lines = wrap(text, 2 * Math.min(mid - box.left, box.right - mid) - 8, fontOf(el));
      patch[`${ax._name}.title.text`] = lines.join("<br>");
      margin[ax.side === "top" ? "t" : "b"] += (lines.length - linesOf(text)) * sizeOf(el) * LINE;
    }
    const xtitle = rect(gd.querySelector(".g-xtitle text"));
    if (legend && xtitle && full.legend.y < 0 && legend.top < xtitle.bottom + 4 && legend.bottom > xtitle.top) {
      const h = plots[0].yaxis._length;
      patch["legend.y"] = full.legend.y - (xtitle.bottom + 8 - legend.top) / h;
    }
    // labels past the right end of their plot area (or of the chart): the value axis is widened
    // (once the labels of the other axis are set) by the least factor k that puts every label inside
    // it — after the bar's end or the point, or, for a bar of textposition "auto", inside the bar
    // when it is still long enough (at 1/k of its length now)
    const labels = {};
    if (!Object.keys(patch).some((k) => k.endsWith(".ticktext"))) {
      for (const el of gd.querySelectorAll(".cartesianlayer .subplot .mlayer text")) {  // traces, not ticks
        const id = ([...el.closest(".subplot").classList].find((c) => c !== "subplot") || "");
        const ax = ((full._plots || {})[id] || {}).xaxis;
        const r = rect(el);
        if (!ax || ax.type !== "linear" || ax.autorange === "reversed" || !r.width || !el.textContent.trim()) continue;
        const left = box.left + ax._offset;
        const bar = rect(el.closest(".point") && el.closest(".point").querySelector("path"));
        const auto = !!bar && (traceOf(el) || {}).textposition === "auto";
        (labels[ax._name] = labels[ax._name] || { ax, out: false, items: [] }).items.push({
          end: bar ? bar.right - left : r.left - left - 3, long: bar ? bar.width : 0, w: r.width + 3, auto });
        if (r.right > left + ax._length + 1) labels[ax._name].out = true;
      }
    }
    for (const [name, { ax, out, items }] of Object.entries(labels)) {
      const L = ax._length - 4;
      const fits = (k) => items.every((t) => t.end / k + t.w <= L + 0.5 || (t.auto && t.long / k >= t.w + 3) || t.w >= L);
      const k = out && [...items.map((t) => t.end / (L - t.w)).filter((c) => c > 1 && c <= MAX_GROW), MAX_GROW].sort((a, b) => a - b).find(fits);
      const [lo, hi] = full[name].range;
      if (k && hi > lo) patch[`${name}.range`] = [lo, lo + (hi - lo) * k];
      // no widening fits them: the category labels beside give up more room, and the next round tries again
      const beside = out && !k && share > MIN_SHARE && plots.find((p) => p.xaxis === ax);
      if (beside && wrapTicks(ax, beside.yaxis, share - 0.1)) gd._b24rShare = share - 0.1;
    }
    // legend entries wider than the chart (long names): in lines
    // (to a width that fits wherever the legend puts the entry: it lays them out again)
    for (const el of gd.querySelectorAll(".legend .traces text.legendtext")) {
      const trace = traceOf(el);
      if (!trace || !trace.name || !legend || rect(el).right <= box.right - 2) continue;
      const inset = rect(el).left - rect(el.closest(".traces")).left;  // the entry's symbol
      change(trace, "name", wrap(trace.name, box.right - legend.left - inset - 8, fontOf(el)).join("<br>"));
    }
    // a legend that scrolls in its box (its entries took many lines): the chart grows by the rest
    const lg = full.legend;
    if (lg && lg._height > lg._effHeight + 1) patch.height = Math.ceil(full.height + lg._height - lg._effHeight + 8);
    // two names at points that cover each other: the lower point's name goes to its other side
    const named = [...gd.querySelectorAll(".cartesianlayer .scatterlayer .textpoint text")]
      .map((el) => ({ el, r: rect(el), trace: traceOf(el), i: (el.parentNode.__data__ || {}).i }))
      .filter((t) => t.trace && Number.isInteger(t.i) && t.r.width && t.el.textContent.trim());
    const flip = { top: "bottom", bottom: "top", left: "right", right: "left" };
    const flipped = new Set();  // a name moves once a round, however many others it covers
    named.forEach((a, n) => named.slice(n + 1).forEach((b) => {
      const overlap = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left) > 2
        && Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top) > 2;
      const t = a.r.top > b.r.top ? a : b, tr = t.trace;
      if (!overlap || flipped.has(t.el)) return;
      flipped.add(t.el);
      // per point (the trace's points may be a typed array: the positions are a plain one)
      const now = (traces[tr.index] && traces[tr.index].textposition)
        || Array.from({ length: tr._length }, (_, j) => (Array.isArray(tr.textposition) ? tr.textposition[j] : tr.textposition) || "middle center");
      now[t.i] = String(now[t.i]).replace(/top|bottom|left|right/g, (w) => flip[w]);
      change(tr, "textposition", now);
    }));
    for (const side of ["t", "b"]) if (margin[side] !== full.margin[side]) patch[`margin.${side}`] = Math.ceil(margin[side]);
    return Object.keys(patch).length || Object.keys(traces).length ? { layout: patch, traces } : null;
  }
  // at most this many times its range a value axis is widened for its labels
  const MAX_GROW = 8;
  // at most this share of a narrowed chart's width goes to the labels of a y category axis
  const WRAP_SHARE = 0.4, MIN_SHARE = 0.25;
  // measure, change, draw again: at most FIT_ROUNDS times (a change can move another text)
  const FIT_ROUNDS = 4;
  // (`still`: whether this chart's drawing is still the latest, else it stops)
  async function fitTexts(gd, P, still = () => true) {
    gd._b24rShare = undefined;  // a new drawing: its category labels start at WRAP_SHARE
    for (let i = 0; i < FIT_ROUNDS && still(); i++) {
      const fix = fitPatch(gd);
      if (!fix) return;
      const idx = Object.keys(fix.traces).map(Number), attrs = {};
      idx.forEach((t, n) => Object.entries(fix.traces[t]).forEach(([k, v]) => {
        (attrs[k] = attrs[k] || idx.map(() => undefined))[n] = v;  // per trace; undefined: unchanged
      }));
      await P.update(gd, attrs, fix.layout, idx);
    }
  }
  return { narrow, fitTexts };
})();
