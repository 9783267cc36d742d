// Outpost console: door buttons, live door state, snapshots and events (no external assets).
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]')?.content;

async function api(path, options = {}) {
  const headers = Object.assign({ "X-CSRF-Token": csrf }, options.headers || {});
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options, { headers }));
  if (response.status === 401) { window.location = "/login"; }
  return response;
}

document.querySelectorAll("button[data-action]").forEach((button) => {
  button.addEventListener("click", async () => {
    const card = button.closest(".door");
    const note = card.querySelector('[data-role="note"]');
    button.disabled = true;
    try {
      const r = await api(`/api/v1/doors/${button.dataset.door}/${button.dataset.action}`, { method: "POST" });
      note.textContent = r.ok ? `${button.dataset.action} sent` : `failed (${r.status})`;
    } catch (err) {
      note.textContent = "console offline";
    } finally {
      button.disabled = false;
      refresh();
    }
  });
});

function renderDoor(door) {
  const card = document.querySelector(`.door[data-door="${door.door_id}"]`);
  if (!card) return;
  const el = card.querySelector('[data-role="status"]');
  el.textContent = door.status;
  el.className = `state state-${door.status_key}`;
  card.querySelector('[data-role="mode"]').textContent = door.mode;
  const alarms = card.querySelector('[data-role="alarms"]');
  alarms.replaceChildren(...door.alarms.map((a) => {
    const li = document.createElement("li");
    li.textContent = a.text;
    return li;
  }));
}

// Lockdown toggles: the whole site, then each zone. Every change is confirmed and audited server-side.
function renderLockdown(zones, lockdowns) {
  const box = document.getElementById("lockdown");
  const banner = document.getElementById("lockdown-banner");
  if (!box) return;
  const active = new Map(lockdowns.map((l) => [l.zone === null ? "" : l.zone, l]));
  const scopes = [{ id: "", name: "Whole site" }, ...zones];
  box.replaceChildren(...scopes.map((scope) => {
    const on = active.has(scope.id);
    const card = document.createElement("article");
    card.className = `card zone${on ? " locked-down" : ""}`;
    card.dataset.zone = scope.id;
    const title = document.createElement("h3");
    title.textContent = scope.name;
    const state = document.createElement("p");
    state.className = `state ${on ? "state-lockdown" : "state-locked"}`;
    state.textContent = on ? "lockdown" : "normal";
    const button = document.createElement("button");
    button.className = on ? "secondary" : "danger";
    button.dataset.lockdown = on ? "lift" : "start";
    button.textContent = on ? "Lift lockdown" : "Lock down";
    button.addEventListener("click", () => toggleLockdown(scope, !on, button));
    card.append(title, state, button);
    return card;
  }));
  if (banner) {
    banner.hidden = lockdowns.length === 0;
    banner.textContent = lockdowns.map((l) => `LOCKDOWN ${l.zone || "site"} (${l.set_by}${l.reason ? ": " + l.reason : ""})`).join(" · ");
  }
}

async function toggleLockdown(scope, start, button) {
  const what = scope.id ? `zone ${scope.name}` : "the whole site";
  if (!window.confirm(start ? `Lock down ${what}?` : `Lift the lockdown of ${what}?`)) return;
  button.disabled = true;
  try {
    await api("/api/v1/access/lockdown", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ zone: scope.id || null, active: start, reason: "" }),
    });
  } finally {
    button.disabled = false;
    refresh();
  }
}

function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

async function refresh() {
  try {
    const status = await (await api("/api/v1/status")).json();
    for (const door of status.doors) renderDoor(door);
    renderLockdown(status.zones || [], status.lockdowns || []);
    for (const [cam, st] of Object.entries(status.cameras)) {
      const el = document.querySelector(`[data-camera-status="${cam}"]`);
      if (el) el.textContent = st.state || "";
    }
    const events = await (await api("/api/v1/events?limit=30")).json();
    const body = document.getElementById("events");
    body.replaceChildren(...events.map((e) => {
      const tr = document.createElement("tr");
      tr.append(cell(new Date(e.occurred_at).toLocaleTimeString()), cell(e.kind), cell(e.summary));
      return tr;
    }));
  } catch (err) { /* console offline: try again on the next tick */ }
}

function reloadSnapshots() {
  document.querySelectorAll("img[data-camera]:not([data-streaming])").forEach((img) => {
    img.src = `/api/v1/cameras/${img.dataset.camera}/snapshot.jpg?t=${Date.now()}`;
  });
}

// Live view: the same <img> shows the MJPEG stream of annotated frames while toggled on.
document.querySelectorAll("button[data-live]").forEach((button) => {
  button.addEventListener("click", () => {
    const img = document.querySelector(`img[data-camera="${button.dataset.live}"]`);
    const on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Stop live" : "Live";
    if (on) {
      img.dataset.streaming = "1";
      img.src = `/api/v1/cameras/${button.dataset.live}/live.mjpeg?t=${Date.now()}`;
    } else {
      delete img.dataset.streaming;
      reloadSnapshots();
    }
  });
});

async function refreshAnalytics() {
  for (const el of document.querySelectorAll("[data-camera-analytics]")) {
    try {
      const a = await (await api(`/api/v1/cameras/${el.dataset.cameraAnalytics}/analytics`)).json();
      const tracks = a.tracks || {};
      el.textContent = `· ${tracks.person || 0} people, ${tracks.vehicle || 0} vehicles in view`;
    } catch (err) { /* camera not started yet */ }
  }
}
setInterval(refreshAnalytics, 3000);

refresh();
setInterval(refresh, 2000);
setInterval(reloadSnapshots, 3000);
