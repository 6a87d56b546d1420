"""Every text a person reads — pages, SMS, error pages — from one gettext catalogue.

The source language is Chinese (zh_CN): messages.pot holds each text as msgid with the key the code
asks for as msgctxt; en.po translates it. Code and templates name keys only (`text("err.required")`),
so a county changes wording without touching code: a PO file in the texts folder (setting TEXTS_DIR,
default <instance>/texts) named zh_CN.po or en.po, whose entries (msgctxt key, msgstr wording) take
the place of the shipped ones. Babel reads and writes the PO files; placeholders are `{name}`
(python-brace-format). `python -m server.texts check` says whether the catalogue is whole.
"""
import os
import pathlib
import threading

from babel.messages.pofile import read_po

HERE = pathlib.Path(__file__).resolve().parent
LANGS = {"zh": "zh_CN", "en": "en"}     # the pages' language codes -> PO locale names
SOURCE = "zh"


def _read(path):
    with open(path, "rb") as f:
        return read_po(f)


def _entries(catalog, source):
    """{key: text} of a catalogue: msgid for the source template, msgstr for a translation."""
    out = {}
    for m in catalog:
        if not m.id or not m.context:
            continue
        value = m.id if source else m.string
        if value:
            out[m.context] = value
    return out


def _shipped():
    zh = _entries(_read(HERE / "messages.pot"), source=True)
    en = _entries(_read(HERE / "en.po"), source=False)
    return {"zh": zh, "en": en}


CATALOGUES = _shipped()   # {lang: {key: text}}, as shipped (membership checks, tests)

_overrides = {}           # (folder, lang) -> (mtime, {key: text})
_lock = threading.Lock()


def _texts_dir():
    from server import config
    return config.get("TEXTS_DIR") or os.path.join(config.get("INSTANCE_DIR"), "texts")


def _override(lang):
    """The county's own wording for `lang` ({} when it has none); re-read when its file changes.
    Asked on every lookup, so a county's edit shows at the next page: a stat, no parse."""
    path = os.path.join(_texts_dir(), "%s.po" % LANGS[lang])
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return {}
    key = (path, lang)
    with _lock:
        cached = _overrides.get(key)
        if cached and cached[0] == mtime:
            return cached[1]
    try:
        entries = _entries(_read(path), source=False)
    except Exception as exc:   # a broken county file must not take the pages down: say so, use ours
        import logging
        logging.getLogger("cunbox.texts").error("texts: %s cannot be read (%s); the shipped wording is used",
                                                path, exc)
        entries = {}
    with _lock:
        _overrides[key] = (mtime, entries)
    return entries


class Wording:
    """The texts as they stand now: the county's files are looked at once per language for the
    life of this object (a page's request), not once per text."""

    def __init__(self):
        self._overrides = {}

    def _override(self, lang):
        if lang not in self._overrides:
            self._overrides[lang] = _override(lang)
        return self._overrides[lang]

    def text(self, key, lang=SOURCE, **params):
        """The text of `key` in `lang` (the county's wording first, then ours, then Chinese, then the
        key itself), with `{name}` placeholders filled from params."""
        lang = lang if lang in LANGS else SOURCE
        value = self._override(lang).get(key) or CATALOGUES[lang].get(key)
        if value is None:
            value = self._override(SOURCE).get(key) or CATALOGUES[SOURCE].get(key, key)
        return value.format(**params) if params else value


def text(key, lang=SOURCE, **params):
    """One text as it stands now (see Wording.text): for the odd SMS; pages keep one Wording a request."""
    return Wording().text(key, lang, **params)


def problems():
    """What keeps the catalogue from being whole: keys without an English text, English texts of no
    key, placeholders that differ between the two."""
    import re
    zh, en = CATALOGUES["zh"], CATALOGUES["en"]
    out = ["no English text for %s" % k for k in sorted(set(zh) - set(en))]
    out += ["English text of no key: %s" % k for k in sorted(set(en) - set(zh))]
    for k in sorted(set(zh) & set(en)):
        if set(re.findall(r"{(\w+)}", zh[k])) != set(re.findall(r"{(\w+)}", en[k])):
            out.append("placeholders differ for %s" % k)
    return out

