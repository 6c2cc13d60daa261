// The base map of every Leaflet map: the tile layer of the settings (JIEDAO_MAP_TILE_URL, _ATTRIBUTION,
// _SUBDOMAINS, given once on <body>), or none at all. Government networks are often offline:
// with no tile URL the shapes are drawn on a plain background and carry their own labels.
import L from "leaflet";

export function newMap(el, options = {}) {
  const settings = document.body.dataset;
  const url = settings.mapTiles || "";
  const map = L.map(el, { zoomSnap: 0.25, attributionControl: Boolean(url), ...options });
  if (url) {
    const tileOptions = { maxZoom: 19, attribution: settings.mapAttribution || "" };
    if (settings.mapSubdomains) tileOptions.subdomains = settings.mapSubdomains;
    L.tileLayer(url, tileOptions).addTo(map);
  } else {
    el.classList.add("map--plain");
  }
  return map;
}
