/* Import progress page: polls GET /api/jobs/<id> and updates the bar, the counts and the time
 * left; when the job has ended it loads the progress page again, which is then the report.
 * Without this script the page reloads itself (<noscript> meta refresh).
 */
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-url");
  var number = function (n) { return Number(n || 0).toLocaleString("en-US"); };
  var set = function (id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } };
  var show = function (job) {
    var p = job.progress;
    set("job-state", job.state === "queued" ? "Waiting for a worker…"
      : p.phase.charAt(0).toUpperCase() + p.phase.slice(1) + "…");
    var bar = document.getElementById("job-bar");
    if (p.percent !== null) { bar.value = p.percent; bar.textContent = p.percent + "%"; }
    set("job-read", number(p.rows_read));
    set("job-joined", number(p.rows_joined));
    set("job-written", number(p.rows_written));
    set("job-expected", number(p.rows_expected));
    set("job-percent", p.percent === null ? "—" : p.percent + "%");
    set("job-left", p.left_s === null ? "—" : "about " + Math.round(p.left_s) + " s");
    box.setAttribute("data-state", job.state);
  };
  var poll = function () {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) {
        show(body.job);
        if (body.job.state === "done" || body.job.state === "failed") {
          window.location.replace(body.job.page);
        } else {
          window.setTimeout(poll, 500);
        }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  };
  window.setTimeout(poll, 300);
})();
