// Courier door page: while the door is open for a deposit, check every 2 s whether the parcel's state
// changed (the door closed with the parcel inside) and reload the page to show the result.
(function () {
  var el = document.querySelector("[data-reload-url]");
  if (!el || !window.fetch) return;
  var url = el.getAttribute("data-reload-url"), was = el.getAttribute("data-parcel-state");
  function tick() {
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (d) {
      if (d.state && d.state !== was) { window.location.reload(); return; }
      setTimeout(tick, 2000);
    }).catch(function () { setTimeout(tick, 4000); });
  }
  setTimeout(tick, 2000);
})();
