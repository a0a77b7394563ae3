// The overview's live rows: every few seconds the table body is fetched again from the server
// (the same template renders it), so the page needs no other script and no inline code.
(function () {
  "use strict";
  var table = document.getElementById("centres");
  if (!table) { return; }
  var url = table.getAttribute("data-rows");
  var every = Number(table.getAttribute("data-every")) * 1000 || 5000;
  var body = table.querySelector("tbody");
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error("status " + r.status); }
        return r.text();
      })
      .then(function (html) { body.innerHTML = html; table.removeAttribute("data-stale"); })
      .catch(function () { table.setAttribute("data-stale", "true"); })
      .then(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
