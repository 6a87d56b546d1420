"""The station sync's reasons, report lines and values in the page's language.

The sync stores keys and parameters (server/station_sync/reasons.py); this words them from the
catalogue ("sync.*", "sfield.*", "sval.*", "csource.*") for the reader, Chinese by default.
"""
from server.station_sync import reasons
from server.texts import CATALOGUES
from server.web.blueprint import bp
from server.web.i18n import translate


def word(key, **params):
    """The catalogue text of ``key`` in the page language, or None when there is no such key."""
    if key not in CATALOGUES["zh"]:
        return None
    return translate(key, **params)


def reason_text(reason):
    return reasons.render(reason, word)


def where_text(row=None, record_id=None):
    """Where a problem is: a row of the file, an account of the station's feed, or the whole file."""
    if row is not None:
        return translate("sync.row", row=row)
    if record_id is not None:
        return translate("sync.record", id=record_id)
    return translate("sync.whole_file")


def detail_text(item):
    return reasons.detail_text(item, word)


def field_text(field):
    return reasons.field_word(field, word)


def value_text(field, value):
    return reasons.value_text(field, value, word)


@bp.app_template_global("source_words")
def source_text(source):
    """How a resident's consent was recorded, in words (a station's own text as written)."""
    return reasons.source_text(source, word) if source else ""
