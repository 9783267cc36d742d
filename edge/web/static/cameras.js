// Outpost console, camera page: live view with the camera's zones and lines drawn over it (SVG, normalised 0..1
// coordinates as the config keeps them), occupancy and line counts, recent tracks. An admin draws and edits zones
// and lines with the mouse (or a finger) and saves them into the box's config (PUT /api/v1/cameras/{id}/regions).
"use strict";
const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
const SITE_TZ = document.body.dataset.siteTz || "UTC";
const SVG_NS = "http://www.w3.org/2000/svg";
const NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9 _.\\-]{0,63}";
const MIN_SIZE = 0.02;  // a drag shorter than this share of the image is a slip, not a drawing

const view = document.getElementById("camera-view");
const cameraId = view.dataset.cameraId;
const isAdmin = document.body.dataset.consoleRole === "admin";
const stage = document.getElementById("camera-stage");
const img = document.getElementById("camera-image");
const svg = document.getElementById("region-overlay");
const labels = document.getElementById("region-labels");

const clone = (value) => JSON.parse(JSON.stringify(value));
let saved = JSON.parse(document.getElementById("regions-data").textContent);
let regions = clone(saved);
let tool = null;  // "zone" or "line" while drawing
let drag = null;  // what the pointer is moving: a new zone or line, or one point of an existing one
let counts = { zones: {}, lines: {} };
let live = false;

async function api(path, options = {}) {
  const headers = Object.assign({ "X-CSRF-Token": csrf }, options.headers || {});
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options, { headers }));
  if (response.status === 401) window.location = "/login";
  return response;
}

function siteTime(iso) {
  if (!iso) return "";
  try {
    return new Date(iso).toLocaleTimeString("en-GB", { timeZone: SITE_TZ });
  } catch (err) {
    return new Date(iso).toLocaleTimeString("en-GB");
  }
}

const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;

function pointOf(event) {
  const rect = svg.getBoundingClientRect();
  return [round((event.clientX - rect.left) / rect.width), round((event.clientY - rect.top) / rect.height)];
}

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function place(el, [x, y]) {
  el.style.left = `${x * 100}%`;
  el.style.top = `${y * 100}%`;
  return el;
}

function label(text, point, className) {
  const span = document.createElement("span");
  span.className = `region-label ${className}`;
  span.textContent = text;
  return place(span, point);
}

function handle(point, grab) {
  const el = document.createElement("span");
  el.className = "region-handle";
  el.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    event.stopPropagation();
    el.setPointerCapture(event.pointerId);
    drag = grab;
  });
  el.addEventListener("pointermove", (event) => {
    if (drag !== grab) return;
    const p = pointOf(event);
    movePoint(p);
    place(el, p);  // this handle stays the same element while dragged (the pointer is captured by it)
  });
  el.addEventListener("pointerup", () => { if (drag === grab) { drag = null; changed(); } });
  return place(el, point);
}

function movePoint(p) {
  if (drag.kind === "vertex") regions.zones[drag.index].polygon[drag.vertex] = p;
  else regions.lines[drag.index][drag.end] = p;
  drawOverlay(false);
}

// Which side of a line counts as "in": right of the direction a -> b as seen on screen (edge.vision.config).
function inMarker(line) {
  const rect = svg.getBoundingClientRect();
  const w = rect.width || 1;
  const h = rect.height || 1;
  const [ax, ay] = line.a;
  const [bx, by] = line.b;
  const mid = [(ax + bx) / 2, (ay + by) / 2];
  const dx = (bx - ax) * w;
  const dy = (by - ay) * h;
  const len = Math.hypot(dx, dy) || 1;
  const reach = 18;  // pixels
  return [mid, [mid[0] + (-dy / len) * reach / w, mid[1] + (dx / len) * reach / h]];
}

function drawOverlay(withLabels = true) {
  const shapes = [];
  const tags = [];
  regions.zones.forEach((zone, i) => {
    shapes.push(svgEl("polygon", { class: "zone-shape", "data-zone": zone.name, points: zone.polygon.map((p) => p.join(",")).join(" ") }));
    const top = zone.polygon.reduce((best, p) => (p[1] < best[1] ? p : best), zone.polygon[0]);
    tags.push(label(zone.name, top, "zone-label"));
    if (isAdmin) zone.polygon.forEach((p, j) => tags.push(handle(p, { kind: "vertex", index: i, vertex: j })));
  });
  regions.lines.forEach((line, i) => {
    shapes.push(svgEl("line", { class: "line-shape", "data-line": line.name, x1: line.a[0], y1: line.a[1], x2: line.b[0], y2: line.b[1] }));
    const [mid, tip] = inMarker(line);
    shapes.push(svgEl("line", { class: "line-in", x1: mid[0], y1: mid[1], x2: tip[0], y2: tip[1] }));
    tags.push(label(`${line.name} (in)`, tip, "line-label"));
    if (isAdmin) for (const end of ["a", "b"]) tags.push(handle(line[end], { kind: "end", index: i, end }));
  });
  if (drag && drag.kind === "new-zone") {
    const [x1, y1] = drag.start;
    const [x2, y2] = drag.now;
    shapes.push(svgEl("rect", { class: "zone-shape drawing", x: Math.min(x1, x2), y: Math.min(y1, y2), width: Math.abs(x2 - x1), height: Math.abs(y2 - y1) }));
  } else if (drag && drag.kind === "new-line") {
    shapes.push(svgEl("line", { class: "line-shape drawing", x1: drag.start[0], y1: drag.start[1], x2: drag.now[0], y2: drag.now[1] }));
  }
  svg.replaceChildren(...shapes);
  if (withLabels) labels.replaceChildren(...tags);
}

function freeName(prefix, taken) {
  for (let n = 1; ; n++) if (!taken.includes(`${prefix}-${n}`)) return `${prefix}-${n}`;
}

function setTool(next) {
  tool = next;
  stage.classList.toggle("drawing", tool !== null);
  document.querySelectorAll("button[data-tool]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === tool)));
}

if (isAdmin) {
  document.querySelectorAll("button[data-tool]").forEach((button) => {
    button.addEventListener("click", () => setTool(tool === button.dataset.tool ? null : button.dataset.tool));
  });
  svg.addEventListener("pointerdown", (event) => {
    if (!tool) return;
    event.preventDefault();
    svg.setPointerCapture(event.pointerId);
    const p = pointOf(event);
    drag = { kind: `new-${tool}`, start: p, now: p };
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag || !drag.kind.startsWith("new-")) return;
    drag.now = pointOf(event);
    drawOverlay();
  });
  svg.addEventListener("pointerup", (event) => {
    if (!drag || !drag.kind.startsWith("new-")) return;
    const [x1, y1] = drag.start;
    const [x2, y2] = pointOf(event);
    const kind = drag.kind;
    drag = null;
    if (kind === "new-zone" && Math.abs(x2 - x1) >= MIN_SIZE && Math.abs(y2 - y1) >= MIN_SIZE) {
      const [l, r, t, b] = [Math.min(x1, x2), Math.max(x1, x2), Math.min(y1, y2), Math.max(y1, y2)];
      const name = freeName("zone", regions.zones.map((z) => z.name));
      regions.zones.push({ name, polygon: [[l, t], [r, t], [r, b], [l, b]] });
      setTool(null);
    } else if (kind === "new-line" && Math.hypot(x2 - x1, y2 - y1) >= MIN_SIZE) {
      regions.lines.push({ name: freeName("line", regions.lines.map((ln) => ln.name)), a: [x1, y1], b: [x2, y2] });
      setTool(null);
    }
    changed();
  });
}

function cell(content) {
  const td = document.createElement("td");
  if (typeof content === "string") td.textContent = content;
  else if (content) td.append(content);
  return td;
}

function nameInput(list, i, what) {
  if (!isAdmin) return list[i].name;
  const input = document.createElement("input");
  Object.assign(input, { type: "text", value: list[i].name, pattern: NAME_PATTERN, maxLength: 64, required: true });
  input.className = "region-name";
  input.setAttribute("aria-label", `Name of ${what} ${list[i].name}`);
  input.addEventListener("change", () => { list[i].name = input.value.trim(); changed(); });
  return input;
}

function removeButton(list, i, what) {
  if (!isAdmin) return null;
  const button = document.createElement("button");
  button.className = "secondary small";
  button.textContent = "Remove";
  button.setAttribute("aria-label", `Remove ${what} ${list[i].name}`);
  button.addEventListener("click", () => { list.splice(i, 1); changed(); });
  return button;
}

function renderTables() {
  const sum = (c) => (c ? (c.person || 0) + (c.vehicle || 0) : null);
  const shown = (v) => (v === null || v === undefined ? "—" : String(v));
  document.getElementById("zone-rows").replaceChildren(...regions.zones.map((zone, i) => {
    const c = counts.zones[zone.name];
    const tr = document.createElement("tr");
    tr.dataset.zone = zone.name;
    tr.append(cell(nameInput(regions.zones, i, "zone")), cell(shown(c && c.person)), cell(shown(c && c.vehicle)), cell(removeButton(regions.zones, i, "zone")));
    return tr;
  }));
  document.getElementById("line-rows").replaceChildren(...regions.lines.map((line, i) => {
    const c = counts.lines[line.name];
    const tr = document.createElement("tr");
    tr.dataset.line = line.name;
    tr.append(cell(nameInput(regions.lines, i, "line")), cell(shown(c ? sum(c.in) : null)), cell(shown(c ? sum(c.out) : null)), cell(removeButton(regions.lines, i, "line")));
    return tr;
  }));
  if (!regions.zones.length) document.getElementById("zone-rows").append(emptyRow(isAdmin ? "No zones: draw one on the image." : "No zones."));
  if (!regions.lines.length) document.getElementById("line-rows").append(emptyRow(isAdmin ? "No lines: draw one on the image." : "No lines."));
}

function emptyRow(text) {
  const tr = document.createElement("tr");
  const td = cell(text);
  td.colSpan = 4;
  td.className = "muted";
  tr.append(td);
  return tr;
}

function changed() {
  drawOverlay();
  renderTables();
  const dirty = document.getElementById("regions-dirty");
  if (dirty) dirty.hidden = JSON.stringify(regions) === JSON.stringify(saved);
}

function describeError(body, status) {
  if (Array.isArray(body.detail)) return body.detail.map((d) => `${d.loc.join(".")}: ${d.msg}`).join("; ");
  return body.detail || body.error || `failed (${status})`;
}

async function save() {
  const result = document.getElementById("regions-result");
  const button = document.getElementById("save-regions");
  button.disabled = true;
  result.className = "";
  result.textContent = "Saving…";
  try {
    const r = await api(`/api/v1/cameras/${cameraId}/regions`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ zones: regions.zones, lines: regions.lines }),
    });
    const body = await r.json().catch(() => ({}));
    if (r.ok) {
      saved = body;
      regions = clone(saved);
      result.textContent = "Saved to the box's config; the camera counts with them from its next frame.";
      changed();
      refreshCounts();
    } else {
      result.className = "error";
      result.textContent = `Not saved: ${describeError(body, r.status)}`;
    }
  } catch (err) {
    result.className = "error";
    result.textContent = "Not saved: the box cannot be reached.";
  } finally {
    button.disabled = false;
  }
}

if (isAdmin) {
  document.getElementById("save-regions")?.addEventListener("click", save);
  document.getElementById("discard-regions")?.addEventListener("click", () => {
    regions = clone(saved);
    setTool(null);
    changed();
  });
}

function showCounts(a) {
  counts = { zones: a.zones || {}, lines: a.lines || {} };
  const tracks = a.tracks || {};
  document.getElementById("camera-state").textContent = a.state || "";
  document.getElementById("tracks-now").textContent = `${tracks.person || 0} people, ${tracks.vehicle || 0} vehicles in view now`;
  // Not while a name is being typed: the row would be rebuilt under the cursor.
  if (!document.activeElement?.classList.contains("region-name")) renderTables();
}

async function refreshCounts() {
  try {
    const r = await api(`/api/v1/cameras/${cameraId}/analytics`);
    if (!r.ok) return;  // the camera does not run (disabled, or no detector)
    showCounts(await r.json());
  } catch (err) { /* console offline: next tick */ }
}

// Counts come from the live stream (edge.web.live_updates) as they change; polling only while it is down.
const liveCounts = { connected: false };
const countsSource = new EventSource("/api/v1/live");
const takeCounts = (message) => {
  liveCounts.connected = true;
  document.body.dataset.live = "connected";
  document.getElementById("connection-banner").hidden = true;
  const c = (JSON.parse(message.data).counts || {})[cameraId];
  if (c) showCounts(c);
};
countsSource.addEventListener("hello", takeCounts);
countsSource.addEventListener("update", takeCounts);
countsSource.onerror = () => {
  liveCounts.connected = false;
  document.body.dataset.live = "lost";
  document.getElementById("connection-banner").hidden = false;
};
window.addEventListener("pagehide", () => countsSource.close());

async function refreshTracks() {
  try {
    const tracks = await (await api(`/api/v1/cameras/${cameraId}/tracks`)).json();
    const body = document.getElementById("track-rows");
    body.replaceChildren(...tracks.map((t) => {
      const tr = document.createElement("tr");
      tr.append(cell(siteTime(t.last_seen_at)), cell(`${t.label} #${t.track_id}`), cell(`${Math.round(t.dwell_s || 0)} s`), cell((t.zones_visited || []).join(", ")));
      return tr;
    }));
    if (!tracks.length) body.append(emptyRow("No finished tracks yet."));
  } catch (err) { /* console offline: next tick */ }
}

img.addEventListener("load", () => {
  if (img.naturalWidth && img.naturalHeight) img.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
  if (!drag) drawOverlay();  // the "in" markers are sized in pixels
});

const liveButton = document.getElementById("live-toggle");
liveButton.addEventListener("click", () => {
  live = !live;
  liveButton.setAttribute("aria-pressed", String(live));
  liveButton.textContent = live ? "Stop live" : "Live";
  img.src = live ? `/api/v1/cameras/${cameraId}/live.mjpeg?t=${Date.now()}` : `/api/v1/cameras/${cameraId}/snapshot.jpg?t=${Date.now()}`;
});

window.addEventListener("resize", () => drawOverlay());
changed();
refreshCounts();
refreshTracks();
setInterval(() => { if (!liveCounts.connected) refreshCounts(); }, 2000);
setInterval(refreshTracks, 5000);
setInterval(() => { if (!live) img.src = `/api/v1/cameras/${cameraId}/snapshot.jpg?t=${Date.now()}`; }, 3000);
