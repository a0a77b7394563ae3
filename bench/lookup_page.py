"""Benchmark: the public procedure lookup on a cheap phone over the centre's Wi-Fi, against a real
`queuebox server` process (on a real Mosquitto) whose catalogue holds --procedures procedures
spread over the fields of a commune (the biggest field a third of them).

Prints one JSON object on stdout (and writes it to --json-out FILE if given). For each page —
`index` (/procedures), `search` (?q=dang ky: a common search), `field` (the biggest field),
`procedure` (one with documents and portal link):

- weight: the HTML and everything it loads (stylesheets, icon), as sent to a browser that takes
  gzip (`sent_kb`) and unpacked (`raw_kb`);
- server time: --requests GETs one after another, each on a new connection as a phone's,
  p50/p99/max in ms; the floor is `GET /healthz` measured the same way in the same run;
- first contentful paint in headless Chromium at 390×844, a fresh browser context each time
  (nothing cached), median and max of --paints loads: on this machine as it is, and as a cheap
  phone (CPU 4× slower, 10 Mbit/s down, 40 ms round trip, through Chromium's own throttling).

Targets: every page's `sent_kb` <= 30, server p99 <= 50 ms, FCP <= 1 s on this machine
(and reported, not judged, as a throttled phone).

    .venv/bin/python bench/lookup_page.py [--procedures 300] [--requests 200] [--paints 5]
                                          [--json-out FILE] [--dir DIR]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' real broker, server process and browser settings

from benchlib import emit, machine, percentile  # noqa: E402 (bench/ is on the path)
from server.engine import Engine  # noqa: E402
from tests.factories import insert_procedures, make_config  # noqa: E402
from tests.helpers.server_process import ServerProcess  # noqa: E402
from tests.mqtt_broker import Broker  # noqa: E402
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

TARGET_SENT_KB = 30.0
TARGET_P99_MS = 50.0
TARGET_FCP_MS = 1000.0
PHONE = {"width": 390, "height": 844}
CHEAP_PHONE = {"cpu_slowdown": 4, "down_kbit_s": 10_000, "up_kbit_s": 5_000, "rtt_ms": 40}
# A commune's fields and the share of the catalogue each has (the biggest a third).
FIELDS = [("A", "Đất đai", 0.34), ("B", "Hộ tịch", 0.2), ("C", "Chứng thực", 0.1), ("D", "Hộ kinh doanh", 0.08),
          ("E", "Xây dựng", 0.08), ("F", "Bảo trợ xã hội", 0.08), ("G", "Nông nghiệp", 0.06), ("H", "Giáo dục", 0.06)]
ACTIONS = ["Đăng ký", "Cấp", "Cấp lại", "Cấp đổi", "Điều chỉnh", "Chứng thực", "Xác nhận", "Gia hạn", "Thay đổi"]
OBJECTS = ["khai sinh", "kết hôn", "giấy chứng nhận quyền sử dụng đất", "hộ kinh doanh", "giấy phép xây dựng nhà ở riêng lẻ",
           "trợ cấp xã hội hằng tháng cho người cao tuổi", "bản sao từ bản chính", "chữ ký trong giấy tờ, văn bản",
           "thông tin hộ tịch", "tình trạng hôn nhân", "hợp đồng chuyển nhượng quyền sử dụng đất"]
DOCUMENTS = ["Tờ khai theo mẫu", "Bản sao giấy tờ tùy thân (xuất trình bản chính để đối chiếu)",
             "Giấy tờ chứng minh nơi cư trú", "Văn bản ủy quyền (nếu nộp thay)", "Bản chính giấy tờ cần chứng thực",
             "Sơ đồ vị trí thửa đất", "Chứng từ thực hiện nghĩa vụ tài chính"]


def catalogue(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` procedures with names, documents, times and fees as published, over FIELDS."""
    rng = random.Random(seed)
    weights = [share for _code, _name, share in FIELDS]
    rows = []
    for n in range(count):
        code = rng.choices([c for c, _n, _s in FIELDS], weights)[0]
        name = f"{rng.choice(ACTIONS)} {rng.choice(OBJECTS)}"
        if n % 25 == 0:
            name += " kết hợp liên thông với đăng ký thường trú, cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi"
        rows.append({"code": f"1.{n:06d}", "service": code, "name_vi": f"{name} ({n})",
                     "documents": "\n".join(rng.sample(DOCUMENTS, rng.randint(2, 6))),
                     "processing_time": rng.choice(["Trong ngày", "03 ngày làm việc", "Không quá 15 ngày làm việc"]),
                     "fee": rng.choice(["Miễn phí", "50.000 đồng/lần", "2.000 đồng/trang; tối đa 200.000 đồng/bản"]),
                     "result_place": "Bộ phận Một cửa UBND xã", "on_the_spot": int(rng.random() < 0.3),
                     "portal_url": f"https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html"
                                   f"?ma_thu_tuc=1.{n:06d}"})
    return rows


def fetch(port: int, path: str, gzip_ok: bool = True) -> tuple[int, bytes, bytes]:
    """GET `path` on a new connection: status, bytes as sent, bytes unpacked."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
        response = conn.getresponse()
        sent = response.read()
        raw = gzip.decompress(sent) if response.getheader("Content-Encoding") == "gzip" else sent
        return response.status, sent, raw
    finally:
        conn.close()


def weight(port: int, path: str) -> dict[str, Any]:
    """The page and what it loads (stylesheets, icon, scripts, images), in KB sent and unpacked."""
    status, sent, raw = fetch(port, path)
    assert status == 200, (path, status)
    assets = sorted(set(re.findall(rb'<(?:link|script|img)[^>]+(?:href|src)="(/[^"]+)"', raw)))
    sizes = {path: (len(sent), len(raw))}
    for asset in assets:
        a_status, a_sent, a_raw = fetch(port, asset.decode())
        assert a_status == 200, (asset, a_status)
        sizes[asset.decode()] = (len(a_sent), len(a_raw))
    return {"html_sent_kb": round(len(sent) / 1024, 1), "html_raw_kb": round(len(raw) / 1024, 1),
            "sent_kb": round(sum(s for s, _r in sizes.values()) / 1024, 1),
            "raw_kb": round(sum(r for _s, r in sizes.values()) / 1024, 1), "loads": sorted(sizes)[1:]}


def server_times(port: int, path: str, requests: int) -> dict[str, Any]:
    seconds = []
    for _ in range(requests):
        start = time.perf_counter()
        status, _sent, _raw = fetch(port, path)
        seconds.append(time.perf_counter() - start)
        assert status == 200, (path, status)
    ordered = sorted(seconds)
    return {"count": requests, "p50_ms": round(percentile(ordered, 50) * 1000, 2),
            "p99_ms": round(percentile(ordered, 99) * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2)}


def first_paints(browser: Any, url: str, loads: int, throttle: bool) -> dict[str, Any]:
    """First contentful paint (ms) of `url` in a fresh context each load: median and max."""
    paints = []
    for _ in range(loads):
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="vi-VN")
        page = context.new_page()
        if throttle:
            cdp = context.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": CHEAP_PHONE["cpu_slowdown"]})
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", {
                "offline": False, "latency": CHEAP_PHONE["rtt_ms"],
                "downloadThroughput": CHEAP_PHONE["down_kbit_s"] * 1000 / 8,
                "uploadThroughput": CHEAP_PHONE["up_kbit_s"] * 1000 / 8})
        page.goto(url, wait_until="load")
        fcp = page.evaluate("""() => new Promise(done => {
            const seen = performance.getEntriesByName("first-contentful-paint");
            if (seen.length) return done(seen[0].startTime);
            new PerformanceObserver(list => done(list.getEntries()[0].startTime)).observe({type: "paint", buffered: true});
        })""")
        paints.append(float(fcp))
        context.close()
    return {"median_ms": round(statistics.median(paints), 1), "max_ms": round(max(paints), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procedures", type=int, default=300, help="procedures in the catalogue")
    parser.add_argument("--requests", type=int, default=200, help="GETs of each page for the server time")
    parser.add_argument("--paints", type=int, default=5, help="loads of each page in Chromium")
    parser.add_argument("--json-out")
    parser.add_argument("--dir", help="folder for the broker, database and logs (default: a temporary one)")
    args = parser.parse_args()

    folder = Path(args.dir or tempfile.mkdtemp(prefix="lookup-page-"))
    folder.mkdir(parents=True, exist_ok=True)
    broker = Broker(folder / "broker").start()
    config = make_config(services=[{"code": code, "name_vi": name} for code, name, _share in FIELDS],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {code: 1 for code, _n, _s in FIELDS}}],
                         mqtt={"host": broker.host, "port": broker.port, "root": "benchlookup"},
                         database={"path": str(folder / "q.db")})
    Engine(config, folder / "q.db").close()  # the schema
    rows = catalogue(args.procedures)
    ids = insert_procedures(folder / "q.db", rows)
    biggest = max(FIELDS, key=lambda f: sum(r["service"] == f[0] for r in rows))[0]
    pages = {"index": "/procedures", "search": "/procedures?q=dang+ky", "field": f"/procedures/field/{biggest}",
             "procedure": f"/procedures/{ids[0]}"}
    server = ServerProcess(config, folder / "server").start()
    try:
        port = server.port
        for path in pages.values():  # warm up: templates compiled, the database in the page cache
            fetch(port, path)
        floor = server_times(port, "/healthz", args.requests)
        results: dict[str, Any] = {name: {**weight(port, path), "server": server_times(port, path, args.requests)}
                                   for name, path in pages.items()}
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for name, path in pages.items():
                    url = f"http://127.0.0.1:{port}{path}"
                    results[name]["fcp"] = first_paints(browser, url, args.paints, throttle=False)
                    results[name]["fcp_cheap_phone"] = first_paints(browser, url, args.paints, throttle=True)
            finally:
                browser.close()
    finally:
        server.stop()
        broker.stop()

    worst = {"sent_kb": max(r["sent_kb"] for r in results.values()),
             "p99_ms": max(r["server"]["p99_ms"] for r in results.values()),
             "fcp_ms": max(r["fcp"]["max_ms"] for r in results.values())}
    result = {
        "bench": "lookup_page",
        "settings": {"procedures": args.procedures, "requests": args.requests, "paints": args.paints,
                     "field_procedures": sum(r["service"] == biggest for r in rows),
                     "cheap_phone": CHEAP_PHONE, "viewport": PHONE},
        "targets": {"sent_kb": TARGET_SENT_KB, "p99_ms": TARGET_P99_MS, "fcp_ms": TARGET_FCP_MS},
        "floor": {"healthz": floor},
        "pages": results,
        "worst": worst,
        "meets": {"sent_kb": worst["sent_kb"] <= TARGET_SENT_KB, "p99": worst["p99_ms"] <= TARGET_P99_MS,
                  "fcp": worst["fcp_ms"] <= TARGET_FCP_MS},
        "machine": machine(),
    }
    return emit(result, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
