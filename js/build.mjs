// Builds ../lib/b24reports/outputs/static/plotly-b24.min.js from plotly-b24.cjs (esbuild: one
// minified script that sets window.Plotly). Its first line names the plotly.js version and the
// trace types, which b24reports.outputs.plotlyjs reads before using the file.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const version = JSON.parse(readFileSync(require.resolve('plotly.js/package.json'), 'utf8')).version;
const traces = [...readFileSync('plotly-b24.cjs', 'utf8').matchAll(/^\s+(\w+): require\('plotly\.js\/lib\/\1'\)/gm)]
  .map((m) => m[1]);
if (!traces.length) throw new Error('no trace types found in plotly-b24.cjs');
await build({
  entryPoints: ['plotly-b24.cjs'],
  bundle: true,
  minify: true,
  format: 'iife',
  globalName: 'Plotly',
  define: { global: 'window' },  // plotly.js's dependencies expect node's `global`
  loader: { '.css': 'empty' },  // maplibre's stylesheet, for map traces this build leaves out
  banner: { js: `/* b24reports plotly.js ${version} traces=${['scatter', ...traces].join(',')} */` },
  outfile: '../lib/b24reports/outputs/static/plotly-b24.min.js',
  logLevel: 'warning',
});
