"""The simulated kiosk's slow printer (`queuebox kiosk --simulate --print-delay S`) and the
repair of a cut escpos capabilities cache (device/printer.py `_import_escpos`)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from device.main import SlowPrinter
from device.printer import PrinterStatus

ROOT = Path(__file__).resolve().parents[2]


def test_the_slow_printer_takes_its_time_then_prints_on_the_real_one(dummy_printer):
    slow = SlowPrinter(dummy_printer, 0.2)
    image = Image.new("1", (576, 100), 1)
    start = time.monotonic()
    job = slow.print_ticket(image, "http://example.test/t/abc")
    assert time.monotonic() - start >= 0.2
    assert job.data == dummy_printer.connection.output and b"/t/abc" in job.data
    assert slow.width_px == 576 and slow.status() is dummy_printer.status() is PrinterStatus.UNKNOWN


def test_the_option_is_in_the_command_help():
    from queuebox.cli import build_parser

    args = build_parser().parse_args(["kiosk", "--simulate", "--print-delay", "0.5"])
    assert args.print_delay == 0.5
    assert build_parser().parse_args(["kiosk", "--simulate"]).print_delay == 0.0


def _import_printer(cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-c", "import device.printer"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_cut_capabilities_cache_is_made_again(tmp_path):
    # a kiosk killed while escpos wrote its cache on the first start, or two starting at once
    assert _import_printer(tmp_path).returncode == 0
    pickle = tmp_path / f"{platform.python_version()}.capabilities.pickle"
    whole = pickle.read_bytes()
    pickle.write_bytes(whole[:100])
    os.utime(pickle, (time.time() + 5, time.time() + 5))  # newer than escpos's json: escpos reads it
    done = _import_printer(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cannot be read" in done.stderr
    assert pickle.read_bytes() == whole
    assert _import_printer(tmp_path).stderr == ""
