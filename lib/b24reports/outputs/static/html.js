export default {
  render({ model, el }) {
    el.classList.add("b24r-html", "jp-RenderedHTMLCommon", "jp-RenderedHTML");  // the look of an HTML output
    const show = () => { el.innerHTML = model.get("html"); };
    show();
    model.on("change:html", show);
    return () => model.off("change:html", show);
  },
};
