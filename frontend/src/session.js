// The signed-in session as a page sees it: the CSRF token for POSTs, and who is signed in
// (field-work forms and GPS points kept on the phone are only ever sent for their own user).

export function csrfToken() {
  const raw = document.body?.getAttribute("hx-headers");
  if (raw) {
    try {
      const token = JSON.parse(raw)["X-CSRFToken"];
      if (token) return token;
    } catch {
      // fall through to a form's token
    }
  }
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

// The signed-in user as the server drew the page (<body data-user="…">): a number, null when
// signed out, undefined on a page without the attribute. Forms and GPS fixes kept on the phone
// are shown and sent only for this user (a shared phone keeps other users' too).
export function pageUser() {
  const raw = document.body?.dataset.user;
  if (raw === undefined) return undefined;
  const id = Number(raw);
  return raw !== "" && Number.isInteger(id) ? id : null;
}

const users = new Map();

// The id of the signed-in user: a number, null when signed out, undefined when the server
// cannot be reached. Asked once per page (``url`` is fieldwork:whoami).
export async function currentUser(url) {
  if (!url) return undefined;
  if (users.has(url)) return users.get(url);
  try {
    const response = await fetchWithTimeout(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    }, 15000);
    if (response.status === 401) {
      users.set(url, null);
      return null;
    }
    if (!response.ok) return undefined;
    const data = await response.json();
    users.set(url, data.user ?? null);
    return data.user ?? null;
  } catch {
    return undefined;
  }
}

// fetch that gives up after ``ms`` (a request hanging on a weak signal counts as no network).
export async function fetchWithTimeout(url, options, ms) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return await fetch(url, { ...options, signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

// "Recorded: %(n)s" with {n: 3} → "Recorded: 3".
export function format(text, values = {}) {
  return String(text || "").replace(/%\((\w+)\)s/g, (_, name) => String(values[name] ?? ""));
}

export function readJson(key, fallback) {
  try {
    const raw = window.localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

export function writeJson(key, value) {
  try {
    if (value === null || value === undefined) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false; // storage full or blocked
  }
}
