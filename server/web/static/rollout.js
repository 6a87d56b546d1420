// Rollout page: poll the rollout's JSON feed and repaint its state, counts, pause reason, buttons and
// every board's row in place, until the rollout is over (completed or cancelled with nothing updating).
// Progressive: without JavaScript the page shows the rollout as of loading it (and the refresh link).
(function () {
  var root = document.querySelector("#rollout[data-live-url]");
  if (!root || !window.fetch) return;
  var url = root.getAttribute("data-live-url");
  var every = parseInt(root.getAttribute("data-live-every") || "1500", 10);
  function text(id, value) { var el = document.getElementById(id); if (el) el.textContent = value; return el; }
  function badge(el, state, bad, good) {
    el.className = el.className.replace(/\s*\b(bad|good)\b/g, "");
    if (bad.indexOf(state) >= 0) el.className += " bad"; else if (good.indexOf(state) >= 0) el.className += " good";
  }
  function paint(d) {
    root.setAttribute("data-state", d.state);
    badge(text("rollout-state", d.state_text), d.state, ["paused"], ["completed"]);
    var why = text("pause-reason", d.pause_text || "");
    if (why) why.hidden = !d.pause_text;
    var counts = text("rollout-counts", d.counts_text);
    if (counts) ["total", "done", "failed", "active"].forEach(function (k) { counts.setAttribute("data-" + k, d.counts[k]); });
    var bar = document.getElementById("rollout-bar");
    if (bar) bar.style.width = d.counts.percent_done + "%";
    Array.prototype.forEach.call(root.querySelectorAll("[data-when]"), function (el) {
      el.hidden = el.getAttribute("data-when").split(" ").indexOf(d.state) < 0;
    });
    (d.boards || []).forEach(function (b) {
      var row = document.getElementById("rb-" + b.id);
      if (!row) return;
      row.setAttribute("data-state", b.state);
      var st = row.querySelector(".rb-state");
      st.textContent = b.state_text;
      badge(st, b.state, ["failed"], ["done", "skipped"]);
      row.querySelector(".rb-version").textContent = b.version;
      row.querySelector(".rb-attempts").textContent = b.attempts;
      var r = row.querySelector(".rb-reason");
      r.textContent = b.reason || "—";
      r.title = b.reason_detail || "";
    });
    root.setAttribute("data-live-ok", "1");
    return d.state === "running" || d.state === "paused" ||
      (d.boards || []).some(function (b) { return b.state === "updating"; });
  }
  function tick() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (d) { if (paint(d)) setTimeout(tick, every); })
      .catch(function () { root.setAttribute("data-live-ok", "0"); setTimeout(tick, 2 * every); });
  }
  setTimeout(tick, every);
})();
