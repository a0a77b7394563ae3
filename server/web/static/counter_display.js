// Counter display page: the counter's number, very large, kept current by server-sent events.
// The number blinks for highlight_s after each call or recall (a new call key), as on the
// pygame screen; a call seen first on loading blinks only for what is left of its time, so a
// reload never makes an old call blink again. Offline after 5 s without the stream.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("cd-data").textContent);
  const $ = (id) => document.getElementById(id);
  const words = data.words;
  const BLINK_MS = 500; // swap every half second (1 Hz), as display/board.py
  const OFFLINE_AFTER_MS = 5000;
  let view = data.view;
  let offset = 0; // server clock minus this device's clock, in ms
  let key = null; // the call key shown
  let since = null; // server ms the shown call blinks from
  let lostAt = null;
  const clock = new Intl.DateTimeFormat("vi-VN", { hour: "2-digit", minute: "2-digit", hour12: false,
                                                   timeZone: data.zone });
  const both = (pair) => pair.join("  ·  ");

  function follow(next, first) {
    const call = next.call;
    if (!call) { key = null; since = null; return; }
    if (call.key === key) return;
    const now = Date.parse(next.now);
    since = first ? Math.min(Date.parse(call.at) || now, now) : now;
    key = call.key;
  }

  function bright() {
    if (since === null) return false;
    const age = Date.now() + offset - since;
    return age >= 0 && age < data.highlight_s * 1000 && Math.floor(age / BLINK_MS) % 2 === 0;
  }

  function show() {
    const phase = view.phase;
    const root = $("cd");
    root.dataset.phase = phase;
    $("cd-name").textContent = view.name;
    $("cd-detail").textContent = view.detail;
    $("cd-detail").hidden = !view.detail;
    $("cd-clock").textContent = clock.format(new Date(Date.now() + offset));
    const numbered = phase === "calling" || phase === "serving";
    $("cd-number").hidden = !numbered;
    $("cd-paused").hidden = phase !== "paused";
    $("cd-calm").hidden = numbered || phase === "paused";
    if (numbered) {
      $("cd-caption").textContent = both(words[phase]);
      $("cd-ticket").textContent = view.ticket;
      const recall = view.call ? view.call.recall : 0;
      $("cd-recall").textContent = recall ? both(words.call_n.map((w) => w.replace("{n}", recall + 1))) : "";
      $("cd-number").classList.toggle("bright", bright());
    } else if (phase === "paused") {
      $("cd-reason").textContent = view.reason;
    } else {
      $("cd-calm1").textContent = words[phase][0];
      $("cd-calm2").textContent = words[phase][1] || "";
      $("cd-calm").classList.toggle("cd-idle", phase === "idle");
    }
    $("cd-offline").hidden = lostAt === null || Date.now() - lostAt < OFFLINE_AFTER_MS;
    document.body.classList.toggle("offline", !$("cd-offline").hidden);
  }

  function render(next, first) {
    offset = Date.parse(next.now) - Date.now();
    follow(next, first);
    view = next;
    show();
  }

  function connect() {
    const source = new EventSource(data.events);
    source.addEventListener("update", (event) => { lostAt = null; render(JSON.parse(event.data), false); });
    source.addEventListener("open", () => { lostAt = null; sessionStorage.removeItem("qb_cd_retry_ms"); });
    source.addEventListener("error", () => {
      if (lostAt === null) lostAt = Date.now();
      // Refused (too many live pages? the counter gone?) or the server away: reload later, each
      // time twice as late, up to two minutes (kept over reloads). EventSource retries by itself
      // while the connection is merely interrupted.
      if (source.readyState !== EventSource.CLOSED) return;
      const wait = Number(sessionStorage.getItem("qb_cd_retry_ms")) || 10000;
      sessionStorage.setItem("qb_cd_retry_ms", String(Math.min(wait * 2, 120000)));
      setTimeout(() => window.location.reload(), wait);
    });
  }

  render(view, true);
  setInterval(show, 100); // the blinking phase and the clock, against the server's time
  connect();
})();
