"""`queuebox demo`: the appliance on one machine, for trying it out.

Starts a private Mosquitto (free port, generated accounts and ACL, files in the demo
folder), `queuebox server` with its virtual kiosk page (``--dev``), the display (a window if
there is a screen, else a PNG redrawn after every frame), a simulated kiosk (pressed from the
virtual kiosk page, its tickets saved as pictures) and a simulated keypad of the first counter
(pressed by typing in this terminal, its LEDs printed here) as child processes, with a config
derived from the given one (database, MQTT and web settings pointed at the demo folder).

Each child runs in its own session, so a Ctrl-C in the terminal reaches the demo alone, and
the demo stops them in order: devices, then the server, the broker last. Ctrl-C, ``q`` typed
or SIGTERM stop it with status 0; a child that dies stops it with status 1. Every process is
a separate program started by path, as in production; nothing here imports the devices.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable

from queuebox.config import WEEKDAYS, Config, to_toml
from queuebox.errors import QueueboxError
from server.credentials import BROKER_LIMITS, SECRETS_FILE, read_secrets, write_credentials
from server.processes import (BROKER, DEVICE, SERVER, Children, StopFlag, free_port, last_words, name_of,
                              port_taken, wait_for_port)


def demo_config(config: Config, folder: Path, broker_port: int, web_port: int) -> Config:
    """`config` with its database, MQTT and web settings pointed at the demo folder, every
    service open all day every day (a demo at night should still give tickets)."""
    always_open = tuple(dataclasses.replace(s, hours=(), open_days=WEEKDAYS) for s in config.services)
    config = dataclasses.replace(
        config,
        services=always_open,
        database=dataclasses.replace(config.database, path=str(folder / "queuebox.db")),
        mqtt=dataclasses.replace(config.mqtt, host="127.0.0.1", port=broker_port, tls=False),
        server=dataclasses.replace(config.server, listen="127.0.0.1", port=web_port,
                                   public_url=f"http://127.0.0.1:{web_port}", voice_dir=""),
        display=dataclasses.replace(config.display, voice_dir=str(folder / "display-voice"),
                                    server_url=f"http://127.0.0.1:{web_port}"))
    return as_account(config, folder, "server")


TOUCH_KIOSK = "touch1"  # the demo's simulated touch kiosk, beside the button kiosk


def with_group_buttons(config: Config) -> Config:
    """`config` with a button per priority group on the kiosk, on GPIO pins it leaves free, when
    it has none: the simulated kiosk then takes a group's priority ticket as a real one with
    those buttons does, and the virtual kiosk page can press them."""
    k = config.kiosk
    if k.group_buttons or not config.priority_groups:
        return config
    used = {*k.buttons.values(), k.priority_button, k.led_ready, k.led_busy, k.led_fault}
    free = [pin for pin in range(1, 28) if pin not in used]
    buttons = {g.code: pin for g, pin in zip(config.priority_groups, free)}
    return dataclasses.replace(config, kiosk=dataclasses.replace(k, group_buttons=buttons))


def with_touch_kiosk(config: Config) -> Config:
    """`config` with the demo's touch kiosk among `devices.kiosks` (so it gets an MQTT account)."""
    if TOUCH_KIOSK in config.devices.kiosks:
        return config
    return dataclasses.replace(config, devices=dataclasses.replace(
        config.devices, kiosks=(*config.devices.kiosks, TOUCH_KIOSK)))


def touch_kiosk_config(config: Config, folder: Path) -> Config:
    """The touch kiosk's config: its own id and account, a 1280x800 window, no buttons."""
    touch = dataclasses.replace(config.kiosk, id=TOUCH_KIOSK, screen="touch", buttons={}, priority_button=0,
                                group_buttons={},
                                led_ready=0, led_busy=0, led_fault=0, fullscreen=False, screen_width=1280,
                                screen_height=800)
    return dataclasses.replace(as_account(config, folder, f"kiosk-{TOUCH_KIOSK}"), kiosk=touch)


def as_account(config: Config, folder: Path, account: str) -> Config:
    """`config` with the MQTT user name and password of `account` (from the demo's secrets)."""
    password = read_secrets(folder / "mqtt" / SECRETS_FILE)[account]
    return dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, username=account, password=password))


def write_config(config: Config, path: Path) -> Path:
    path.write_text(to_toml(config), encoding="utf-8")
    path.chmod(0o600)  # it holds a password
    return path


def broker_conf(folder: Path, port: int) -> str:
    mqtt = folder / "mqtt"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {mqtt / 'passwd'}",
        f"acl_file {mqtt / 'acl'}",
        "persistence true",
        f"persistence_location {mqtt}/",
        "autosave_interval 60",  # as in production (server/credentials.py conf_text)
        "max_queued_messages 10000",
        "set_tcp_nodelay true",
        "log_dest stderr",
        *BROKER_LIMITS,  # as in production: client ids bound to accounts, small packets
    ]
    if os.geteuid() == 0:
        lines.append("user root")  # the demo folder may not be readable by user mosquitto
    return "\n".join(lines) + "\n"


DEMO_TOOL = "watch"  # the demo's account tool-watch, for a person (or a test) watching the topics
DEMO_PASSWORD = "demo1234"  # printed by the demo; the demo listens on 127.0.0.1 only


def demo_accounts(config: Config) -> list[tuple[str, str, str]]:
    """Create the demo's web accounts once (admin, manager, one clerk per counter);
    returns (login, role, home path) of each."""
    from queuebox.clock import utc_now
    from server import store, users

    wanted = [("admin", "admin", [], "/admin/"), ("manager", "manager", [], "/admin/")]
    wanted += [(f"clerk{c.id}".lower(), "clerk", [c.id], f"/counter/{c.id}") for c in config.counters
               if users.check_login(f"clerk{c.id}".lower()) is None]
    db = store.open_database(config.database.path)
    try:
        store.migrate(db)
        for login, role, counters, _ in wanted:
            if users.get(db, login) is None:
                users.add(db, login, DEMO_PASSWORD, role, counters, utc_now())
    finally:
        db.close()
    return [(login, role, home) for login, role, _, home in wanted]


QUIT = {"q", "quit", "exit"}  # typed in the terminal: stop the demo
COUNTER_DISPLAY = "counter-display"  # the display id (and MQTT account display-<id>) of the demo's counter display


def keypad_counter(config: Config) -> str | None:
    """The counter whose keypad the demo simulates (keypad.counter, else the first one); None
    when the config's keypad has no button."""
    k = config.keypad
    if not any((k.button_next, k.button_recall, k.button_no_show, k.button_done, *k.rating_buttons)):
        return None
    return k.counter if config.counter(k.counter) is not None else config.counters[0].id


def relay_typing(keypad: subprocess.Popen, quit: Callable[[], None]) -> None:
    """Forward the lines typed in this terminal to the keypad; ``q`` calls `quit` instead. Reads
    the descriptor itself (no buffered stdin a daemon thread could hold at exit); at the end of
    the input the keypad's input ends too, and it keeps running."""
    pipe: IO[bytes] = keypad.stdin  # type: ignore[assignment]
    pending = b""
    try:
        while True:
            chunk = os.read(0, 4096)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.strip().decode(errors="replace").lower() in QUIT:
                    quit()
                    return
                pipe.write(line + b"\n")
                pipe.flush()
    except (OSError, ValueError):  # the keypad stopped (broken or closed pipe), or standard input is closed
        pass
    finally:
        try:
            pipe.close()
        except (OSError, ValueError):
            pass


def relay_leds(keypad: subprocess.Popen, log: Path, prefix: str) -> None:
    """Copy the keypad's output to its log, and its LED lines to this terminal."""
    with open(log, "ab") as out, keypad.stdout:  # type: ignore[union-attr]
        for line in keypad.stdout:  # type: ignore[union-attr]
            out.write(line)
            out.flush()
            if line.startswith(b"LEDs:"):
                print(prefix + line.decode(errors="replace").rstrip(), flush=True)


def may_read_terminal() -> bool:
    """Whether reading standard input is safe: not a terminal (a pipe, a file), or a terminal
    this process is in the foreground of (a background job reading it would be stopped)."""
    try:
        return not os.isatty(0) or os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


EXAMPLE_CATALOGUE = Path(__file__).resolve().parents[1] / "config" / "procedures.example.csv"


def seed_catalogue(config: Config, example: Path = EXAMPLE_CATALOGUE, voice_cache: Path | None = None) -> int:
    """Import the example procedure catalogue into the demo's database if its catalogue is empty
    (a demo run again keeps what was changed on the web); returns how many were imported. With
    `voice_cache`, also the espeak-ng voice pack when there is none (server/voice_demo.py)."""
    from server.catalogue_cli import import_file
    from server.engine import Engine
    from server.voice_demo import seed_voice

    engine = Engine(config)
    try:
        if voice_cache is not None:
            seed_voice(engine, voice_cache)
        if engine.read(lambda conn: conn.execute("SELECT count(*) FROM procedures").fetchone()[0]) or \
                not example.exists():
            return 0
        return import_file(engine, example, actor="demo")
    finally:
        engine.close()


def run_demo(config: Config, folder: Path, web_port: int) -> int:
    """Run the broker, the server and the simulated devices until Ctrl-C, ``q`` or SIGTERM
    (status 0), or until one of them dies (status 1)."""
    folder = folder.resolve()
    taken = port_taken(web_port)
    if taken:  # else the demo would greet the program already there, then stop
        raise QueueboxError(f"port {web_port} is taken ({taken}): stop what uses it (an earlier demo?) "
                            f"or choose another port: make demo PORT=8181, or queuebox demo --web-port 8181")
    os.umask(0o077)  # the database, keys, passwords and logs it makes are this user's only (children inherit it)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    broker_port = free_port()
    shown_counter = config.counters[0].id if config.counters else None  # the counter display's
    if shown_counter is not None and COUNTER_DISPLAY not in config.devices.displays:  # its own MQTT account
        config = dataclasses.replace(config, devices=dataclasses.replace(
            config.devices, displays=(*config.devices.displays, COUNTER_DISPLAY)))
    config = with_touch_kiosk(config)
    probe = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, port=broker_port))
    # the broker runs as this user here, so this user's group may read passwd and acl
    # tool-watch: to watch everything (mosquitto_sub) without taking the server's client id
    write_credentials(probe, folder / "mqtt", group=grp.getgrgid(os.getegid()).gr_name, tools=[DEMO_TOOL])
    config = with_group_buttons(demo_config(config, folder, broker_port, web_port))
    config_path = write_config(config, folder / "queuebox.toml")
    kiosk_path = write_config(as_account(config, folder, f"kiosk-{config.kiosk.id}"), folder / "kiosk.toml")
    touch_path = write_config(touch_kiosk_config(config, folder), folder / "touch-kiosk.toml")
    display_path = write_config(as_account(config, folder, f"display-{config.display.id}"), folder / "display.toml")
    counter = keypad_counter(config)
    keypad_path = None
    if counter is not None:  # the keypad uses its counter's account
        keypad_config = dataclasses.replace(as_account(config, folder, f"counter-{counter}"),
                                            keypad=dataclasses.replace(config.keypad, counter=counter))
        keypad_path = write_config(keypad_config, folder / "keypad.toml")
    on_screen = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    display_args = ["--windowed", "--size", "1280x720"] if on_screen else \
        ["--screenshot", str(folder / "board.png"), "--follow", "--size", "1920x1080"]
    counter_display_path = None
    if shown_counter is not None:  # a counter display above counter 1: a small window, or a PNG
        counter_display_path = write_config(as_account(dataclasses.replace(
            config, display=dataclasses.replace(config.display, id=COUNTER_DISPLAY, counter=shown_counter)), folder,
            f"display-{COUNTER_DISPLAY}"), folder / "counter-display.toml")
    counter_display_args = ["--windowed", "--size", "800x480"] if on_screen else \
        ["--screenshot", str(folder / "counter-display.png"), "--follow", "--size", "800x480"]
    seed_catalogue(config, voice_cache=folder / "voice-cache")
    (folder / "mosquitto.conf").write_text(broker_conf(folder, broker_port), encoding="utf-8")
    tickets = folder / "tickets"
    for name in ("mosquitto.log", "server.log", "display.log", "counter-display.log", "kiosk.log", "touch-kiosk.log", "keypad.log"):
        (folder / name).write_bytes(b"")  # each run's logs from the start

    children = Children()
    leds: threading.Thread | None = None
    stop = StopFlag()  # no KeyboardInterrupt halfway through starting a child: it would be left behind
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        broker = children.start(BROKER, ["mosquitto", "-c", str(folder / "mosquitto.conf")], folder / "mosquitto.log")
        wait_for_port(broker_port, broker, folder / "mosquitto.log", stop.asked)
        if stop.asked():
            return 0
        accounts = demo_accounts(config)  # about a second of password hashing
        if stop.asked():
            return 0
        server = children.queuebox(SERVER, folder / "server.log", "server", "--config", str(config_path),
                                   "--dev", "--dev-tickets", str(tickets))
        wait_for_port(web_port, server, folder / "server.log", stop.asked)
        if stop.asked():
            return 0
        children.queuebox(DEVICE, folder / "display.log", "display", "--config", str(display_path), *display_args)
        if counter_display_path is not None:
            children.queuebox(DEVICE, folder / "counter-display.log", "display", "--config", str(counter_display_path),
                              *counter_display_args)
        children.queuebox(DEVICE, folder / "kiosk.log", "kiosk", "--config", str(kiosk_path), "--simulate",
                          "--out", str(tickets))
        children.queuebox(DEVICE, folder / "touch-kiosk.log", "kiosk", "--config", str(touch_path), "--simulate",
                          "--out", str(tickets))
        if keypad_path is not None:
            keypad = children.queuebox(DEVICE, folder / "keypad.log", "keypad", "--config", str(keypad_path),
                                       "--simulate", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            leds = threading.Thread(target=relay_leds, args=(keypad, folder / "keypad.log", f"  keypad {counter} | "),
                                    name="keypad-leds", daemon=True)
            leds.start()
            if may_read_terminal():
                threading.Thread(target=relay_typing, args=(keypad, stop), name="typing",
                                 daemon=True).start()
        print(banner(config, folder, web_port, broker_port, accounts, on_screen, counter, shown_counter), flush=True)
        while not stop.asked():
            dead = children.first_dead()
            if dead is not None:
                print(f"{name_of(dead)} stopped with {dead.returncode}; stopping the demo (logs in {folder})",
                      file=sys.stderr)
                print(last_words(children.logs[dead.pid]), file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        children.stop()
        if leds is not None:  # done printing before this process exits (its stdout lock must be free)
            leds.join(timeout=2)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def banner(config: Config, folder: Path, web_port: int, broker_port: int, accounts: list[tuple[str, str, str]],
           on_screen: bool, counter: str | None, shown_counter: str | None = None) -> str:
    """What the demo prints once everything runs: where to look, what to press, how to log in."""
    web = f"http://127.0.0.1:{web_port}"
    topics = f"{config.mqtt.root}/{config.site.id}"
    logins = "\n".join(f"                 {login:<10} {role:<8} {web}{home}" for login, role, home in accounts)
    keypad = (f"counter {counter}'s keypad reads this terminal: type n (next), r (recall), v (no-show),\n"
              "                 d (done) or 1-4 (rating: 1 very satisfied ... 4 dissatisfied) and Enter;\n"
              "                 its LEDs are printed here as they change") if counter is not None \
        else "none ([keypad] of the configuration has no button)"
    other = next((c.id for c in config.counters if c.id != counter), counter or config.counters[0].id)
    counter_display = (f"  counter {shown_counter}:     {'a small window' if on_screen else folder / 'counter-display.png'}"
                       f" (its counter display), or the page {web}/counter/{shown_counter}/display\n"
                       if shown_counter is not None else "")
    return f"""
queuebox demo — {config.site.name}
  web:           {web}/  (log in with a demo account below, password {DEMO_PASSWORD})
{logins}
  virtual kiosk: {web}/dev/kiosk/  (no login: press a service, see the printed ticket)
  keypad:        {keypad}
  touch kiosk:   {"a window" if on_screen else folder / "tickets" / "touch-screen.png"} (touch it with the mouse, or publish
                 tile:A, priority, group:CT, lookup, touch:X,Y ... to {topics}/kiosk/{TOUCH_KIOSK}/simulate)
  board:         {"a window" if on_screen else folder / "board.png"} (redrawn on every call)
{counter_display}  ticket status: the QR code of each ticket ({web}/t/...)
  tickets:       {folder / "tickets"} (.png pictures, .bin printer bytes)
  MQTT broker:   127.0.0.1:{broker_port}, topics under {topics}/
  accounts:      {folder / 'mqtt' / SECRETS_FILE}
  logs:          {folder} (server.log, kiosk.log, touch-kiosk.log, keypad.log, display.log, mosquitto.log)
  try:           mosquitto_pub -p {broker_port} -u counter-{other} -P <password from the accounts file> -V mqttv5 \\
                   -q 1 -t {topics}/counter/{other}/command -m '{{"id": "try-1", "action": "next"}}'
  watch:         mosquitto_sub -p {broker_port} -u tool-{DEMO_TOOL} -P <password from the accounts file> -V mqttv5 \\
                   -t '{topics}/#' -v   (its own account: the broker binds client ids to accounts)
Press Ctrl-C (or type q and Enter) to stop."""
