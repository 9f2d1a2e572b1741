"""Feeds in declared and undeclared legacy encodings keep their text intact."""

import pytest

from assets.news.feeds import read_feed, undeclared_to_utf8

ZH_TITLE = "图们口岸货运列车增加"
RU_TITLE = "Грузовые составы на станции Хасан"
PT_TITLE = "Tráfego ferroviário na fronteira"


def feed(title: str, language: str, declaration: str | None) -> str:
    head = (
        f'<?xml version="1.0" encoding="{declaration}"?>'
        if declaration
        else '<?xml version="1.0"?>'
    )
    return (
        f'{head}<rss version="2.0"><channel><title>t</title><language>{language}</language>'
        f"<item><title>{title}</title><link>https://example.org/a</link>"
        "<pubDate>Fri, 06 Oct 2023 08:00:00 +0800</pubDate></item></channel></rss>"
    )


@pytest.mark.parametrize(
    ("title", "language", "encoding"),
    [(ZH_TITLE, "zh-cn", "gb2312"), (RU_TITLE, "ru", "cp1251"), (PT_TITLE, "pt", "latin-1")],
)
@pytest.mark.parametrize("declared", [True, False])
def test_legacy_encodings_declared_or_not(title, language, encoding, declared):
    data = feed(title, language, encoding if declared else None).encode(encoding)
    result = read_feed(data, "legacy.rss")
    assert result.rows["title"].to_list() == [title]
    assert str(result.rows["published_at"][0]) == "2023-10-06 00:00:00+00:00"
    guessed = [w for w in result.warnings if "no encoding declared" in w]
    assert bool(guessed) is not declared


def test_utf8_and_declared_files_are_left_alone():
    utf8 = feed(ZH_TITLE, "zh", None).encode("utf-8")
    assert undeclared_to_utf8(utf8) == (utf8, None)
    declared = feed(ZH_TITLE, "zh", "gb2312").encode("gb2312")
    assert undeclared_to_utf8(declared) == (declared, None)


def test_no_language_hint_falls_back_to_detection():
    text = feed("Die Güterzüge überqueren die Grenze bei Chassan am frühen Morgen", "", None)
    data, used = undeclared_to_utf8(text.replace("<language></language>", "").encode("cp1252"))
    assert used is not None
    assert "Güterzüge überqueren" in data.decode("utf-8")


def test_no_language_hint_still_finds_chinese():
    text = feed(ZH_TITLE * 3 + "，中朝边境铁路货运量明显上升。", "", None).replace(
        "<language></language>", ""
    )
    data, used = undeclared_to_utf8(text.encode("gb2312"))
    assert used in {"gb18030", "gb2312", "gbk"}
    assert ZH_TITLE in data.decode("utf-8")
