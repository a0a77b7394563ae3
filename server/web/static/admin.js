/* queuebox administration: the live overview (server-sent events, wait clocks) and
   confirmation of destructive forms. Plain ES2017, no libraries. */
"use strict";

(function () {
  /** "m:ss", or "h:mm:ss" from an hour on. */
  function ageText(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + sec : m + ":" + sec;
  }

  function keysOf(root, attribute) {
    return Array.from(root.querySelectorAll("[" + attribute + "]")).map(function (el) {
      return el.getAttribute(attribute);
    }).join("\n");
  }

  function setField(parent, name, text) {
    const el = parent.querySelector('[data-field="' + name + '"]');
    if (el && el.textContent !== String(text)) {
      el.textContent = text;
    }
    return el;
  }

  function overview(root) {
    const labels = JSON.parse(root.dataset.labels);
    const status = document.getElementById("live-status");
    let offset = Date.parse(root.dataset.now) - Date.now();  // the server's clock is the one that counts
    let lastUpdate = Date.now();

    function serverNow() {
      return Date.now() + offset;
    }

    function waited(since) {
      return since ? (serverNow() - Date.parse(since)) / 1000 : null;
    }

    function tick() {
      root.querySelectorAll("[data-since]").forEach(function (el) {
        const seconds = waited(el.dataset.since);
        const empty = el.classList.contains("held-since") ? "" : "–";
        el.textContent = seconds === null ? empty : ageText(seconds);
      });
      root.querySelectorAll("tr[data-service]").forEach(function (row) {
        const seconds = waited(row.querySelector('[data-field="oldest"]').dataset.since);
        row.classList.toggle("over", seconds !== null && seconds > Number(row.dataset.target) * 60);
      });
    }

    function apply(data) {
      offset = Date.parse(data.now) - Date.now();
      const counters = data.counters.map(function (c) { return c.id; }).join("\n");
      const services = data.services.map(function (s) { return s.code; }).join("\n");
      if (counters !== keysOf(root, "data-counter") || services !== keysOf(root, "data-service")) {
        window.location.reload();  // a counter or service was added or removed
        return;
      }
      data.counters.forEach(function (c) {
        const card = root.querySelector('[data-counter="' + CSS.escape(c.id) + '"]');
        card.className = "counter-card state-" + c.state;
        setField(card, "state", labels.states[c.state] || c.state);
        setField(card, "ticket", c.ticket || "");
        setField(card, "reason", c.reason || "");
        card.querySelector('[data-field="since"]').dataset.since = c.since || "";
      });
      data.services.forEach(function (s) {
        const row = root.querySelector('[data-service="' + CSS.escape(s.code) + '"]');
        row.dataset.target = s.target_min;
        setField(row, "name", s.name);
        setField(row, "waiting", s.waiting);
        setField(row, "issued", s.issued);
        setField(row, "served", s.served);
        setField(row, "target", labels.minutes.replace("%(n)s", s.target_min));
        const pill = setField(row, "open", s.open ? labels.open : labels.closed);
        pill.className = "pill " + (s.open ? "open" : "closed");
        row.querySelector('[data-field="oldest"]').dataset.since = s.oldest || "";
      });
      ["waiting", "issued", "served"].forEach(function (key) {
        setField(root, "total-" + key, data.totals[key]);
      });
      root.querySelector('[data-field="total-oldest"]').dataset.since = data.totals.oldest || "";
      tick();
    }

    const source = new EventSource(root.dataset.source);
    source.addEventListener("update", function (event) {
      lastUpdate = Date.now();
      status.classList.remove("offline");
      status.textContent = labels.live;
      apply(JSON.parse(event.data));
    });
    source.addEventListener("error", function () {
      // The stream ends every few minutes and reconnects by itself: only a lasting loss is shown.
      const at = Date.now();
      window.setTimeout(function () {
        if (lastUpdate < at && source.readyState !== EventSource.OPEN) {
          status.classList.add("offline");
          status.textContent = status.dataset.offline;
        }
      }, 5000);
    });
    tick();
    window.setInterval(tick, 1000);
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) {
          event.preventDefault();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const root = document.getElementById("overview");
    if (root) {
      overview(root);
    }
    confirmations();
  });
}());
