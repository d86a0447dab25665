// Juben console: live rows and counts. One EventSource per page (GET /ui/events?job=…&job=…,
// and counts=1 where the page shows the counts per status) carries the status, percent and step
// (and ETA) of every job on it that has not ended ("row" events, each updating its row in place) and the
// tenant's jobs per status ("counts"). Text only: nothing from the server is parsed as HTML.
(() => {
  "use strict";
  const ENDED = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
  const rows = Array.from(document.querySelectorAll("tr[data-job]"));
  const live = rows.filter((row) => !ENDED.has(row.dataset.status));
  const counts = document.querySelector("ul.counts");
  if ((!live.length && !counts) || !("EventSource" in window)) return;
  const query = new URLSearchParams(live.map((row) => ["job", row.dataset.job]));
  if (counts) query.append("counts", "1");
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
    const eta = row.querySelector(".eta");
    if (eta) {
      const going = !ENDED.has(data.status) && data.eta_s !== null && data.eta_s !== undefined;
      eta.textContent = going ? "ETA " + Math.round(data.eta_s) + " s" : "";
    }
  });
  source.addEventListener("counts", (message) => {
    const found = Object.entries(JSON.parse(message.data));
    const shown = Array.from(counts.querySelectorAll("li[data-status]"));
    if (found.length && shown.map((li) => li.dataset.status).join() === found.map(([s]) => s).join()) {
      // The same statuses: change the numbers only (a focused link keeps its focus).
      found.forEach(([, n], i) => { shown[i].querySelector("b").textContent = String(n); });
      return;
    }
    const items = found.map(([status, n]) => {
      const link = document.createElement("a");
      link.href = "/ui/jobs?status=" + encodeURIComponent(status);
      link.className = "status status-" + status.toLowerCase();
      const count = document.createElement("b");
      count.textContent = String(n);
      link.append(status + " ", count);
      const item = document.createElement("li");
      item.dataset.status = status;
      item.append(link);
      return item;
    });
    if (items.length) counts.replaceChildren(...items);
  });
  source.addEventListener("end", () => source.close());
})();
