// Juben console: live rows. One EventSource per page (GET /ui/events?job=…&job=…) carries the
// status, percent and step of every job on it that has not ended; each "row" event updates its
// row in place (text only: nothing from the server is parsed as HTML).
(() => {
  "use strict";
  const ENDED = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
  const rows = Array.from(document.querySelectorAll("tr[data-job]"));
  const live = rows.filter((row) => !ENDED.has(row.dataset.status));
  if (!live.length || !("EventSource" in window)) return;
  const query = new URLSearchParams(live.map((row) => ["job", row.dataset.job]));
  const source = new EventSource("/ui/events?" + query.toString());
  const byId = new Map(rows.map((row) => [row.dataset.job, row]));

  source.addEventListener("row", (message) => {
    const data = JSON.parse(message.data);
    const row = byId.get(data.job_id);
    if (!row) return;
    const percent = Math.round(data.percent);
    row.dataset.status = data.status;
    const badge = row.querySelector(".status");
    badge.textContent = data.status;
    badge.className = "status status-" + data.status.toLowerCase();
    const bar = row.querySelector("progress");
    bar.value = data.percent;
    bar.setAttribute("aria-label", percent + "%");
    row.querySelector(".percent").textContent = percent + "%";
    row.querySelector(".step").textContent = data.step;
  });
  source.addEventListener("end", () => source.close());
})();
