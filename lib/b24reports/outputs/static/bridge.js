function send(model, msg) { try { model.send(msg); } catch (e) { /* kernel gone: nothing to refilter */ } }
// jupyterlab-plotly's renderer draws every chart a second time, into a PNG (Plotly.toImage), to
// keep it in the notebook file; a dashboard is never saved, so inside report cells that second
// drawing is skipped (the promise never settles, so the renderer stores nothing).
function skipSnapshots() {
  const P = window.Plotly;
  if (!P || typeof P.toImage !== "function" || P.__b24rNoSnapshot) return;
  const toImage = P.toImage;
  P.toImage = function (gd, opts) {
    const inCell = gd && typeof gd.closest === "function" && gd.closest(".b24r-cell, .b24r-plotly-loader");
    if (inCell && opts && opts.format === "png") return new Promise(() => {});
    return toImage.apply(this, arguments);
  };
  P.__b24rNoSnapshot = true;
}
function hookPlots(ask) {
  skipSnapshots();
  for (const gd of document.querySelectorAll(".b24r-cell .js-plotly-plot")) {
    if (gd.__b24rHooked || typeof gd.on !== "function") continue;
    gd.__b24rHooked = true;
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (!p) return;
      const name = p.data ? p.data.name : null;
      ask({ kind: "point", values: [p.x, p.y, name, p.customdata, p.text, p.hovertext, p.label]
        .map((v) => (v === undefined ? null : v)) });
    });
  }
}
// A page whose kernel is gone (culled after being idle, or the server stopped) would ignore every
// filter without a word: after an action that the kernel answers (a filter, a chip, the Excel
// button, a click on a chart or a table) the status line or the Excel link must change within
// LOST_AFTER_MS, else a banner says so and offers to reload.
const LOST_AFTER_MS = 10000;
const WAITING_AFTER_MS = 2000;  // a refilter answers within ~50 ms: from 2 s the status says it waits
// The address bar follows the filters (history.replaceState), so a reload or a copied link
// reopens the page as it is; query keys that are not filters (e.g. lang) stay.
function mirrorQuery(model) {
  const q = model.get("query");
  if (q === null || q === undefined) return;
  const url = new URL(window.location.href);
  for (const k of model.get("managed") || []) url.searchParams.delete(k);
  for (const [k, v] of new URLSearchParams(q)) url.searchParams.append(k, v);
  if (url.href !== window.location.href) window.history.replaceState(window.history.state, "", url.href);
}
function watchKernel(model) {
  const status = document.querySelector(".b24r-status");
  let timer = null, hint = null;
  const answered = () => {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    if (hint !== null) { clearTimeout(hint); hint = null; }
    for (const n of document.querySelectorAll(".b24r-waiting, .b24r-lost")) n.remove();  // slow, not gone
  };
  const waiting = () => {
    hint = null;
    if (!status || status.querySelector(".b24r-waiting")) return;
    const w = document.createElement("span");
    w.className = "b24r-waiting";
    w.textContent = " · " + model.get("waiting");
    status.appendChild(w);
  };
  const lost = () => {
    timer = null;
    if (document.querySelector(".b24r-lost")) return;
    const box = document.createElement("div");
    box.className = "b24r-lost";
    box.setAttribute("role", "alert");
    box.textContent = model.get("lost") + " ";
    const btn = document.createElement("button");
    btn.textContent = model.get("reload");
    btn.onclick = () => window.location.reload();
    box.appendChild(btn);
    document.body.prepend(box);
  };
  const arm = () => {
    if (timer === null) timer = setTimeout(lost, LOST_AFTER_MS);
    if (hint === null) hint = setTimeout(waiting, WAITING_AFTER_MS);
  };
  const onChange = (e) => { if (e.target.closest(".b24r-filterbar")) arm(); };
  const onClick = (e) => { if (e.target.closest(".b24r-filterbar button")) arm(); };
  document.addEventListener("change", onChange, true);
  document.addEventListener("click", onClick, true);
  // an answer is a change the kernel made, not the waiting hint this page added itself
  const seen = new MutationObserver((records) => {
    const own = records.every((r) => {
      const nodes = [...r.addedNodes, ...r.removedNodes];
      return nodes.length > 0 && nodes.every((n) => n.classList && n.classList.contains("b24r-waiting"));
    });
    if (!own) answered();
  });
  for (const node of [status, document.querySelector(".b24r-excel-link")]) {
    // content only: ipywidgets toggles a class on these nodes when the kernel link drops and comes
    // back (a culled kernel is restarted empty), which is no answer
    if (node) seen.observe(node, { subtree: true, childList: true, characterData: true });
  }
  // ipywidgets marks its views when the kernel link drops; still dropped 5 s later (a culled
  // kernel stays gone) means the page is dead even before the viewer tries a filter
  let dropped = null;
  const link = new MutationObserver(() => {
    const off = status.classList.contains("jupyter-widgets-disconnected");
    if (off && dropped === null) dropped = setTimeout(() => { dropped = null; lost(); }, 5000);
    if (!off && dropped !== null) { clearTimeout(dropped); dropped = null; }
  });
  if (status) link.observe(status, { attributes: true, attributeFilter: ["class"] });
  return { arm, answered, stop: () => {
    answered(); seen.disconnect(); link.disconnect(); if (dropped !== null) clearTimeout(dropped);
    document.removeEventListener("change", onChange, true);
    document.removeEventListener("click", onClick, true);
  } };
}
// The filter bar is sticky (dashboard.css), but sticky holds only inside the nearest ancestor
// that clips or scrolls, and the output area around a widget does both: the bar scrolled away
// with its cell. It is moved to the top of the page's own scroller (Voila's #rendered_cells),
// where it already stands, so it stays in view with the chips that show and clear the filters.
function pinBar(el, tries) {
  const bar = el.closest(".b24r-filterbar");
  const page = document.getElementById("rendered_cells");
  if (!bar || !page) {
    if (tries > 0) requestAnimationFrame(() => pinBar(el, tries - 1));
    return;
  }
  if (bar.parentElement !== page) {
    page.prepend(bar);
    bar.classList.add("b24r-pinned");
    // stick to the very top edge, over the scroller's own padding (nothing shows above the bar)
    bar.style.top = `-${parseFloat(getComputedStyle(page).paddingTop) || 0}px`;
  }
}
export default {
  render({ model, el }) {
    el.classList.add("b24r-bridge");
    pinBar(el, 600);
    let watch = null;
    setTimeout(() => { watch = watchKernel(model); }, 0);  // the filter bar is on the page by then
    const onQuery = () => mirrorQuery(model);
    model.on("change:query", onQuery);
    const ask = (msg) => { if (watch) watch.arm(); send(model, msg); };
    const onClick = (e) => {
      if (e.target.closest("a")) return;
      const cell = e.target.closest("[data-b24r-key]");
      if (!cell) return;
      ask({ kind: "key", key: cell.dataset.b24rKey, value: cell.dataset.b24rValue });
    };
    document.addEventListener("click", onClick);
    let queued = false;
    const rescan = () => {
      if (queued) return;
      queued = true;
      setTimeout(() => { queued = false; hookPlots(ask); }, 100);
    };
    model.on("msg:custom", (msg) => {
      if (watch) watch.answered();
      if (!msg || msg.kind !== "download") return;
      const bytes = Uint8Array.from(atob(msg.b64), (c) => c.charCodeAt(0));
      const url = URL.createObjectURL(new Blob([bytes], { type: msg.mime }));
      const a = document.createElement("a");
      a.href = url;
      a.download = msg.name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
    const obs = new MutationObserver(rescan);
    obs.observe(document.body, { childList: true, subtree: true });
    rescan();
    return () => {
      document.removeEventListener("click", onClick); obs.disconnect(); if (watch) watch.stop();
      model.off("change:query", onQuery);
    };
  },
};
