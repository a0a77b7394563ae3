// Rating tablet: shows the four faces while the counter's rating window is open, sends one
// rating per tap (one id, reused on retry), then thanks the citizen and goes back to rest.
(function () {
  "use strict";
  const root = document.getElementById("rate");
  if (!root) return;
  const data = JSON.parse(document.getElementById("rate-data").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const faces = Array.from(root.querySelectorAll("button[data-score]"));
  let view = data.view;
  let offset = 0; // server clock minus this tablet's clock, in ms
  let thanksUntil = 0; // local ms
  let done = null; // the rating_until of the window this tablet has answered
  let sending = false;

  function newId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "tab-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function screen() {
    if (Date.now() < thanksUntil) return "thanks";
    const until = view.rating_until;
    if (until && until !== done && Date.parse(until) >= Date.now() + offset) return "ask";
    return "idle";
  }

  function show() {
    const current = screen();
    for (const name of ["idle", "ask", "thanks"]) $(`screen-${name}`).hidden = name !== current;
    $("rate-ticket").textContent = view.ticket || "";
    if (current === "ask") {
      const left = Math.max(0, Math.ceil((Date.parse(view.rating_until) - Date.now() - offset) / 1000));
      $("rate-left").textContent = `${left} s`;
    } else {
      $("rate-error").textContent = "";
    }
    for (const face of faces) face.disabled = sending;
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

  async function rate(score) {
    if (sending) return;
    sending = true;
    const window_ = view.rating_until;
    show();
    const result = await post({ id: newId(), score });
    sending = false;
    const code = result && result.reply && result.reply.error ? result.reply.error.code : null;
    if (result && (result.ok || code === "already_rated" || code === "no_ticket")) {
      done = window_;
      $("thanks-text").textContent = result.message;
      thanksUntil = Date.now() + data.thanks_s * 1000;
    } else {
      $("rate-error").textContent = (result && result.message) || data.strings.network;
    }
    show();
  }

  for (const face of faces) face.addEventListener("click", () => rate(Number(face.dataset.score)));

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
