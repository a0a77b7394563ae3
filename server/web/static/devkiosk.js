// Virtual kiosk (demo only): a press sends the service (and the priority toggle, or the priority
// group chosen) to the server, which presses the simulated kiosk's buttons; the list of printed
// tickets is polled, and a new one is shown large as soon as its picture is saved.
(function () {
  "use strict";
  const root = document.getElementById("devkiosk");
  if (!root) return;
  const data = JSON.parse(document.getElementById("devkiosk-data").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const S = data.strings;
  const $ = (id) => document.getElementById(id);
  const status = $("dk-status");
  const priority = $("dk-priority");
  const groups = Array.from(root.querySelectorAll("button[data-group]"));
  const IDLE_POLL_MS = 1500; // tickets printed from the terminal or MQTT show up too
  const WAITING_POLL_MS = 300;

  let tickets = data.tickets; // newest first
  let known = new Set(tickets.map((t) => t.name));
  let selected = null; // the name shown large; null: the newest
  let waitingUntil = 0; // ms; a press is waiting for its ticket until then
  let timer = null;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? values[key] : whole));
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function picture(ticket, className) {
    const img = document.createElement("img");
    img.className = className;
    img.alt = fill(S.ticket, { label: ticket.label });
    img.src = ticket.url;
    // the kiosk may still be writing the file when it is listed: fetch it again once
    img.addEventListener("error", () => {
      if (!img.dataset.retried) {
        img.dataset.retried = "1";
        setTimeout(() => { img.src = `${ticket.url}?again=${Date.now()}`; }, 400);
      }
    });
    return img;
  }

  function render() {
    const shown = tickets.find((t) => t.name === selected) || tickets[0];
    $("dk-empty").hidden = tickets.length > 0;
    $("dk-latest").hidden = !shown;
    if (shown) {
      const old = $("dk-latest-img");
      if (old.dataset.name !== shown.name) {
        const img = picture(shown, "");
        img.id = "dk-latest-img";
        img.dataset.name = shown.name;
        old.replaceWith(img);
      }
      $("dk-latest-caption").textContent = `${shown.label} · ${shown.time}`;
    }
    const list = $("dk-thumbs");
    list.textContent = "";
    for (const ticket of tickets) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "dk-thumb";
      button.dataset.name = ticket.name;
      if (shown && ticket.name === shown.name) button.setAttribute("aria-current", "true");
      button.append(picture(ticket, ""));
      const caption = document.createElement("span");
      caption.textContent = ticket.label;
      button.append(caption);
      button.addEventListener("click", () => { selected = ticket.name; render(); });
      item.append(button);
      list.append(item);
    }
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  async function poll() {
    try {
      const response = await fetch(data.urls.tickets, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const answer = await response.json();
        update(answer.tickets);
        if (answer.services) follow(answer.services);
      }
    } catch (err) {
      // the server is restarting or stopped: keep trying
    }
    if (waitingUntil && Date.now() > waitingUntil) {
      waitingUntil = 0;
      say(S.nothing, true);
    }
    schedule(waitingUntil ? WAITING_POLL_MS : IDLE_POLL_MS);
  }

  function update(list) {
    const fresh = list.filter((t) => !known.has(t.name));
    const changed = list.map((t) => t.name).join() !== tickets.map((t) => t.name).join();
    tickets = list;
    known = new Set(list.map((t) => t.name));
    if (fresh.length) {
      selected = null; // show the newest
      if (waitingUntil) {
        waitingUntil = 0;
        say(fill(S.printed, { label: fresh[0].label }), false);
      }
    }
    if (changed) render();
  }

  function follow(services) { // a service opened or closed meanwhile (a manager, or its hours)
    for (const s of services) {
      const button = root.querySelector(`button[data-service="${s.code}"]`);
      if (!button) continue;
      button.disabled = !s.open;
      button.querySelector(".dk-closed").hidden = s.open;
    }
  }

  function choose(chosen) { // at most one of the priority toggle and the groups is on, as one press arms one
    if (priority) priority.setAttribute("aria-pressed", chosen === priority ? "true" : "false");
    for (const button of groups) button.setAttribute("aria-pressed", button === chosen ? "true" : "false");
  }

  async function press(code) {
    const asPriority = Boolean(priority) && priority.getAttribute("aria-pressed") === "true";
    const group = groups.find((button) => button.getAttribute("aria-pressed") === "true");
    say(S.printing, false);
    try {
      const response = await fetch(data.urls.press, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ service: code, priority: asPriority, group: group ? group.dataset.group : null }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok || !body.ok) {
        throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
      }
      choose(null); // as on the kiosk: one priority ticket
      waitingUntil = Date.now() + data.wait_s * 1000;
      schedule(WAITING_POLL_MS);
    } catch (err) {
      say(fill(S.failed, { error: err.message }), true);
    }
  }

  for (const toggle of priority ? [priority, ...groups] : groups) {
    toggle.addEventListener("click", () => choose(toggle.getAttribute("aria-pressed") === "true" ? null : toggle));
  }
  for (const button of root.querySelectorAll("button[data-service]")) {
    button.addEventListener("click", () => press(button.dataset.service));
  }
  render();
  schedule(IDLE_POLL_MS);
})();
