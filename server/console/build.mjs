// Bundles the console into dist/ (embedded into the tenantflow binary):
// app.js and app.css with bpmn-js and its font, plus index.html. Run by the
// Makefile after `npm ci`; nothing is fetched at run time.
import * as esbuild from 'esbuild';
import {copyFile, mkdir, readdir, rm} from 'node:fs/promises';

const out = 'dist';
await mkdir(out, {recursive: true});
for (const f of await readdir(out)) {
  if (!f.startsWith('.')) await rm(`${out}/${f}`, {recursive: true});
}
await esbuild.build({
  entryPoints: ['src/app.js'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  outdir: out,
  entryNames: 'app',
  assetNames: 'assets/[name]-[hash]',
  loader: {'.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file'},
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile('src/index.html', `${out}/index.html`);
console.log(`console bundled into ${out}/`);
