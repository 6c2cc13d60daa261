// The patrol recorder (<div data-patrol>): GPS fixes buffered on the phone and uploaded.
//
// On the page of the worker's open patrol, navigator.geolocation.watchPosition records a fix at
// most every MIN_INTERVAL_MS. Fixes are appended to localStorage at once (they survive a reload
// or a closed tab) and uploaded in batches every UPLOAD_EVERY_MS, when the network comes back,
// and when the worker ends the patrol. A batch leaves the phone only after the server answered
// for it (stored, a duplicate, or refused for good); on no network, a gateway error, or a
// signed-out session it stays and is sent later. The server ignores a fix it already has, so a
// batch sent twice is harmless.
//
// While a patrol is being recorded, other pages of the site keep recording too (a finding is
// reported mid-patrol) and show a small bar saying so; recording stops on "end patrol", or
// when a field-work page says the worker has no open patrol.
//
// Each patrol's fixes are kept with their owner (a phone may be shared): a page uploads, and
// counts, only the fixes of its own signed-in user (<body data-user>, session.js pageUser).
// Another user's wait on the phone until that user signs in. A 403 or 404 for a batch (a patrol
// this session may not write to) keeps it for its owner; it is never dropped.
import { csrfToken, currentUser, fetchWithTimeout, format, pageUser, readJson, writeJson } from "./session.js";

const STATE = "jiedao.patrol.v1"; // {id, url, owner, whoami, texts, recording, recorded}
const FIXES = "jiedao.patrol.fixes.v2"; // {uploadUrl: {owner, fixes: [{t, lat, lng, accuracy}]}}
const MIN_INTERVAL_MS = 5000;
const UPLOAD_EVERY_MS = 20000;
const BATCH = 200;
const MAX_KEPT = 20000; // per patrol: ~28 h at one fix every 5 s
const UPLOAD_TIMEOUT_MS = 15000;

let watchId = null;
let timer = null;
let uploading = null;
let ui = null; // {gps, counts} on a page with the recorder, else null (a bar is shown instead)
let gpsText = "";
let noteText = "";
let lastFixAt = 0;
const skipped = new Set(); // upload URLs the server refused for this user (another user's)

const state = () => readJson(STATE, null);
const pending = () => readJson(FIXES, {});
// Fixes kept for ``owner`` (a user id), all their patrols together.
const waitingCount = (owner) =>
  owner == null
    ? 0
    : Object.values(pending()).reduce((n, queue) => n + (queue?.owner === owner ? queue.fixes?.length || 0 : 0), 0);

function texts() {
  return state()?.texts || {};
}

function say(key, values) {
  return format(texts()[key], values);
}

// --- Display ------------------------------------------------------------------------------

function render() {
  const current = state();
  const waiting = waitingCount(pageUser());
  const counts = [
    current?.recording || ui ? say("recorded", { n: current?.recorded || 0 }) : "",
    say("waiting", { n: waiting }),
  ].filter(Boolean).join(" · ");
  if (ui) {
    if (ui.gps) {
      ui.gps.textContent = gpsText;
      ui.gps.classList.toggle("fw-recorder__gps--warn", gpsText === say("gps_denied") || gpsText === say("gps_none"));
    }
    if (ui.counts) ui.counts.textContent = [counts, noteText].filter(Boolean).join(" · ");
    return;
  }
  renderBar(current, waiting, counts);
}

// Pages without the recorder: a bar at the top of the main content while recording or sending.
function renderBar(current, waiting, counts) {
  const main = document.getElementById("main");
  let bar = document.querySelector(".patrol-bar");
  if (!main || (!current?.recording && !waiting)) {
    bar?.remove();
    return;
  }
  if (!bar || !main.contains(bar)) {
    bar?.remove();
    bar = document.createElement("p");
    bar.className = "patrol-bar";
    bar.setAttribute("role", "status");
    main.prepend(bar);
  }
  const head = current?.recording ? say("recording") : "";
  bar.textContent = [head, current?.recording ? gpsText : "", counts, noteText].filter(Boolean).join(" · ");
}

// --- Recording ----------------------------------------------------------------------------

function startRecording() {
  if (watchId !== null) return;
  if (!("geolocation" in navigator)) {
    gpsText = say("gps_none");
    render();
    return;
  }
  gpsText = say("gps_waiting");
  watchId = navigator.geolocation.watchPosition(onFix, onError, {
    enableHighAccuracy: true,
    maximumAge: MIN_INTERVAL_MS,
    timeout: 60000,
  });
  render();
}

function stopWatching() {
  if (watchId !== null && "geolocation" in navigator) navigator.geolocation.clearWatch(watchId);
  watchId = null;
}

function onFix(position) {
  const current = state();
  if (!current?.recording) {
    stopWatching();
    return;
  }
  const at = position.timestamp || Date.now();
  const { latitude, longitude, accuracy } = position.coords;
  gpsText = say("gps_ok", { m: Math.round(accuracy || 0) });
  if (at - lastFixAt < MIN_INTERVAL_MS) {
    render();
    return;
  }
  lastFixAt = at;
  const queues = pending();
  const queue = queues[current.url] || { owner: current.owner, fixes: [] };
  const list = queue.fixes;
  const fix = { t: new Date(at).toISOString(), lat: latitude, lng: longitude, accuracy: accuracy ?? null };
  if (list.length && list[list.length - 1].t === fix.t) return;
  list.push(fix);
  if (list.length > MAX_KEPT) list.splice(0, list.length - MAX_KEPT);
  queues[current.url] = queue;
  if (writeJson(FIXES, queues)) {
    current.recorded = (current.recorded || 0) + 1;
    writeJson(STATE, current);
  }
  render();
}

function onError(error) {
  if (error.code === error.PERMISSION_DENIED) {
    gpsText = say("gps_denied");
    stopWatching(); // it will not come back until the worker allows it and reloads
  } else if (error.code === error.POSITION_UNAVAILABLE) {
    gpsText = say("gps_unavailable");
  } else {
    gpsText = say("gps_waiting");
  }
  render();
}

// --- Uploading ----------------------------------------------------------------------------

function startUploader() {
  if (timer !== null) return;
  timer = window.setInterval(() => void flushPatrol(), UPLOAD_EVERY_MS);
  window.addEventListener("online", () => void flushPatrol());
  window.setTimeout(() => void flushPatrol(), 1500);
}

// Send the fixes the page's user keeps on the phone (all their patrols), batch by batch;
// resolves when done or when the network or the session stops it.
export function flushPatrol() {
  if (!uploading) {
    uploading = uploadAll().finally(() => {
      uploading = null;
      forgetWhenDone();
      render();
    });
  }
  return uploading;
}

async function uploadAll() {
  const owner = pageUser();
  if (owner == null) return; // a signed-out page sends nothing
  const current = state();
  if (current?.whoami) {
    const user = await currentUser(current.whoami);
    if (user === null) {
      noteText = say("sign_in");
      return;
    }
    if (user !== undefined && user !== owner) return; // another user is signed in now
  }
  for (const [url, queue] of Object.entries(pending())) {
    if (queue?.owner !== owner || skipped.has(url)) continue; // another user's: kept for them
    for (;;) {
      const batch = (pending()[url]?.fixes || []).slice(0, BATCH);
      if (!batch.length) break;
      const outcome = await send(url, batch);
      if (outcome === "keep") return;
      if (outcome === "skip") {
        skipped.add(url);
        break;
      }
      const sent = new Set(batch.map((fix) => fix.t));
      const queues = pending();
      const left = (queues[url]?.fixes || []).filter((fix) => !sent.has(fix.t));
      if (left.length) queues[url] = { ...queues[url], fixes: left };
      else delete queues[url];
      writeJson(FIXES, queues);
    }
  }
}

async function send(url, batch) {
  let response;
  try {
    response = await fetchWithTimeout(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ points: batch, crs: "wgs84" }),
    }, UPLOAD_TIMEOUT_MS);
  } catch {
    noteText = say("offline");
    return "keep";
  }
  const isJson = (response.headers.get("Content-Type") || "").includes("application/json");
  const data = isJson ? await response.json().catch(() => null) : null;
  if (response.ok && data) {
    noteText = data.rejected?.length ? say("refused", { reason: data.rejected[0].message }) : "";
    showFigures(url, data);
    return "done"; // stored, duplicates and refused fixes alike: the server has answered
  }
  if (response.status === 401) {
    noteText = say("sign_in");
    return "keep";
  }
  // Not this user's patrol, or one this session cannot see: keep it for its owner.
  if ((response.status === 403 || response.status === 404) && data) return "skip";
  if (data && [400, 409, 413].includes(response.status)) {
    noteText = say("refused", { reason: data.message || "" });
    return "drop"; // will never be accepted: sending again cannot help
  }
  noteText = say("offline"); // 5xx, a gateway's page, an expired CSRF token: later
  return "keep";
}

// The patrol's figures on the page (data-patrol-km, -points, -flagged) as the server has them.
function showFigures(url, data) {
  if (state()?.url !== url) return;
  const values = {
    "[data-patrol-km]": (data.distance_m / 1000).toFixed(2),
    "[data-patrol-points]": String(data.point_count),
    "[data-patrol-flagged]": String(data.flagged_count),
  };
  for (const [selector, value] of Object.entries(values)) {
    for (const el of document.querySelectorAll(selector)) el.textContent = value;
  }
}

function forgetWhenDone() {
  const current = state();
  if (current && !current.recording && !waitingCount(current.owner)) writeJson(STATE, null);
}

// --- Entry points -------------------------------------------------------------------------

// The worker ended the patrol (the end form is being sent): record no more fixes, keep sending
// the ones kept.
export function stopPatrol() {
  stopWatching();
  const current = state();
  if (current) {
    current.recording = false;
    writeJson(STATE, current);
  }
  gpsText = say("ended");
  render();
}

// <div data-patrol data-patrol-id data-upload-url data-owner data-whoami data-texts>: the
// worker's open patrol. <div data-patrol data-state="none">: the worker has none.
export function renderPatrol(el) {
  if (el.dataset.state === "none") {
    stopPatrol();
    ui = null;
    gpsText = "";
    if (waitingCount(pageUser())) startUploader();
    render();
    return;
  }
  let fromPage = {};
  try {
    fromPage = JSON.parse(el.dataset.texts || "{}");
  } catch {
    fromPage = {};
  }
  const previous = state();
  const url = el.dataset.uploadUrl;
  writeJson(STATE, {
    id: el.dataset.patrolId,
    url,
    owner: Number(el.dataset.owner),
    whoami: el.dataset.whoami,
    texts: fromPage,
    recording: true,
    recorded: previous?.url === url ? previous.recorded || 0 : 0,
  });
  ui = { gps: el.querySelector("[data-patrol-gps]"), counts: el.querySelector("[data-patrol-counts]") };
  startRecording();
  startUploader();
  render();
}

// Every page: go on recording a patrol started on the field-work page (for its own user only),
// and go on sending what is kept.
export async function resumePatrol() {
  if (ui && document.body.contains(ui.counts || ui.gps)) return;
  ui = null;
  const current = state();
  if (current?.recording && current.owner === pageUser()) {
    const user = await currentUser(current.whoami);
    if (user === undefined || user === current.owner) startRecording(); // offline: same phone
  }
  if (current?.recording || waitingCount(pageUser())) startUploader();
  render();
}
