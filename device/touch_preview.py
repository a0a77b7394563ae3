"""Pictures of every screen of the touch kiosk with a sample centre, for the README and for
looking at a layout on another screen size: ``python -m device.touch_preview OUT_DIR [WxH ...]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from device.touch_model import Result, TouchKiosk
from device.touch_screen import TouchScreen, open_surface, pygame
from device.ticket import SiteText
from queuebox.config import DEFAULT_PRIORITY_GROUPS
from queuebox.config_devices import PrinterConfig
from queuebox.protocol import Topics

SERVICES = [("A", "Đất đai", "Land"), ("B", "Hộ tịch - Chứng thực", "Civil status and certification"),
            ("C", "Đăng ký kinh doanh", "Business registration"), ("D", "Lao động - Thương binh và Xã hội",
                                                                    "Labour, invalids and social affairs"),
            ("E", "Trả kết quả", "Results")]
PROCEDURES = ["Đăng ký khai sinh", "Đăng ký kết hôn", "Đăng ký khai tử", "Chứng thực bản sao từ bản chính",
              "Chứng thực chữ ký trong các giấy tờ, văn bản", "Đăng ký lại khai sinh",
              "Thủ tục đăng ký khai sinh kết hợp đăng ký nhận cha, mẹ, con", "Cấp bản sao trích lục hộ tịch",
              "Đăng ký giám hộ", "Xác nhận tình trạng hôn nhân", "Đăng ký thay đổi, cải chính hộ tịch"]
DETAIL = {"id": 1, "code": "1.001193", "service": "B", "name_vi": "Đăng ký khai sinh", "name_en": "Birth registration",
          "documents": ["Tờ khai đăng ký khai sinh theo mẫu", "Giấy chứng sinh (bản chính)",
                        "Giấy tờ tùy thân của người đi đăng ký (xuất trình)",
                        "Văn bản ủy quyền có chứng thực, nếu người khác đi đăng ký thay",
                        "Giấy tờ chứng minh nơi cư trú, nếu cần xác định thẩm quyền"],
          "processing_time": "Trong ngày", "fee": "Miễn phí", "result_place": "Bộ phận Một cửa",
          "portal_url": "https://dichvucong.gov.vn", "on_the_spot": True}


def sample_model(model: TouchKiosk) -> None:
    """Fill `model` with the sample centre: five fields (one closed), waiting counts, procedures,
    the priority groups of the law."""
    model.on_services({"services": [{"code": c, "name_vi": vi, "name_en": en, "open": c != "D"}
                                    for c, vi, en in SERVICES]})
    model.on_board({"waiting": {"A": 4, "B": 0, "C": 12, "D": 0, "E": 1}})
    model.state.minutes = {"A": 10, "C": 6, "E": 3}
    model.state.groups = DEFAULT_PRIORITY_GROUPS
    model.on_procedures("B", {"procedures": [{"id": i + 1, "name_vi": n, "fee": "Miễn phí", "processing_time":
                                              "Trong ngày"} for i, n in enumerate(PROCEDURES)]})


def screens(model: TouchKiosk) -> list[tuple[str, Any]]:
    """(name, how to put `model` on that screen) for every screen and state worth a look."""
    s = model.state

    def result(state: str, **values: Any) -> Any:
        def go() -> None:
            s.screen, s.result = "result", Result("A", values.pop("priority", False), state, **values)
        return go

    def lookup(screen: str, lang: str = "vi", status: str = "ok") -> Any:
        def go() -> None:
            s.screen, s.lang, s.field_code, s.page = screen, lang, "B", 0
            s.procedure = {"id": 1, "name_vi": DETAIL["name_vi"], "name_en": DETAIL["name_en"], "fee": "Miễn phí",
                           "processing_time": "Trong ngày", "on_the_spot": True}
            s.detail, s.detail_status = (DETAIL if status == "ok" else None), status
        return go

    def home(screen: str = "home", lang: str = "vi", fault: str | None = None, group: str | None = None) -> Any:
        def go() -> None:
            s.screen, s.lang, s.fault, s.group = screen, lang, fault, group
        return go

    return [("home", home()), ("home-en", home(lang="en")), ("priority", home("priority")),
            ("groups", home("groups")), ("groups-en", home("groups", "en")),
            ("priority-group", home("priority", group="CT")),
            ("paper-out", home(fault="paper_out")), ("printing", result("printing")),
            ("printed", result("printed", label="A023", ahead=4, wait_min=40)),
            ("printed-priority", result("printed", label="A024", ahead=0, priority=True)),
            ("printed-group", result("printed", label="A026", ahead=1, wait_min=10, priority=True, group="CT")),
            ("refused", result("refused", code="service_closed")), ("no-reply", result("no_reply")),
            ("print-failed", result("print_failed", label="A025")), ("fields", lookup("fields")),
            ("procedures", lookup("procedures")), ("procedure", lookup("procedure")),
            ("procedure-en", lookup("procedure", "en")), ("procedure-loading", lookup("procedure", status="loading")),
            ("procedure-failed", lookup("procedure", status="failed"))]


def render_screens(folder: Path, size: tuple[int, int], printer: PrinterConfig | None = None) -> dict[str, list[str]]:
    """Save every screen at `size` as `folder`/touch-<name>-<w>x<h>.png; the texts cut on each."""
    printer = printer or PrinterConfig()
    surface = open_surface(*size, False, headless=True)
    screen = TouchScreen(surface, fonts=(printer.font_path, printer.font_bold_path), topics=Topics("q", "demo"),
                         press=lambda item: None, site=SiteText("Bộ phận Một cửa UBND xã An Phú"),
                         public_url="http://queuebox.local:8080", idle_timeout_s=30, present=lambda: None)
    sample_model(screen.model)
    folder.mkdir(parents=True, exist_ok=True)
    problems = {}
    for name, go in screens(screen.model):
        screen.model.state.fault = None
        screen.model.state.lang = "vi"
        go()
        screen.draw()
        pygame.image.save(surface, str(folder / f"touch-{name}-{size[0]}x{size[1]}.png"))
        problems[name] = screen.problems
    return problems


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path("touch-screens")
    sizes = [tuple(int(v) for v in a.split("x")) for a in argv[1:]] or [(1280, 800), (1080, 1920)]
    for size in sizes:
        for name, cut in render_screens(folder, size).items():  # type: ignore[arg-type]
            if cut:
                print(f"{size[0]}x{size[1]} {name}: cut: {'; '.join(cut)}")
    print(f"wrote the screens to {folder}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
