"""A manager in real Chromium records the voice: imports a ZIP with an MP3 among the WAVs and reads
why it was refused, sees what is still missing, re-records one word on its row and plays it back."""

from __future__ import annotations

import io
import zipfile

from playwright.sync_api import expect

from server.voice_store import engine_voice_dir, read_manifest
from tests.test_voice_import import mp3_bytes, spoken
from tests.web.browser import screenshot
from tests.web.test_admin_browser import log_in


def test_a_manager_imports_clips_and_plays_one_back(page, live_server, engine, tmp_path):
    pack = tmp_path / "giong-doc.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, name in enumerate(("lead", "to_counter", "letter_a", "digit_1", "digit_2", "ten", "hundred")):
            z.writestr(f"giong-doc/{name}.wav", spoken(freq=200 + 40 * i))
        z.writestr("giong-doc/tens.wav", mp3_bytes())
    pack.write_bytes(buf.getvalue())
    log_in(page, live_server.url)
    page.click("nav.admin-nav >> text=Giọng đọc ghi âm")
    expect(page.locator(".voice-summary")).to_contain_text("Đã ghi 0/")
    page.set_input_files("#f-voice", str(pack))
    page.click(".import-form button >> text=Nhập")
    expect(page.locator(".flash.error")).to_contain_text("tens.wav: là tệp MP3, không phải WAV")
    expect(page.locator(".flash").first).to_contain_text("Đã nhập 7 đoạn ghi âm")
    expect(page.locator(".missing-list")).to_contain_text("mươi")

    recording = tmp_path / "Ghi âm mới 12.wav"
    recording.write_bytes(spoken(freq=330))
    row = page.locator("#prompt-tens")
    row.locator("input[type=file]").set_input_files(str(recording))
    row.locator("button >> text=Tải lên").click()
    expect(page.locator("#prompt-tens audio")).to_have_count(1)
    expect(page.locator(".missing-list")).not_to_contain_text("mươi")
    duration = page.locator("#prompt-tens audio").evaluate(
        "a => new Promise(done => { a.onloadedmetadata = () => done(a.duration); a.load(); })")
    assert 0.4 < duration < 0.7  # the half-second word, its silence cut
    assert set(read_manifest(engine_voice_dir(engine)).prompts) >= {"lead", "tens", "hundred"}
    page.set_viewport_size({"width": 1280, "height": 1000})
    screenshot(page, "admin-voice")
