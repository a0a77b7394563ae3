"""Thermal printers: the `TicketPrinter` interface and its python-escpos implementation.

A ticket is one print job: ``ESC @`` (reset), the ticket image as a ``GS v 0`` raster,
the status URL as a native QR code (``GS ( k``: the printer draws it, 63 bytes instead of a
3 KB raster), feed and cut. The job is encoded in memory first (an escpos `Dummy` with the
paper's profile) and then written to the printer in one write, so a USB write has one
timeout and the encoding time can be measured apart. The raster of a 1-bit ticket is made
here (`raster`), byte for byte what escpos would send, twenty times faster.

Status (``DLE EOT``) is read where the connection can answer (usb, serial, network): an
empty or timed-out answer means the printer does not report status (`UNKNOWN`, printing
goes on); a printer that cannot be reached at all is `OFFLINE`. `Dummy` and `File`
connections cannot be read: `UNKNOWN`.

Every error of python-escpos, pyusb, pyserial or the socket is translated here into
`PrinterFault`, so the kiosk handles one exception.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import logging
import os
import pickle
import platform
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from queuebox.config_devices import PrinterConfig
from queuebox.errors import QueueboxError

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

SILENT_RECHECK_S = 600.0  # a printer that did not answer a status query is asked again after this
NETWORK_TIMEOUT_S = 5.0  # connect, write and status read of a network printer
SERIAL_TIMEOUT_S = 2.0  # write and status read of a serial printer
DPI = 203
FRAGMENT_ROWS = 960  # rows per raster command, as python-escpos splits images (some printers limit it)
_INVERT = [255] * 128 + [0] * 128


def _capabilities_dir() -> str:
    """A folder of this user for escpos's pickled printer profiles, which it loads at import
    (a pickle: never from a folder others can write). Without one, escpos makes a new
    temporary folder at every import and leaves it behind."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "queuebox" / "escpos"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
        if info.st_uid == os.getuid() and not info.st_mode & 0o022 and os.access(folder, os.W_OK):
            return str(folder)
    except OSError:
        pass
    return tempfile.mkdtemp(prefix="queuebox-escpos-")


# Modules escpos imports at the top but the kiosk never uses: qrcode draws QR codes in software
# (the kiosk sends the printer's native QR command) and yaml reads the capabilities file only
# when their cache is missing. Imported on first use instead, they leave ~3 MB out of a 40 MB
# kiosk. (importlib.util.LazyLoader does not help: in Python 3.11 the next `import` statement
# of the module runs it.)
DEFERRED_MODULES = ("qrcode", "yaml")


class _DeferredModule(types.ModuleType):
    """Stands in sys.modules for a module until something asks it for an attribute: then the
    real module is imported, takes its place, and answers."""

    def __getattr__(self, attribute: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


def _defer(name: str) -> None:
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _DeferredModule(name)


def _import_escpos() -> None:
    """Import escpos. It writes its capabilities cache in place, unlocked, on the first import:
    a process killed meanwhile, or a second one importing at the same moment, leaves a cut file
    that would make every later import fail (EOFError) until someone removed it. A cache that
    cannot be read is removed and made again."""
    for name in DEFERRED_MODULES:
        _defer(name)
    for _ in range(3):
        try:
            importlib.import_module("escpos.capabilities")
            return
        except (EOFError, pickle.UnpicklingError) as exc:
            folder = Path(os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"])
            cache = folder / f"{platform.python_version()}.capabilities.pickle"  # escpos's own name for it
            logger.warning("escpos's capabilities cache %s cannot be read (%s: %s): making it again", cache,
                           type(exc).__name__, exc)
            cache.unlink(missing_ok=True)
    importlib.import_module("escpos.capabilities")  # the last try raises what is wrong


if not os.environ.get("ESCPOS_CAPABILITIES_PICKLE_DIR"):
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = _capabilities_dir()
_import_escpos()

from escpos import printer as escpos_printer  # noqa: E402 - after the variable above
from escpos.constants import (QR_ECLEVEL_M, RT_MASK_LOWPAPER, RT_MASK_NOPAPER, RT_MASK_ONLINE,  # noqa: E402
                              RT_STATUS_ONLINE, RT_STATUS_PAPER)
from escpos.escpos import Escpos  # noqa: E402


class PrinterFault(QueueboxError, OSError):
    """The printer cannot print now; `reason` is paper_out, offline or write_failed."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


class PrinterStatus(enum.Enum):
    """What the printer said about itself before a ticket."""
    READY = "ready"
    PAPER_LOW = "paper_low"  # still prints; the roll is near its end
    PAPER_OUT = "paper_out"
    OFFLINE = "offline"  # cover open, error, unplugged or not answering at all
    UNKNOWN = "unknown"  # the connection cannot report status (dummy, file, or a silent printer)

    @property
    def can_print(self) -> bool:
        return self not in (PrinterStatus.PAPER_OUT, PrinterStatus.OFFLINE)


@dataclass(frozen=True)
class PrintJob:
    """One printed ticket: the bytes sent, seconds spent encoding them and writing them."""
    data: bytes
    encode_s: float
    write_s: float


class TicketPrinter(Protocol):
    """A printer the kiosk can print tickets on."""
    width_px: int

    def status(self) -> PrinterStatus:
        """Ask the printer how it is; never raises."""

    def print_ticket(self, image: Image.Image, qr_text: str) -> PrintJob:
        """Print `image` then a QR code of `qr_text` (none if empty), then cut; PrinterFault if it cannot."""

    def close(self) -> None:
        """Release the connection."""


class EscposPrinter:
    """A `TicketPrinter` on a python-escpos connection (`Usb`, `Serial`, `Network`, `File`, `Dummy`)."""

    def __init__(self, connection: Escpos, width_px: int, *, qr_size: int | None = None,
                 keep_dummy_output: bool = True) -> None:
        """`keep_dummy_output`: a `Dummy` connection keeps every job in `output` (for tests);
        false, it holds only the last one, so a kiosk without a printer does not grow."""
        self.connection = connection
        self.width_px = width_px
        self.keep_dummy_output = keep_dummy_output
        self._silent_until = -float("inf")  # status queries skipped until then (the printer did not answer)
        self._last_failure: str | None = None  # why the last status query failed, logged once
        self.qr_size = qr_size or (6 if width_px >= 576 else 5)  # module size in dots: ~2-3 cm codes
        _set_media(connection, width_px)
        self._encoder = escpos_printer.Dummy()
        _set_media(self._encoder, width_px)

    @classmethod
    def from_config(cls, config: PrinterConfig) -> EscposPrinter:
        """The printer `config.kind` describes. Nothing is opened yet: the connection opens at
        the first status query or ticket, so a printer plugged in later is found then."""
        width = 576 if config.paper_width_mm == 80 else 384
        kind = config.kind
        if kind == "usb":
            connection: Escpos = escpos_printer.Usb(config.usb_vendor, config.usb_product, timeout=config.usb_timeout_ms,
                                                    in_ep=config.usb_in_ep, out_ep=config.usb_out_ep)
        elif kind == "serial":
            connection = escpos_printer.Serial(devfile=config.serial_device, baudrate=config.serial_baudrate,
                                               timeout=SERIAL_TIMEOUT_S)
        elif kind == "network":
            connection = escpos_printer.Network(config.host, port=config.port, timeout=NETWORK_TIMEOUT_S)
        elif kind == "file":
            connection = escpos_printer.File(config.file_path)
        elif kind == "dummy":
            return cls(escpos_printer.Dummy(), width, keep_dummy_output=False)
        else:  # config validation allows only the kinds above
            raise ValueError(f"unknown printer kind {kind!r}")
        return cls(connection, width)

    def encode(self, image: Image.Image, qr_text: str) -> bytes:
        """The job's bytes: reset, the image as a raster, the QR code natively, feed and cut."""
        e = self._encoder
        e.clear()
        e.hw("INIT")
        if image.mode == "1":
            e._raw(raster(image))
        else:
            e.image(image, impl="bitImageRaster", fragment_height=FRAGMENT_ROWS)
        if qr_text:
            e.set(align="center")
            e.qr(qr_text, native=True, size=self.qr_size, ec=QR_ECLEVEL_M)
            e.set(align="left")
        e.cut()
        return e.output

    def print_ticket(self, image: Image.Image, qr_text: str) -> PrintJob:
        if image.width > self.width_px:
            raise ValueError(f"the ticket is {image.width} dots wide, the paper {self.width_px}")
        start = time.perf_counter()
        data = self.encode(image, qr_text)
        encoded = time.perf_counter()
        if not self.keep_dummy_output and isinstance(self.connection, escpos_printer.Dummy):
            self.connection.clear()
        try:
            # `_raw` is escpos's one write primitive (each connection implements it); the job
            # goes out in one write so a USB timeout covers the whole ticket.
            self.connection._raw(data)
            flush = getattr(self.connection, "flush", None)
            if flush is not None:
                flush()
        except Exception as exc:  # noqa: BLE001 - the adapter's edge: any failure to write is a fault
            self._reset_connection()
            raise PrinterFault("write_failed", f"writing to the printer failed: {_describe(exc)}") from exc
        return PrintJob(data, encoded - start, time.perf_counter() - encoded)

    def status(self) -> PrinterStatus:
        """A printer that does not answer status queries (a read times out, or nothing
        comes) is not asked again for SILENT_RECHECK_S: each query would wait for the read
        timeout (pyusb: 1 s) before every ticket."""
        if time.monotonic() < self._silent_until:
            return PrinterStatus.UNKNOWN
        try:
            online = self.connection.query_status(RT_STATUS_ONLINE)
            if not online:
                self._silent_until = time.monotonic() + SILENT_RECHECK_S
                return PrinterStatus.UNKNOWN
            if online[0] & RT_MASK_ONLINE:
                return PrinterStatus.OFFLINE
            paper = self.connection.query_status(RT_STATUS_PAPER)
        except NotImplementedError:  # Dummy, File: nothing to read from
            return PrinterStatus.UNKNOWN
        except Exception as exc:  # noqa: BLE001 - the adapter's edge
            if _is_timeout(exc):  # reachable, but it does not answer status queries
                logger.info("the printer does not answer status queries; printing without them")
                self._silent_until = time.monotonic() + SILENT_RECHECK_S
                return PrinterStatus.UNKNOWN
            reason = _describe(exc)
            if reason != self._last_failure:  # once per fault: a missing libusb or permission is not a pulled cable
                logger.warning("printer status query failed: %s", reason)
            self._last_failure = reason
            self._reset_connection()
            return PrinterStatus.OFFLINE
        self._last_failure = None
        if not paper:
            return PrinterStatus.READY
        if paper[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
            return PrinterStatus.PAPER_OUT
        if paper[0] & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER:
            return PrinterStatus.PAPER_LOW
        return PrinterStatus.READY

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception as exc:  # noqa: BLE001 - closing a broken connection must not stop the kiosk
            logger.debug("closing the printer connection: %s", _describe(exc))

    def _reset_connection(self) -> None:
        """Close a failed connection so the next use opens it again (a re-plugged USB printer)."""
        if isinstance(self.connection, escpos_printer.Dummy):
            return
        self.close()
        self.connection.device = False  # escpos: "not opened", the next use opens it


def raster(image: Image.Image) -> bytes:
    """A mode "1" image as ``GS v 0`` raster commands, each at most FRAGMENT_ROWS rows high:
    the bytes python-escpos's `image(impl="bitImageRaster")` sends for it (a test checks),
    made in under a millisecond where escpos takes 10-20 ms converting the picture through
    RGBA, greyscale and dithering on every ticket."""
    # The printer's bit 1 is a black dot; Pillow's "1" has 0 for black, and white may be
    # stored as 1 or 255 (drawn or loaded), so go through "L" (0/255) to flip it.
    ink = image.convert("L").point(_INVERT, "1")
    width_bytes = (image.width + 7) // 8
    commands = []
    for top in range(0, image.height, FRAGMENT_ROWS):
        part = ink.crop((0, top, image.width, min(image.height, top + FRAGMENT_ROWS)))
        commands.append(b"\x1dv0\x00" + width_bytes.to_bytes(2, "little") + part.height.to_bytes(2, "little")
                        + part.tobytes())
    return b"".join(commands)


def _set_media(connection: Escpos, width_px: int) -> None:
    """Give the connection's profile the paper width (escpos prints a warning on every
    image without one) without touching the profile shared by other instances."""
    data = dict(connection.profile.profile_data)
    data["media"] = {"dpi": DPI, "width": {"mm": round(width_px / DPI * 25.4), "pixels": width_px}}
    connection.profile.profile_data = data


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or type(exc).__name__ in ("USBTimeoutError", "SerialTimeoutException")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
