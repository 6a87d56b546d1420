"""HTTP client for a station system (the read and push sides of docs/station-sync.md).

Errors say whose fault they are: StationAuthError (our credential was refused: fix the config),
StationUnavailable (network or 5xx: try again later), ContractError (the station broke the contract).
"""
import json
import urllib.error
import urllib.parse
import urllib.request

from server.station_sync.contract import ContractError

USER_AGENT = "cunbox-station-sync/1"


class StationAuthError(RuntimeError):
    pass


class StationUnavailable(RuntimeError):
    pass


class StationClient:
    def __init__(self, base_url, station_key, credential, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.station_key = str(station_key)
        self.credential = credential
        self.timeout = timeout

    def _url(self, leaf, query=None):
        url = "%s/stations/%s/%s" % (self.base_url, urllib.parse.quote(self.station_key, safe=""), leaf)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    def _request(self, url, body=None):
        headers = {"Authorization": "Bearer %s" % self.credential, "Accept": "application/json",
                   "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            detail = _error_text(e)
            if e.code in (401, 403):
                raise StationAuthError("station system refused our credential for station %s (HTTP %d): %s"
                                       % (self.station_key, e.code, detail)) from None
            if e.code >= 500:
                raise StationUnavailable("station system failed (HTTP %d): %s" % (e.code, detail)) from None
            raise ContractError("station system answered HTTP %d: %s" % (e.code, detail)) from None
        except (urllib.error.URLError, OSError) as e:
            raise StationUnavailable("station system unreachable at %s: %s" % (self.base_url, e)) from None

    def fetch_accounts(self, limit, cursor=None, updated_since=None, after_id=None):
        """One page of accounts, as raw bytes (contract.parse_page validates it)."""
        query = {"limit": str(limit)}
        if updated_since is not None:
            query["updated_since"] = updated_since
            if after_id:
                query["after_id"] = after_id
        elif cursor:
            query["cursor"] = cursor
        return self._request(self._url("accounts", query))

    def push_updates(self, updates):
        """POST outbound updates; returns (accepted keys, rejected [{key, error}])."""
        raw = self._request(self._url("updates"), {"station_id": self.station_key, "updates": updates})
        try:
            doc = json.loads(raw.decode("utf-8"))
            accepted = [str(k) for k in doc["accepted"]]
            rejected = list(doc.get("rejected") or [])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise ContractError("the reply to our updates is not {accepted, rejected}: %s" % e) from None
        return accepted, rejected


def _error_text(e):
    try:
        body = e.read()[:500].decode("utf-8", "replace")
        return json.loads(body).get("error", body)
    except (ValueError, AttributeError, OSError):
        return str(e.reason)
