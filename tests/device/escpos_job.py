"""Reads back the ESC/POS bytes of ticket jobs, command by command, so tests can check what
the printer would do. Knows exactly the commands a queuebox ticket uses and refuses any
other byte, so a stray or malformed command fails the test."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

ESC, GS = b"\x1b", b"\x1d"


@dataclass
class Raster:
    """A ``GS v 0`` raster image: `width_bytes` × 8 dots wide, `height` rows, black bits set."""
    mode: int
    width_bytes: int
    height: int
    data: bytes

    def image(self) -> Image.Image:
        """The raster as a mode "1" image (black 0), as the printer would print it."""
        inverted = bytes(b ^ 0xFF for b in self.data)
        return Image.frombytes("1", (self.width_bytes * 8, self.height), inverted)


@dataclass
class Job:
    """One ticket job read back."""
    resets: int = 0
    rasters: list[Raster] = field(default_factory=list)
    qr_data: list[str] = field(default_factory=list)  # what each `GS ( k` store-data command held
    qr_prints: int = 0
    qr_size: int | None = None
    aligns: list[int] = field(default_factory=list)
    feeds: list[int] = field(default_factory=list)
    cuts: int = 0

    def image(self) -> Image.Image:
        """The raster fragments stacked, as printed."""
        parts = [r.image() for r in self.rasters]
        out = Image.new("1", (max(p.width for p in parts), sum(p.height for p in parts)), 1)
        y = 0
        for p in parts:
            out.paste(p, (0, y))
            y += p.height
        return out


def parse_jobs(data: bytes) -> list[Job]:
    """The jobs in `data`, each starting with ``ESC @``; status queries between them are
    skipped; ValueError at the first unknown byte."""
    jobs: list[Job] = []
    i = 0

    def need(n: int) -> bytes:
        if i + n > len(data):
            raise ValueError(f"truncated command at byte {i}")
        return data[i:i + n]

    while i < len(data):
        two = need(2)
        if two == b"\x10\x04":  # DLE EOT n: a status query, not part of a ticket
            i += 3
            continue
        if two == ESC + b"@":
            jobs.append(Job(resets=1))
            i += 2
            continue
        if not jobs:
            raise ValueError(f"byte {i}: data before the first ESC @")
        job = jobs[-1]
        three = need(3)
        if three == GS + b"v0":
            mode, xl, xh, yl, yh = need(8)[3:8]
            width_bytes, height = xl + 256 * xh, yl + 256 * yh
            size = width_bytes * height
            job.rasters.append(Raster(mode, width_bytes, height, need(8 + size)[8:]))
            i += 8 + size
        elif three == GS + b"(k":
            pl, ph = need(5)[3:5]
            length = pl + 256 * ph
            body = need(5 + length)[5:]
            cn, fn = body[0], body[1]
            if cn != 49:
                raise ValueError(f"byte {i}: GS ( k for symbol {cn}, not QR (49)")
            if fn == 80:  # store data: m=48, then the text
                job.qr_data.append(body[3:].decode("utf-8"))
            elif fn == 81:  # print the stored symbol
                job.qr_prints += 1
            elif fn == 67:  # module size
                job.qr_size = body[2]
            i += 5 + length
        elif two == ESC + b"a":
            job.aligns.append(three[2])
            i += 3
        elif two == ESC + b"d":
            job.feeds.append(three[2])
            i += 3
        elif two == GS + b"V":
            if three[2] in (0, 1, 48, 49):
                job.cuts += 1
                i += 3
            else:
                job.cuts += 1
                i += 4
        else:
            raise ValueError(f"byte {i}: unexpected command {data[i:i + 4]!r}")
    return jobs


def parse_job(data: bytes) -> Job:
    """The one job in `data`."""
    jobs = parse_jobs(data)
    if len(jobs) != 1:
        raise ValueError(f"{len(jobs)} jobs, not one")
    return jobs[0]
