"""Small builders shared by tests: configs that are always open, a settable clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from queuebox.config import Config, config_from_dict

ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Monday 23 November 2026, 09:00 in Ho Chi Minh City.
MONDAY_9AM = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


def make_config(services: list[dict[str, Any]] | None = None, counters: list[dict[str, Any]] | None = None,
                **sections: dict[str, Any]) -> Config:
    """A valid config; services are open all day every day unless given otherwise."""
    services = services or [
        {"code": "A", "name_vi": "Đất đai", "name_en": "Land"},
        {"code": "B", "name_vi": "Hộ tịch - Chứng thực", "name_en": "Civil status"},
        {"code": "C", "name_vi": "Đăng ký kinh doanh", "name_en": "Business"},
    ]
    services = [{"open_days": ALL_DAYS, "hours": [], **s} for s in services]
    counters = counters or [
        {"id": "1", "name": "Quầy 1", "services": {"A": 1}},
        {"id": "2", "name": "Quầy 2", "services": {"A": 1, "B": 1}},
        {"id": "3", "name": "Quầy 3", "services": {"B": 2, "C": 1}},
    ]
    raw = {"site": {"id": "test", "name": "Trung tâm thử"}, "services": services, "counters": counters, **sections}
    return config_from_dict(raw)


class FakeClock:
    """A clock the test moves by hand; call it to read the time."""

    def __init__(self, start: datetime = MONDAY_9AM) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


# --- the procedure catalogue -------------------------------------------------------------------
# Procedures as a commune publishes them, seeded with plain INSERTs (reading the catalogue needs
# none of its writes). Services are those of make_config: A land, B civil status, C business.
LONG_NAME = ("Thủ tục liên thông đăng ký khai sinh, đăng ký thường trú, cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi "
             "và đăng ký nhận cha, mẹ, con kết hợp với việc xác định lại dân tộc, bổ sung hộ tịch, cải chính hộ tịch "
             "cho người đã được đăng ký khai sinh tại cơ quan đăng ký hộ tịch ở trong nước hoặc ở nước ngoài")
EVERY_TONE = ("Xác nhận đủ dấu: ẰẮẲẴẶ ẦẤẨẪẬ ỀẾỂỄỆ ỒỐỔỖỘ ỜỚỞỠỢ ỪỨỬỮỰ ỲÝỶỸỴ Đ — à á ả ã ạ ằ ắ ẳ ẵ ặ ầ ấ ẩ ẫ ậ "
              "è é ẻ ẽ ẹ ề ế ể ễ ệ ì í ỉ ĩ ị ò ó ỏ õ ọ ồ ố ổ ỗ ộ ờ ớ ở ỡ ợ ù ú ủ ũ ụ ừ ứ ử ữ ự ỳ ý ỷ ỹ ỵ đ")
BIRTH_PORTAL = "https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=1.001193"
SAMPLE_PROCEDURES: list[dict[str, Any]] = [
    {"code": "1.001193", "service": "B", "name_vi": "Đăng ký khai sinh", "name_en": "Birth registration",
     "documents": "Tờ khai đăng ký khai sinh theo mẫu\nGiấy chứng sinh (bản chính)\n"
                  "Giấy tờ tùy thân của người đi đăng ký (xuất trình)",
     "processing_time": "Trong ngày", "fee": "Miễn phí", "result_place": "Bộ phận Một cửa UBND xã",
     "portal_url": BIRTH_PORTAL, "on_the_spot": 1},
    {"code": "2.000815", "service": "B", "name_vi": "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
     "name_en": "Certified copy from the original",
     "documents": "Bản chính giấy tờ, văn bản làm cơ sở để chứng thực bản sao\nBản sao cần chứng thực",
     "processing_time": "Trong ngày", "fee": "2.000 đồng/trang; từ trang thứ ba trở lên 1.000 đồng/trang, "
     "tối đa 200.000 đồng/bản", "result_place": "Bộ phận Một cửa UBND xã", "on_the_spot": 1},
    {"code": "1.000894", "service": "B", "name_vi": "Đăng ký kết hôn", "name_en": "Marriage registration",
     "documents": "Tờ khai đăng ký kết hôn theo mẫu\nGiấy xác nhận tình trạng hôn nhân",
     "processing_time": "Ngay trong ngày; cần xác minh thì không quá 05 ngày làm việc", "fee": "Miễn phí",
     "result_place": "Bộ phận Một cửa UBND xã"},
    {"code": "1.000656", "service": "B", "name_vi": "Đăng ký khai tử", "name_en": "Death registration",
     "hidden": 1},
    {"code": None, "service": "B", "name_vi": EVERY_TONE, "processing_time": "03 ngày làm việc", "fee": "Miễn phí"},
    {"code": "1.012756", "service": "A",
     "name_vi": "Cấp Giấy chứng nhận quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất lần đầu",
     "name_en": "First land use right certificate",
     "documents": "Đơn đăng ký, cấp Giấy chứng nhận theo Mẫu số 04/ĐK\nMột trong các loại giấy tờ về quyền sử dụng đất\n"
                  "Chứng từ thực hiện nghĩa vụ tài chính",
     "processing_time": "Không quá 20 ngày làm việc",
     "fee": "Lệ phí cấp giấy: 100.000 đồng/giấy; phí thẩm định hồ sơ theo Nghị quyết của HĐND tỉnh",
     "result_place": "Bộ phận Một cửa UBND xã hoặc Chi nhánh Văn phòng đăng ký đất đai"},
    {"code": "1.012757", "service": "A", "name_vi": LONG_NAME, "processing_time": "Không quá 15 ngày làm việc",
     "fee": "Theo quy định của HĐND tỉnh", "result_place": "Bộ phận Một cửa UBND xã"},
]


def insert_procedures(db_path: Any, procedures: list[dict[str, Any]] | None = None) -> list[int]:
    """Add `procedures` (default SAMPLE_PROCEDURES; missing columns take the table's defaults,
    position their order) to the catalogue of the database file `db_path`, whose migrations
    have run (an Engine on it makes them). Returns their ids in order."""
    import sqlite3
    rows = SAMPLE_PROCEDURES if procedures is None else procedures
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        ids = []
        for position, row in enumerate(rows):
            values = {"position": position, "updated_at": "2026-11-23T09:00:00+07:00", **row}
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            ids.append(conn.execute(f"INSERT INTO procedures ({columns}) VALUES ({marks})",
                                    list(values.values())).lastrowid)
        return ids
    finally:
        conn.close()
