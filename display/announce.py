"""Spoken calls: a chime, then "Mời công dân có số thứ tự A023 đến quầy số 3", for every
`called` and `recalled` event, queued so that calls never cut each other off.

Three parts:

- `CallGate` decides which events to announce: `called` and `recalled` only, each `seq`
  once (a QoS 1 redelivery does nothing; a recall has its own seq, so it is spoken
  again), and only events newer than the board the display holds. After every
  (re)connection the events the broker had queued for this display arrive before the
  retained board; they are held until that board comes and those it already shows are
  dropped, so a display that was away does not read out a backlog of old calls.
- The words: `call_text` makes the Vietnamese (and English) sentence; ticket numbers are
  read as Vietnamese cardinals ("A023" → "A hai mươi ba", see `vietnamese_number`), not
  digit by digit: that is how people say numbers, the leading zeros are only the printed
  format, and the structure of a cardinal ("hai mươi ba" against "ba mươi hai") makes a
  misheard syllable noticeable in a noisy room.
- `Announcer` turns each accepted call into clips (chime, then the sentence
  `announce_repeat` times, then English if configured), synthesised offline by espeak-ng on
  a worker thread, and plays them one after another from the display's main loop
  (`poll`), never starting a clip while another plays.

The player is small (`Player`): `PygamePlayer` plays through pygame's mixer; tests use a
fake. No audio device: the display logs one line and runs without announcements.
"""

from __future__ import annotations

import array
import io
import logging
import math
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unicodedata
import wave
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from queuebox.text import without_diacritics
from queuebox.config import Config

logger = logging.getLogger(__name__)

CALL_EVENTS = ("called", "recalled")
HOLD_S = 3.0  # after a (re)connection, how long events wait for the retained board
REMEMBER = 2048  # event seqs remembered against redelivery
GAP_AFTER_CHIME_S = 0.25
GAP_BETWEEN_S = 0.7  # between the repeats of one call
GAP_AFTER_CALL_S = 1.0  # before the next call's chime
MAX_WAITING_CALLS = 50  # calls queued beyond this are dropped (oldest kept: they are spoken in order)
SAMPLE_RATE = 22050  # espeak-ng's rate; the chime is made at the same rate

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
GROUPS = ("", "nghìn", "triệu", "tỷ")
LETTERS = {"A": "a", "Ă": "á", "Â": "ớ", "B": "bê", "C": "xê", "D": "dê", "Đ": "đê", "E": "e", "Ê": "ê",
           "F": "ép", "G": "giê", "H": "hát", "I": "i", "J": "gi", "K": "ca", "L": "e lờ", "M": "em mờ",
           "N": "en nờ", "O": "o", "Ô": "ô", "Ơ": "ơ", "P": "pê", "Q": "quy", "R": "e rờ", "S": "ét xì",
           "T": "tê", "U": "u", "Ư": "ư", "V": "vê", "W": "vê kép", "X": "ích xì", "Y": "i dài", "Z": "dét"}
_COUNTER = re.compile(r"(?:quầy|quay)\s*(?:số\s*)?(\d+)", re.IGNORECASE)


# --- words ------------------------------------------------------------------------------------

def _hundreds(n: int, inner: bool) -> list[str]:
    """Words of 0 < n < 1000; `inner` when a higher group comes before (1005: "không trăm linh năm")."""
    h, rest = divmod(n, 100)
    tens, unit = divmod(rest, 10)
    words: list[str] = []
    if h or inner:
        words += [DIGITS[h], "trăm"]
    if tens == 0:
        if unit:
            words += (["linh"] if words else []) + [DIGITS[unit]]
    elif tens == 1:
        words.append("mười")
        if unit:
            words.append("lăm" if unit == 5 else DIGITS[unit])
    else:
        words += [DIGITS[tens], "mươi"]
        if unit:
            words.append({1: "mốt", 4: "tư", 5: "lăm"}.get(unit, DIGITS[unit]))
    return words


def vietnamese_number(n: int) -> str:
    """`n` (0 ≤ n < 10¹²) as a Vietnamese speaker reads it: 21 "hai mươi mốt", 15 "mười lăm",
    24 "hai mươi tư", 105 "một trăm linh năm", 1005 "một nghìn không trăm linh năm"."""
    if not 0 <= n < 10**12:
        raise ValueError(f"{n} is out of range")
    if n == 0:
        return DIGITS[0]
    groups = []
    while n:
        n, part = divmod(n, 1000)
        groups.append(part)
    words: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        part = groups[i]
        if part:
            words += _hundreds(part, inner=bool(words))
            if GROUPS[i]:
                words.append(GROUPS[i])
    return " ".join(words)


def spoken_label(label: str) -> str:
    """A ticket label for the Vietnamese voice: letters by their Vietnamese names, each run of
    digits as a number ("A023" → "a hai mươi ba", "AB-105" → "a bê một trăm linh năm")."""
    words = []
    for token in re.findall(r"\d+|[^\W\d_]", unicodedata.normalize("NFC", label)):
        if token.isdecimal():  # not isdigit: '²' is a digit int() cannot read
            words.append(vietnamese_number(int(token[-12:])))
        else:
            words.append(LETTERS.get(token.upper(), token.lower()))
    return " ".join(words)


def spoken_counter(name: str) -> str:
    """A counter's name for the Vietnamese voice: "Quầy 3" → "quầy số ba"; other names keep
    their words, with numbers read out ("Phòng 12" → "Phòng mười hai")."""
    name = unicodedata.normalize("NFC", name).strip()
    match = _COUNTER.fullmatch(name)
    if match:
        return f"quầy số {vietnamese_number(int(match.group(1)[-12:]))}"
    return " ".join(re.sub(r"\d+", lambda m: f" {vietnamese_number(int(m.group(0)[-12:]))} ", name).split())


def english_counter(name: str, counter_id: str) -> str:
    """'counter 3' for "Quầy 3" (or a numeric id), else the name without diacritics."""
    match = _COUNTER.fullmatch(unicodedata.normalize("NFC", name).strip())
    if match:
        return f"counter {int(match.group(1)[-12:])}"
    if counter_id.isdigit():
        return f"counter {counter_id}"
    return without_diacritics(name)


def call_text(label: str, counter_name: str, counter_id: str = "") -> dict[str, str]:
    """The sentences for one call, by language (vi, en)."""
    english_label = " ".join(str(int(t[-12:])) if t.isdecimal() else t.upper()
                             for t in re.findall(r"\d+|[^\W\d_]", without_diacritics(label)))
    return {
        "vi": f"Mời công dân có số thứ tự {spoken_label(label)} đến {spoken_counter(counter_name)}",
        "en": f"Ticket number {english_label}, please go to {english_counter(counter_name, counter_id)}.",
    }


# --- which events are spoken --------------------------------------------------------------------

class CallGate:
    """Which events to announce, in order; see the module docstring. `now` is monotonic seconds."""

    def __init__(self, hold_s: float = HOLD_S, remember: int = REMEMBER) -> None:
        self.hold_s = hold_s
        self.board_seq: int | None = None
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._remember = remember
        self._held: list[dict[str, Any]] = []
        self._holding_since: float | None = None

    def connected(self, now: float) -> None:
        """The bus (re)connected: hold events until the retained board arrives (or `hold_s` passes)."""
        self._holding_since = now

    def board(self, seq: int) -> list[dict[str, Any]]:
        """A board with `seq` arrived; returns the held events to announce now."""
        self.board_seq = seq
        return self._release()

    def event(self, event: dict[str, Any], now: float) -> list[dict[str, Any]]:
        """An event arrived; returns the events to announce now (this one, or none while holding)."""
        seq = event.get("seq")
        if event.get("type") not in CALL_EVENTS or type(seq) is not int or seq in self._seen:
            return []
        if self.board_seq is not None and seq <= self.board_seq:
            return []
        self._seen[seq] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        if self._holding_since is not None:
            self._held.append(event)
            return self.tick(now)
        return [event]

    def tick(self, now: float) -> list[dict[str, Any]]:
        """Release the held events when no board came within `hold_s` of the connection."""
        if self._holding_since is not None and now - self._holding_since >= self.hold_s:
            return self._release()
        return []

    @property
    def holding(self) -> bool:
        return self._holding_since is not None

    def _release(self) -> list[dict[str, Any]]:
        self._holding_since = None
        held, self._held = self._held, []
        floor = self.board_seq if self.board_seq is not None else -1
        return sorted((e for e in held if e["seq"] > floor), key=lambda e: e["seq"])


# --- sound ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clip:
    """One sound to play: `kind` chime, vi or en; `text` what it says; WAV bytes and length."""
    kind: str
    text: str
    wav: bytes
    seconds: float
    seq: int = -1  # the event it announces


class Player(Protocol):
    """Plays one clip at a time."""

    def play(self, clip: Clip) -> None:
        """Start playing `clip` now (only called when not `busy`)."""

    def busy(self) -> bool:
        """Whether a clip is still playing."""


Synthesize = Callable[[str, str], bytes]  # (text, espeak voice) -> WAV bytes


def wav_seconds(wav: bytes) -> float:
    """The length of a WAV file in seconds; 0.0 if it cannot be read."""
    try:
        with wave.open(io.BytesIO(wav)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return 0.0


def make_chime(rate: int = SAMPLE_RATE) -> bytes:
    """The built-in two-tone chime ("ding-dong", E5 then C5 with bell-like overtones) as WAV bytes."""
    samples = array.array("h")
    for freq, seconds in ((659.25, 0.45), (523.25, 0.9)):
        count = int(rate * seconds)
        for i in range(count):
            t = i / rate
            envelope = math.exp(-3.2 * t / seconds) * min(1.0, i / (0.005 * rate))
            tone = (math.sin(2 * math.pi * freq * t) + 0.35 * math.sin(4 * math.pi * freq * t)
                    + 0.12 * math.sin(6 * math.pi * freq * t))
            samples.append(int(9000 * envelope * tone))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


class SpeechError(RuntimeError):
    """The speech synthesiser failed for one text."""


class EspeakSynthesizer:
    """Speech offline with espeak-ng: `espeak-ng -v vi -s 150 -w out.wav TEXT`."""

    def __init__(self, executable: str = "espeak-ng", speed: int = 150, timeout_s: float = 15.0) -> None:
        self.executable = shutil.which(executable)
        self.speed = speed
        self.timeout_s = timeout_s

    @property
    def available(self) -> bool:
        return self.executable is not None

    def __call__(self, text: str, voice: str) -> bytes:
        if self.executable is None:
            raise SpeechError("espeak-ng is not installed")
        with tempfile.TemporaryDirectory(prefix="queuebox-voice-") as tmp:
            out = Path(tmp) / "call.wav"
            try:
                done = subprocess.run([self.executable, "-v", voice, "-s", str(self.speed), "-w", str(out), text],
                                      capture_output=True, timeout=self.timeout_s, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SpeechError(f"espeak-ng failed: {exc}") from exc
            if done.returncode != 0 or not out.exists():
                raise SpeechError(f"espeak-ng exited with {done.returncode}: "
                                  f"{done.stderr.decode('utf-8', 'replace').strip()[:200]}")
            return out.read_bytes()


class PygamePlayer:
    """Plays clips on one pygame mixer channel at a fixed volume. Call only from the display's loop."""

    def __init__(self, volume: float) -> None:
        import pygame  # the mixer is set up by `open_player`
        self._pygame = pygame
        self.volume = volume
        self._channel = pygame.mixer.Channel(0)
        self.sound: Any = None  # the Sound playing or played last (kept alive while it plays)

    def play(self, clip: Clip) -> None:
        sound = self._pygame.mixer.Sound(file=io.BytesIO(clip.wav))
        sound.set_volume(self.volume)
        self.sound = sound
        self._channel.play(sound)

    def busy(self) -> bool:
        return bool(self._channel.get_busy())


def open_player(volume: float) -> PygamePlayer | None:
    """A PygamePlayer, or None (logged once) when there is no audio device."""
    import pygame
    try:
        pygame.mixer.init(frequency=SAMPLE_RATE, size=-16, channels=1, buffer=1024)
        pygame.mixer.set_num_channels(1)
    except pygame.error as exc:
        logger.warning("no audio device (%s): calls are shown but not announced", exc)
        return None
    return PygamePlayer(volume)


# --- the announcer ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    seq: int
    texts: tuple[tuple[str, str, str], ...]  # (kind, text, espeak voice)


class Announcer:
    """Turns accepted call events into clips and plays them one after another (see the module docstring).

    `offer(event, counter_name)` queues a call; the display's loop calls `poll()`, which starts
    the next clip when the player is idle and the pause after the previous one is over, and
    returns the seconds until it wants to be polled again (None when nothing is pending).
    With `threaded=False` synthesis runs inside `offer` (for tests).
    """

    def __init__(self, config: Config, player: Player, synthesize: Synthesize | None, *, chime: bytes | None = None,
                 monotonic: Callable[[], float] = time.monotonic, threaded: bool = True) -> None:
        self.config = config
        self.player = player
        self.synthesize = synthesize
        self.monotonic = monotonic
        self.chime = chime if chime is not None else _load_chime(config.display.chime_path)
        self.played: deque[Clip] = deque(maxlen=200)  # the last clips started, for tests and logs
        self._ready: queue.Queue[list[Clip]] = queue.Queue()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._pending: deque[Clip] = deque()
        self._quiet_until = 0.0
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._speech_failed = False
        self._waiting = 0
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._work, name="announce-synth", daemon=True)
            self._thread.start()

    def offer(self, event: dict[str, Any], counter_name: str) -> None:
        """Queue the call of a `called`/`recalled` event for counter `counter_name`."""
        label = str(event.get("ticket") or "")[:16]
        if not label:
            return
        if self._waiting >= MAX_WAITING_CALLS:
            logger.warning("announcement queue full: %s at %s (seq %s) is shown but not spoken",
                           label, counter_name, event.get("seq"))
            return
        self._waiting += 1
        texts = call_text(label, counter_name[:48], str(event.get("counter") or ""))
        parts = [("chime", "", "")]
        for _ in range(max(1, self.config.display.announce_repeat)):
            parts.append(("vi", texts["vi"], "vi"))
            if self.config.display.announce_english:
                parts.append(("en", texts["en"], "en"))
        job = _Job(int(event.get("seq", -1)), tuple(parts))
        logger.info("announcing %s at %s (seq %s)", label, counter_name, event.get("seq"))
        if self._thread is None:
            self._ready.put(self._prepare(job))
        else:
            self._jobs.put(job)

    def poll(self) -> float | None:
        """Start the next clip if it is time; seconds until the next poll is useful, or None if idle."""
        now = self.monotonic()
        if self.player.busy():
            return 0.05
        while not self._pending:
            try:
                clips = self._ready.get_nowait()
            except queue.Empty:
                return 0.05 if self._waiting else None
            self._pending.extend(clips)
            if not clips:  # nothing to play for this call (cannot happen with a chime): count it done
                self._waiting -= 1
        if now < self._quiet_until:
            return self._quiet_until - now
        clip = self._pending.popleft()
        self.player.play(clip)
        self.played.append(clip)
        gap = (GAP_AFTER_CHIME_S if clip.kind == "chime" else
               GAP_BETWEEN_S if self._pending else GAP_AFTER_CALL_S)
        self._quiet_until = now + clip.seconds + gap
        if not self._pending:
            self._waiting -= 1
        return max(0.05, self._quiet_until - now)

    @property
    def idle(self) -> bool:
        return not self._waiting and not self._pending and not self.player.busy()

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=5)

    # --- synthesis (worker thread, or inline) ---------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._ready.put(self._prepare(job))

    def _prepare(self, job: _Job) -> list[Clip]:
        clips = []
        for kind, text, voice in job.texts:
            if kind == "chime":
                clips.append(Clip("chime", "", self.chime, wav_seconds(self.chime), job.seq))
                continue
            wav = self._speech(text, voice)
            if wav:
                clips.append(Clip(kind, text, wav, wav_seconds(wav), job.seq))
        return clips

    def _speech(self, text: str, voice: str) -> bytes:
        if self.synthesize is None:
            return b""
        key = (text, voice)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        try:
            wav = self.synthesize(text, voice)
        except Exception as exc:  # noqa: BLE001 - a voice failure must not stop the board or the chime
            if not self._speech_failed:
                logger.warning("speech failed (%s): calls are chimed until it works again", exc)
                self._speech_failed = True
            return b""
        if self._speech_failed:
            logger.info("speech works again")
            self._speech_failed = False
        self._cache[key] = wav
        while len(self._cache) > 64:
            self._cache.popitem(last=False)
        return wav


def _load_chime(path: str) -> bytes:
    if path:
        try:
            data = Path(path).read_bytes()
            if wav_seconds(data) > 0:
                return data
            logger.warning("display.chime_path %s is not a WAV file: using the built-in chime", path)
        except OSError as exc:
            logger.warning("cannot read display.chime_path (%s): using the built-in chime", exc)
    return make_chime()
