// Grids coloured by an indicator (the grid map page, territory/map.html):
//
// <div data-choropleth data-src="/territory/map/data.json?area=…"      GeoJSON with every indicator
//      data-indicator-control="#map-indicator"   a <select>, or radios (a selector matching them)
//      data-legend="#map-legend" data-table="#map-table" data-status="#map-status"
//      data-labels="1"                            permanent name labels (few grids only)
//      >  (the base map: basemap.js)
//
// Changing the indicator recolours the grids in place (no reload, no new request). Classes are
// quantiles in at most five classes of one sequential palette; with no tile URL the grids are
// drawn on a plain background, as on every other map.
import L from "leaflet";
import { newMap } from "./basemap.js";

// ColorBrewer YlGnBu, 5 classes: sequential, light to dark, and told apart by people with the
// common colour-vision deficiencies (and in greyscale print).
export const PALETTE = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"];
const NO_DATA = "#d9d9d9";
const OUTLINE = "#4a5260";

// Upper bounds of up to `classes` quantile classes of the values (numbers only), ascending and
// distinct: [] when there is no value. A value v belongs to the first class whose bound is ≥ v.
export function quantileBreaks(values, classes = PALETTE.length) {
  const sorted = values.filter((v) => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return [];
  const bounds = [];
  for (let k = 1; k <= classes; k += 1) {
    const bound = sorted[Math.max(0, Math.ceil((k * sorted.length) / classes) - 1)];
    if (!bounds.length || bound > bounds[bounds.length - 1]) bounds.push(bound);
  }
  return bounds;
}

export function classOf(value, breaks) {
  if (typeof value !== "number" || !breaks.length) return -1;
  const index = breaks.findIndex((bound) => value <= bound);
  return index === -1 ? breaks.length - 1 : index;
}

// Fewer classes than colours: spread them over the palette, so the top class is always darkest.
export function colourOf(index, count) {
  if (index < 0) return NO_DATA;
  if (count <= 1) return PALETTE[2];
  return PALETTE[Math.round((index * (PALETTE.length - 1)) / (count - 1))];
}

const number = (value) => (typeof value === "number" ? value.toLocaleString() : "—");

// "0–12", "13–40", … (counts are whole numbers); one value alone when a class holds only it.
export function rangeLabels(breaks, min) {
  return breaks.map((bound, index) => {
    const low = index === 0 ? min : Math.floor(breaks[index - 1]) + 1;
    return low >= bound ? number(bound) : `${number(low)}–${number(bound)}`;
  });
}

function controls(selector) {
  return selector ? Array.from(document.querySelectorAll(selector)) : [];
}

function chosenKey(inputs, fallback) {
  for (const input of inputs) {
    if (input.tagName === "SELECT") return input.value;
    if (input.type === "radio" && input.checked) return input.value;
  }
  return fallback;
}

function swatch(colour) {
  const box = document.createElement("span");
  box.className = "choropleth-swatch";
  box.style.background = colour;
  return box;
}

function renderLegend(legend, label, breaks, min, hasNoData, noDataLabel) {
  if (!legend) return;
  legend.replaceChildren();
  const title = document.createElement("p");
  title.className = "choropleth-legend__title";
  title.textContent = label;
  const list = document.createElement("ul");
  list.className = "choropleth-legend__list";
  rangeLabels(breaks, min).forEach((text, index) => {
    const item = document.createElement("li");
    item.append(swatch(colourOf(index, breaks.length)), document.createTextNode(text));
    list.append(item);
  });
  if (hasNoData) {
    const item = document.createElement("li");
    item.append(swatch(NO_DATA), document.createTextNode(noDataLabel));
    list.append(item);
  }
  legend.append(title, list);
}

// The table below the map: mark the column of the chosen indicator.
function markColumn(table, key) {
  if (!table) return;
  const headings = Array.from(table.querySelectorAll("thead th"));
  const column = headings.findIndex((th) => th.dataset.key === key);
  for (const row of table.querySelectorAll("tr")) {
    Array.from(row.children).forEach((cell, index) => {
      cell.classList.toggle("is-selected", index === column && column !== -1);
    });
  }
}

// A text node, never HTML: grid names come from editable data.
// A permanent label is short (name and value); a hover tooltip names the figure too.
function tipContent(name, label, value, short) {
  const box = document.createElement("span");
  const strong = document.createElement("strong");
  strong.textContent = name;
  const text = short ? number(value) : `${label}: ${number(value)}`;
  box.append(strong, document.createElement("br"), document.createTextNode(text));
  return box;
}

export function renderChoropleth(el) {
  const inputs = controls(el.dataset.indicatorControl);
  const legend = el.dataset.legend ? document.querySelector(el.dataset.legend) : null;
  const table = el.dataset.table ? document.querySelector(el.dataset.table) : null;
  const status = el.dataset.status ? document.querySelector(el.dataset.status) : null;
  const map = newMap(el, { scrollWheelZoom: false });

  fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
    .then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    })
    .then((data) => draw(data))
    .catch((error) => {
      console.warn("jiedao: map data", error);
      map.setView([39.9, 116.4], 10);
      if (status) status.textContent = el.dataset.failed || "";
    });

  function draw(data) {
    const features = (data.features || []).filter((f) => f.geometry);
    const labels = Object.fromEntries((data.indicators || []).map((i) => [i.key, i.label]));
    const fallback = data.indicators?.[0]?.key || "population";
    // On a phone the labels would cover the grids: names show on touch instead.
    const permanent = Boolean(el.dataset.labels) && el.clientWidth >= 600;
    let key = chosenKey(inputs, fallback);
    let breaks = [];

    const layer = L.geoJSON({ type: "FeatureCollection", features }, {
      style: () => ({ color: OUTLINE, weight: 1, fillOpacity: 0.8 }),
      onEachFeature: (feature, shape) => {
        const { url } = feature.properties || {};
        if (url) shape.on("click", () => window.location.assign(url));
        shape.on("mouseover", () => shape.setStyle({ weight: 3 }));
        shape.on("mouseout", () => shape.setStyle({ weight: 1 }));
      },
    }).addTo(map);
    const bounds = layer.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16], maxZoom: 18 });
    else map.setView([39.9, 116.4], 10);

    function recolour() {
      key = chosenKey(inputs, fallback);
      const label = labels[key] || key;
      const values = features.map((f) => f.properties?.[key]);
      breaks = quantileBreaks(values);
      const numbers = values.filter((v) => typeof v === "number");
      const min = numbers.length ? Math.min(...numbers) : 0;
      layer.eachLayer((shape) => {
        const props = shape.feature.properties || {};
        const value = props[key];
        shape.setStyle({ fillColor: colourOf(classOf(value, breaks), breaks.length) });
        const content = tipContent(props.name || props.code || "", label, value, permanent);
        if (shape.getTooltip()) shape.setTooltipContent(content);
        else shape.bindTooltip(content, permanent ? { permanent: true, direction: "center", className: "map-label" } : { sticky: true });
      });
      renderLegend(legend, label, breaks, min, numbers.length < features.length, el.dataset.noData || "");
      markColumn(table, key);
      if (status) {
        const missing = (data.features || []).length - features.length;
        status.textContent = missing > 0 ? `${missing} ${el.dataset.noBoundary || ""}` : "";
      }
    }

    recolour();
    for (const input of inputs) {
      input.addEventListener("change", () => {
        recolour();
        // Keep the choice in the address, so a reload or a shared link shows the same figure.
        const url = new URL(window.location.href);
        url.searchParams.set("indicator", key);
        window.history.replaceState(null, "", url);
      });
    }
  }
}
