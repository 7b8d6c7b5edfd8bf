// The plotly.js that b24reports' pages load: its core (with scatter) and the trace types the
// reports draw, instead of plotly.js's every type (4.8 MB). `make install` builds it with
// esbuild (js/build.mjs) into lib/b24reports/outputs/static/plotly-b24.min.js; without it the
// pages fall back to the whole plotly.js that the plotly package ships.
'use strict';

var Plotly = require('plotly.js/lib/core');

// keep in step with the figures of b24reports.views (a trace type outside this list makes
// a page load the whole plotly.js: b24reports.outputs.plotlyjs)
var TRACES = {
    bar: require('plotly.js/lib/bar'),
    funnel: require('plotly.js/lib/funnel'),
    heatmap: require('plotly.js/lib/heatmap'),
    pie: require('plotly.js/lib/pie'),
    waterfall: require('plotly.js/lib/waterfall'),
};
Plotly.register(Object.values(TRACES));

// what a page asks before it draws a figure with this plotly.js (static/chart.js)
Plotly.b24rTraces = ['scatter'].concat(Object.keys(TRACES));

module.exports = Plotly;
