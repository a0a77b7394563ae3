"""Spoken calls: a chime, then "Mời công dân có số thứ tự A023 đến quầy số 3", for every
`called` and `recalled` event, queued so that calls never cut each other off.

Three parts:

- `CallGate` decides which events to announce: `called` and `recalled` only, each `seq`
  once (a QoS 1 redelivery does nothing; a recall has its own seq, so it is spoken
  again), and only events newer than the board the display holds. After every
  (re)connection the events the broker had queued for this display arrive before the
  retained board; they are held until that board comes and those it already shows are
  dropped, so a display that was away does not read out a backlog of old calls.
- The words: `call_words` (queuebox/words.py) turns a call into prompt ids and their text,
  one reading rule for both voices.
- `Announcer` turns each accepted call into clips: the chime, then the sentence
  `announce_repeat` times with `announce_pause_s` between, then English if configured. The
  Vietnamese sentence is assembled from the clips of the voice pack when it has every word
  of the call (display/voicepack.py), else synthesised by espeak-ng (each word missing from
  the pack is logged once). Synthesis runs on a worker thread; clips are played one after
  another from the display's main loop (`poll`), never starting one while another plays.

The player and the synthesiser are in display/sound.py. No audio device: the display logs
one line and runs without announcements.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from display.sound import Clip, Player, Synthesize, make_chime, wav_seconds
from display.voicepack import Pack, assemble
from queuebox.config import Config
from queuebox.words import Word, call_text, call_words

logger = logging.getLogger(__name__)

CALL_EVENTS = ("called", "recalled")
HOLD_S = 3.0  # after a (re)connection, how long events wait for the retained board
REMEMBER = 2048  # event seqs remembered against redelivery
GAP_AFTER_CHIME_S = 0.25
GAP_AFTER_CALL_S = 1.0  # before the next call's chime
MAX_WAITING_CALLS = 50  # calls queued beyond this are dropped (oldest kept: they are spoken in order)


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


# --- the announcer ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Job:
    seq: int
    words: tuple[Word, ...]  # the Vietnamese call, for the voice pack
    texts: tuple[tuple[str, str, str], ...]  # (kind, text, espeak voice)


class Announcer:
    """Turns accepted call events into clips and plays them one after another (see the module docstring).

    `offer(event, counter_name)` queues a call; the display's loop calls `poll()`, which starts
    the next clip when the player is idle and the pause after the previous one is over, and
    returns the seconds until it wants to be polled again (None when nothing is pending).
    `pack` is the voice pack to speak with (None: espeak-ng only); `use_pack` swaps it, from
    any thread, for the calls prepared after. With `threaded=False` synthesis runs inside
    `offer` (for tests).
    """

    def __init__(self, config: Config, player: Player, synthesize: Synthesize | None, *, chime: bytes | None = None,
                 monotonic: Callable[[], float] = time.monotonic, threaded: bool = True,
                 pack: Pack | None = None) -> None:
        self.config = config
        self.player = player
        self.synthesize = synthesize
        self.pack = pack
        self._missing_logged: set[str] = set()  # words missing from the pack, logged once each
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
        counter_id, priority = str(event.get("counter") or ""), bool(event.get("priority"))
        words = call_words(label, counter_name[:48], counter_id, priority)
        texts = call_text(label, counter_name[:48], counter_id, priority)
        parts = [("chime", "", "")]
        for _ in range(max(1, self.config.display.announce_repeat)):
            parts.append(("vi", texts["vi"], "vi"))
            if self.config.display.announce_english:
                parts.append(("en", texts["en"], "en"))
        job = _Job(int(event.get("seq", -1)), tuple(words), tuple(parts))
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
               self.config.display.announce_pause_s if self._pending else GAP_AFTER_CALL_S)
        self._quiet_until = now + clip.seconds + gap
        if not self._pending:
            self._waiting -= 1
        return max(0.05, self._quiet_until - now)

    @property
    def idle(self) -> bool:
        return not self._waiting and not self._pending and not self.player.busy()

    def use_pack(self, pack: Pack | None) -> None:
        """Speak the calls prepared from now on with `pack` (None: espeak-ng only)."""
        self.pack = pack
        self._missing_logged = set()
        logger.info("voice pack %s: %d clips", pack.version if pack else "none", len(pack.clips) if pack else 0)

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
        recorded = self._recorded(job.words)
        for kind, text, voice in job.texts:
            if kind == "chime":
                clips.append(Clip("chime", "", self.chime, wav_seconds(self.chime), job.seq))
                continue
            wav = recorded if kind == "vi" and recorded else self._speech(text, voice)
            if wav:
                clips.append(Clip(kind, text, wav, wav_seconds(wav), job.seq))
        return clips

    def _recorded(self, words: tuple[Word, ...]) -> bytes:
        """The call assembled from the pack's clips; b"" when there is no pack or it lacks a word."""
        pack = self.pack
        if pack is None:
            return b""
        missing = pack.missing(words)
        if missing:
            new = [m for m in missing if m not in self._missing_logged]
            if new:
                self._missing_logged.update(new)
                logger.warning("the voice pack has no clip for %s: calls that need it are spoken by espeak-ng",
                               ", ".join(repr(m) for m in new))
            return b""
        return assemble([pack.clips[w.id] for w in words], pack.rate)

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
