// Events timeline (edge.web.events_view): on the first page, records that commit while it is open appear at the
// top. The live stream (edge.web.live_updates) says that records arrived; the page itself is fetched again with the
// same filters, so the server decides what matches and renders it exactly as on load.
"use strict";
(() => {
  const params = new URLSearchParams(window.location.search);
  if (params.has("before") || params.has("after")) return;  // an older page stays as it was
  const kind = params.get("kind");
  const state = { busy: false, again: false, hellos: 0 };

  function shownIds(list) {
    return new Set([...list.children].map((li) => li.dataset.eventId));
  }

  async function pull() {
    if (state.busy) { state.again = true; return; }
    state.busy = true;
    try {
      const response = await fetch(window.location.pathname + window.location.search, { credentials: "same-origin" });
      if (!response.ok || response.redirected) return;  // logged out or the box is stopping: the next update retries
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("timeline");
      if (!fresh) return;
      const list = document.getElementById("timeline");
      if (!list) {  // the page said "no events": it gets the list
        document.getElementById("no-events")?.replaceWith(fresh);
        fresh.querySelectorAll("li").forEach((li) => li.classList.add("live-new"));
        return;
      }
      const shown = shownIds(list);
      const newest = Math.max(0, ...[...shown].map(Number));
      const added = [...fresh.children].filter((li) => !shown.has(li.dataset.eventId) && Number(li.dataset.eventId) > newest);
      added.forEach((li) => li.classList.add("live-new"));
      list.prepend(...added);
    } catch (err) {
      /* the box is away: the stream reconnects and its next hello pulls again */
    } finally {
      state.busy = false;
      if (state.again) { state.again = false; pull(); }
    }
  }

  const source = new EventSource("/api/v1/live");
  const banner = document.getElementById("connection-banner");
  source.addEventListener("hello", () => {
    document.body.dataset.live = "connected";
    banner.hidden = true;
    state.hellos += 1;
    if (state.hellos > 1) pull();  // back after a lost connection: records may have arrived meanwhile
  });
  source.addEventListener("update", (message) => {
    const update = JSON.parse(message.data);
    const events = update.events || [];
    if (events.length && (!kind || events.some((e) => e.kind === kind))) pull();
  });
  source.onerror = () => {  // the browser reconnects by itself (the stream's retry)
    document.body.dataset.live = "lost";
    banner.hidden = false;
  };
  window.addEventListener("pagehide", () => source.close());
})();
