// Bundles frontend/src into jiedao/static/dist (run with `npm run build`).
import { cpSync, mkdirSync, rmSync } from "node:fs";
import * as esbuild from "esbuild";

const outdir = "jiedao/static/dist";
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

await esbuild.build({
  entryPoints: ["frontend/src/app.js", "frontend/src/app.css"],
  outdir,
  bundle: true,
  minify: true,
  sourcemap: false,
  target: "es2020",
  // Leaflet's CSS refers to its PNG icons: keep them under dist/images with stable names.
  loader: { ".png": "file", ".svg": "file" },
  assetNames: "images/[name]",
  legalComments: "linked",
  logLevel: "warning",
});

// Leaflet's stock images and stylesheet, for pages or plugins that reference them directly.
cpSync("node_modules/leaflet/dist/images", `${outdir}/images`, { recursive: true });
cpSync("node_modules/leaflet/dist/leaflet.css", `${outdir}/leaflet.css`);
