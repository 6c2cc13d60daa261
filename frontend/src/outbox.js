// Forms that survive a flaky network (<form data-outbox='{"owner", "whoami", "texts"}'>).
//
// Such a form is sent with fetch. Before sending, its fields are written to IndexedDB on the
// phone (IndexedDB, not localStorage: it keeps File objects, so a finding's photos survive
// too), keyed by the page's idempotency key (the hidden "key" or "submission" field). The copy
// is removed only once the server has answered:
//   * a redirect (the form was taken): the page shown is the answer;
//   * the form again with errors, or a 4xx: the copy stays, marked "not accepted", with a link
//     to open the form again (its fields are filled back in) or to discard it;
//   * no network (fetch fails or times out), 502/503/504, a 5xx, a sign-in page: the copy stays
//     and is sent again on "online", every RETRY_MS, and on the next page load.
// The server's idempotency (SentForm keys, the case's submission key) makes a resend of a form
// it already took return the first result, so nothing is recorded twice. A banner on every page
// says how many forms are waiting.
//
// A phone may be shared. Each copy keeps its owner (the user who filled it in); a page knows its
// signed-in user from the server (<body data-user>, session.js pageUser). A page lists, refills,
// discards and sends only that user's copies, and sends them only while the server still says
// that user is signed in (fieldwork:whoami). Other users' copies are only counted ("forms of
// another user are kept"); one the server did not accept is dropped after FOREIGN_RETENTION_MS
// (its owner had that long to open it), one still waiting is kept until its owner signs in.
import { flushPatrol, resumePatrol, stopPatrol } from "./patrol.js";
import { csrfToken, currentUser, fetchWithTimeout, format, pageUser, readJson, writeJson } from "./session.js";

const DB_NAME = "jiedao-outbox";
const STORE = "forms";
const TEXTS = "jiedao.outbox.texts";
const RETRY_MS = 30000;
const SEND_TIMEOUT_MS = 60000;
const FOREIGN_RETENTION_MS = 14 * 24 * 3600 * 1000; // another user's refused form: 14 days
const GATEWAY = new Set([502, 503, 504]);
const FALLBACK_TEXTS = {
  waiting_one: "%(n)s form is kept on this phone, waiting to be sent.",
  waiting_other: "%(n)s forms are kept on this phone, waiting to be sent.",
  offline: "No network: the form is kept on this phone and will be sent when the network is back.",
  sending: "Sending…",
  sent: "A form kept on this phone has been sent.",
  refused: "The server did not accept a form kept on this phone: open it to correct it.",
  open: "Open",
  discard: "Discard",
  discard_confirm: "Discard this form for good? What you entered will be lost.",
  send_now: "Send now",
  sign_in: "Sign in again to send the forms kept on this phone.",
  other_user: "Forms of another user are kept on this phone: they are sent when that user signs in.",
};

const supported = typeof window !== "undefined" && "indexedDB" in window && "fetch" in window;
const inFlight = new Set(); // ids this page is sending right now
let started = false;
let flushing = null;
let lastNote = "";
let lastSentUrl = ""; // where the server's answer to a form sent in the background is

function texts() {
  return { ...FALLBACK_TEXTS, ...readJson(TEXTS, {}) };
}

// --- IndexedDB ----------------------------------------------------------------------------

let dbPromise = null;

function database() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = window.indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id" });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    dbPromise.catch(() => {
      dbPromise = null;
    });
  }
  return dbPromise;
}

async function store(mode, action) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, mode);
    const request = action(transaction.objectStore(STORE));
    transaction.oncomplete = () => resolve(request?.result);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

const keep = (record) => store("readwrite", (s) => s.put(record));
const forget = (id) => store("readwrite", (s) => s.delete(id));
// Delete a kept form only if it is ``owner``'s (read and deleted in one transaction).
const forgetOwn = (id, owner) =>
  store("readwrite", (s) => {
    const request = s.get(id);
    request.onsuccess = () => {
      if (owner != null && request.result?.owner === owner) s.delete(id);
    };
    return request;
  });
const everything = () => store("readonly", (s) => s.getAll()).then((rows) => rows || []);

// --- Sending ------------------------------------------------------------------------------

function keyOf(data) {
  return String(data.get("key") || data.get("submission") || "");
}

// The login page Django redirects to for a signed-out user (…?next=/the/form/).
function isSignIn(response, record) {
  if (!response.redirected) return false;
  const next = new URL(response.url).searchParams.get("next");
  return Boolean(next) && new URL(record.url, window.location.href).pathname === next;
}

// One attempt: {kind: "done" | "refused" | "offline" | "signin", html?, url?}.
async function deliver(record) {
  const body = new FormData();
  for (const [name, value] of record.entries) {
    if (name === "csrfmiddlewaretoken") continue;
    if (value instanceof Blob) body.append(name, value, value.name || "");
    else body.append(name, value);
  }
  body.append("csrfmiddlewaretoken", csrfToken());
  if (navigator.onLine === false) return { kind: "offline" };
  let response;
  try {
    response = await fetchWithTimeout(record.url, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    }, SEND_TIMEOUT_MS);
  } catch {
    return { kind: "offline" };
  }
  if (GATEWAY.has(response.status) || response.status >= 500) return { kind: "offline" };
  if (isSignIn(response, record) || response.status === 401) return { kind: "signin" };
  const html = await response.text().catch(() => "");
  if (response.ok && response.redirected) return { kind: "done", html, url: response.url };
  return { kind: "refused", html, status: response.status };
}

async function submit(form, config, submitter) {
  if (form.dataset.outboxSending) return;
  const data = new FormData(form);
  if (submitter?.name) data.append(submitter.name, submitter.value);
  const key = keyOf(data);
  if (!data.get("queued_at")) data.set("queued_at", new Date().toISOString());
  const record = {
    id: `${new URL(form.action, window.location.href).pathname} ${key}`,
    url: form.action,
    page: window.location.href,
    title: document.title,
    owner: config.owner ?? null,
    whoami: config.whoami || "",
    entries: [...data.entries()],
    queuedAt: new Date().toISOString(),
    state: "waiting",
    endsPatrol: form.hasAttribute("data-patrol-end"),
  };
  form.dataset.outboxSending = "1";
  setBusy(form, true);
  inFlight.add(record.id);
  try {
    await keep(record); // on the phone before it goes out: a closed tab loses nothing
    if (form.dataset.outboxRefill) {
      await forget(form.dataset.outboxRefill).catch(() => {});
      delete form.dataset.outboxRefill;
    }
    if (record.endsPatrol) {
      stopPatrol();
      await flushPatrol(); // the last points first; kept on the phone if they cannot go
    }
    const outcome = await deliver(record);
    if (outcome.kind === "done" || outcome.kind === "refused") {
      await forget(record.id); // the answer is on the screen
      if (outcome.kind === "done" && record.endsPatrol) stopPatrol();
      showPage(outcome.html, outcome.kind === "done" ? outcome.url : null);
      return;
    }
    showNote(form, outcome.kind === "signin" ? texts().sign_in : texts().offline);
  } catch (error) {
    console.warn("jiedao outbox: sending normally", error);
    inFlight.delete(record.id);
    delete form.dataset.outboxSending;
    form.submit(); // IndexedDB refused (private mode, full disk): a plain submission
    return;
  } finally {
    inFlight.delete(record.id);
    delete form.dataset.outboxSending;
    setBusy(form, false);
    void renderBanner();
  }
}

function setBusy(form, busy) {
  for (const button of form.querySelectorAll("button, input[type=submit]")) button.disabled = busy;
  form.setAttribute("aria-busy", busy ? "true" : "false");
}

function showNote(form, text) {
  let note = form.querySelector(".outbox-note");
  if (!note) {
    note = document.createElement("p");
    note.className = "outbox-note";
    note.setAttribute("role", "status");
    form.prepend(note);
  }
  note.textContent = text;
}

// The server's answer replaces the page's main content, as a normal submission would show it.
function showPage(html, url) {
  if (url && url !== window.location.href) {
    window.history.replaceState({ jiedaoOutbox: true }, "");
    window.history.pushState({ jiedaoOutbox: true }, "", url);
  }
  if (window.htmx?.swap && html.includes('id="main"')) {
    window.htmx.swap("#main", html, { swapStyle: "outerHTML", swapDelay: 0, settleDelay: 0 }, { select: "#main" });
  } else if (url) {
    window.location.assign(url);
    return;
  } else {
    document.open();
    document.write(html);
    document.close();
  }
  window.scrollTo(0, 0);
  document.getElementById("main")?.focus({ preventScroll: true });
}

// --- Sending what is kept -----------------------------------------------------------------

export function flushOutbox() {
  if (!flushing) {
    flushing = sendKept().finally(() => {
      flushing = null;
      void renderBanner();
    });
  }
  return flushing;
}

async function sendKept() {
  const owner = pageUser();
  if (owner == null) return; // a signed-out page sends nothing
  const waiting = (await everything()).filter(
    (r) => r.state === "waiting" && r.owner === owner && !inFlight.has(r.id),
  ); // another user's forms wait for them
  if (!waiting.length) return;
  const user = await currentUser(waiting[0].whoami);
  if (user === undefined) return; // no server to ask: later
  if (user === null) {
    lastNote = texts().sign_in;
    return;
  }
  if (user !== owner) return; // signed in as someone else since this page was drawn
  for (const record of waiting) {
    inFlight.add(record.id);
    try {
      const outcome = await deliver(record);
      if (outcome.kind === "offline") return;
      if (outcome.kind === "signin") {
        lastNote = texts().sign_in;
        return;
      }
      if (outcome.kind === "done") {
        await forget(record.id);
        if (record.endsPatrol) stopPatrol();
        lastNote = texts().sent;
        lastSentUrl = outcome.url || "";
      } else {
        await keep({ ...record, state: "refused", status: outcome.status, refusedAt: new Date().toISOString() });
      }
    } finally {
      inFlight.delete(record.id);
    }
  }
}

// --- The banner ---------------------------------------------------------------------------

// Another user's forms the server did not accept, refused more than FOREIGN_RETENTION_MS ago,
// are deleted (only while someone is signed in: a signed-out page may be their owner's next).
async function dropExpired(records, owner) {
  if (owner == null) return records;
  const now = Date.now();
  const expired = records.filter(
    (r) => r.owner !== owner && r.state === "refused" && now - Date.parse(r.refusedAt || r.queuedAt) > FOREIGN_RETENTION_MS,
  );
  for (const record of expired) await forget(record.id).catch(() => {});
  return records.filter((r) => !expired.includes(r));
}

async function renderBanner() {
  const main = document.getElementById("main");
  if (!main || !supported) return;
  const owner = pageUser();
  let records = [];
  try {
    records = await dropExpired(await everything(), owner);
  } catch {
    return;
  }
  const t = texts();
  const mine = owner == null ? [] : records.filter((r) => r.owner === owner);
  const others = records.length - mine.length;
  const waiting = mine.filter((r) => r.state === "waiting" && !inFlight.has(r.id));
  const refused = mine.filter((r) => r.state === "refused");
  let banner = document.querySelector(".outbox-banner");
  if (!waiting.length && !refused.length && !others && !lastNote) {
    banner?.remove();
    return;
  }
  if (!banner || !main.contains(banner)) {
    banner?.remove();
    banner = document.createElement("div");
    banner.className = "outbox-banner";
    banner.setAttribute("role", "status");
    banner.setAttribute("aria-live", "polite");
    main.prepend(banner);
  }
  banner.replaceChildren();
  const line = (text) => {
    const p = document.createElement("p");
    p.textContent = text;
    banner.append(p);
    return p;
  };
  if (waiting.length) {
    const p = line(format(waiting.length === 1 ? t.waiting_one : t.waiting_other, { n: waiting.length }));
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button--quiet outbox-banner__send";
    button.textContent = t.send_now;
    button.addEventListener("click", () => void flushOutbox());
    p.append(" ", button);
  }
  if (lastNote && !waiting.length) {
    const p = line(lastNote);
    if (lastNote === t.sent && lastSentUrl) {
      const link = document.createElement("a");
      link.href = lastSentUrl;
      link.textContent = t.open;
      p.append(" ", link);
    }
  }
  if (others) line(owner == null ? t.sign_in : t.other_user);
  if (refused.length) {
    line(t.refused);
    const list = document.createElement("ul");
    for (const record of refused) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `${record.page.split("#")[0]}#outbox=${encodeURIComponent(record.id)}`;
      link.textContent = `${t.open}: ${record.title} (${new Date(record.queuedAt).toLocaleString()})`;
      const discard = document.createElement("button");
      discard.type = "button";
      discard.className = "button--link";
      discard.textContent = t.discard;
      discard.addEventListener("click", async () => {
        if (!window.confirm(t.discard_confirm)) return;
        await forgetOwn(record.id, owner);
        void renderBanner();
      });
      item.append(link, " · ", discard);
      list.append(item);
    }
    banner.append(list);
  }
}

// --- Filling a form back in ---------------------------------------------------------------

// Opened from the banner (#outbox=<id>): the fields of a form the server did not accept go back
// into the same form on its page, photos included; sending it replaces the kept copy. Only a
// copy of the page's own user (the form's owner, as the server drew it) is filled in.
async function refill(form, owner) {
  const match = /#outbox=(.+)$/.exec(window.location.hash);
  if (!match || owner == null) return;
  const id = decodeURIComponent(match[1]);
  const record = (await everything()).find((r) => r.id === id && r.state === "refused" && r.owner === owner);
  if (!record || new URL(record.url, window.location.href).pathname !== new URL(form.action, window.location.href).pathname) return;
  const files = new Map();
  for (const [name, value] of record.entries) {
    if (["csrfmiddlewaretoken", "key", "submission", "queued_at"].includes(name)) continue;
    const field = form.elements.namedItem(name);
    if (!field) continue;
    if (value instanceof Blob) {
      if (value.size) files.set(name, [...(files.get(name) || []), value]);
    } else if (field instanceof RadioNodeList || field.type === "checkbox" || field.type === "radio") {
      for (const option of field instanceof RadioNodeList ? field : [field]) {
        if (option.value === value) option.checked = true;
      }
    } else if (field.type !== "file") {
      field.value = value;
    }
  }
  for (const [name, blobs] of files) {
    const input = form.elements.namedItem(name);
    if (!input || typeof DataTransfer === "undefined") continue;
    const transfer = new DataTransfer();
    for (const blob of blobs) transfer.items.add(blob instanceof File ? blob : new File([blob], "photo"));
    input.files = transfer.files;
  }
  form.dataset.outboxRefill = record.id;
}

// --- Entry point --------------------------------------------------------------------------

function bind(form) {
  if (form.dataset.outboxBound) return;
  form.dataset.outboxBound = "1";
  let config = {};
  try {
    config = JSON.parse(form.dataset.outbox || "{}") || {};
  } catch {
    config = {};
  }
  if (config.texts) writeJson(TEXTS, config.texts);
  if (!supported) return; // a plain submission
  const data = new FormData(form);
  if (!keyOf(data)) return; // no idempotency key: a resend could record twice, so send plainly
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submit(form, config, event.submitter);
  });
  void refill(form, config.owner ?? null).catch(() => {});
}

// Called by app.js for the page and every fragment htmx swaps in.
export function initOutbox(root) {
  const scope = root?.querySelectorAll ? root : document;
  const forms = scope.matches?.("form[data-outbox]") ? [scope] : [];
  for (const form of [...forms, ...scope.querySelectorAll("form[data-outbox]")]) bind(form);
  void resumePatrol();
  if (!supported) return;
  if (!started) {
    started = true;
    window.addEventListener("online", () => void flushOutbox());
    window.setInterval(() => void flushOutbox(), RETRY_MS);
    window.addEventListener("popstate", (event) => {
      if (event.state?.jiedaoOutbox) window.location.reload();
    });
    window.setTimeout(() => void flushOutbox(), 1000);
  }
  void renderBanner();
}
