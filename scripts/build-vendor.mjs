// Copy the Leaflet files geomap serves into static/vendor/ (git-ignored).
// Run by `npm run build` after `npm ci`; geomap/maps.py names these paths.
import { cpSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "static", "vendor");

const FILES = {
  "leaflet/dist/leaflet.js": "leaflet/leaflet.js",
  "leaflet/dist/leaflet.css": "leaflet/leaflet.css",
  "leaflet/dist/images/layers.png": "leaflet/images/layers.png",
  "leaflet/dist/images/layers-2x.png": "leaflet/images/layers-2x.png",
  "leaflet/dist/images/marker-icon.png": "leaflet/images/marker-icon.png",
  "leaflet/dist/images/marker-icon-2x.png": "leaflet/images/marker-icon-2x.png",
  "leaflet/dist/images/marker-shadow.png": "leaflet/images/marker-shadow.png",
  "leaflet/LICENSE": "leaflet/LICENSE",
  "leaflet.heat/dist/leaflet-heat.js": "leaflet.heat/leaflet-heat.js",
  "leaflet.heat/LICENSE": "leaflet.heat/LICENSE",
  "leaflet.markercluster/dist/leaflet.markercluster.js": "leaflet.markercluster/leaflet.markercluster.js",
  "leaflet.markercluster/dist/MarkerCluster.css": "leaflet.markercluster/MarkerCluster.css",
  "leaflet.markercluster/dist/MarkerCluster.Default.css": "leaflet.markercluster/MarkerCluster.Default.css",
  "leaflet.markercluster/MIT-LICENCE.txt": "leaflet.markercluster/MIT-LICENCE.txt",
};

rmSync(out, { recursive: true, force: true });
let missing = 0;
for (const [from, to] of Object.entries(FILES)) {
  const src = join(root, "node_modules", from);
  if (!existsSync(src)) {
    console.error(`missing ${src} (run npm ci first)`);
    missing += 1;
    continue;
  }
  const dest = join(out, to);
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(src, dest);
}
if (missing) process.exit(1);
console.log(`copied ${Object.keys(FILES).length} files to static/vendor/`);
