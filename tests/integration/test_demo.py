"""`queuebox demo` as a person runs it: a private authenticated broker, the real server with
its virtual kiosk page, the display, a simulated kiosk and a simulated keypad, each its own
process; stopped by Ctrl-C (SIGINT to the demo's process group, as a terminal sends it) or
SIGTERM, with nothing left behind."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import pytest

from server.processes import free_port
from tests.web.browser import screenshot

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "queuebox.example.toml"
SITE = "queuebox/xa-an-phu"
CHILDREN = {"mosquitto", "server", "display", "kiosk", "keypad"}
STOPPED_WITHIN_S = 6.0  # Ctrl-C to the last child gone (measured ~1.5 s on 2 cores)


def mqtt(tool: str, port: int, user: str, password: str, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(port), "-u", user, "-P", password, "-V", "mqttv5",
                           *args], capture_output=True, text=True, timeout=timeout)


def wait_for(condition: Callable[[], Any], timeout: float, what: Callable[[], str]) -> Any:
    """Poll `condition` until it returns something true; fails with `what()` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(what())
        time.sleep(0.1)


def children_of(pid: int) -> dict[int, str]:
    """The running child processes of `pid`: their pid and name (mosquitto, or the queuebox command)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            state, ppid = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[:2]
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if int(ppid) == pid and state != "Z":
            name = argv[3].decode() if len(argv) > 3 and argv[1:3] == [b"-m", b"queuebox.cli"] else \
                Path(argv[0].decode()).name
            found[int(entry)] = name
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Demo:
    proc: subprocess.Popen
    web: str
    broker_port: int
    passwords: dict[str, str]
    folder: Path
    out: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def online(self, client: str) -> None:
        """Wait until `client` (an MQTT account) says "online": it has connected and subscribed."""
        status = mqtt("mosquitto_sub", self.broker_port, "tool-watch", self.passwords["tool-watch"],
                      "-t", f"{SITE}/status/{client}", "-C", "1", "-W", "20", timeout=30)
        assert status.stdout.strip() == "online", f"{client} is not online:\n{self.output()}"

    def type(self, text: str) -> None:
        """Type a line in the demo's terminal."""
        stdin: IO[bytes] = self.proc.stdin  # type: ignore[assignment]
        stdin.write(text.encode() + b"\n")
        stdin.flush()


class Browser:
    """urllib with cookies: the virtual kiosk's CSRF token is bound to the session cookie."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> bytes:
        with self.opener.open(self.base + path, timeout=5) as response:
            return response.read()

    def post_json(self, path: str, body: Any, token: str) -> Any:
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "X-CSRFToken": token})
        with self.opener.open(request, timeout=5) as response:
            return json.loads(response.read())


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    web_port = free_port()
    out = tmp_path / "demo.out"
    with open(out, "w") as log:
        # its own session: its process group is the one a terminal's Ctrl-C reaches
        proc = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "demo", "--config", str(EXAMPLE),
                                 "--dir", str(tmp_path / "demo"), "--web-port", str(web_port)],
                                stdin=subprocess.PIPE, stdout=log, stderr=log, cwd=ROOT, start_new_session=True,
                                env={**os.environ, "SDL_AUDIODRIVER": "dummy"})  # a mixer: calls spoken
    web = f"http://127.0.0.1:{web_port}"

    def started() -> bool:  # the banner comes once every child has been started
        assert proc.poll() is None, out.read_text()
        return "Press Ctrl-C" in out.read_text()
    folder = tmp_path / "demo"
    try:
        wait_for(started, 30, out.read_text)
        with urllib.request.urlopen(f"{web}/healthz", timeout=2) as response:
            assert json.loads(response.read())["ok"]
        broker_port = int(re.search(r"listener (\d+)", (folder / "mosquitto.conf").read_text()).group(1))
        passwords = tomllib.loads((folder / "mqtt" / "secrets.toml").read_text())["passwords"]
        yield Demo(proc, web, broker_port, passwords, folder, out)
    finally:
        children = children_of(proc.pid)
        if proc.poll() is None:
            proc.terminate()  # the demo stops its children on SIGTERM
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in children:  # never leave a process behind, whatever the test found
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.stdin.close()


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_the_demo_stops_every_child_cleanly_server_before_broker(demo, how):
    for device in ("display-display1", "display-counter-display", "kiosk-kiosk1", "kiosk-touch1", "counter-1"):
        demo.online(device)
    children = children_of(demo.proc.pid)
    assert set(children.values()) == CHILDREN, children
    started = time.monotonic()
    if how == "ctrl-c":
        os.killpg(demo.proc.pid, signal.SIGINT)  # what a terminal sends to its foreground job
    else:
        demo.proc.send_signal(signal.SIGTERM)  # what systemd or kill sends
    assert demo.proc.wait(timeout=20) == 0, demo.output()
    wait_for(lambda: not any(alive(pid) for pid in children), STOPPED_WITHIN_S,
             lambda: f"left running: {[name for pid, name in children.items() if alive(pid)]}")
    took = time.monotonic() - started
    print(f"{how} to every process gone: {took:.2f} s", file=sys.stderr)
    assert took < STOPPED_WITHIN_S
    assert "Traceback" not in demo.output() + "".join(demo.log(n) for n in ("server", "kiosk", "touch-kiosk", "keypad",
                                                                                  "display", "counter-display"))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", demo.broker_port), timeout=1).close()
    broker = demo.log("mosquitto")
    # the server said goodbye to a broker that was still there, and the broker stopped after it
    assert broker.index("Client server disconnected") < broker.index("terminating"), broker
    for client in ("kiosk-kiosk1", "kiosk-touch1", "counter-1", "display-display1", "display-counter-display", "server"):
        assert f"Client {client} disconnected" in broker, broker  # a clean goodbye, not a lost connection
        assert f"Client {client} closed its connection" not in broker, broker


def test_the_broker_wants_passwords_and_what_the_acl_refuses_changes_nothing(demo):
    port, passwords = demo.broker_port, demo.passwords
    refused = mqtt("mosquitto_pub", port, "counter-2", "wrong-password", "-q", "1",
                   "-t", f"{SITE}/counter/2/command", "-m", '{"id": "demo-2", "action": "next"}')
    assert refused.returncode != 0
    for n, (user, topic) in enumerate([("kiosk-kiosk1", "counter/2/command"), ("counter-3", "counter/2/command"),
                                       ("display-display1", "counter/2/command"),
                                       ("display-display1", "kiosk/kiosk1/take")]):
        payload = json.dumps({"id": f"x{n}", "action": "pause", "reason": "hack", "service": "A"})
        refused = mqtt("mosquitto_pub", port, user, passwords[user], "-q", "1", "-t", f"{SITE}/{topic}", "-m", payload)
        assert "Not authorized" in refused.stderr + refused.stdout, (user, topic)
    # a fence: an allowed command from counter 2 is answered, so anything sent before it was handled.
    # One client subscribes to the reply and sends the command (mosquitto_rr): the broker binds the
    # client id to the account, so a second client of counter-2 would disconnect the first.
    answered = mqtt("mosquitto_rr", port, "counter-2", passwords["counter-2"], "-q", "1", "-W", "10",
                    "-t", f"{SITE}/counter/2/command", "-e", f"{SITE}/counter/2/reply",
                    "-m", '{"id": "fence", "action": "next"}', timeout=15)
    assert json.loads(answered.stdout) == {"id": "fence", "ok": True, "ticket": None}, answered.stderr
    conn = sqlite3.connect(demo.folder / "queuebox.db")
    try:
        assert conn.execute("SELECT id FROM commands").fetchall() == [("counter/2:fence",)]
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'paused'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (0,)
        assert conn.execute("SELECT state FROM counters WHERE id = '2'").fetchone() == ("idle",)
    finally:
        conn.close()


def test_demo_children_do_not_outlive_a_killed_demo(demo):
    children = children_of(demo.proc.pid)
    demo.proc.kill()
    demo.proc.wait(timeout=10)
    wait_for(lambda: not any(alive(pid) for pid in children), 15,
             lambda: f"left running after the demo was killed: {children}")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", demo.broker_port), timeout=0.5).close()


def test_the_virtual_kiosk_prints_and_the_keypad_typed_in_the_terminal_calls(demo):
    assert "keypad" in children_of(demo.proc.pid).values()
    wait_for(lambda: (demo.folder / "board.png").exists(), 20, lambda: demo.log("display"))  # the display draws
    wait_for(lambda: (demo.folder / "counter-display.png").exists(), 20,  # and counter 1's display
             lambda: demo.log("counter-display"))
    assert f"{demo.web}/counter/1/display" in demo.output()
    demo.online("kiosk-kiosk1")
    demo.online("counter-1")  # the keypad, with its counter's account
    assert f"{demo.web}/dev/kiosk/" in demo.output()
    browser = Browser(demo.web)
    page = browser.get("/dev/kiosk/").decode()
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert browser.post_json("/dev/kiosk/press", {"service": "A"}, token)["pressed"] == "a"
    listed = wait_for(lambda: json.loads(browser.get("/dev/kiosk/tickets.json"))["tickets"], 20,
                      lambda: demo.log("kiosk"))
    assert [t["label"] for t in listed] == ["A001"]
    picture = browser.get(listed[0]["url"])
    assert picture.startswith(b"\x89PNG") and picture == (demo.folder / "tickets" / listed[0]["name"]).read_bytes()

    demo.type("n")  # the keypad of counter 1 (A and E): Next
    conn = sqlite3.connect(demo.folder / "queuebox.db")
    try:
        wait_for(lambda: conn.execute("SELECT status, counter FROM tickets WHERE label = 'A001'").fetchone()
                 == ("called", "1"), 15, lambda: demo.log("keypad") + demo.log("server"))
    finally:
        conn.close()
    # the display speaks it in the demo's voice pack (espeak-ng per clip), downloaded from the server
    wait_for(lambda: re.search(r"voice pack \w+ downloaded", demo.log("display")), 20, lambda: demo.log("display"))
    wait_for(lambda: "announcing A001" in demo.log("display"), 10, lambda: demo.log("display"))
    assert "no clip" not in demo.log("display")
    # the keypad's LEDs, printed in the terminal: Next blinks while the number is being called
    wait_for(lambda: re.search(r"keypad 1 \| LEDs: next=blink recall=on", demo.output()), 10, demo.output)
    children = children_of(demo.proc.pid)
    demo.type("q")  # stops the demo, not just the keypad
    assert demo.proc.wait(timeout=20) == 0, demo.output()
    assert [name for pid, name in children.items() if alive(pid)] == []


def test_the_virtual_kiosk_presses_a_priority_groups_button_of_the_demo_kiosk(demo):
    """The demo gives its kiosk a button per priority group: the page presses CT's, then C's."""
    demo.online("kiosk-kiosk1")
    browser = Browser(demo.web)
    page = browser.get("/dev/kiosk/").decode()
    assert all(f'data-group="{code}"' in page for code in ("CT", "KT", "MT", "CC", "TE"))
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert browser.post_json("/dev/kiosk/press", {"service": "C", "group": "CT"}, token)["pressed"] == "g ct c"
    conn = sqlite3.connect(demo.folder / "queuebox.db")
    try:
        wait_for(lambda: conn.execute("SELECT label, priority, priority_group FROM tickets").fetchall()
                 == [("C001", 1, "CT")], 20, lambda: demo.log("kiosk") + demo.log("server"))
    finally:
        conn.close()


def drawn(page: Any, selector: str) -> None:
    """Wait until the picture `selector` is loaded and decoded (polled from here: the page's CSP
    forbids the eval that Playwright's in-page wait_for_function needs)."""
    wait_for(lambda: page.locator(selector).evaluate("img => img.complete && img.naturalWidth > 0"), 10,
             lambda: f"{selector} not drawn")


def test_the_virtual_kiosk_page_in_chromium(demo, page):
    demo.online("kiosk-kiosk1")
    page.goto(f"{demo.web}/dev/kiosk/")
    assert page.locator("h1").inner_text() == "Xin mời chọn lĩnh vực"
    assert page.locator("#dk-empty").is_visible()
    page.click("#dk-priority")
    assert page.get_attribute("#dk-priority", "aria-pressed") == "true"
    page.click("button[data-service=B]")
    page.wait_for_selector("#dk-latest-img[src$='-B001.png']")
    assert page.locator("#dk-status").inner_text() == "Đã in phiếu số B001."
    assert page.get_attribute("#dk-priority", "aria-pressed") == "false"  # one priority ticket per toggle
    page.click("button[data-service=A]")
    page.wait_for_selector("#dk-latest-img[src$='-A001.png']")
    drawn(page, "#dk-latest-img")
    assert page.locator("#dk-latest-caption").inner_text().startswith("A001 · ")
    assert page.locator(".dk-thumb span").all_inner_texts() == ["A001", "B001"]
    page.click(".dk-thumb[data-name$='-B001.png']")  # a thumbnail shows that ticket large
    page.wait_for_selector("#dk-latest-img[src$='-B001.png']")
    page.click(".dk-thumb[data-name$='-A001.png']")
    drawn(page, "#dk-latest-img")
    conn = sqlite3.connect(demo.folder / "queuebox.db")
    try:
        assert conn.execute("SELECT label, priority FROM tickets ORDER BY issued_at").fetchall() == [
            ("B001", 1), ("A001", 0)]
    finally:
        conn.close()
    assert screenshot(page, "devkiosk").stat().st_size > 20_000


def test_a_taken_web_port_is_named_on_the_terminal_before_anything_starts(tmp_path):
    with socket.socket() as other:  # another program on the port the demo wants
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "queuebox.cli", "demo", "--config", str(EXAMPLE), "--dir",
                               str(tmp_path / "demo"), "--web-port", str(port)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1 and time.monotonic() - started < 20
    assert f"port {port} is taken (Address already in use)" in done.stderr and "PORT=8181" in done.stderr
    assert "http://127.0.0.1" not in done.stdout  # no "ready" banner for a demo that cannot run
    assert not (tmp_path / "demo").exists()


def test_nothing_the_demo_writes_can_be_read_by_other_users(demo):
    """Its database holds password hashes, its folder MQTT passwords and the session key."""
    modes = {}
    for path in [demo.folder, *demo.folder.rglob("*")]:
        try:
            modes[path.relative_to(demo.folder).as_posix()] = path.stat().st_mode & 0o777
        except FileNotFoundError:  # a journal that came and went
            continue
    assert {"queuebox.db", "web-secret.key", "mqtt/secrets.toml"} <= set(modes)
    assert modes["."] == 0o700 and modes["web-secret.key"] == 0o600
    # only the broker's conf snippet (paths, no secret) keeps the mode credentials.py gives it
    assert {name: oct(mode) for name, mode in modes.items() if mode & 0o007 and name != "mqtt/mosquitto.conf"} == {}


def test_the_simulated_touch_kiosk_prints_a_ticket_and_opens_a_procedure(demo):
    demo.online("kiosk-touch1")
    tickets = demo.folder / "tickets"

    def touch(text: str) -> None:
        sent = mqtt("mosquitto_pub", demo.broker_port, "server", demo.passwords["server"], "-q", "1",
                    "-t", f"{SITE}/kiosk/touch1/simulate", "-m", text)
        assert sent.returncode == 0, sent.stderr

    wait_for(lambda: (tickets / "touch-screen.png").exists(), 20, lambda: demo.log("touch-kiosk"))
    touch("tile:B")
    printed = wait_for(lambda: list(tickets.glob("*-B*.png")), 20, lambda: demo.log("touch-kiosk"))
    assert len(printed) == 1
    touch("done lookup field:B back back")  # the lookup opened by its buttons and left
    touch("tile:Z")  # no such button: a warning, nothing else
    wait_for(lambda: "nothing called 'tile:Z'" in demo.log("touch-kiosk"), 20, lambda: demo.log("touch-kiosk"))
    log = demo.log("touch-kiosk")
    assert "Traceback" not in log and "nothing called 'field:B'" not in log and "'back'" not in log
    assert len(list(tickets.glob("*-B*.png"))) == 1
