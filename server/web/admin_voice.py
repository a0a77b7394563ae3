"""The recorded voice in the administration (managers and admins): the prompts the centre's calls
need with their text, which are recorded (each playable) and which are missing, the import of a
ZIP or WAV files (or one file for one prompt), and taking a clip out.

The checks, trimming and loudness are `server.voice_audio`'s, the pack folder and the
`voice_changed` event `server.voice_store`'s; this module only reads forms and words the problems.
The displays download the pack through `voice_files` (below), on the staff listener only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from queuebox.voice import MAX_CLIP_S
from queuebox.words import PROMPT_ID
from server.voice_audio import MAX_UPLOAD_S
from server.voice_store import (Refused, VoiceFileError, centre_prompts, clip_bytes, engine_voice_dir, import_files,
                                read_manifest, remove)
from server.web.auth import role_required
from server.web.common import get_engine
from server.web.i18n import N_, _

managers = role_required("admin", "manager")
IMPORT_PATH = "/admin/voice/import"  # in server.web.surfaces.UPLOAD_PATHS
# server.voice_audio.ClipError and server.voice_store codes, in the manager's words
MESSAGES = {
    "mp3": N_("an MP3 file, not a WAV: export the recording as WAV (PCM)"),
    "m4a": N_("an M4A/AAC file, not a WAV: export the recording as WAV (PCM)"),
    "not_wav": N_("not a WAV file"),
    "compressed": N_("a compressed WAV (format %(tag)s): export it as WAV PCM, 16-bit"),
    "bits": N_("%(bits)s-bit samples: record or export 16-bit (or 24-bit) PCM"),
    "channels": N_("%(channels)s channels: mono or stereo only"),
    "rate": N_("a sample rate of %(rate)s Hz: use 16,000 to 48,000 Hz"),
    "empty": N_("an empty recording"),
    "silent": N_("nothing but silence: check the microphone and record again"),
    "too_long": N_("%(seconds)s seconds of sound: a prompt is a word or a short phrase (at most %(max)s s)"),
    "unknown_prompt": N_("the file name is not a prompt of this centre: name it after its prompt (e.g. digit_5.wav) "
                         "or upload it on the prompt's row"),
    "bad_zip": N_("The ZIP file cannot be read (%(detail)s)."),
    "zip_too_many": N_("The ZIP file holds %(n)s files; at most %(max)s."),
    "zip_slip": N_("The ZIP file has a path leading outside its folder (%(member)s): nothing was imported."),
    "zip_bomb": N_("The ZIP file unpacks to far more than it weighs: nothing was imported."),
}
KINDS = {"phrase": N_("Phrases"), "letter": N_("Letters of the services"), "number": N_("Number words"),
         "counter": N_("Counters with a name")}


def _actor() -> str:
    return f"web/{current_user.login}"


def refused_message(refused: Refused) -> str:
    return _("%(file)s: %(problem)s", file=refused.name, problem=_(MESSAGES[refused.code], **refused.values))


def voice_page(problems: list[str] | None = None) -> Any:
    engine = get_engine()
    manifest = read_manifest(engine_voice_dir(engine))
    prompts = centre_prompts(engine.config)
    groups: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    for p in prompts:
        entry = manifest.prompts.get(p.id)
        groups[p.kind].append({"id": p.id, "text": p.text, "recorded": entry is not None,
                               "sha": entry.sha256[:12] if entry else ""})
    missing = [p.text for p in prompts if p.id not in manifest.prompts]
    return render_template("admin/voice.html", groups=groups, kinds=KINDS, missing=missing, total=len(prompts),
                           version=manifest.version if manifest.prompts else "", problems=problems or [],
                           max_clip_s=MAX_CLIP_S, max_upload_s=MAX_UPLOAD_S), 422 if problems else 200


def voice_import() -> Any:
    """The files of the form (a ZIP, WAVs named by prompt, or one WAV for the `prompt` field)."""
    uploads = []
    for upload in request.files.getlist("file"):
        if upload.filename:
            try:
                uploads.append((upload.filename, upload.stream.read()))
            finally:
                upload.close()
    if not uploads:
        return voice_page([_("Choose a ZIP or WAV file to import.")])
    prompt = request.form.get("prompt") or None
    if prompt is not None and not PROMPT_ID.fullmatch(prompt):
        abort(400)
    try:
        result = import_files(get_engine(), _actor(), uploads, prompt_id=prompt)
    except VoiceFileError as exc:
        return voice_page([_(MESSAGES[exc.code], **exc.values)])
    if result.imported:
        flash(_("Imported %(n)s clips: %(ids)s.", n=len(result.imported), ids=", ".join(result.imported)))
    if result.refused:
        return voice_page([refused_message(r) for r in result.refused])
    return redirect(url_for("admin.voice_page") + (f"#prompt-{prompt}" if prompt else ""))


def voice_remove(prompt_id: str) -> Any:
    if not remove(get_engine(), _actor(), prompt_id):
        abort(404)
    flash(_("The clip of %(id)s was taken out: calls that need it are spoken by the synthetic voice.", id=prompt_id))
    return redirect(url_for("admin.voice_page") + f"#prompt-{prompt_id}")


def voice_clip(prompt_id: str) -> Any:
    """A clip, for the page's players."""
    data = clip_bytes(engine_voice_dir(get_engine()), prompt_id)
    if data is None:
        abort(404)
    return Response(data, mimetype="audio/wav", headers={"Cache-Control": "no-store"})


def register(bp: Blueprint) -> None:
    """Add the voice pages to the administration's blueprint."""
    for rule, view, methods in (
            ("/voice", voice_page, ["GET"]),
            ("/voice/import", voice_import, ["POST"]),
            ("/voice/<prompt_id>/remove", voice_remove, ["POST"]),
            ("/voice/<prompt_id>.wav", voice_clip, ["GET"])):
        bp.add_url_rule(rule, view_func=managers(view), methods=methods, endpoint=view.__name__)


# --- what the displays download ------------------------------------------------------------------

voice_files = Blueprint("voice_files", __name__, url_prefix="/voice")


@voice_files.get("/pack.json")
def pack_json() -> Any:
    """The pack's manifest (queuebox/voice.py) for the displays; no login (a display has no web
    account), staff listener only, and nothing in it but recorded words."""
    manifest = read_manifest(engine_voice_dir(get_engine()))
    response = Response(manifest.to_json(), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@voice_files.get("/<prompt_id>.wav")
def pack_clip(prompt_id: str) -> Any:
    """One clip, only while its hash is `?sha256=` (a display never stores a clip of another pack)."""
    if not PROMPT_ID.fullmatch(prompt_id):
        abort(404)
    data = clip_bytes(engine_voice_dir(get_engine()), prompt_id, request.args.get("sha256", ""))
    if data is None:
        return jsonify({"error": "not_found", "message": "no such clip in the current pack"}), 404
    return Response(data, mimetype="audio/wav", headers={"Cache-Control": "no-store"})
