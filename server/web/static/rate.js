// Rating tablet: shows the four faces while the counter's rating window is open, sends one
// rating per tap (one id, reused on retry), then thanks the citizen and goes back to rest.
// After a score that asks why (3 or 4), the score is already recorded; the reasons show for
// data.reason_s seconds, and a tapped reason goes as a second rating: same score, its reason.
(function () {
  "use strict";
  const root = document.getElementById("rate");
  if (!root) return;
  const data = JSON.parse(document.getElementById("rate-data").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const faces = Array.from(root.querySelectorAll("button[data-score]"));
  const reasons = Array.from(root.querySelectorAll("button[data-reason]"));
  const skip = $("reason-skip");
  let view = data.view;
  let offset = 0; // server clock minus this tablet's clock, in ms
  let thanksUntil = 0; // local ms
  let done = null; // the rating_until of the window this tablet has answered
  let sending = false;
  let reasonUntil = 0; // local ms: the reasons show until then
  let reasonScore = null; // the score the reasons are asked for

  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "tab-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function screen() {
    if (Date.now() < thanksUntil) return "thanks";
    if (Date.now() < reasonUntil) return "reason";
    const until = view.rating_until;
    if (until && until !== done && Date.parse(until) >= Date.now() + offset) return "ask";
    return "idle";
  }

  function show() {
    const current = screen();
    for (const name of ["idle", "ask", "reason", "thanks"]) $(`screen-${name}`).hidden = name !== current;
    $("rate-ticket").textContent = view.ticket || "";
    if (current === "ask") {
      const left = Math.max(0, Math.ceil((Date.parse(view.rating_until) - Date.now() - offset) / 1000));
      $("rate-left").textContent = `${left} s`;
    } else if (current === "reason") {
      $("reason-left").textContent = `${Math.max(0, Math.ceil((reasonUntil - Date.now()) / 1000))} s`;
    } else {
      $("rate-error").textContent = "";
    }
    for (const button of [...faces, ...reasons, skip]) button.disabled = sending;
  }

  function render(next) {
    view = next;
    offset = Date.parse(view.now) - Date.now();
    show();
  }

  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function post(body) { // same id on every attempt: the server counts it once
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const response = await fetch(data.urls.rate, {
          method: "POST", credentials: "same-origin", body: JSON.stringify(body),
          headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
        });
        const type = response.headers.get("Content-Type") || "";
        if (response.status < 500 && type.includes("json")) return await response.json();
      } catch (err) { /* network: try again */ }
      await pause(400 * (attempt + 1));
    }
    return null;
  }

  function thank(message) {
    reasonUntil = 0;
    $("thanks-text").textContent = message || data.strings.thanks;
    thanksUntil = Date.now() + data.thanks_s * 1000;
  }

  async function rate(score) {
    if (sending) return;
    sending = true;
    const window_ = view.rating_until;
    show();
    const result = await post({ id: newId(), score });
    sending = false;
    const code = result && result.reply && result.reply.error ? result.reply.error.code : null;
    if (result && result.ok && data.reason_scores.includes(score)) {
      done = window_;
      reasonScore = score;
      reasonUntil = Date.now() + data.reason_s * 1000;
    } else if (result && (result.ok || code === "already_rated" || code === "no_ticket")) {
      done = window_;
      thank(result.message);
    } else {
      $("rate-error").textContent = (result && result.message) || data.strings.network;
    }
    show();
  }

  async function explain(reason) { // the score is recorded already: whatever happens, thank
    if (sending) return;
    sending = true;
    show();
    const result = await post({ id: newId(), score: reasonScore, reason });
    sending = false;
    thank(result && result.message);
    show();
  }

  for (const face of faces) face.addEventListener("click", () => rate(Number(face.dataset.score)));
  for (const button of reasons) button.addEventListener("click", () => explain(button.dataset.reason));
  skip.addEventListener("click", () => { thank(null); show(); });

  function connect() {
    const source = new EventSource(data.urls.events);
    source.addEventListener("update", (event) => render(JSON.parse(event.data)));
    source.addEventListener("open", () => sessionStorage.removeItem("qb_rate_retry_ms"));
    source.addEventListener("error", () => {
      // Refused (unpaired? too many live pages?) or the server is gone: reload, which shows the
      // pairing screen if need be; each time twice as late, up to two minutes (kept over reloads).
      if (source.readyState !== EventSource.CLOSED) return;
      const wait = Number(sessionStorage.getItem("qb_rate_retry_ms")) || 10000;
      sessionStorage.setItem("qb_rate_retry_ms", String(Math.min(wait * 2, 120000)));
      setTimeout(() => window.location.reload(), wait);
    });
  }

  render(view);
  setInterval(show, 500);
  connect();
})();
