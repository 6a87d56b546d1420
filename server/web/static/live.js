// Live compartment colours: poll the page's JSON feed and repaint compartments whose state changed.
// Progressive: without JavaScript the page still shows the states as of loading it.
(function () {
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch) return;
  var url = root.getAttribute("data-live-url");
  var every = parseInt(root.getAttribute("data-live-every") || "4000", 10);
  var stamp = document.getElementById("live-stamp");
  function paint(data) {
    (data.compartments || []).forEach(function (c) {
      var el = document.getElementById("cpt-" + c.id);
      if (!el) return;
      var want = "st-" + c.state;
      if (el.getAttribute("data-state") !== c.state) {
        el.className = el.className.replace(/\bst-[a-z]+\b/, want);
        el.setAttribute("data-state", c.state);
        var label = el.querySelector(".s");
        if (label) label.textContent = c.label;
        el.title = c.title || c.label;
      }
    });
    Object.keys(data.counts || {}).forEach(function (st) {  // the legend's counters
      var n = document.getElementById("count-" + st);
      if (n) n.textContent = data.counts[st];
    });
    if (stamp && data.at) stamp.textContent = data.at;
    root.setAttribute("data-live-ok", "1");
  }
  function tick() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(paint)
      .catch(function () { root.setAttribute("data-live-ok", "0"); })
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
