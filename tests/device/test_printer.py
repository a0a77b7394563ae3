"""The escpos printer adapter with escpos's own `Dummy` and `File` connections."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from device.printer import EscposPrinter, PrinterFault, PrinterStatus  # sets escpos's pickle folder first
from device.ticket import SiteText, TicketRenderer, sample_ticket
from escpos.constants import RT_STATUS_ONLINE, RT_STATUS_PAPER
from escpos.printer import Dummy, File, Network, Serial, Usb
from queuebox.config_devices import PrinterConfig
from queuebox.errors import QueueboxError
from tests.device.escpos_job import parse_job, parse_jobs
from tests.device.fakes import AnsweringDummy, BrokenDummy

ROOT = Path(__file__).resolve().parents[2]

URL = "http://queuebox.local:8080/t/Zq3xT0k3n"
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=7)))


@pytest.fixture
def ticket_image(example_config, dejavu):
    renderer = TicketRenderer(dejavu, 576)
    info = sample_ticket(example_config.services[0], MONDAY_9AM, example_config.server.public_url)
    return renderer.render(info, SiteText.from_config(example_config))


def test_a_ticket_job_is_reset_raster_image_native_qr_and_cut(ticket_image, dummy_printer):
    printer = dummy_printer
    job = printer.print_ticket(ticket_image, URL)
    assert printer.connection.output == job.data
    parsed = parse_job(job.data)
    assert parsed.resets == 1 and parsed.cuts == 1
    assert [r.width_bytes for r in parsed.rasters] == [72] * len(parsed.rasters)
    assert sum(r.height for r in parsed.rasters) == ticket_image.height
    assert parsed.qr_data == [URL] and parsed.qr_prints == 1 and parsed.qr_size == 6
    assert parsed.aligns == [1, 0]  # the QR code centred, then back to the left


def test_the_raster_holds_the_ticket_pixels(ticket_image):
    job = EscposPrinter(Dummy(), 576).print_ticket(ticket_image, URL)
    printed = parse_job(job.data).image()
    assert printed.size == ticket_image.size
    assert ImageChops.difference(printed.convert("L"), ticket_image.convert("L")).getbbox() is None


def test_the_native_qr_is_small_and_nothing_is_printed_to_stdout(ticket_image, capsys):
    job = EscposPrinter(Dummy(), 576).print_ticket(ticket_image, URL)
    raster_bytes = sum(len(r.data) + 8 for r in parse_job(job.data).rasters)
    assert len(job.data) - raster_bytes < 120 + len(URL)
    assert capsys.readouterr().out == ""  # escpos warns on stdout when the profile has no paper width


def test_no_qr_without_a_status_url(ticket_image):
    parsed = parse_job(EscposPrinter(Dummy(), 576).print_ticket(ticket_image, "").data)
    assert parsed.qr_data == [] and parsed.cuts == 1


def test_a_58mm_printer_gets_a_smaller_qr_and_refuses_an_80mm_image(ticket_image):
    printer = EscposPrinter(Dummy(), 384)
    with pytest.raises(ValueError, match="576 dots wide"):
        printer.print_ticket(ticket_image, URL)
    narrow = Image.new("1", (384, 100), 1)
    assert parse_job(printer.print_ticket(narrow, URL).data).qr_size == 5


def test_jobs_follow_each_other_on_the_connection(ticket_image):
    printer = EscposPrinter(Dummy(), 576)
    printer.print_ticket(ticket_image, URL + "1")
    printer.print_ticket(ticket_image, URL + "2")
    assert [j.qr_data for j in parse_jobs(printer.connection.output)] == [[URL + "1"], [URL + "2"]]


def test_encode_and_write_times_are_reported(ticket_image):
    job = EscposPrinter(Dummy(), 576).print_ticket(ticket_image, URL)
    assert 0 < job.encode_s < 1 and 0 <= job.write_s < 1


def test_a_file_printer_writes_the_job_to_its_file(tmp_path, ticket_image):
    path = tmp_path / "lp0"
    path.write_bytes(b"")
    printer = EscposPrinter.from_config(PrinterConfig(kind="file", file_path=str(path)))
    job = printer.print_ticket(ticket_image, URL)
    printer.close()
    assert path.read_bytes() == job.data and parse_job(job.data).qr_data == [URL]


def test_a_missing_device_file_is_a_printer_fault(tmp_path, ticket_image):
    printer = EscposPrinter.from_config(PrinterConfig(kind="file", file_path=str(tmp_path / "no" / "lp0")))
    with pytest.raises(PrinterFault) as caught:
        printer.print_ticket(ticket_image, URL)
    assert caught.value.reason == "write_failed"


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), TimeoutError("write timed out"),
                                   AssertionError()])
def test_a_failing_write_is_a_printer_fault(ticket_image, error):
    printer = EscposPrinter(BrokenDummy(error), 576)
    with pytest.raises(PrinterFault) as caught:
        printer.print_ticket(ticket_image, URL)
    assert caught.value.reason == "write_failed" and type(error).__name__ in caught.value.message
    assert isinstance(caught.value, QueueboxError) and isinstance(caught.value, OSError)
    assert caught.value.__cause__ is error


OK, OFFLINE_BIT, NO_PAPER, LOW_PAPER = b"\x12", b"\x1a", b"\x72", b"\x1e"


@pytest.mark.parametrize("online, paper, expected", [
    (OK, OK, PrinterStatus.READY),
    (OK, b"", PrinterStatus.READY),
    (OK, LOW_PAPER, PrinterStatus.PAPER_LOW),
    (OK, NO_PAPER, PrinterStatus.PAPER_OUT),
    (OFFLINE_BIT, OK, PrinterStatus.OFFLINE),
    (b"", OK, PrinterStatus.UNKNOWN),  # a printer that does not answer status queries
    (TimeoutError("timed out"), OK, PrinterStatus.UNKNOWN),
    (OSError(19, "No such device"), OK, PrinterStatus.OFFLINE),
])
def test_status_from_the_printers_answers(online, paper, expected):
    printer = EscposPrinter(AnsweringDummy({RT_STATUS_ONLINE: online, RT_STATUS_PAPER: paper}), 576)
    assert printer.status() is expected
    assert expected.can_print is (expected not in (PrinterStatus.PAPER_OUT, PrinterStatus.OFFLINE))


def test_a_connection_that_cannot_be_read_has_unknown_status_and_prints(tmp_path):
    assert EscposPrinter(Dummy(), 576).status() is PrinterStatus.UNKNOWN
    assert EscposPrinter.from_config(PrinterConfig(kind="file", file_path=str(tmp_path / "lp"))).status() \
        is PrinterStatus.UNKNOWN
    assert PrinterStatus.UNKNOWN.can_print


@pytest.mark.parametrize("config, kind, attributes", [
    (PrinterConfig(kind="usb", usb_vendor=0x0416, usb_product=0x5011, usb_timeout_ms=1500),
     Usb, {"timeout": 1500, "in_ep": 0x81, "out_ep": 0x03, "usb_args": {"idVendor": 0x0416, "idProduct": 0x5011}}),
    (PrinterConfig(kind="serial", serial_device="/dev/ttyS9", serial_baudrate=19200, paper_width_mm=58),
     Serial, {"devfile": "/dev/ttyS9", "baudrate": 19200, "timeout": 2.0}),
    (PrinterConfig(kind="network", host="192.0.2.7", port=9100), Network, {"host": "192.0.2.7", "port": 9100,
                                                                          "timeout": 5.0}),
    (PrinterConfig(kind="file", file_path="/dev/usb/lp7"), File, {"devfile": "/dev/usb/lp7"}),
    (PrinterConfig(kind="dummy", paper_width_mm=58), Dummy, {}),
])
def test_printers_are_built_from_config_without_opening_them(config, kind, attributes):
    printer = EscposPrinter.from_config(config)
    assert type(printer.connection) is kind
    assert {k: getattr(printer.connection, k) for k in attributes} == attributes
    assert printer.connection._device is False  # opened at first use, so a printer plugged in later is found
    width = 576 if config.paper_width_mm == 80 else 384
    assert printer.width_px == width
    assert printer.connection.profile.profile_data["media"]["width"]["pixels"] == width


def test_the_shared_escpos_profile_is_left_alone():
    EscposPrinter(Dummy(), 384)
    assert Dummy().profile.profile_data["media"]["width"]["pixels"] == "Unknown"


@pytest.mark.parametrize("size", [(576, 848), (384, 700), (576, 1500), (576, 960), (16, 1)])
def test_the_raster_is_byte_for_byte_what_escpos_sends(size):
    from device.printer import raster

    image = Image.effect_noise(size, 64).convert("1")  # every bit pattern, not a blank page
    oracle = Dummy()
    oracle.image(image, impl="bitImageRaster", fragment_height=960)
    assert raster(image) == oracle.output


def test_the_raster_of_a_drawn_ticket_is_what_escpos_sends(ticket_image):
    from device.printer import raster

    oracle = Dummy()  # a drawn "1" image stores white as 1, a converted one as 255
    oracle.image(ticket_image, impl="bitImageRaster", fragment_height=960)
    assert raster(ticket_image) == oracle.output


def test_a_greyscale_image_is_left_to_escpos_to_convert(dummy_printer):
    grey = Image.linear_gradient("L").resize((576, 64))
    parsed = parse_job(dummy_printer.print_ticket(grey, URL).data)
    assert [r.height for r in parsed.rasters] == [64] and parsed.qr_data == [URL]


def test_a_dummy_printer_from_config_keeps_only_the_last_job(ticket_image):
    printer = EscposPrinter.from_config(PrinterConfig(kind="dummy"))
    printer.print_ticket(ticket_image, URL + "1")
    job = printer.print_ticket(ticket_image, URL + "2")
    assert printer.connection.output == job.data and parse_job(job.data).qr_data == [URL + "2"]


@pytest.mark.parametrize("silence", [TimeoutError("timed out"), b""])
def test_a_printer_that_does_not_answer_status_is_not_asked_before_every_ticket(silence):
    connection = AnsweringDummy({RT_STATUS_ONLINE: silence, RT_STATUS_PAPER: OK})
    printer = EscposPrinter(connection, 576)
    assert printer.status() is PrinterStatus.UNKNOWN
    connection.answers[RT_STATUS_ONLINE] = OSError(19, "No such device")  # would read as offline if asked
    assert printer.status() is PrinterStatus.UNKNOWN
    assert connection.output.count(RT_STATUS_ONLINE) == 1


def test_why_a_status_query_failed_is_logged_once_per_fault(caplog):
    connection = AnsweringDummy({RT_STATUS_ONLINE: OSError(13, "Access denied (insufficient permissions)"),
                                 RT_STATUS_PAPER: OK})
    printer = EscposPrinter(connection, 576)
    with caplog.at_level("WARNING", logger="device.printer"):
        assert printer.status() is PrinterStatus.OFFLINE
        assert printer.status() is PrinterStatus.OFFLINE
        connection.answers[RT_STATUS_ONLINE] = OK
        assert printer.status() is PrinterStatus.READY
        connection.answers[RT_STATUS_ONLINE] = OSError(13, "Access denied (insufficient permissions)")
        assert printer.status() is PrinterStatus.OFFLINE
    failures = [r.getMessage() for r in caplog.records if "status query failed" in r.getMessage()]
    assert len(failures) == 2 and all("Access denied" in m for m in failures)  # not once per query


def test_escpos_modules_the_kiosk_never_uses_are_imported_only_when_used():
    """qrcode (software QR codes) and yaml (escpos's capabilities file, read only without its
    cache) stand deferred in a fresh process; escpos still draws a software QR when asked."""
    code = ("import sys, device.printer; from escpos.printer import Dummy; "
            "before = [type(sys.modules[m]).__name__ for m in ('qrcode', 'yaml')]; "
            "d = Dummy(); d.qr('http://q.test/t/x', native=False); "
            "print(before, type(sys.modules['qrcode']).__name__, len(d.output) > 100)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    # the last line: escpos prints a warning about the media width first
    assert done.stdout.splitlines()[-1] == "['_DeferredModule', '_DeferredModule'] module True", done.stdout
