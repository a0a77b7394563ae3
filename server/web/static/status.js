/* The ticket status page (/t/<token>) keeps itself up to date: it polls the page's JSON every
   `data-refresh` seconds (and at once when the phone shows the page again), puts the new texts
   in place and sets `data-status` on <main>, which the stylesheet uses to highlight a call.
   It stops when the ticket is finished or expired. Plain ES2017, no library. */
(function () {
  "use strict";
  var main = document.getElementById("status");
  if (!main || !window.fetch) { return; }
  var url = main.getAttribute("data-json-url");
  var seconds = Math.max(1, parseInt(main.getAttribute("data-refresh"), 10) || 10);
  var timer = null;
  var busy = false;
  var titleEnd = document.title.indexOf(" · ") >= 0 ? document.title.slice(document.title.indexOf(" · ")) : "";

  function setText(id, text) {
    var el = document.getElementById(id);
    if (!el) { return; }
    if (el.textContent !== text) { el.textContent = text; }
    el.hidden = !text;
  }

  function show(view) {
    var before = main.getAttribute("data-status");
    setText("status-label", view.label);
    setText("status-service", view.service_name);
    setText("status-headline", view.headline);
    setText("status-detail", view.detail);
    setText("status-note", view.note);
    setText("status-updated", view.updated_text);
    var procedures = document.getElementById("status-procedures");
    if (procedures) {  // the field's procedures: another field after a transfer, or none
      if (view.procedures_url) { procedures.setAttribute("href", view.procedures_url); }
      procedures.hidden = !view.procedures_url;
    }
    main.setAttribute("data-status", view.status);
    main.setAttribute("data-final", view.final ? "true" : "false");
    document.title = view.status === "called" ? view.headline : view.label + titleEnd;
    if (view.status === "called" && before !== "called" && navigator.vibrate) {
      try { navigator.vibrate([300, 150, 300]); } catch (e) { /* not allowed without a tap: fine */ }
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (main.getAttribute("data-final") !== "true") {
      timer = setTimeout(poll, seconds * 1000);
    }
  }

  async function poll() {
    if (busy) { return; }
    busy = true;
    try {
      var response = await fetch(url, {cache: "no-store", credentials: "same-origin",
                                       headers: {"Accept": "application/json"}});
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      var view = await response.json();
      seconds = Math.max(1, view.refresh_s || seconds);
      show(view);
      document.getElementById("status-offline").hidden = true;
    } catch (e) {
      document.getElementById("status-offline").hidden = false;
    } finally {
      busy = false;
      schedule();
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && main.getAttribute("data-final") !== "true") { poll(); }
  });
  schedule();
})();
