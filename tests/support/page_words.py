"""The Latin words a person reads on a page that should read in Chinese (tests/web/test_web_chinese.py)."""
import html
import re
from html.parser import HTMLParser

# Words a Chinese reader meets as such: codes, units, brand and product names.
ALLOWED = {"QR", "SMS", "ID", "CSV", "XLSX", "MB", "KB", "kg", "km", "cm", "URL", "LED", "LCD", "PN", "SF", "OLD",
           "IN", "FRESH", "XC", "SECRET", "DC", "ACC", "ZTO", "EMS", "GB", "GBK", "UTF", "XL", "English", "mm",
           "Excel", "XLS", "Modbus"}  # Modbus: a protocol name, written so in Chinese too
# Commands a maintainer types, named as such on a form.
ALLOWED_PHRASES = ("cunbox firmware build",)
WORD = re.compile(r"[A-Za-z]{2,}")


class _Text(HTMLParser):
    """The text a person reads: no tags, no attribute values, nothing inside script/style."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.links, self._skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def english_words(body):
    """(sorted Latin words outside ALLOWED, the page's links)."""
    p = _Text()
    p.feed(body)
    text = html.unescape(" ".join(p.parts))
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    return sorted({w for w in WORD.findall(text) if w not in ALLOWED}), p.links
