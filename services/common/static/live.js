// Keeps a page current without reloading it (services/common/live.py; the use cases' and the bank's pages).
// Every few seconds (the body's data-refresh-seconds) it fetches the page again, with the header
// X-Live-Refresh (the page then asks no building block anything), and replaces only the regions marked
// data-live whose HTML changed. It waits while the person types in a field, has a raw call open (a <details>
// other than the behind-the-scenes panel) or the tab is hidden, and never replaces a region in which they
// changed a form control. Served from the use case itself: the CSP allows scripts from 'self' only.
// Without JavaScript the pages work as before ("Check again").
(() => {
  "use strict";
  const seconds = Number(document.body.dataset.refreshSeconds || 0);
  const regions = () => document.querySelectorAll("[data-live]");
  if (!seconds || !window.fetch || !window.DOMParser || regions().length === 0) return;

  const seen = new Map(); // region name -> the HTML the server last sent for it
  for (const region of regions()) seen.set(region.dataset.live, region.innerHTML);
  const touched = new Set(); // regions with a form control the person changed: left as they are
  const touch = (event) => {
    const region = event.target.closest && event.target.closest("[data-live]");
    if (region) touched.add(region.dataset.live);
  };
  document.addEventListener("input", touch);
  document.addEventListener("change", touch);

  const typing = () => {
    const field = document.activeElement;
    return Boolean(field && field.matches("input:not([type=checkbox]):not([type=radio]):not([type=hidden]), textarea, select"));
  };
  const reading = () => document.querySelector("[data-live] details[open]:not(.panel)") !== null;

  function replace(region, fresh) {
    const open = [...region.querySelectorAll("details")].map((d) => d.open);
    region.innerHTML = fresh;
    region.querySelectorAll("details").forEach((d, i) => {
      if (i < open.length) d.open = open[i];
    });
  }

  async function refresh() {
    if (document.hidden || typing() || reading()) return true;
    const response = await fetch(location.href, {
      headers: { "X-Live-Refresh": "1" },
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual", // logged out: stop, the next click goes to the login
    });
    if (response.type === "opaqueredirect" || (response.status >= 400 && response.status < 500)) return false;
    if (!response.ok) return true; // the service restarting, say: try again later
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const region of regions()) {
      const name = region.dataset.live;
      const next = page.querySelector(`[data-live="${CSS.escape(name)}"]`);
      if (!next || touched.has(name) || next.innerHTML === seen.get(name)) continue;
      seen.set(name, next.innerHTML);
      replace(region, next.innerHTML);
    }
    document.body.dataset.liveRefreshed = String(Number(document.body.dataset.liveRefreshed || 0) + 1);
    return true;
  }

  // The next refresh once this one is done; none after a redirect or a refusal (logged out, say).
  const schedule = () => setTimeout(() => refresh().catch(() => true).then((again) => again && schedule()), seconds * 1000);
  schedule();
})();
