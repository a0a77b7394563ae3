"""Configuration: a TOML file read into frozen dataclasses, validated all at once.

Every key is a dataclass field whose metadata carries its help text; `config_keys()` lists
them (name, default, help) so the example file and the docs can be checked against them.
Validation never stops at the first problem: `load_config` collects every finding with its
key path (``services[2].code``) and a did-you-mean, then raises one `ConfigError`.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Literal
from zoneinfo import ZoneInfo

from queuebox.config_check import INVALID, WEEKDAYS, check, convert, join, parse_hours
from queuebox.config_check import config_key as _key
from queuebox.config_devices import DisplayConfig, KeypadConfig, KioskConfig, PrinterConfig
from queuebox.errors import ConfigError

DEFAULT_PATH = "/etc/queuebox/queuebox.toml"
DEFAULT_HUB_PATH = "/etc/queuebox/hub.toml"  # a province hub's own file (scripts/install --roles hub)
SECRET_KEYS = frozenset({"password"})
# Why a citizen was not satisfied, as one-stop centres ask it (Vietnamese, English).
DEFAULT_RATING_REASONS = ({"vi": "Chờ lâu", "en": "Long wait"},
                          {"vi": "Hướng dẫn chưa rõ", "en": "Unclear guidance"},
                          {"vi": "Thái độ phục vụ", "en": "Staff attitude"},
                          {"vi": "Phải bổ sung hồ sơ nhiều lần", "en": "Asked for more documents several times"},
                          {"vi": "Khác", "en": "Other"})


@dataclass(frozen=True)
class SiteConfig:
    id: str = _key("Short id of the centre, used in MQTT topics (lowercase letters, digits, - and _).")
    name: str = _key("Name of the centre, printed on tickets and shown on the board.")
    timezone: str = _key("IANA time zone that decides the business day.", "Asia/Ho_Chi_Minh")
    languages: tuple[str, ...] = _key("Languages shown to citizens, first is the main one: vi, en.", ("vi", "en"))
    hotline: str = _key("Phone number printed on tickets and shown on the board; empty for none.", "")


@dataclass(frozen=True)
class ServiceConfig:
    code: str = _key("Service code: 1 to 3 capital letters, the prefix of its ticket labels.")
    name_vi: str = _key("Vietnamese name of the service field.")
    name_en: str = _key("English name of the service field; empty for none.", "")
    number_start: int = _key("First ticket number of the day.", 1)
    number_end: int = _key("Last ticket number before the labels wrap back to number_start.", 999)
    label_format: str = _key("Python format of the label, with {code} and {number}.", "{code}{number:03d}")
    daily_limit: int = _key("Most tickets issued per day; 0 for no limit.", 0)
    open_days: tuple[str, ...] = _key("Days the service takes tickets: mon … sun.", ("mon", "tue", "wed", "thu", "fri"))
    hours: tuple[str, ...] = _key("Opening hours as HH:MM-HH:MM, local time; empty list for always open.",
                                  ("07:30-11:30", "13:30-17:00"))
    target_wait_min: int = _key("Target waiting time in minutes, for the 'served within target' share.", 15)
    service_min: int = _key("Expected minutes per citizen, used for wait estimates until real times exist.", 10)
    override: Literal["hours", "open", "closed"] = _key(
        "'hours': take tickets by open_days and hours; 'open' or 'closed': now, whatever the hours "
        "(a manager sets it from the web administration).", "hours")

    def is_open(self, local: datetime) -> bool:
        """Whether the service takes tickets at this local (zone-aware or naive local) time."""
        if self.override != "hours":
            return self.override == "open"
        if WEEKDAYS[local.weekday()] not in self.open_days:
            return False
        if not self.hours:
            return True
        now = local.time().replace(tzinfo=None)
        return any(start <= now < end for start, end in map(parse_hours, self.hours))

    def label(self, sequence: int) -> str:
        """The printed label of the day's `sequence`-th ticket (1-based), wrapping at number_end."""
        span = self.number_end - self.number_start + 1
        return self.label_format.format(code=self.code, number=self.number_start + (sequence - 1) % span)


@dataclass(frozen=True)
class CounterConfig:
    id: str = _key("Counter id, used in MQTT topics and URLs (letters, digits, - and _).")
    name: str = _key("Name shown on the board and spoken in calls, e.g. 'Quầy 3'.")
    services: dict[str, int] = _key("Services this counter serves, code = weight; higher weights are served first.")


@dataclass(frozen=True)
class PriorityGroupConfig:
    code: str = _key("Group code: 1 to 4 capital letters or digits, printed on the ticket and shown to clerks.")
    name_vi: str = _key("Vietnamese name of the group, printed on the ticket.")
    name_en: str = _key("English name of the group; empty for none.", "")

    def name(self, lang: str = "vi") -> str:
        """The group's name in `lang` (vi or en); the Vietnamese one when there is no English one."""
        return self.name_en if lang == "en" and self.name_en else self.name_vi


# The groups Vietnamese rules usually give priority to (Law on the Elderly, Law on Persons with
# Disabilities, the one-stop rules); used when the file has no [[priority_groups]].
DEFAULT_PRIORITY_GROUPS = (
    PriorityGroupConfig("CT", "Người cao tuổi", "Elderly"),
    PriorityGroupConfig("KT", "Người khuyết tật", "Person with a disability"),
    PriorityGroupConfig("MT", "Phụ nữ mang thai", "Pregnant woman"),
    PriorityGroupConfig("CC", "Người có công với cách mạng", "Person with meritorious service to the revolution"),
    PriorityGroupConfig("TE", "Người đi cùng trẻ em dưới 6 tuổi", "Accompanying a child under 6"),
)


@dataclass(frozen=True)
class QueueConfig:
    priority: Literal["strict", "interleave"] = _key(
        "Priority tickets (elderly, disabled, pregnant): 'strict' serves them first, "
        "'interleave' serves one after every interleave_every normal tickets.", "interleave")
    interleave_every: int = _key("With priority = 'interleave': normal tickets called between two priority ones.", 3)
    elderly_group: str = _key("The code of the priority group of the elderly (one of priority_groups), given to a "
                              "citizen whose ID card shows elderly_age or more; \"\" for none.", "CT")
    elderly_age: int = _key("Age from which a citizen is elderly: 60 by the Law on the Elderly (some provinces use "
                            "75); 50 to 100.", 60)
    transfer_position: Literal["keep", "first"] = _key(
        "A transferred ticket 'keep's its place by original issue time, or goes 'first' in the new service.", "keep")
    no_show_min_calls: int = _key("Calls (first call plus recalls) before a clerk may mark a ticket no-show.", 2)
    no_show_rejoin_min: int = _key("Minutes during which a no-show ticket can still be called back by its label.", 30)
    rating_window_s: int = _key("Seconds after 'done' during which the citizen's rating of that ticket is accepted.", 60)
    rating_reasons: tuple[dict[str, str], ...] = _key(
        "Reasons a citizen who rated 3 (neutral) or 4 (dissatisfied) may choose, in the order the rating tablet "
        "shows them: { vi = \"…\", en = \"…\" } each, at most 8, each text at most 60 characters, Vietnamese "
        "required and unique. A reason is recorded as its Vietnamese text; [] asks none.", DEFAULT_RATING_REASONS)

    def reason_texts(self) -> tuple[str, ...]:
        """The Vietnamese texts of `rating_reasons` (NFC), as ratings record them."""
        return tuple(unicodedata.normalize("NFC", r["vi"]) for r in self.rating_reasons)


@dataclass(frozen=True)
class DatabaseConfig:
    path: str = _key("SQLite database file; its folder must be writable.", "/var/lib/queuebox/queuebox.db")


@dataclass(frozen=True)
class MqttConfig:
    host: str = _key("Host name or address of the Mosquitto broker.", "localhost")
    port: int = _key("Broker port.", 1883)
    root: str = _key("Topic root; topics are <root>/<site id>/…", "queuebox")
    username: str = _key("MQTT user name of this device; empty for none.", "")
    password: str = _key("MQTT password of this device (secret, never logged).", "")
    tls: bool = _key("Connect with TLS.", False)
    ca_file: str = _key("With tls: CA certificate file; empty for the system store.", "")
    broker_certfile: str = _key("On the broker's Pi, for `queuebox mqtt-credentials`: the broker's TLS certificate "
                                "(PEM); set with broker_keyfile, the listener then speaks TLS only. Empty: plain TCP.", "")
    broker_keyfile: str = _key("The private key (PEM) of broker_certfile, readable by user mosquitto.", "")
    keepalive_s: int = _key("Seconds between keep-alive pings.", 30)


@dataclass(frozen=True)
class ServerConfig:
    listen: str = _key("Address the web server listens on.", "0.0.0.0")
    port: int = _key("Port of the web server.", 8080)
    public_url: str = _key("Base URL citizens' phones use for ticket status (the QR code) and the procedure "
                           "lookup (<public_url>/procedures).", "http://queuebox.local:8080")
    threads: int = _key("Web worker threads for ordinary requests (live pages have threads of their own, "
                        "see live_streams); each request takes a few milliseconds.", 16)
    connection_limit: int = _key("Open connections each web listener keeps; at the limit it closes the oldest ones "
                                 "that have no request being served, rather than stop accepting.", 2000)
    request_timeout_s: float = _key("Seconds a client has to send a whole request (headers and body) once it "
                                    "began, or its first one after connecting; then the connection is closed.", 10.0)
    live_streams: int = _key("Live pages (counter consoles, rating tablets, overviews) open at once, each on a "
                             "thread of its own; more are refused (429). Allow two per counter plus the overviews.",
                             120)
    streams_per_user: int = _key("Live pages one staff account or one paired tablet may hold open at once.", 8)
    streams_per_address: int = _key("Live pages one client address may hold open at once (this machine's own "
                                    "loopback addresses are not counted).", 24)
    public_listen: str = _key("Address of a second web listener for citizens' phones that serves only the public "
                              "pages (ticket status, procedure lookup), with its own workers; \"\" for none (one listener serves "
                              "everything). Set server.listen to the staff network's address, and public_url to "
                              "this listener.", "")
    public_port: int = _key("Port of the public listener (when public_listen is set).", 8081)
    secure_cookies: bool = _key("Send login cookies only over HTTPS (set true when a TLS proxy is in front).", False)
    login_attempts: int = _key("Failed logins in a row for one account from one address (REMOTE_ADDR) after which "
                               "that address may not try that account for lockout_min minutes; others still may.", 5)
    lockout_min: int = _key("Minutes an address (or an account locked by account_attempts) waits before it may "
                            "try again; also the window over which address_attempts counts.", 15)
    address_attempts: int = _key("Failed logins from one address, over all accounts, within lockout_min minutes after "
                                 "which that address may not log in for lockout_min minutes.", 20)
    account_attempts: int = _key("Failed logins in a row for one account, from all addresses together, after which the "
                                 "account itself is locked for lockout_min minutes (an admin may unlock it sooner on "
                                 "/admin/users).", 100)
    secret_key_file: str = _key("File holding the key that signs web sessions (made, mode 0600, when missing); "
                                "empty for web-secret.key beside the database file. Never in the database or backups.",
                                "")
    session_hours: int = _key("Hours a web login lasts before it must be made again.", 12)
    voice_dir: str = _key("Folder of the recorded voice pack the administration imports and the displays download; "
                          "empty for voice/ beside the database file.", "")


@dataclass(frozen=True)
class DevicesConfig:
    kiosks: tuple[str, ...] = _key("Ids of the ticket kiosks; each gets the MQTT account kiosk-<id>.", ("kiosk1",))
    displays: tuple[str, ...] = _key("Ids of the waiting-room displays; each gets the MQTT account display-<id>.",
                                     ("display1",))


@dataclass(frozen=True)
class UplinkConfig:
    host: str = _key("The province hub's MQTT broker; empty: no uplink (queuebox uplink refuses to start).", "")
    port: int = _key("Port of the hub broker (8883 is usual with TLS).", 8883)
    tls: bool = _key("Connect to the hub broker with TLS.", True)
    ca_file: str = _key("With tls: the province's CA certificate (PEM); empty for the system store.", "")
    root: str = _key("Topic root on the hub broker; this centre's topics are <root>/centre/<site id>/…", "province")
    username: str = _key("This centre's account on the hub broker (the province gives it: centre-<site id>).", "")
    password: str = _key("Its password (secret, never logged).", "")
    batch_size: int = _key("Events per batch at most (a batch is also kept under 64 KiB compressed).", 500)
    max_events_per_s: int = _key("Events sent per second at most while a backlog drains.", 5000)
    window: int = _key("Batches sent ahead of the hub's acknowledgement.", 4)
    ack_timeout_s: float = _key("Seconds without an acknowledgement after which the unacknowledged events are sent again.",
                                30.0)
    poll_s: float = _key("Seconds between two looks at the database for new events and changed live figures.", 0.2)


@dataclass(frozen=True)
class HubConfig:
    database: str = _key("PostgreSQL connection string of the hub (libpq keywords or a postgresql:// URL).",
                         "dbname=queuebox_hub")
    host: str = _key("The hub's MQTT v5 broker.", "localhost")
    port: int = _key("Its port.", 1883)
    tls: bool = _key("Connect with TLS.", False)
    ca_file: str = _key("With tls: CA certificate file; empty for the system store.", "")
    root: str = _key("Topic root of the centres' topics (the centres' uplink.root).", "province")
    username: str = _key("The hub's account on the broker; hub processes share the batches (a shared subscription), "
                         "each with an account of its own (`queuebox hub-credentials --hub NAME`).", "hub")
    password: str = _key("Its password (secret, never logged).", "")
    client_id: str = _key("This hub process's MQTT client id; empty: hub-<host name>-<process id>.", "")
    broker_certfile: str = _key("For `queuebox hub-credentials`: the hub broker's TLS certificate (PEM); set with "
                                "broker_keyfile, its listener on `port` then speaks TLS only. Empty: plain TCP.", "")
    broker_keyfile: str = _key("The private key (PEM) of broker_certfile, readable by user mosquitto.", "")
    web_listen: str = _key("Address the province dashboard (queuebox hub-web) listens on; its limits, login throttle "
                           "and session length are the [server] keys'.", "0.0.0.0")
    web_port: int = _key("Port of the province dashboard.", 8090)
    web_secret_key_file: str = _key("File holding the key that signs dashboard sessions (made, mode 0600, when missing).",
                                    "/var/lib/queuebox/hub-web-secret.key")


@dataclass(frozen=True)
class Config:
    site: SiteConfig = _key("The centre.")
    services: tuple[ServiceConfig, ...] = _key(
        "Service fields ([[services]] tables): the server's; a display or kiosk Pi may leave them out "
        "(it takes them from the server).", ())
    counters: tuple[CounterConfig, ...] = _key(
        "Counters ([[counters]] tables): the server's; a device Pi may leave them out.", ())
    priority_groups: tuple[PriorityGroupConfig, ...] = _key(
        "Priority groups ([[priority_groups]] tables), in the order kiosks and pages list them. A priority "
        "ticket may carry one; every group is served by the same queue.priority policy. Left out: the five "
        "of the example file, CT Người cao tuổi, KT Người khuyết tật, MT Phụ nữ mang thai, CC Người có công với "
        "cách mạng, TE Người đi cùng trẻ em dưới 6 tuổi.", DEFAULT_PRIORITY_GROUPS)
    queue: QueueConfig = _key("Queue policy.", QueueConfig())
    database: DatabaseConfig = _key("Storage.", DatabaseConfig())
    mqtt: MqttConfig = _key("Connection to the MQTT broker.", MqttConfig())
    server: ServerConfig = _key("Web server.", ServerConfig())
    devices: DevicesConfig = _key("Kiosks and displays, for their MQTT accounts.", DevicesConfig())
    kiosk: KioskConfig = _key("This kiosk's buttons, LEDs and timing (on a kiosk Pi).", KioskConfig())
    printer: PrinterConfig = _key("This kiosk's thermal printer.", PrinterConfig())
    display: DisplayConfig = _key("This waiting-room display (on a display Pi).", DisplayConfig())
    keypad: KeypadConfig = _key("A counter keypad's buttons, LEDs and timing (on the Pi it is wired to).",
                                KeypadConfig())
    uplink: UplinkConfig = _key("The link of this centre to the province hub (queuebox uplink).", UplinkConfig())
    hub: HubConfig = _key("The province hub (queuebox hub), on the province's server.", HubConfig())

    def service(self, code: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.code == code), None)

    def counter(self, counter_id: str) -> CounterConfig | None:
        return next((c for c in self.counters if c.id == counter_id), None)

    def priority_group(self, code: str | None) -> PriorityGroupConfig | None:
        return next((g for g in self.priority_groups if g.code == code), None) if code else None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)


# --- loading -------------------------------------------------------------------------

# A province hub serves no centre: its file needs no [site] id or name, these stand in.
HUB_SITE = {"id": "hub", "name": "Province hub"}
HUB_REQUIRED = {"database": "the PostgreSQL connection string, e.g. \"dbname=queuebox_hub\""}


def load_config(path: str | Path, *, hub: bool = False) -> Config:
    """Read and validate a TOML file; raises ConfigError listing every problem. With `hub`, the
    file is a province hub's (see `config_from_dict`)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"file not found: {path}"], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read {path}: {exc}"], str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(path)) from None
    return config_from_dict(raw, source=str(path), hub=hub)


def config_from_dict(raw: dict[str, Any], source: str = "configuration", *, hub: bool = False) -> Config:
    """Build a Config from parsed TOML; raises ConfigError listing every problem.

    With `hub`, the file is a province hub's: it needs a [hub] table with the keys of
    HUB_REQUIRED, and [site] may be left out or hold only what the dashboard uses (timezone,
    languages): HUB_SITE stands in for the centre's id and name. Everything else is checked
    as for a centre."""
    problems: list[str] = []
    if hub:
        raw = _as_hub(raw, problems)
    config = convert(Config, raw, "", problems)
    if config is not INVALID:
        problems.extend(check(config))
    if problems:
        raise ConfigError(problems, source)
    return config


def _as_hub(raw: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    section = raw.get("hub")
    if section is None:
        problems.append("hub: a province hub's configuration needs its [hub] table (see config/hub.example.toml)")
    elif isinstance(section, dict):
        problems.extend(f"hub.{key}: required in a province hub's configuration: {what}"
                        for key, what in HUB_REQUIRED.items() if key not in section)
    site = raw.get("site", {})
    return {**raw, "site": {**HUB_SITE, **site}} if isinstance(site, dict) else raw


# --- documentation and display -----------------------------------------------------

def config_keys(tp: type = Config, prefix: str = "") -> Iterator[tuple[str, Any, str]]:
    """Every leaf key as (dotted path, default or MISSING, help); list tables use `name[]`."""
    hints = typing.get_type_hints(tp)
    for f in dataclasses.fields(tp):
        path = join(prefix, f.name)
        inner = hints[f.name]
        if typing.get_origin(inner) is tuple and dataclasses.is_dataclass(typing.get_args(inner)[0]):
            yield from config_keys(typing.get_args(inner)[0], path + "[]")
        elif dataclasses.is_dataclass(inner):
            yield from config_keys(inner, path)
        else:
            yield path, f.default, f.metadata["help"]


def redacted(config: Config) -> dict[str, Any]:
    """The config as a plain dict with secrets replaced, safe to print or log."""
    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("********" if k in SECRET_KEYS and v else scrub(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [scrub(v) for v in value]
        return value
    return scrub(dataclasses.asdict(config))


def _toml_string(text: str) -> str:
    # JSON string escapes are valid TOML, but JSON leaves DEL raw and TOML forbids it
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def to_toml(config: Config) -> str:
    """The config as TOML text that `load_config` reads back to an equal Config."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return _toml_string(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_toml_string(k)} = {value(x)}" for k, x in v.items()) + " }"
        raise TypeError(f"cannot write {v!r} as TOML")

    def table(header: str, obj: Any) -> str:
        lines = [header] + [f"{f.name} = {value(getattr(obj, f.name))}" for f in dataclasses.fields(obj)]
        return "\n".join(lines) + "\n"

    parts = []
    for f in dataclasses.fields(config):
        section = getattr(config, f.name)
        if isinstance(section, tuple):
            parts.extend(table(f"[[{f.name}]]", item) for item in section)
        else:
            parts.append(table(f"[{f.name}]", section))
    return "\n".join(parts)
