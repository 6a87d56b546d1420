"""Page language: Chinese by default, English on request.

The language comes from `?lang=` (remembered in a cookie), else the `cunbox_lang` cookie, else
Chinese. The texts come from the one catalogue, server/texts (gettext PO files, Chinese the source
language, a county's own wording first); a key missing in English falls back to Chinese and then to
the key itself, and a test checks the catalogue is whole so that never happens in practice.
"""
from flask import g, request

from server import texts

DEFAULT_LANG = "zh"
LANGS = ("zh", "en")
COOKIE = "cunbox_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def pick_lang():
    """Choose the language for this request and remember whether the cookie must change."""
    asked = request.args.get("lang")
    if asked in LANGS:
        g.lang = asked
        g.lang_cookie = asked if request.cookies.get(COOKIE) != asked else None
        return
    cookie = request.cookies.get(COOKIE)
    g.lang = cookie if cookie in LANGS else DEFAULT_LANG
    g.lang_cookie = None


def remember_lang(response):
    if getattr(g, "lang_cookie", None):
        response.set_cookie(COOKIE, g.lang_cookie, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True)
    return response


def current_lang():
    return getattr(g, "lang", DEFAULT_LANG)


def translate(key, lang=None, **params):
    """Message `key` in the page language, with `{name}` placeholders filled from params."""
    wording = g.get("cunbox_wording")
    if wording is None:      # one look at the county's files per request, not per text
        wording = g.cunbox_wording = texts.Wording()
    return wording.text(key, lang or current_lang(), **params)


def lang_switch_url(lang):
    """This page's URL with `lang` replaced, for the language switch link."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    from urllib.parse import urlencode
    return request.path + "?" + urlencode(args, doseq=True)
