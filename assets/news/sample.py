"""Write the news sample: zipped GDELT 2.0 GKG/Events/Mentions slot files for Sep-Oct 2023, a feed.

Run: `uv run python -m assets.news.sample data/sample` (deterministic: seeded RNG, no clock).

Real rows are the six articles about the 2023-10-05 Tumangang observation, with their published metadata
(title, URL, outlet, language and publication date as published; where the URL or the day is not
known this is said in the row's BORDERWATCH_NOTE and the URL is a placeholder under
unknown.invalid). Their GKG locations and themes are assigned by this generator (GDELT's own
coding of them is not reproduced) and their tone is left empty. They carry
<BORDERWATCH_SYNTHETIC>false</BORDERWATCH_SYNTHETIC>; every other row is generated background and
carries true, with URLs under synthetic.invalid. Events and Mentions rows are all generated
(event ids from 900000000, source URLs under synthetic.invalid; Mentions mark it in Extras).

Only slots holding rows are written. gdelt/masterfilelist.txt lists every written file plus two
slots declared published but absent, so the staging step reports exactly those two as gaps
(see assets/news/stage.py for the rule).
"""

from __future__ import annotations

import hashlib
import io
import random
import sys
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

START, END = date(2023, 9, 1), date(2023, 11, 1)
SEED = 20231005
LIST_BASE = "https://sample.borderwatch.invalid/gdeltv2/"
SLOT_HOURS = (0, 6, 12, 18)  # rows published before a slot go into it: a few slots a day
MISSING_SLOTS = (datetime(2023, 10, 10, 18, tzinfo=UTC), datetime(2023, 9, 20, 6, tzinfo=UTC))

# (name, FIPS, ADM1, lat, lon, feature id) as a GDELT geocoder would write them.
PLACES = {
    "tumangang": (
        "Tumangang, Hamgyong-bukto, North Korea",
        "KN",
        "KN18",
        42.4217,
        130.6026,
        "-9990001",
    ),
    "tumangang_ru": ("Туманган, Северная Корея", "KN", "KN18", 42.4217, 130.6026, "-9990001"),
    "khasan": ("Khasan, Primorskiy Kray, Russia", "RS", "RS59", 42.4300, 130.6400, "-9990002"),
    "rajin": ("Najin, Hamgyong-bukto, North Korea", "KN", "KN18", 42.2400, 130.3000, "-9990003"),
    "sinuiju": (
        "Sinuiju, P'yongan-bukto, North Korea",
        "KN",
        "KN11",
        40.1000,
        124.4000,
        "-9990004",
    ),
    "dandong": ("Dandong, Liaoning, China", "CH", "CH19", 40.1250, 124.3900, "-9990005"),
    "namyang": (
        "Namyang, Hamgyong-bukto, North Korea",
        "KN",
        "KN17",
        42.9500,
        129.8400,
        "-9990006",
    ),
    "tumen": ("Tumen, Jilin, China", "CH", "CH05", 42.9650, 129.8450, "-9990007"),
    "north_korea": ("North Korea", "KN", "KN", 40.0, 127.0, "KN"),
    "russia": ("Russia", "RS", "RS", 60.0, 100.0, "RS"),
    "china": ("China", "CH", "CH", 35.0, 105.0, "CH"),
    "mongolia": ("Ulaanbaatar, Ulaanbaatar, Mongolia", "MG", "MG20", 47.9167, 106.9167, "-9990010"),
    "berlin": ("Berlin, Berlin, Germany", "GM", "GM16", 52.5167, 13.4, "-9990011"),
    "lagos": ("Lagos, Lagos, Nigeria", "NI", "NI05", 6.4531, 3.3958, "-9990012"),
    "lima": ("Lima, Lima, Peru", "PE", "PE15", -12.05, -77.05, "-9990013"),
}
LANG3 = {"en": None, "fr": "fra", "nl": "nld", "ko": "kor", "ru": "rus", "zh": "zho"}


@dataclass
class Article:
    published_at: datetime
    url: str
    source: str
    title: str
    language: str
    places: list[str]
    themes: list[str]
    synthetic: bool
    tone: float | None = None
    note: str | None = None
    events: list[dict] = field(default_factory=list)


REAL = [
    Article(
        datetime(2023, 10, 6, 15, 0, tzinfo=UTC),
        "https://www.rferl.org/amp/russia-north-korea-rail-traffic-arms-supply-ukraine/32628223.html",
        "rferl.org",
        "North Korea-Russia Rail Traffic Surges, Suggesting Arms Supply, Says Think Tank",
        "en",
        ["tumangang", "north_korea", "russia"],
        ["TRANSPORT", "RAIL", "MILITARY"],
        False,
        note="RFE/RL, published 2023-10-06; time of day assigned by the generator",
    ),
    Article(
        datetime(2023, 10, 8, 9, 0, tzinfo=UTC),
        "https://www.kgun9.com/news/world/surge-in-rail-traffic-on-north-korea-russia-border-"
        "suggests-arms-supply-to-russia-think-tank-says",
        "kgun9.com",
        "Surge in rail traffic on North Korea-Russia border suggests arms supply to Russia, "
        "think tank says",
        "en",
        ["tumangang", "khasan", "north_korea"],
        ["TRANSPORT", "RAIL", "MILITARY"],
        False,
        note="AP via KGUN 9, published 2023-10-08; time of day assigned",
    ),
    Article(
        datetime(2023, 10, 8, 10, 30, tzinfo=UTC),
        "https://localnews8.com/news/national-world/ap-national/2023/10/08/a-surge-in-rail-traffic-"
        "on-north-korea-russia-border-suggests-arms-supply-to-russia-think-tank-says",
        "localnews8.com",
        "A surge in rail traffic on North Korea-Russia border suggests arms supply to Russia, "
        "think tank says",
        "en",
        ["tumangang", "khasan", "north_korea"],
        ["TRANSPORT", "RAIL", "MILITARY"],
        False,
        note="AP via Local News 8, published 2023-10-08; time of day assigned",
    ),
    Article(
        datetime(2023, 10, 7, 14, 0, tzinfo=UTC),
        "https://unknown.invalid/foxnews/north-korea-russia-border-rail-traffic-surging",
        "foxnews.com",
        "North Korea-Russia border rail traffic surging with unknown cargo, "
        "satellite imagery shows",
        "en",
        ["tumangang", "north_korea", "russia"],
        ["TRANSPORT", "RAIL"],
        False,
        note="Fox News Digital (Peter Aitken), syndicated, October 2023. URL NOT "
        "KNOWN: placeholder under unknown.invalid. Day NOT KNOWN: placed on 2023-10-07",
    ),
    Article(
        datetime(2023, 10, 9, 8, 0, tzinfo=UTC),
        "https://unknown.invalid/fr/trafic-ferroviaire-frontiere-coree-du-nord-russie",
        "unknown.invalid",
        "Le trafic ferroviaire à travers la frontière entre la Corée du Nord et la Russie a "
        "augmenté ...",
        "fr",
        ["tumangang", "north_korea", "russia"],
        ["TRANSPORT", "RAIL"],
        False,
        note="French translation of the Fox News article, October 2023. Title as "
        "quoted by its publisher (truncated there). URL and outlet NOT KNOWN: placeholder. "
        "Day NOT KNOWN: placed on 2023-10-09",
    ),
    Article(
        datetime(2023, 10, 7, 11, 0, tzinfo=UTC),
        "https://www.rd.nl/artikel/1037517-groot-aantal-goederenwagons-onderweg-van-noord-korea-"
        "naar-rusland",
        "rd.nl",
        "Groot aantal goederenwagons onderweg van Noord-Korea naar Rusland",
        "nl",
        ["tumangang", "north_korea", "russia"],
        ["TRANSPORT", "RAIL"],
        False,
        note="Reformatorisch Dagblad, October 2023. Day NOT KNOWN: placed on "
        "2023-10-07",
    ),
]

OUTLETS = [
    "northeast-asia-monitor.synthetic.invalid",
    "rail-freight-daily.synthetic.invalid",
    "border-trade-wire.synthetic.invalid",
    "pacific-rim-news.synthetic.invalid",
    "korea-watch.synthetic.invalid",
]
TOPICS = {
    "tumangang": [
        ("en", "Freight trains cross the Friendship Bridge at Tumangang", ["tumangang", "khasan"]),
        ("en", "Tumangang station yard sees more wagons as Russia trade grows", ["tumangang"]),
        ("en", "Rason rail link: a quiet week at the Tumen river crossing", ["north_korea"]),
        ("ko", "두만강역 화물열차 급증…북러 무기거래 의혹", ["tumangang"]),
        ("ru", "Грузовые составы на станции Хасан идут в КНДР", ["tumangang_ru", "russia"]),
    ],
    "rajin": [
        ("en", "Container ship calls at Rajin port, Rason", ["rajin"]),
        ("ko", "나진항에 러시아 선박 입항", ["rajin"]),
    ],
    "dandong": [
        ("en", "Trucks queue at Dandong as China-North Korea trade picks up", ["dandong"]),
        ("zh", "丹东口岸货运量回升", ["dandong", "china"]),
        ("en", "Sinuiju customs area expands, imagery suggests", ["sinuiju"]),
    ],
    "namyang": [
        ("en", "Namyang rail bridge reopens to freight", ["namyang", "tumen"]),
    ],
    "unrelated": [
        ("en", "City council approves new tram line", ["berlin"]),
        ("en", "Port of Lagos reports record container volume", ["lagos"]),
        ("en", "Peru's central bank holds rates", ["lima"]),
        ("en", "Tumen of ten thousand: the steppe armies of the Mongol empire", ["mongolia"]),
        ("en", "Harvest festival draws crowds", []),
    ],
}


def _slug(text: str, n: int) -> str:
    ascii_words = "".join(c.lower() if c.isascii() and c.isalnum() else "-" for c in text)
    words = [w for w in ascii_words.split("-") if w]
    return "-".join(words[:8] or ["article"]) + f"-{n}"


def _daily_rate(topic: str, day: date) -> float:
    """Expected synthetic articles per day: a September baseline, a surge after 2023-10-05."""
    if topic == "tumangang":
        if day < date(2023, 10, 6):
            return 0.45
        since = (day - date(2023, 10, 6)).days
        return 0.8 + 6.0 * 0.72**since
    return {"rajin": 0.3, "dandong": 1.0, "namyang": 0.15, "unrelated": 3.0}[topic]


def _poisson(rng: random.Random, lam: float) -> int:
    n, p, threshold = 0, 1.0, pow(2.718281828459045, -lam)
    while True:
        p *= rng.random()
        if p <= threshold:
            return n
        n += 1


def synthetic_articles(rng: random.Random) -> list[Article]:
    out = []
    n = 0
    day = START
    while day < END:
        for topic, choices in TOPICS.items():
            for _ in range(_poisson(rng, _daily_rate(topic, day))):
                n += 1
                language, title, places = rng.choice(choices)
                at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                    minutes=rng.randrange(0, 24 * 60, 5)
                )
                relevant = topic != "unrelated"
                out.append(
                    Article(
                        at,
                        f"https://{rng.choice(OUTLETS)}/{day:%Y/%m/%d}/{_slug(title, n)}",
                        rng.choice(OUTLETS),
                        title,
                        language,
                        places,
                        ["TRANSPORT", "TRADE"] if relevant else ["GENERAL"],
                        True,
                        tone=round(rng.uniform(-6, 3), 4),
                    )
                )
        day += timedelta(days=1)
    return out


def _slot_for(t: datetime) -> datetime:
    """The first slot strictly after publication among SLOT_HOURS (next day's 00:00 at most)."""
    for hour in SLOT_HOURS[1:]:
        slot = t.replace(hour=hour, minute=0, second=0, microsecond=0)
        if slot > t:
            return slot
    return (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _locations(places: list[str]) -> tuple[str, str]:
    v1, v2 = [], []
    for key in places:
        name, fips, adm1, lat, lon, fid = PLACES[key]
        kind = 1 if fid == fips else 4
        v1.append(f"{kind}#{name}#{fips}#{adm1}#{lat}#{lon}#{fid}")
        v2.append(f"{kind}#{name}#{fips}#{adm1}##{lat}#{lon}#{fid}#{100 + len(v2) * 50}")
    return ";".join(v1), ";".join(v2)


def gkg_line(a: Article, record_id: str, slot: datetime) -> str:
    v1_locs, v2_locs = _locations(a.places)
    tone = "" if a.tone is None else f"{a.tone},2.1,{2.1 - a.tone:.4f},4.2,20.1,0,412"
    lang3 = LANG3[a.language]
    translation = f"srclc:{lang3};eng:GT-{lang3.upper()} 1.0" if lang3 else ""
    extras = (
        f"<PAGE_PRECISEPUBTIMESTAMP>{a.published_at:%Y%m%d%H%M%S}</PAGE_PRECISEPUBTIMESTAMP>"
        f"<PAGE_TITLE>{a.title}</PAGE_TITLE>"
        f"<BORDERWATCH_SYNTHETIC>{'true' if a.synthetic else 'false'}</BORDERWATCH_SYNTHETIC>"
    )
    if a.note:
        extras += f"<BORDERWATCH_NOTE>{a.note}</BORDERWATCH_NOTE>"
    fields = [
        record_id, f"{slot:%Y%m%d%H%M%S}", "1", a.source, a.url, "", "",
        ";".join(a.themes) + ";", ";".join(f"{t},{10 + i}" for i, t in enumerate(a.themes)) + ";",
        v1_locs, v2_locs, "", "", "", "", tone, "", "wc:412", "", "", "", "", "", "", "",
        translation, extras,
    ]  # fmt: skip
    assert len(fields) == 27
    return "\t".join(fields)


def event_line(event_id: int, a: Article, slot: datetime, code: str) -> str:
    name, fips, adm1, lat, lon, fid = PLACES[a.places[0]]
    f = [""] * 61
    f[0] = str(event_id)
    f[1] = f"{a.published_at:%Y%m%d}"
    f[2] = f"{a.published_at:%Y%m}"
    f[3] = f"{a.published_at:%Y}"
    f[4] = f"{a.published_at.year + (a.published_at.timetuple().tm_yday / 365):.4f}"
    f[5], f[6], f[7] = "PRK", "NORTH KOREA", "PRK"
    f[15], f[16], f[17] = "RUS", "RUSSIA", "RUS"
    f[25], f[26], f[27], f[28] = "1", code, code[:3], code[:2]
    f[29], f[30], f[31], f[32], f[33], f[34] = "1", "1.9", "4", "1", "4", f"{a.tone or 0}"
    for base in (35, 43, 51):
        f[base : base + 8] = ["4", name, fips, adm1, "", str(lat), str(lon), fid]
    f[37] = "KN"
    f[45] = "RS"
    f[59] = f"{slot:%Y%m%d%H%M%S}"
    f[60] = a.url
    return "\t".join(f)


def mention_line(event_id: int, a: Article, slot: datetime) -> str:
    lang3 = LANG3[a.language]
    translation = f"srclc:{lang3};eng:GT-{lang3.upper()} 1.0" if lang3 else ""
    return "\t".join(
        [
            str(event_id), f"{slot:%Y%m%d%H%M%S}", f"{slot:%Y%m%d%H%M%S}", "1", a.source, a.url,
            "1", "-1", "-1", "120", "1", "60", "2400", f"{a.tone or 0}", translation,
            "<BORDERWATCH_SYNTHETIC>true</BORDERWATCH_SYNTHETIC>",
        ]
    )  # fmt: skip


def zip_bytes(member: str, text: str, slot: datetime) -> bytes:
    buf = io.BytesIO()
    info = zipfile.ZipInfo(member, date_time=slot.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, text.encode("utf-8"), compresslevel=9)
    return buf.getvalue()


FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:borderwatch="https://borderwatch.invalid/ns/1">
<channel>
<title>Border Trade Wire (synthetic sample feed)</title>
<link>https://border-trade-wire.synthetic.invalid/</link>
<description>Generated items for the borderwatch sample; not real reporting.</description>
<language>en</language>
<borderwatch:synthetic>true</borderwatch:synthetic>
<item>
<title>Tumangang freight yard stays busy a week after the surge</title>
<link>https://border-trade-wire.synthetic.invalid/2023/10/13/tumangang-freight-yard-busy</link>
<guid>border-trade-wire-0001</guid>
<pubDate>Fri, 13 Oct 2023 07:30:00 GMT</pubDate>
<borderwatch:synthetic>true</borderwatch:synthetic>
</item>
<item>
<title xml:lang="ko">두만강역 인근 화물열차 계속 증가</title>
<link>https://border-trade-wire.synthetic.invalid/2023/10/14/tumangang-ko</link>
<guid>border-trade-wire-0002</guid>
<pubDate>Sat, 14 Oct 2023 02:00:00 +0900</pubDate>
<borderwatch:synthetic>true</borderwatch:synthetic>
</item>
<item>
<title>Dandong bridge traffic steady</title>
<link>https://border-trade-wire.synthetic.invalid/2023/10/16/dandong-bridge-traffic</link>
<guid>border-trade-wire-0003</guid>
<pubDate>16. Oktober 2023 10:15 +0200</pubDate>
<borderwatch:synthetic>true</borderwatch:synthetic>
</item>
<item>
<title>Regional weather outlook</title>
<link>https://border-trade-wire.synthetic.invalid/2023/10/17/weather</link>
<guid>border-trade-wire-0004</guid>
<pubDate>Tue, 17 Oct 2023 06:00:00 GMT</pubDate>
<borderwatch:synthetic>true</borderwatch:synthetic>
</item>
<item>
<title>Khasan station: undated item (kept to show quarantine)</title>
<link>https://border-trade-wire.synthetic.invalid/undated/khasan</link>
<guid>border-trade-wire-0005</guid>
<pubDate>sometime in autumn</pubDate>
<borderwatch:synthetic>true</borderwatch:synthetic>
</item>
</channel>
</rss>
"""

ABOUT = """News sample for borderwatch, written by `python -m assets.news.sample` (do not edit).
gdelt/: GDELT 2.0 slot files (GKG 2.1, Events, Mentions; zipped, tab-separated) for 2023-09..10.
Rows with <BORDERWATCH_SYNTHETIC>false</BORDERWATCH_SYNTHETIC> in the GKG Extras are the real
articles on the 2023-10-05 observation (see each row's BORDERWATCH_NOTE for what is not known);
every other row, all Events and all Mentions are generated (URLs under synthetic.invalid).
gdelt/masterfilelist.txt declares the published slots; two listed slots are absent on purpose
(gaps). feeds/sample.rss is a generated feed (borderwatch:synthetic true).
"""


def build(root: Path) -> dict[str, bytes]:
    """Every sample file as {relative path: bytes}, built in memory."""
    rng = random.Random(SEED)
    articles = sorted(REAL + synthetic_articles(rng), key=lambda a: (a.published_at, a.url))
    per_slot: dict[tuple[datetime, bool], list[Article]] = defaultdict(list)
    for a in articles:
        per_slot[(_slot_for(a.published_at), a.language != "en")].append(a)
    files: dict[str, bytes] = {}
    events: dict[datetime, list[str]] = defaultdict(list)
    mentions: dict[datetime, list[str]] = defaultdict(list)
    event_id = 900_000_000
    for (slot, translated), items in sorted(per_slot.items()):
        if slot in MISSING_SLOTS or slot.date() >= END:
            continue
        lines = []
        for i, a in enumerate(items):
            record_id = f"{slot:%Y%m%d%H%M%S}-{'T' if translated else ''}{i}"
            lines.append(gkg_line(a, record_id, slot))
            if a.synthetic and a.places and a.places[0] in {"tumangang", "khasan", "dandong"}:
                if rng.random() < 0.5:
                    event_id += 1
                    events[slot].append(
                        event_line(event_id, a, slot, rng.choice(["042", "061", "0831", "190"]))
                    )
                    mentions[slot].append(mention_line(event_id, a, slot))
        infix = "translation." if translated else ""
        name = f"{slot:%Y%m%d%H%M%S}.{infix}gkg.csv"
        files[f"news/gdelt/{name}.zip"] = zip_bytes(name, "\n".join(lines) + "\n", slot)
    for kind, table in (("export", events), ("mentions", mentions)):
        for slot, lines in sorted(table.items()):
            name = f"{slot:%Y%m%d%H%M%S}.{kind}.CSV"
            files[f"news/gdelt/{name}.zip"] = zip_bytes(name, "\n".join(lines) + "\n", slot)
    listing = []
    for path, data in files.items():
        name = path.rsplit("/", 1)[-1]
        listing.append((name, f"{len(data)} {hashlib.md5(data).hexdigest()} {LIST_BASE}{name}"))
    for slot in MISSING_SLOTS:
        for kind in ("gkg.csv", "export.CSV"):
            name = f"{slot:%Y%m%d%H%M%S}.{kind}.zip"
            listing.append((name, f"0 {hashlib.md5(b'').hexdigest()} {LIST_BASE}{name}"))
    files["news/gdelt/masterfilelist.txt"] = (
        "\n".join(line for _, line in sorted(listing)) + "\n"
    ).encode()
    files["news/feeds/sample.rss"] = FEED.encode("utf-8")
    files["news/ABOUT.txt"] = ABOUT.encode("utf-8")
    return files


def write_sample(root: str | Path) -> list[Path]:
    root = Path(root)
    out = []
    for rel, data in sorted(build(root).items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "data/sample")
    paths = write_sample(root)
    size = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} news sample files ({size / 1e6:.2f} MB) under {root / 'news'}")


if __name__ == "__main__":
    main()
