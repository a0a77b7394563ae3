"""The devices' sections of the configuration: `[kiosk]`, `[keypad]`, `[printer]`, `[display]`
(each a frozen dataclass whose fields carry their help text, as in queuebox/config.py, which
puts them in `Config` and validates them with the rest)."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from queuebox.config_check import INVALID
from queuebox.config_check import config_key as _key


@dataclass(frozen=True)
class KioskConfig:
    id: str = _key("This kiosk's id (one of devices.kiosks); its MQTT user is kiosk-<id>.", "kiosk1")
    buttons: dict[str, int] = _key("GPIO (BCM) pin of each service's button, code = pin.", {})
    priority_button: int = _key("GPIO pin of the priority button (press it, then a service: a priority ticket "
                                "without a group); 0 for none.", 0)
    group_buttons: dict[str, int] = _key("GPIO pin of each priority group's button, group code = pin (press it, "
                                         "then a service: a priority ticket of that group), e.g. { CT = 20, KT = 16 }.",
                                         {})
    priority_window_s: float = _key("Seconds after the priority or a group button during which a service press is "
                                    "priority.", 5.0)
    led_ready: int = _key("GPIO pin of the green 'ready' LED; 0 for none.", 0)
    led_busy: int = _key("GPIO pin of the yellow 'busy' LED; 0 for none.", 0)
    led_fault: int = _key("GPIO pin of the red 'fault' LED; 0 for none.", 0)
    cooldown_s: float = _key("Seconds a button is ignored after it gave a ticket (one ticket per press).", 2.0)
    reply_timeout_s: float = _key("Seconds to wait for the server's reply, resending the same request, "
                                  "before giving up and printing nothing.", 8.0)
    retry_every_s: float = _key("Seconds between two sends of the same request while no reply came.", 1.0)
    screen: Literal["none", "touch"] = _key(
        "'touch': a touch screen shows the services as large tiles (a touch takes a ticket), a priority "
        "choice and the procedure lookup; the buttons above may then be left out. 'none': buttons only.", "none")
    screen_width: int = _key("Touch screen: width in pixels; 0 for the screen's.", 0)
    screen_height: int = _key("Touch screen: height in pixels; 0 for the screen's.", 0)
    fullscreen: bool = _key("Touch screen: draw full screen (false: a window, for a desktop).", True)
    idle_timeout_s: float = _key("Touch screen: seconds without a touch after which it goes back to the "
                                 "start (the service tiles, in Vietnamese).", 30.0)
    scanner: str = _key("The USB 2D barcode scanner that reads the chip ID card's QR code (keyboard mode, suffix "
                        "Enter): a device path such as /dev/input/by-id/usb-…-event-kbd, or part of its name "
                        "(evtest lists them); \"\" for none.", "")
    scan_timeout_s: float = _key("Seconds after the scanner's last character before a line without Enter is "
                                 "dropped as partial.", 0.5)
    one_ticket_per_card: bool = _key("Refuse a second elderly-priority ticket of the same service the same day from "
                                     "the same ID card (remembered in memory only, as a keyed hash).", False)


@dataclass(frozen=True)
class KeypadConfig:
    counter: str = _key("The counter this keypad serves (an id of counters); its MQTT user is counter-<id>. "
                        "`queuebox keypad --counter ID` overrides it.", "1")
    button_next: int = _key("GPIO (BCM) pin of the Next button (finish the current citizen, call the next); 0 for none.",
                            0)
    button_recall: int = _key("GPIO pin of the Recall button (call the current number again); 0 for none.", 0)
    button_no_show: int = _key("GPIO pin of the No-show button (the called citizen did not come); 0 for none.", 0)
    button_done: int = _key("GPIO pin of the Done button (the citizen has been served); 0 for none.", 0)
    led_next: int = _key("GPIO pin of the Next button's LED; 0 for none.", 0)
    led_recall: int = _key("GPIO pin of the Recall button's LED; 0 for none.", 0)
    led_no_show: int = _key("GPIO pin of the No-show button's LED; 0 for none.", 0)
    led_done: int = _key("GPIO pin of the Done button's LED; 0 for none.", 0)
    rating_buttons: tuple[int, ...] = _key(
        "GPIO pins of the four rating buttons, in score order: 1 very satisfied, 2 satisfied, 3 neutral, "
        "4 dissatisfied; [] for none.", ())
    rating_leds: tuple[int, ...] = _key("GPIO pins of the rating buttons' LEDs, same order; 0 for a button "
                                        "without one; [] for none.", ())
    blink_s: float = _key("Seconds on, then off, of a blinking LED (Next while a number is being called).", 0.5)
    cooldown_s: float = _key("Seconds a button is ignored after a press counted (a double press of Next "
                             "would skip a citizen).", 1.0)
    reply_timeout_s: float = _key("Seconds to wait for the server's answer, resending the same command, "
                                  "before giving up (the button's LED flickers).", 5.0)
    retry_every_s: float = _key("Seconds between two sends of the same command while no answer came.", 1.0)

    def pins(self) -> dict[str, int]:
        """Every pin in use, by key path (``rating_buttons[0]``), 0s left out."""
        found = {name: getattr(self, name) for name in ("button_next", "button_recall", "button_no_show",
                                                        "button_done", "led_next", "led_recall", "led_no_show",
                                                        "led_done")}
        for key in ("rating_buttons", "rating_leds"):
            found.update((f"{key}[{i}]", pin) for i, pin in enumerate(getattr(self, key)))
        return {name: pin for name, pin in found.items() if pin is not INVALID and pin}


@dataclass(frozen=True)
class PrinterConfig:
    kind: Literal["usb", "serial", "network", "file", "dummy"] = _key(
        "How the thermal printer is connected: usb, serial, network, file (a device file) or dummy (none).", "dummy")
    paper_width_mm: Literal[58, 80] = _key("Paper width: 58 (384 dots) or 80 (576 dots).", 80)
    usb_vendor: int = _key("usb: vendor id (lsusb), e.g. 0x0416.", 0)
    usb_product: int = _key("usb: product id (lsusb), e.g. 0x5011.", 0)
    usb_in_ep: int = _key("usb: input endpoint.", 0x81)
    usb_out_ep: int = _key("usb: output endpoint.", 0x03)
    usb_timeout_ms: int = _key("usb: write timeout in ms (0 would wait forever).", 2000)
    serial_device: str = _key("serial: device file, e.g. /dev/ttyUSB0.", "/dev/ttyUSB0")
    serial_baudrate: int = _key("serial: speed in baud.", 9600)
    host: str = _key("network: printer address.", "")
    port: int = _key("network: printer port.", 9100)
    file_path: str = _key("file: device file, e.g. /dev/usb/lp0.", "/dev/usb/lp0")
    font_path: str = _key("TrueType font for ticket text (must have Vietnamese glyphs).",
                          "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    font_bold_path: str = _key("TrueType bold font for the ticket label.",
                               "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


SlideKind = Literal["history", "procedures", "lookup", "message", "hotline"]
SLIDE_KINDS: tuple[str, ...] = typing.get_args(SlideKind)


@dataclass(frozen=True)
class DisplayConfig:
    id: str = _key("This display's id (one of devices.displays); its MQTT user is display-<id>.", "display1")
    width: int = _key("Window width in pixels; 0 for the screen's.", 0)
    height: int = _key("Window height in pixels; 0 for the screen's.", 0)
    fullscreen: bool = _key("Draw full screen (false: a window, for a desktop).", True)
    font_path: str = _key("TrueType font for board text (must have Vietnamese glyphs).",
                          "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")
    font_bold_path: str = _key("TrueType bold font for ticket labels.",
                               "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf")
    highlight_s: int = _key("Seconds the newest call blinks.", 10)
    history: int = _key("Previous calls listed under the newest one.", 6)
    message: str = _key("Footer line shown when the server sends no board message; empty for none.", "")
    announce: bool = _key("Chime and speak each call.", True)
    announce_english: bool = _key("Also speak the call in English.", False)
    announce_repeat: int = _key("Times each call is spoken.", 1)
    announce_pause_s: float = _key("Seconds of silence between the repeats of one call.", 0.7)
    volume: float = _key("Loudness of chime and voice, 0.0 to 1.0.", 0.8)
    chime_path: str = _key("WAV file played before each call; empty for the built-in two-tone chime.", "")
    voice_dir: str = _key("Folder where the display keeps the recorded voice pack it downloads from the server "
                          "(the last good one stays there); empty: calls are spoken by espeak-ng only.",
                          "/var/lib/queuebox-display/voice")
    server_url: str = _key("Staff web address of the server, where the voice pack is downloaded; empty for "
                           "http://<mqtt.host>:8080.", "")
    slides: tuple[SlideKind, ...] = _key(
        "What the board shows in turn under the newest call: history (the previous calls), procedures "
        "(each field's procedures with fee and processing time, page by page), lookup (a QR code of the "
        "procedure lookup page), message (the board message, large), hotline. A slide with nothing to show "
        "is left out; [\"history\"] alone is the board without slides.",
        ("history", "procedures", "lookup", "message"))
    slide_s: int = _key("Seconds each slide shows; after a call the previous calls show for highlight_s first.", 12)
    counter: str = _key("Show one counter's number instead of the board (a small screen above that counter; an id "
                        "of counters, no voice); empty for the waiting-room board. `queuebox display --counter ID` "
                        "overrides it.", "")
