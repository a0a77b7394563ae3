"""The recorded voice in the administration (/admin/voice) and the pack the displays download (/voice/…)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from queuebox.voice import parse_manifest
from tests.test_voice_import import mp3_bytes, spoken
from tests.web.conftest import csrf_token


def upload(client, files: list[tuple[str, bytes]], prompt: str = ""):
    """POST files as a browser does (multipart built here, like the catalogue's import test)."""
    boundary = "----queuebox-voice"
    token = csrf_token(client, "/admin/voice")
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'.encode()]
    if prompt:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n{prompt}\r\n'.encode())
    for name, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return client.post("/admin/voice/import", input_stream=io.BytesIO(body), content_length=len(body),
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_clerks_may_not_and_managers_see_every_prompt_missing(login, client):
    login("clerk1")
    assert client.get("/admin/voice").status_code == 403
    client.get("/logout")
    login("manager")
    page = client.get("/admin/voice").get_data(as_text=True)
    assert 'href="/admin/voice"' in page and "Giọng đọc ghi âm" in page
    for text in ("Mời công dân có số thứ tự", "đến quầy số", "ưu tiên", "mươi", "mốt", "lăm", "linh", "trăm"):
        assert f'<strong class="prompt-text">{text}</strong>' in page, text
    assert "Đã ghi 0/" in page and "<audio" not in page


def test_a_clip_for_one_prompt_plays_back_and_missing_ones_are_listed(login, engine):
    client = login("manager")
    assert upload(client, [("Ghi âm 003.wav", spoken())], prompt="tens").status_code == 302
    page = client.get("/admin/voice").get_data(as_text=True)
    row = page[page.index('id="prompt-tens"'):]
    row = row[:row.index("</tr>")]
    assert "<audio controls" in row and 'src="/admin/voice/tens.wav' in row
    assert "mươi" not in page[page.index("Còn thiếu:"):page.index("</p>", page.index("Còn thiếu:"))]
    clip = client.get("/admin/voice/tens.wav")
    assert clip.status_code == 200 and clip.mimetype == "audio/wav" and clip.data[:4] == b"RIFF"


def test_bad_files_are_listed_with_their_reasons_and_nothing_is_lost(login, engine):
    client = login("manager")
    upload(client, [("tens.wav", spoken())])
    before = client.get("/voice/pack.json").data
    response = upload(client, [("tens.wav", mp3_bytes())])
    assert response.status_code == 422
    assert "tens.wav: là tệp MP3, không phải WAV" in response.get_data(as_text=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../lead.wav", spoken())
    response = upload(client, [("giong.zip", buf.getvalue())])
    assert response.status_code == 422
    assert "đường dẫn ra ngoài thư mục" in response.get_data(as_text=True)
    assert client.get("/voice/pack.json").data == before


def test_the_displays_download_the_manifest_and_clips_by_hash(login, client, engine):
    login("manager")
    upload(client, [("lead.wav", spoken()), ("digit_1.wav", spoken(freq=300))])
    client.get("/logout")  # a display has no account
    manifest = parse_manifest(client.get("/voice/pack.json").data)
    assert set(manifest.prompts) == {"lead", "digit_1"}
    entry = manifest.prompts["lead"]
    clip = client.get(f"/voice/lead.wav?sha256={entry.sha256}")
    assert clip.status_code == 200 and hashlib.sha256(clip.data).hexdigest() == entry.sha256
    stale = client.get("/voice/lead.wav?sha256=" + "0" * 64)
    assert stale.status_code == 404 and json.loads(stale.data)["error"] == "not_found"


def test_removing_a_clip_is_an_event(login, engine):
    client = login("manager")
    upload(client, [("priority.wav", spoken())])
    token = csrf_token(client, "/admin/voice")
    assert client.post("/admin/voice/priority/remove", data={"csrf_token": token}).status_code == 302
    assert client.post("/admin/voice/priority/remove", data={"csrf_token": token}).status_code == 404
    types = engine.read(lambda conn: [r[0] for r in conn.execute("SELECT type FROM events ORDER BY seq")])
    assert types == ["voice_changed", "voice_changed"]


def test_a_form_without_its_csrf_token_is_refused(login):
    client = login("manager")
    assert client.post("/admin/voice/import", data={"prompt": "lead"}).status_code == 400
