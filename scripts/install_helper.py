#!/usr/bin/env python3
"""What scripts/install asks of the configuration, with the standard library only (tomllib):
it runs before the venv exists, with the system's python3 (3.11 or newer).

    install_helper.py get CONFIG KEY.PATH            print a value (e.g. server.port)
    install_helper.py account ROLE CONFIG            the MQTT account of a role: server, kiosk-<id> …
    install_helper.py password SECRETS ACCOUNT       print an account's password from secrets.toml
    install_helper.py with-account CONFIG ACCOUNT PASSWORD [--header TEXT]
                                                     print CONFIG with [mqtt] username/password set
    install_helper.py udev-printer CONFIG            print the printer's udev rule (usb printers only)
    install_helper.py stage CHECKOUT DEST            copy what pip needs to build queuebox into DEST
    install_helper.py stamp DIR [EXTRA …]            print a digest of DIR's files (and EXTRA words)
    install_helper.py web-urls CONFIG [ADDRESS …]    print the web console's URLs
    install_helper.py with-listeners CONFIG STAFF PUBLIC
                                                     print CONFIG with the web's staff and public
                                                     listeners set (PUBLIC "" for one listener)
    install_helper.py with-keys CONFIG TABLE KEY=TEXT|KEY:=JSON… [--header TEXT]
                                                     print CONFIG with keys of [TABLE] set
                                                     (KEY:=JSON for numbers and true/false)
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

PACKAGES = ("queuebox", "server", "device", "display")
BUILD_FILES = ("pyproject.toml", "README.md")
_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(#.*)?$")
_TABLES = re.compile(r"^\s*\[")


class HelperError(Exception):
    """A problem the installer reports as it is."""


def load(path: str | Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise HelperError(f"cannot read {path}: {exc}") from None


def get(config: dict[str, Any], key: str, default: Any = None) -> Any:
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def account(role: str, config: dict[str, Any]) -> str:
    """The MQTT account a role's process uses (server/credentials.py names them)."""
    if role == "server":
        return "server"
    if role == "kiosk":
        return f"kiosk-{get(config, 'kiosk.id', 'kiosk1')}"
    if role == "display":
        return f"display-{get(config, 'display.id', 'display1')}"
    if role == "keypad":
        return f"counter-{get(config, 'keypad.counter', '1')}"
    raise HelperError(f"unknown role {role!r}")


def password(secrets_path: str | Path, name: str) -> str:
    passwords = load(secrets_path).get("passwords", {})
    if name not in passwords:
        raise HelperError(f"{secrets_path} has no password for {name!r} (is it in devices.kiosks, "
                          "devices.displays or counters of the server's config?)")
    return str(passwords[name])


def with_keys(text: str, table: str, values: dict[str, Any], header: str = "") -> str:
    """`text` (a TOML config) with the keys of `values` set in ``[table]`` (added if missing),
    comments and everything else kept as they are; `header` becomes comment lines on top.
    Checked by parsing: only those values change, else HelperError."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if (m := _HEADER.match(line)) and m.group(1) == table), None)
    if start is None:
        lines += ["\n", f"[{table}]\n"]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if _TABLES.match(lines[i])), len(lines))
    missing = dict(values)
    for i in range(start + 1, end):
        m = re.match(r"^(\s*)([A-Za-z0-9_]+)(\s*)=", lines[i])
        if m and m.group(2) in missing:
            lines[i] = f"{m.group(1)}{m.group(2)}{m.group(3)}= {json.dumps(missing.pop(m.group(2)))}\n"
    lines[start + 1:start + 1] = [f"{key} = {json.dumps(value)}\n" for key, value in missing.items()]
    if header:
        lines = [f"# {line}\n" if line else "#\n" for line in header.splitlines()] + lines
    result = "".join(lines)
    expected = tomllib.loads(text)
    expected.setdefault(table, {}).update(values)
    if tomllib.loads(result) != expected:
        raise HelperError(f"could not set {', '.join(values)} of [{table}] in the config without changing something else")
    return result


def key_values(pairs: list[str]) -> dict[str, Any]:
    """``key=text`` (a string) and ``key:=json`` (a number, true, false) pairs as a dict."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key.endswith(":"):
            values[key[:-1]] = json.loads(value)
        else:
            values[key] = value
    return values


def with_account(text: str, username: str, secret: str, header: str = "") -> str:
    """`text` (a TOML config) with ``[mqtt] username`` and ``password`` set (see `with_keys`)."""
    return with_keys(text, "mqtt", {"username": username, "password": secret}, header)


def udev_printer(config: dict[str, Any]) -> str:
    """A udev rule giving the configured USB printer to group lp (mode 0660); '' for other kinds."""
    if get(config, "printer.kind", "usb") != "usb":
        return ""
    vendor, product = get(config, "printer.usb_vendor", 0x0416), get(config, "printer.usb_product", 0x5011)
    if not all(isinstance(v, int) and 0 <= v <= 0xFFFF for v in (vendor, product)):
        raise HelperError("printer.usb_vendor and printer.usb_product must be numbers like 0x0416")
    return ("# The kiosk's USB thermal printer (printer.usb_vendor/usb_product of the config), for group lp:\n"
            "# the queuebox-kiosk service has lp among its SupplementaryGroups. Written by scripts/install.\n"
            f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{vendor:04x}", ATTRS{{idProduct}}=="{product:04x}", '
            'GROUP="lp", MODE="0660"\n')


def stage(checkout: Path, dest: Path) -> None:
    """Copy the files a build of queuebox needs (no .venv, var/, caches) into `dest`, replacing it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in BUILD_FILES:
        shutil.copy2(checkout / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in PACKAGES:
        shutil.copytree(checkout / package, dest / package, ignore=ignore)


def stamp(folder: Path, extra: list[str]) -> str:
    """A digest of every file's path and bytes under `folder`, and of `extra` words."""
    digest = hashlib.sha256("\0".join(extra).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def web_urls(config: dict[str, Any], addresses: list[str]) -> list[str]:
    port = get(config, "server.port", 8080)
    listen = get(config, "server.listen", "0.0.0.0")
    hosts = [a for a in addresses if ":" not in a] if listen in ("0.0.0.0", "::", "") else [listen]
    urls = [f"http://{host}:{port}/" for host in hosts or ["localhost"]]
    public = get(config, "server.public_listen", "")
    if public:
        urls.append(f"public pages only (ticket status): http://{public}:{get(config, 'server.public_port', 8081)}/")
    return urls


def with_listeners(text: str, staff: str, public: str) -> str:
    """`text` (a TOML config) with ``[server] listen`` = `staff` and ``public_listen`` =
    `public` ("" for none); with a public address, ``public_url`` points the tickets' QR codes
    at the public listener. Comments and everything else are kept (see `with_keys`)."""
    values: dict[str, Any] = {"listen": staff, "public_listen": public}
    if public and public not in ("0.0.0.0", "::"):
        values["public_url"] = f"http://{public}:{get(tomllib.loads(text), 'server.public_port', 8081)}"
    return with_keys(text, "server", values)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, args = argv[0], argv[1:]
    try:
        if command == "get":
            value = get(load(args[0]), args[1])
            print("" if value is None else value if not isinstance(value, bool) else str(value).lower())
        elif command == "account":
            print(account(args[0], load(args[1])))
        elif command == "password":
            print(password(args[0], args[1]))
        elif command == "with-account":
            header = args[args.index("--header") + 1] if "--header" in args else ""
            sys.stdout.write(with_account(Path(args[0]).read_text(encoding="utf-8"), args[1], args[2], header))
        elif command == "with-keys":
            header = args[args.index("--header") + 1] if "--header" in args else ""
            pairs = [a for a in args[2:] if "=" in a and a != header]
            sys.stdout.write(with_keys(Path(args[0]).read_text(encoding="utf-8"), args[1], key_values(pairs), header))
        elif command == "udev-printer":
            sys.stdout.write(udev_printer(load(args[0])))
        elif command == "stage":
            stage(Path(args[0]), Path(args[1]))
        elif command == "stamp":
            print(stamp(Path(args[0]), args[1:]))
        elif command == "web-urls":
            print("\n".join(web_urls(load(args[0]), args[1:])))
        elif command == "with-listeners":
            sys.stdout.write(with_listeners(Path(args[0]).read_text(encoding="utf-8"), args[1], args[2]))
        else:
            raise HelperError(f"unknown command {command!r}")
    except HelperError as exc:
        print(f"install: {exc}", file=sys.stderr)
        return 1
    except IndexError:
        print(f"install_helper.py {command}: missing arguments (see --help)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
