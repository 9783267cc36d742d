// Outpost console: door buttons, live door state, snapshots and events (no external assets).
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
// Times are shown in the site's time zone (edge.web.site_time), whatever the browser's; 24-hour like the server's.
const SITE_TZ = document.body.dataset.siteTz || "UTC";

function siteTime(iso, options = {}) {
  if (!iso) return "";
  try {
    return new Date(iso).toLocaleTimeString("en-GB", Object.assign({ timeZone: SITE_TZ }, options));
  } catch (err) {  // a zone this browser does not know: the browser's own
    return new Date(iso).toLocaleTimeString("en-GB");
  }
}

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
      if (r.ok) {
        note.textContent = `${button.dataset.action} sent`;
      } else {
        const body = await r.json().catch(() => ({}));
        note.textContent = body.error === "door_offline" ? `not sent: ${body.detail}` : `failed (${r.status})`;
      }
    } catch (err) {
      note.textContent = "console offline";
    } finally {
      button.disabled = false;
      refresh();  // re-renders the door, disabling its buttons again while its lock is offline
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
  // A lock that cannot be reached is not offered Unlock/Lock (the API would refuse with 409 door_offline).
  card.querySelectorAll("button[data-action]").forEach((b) => {
    b.disabled = !door.commandable;
    b.title = door.commandable ? "" : "lock offline";
  });
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
    button.className = on ? "secondary needs-guard" : "danger needs-guard";
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

// Open alarms (latching): listed until the condition ended and a guard acknowledged them. Cards are updated in
// place, keyed by alarm id, so a comment being typed survives the refresh.
const ALARM_STATES = {
  active_unacknowledged: "Active · not acknowledged",
  active_acknowledged: "Active · acknowledged",
  cleared_unacknowledged: "Cleared · not acknowledged",
  cleared: "Cleared · acknowledged",
};

function timeOf(iso) { return siteTime(iso); }

function alarmCard(alarm) {
  const card = document.createElement("article");
  card.className = "card alarm";
  card.dataset.alarmId = String(alarm.id);
  const title = document.createElement("h3");
  const state = document.createElement("p");
  state.className = "alarm-state";
  state.dataset.role = "alarm-state";
  const meta = document.createElement("p");
  meta.className = "alarm-meta";
  meta.dataset.role = "alarm-meta";
  const ack = document.createElement("p");
  ack.className = "alarm-meta";
  ack.dataset.role = "alarm-ack";
  const form = document.createElement("form");
  form.dataset.role = "ack-form";
  form.className = "needs-guard";
  const comment = document.createElement("input");
  Object.assign(comment, { name: "comment", type: "text", maxLength: 500, placeholder: "Comment (optional)" });
  comment.setAttribute("aria-label", "Comment");
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "danger";
  button.dataset.ack = String(alarm.id);
  button.textContent = "Acknowledge";
  form.append(comment, button);
  form.addEventListener("submit", (event) => { event.preventDefault(); acknowledge(alarm.id, comment, button, ack); });
  card.append(title, state, meta, ack, form);
  return card;
}

function updateAlarmCard(card, alarm) {
  const unacked = alarm.state.endsWith("unacknowledged");
  card.classList.toggle("unacked", unacked);
  card.dataset.state = alarm.state;
  card.querySelector("h3").textContent = `${alarm.door_name}: ${alarm.text}`;
  card.querySelector('[data-role="alarm-state"]').textContent = ALARM_STATES[alarm.state] || alarm.state;
  const times = [`raised ${timeOf(alarm.last_raised_at)}`];
  if (alarm.occurrences > 1) times.push(`${alarm.occurrences} times since ${timeOf(alarm.raised_at)}`);
  if (alarm.cleared_at) times.push(`cleared ${timeOf(alarm.cleared_at)}`);
  if (alarm.detail) times.push(alarm.detail);
  card.querySelector('[data-role="alarm-meta"]').textContent = times.join(" · ");
  const ack = card.querySelector('[data-role="alarm-ack"]');
  ack.hidden = !alarm.acknowledged_at;
  if (alarm.acknowledged_at) {
    const note = alarm.acknowledged_comment ? `: “${alarm.acknowledged_comment}”` : "";
    ack.textContent = `acknowledged by ${alarm.acknowledged_by} ${timeOf(alarm.acknowledged_at)}${note}`;
  }
  card.querySelector('[data-role="ack-form"]').hidden = !unacked;
}

function renderAlarms(alarms) {
  const section = document.getElementById("alarm-section");
  const list = document.getElementById("alarm-list");
  if (!section || !list) return;
  const cards = new Map([...list.children].map((card) => [card.dataset.alarmId, card]));
  const wanted = alarms.map((alarm) => {
    const card = cards.get(String(alarm.id)) || alarmCard(alarm);
    updateAlarmCard(card, alarm);
    return card;
  });
  for (const [id, card] of cards) if (!alarms.some((a) => String(a.id) === id)) card.remove();
  if (wanted.some((card, i) => list.children[i] !== card)) list.append(...wanted);  // reorder only when needed
  section.hidden = alarms.length === 0;
  const open = alarms.filter((a) => a.state.endsWith("unacknowledged")).length;
  document.getElementById("alarm-count").textContent = open ? String(open) : "";
}

async function acknowledge(id, comment, button, ack) {
  button.disabled = true;
  try {
    const r = await api(`/api/v1/alarms/${id}/ack`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ comment: comment.value }),
    });
    if (r.ok) comment.value = "";
    else { ack.hidden = false; ack.textContent = `acknowledge failed (${r.status})`; }
  } catch (err) {
    ack.hidden = false;
    ack.textContent = "console offline";
  } finally {
    button.disabled = false;
    refresh();
  }
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

function renderSync(sync) {
  const section = document.getElementById("sync-section");
  const banner = document.getElementById("sync-banner");
  if (!section || !banner) return;
  section.hidden = !sync;
  banner.hidden = !(sync && sync.stuck);
  const clock = document.getElementById("clock-banner");
  if (clock) {
    clock.hidden = !(sync && sync.clock_warning);
    if (sync && sync.clock_warning) {
      clock.textContent = `This box's clock is ${Math.round(sync.clock_skew_s)} s off the cloud's: fix its time (NTP); past 300 s the cloud refuses its batches.`;
    }
  }
  if (!sync) return;
  if (sync.stuck) {
    banner.textContent = `Sync stuck: ${sync.backlog} record(s) waiting for the cloud, the oldest ${ago(sync.oldest_pending_at)}. Last error: ${sync.last_error}`;
  }
  document.getElementById("sync-state").textContent = `· ${sync.state}`;
  const fact = (name, text) => { document.querySelector(`[data-sync="${name}"]`).textContent = text; };
  fact("backlog", `${sync.backlog} record(s)`);
  fact("oldest", sync.oldest_pending_at ? ago(sync.oldest_pending_at) : "—");
  fact("last_success", ago(sync.last_success));
  fact("last_error", sync.last_error ? `${sync.last_error} (${ago(sync.last_error_at)}, attempt ${sync.failures})` : "—");
  renderConfigPull(sync.config, sync.plan);
  renderEnrollment(sync);
  const box = document.getElementById("sync-quarantine");
  box.hidden = sync.quarantined_count === 0;
  document.getElementById("sync-quarantine-count").textContent = `(${sync.quarantined_count})`;
  document.getElementById("sync-quarantine-rows").replaceChildren(...sync.quarantined.map((q) => {
    const tr = document.createElement("tr");
    tr.dataset.seq = q.seq;
    tr.append(cell(String(q.seq)), cell(q.kind), cell(q.summary), cell(`${q.error}: ${q.detail}`));
    return tr;
  }));
}

// A box enrolled from a file claims its site with the first batch the cloud accepts.
function renderEnrollment(sync) {
  const line = document.getElementById("sync-enrollment");
  if (!line) return;
  line.hidden = !sync.enrollment_claim_pending;
  if (!sync.enrollment_claim_pending) return;
  const refused = sync.last_error && /enrollment_(used|expired)/.test(sync.last_error);
  line.className = refused ? "error" : "muted";
  line.textContent = refused
    ? "The cloud refuses this box's enrollment file (already used by another box, or expired). Ask your tenant admin for a new file and run: outpost-provision enroll --file PATH --force"
    : "Enrolled from a file: the site is claimed with the first batch the cloud accepts (it waits for the cloud).";
}

// The configuration HQ manages: the version in force here and how the last pull went.
function renderConfigPull(config, plan) {
  const line = document.getElementById("sync-config");
  if (!line) return;
  if (!config) { line.textContent = ""; return; }
  let text = `Configuration from HQ: ${config.version ? `version ${config.version}` : "none yet"}`;
  if (config.refused_version) text += `; version ${config.refused_version} refused: ${config.last_refusal}`;
  text += config.last_error ? `; pulling fails: ${config.last_error}` : `; last pull ${ago(config.last_success)}`;
  line.textContent = text;
  renderPlan(plan);
}

// The plan's per-site allowances (from HQ's document) against what this box has configured.
function renderPlan(plan) {
  const line = document.getElementById("sync-plan");
  if (!line) return;
  if (!plan) { line.textContent = ""; return; }
  const items = plan.items.map((i) => `${i.item} ${i.configured}/${i.included}${i.over ? " (over)" : ""}`);
  const over = plan.items.filter((i) => i.over).map((i) => i.item);
  let text = `Plan ${plan.plan}: ${items.join(", ")}`;
  if (over.length) {
    text += plan.overage_policy === "bill" ? ` - extra ${over.join(", ")} are billed as overage` : ` - over the plan's ${over.join(", ")} allowance`;
  }
  line.textContent = text;
}

for (const [id, path] of [["sync-retry", "/api/v1/sync/retry"], ["sync-release", "/api/v1/sync/quarantine/release"]]) {
  const button = document.getElementById(id);
  if (!button) continue;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try { await api(path, { method: "POST" }); } catch (err) { /* console offline */ }
    finally { button.disabled = false; refresh(); }
  });
}

function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

// A cell holding one link (the event's or the person's own page).
function linkCell(text, href) {
  const td = document.createElement("td");
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  td.append(a);
  return td;
}

async function refresh() {
  try {
    renderAlarms(await (await api("/api/v1/alarms")).json());
    const status = await (await api("/api/v1/status")).json();
    for (const door of status.doors) renderDoor(door);
    renderLockdown(status.zones || [], status.lockdowns || []);
    await refreshMuster((status.lockdowns || []).length > 0);
    renderSync(status.sync);
    for (const [cam, st] of Object.entries(status.cameras)) {
      const el = document.querySelector(`[data-camera-status="${cam}"]`);
      if (el) el.textContent = st.state || "";
    }
    const events = await (await api("/api/v1/events?limit=30")).json();
    document.getElementById("events").replaceChildren(...events.map(eventRow));
  } catch (err) { /* console offline: try again on the next tick */ }
}

function eventRow(e) {
  const tr = document.createElement("tr");
  tr.dataset.eventId = e.id;
  tr.append(cell(siteTime(e.occurred_at)), cell(e.kind), linkCell(e.summary || e.kind, `/events/${e.id}`), frameCell(e));
  return tr;
}

// The door camera's frame at the moment of a badge event or door alarm: a thumbnail linking the event's page (its
// full frame, or a note when retention removed it).
function frameCell(e) {
  const td = document.createElement("td");
  if (!e.door_frame) return td;
  const link = document.createElement("a");
  link.href = `/events/${e.id}`;
  link.tabIndex = -1;  // the summary beside it links the same page
  const img = document.createElement("img");
  img.src = e.door_frame.thumbnail;
  img.alt = `Camera frame: ${e.summary}`;
  img.className = "door-thumb";
  img.loading = "lazy";
  link.append(img);
  td.append(link);
  return td;
}

// During a lockdown: per zone, who badged in and not out, and how many people its cameras count.
async function refreshMuster(lockdown) {
  const section = document.getElementById("muster-section");
  if (!section) return;
  section.hidden = !lockdown;
  if (!lockdown) return;
  const muster = await (await api("/api/v1/access/muster")).json();
  const box = document.getElementById("muster");
  box.replaceChildren(...muster.zones.map((z) => {
    const card = document.createElement("div");
    card.className = "card muster-zone";
    card.dataset.zone = z.zone;
    const h = document.createElement("h3");
    h.textContent = z.name;
    const counts = document.createElement("p");
    counts.className = "muster-counts";
    const cams = z.camera_count === null ? "no camera" : `${z.camera_count} seen by camera`;
    counts.textContent = `${z.badged_in.length} badged in · ${cams}`;
    const list = document.createElement("ul");
    list.className = "muster-people";
    for (const p of z.badged_in) {
      const li = document.createElement("li");
      li.textContent = `${p.person} (since ${siteTime(p.since)}, ${p.door})`;
      list.append(li);
    }
    card.append(h, counts, list);
    return card;
  }));
}

const PEOPLE_SHOWN = 200;

// Who HQ manages (changed by its documents) and who has edits made here that HQ's document does not show yet.
async function refreshPeople() {
  try {
    const people = await (await api("/api/v1/people")).json();
    const body = document.getElementById("people");
    body.replaceChildren(...people.slice(0, PEOPLE_SHOWN).map((p) => {
      const tr = document.createElement("tr");
      tr.dataset.personId = p.id;
      const name = p.active ? p.name : `${p.name} (suspended)`;
      tr.append(
        linkCell(name, `/people/${p.id}`),
        cell(p.credentials.join(", ")),
        cell(p.managed_by_hq ? "HQ" : "this site"),
        cell(p.local_changes ? "yes, not yet at HQ" : ""),
      );
      return tr;
    }));
    const shown = people.length > PEOPLE_SHOWN ? `first ${PEOPLE_SHOWN} of ${people.length}` : `${people.length}`;
    document.getElementById("people-count").textContent = `(${shown})`;
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
refreshAnalytics();

refresh();
setInterval(refresh, 30000);  // sync facts and muster; doors, alarms, counts and events come live (below)
refreshPeople();
setInterval(refreshPeople, 10000);
setInterval(reloadSnapshots, 3000);

// Live updates (edge.web.live_updates): one EventSource; doors, lockdowns, alarms, camera counts and new events are
// pushed as they happen. When the box goes away the banner says so until the stream is back; the browser reconnects
// by itself, and a new stream starts with the whole state.
const EVENTS_SHOWN = 30;
const LIVE_SILENCE_MS = 15000;  // the box pings every 5 s: this much silence means the connection is gone
const live = { source: null, heard: 0, connected: false };

function setConnected(connected) {
  live.connected = connected;
  const banner = document.getElementById("connection-banner");
  if (banner) banner.hidden = connected;
  document.body.dataset.live = connected ? "connected" : "lost";
}

function applyLive(update) {
  if (update.doors) for (const door of update.doors) renderDoor(door);
  if (update.lockdowns) renderLockdown(update.zones || [], update.lockdowns);
  if (update.alarms) renderAlarms(update.alarms);
  if ("sync" in update) renderSync(update.sync);
  if (update.counts) {
    for (const [cam, c] of Object.entries(update.counts)) {
      const el = document.querySelector(`[data-camera-analytics="${cam}"]`);
      if (el) el.textContent = `· ${c.tracks.person || 0} people, ${c.tracks.vehicle || 0} vehicles in view`;
    }
  }
  const body = document.getElementById("events");
  if (update.events && body) {
    if (body.querySelector("td.muted")) body.replaceChildren();
    for (const e of update.events) {
      if (!body.querySelector(`tr[data-event-id="${e.id}"]`)) body.prepend(eventRow(e));
    }
    while (body.children.length > EVENTS_SHOWN) body.lastElementChild.remove();
  }
  if (update.resync) refresh();
}

function connectLive() {
  if (live.source) live.source.close();
  const source = new EventSource("/api/v1/live");
  live.source = source;
  const heard = (handler) => (message) => {
    live.heard = Date.now();
    if (!live.connected) setConnected(true);
    handler(JSON.parse(message.data));
  };
  source.addEventListener("hello", heard(applyLive));
  source.addEventListener("update", heard(applyLive));
  source.addEventListener("ping", heard(() => {}));
  source.onerror = () => {
    setConnected(false);
    // The browser retries by itself unless the box answered with an error (then the source is closed).
    if (source.readyState === EventSource.CLOSED && live.source === source) setTimeout(connectLive, RETRY_LIVE_MS);
  };
}
const RETRY_LIVE_MS = 3000;

if (document.getElementById("connection-banner")) {
  live.heard = Date.now();
  connectLive();
  setInterval(() => {
    if (Date.now() - live.heard > LIVE_SILENCE_MS) {  // silent for too long: a connection that died unnoticed
      setConnected(false);
      live.heard = Date.now();
      connectLive();
    }
  }, 5000);
}
