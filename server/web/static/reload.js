// Courier door page: while the door is open for a deposit, check every few seconds whether the parcel's state
// changed (the door closed with the parcel inside) or the locker answered the open command, and reload
// the page to show the result.
(function () {
  var el = document.querySelector("[data-reload-url]");
  if (!el || !window.fetch) return;
  var url = el.getAttribute("data-reload-url"), was = el.getAttribute("data-parcel-state");
  var cmdWas = el.getAttribute("data-command") || "";  // "state/outcome" of the open command
  var every = parseInt(el.getAttribute("data-reload-every") || "2000", 10);
  function tick() {
    // a failed answer (an error page, not JSON) is no news: try again a little later
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); }).then(function (d) {
      var cmd = d.command ? d.command.state + "/" + d.command.outcome : "";
      if ((d.state && d.state !== was) || cmd !== cmdWas) { window.location.reload(); return; }
      setTimeout(tick, every);
    }).catch(function () { setTimeout(tick, 2 * every); });
  }
  setTimeout(tick, every);
})();
