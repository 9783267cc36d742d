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

function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

async function refresh() {
  try {
    const status = await (await api("/api/v1/status")).json();
    for (const door of status.doors) {
      const el = document.querySelector(`.door[data-door="${door.door_id}"] [data-role="status"]`);
      if (el) { el.textContent = door.status; el.className = `state state-${door.status}`; }
    }
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
  document.querySelectorAll("img[data-camera]").forEach((img) => {
    img.src = `/api/v1/cameras/${img.dataset.camera}/snapshot.jpg?t=${Date.now()}`;
  });
}

setInterval(refresh, 2000);
setInterval(reloadSnapshots, 3000);
