// (b24rFit: static/fit.js, which widgets.py puts before this module)
// plotly.js comes with the page: the partial build of the reports' trace types that the server
// serves (it lists them in Plotly.b24rTraces), or jupyterlab-plotly's whole plotly.js; either sets
// window.Plotly. A slot waits for it rather than shipping its own copy over the kernel link, and
// draws a figure only with a plotly.js that has every trace type of it (a partial build would
// draw an unknown type as a scatter): for another type the page loads the whole plotly.js from
// the server, which replaces window.Plotly.
const draws = (P, data) => !P.b24rTraces || (data || []).every((t) => P.b24rTraces.includes(t.type || "scatter"));
// the whole plotly.js, next to the partial build in the server's template (serve.prepare_template)
const WHOLE = "templates/b24reports/static/plotly.min.js";
function loadWhole() {
  if (document.querySelector("script[data-b24r-whole-plotly]")) return;
  const s = document.createElement("script");
  s.src = (document.body.dataset.baseUrl || "/voila/") + WHOLE;
  s.dataset.b24rWholePlotly = "1";
  document.head.appendChild(s);
}
function whenPlotly(timeoutMs, data) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const poll = () => {
      const P = window.Plotly;
      if (P && typeof P.react === "function" && draws(P, data)) { resolve(P); return; }
      if (P && P.b24rTraces && data) loadWhole();  // a trace type the partial build lacks
      if (Date.now() - t0 > timeoutMs) resolve(null);
      else setTimeout(poll, 50);
    };
    poll();
  });
}
// A chart off screen (more than MARGIN px away) is drawn when it is scrolled to, or before the
// page is printed, not before: a refilter redraws only what the viewer sees, and a chart nobody
// scrolls to costs nothing (five refilters of a report used to redraw every chart of it five
// times). Until drawn it is marked data-b24r-stale (dimmed by dashboard.css, should it be seen
// before it is drawn); a chart being drawn, data-b24r-pending.
const MARGIN = 200;
// A cell whose list of outputs changes (a note that shows for one filter only) is shown anew, with
// a new view of each of its charts. The chart a view drew is kept here a moment when the view goes
// (by the slot's key), and the next view of that slot takes it over: it is drawn again only if
// what it shows changed, instead of being drawn from scratch (three times: by the view going, by
// the new one before it is in the page, and once it is).
const KEPT = (window.__b24rKeptCharts = window.__b24rKeptCharts || new Map());
const KEEP_MS = 5000;
const MAX_WIDTH = 1100;  // px: a chart wider than this reads worse, not better
const MIN_WIDTH = 280;  // px: the narrowest a chart is drawn (a 320 px phone)
export default {
  async render({ model, el }) {
    el.classList.add("b24r-chart");
    const key = model.get("key") || "";
    // the chart's own box, of the figure's size, whose insides never change the page's layout:
    // plotly measures text many times per drawing, and each measurement then lays out this box only;
    // st.P: the plotly.js that drew it last, st.sig: what it shows (figure, template, width)
    let st = key ? KEPT.get(key) : undefined;
    if (st) { KEPT.delete(key); clearTimeout(st.timer); } else {
      st = { box: document.createElement("div"), gd: document.createElement("div"), P: null, sig: null };
      st.box.appendChild(st.gd);
    }
    const { box, gd } = st;
    el.appendChild(box);
    el.dataset.b24rPending = "1";
    const noPlotly = () => { el.textContent = "plotly.js is not loaded on this page"; delete el.dataset.b24rPending; };
    if (!await whenPlotly(60000)) { noPlotly(); return; }
    let drawn = 0;  // the latest drawing asked for: an older one still waiting for plotly.js is dropped
    let tplSrc = null, tpl = null, next = null, drawing = 0, gone = false, avail = 0;
    const cellWidth = () => el.clientWidth;  // a block as wide as its cell, whatever the chart's size
    const prepare = () => {
      const figSrc = model.get("figure") || "{}";
      const fig = JSON.parse(figSrc);
      const src = model.get("template") || "";
      if (src !== tplSrc) { tpl = src ? JSON.parse(src) : null; tplSrc = src; }
      const layout = fig.layout || {};
      if (tpl) layout.template = tpl;
      const tl = (tpl && tpl.layout) || {};
      let w = layout.width || tl.width, narrowed = false;
      const h = layout.height || tl.height;
      // figures are built at the print width; on a wider screen a chart takes the cell's width
      // (up to MAX_WIDTH), so long labels are not cut and the page is not half empty
      if (!avail) avail = cellWidth();
      if (w && avail - 16 > w) w = layout.width = Math.min(MAX_WIDTH, avail - 16);
      // on a phone (a cell narrower than the figure) the chart is redrawn at the cell's width:
      // nothing is cut off and the page never scrolls sideways
      else if (w && avail > 0 && avail - 4 < w) {
        w = Math.max(MIN_WIDTH, avail - 4);
        Object.assign(layout, b24rFit.narrow(layout, tl, w));
        narrowed = true;
      }
      if (w && h) { box.style.width = w + "px"; box.style.height = h + "px"; box.style.contain = "strict"; }
      return { data: fig.data || [], layout, narrowed, sig: `${w}\n${src}\n${figSrc}` };
    };
    let near = false;  // the observer's last word: within MARGIN of the visible part of the page
    const onScreen = () => {
      // a view not yet in the page (or in a hidden one) measures nothing: plotly would draw it at
      // no size; it is drawn once the page shows it (the observers below)
      if (!box.isConnected || !el.clientWidth) return false;
      if (near) return true;
      const r = box.getBoundingClientRect();
      return r.bottom > -MARGIN && r.top < window.innerHeight + MARGIN;
    };
    const drawNow = () => {
      if (next === null || gone) return;
      const fig = next;
      next = null;
      delete el.dataset.b24rStale;
      drawing += 1;
      el.dataset.b24rPending = "1";
      const mine = ++drawn;
      whenPlotly(60000, fig.data)
        .then((Q) => {
          if (mine !== drawn || gone) return undefined;
          if (!Q) { noPlotly(); return undefined; }
          if (st.P && Q !== st.P) { try { st.P.purge(gd); } catch (e) { /* drawn by the plotly.js replaced */ } }
          st.P = Q;
          st.sig = fig.sig;
          const still = () => mine === drawn && !gone;
          return Q.react(gd, fig.data, fig.layout, model.get("config") || {})
            .then(() => fig.narrowed && still() && b24rFit.fitTexts(gd, Q, still))
            .then(() => { if (fig.narrowed && still()) box.style.height = gd._fullLayout.height + "px"; });  // a legend's room
        })
        .catch(() => {})
        .finally(() => { drawing -= 1; if (!drawing) delete el.dataset.b24rPending; });
    };
    const update = () => {
      try { next = prepare(); } catch (e) { return; }
      if (next.sig === st.sig) {  // drawn already (a chart taken over from the view before)
        next = null;
        if (gd._fullLayout) box.style.height = gd._fullLayout.height + "px";  // as drawn: a phone's fit may have grown it
        drawn += 1;  // a drawing of another figure still waiting for plotly.js is dropped: this one is shown
        delete el.dataset.b24rStale;
        if (!drawing) delete el.dataset.b24rPending;
        return;
      }
      if (onScreen()) { drawNow(); return; }
      el.dataset.b24rStale = "1";
      if (!drawing) delete el.dataset.b24rPending;
    };
    // the report scrolls inside Voila's #rendered_cells: scrollMargin widens that box as
    // rootMargin widens the window, so a chart is drawn just before it comes into view
    const seen = new IntersectionObserver((entries) => {
      near = entries[entries.length - 1].isIntersecting;
      if (near && next !== null) update();  // prepared again: the width may be known only now
    }, { rootMargin: MARGIN + "px", scrollMargin: MARGIN + "px" });
    seen.observe(box);
    window.addEventListener("beforeprint", drawNow);  // a printed page shows every chart, current
    const resized = new ResizeObserver(() => {
      const a = cellWidth();
      if (a && Math.abs(a - avail) > 40) { avail = a; update(); }
    });
    resized.observe(el);
    update();
    model.on("change:figure", update);
    return () => {
      gone = true;
      model.off("change:figure", update);
      seen.disconnect();
      resized.disconnect();
      window.removeEventListener("beforeprint", drawNow);
      const purge = () => { try { if (st.P) st.P.purge(gd); } catch (e) { /* gone */ } };
      if (!key) { purge(); return; }
      box.remove();
      st.timer = setTimeout(() => { if (KEPT.get(key) === st) { KEPT.delete(key); purge(); } }, KEEP_MS);
      KEPT.set(key, st);
    };
  },
};
