// Person page (edge.web.people_badges_view): while a reader waits for a card, wait for the enrolment to settle
// (long-poll) and reload the page to show the result.
(function () {
  "use strict";
  const waiting = document.getElementById("tap-now");
  if (!waiting) return;
  const url = "/people/" + waiting.dataset.person + "/enrolment?wait=1";
  async function poll() {
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      const body = await response.json();
      if (body.state !== "waiting") { window.location.reload(); return; }
    } catch (err) {
      await new Promise((resolve) => setTimeout(resolve, 2000)); // box unreachable: ask again shortly
    }
    poll();
  }
  poll();
})();
