// Counter console: buttons and shortcuts send the protocol's counter commands (one id per
// press, reused on retry), server-sent events keep the page current, timers tick each second.
(function () {
  "use strict";
  const root = document.getElementById("console");
  if (!root) return;
  const data = JSON.parse(document.getElementById("console-data").textContent);
  const S = data.strings;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const SAME_PRESS_MS = 700; // the same button again within this time is a double click: ignored
  let view = data.view;
  let offset = 0; // server clock minus this device's clock, in ms
  let busy = false; // a command is on its way: every button waits for its answer
  let cooldown = { action: null, until: 0 };

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, (m, k) => (k in values ? String(values[k]) : m));
  }

  function newId() { // crypto.randomUUID needs HTTPS; getRandomValues works on the plain-HTTP LAN too
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const serverNow = () => Date.now() + offset;

  function since(iso, untilMs) {
    if (!iso) return "—";
    const total = Math.max(0, Math.floor((untilMs - Date.parse(iso)) / 1000));
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
  }

  function setHidden(el, hidden) { if (el) el.hidden = hidden; }

  // --- drawing the view -----------------------------------------------------------------
  function render(next) {
    if (!next || !next.counter) return;
    if (view && view.seq > next.seq) return; // an older view arriving late
    view = next;
    offset = Date.parse(view.now) - Date.now();
    const c = view.counter, t = view.ticket;
    if (!busy && messageFor !== null && messageFor !== stateKey(view)) showMessage("", "info"); // it spoke of a state now gone
    root.className = `console state-${c.state}`;
    const badge = $("state-badge");
    badge.textContent = S[`state_${c.state}`] || c.state;
    badge.className = `badge badge-${c.state}`;
    $("ticket-label").textContent = t ? t.label : "—";
    $("ticket-service").textContent = t ? t.service_name : (c.state === "paused" ? S.paused : S.no_ticket);
    const priority = $("ticket-priority");
    setHidden(priority, !(t && t.priority));
    priority.textContent = t && t.group ? `${S.priority} · ${t.group} ${t.group_name}` : S.priority;
    const moved = $("ticket-transferred");
    setHidden(moved, !(t && t.transferred_from));
    moved.textContent = t && t.transferred_from ? fmt(S.transferred, { service: t.transferred_from }) : "";
    const calls = $("ticket-calls");
    setHidden(calls, !t);
    calls.textContent = t ? fmt(S.calls, { count: t.call_count }) : "";
    const note = $("paused-note");
    setHidden(note, c.state !== "paused" || !c.pause_reason);
    note.textContent = c.pause_reason ? fmt(S.paused_because, { reason: c.pause_reason }) : "";
    setHidden($("pause-form"), c.state === "paused");
    setHidden($("resume-form"), c.state !== "paused");
    const to = $("to");
    for (const option of to.options) option.disabled = !!t && option.value === t.queue;
    if (to.selectedOptions.length && to.selectedOptions[0].disabled) {
      const first = Array.from(to.options).find((o) => !o.disabled);
      if (first) to.value = first.value;
    }
    renderWaiting();
    renderButtons();
    tick();
  }

  function renderWaiting() {
    $("waiting-total").textContent = String(view.waiting_total);
    const list = $("waiting-list");
    list.replaceChildren(...view.waiting.map((w) => {
      const li = document.createElement("li");
      li.dataset.code = w.code;
      const name = document.createElement("span");
      name.className = "svc-name";
      const code = document.createElement("b");
      code.textContent = w.code;
      name.append(code, " " + w.name);
      const count = document.createElement("span");
      count.className = "svc-count";
      count.textContent = String(w.count);
      const oldest = document.createElement("span");
      oldest.className = "svc-oldest";
      if (w.oldest) {
        const since_ = document.createElement("span");
        since_.className = "oldest";
        since_.dataset.since = w.oldest;
        oldest.append(S.longest + " ", since_);
      }
      li.append(name, count, oldest);
      return li;
    }));
    const next = $("next-list");
    next.replaceChildren(...view.next.map((n) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "next-label" + (n.priority ? " is-priority" : "");
      b.dataset.label = n.label;
      b.textContent = n.label;
      if (n.group) {
        const group = document.createElement("span");
        group.className = "next-group";
        group.textContent = n.group;
        b.append(group);
      }
      li.append(b);
      return li;
    }));
    setHidden($("next-empty"), view.next.length > 0);
  }

  function allowed(action) {
    return (data.enabled[view.counter.state] || []).includes(action);
  }

  function ready(action) {
    return !busy && allowed(action) && !(cooldown.action === action && Date.now() < cooldown.until);
  }

  function renderButtons() {
    for (const b of root.querySelectorAll("button[data-action]")) b.disabled = !ready(b.dataset.action);
    root.classList.toggle("busy", busy);
  }

  function tick() {
    const now = serverNow(), t = view.ticket;
    $("t-wait").textContent = t ? since(t.issued_at, t.started_at ? Date.parse(t.started_at) : now) : "—";
    $("t-service").textContent = t && t.started_at ? since(t.started_at, now) : "—";
    for (const el of root.querySelectorAll(".oldest[data-since]")) el.textContent = since(el.dataset.since, now);
    const rating = $("rating-open");
    setHidden(rating, !(view.rating_until && Date.parse(view.rating_until) > now));
    rating.textContent = view.rating_ticket ? fmt(S.rating_open, { label: view.rating_ticket }) : "";
  }

  // What a message speaks of: the counter's state and its ticket. Another tab, the keypad or a
  // manager changing it makes the message stale, so it is cleared then.
  let messageFor = null;
  function stateKey(v) {
    const t = v.ticket;
    return [v.counter.state, t ? t.label : "", t ? t.status : "", t ? t.call_count : 0].join("|");
  }

  function showMessage(text, level, about = null) {
    const el = $("message");
    el.textContent = text || "";
    el.className = `message message-${level}`;
    messageFor = text && about ? stateKey(about) : null;
  }

  // --- commands ---------------------------------------------------------------------------
  function fieldsFor(action) {
    if (action === "transfer") return { to: $("to").value };
    if (action === "call") return { ticket: $("ticket").value.trim().toUpperCase() };
    if (action === "pause") return { reason: $("reason-other").value.trim() || $("reason").value };
    return {};
  }

  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function post(body) { // the same body (and id) on every attempt: the server applies it once
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const response = await fetch(data.urls.command, {
          method: "POST", credentials: "same-origin", body: JSON.stringify(body),
          headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
        });
        if (response.status >= 500) throw new Error(`HTTP ${response.status}`);
        const type = response.headers.get("Content-Type") || "";
        if (!type.includes("json")) return { ok: false, message: S.expired }; // login ended or form expired
        return await response.json();
      } catch (err) {
        await pause(400 * (attempt + 1));
      }
    }
    return { ok: false, message: S.network };
  }

  async function send(action) {
    if (!ready(action)) return;
    busy = true;
    cooldown = { action, until: Date.now() + SAME_PRESS_MS };
    renderButtons();
    const body = { id: newId(), action, ...fieldsFor(action) };
    showMessage(S.working, "pending");
    try {
      const result = await post(body);
      const level = !result.ok ? "error" : (result.reply && result.reply.ticket === null ? "info" : "ok");
      if (result.view) render(result.view);
      showMessage(result.message, level, result.view || view);
      if (result.ok && action === "call") $("ticket").value = "";
      if (result.ok && action === "pause") $("reason-other").value = "";
    } finally {
      busy = false;
      renderButtons();
      setTimeout(renderButtons, Math.max(0, cooldown.until - Date.now()) + 10);
    }
  }

  function press(action) {
    const button = root.querySelector(`button[data-action="${action}"]`);
    if (!button || !ready(action)) return;
    button.classList.add("pressed");
    setTimeout(() => button.classList.remove("pressed"), 200);
    send(action);
  }

  for (const form of root.querySelectorAll("form.cmd")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = event.submitter && event.submitter.dataset.action ? event.submitter : form.querySelector("[data-action]");
      send(button.dataset.action);
    });
  }

  $("next-list").addEventListener("click", (event) => {
    const b = event.target.closest("button[data-label]");
    if (!b) return;
    $("ticket").value = b.dataset.label;
    $("ticket").focus();
  });

  const KEYS = { " ": "next", N: "next", R: "recall", S: "start", D: "done", V: "no_show" };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const el = event.target;
    if (el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA" || el.isContentEditable)) {
      if (event.key === "Escape") el.blur();
      else if (event.key === "Enter" && el.id === "to") { event.preventDefault(); press("transfer"); }
      else if (event.key === "Enter" && el.id === "reason") { event.preventDefault(); press("pause"); }
      return;
    }
    const key = event.key.length === 1 ? event.key.toUpperCase() : event.key;
    if (KEYS[key]) {
      event.preventDefault();
      if (!event.repeat) press(KEYS[key]);
    } else if (key === "T") {
      event.preventDefault();
      $("to").focus();
    } else if (key === "G") {
      event.preventDefault();
      $("ticket").focus();
    } else if (key === "P") {
      event.preventDefault();
      if (view.counter.state === "paused") press("resume");
      else $("reason").focus();
    }
  });

  // --- live updates ----------------------------------------------------------------------
  function setLive(on) {
    const el = $("live");
    el.hidden = false;
    el.textContent = on ? S.live : S.offline;
    el.className = on ? "live live-on" : "live live-off";
  }

  // Refused (429: too many live pages; or the server is gone): try again later, waiting twice as
  // long each time up to a minute, so that many open pages never hammer the server.
  let retryMs = 5000;
  function connect() {
    const source = new EventSource(data.urls.events);
    source.addEventListener("update", (event) => { setLive(true); render(JSON.parse(event.data)); });
    source.addEventListener("open", () => { setLive(true); retryMs = 5000; });
    source.addEventListener("error", () => {
      setLive(false);
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 60000);
      }
    });
  }

  render(view);
  setInterval(tick, 1000);
  connect();
})();
