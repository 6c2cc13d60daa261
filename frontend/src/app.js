// jiedao front end: htmx for partial page updates, ECharts for charts, Leaflet for maps.
// Charts and maps are declared in HTML (data-chart, data-map) so templates carry no script.
import htmx from "htmx.org";
import L from "leaflet";
import { BarChart, LineChart, PieChart } from "echarts/charts";
import { AriaComponent, GridComponent, LegendComponent, TitleComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";
import { newMap } from "./basemap.js";
import { renderChoropleth } from "./choropleth.js";
import { initOutbox } from "./outbox.js";
import { renderPatrol } from "./patrol.js";

echarts.use([BarChart, LineChart, PieChart, AriaComponent, GridComponent, LegendComponent, TitleComponent,
  TooltipComponent, SVGRenderer]);
window.htmx = htmx;

const COLOURS = { self: "#0b3d91", child: "#b3261e", point: "#0b3d91" };

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    console.warn("jiedao: bad JSON in data attribute", error);
    return null;
  }
}

// ECharts gives axis and bar labels a fixed 12px: follow the page instead (bigger in elder mode).
function scaleText(option, fontSize) {
  const axes = [option.xAxis, option.yAxis].flat().filter(Boolean);
  for (const axis of axes) axis.axisLabel = { fontSize, ...axis.axisLabel };
  for (const series of [option.series].flat().filter(Boolean)) {
    if (series.label) series.label = { fontSize, ...series.label };
  }
  return { textStyle: { fontSize }, ...option };
}

// <div data-chart='{ECharts option}'>
function renderChart(el) {
  const option = parseJson(el.dataset.chart);
  if (!option) return;
  const fontSize = Math.max(12, Math.round(parseFloat(getComputedStyle(el).fontSize) * 0.8));
  const chart = echarts.init(el, null, { renderer: "svg" });
  chart.setOption({ aria: { enabled: true }, ...scaleText(option, fontSize) });
  new ResizeObserver(() => chart.resize()).observe(el);
}

function featureStyle(feature) {
  const own = feature.properties?.role === "self";
  const colour = own ? COLOURS.self : COLOURS.child;
  return { color: colour, weight: own ? 3 : 2, fillColor: colour, fillOpacity: own ? 0.06 : 0.15 };
}

// Children's areas carry a permanent label: with no tiles, names are the only landmarks.
function bindFeature(feature, layer) {
  const { name, url, role } = feature.properties || {};
  const area = feature.geometry?.type !== "Point";
  if (name) {
    // A text node, never HTML: names come from editable data (categories, places).
    const label = document.createElement("span");
    label.textContent = name;
    layer.bindTooltip(label, area && role === "child" ? { permanent: true, direction: "center", className: "map-label" } : {});
  }
  if (url) layer.on("click", () => window.location.assign(url));
}

// <div data-map data-geojson='{FeatureCollection}'>: the base map comes from basemap.js.
function renderMap(el) {
  const data = parseJson(el.dataset.geojson);
  if (!data) return;
  const map = newMap(el, { scrollWheelZoom: false });
  const layer = L.geoJSON(data, {
    style: featureStyle,
    pointToLayer: (feature, latlng) =>
      L.circleMarker(latlng, { radius: 6, color: COLOURS.point, fillOpacity: 0.8 }),
    onEachFeature: bindFeature,
  }).addTo(map);
  const bounds = layer.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16], maxZoom: 18 });
}

// <div data-map-pick data-geojson='{areas}'> inside a form with hidden lng/lat inputs: a tap
// (or "use my location", [data-locate]) sets them and drops a marker.
function renderPicker(el) {
  const form = el.closest("form");
  const lng = form?.querySelector("input[name=lng]");
  const lat = form?.querySelector("input[name=lat]");
  if (!lng || !lat) return;
  const map = newMap(el);
  const areas = L.geoJSON(parseJson(el.dataset.geojson || "null") || [], { style: featureStyle }).addTo(map);
  const bounds = areas.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
  else map.setView([39.9, 116.4], 12);
  let marker = null;
  const place = (latlng) => {
    lng.value = latlng.lng.toFixed(7);
    lat.value = latlng.lat.toFixed(7);
    if (marker) marker.setLatLng(latlng);
    else marker = L.circleMarker(latlng, { radius: 9, color: COLOURS.child, fillOpacity: 0.9 }).addTo(map);
  };
  if (lng.value && lat.value) place(L.latLng(Number(lat.value), Number(lng.value)));
  map.on("click", (event) => place(event.latlng));
  const button = form.querySelector("[data-locate]");
  const status = form.querySelector("[data-locate-status]");
  button?.addEventListener("click", () => {
    if (!navigator.geolocation) {
      if (status) status.textContent = button.dataset.unavailable || "";
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (position) => {
        const here = L.latLng(position.coords.latitude, position.coords.longitude);
        place(here);
        map.setView(here, 17);
        if (status) status.textContent = "✓";
      },
      (error) => {
        if (status) status.textContent = error.message;
      },
      { enableHighAccuracy: true, timeout: 10000 },
    );
  });
}

function renderWidgets(root) {
  const scope = root.querySelectorAll ? root : document;
  for (const el of scope.querySelectorAll("[data-chart]:not([data-ready])")) {
    el.dataset.ready = "1";
    renderChart(el);
  }
  for (const el of scope.querySelectorAll("[data-map]:not([data-ready])")) {
    el.dataset.ready = "1";
    renderMap(el);
  }
  for (const el of scope.querySelectorAll("[data-map-pick]:not([data-ready])")) {
    el.dataset.ready = "1";
    renderPicker(el);
  }
  for (const el of scope.querySelectorAll("[data-choropleth]:not([data-ready])")) {
    el.dataset.ready = "1";
    renderChoropleth(el);
  }
  for (const el of scope.querySelectorAll("[data-patrol]:not([data-ready])")) {
    el.dataset.ready = "1";
    renderPatrol(el);
  }
  initOutbox(scope);
}

// onLoad runs for the initial page and for every fragment htmx swaps in.
htmx.onLoad(renderWidgets);
