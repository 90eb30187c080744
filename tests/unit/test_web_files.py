"""The browser application's files: both languages complete, nothing loaded from elsewhere."""

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
KEY = re.compile(r"^\s*'([a-z_.0-9]+)':", re.M)


def keys(language: str) -> set[str]:
    text = (WEB / "lang" / f"{language}.js").read_text(encoding="utf-8")
    return set(KEY.findall(text.replace(", '", ",\n'")))


def sources() -> dict[Path, str]:
    files = [path for path in WEB.rglob("*") if path.suffix in (".js", ".html", ".css")]
    return {path: path.read_text(encoding="utf-8") for path in files}


def test_russian_and_english_have_the_same_keys():
    assert keys("ru") == keys("en")
    assert len(keys("en")) > 200


def test_every_key_the_pages_ask_for_is_translated():
    used = {key for text in sources().values() for key in re.findall(r"\bt\('([a-z_.0-9]+)'", text)}
    assert used and not used - keys("en")


def test_no_file_loads_anything_from_another_origin():
    for path, text in sources().items():
        addresses = set(re.findall(r"https?://[^\s'\"`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not addresses, f"{path.name}: {addresses}"
        assert "@import" not in text and "eval(" not in text, path.name
