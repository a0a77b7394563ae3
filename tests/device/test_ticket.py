"""The printed ticket: content, glyph coverage of every configured text, the 1-bit image."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from device.ticket import (PAPER_WIDTH_PX, Block, FontData, SiteText, TicketInfo, TicketRenderer, compose,
                           missing_glyphs, sample_ticket, texts)
from tests.factories import make_config

HCM = timezone(timedelta(hours=7))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MONDAY_9AM = datetime(2026, 11, 23, 9, 0, tzinfo=HCM)

REPLY_TICKET = {"label": "A023", "service": "A", "service_name": "Đất đai", "service_name_en": "Land",
                "priority": False, "issued_at": "2026-11-23T09:00:00.000+07:00", "waiting_ahead": 4,
                "estimated_wait_min": 12, "status_url": "http://queuebox.local:8080/t/abc123"}


def ticket(**changes) -> TicketInfo:
    return replace(TicketInfo.from_reply(REPLY_TICKET), **changes)


def drawn(blocks: list[Block]) -> list[str]:
    return [b.text for b in blocks if b.text]


def ink_image(image: Image.Image) -> Image.Image:
    """The black pixels of a mode "1" image as non-zero ones."""
    return Image.eval(image.convert("L"), lambda v: 255 - v)


def ink_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box of the black pixels of a mode "1" image (None if blank)."""
    return ink_image(image).getbbox()


# --- the reply ------------------------------------------------------------------------

def test_a_reply_ticket_becomes_ticket_info():
    info = TicketInfo.from_reply(REPLY_TICKET)
    assert (info.label, info.service, info.service_name, info.service_name_en) == ("A023", "A", "Đất đai", "Land")
    assert info.issued_at == MONDAY_9AM and info.issued_at.utcoffset() == timedelta(hours=7)
    assert (info.waiting_ahead, info.estimated_wait_min, info.priority) == (4, 12, False)
    assert info.status_url == "http://queuebox.local:8080/t/abc123"


@pytest.mark.parametrize("changes, field", [
    ({"label": None}, "label"),
    ({"label": "  "}, "label"),
    ({"issued_at": "yesterday"}, "issued_at"),
    ({"issued_at": "2026-11-23T09:00:00"}, "issued_at"),
    ({"waiting_ahead": "4"}, "waiting_ahead"),
    ({"waiting_ahead": True}, "waiting_ahead"),
    ({"waiting_ahead": -1}, "waiting_ahead"),
    ({"priority": "yes"}, "priority"),
    ({"service_name": 7}, "service_name"),
])
def test_an_unusable_reply_ticket_is_refused_naming_the_field(changes, field):
    bad = {k: v for k, v in {**REPLY_TICKET, **changes}.items() if v is not None}
    with pytest.raises(ValueError, match=field):
        TicketInfo.from_reply(bad)


def test_optional_reply_fields_may_be_absent_or_null():
    info = TicketInfo.from_reply({**{k: v for k, v in REPLY_TICKET.items()
                                     if k not in ("service_name_en", "priority", "status_url")},
                                  "estimated_wait_min": None})
    assert (info.service_name_en, info.priority, info.status_url, info.estimated_wait_min) == ("", False, "", None)


def test_a_reply_ticket_of_a_priority_group_carries_its_code_and_names():
    info = TicketInfo.from_reply({**REPLY_TICKET, "priority": True, "group": "CT", "group_name": "Người cao tuổi",
                                  "group_name_en": "Elderly"})
    assert (info.priority, info.group, info.group_name, info.group_name_en) == (True, "CT", "Người cao tuổi", "Elderly")
    older = TicketInfo.from_reply({**REPLY_TICKET, "group": None, "group_name": None})  # or a server before groups
    assert (older.group, older.group_name, older.group_name_en) == (None, "", "")
    with pytest.raises(ValueError, match="group"):
        TicketInfo.from_reply({**REPLY_TICKET, "group": 7})


# --- what the ticket says --------------------------------------------------------------

@pytest.mark.parametrize("languages, expected", [
    (("vi", "en"), ["ƯU TIÊN · PRIORITY", "KT · Người khuyết tật", "Person with a disability"]),
    (("vi",), ["ƯU TIÊN", "KT · Người khuyết tật"]),
])
def test_a_ticket_of_a_group_prints_the_group_under_the_priority_mark(languages, expected):
    lines = drawn(compose(ticket(priority=True, group="KT", group_name="Người khuyết tật",
                                 group_name_en="Person with a disability"), SiteText("Trung tâm", "", languages)))
    start = lines.index(expected[0])
    assert lines[start:start + len(expected)] == expected


def test_a_priority_ticket_without_a_group_prints_the_mark_alone():
    lines = drawn(compose(ticket(priority=True), SiteText("Trung tâm", "", ("vi", "en"))))
    after = lines[lines.index("ƯU TIÊN · PRIORITY") + 1]
    assert after.startswith("Thứ Hai, 23/11/2026")


def test_the_ticket_says_everything_in_vietnamese_then_english():
    site = SiteText("Bộ phận Một cửa UBND xã An Phú", "0274 3 123 456", ("vi", "en"))
    lines = drawn(compose(ticket(priority=True), site))
    assert lines[0] == "Bộ phận Một cửa UBND xã An Phú"
    assert lines[1:3] == ["Đất đai", "Land"]
    assert "A023" in lines and "ƯU TIÊN · PRIORITY" in lines
    assert "Thứ Hai, 23/11/2026 – 09:00" in lines
    assert lines.index("4 người đang chờ trước bạn") + 1 == lines.index("4 people ahead of you")
    assert "Dự kiến chờ khoảng 12\u00a0phút" in lines and "Estimated wait: about 12\u00a0min" in lines
    assert "Đường dây nóng: 0274 3 123 456" in lines and "Hotline: 0274 3 123 456" in lines
    assert lines[-2:] == ["Quét mã để theo dõi lượt của bạn", "Scan to follow your turn"]


def test_the_label_is_the_one_big_block():
    blocks = compose(ticket(), SiteText("Trung tâm"))
    assert [b.text for b in blocks if b.kind == "label"] == ["A023"]


@pytest.mark.parametrize("languages, present, absent", [
    (("vi",), ["Đất đai", "4 người đang chờ trước bạn"], ["Land", "4 people ahead of you", "Hotline: 1022"]),
    (("en",), ["Land", "4 people ahead of you", "Hotline: 1022"], ["Đất đai", "4 người đang chờ trước bạn"]),
    (("en", "vi"), ["Land", "Đất đai", "Your number / Số thứ tự"], []),
])
def test_only_the_configured_languages_are_printed(languages, present, absent):
    lines = drawn(compose(ticket(), SiteText("Trung tâm", "1022", languages)))
    assert [p for p in present if p not in lines] == []
    assert [a for a in absent if a in lines] == []


def test_english_only_falls_back_to_the_vietnamese_service_name_when_there_is_no_english_one():
    lines = drawn(compose(ticket(service_name_en=""), SiteText("Trung tâm", "", ("en",))))
    assert "Đất đai" in lines


@pytest.mark.parametrize("ahead, vi, en", [
    (0, "Không có ai chờ trước bạn", "No one is ahead of you"),
    (1, "1 người đang chờ trước bạn", "1 person ahead of you"),
    (37, "37 người đang chờ trước bạn", "37 people ahead of you"),
])
def test_people_ahead(ahead, vi, en):
    lines = drawn(compose(ticket(waiting_ahead=ahead), SiteText("Trung tâm")))
    assert vi in lines and en in lines


def test_no_wait_estimate_when_nobody_is_ahead_or_there_is_none():
    for info in (ticket(waiting_ahead=0), ticket(estimated_wait_min=None)):
        assert not [t for t in drawn(compose(info, SiteText("Trung tâm"))) if "Dự kiến" in t]


def test_no_priority_mark_no_hotline_no_qr_line_when_they_do_not_apply():
    lines = drawn(compose(ticket(status_url=""), SiteText("Trung tâm", "", ("vi", "en"))))
    assert not [t for t in lines if "ƯU TIÊN" in t or "Đường dây nóng" in t or "Quét mã" in t]


# --- glyphs ----------------------------------------------------------------------------

def every_configured_text(config) -> list[tuple[str, str]]:
    """(style, text) of every ticket the config can print: each service, priority or not,
    each weekday, nobody/one/many ahead."""
    site = SiteText.from_config(config)
    found = set()
    for service in config.services:
        for day in range(7):
            for ahead in (0, 1, 12):
                group = config.priority_groups[day % len(config.priority_groups)] if day % 3 == 1 else None
                info = sample_ticket(service, MONDAY_9AM + timedelta(days=day), config.server.public_url,
                                     waiting_ahead=ahead, priority=day % 2 == 0, group=group)
                for lang_set in (site.languages, ("vi",), ("en",)):
                    found.update(texts(compose(info, replace(site, languages=lang_set))))
    return sorted(found)


def test_every_glyph_of_every_configured_text_exists_in_the_fonts(example_config, font_family):
    renderer = TicketRenderer(font_family, 576)
    missing = {}
    for style, text in every_configured_text(example_config):
        lost = missing_glyphs(renderer.font(style, 24), text)
        if lost:
            missing[text] = lost
    assert missing == {}


@pytest.mark.parametrize("width", [384, 576])
def test_the_horn_of_u_survives_at_every_printed_size(font_family, width):
    """Ư/ư (in "ƯU TIÊN", "người", "trước") keep their horn: drawn straight in 1-bit,
    FreeType's monochrome hinting dropped it from DejaVu Sans Bold at 20 px ("UU TIÊN")."""
    renderer = TicketRenderer(font_family, width)
    short = []
    for style in ("regular", "bold"):
        for size in sorted({s for s in renderer.sizes.values() if s < 100}):
            font = renderer.font(style, size)
            for inverted in (False, True):
                def right_edge(text: str) -> int:
                    image = renderer.text_image(font, text, (3 * size, 3 * size), (size // 2, 2 * size),
                                                anchor="ls", inverted=inverted)
                    return (image if inverted else ink_image(image)).getbbox()[2]
                for horned, plain in (("Ư", "U"), ("ư", "u")):
                    if right_edge(horned) - right_edge(plain) < 2:
                        short.append(f"{horned} {style} {size} px{' inverted' if inverted else ''}")
    assert short == []


@pytest.mark.parametrize("text, missing", [
    ("Bộ phận Một cửa UBND xã An Phú", []),
    ("Ễ Ỗ Ự ặ đ Đ ơ ư – ·", []),
    ("Số 漢字", ["字", "漢"]),
    ("emoji 🎫", ["🎫"]),
])
def test_missing_glyphs_finds_what_the_font_cannot_draw(dejavu, text, missing):
    font = TicketRenderer(dejavu, 576).font("regular", 24)
    assert missing_glyphs(font, text) == missing


def test_missing_glyphs_sees_decomposed_vietnamese_as_the_composed_letters(dejavu):
    font = TicketRenderer(dejavu, 576).font("regular", 24)
    assert missing_glyphs(font, "Vie\u0323\u0302t Nam") == []


# --- the image -------------------------------------------------------------------------

@pytest.mark.parametrize("paper_mm", [58, 80])
def test_the_example_services_render_as_1_bit_pngs(example_config, dejavu, tmp_path, paper_mm):
    width = PAPER_WIDTH_PX[paper_mm]
    renderer = TicketRenderer(dejavu, width)
    site = SiteText.from_config(example_config)
    for service in example_config.services:
        info = sample_ticket(service, MONDAY_9AM, example_config.server.public_url, priority=service.code == "B")
        path = tmp_path / f"ticket-{paper_mm}-{service.code}.png"
        renderer.render(info, site).save(path)
        with Image.open(path) as image:
            assert image.mode == "1" and image.width == width
            assert 500 < image.height < 1200
            left, top, right, bottom = ink_box(image)
            assert left >= TicketRenderer.MARGIN - 1 and right <= width - TicketRenderer.MARGIN + 1
            assert top >= TicketRenderer.MARGIN and bottom <= image.height - TicketRenderer.MARGIN
    assert len(list(tmp_path.glob("*.png"))) == len(example_config.services)


@pytest.mark.parametrize("paper_mm", [58, 80])
def test_every_default_group_prints_within_the_paper(example_config, dejavu, paper_mm):
    """Each group's ticket, side by side in tests/artifacts/ticket-groups-<mm>.png to look at:
    the group line wraps inside the margins and adds no more than three lines."""
    width = PAPER_WIDTH_PX[paper_mm]
    renderer = TicketRenderer(dejavu, width)
    site = SiteText.from_config(example_config)
    service = example_config.service("B")
    plain = renderer.render(sample_ticket(service, MONDAY_9AM, "", priority=True), site)
    images = []
    for group in example_config.priority_groups:
        image = renderer.render(sample_ticket(service, MONDAY_9AM, "", group=group), site)
        left, top, right, bottom = ink_box(image)
        assert left >= TicketRenderer.MARGIN - 1 and right <= width - TicketRenderer.MARGIN + 1, group.code
        assert plain.height < image.height <= plain.height + 3 * renderer.sizes["body"] * 2, group.code
        images.append(image)
    sheet = Image.new("1", (sum(i.width + 8 for i in images), max(i.height for i in images)), 0)
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + 8
    ARTIFACTS.mkdir(exist_ok=True)
    sheet.save(ARTIFACTS / f"ticket-groups-{paper_mm}.png")


def test_the_label_is_drawn_large(dejavu):
    renderer = TicketRenderer(dejavu, 576)
    (row,) = renderer.rows(Block("label", "A023", "bold", "label"))
    left, top, right, bottom = ink_box(row)
    assert bottom - top >= 110 and right - left >= 380


def test_a_long_label_shrinks_to_fit_the_paper(dejavu):
    renderer = TicketRenderer(dejavu, 384)
    (row,) = renderer.rows(Block("label", "KQ-2026-00123", "bold", "label"))
    left, _, right, _ = ink_box(row)
    assert left >= TicketRenderer.MARGIN - 2 and right <= 384 - TicketRenderer.MARGIN + 2


def test_stacked_vietnamese_marks_are_not_cut_off(font_family):
    renderer = TicketRenderer(font_family, 384)
    for role, style in (("service", "bold"), ("body", "regular"), ("small", "regular")):
        for row in renderer.rows(Block("text", "Ễ Ỗ Ử Ặ Ẫ Ầ", style, role)):
            _, top, _, bottom = ink_box(row)
            assert top > 0 and bottom < row.height


@pytest.mark.parametrize("width", [384, 576])
def test_long_text_wraps_into_balanced_lines_within_the_paper(dejavu, width):
    renderer = TicketRenderer(dejavu, width)
    text = "Bộ phận tiếp nhận và trả kết quả giải quyết thủ tục hành chính UBND phường Tân Định"
    rows = renderer.rows(Block("text", text, "regular", "centre"))
    assert len(rows) >= 2
    boxes = [ink_box(r) for r in rows]
    assert all(b[0] >= TicketRenderer.MARGIN - 1 and b[2] <= width - TicketRenderer.MARGIN + 1 for b in boxes)
    widths = [b[2] - b[0] for b in boxes]
    assert min(widths) > 0.6 * max(widths)  # no word left alone on the last line


def test_a_no_break_space_keeps_a_number_with_its_unit_and_prints_as_a_space(dejavu):
    renderer = TicketRenderer(dejavu, 384)
    font = renderer.font("regular", renderer.sizes["body"])
    from device.ticket import _wrap
    lines = _wrap("Thời gian chờ dự kiến: khoảng 40\u00a0phút", font, 384 - 2 * TicketRenderer.MARGIN)
    assert lines[-1].endswith("40 phút") and all("\u00a0" not in line for line in lines)


def test_rendering_the_same_ticket_twice_gives_the_same_pixels(dejavu):
    renderer = TicketRenderer(dejavu, 576)
    site = SiteText("Trung tâm", "1022")
    first = renderer.render(ticket(), site).tobytes()
    assert TicketRenderer(dejavu, 576).render(ticket(), site).tobytes() == first
    assert renderer.render(ticket(label="A024"), site).tobytes() != first


def test_a_paper_width_other_than_58_or_80_mm_is_refused(dejavu):
    with pytest.raises(ValueError, match="384, 576"):
        TicketRenderer(dejavu, 500)


def test_sample_ticket_uses_the_service_numbering_and_minutes():
    config = make_config(services=[{"code": "KQ", "name_vi": "Trả kết quả", "label_format": "{code}-{number:04d}",
                                    "service_min": 3}],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {"KQ": 1}}])
    info = sample_ticket(config.services[0], MONDAY_9AM, "http://x/", waiting_ahead=5)
    assert (info.label, info.estimated_wait_min, info.status_url) == ("KQ-0023", 15, "http://x/t/preview0023")


def test_the_renderer_opens_fonts_through_the_callers_font_data():
    opened = []

    def open_font(style, size):
        opened.append((style, size))
        return ImageFont.load_default(size)

    renderer = TicketRenderer(FontData(open=open_font), 576)
    assert renderer.font("bold", 30) is renderer.font("bold", 30)
    assert opened == [("bold", 30)]
