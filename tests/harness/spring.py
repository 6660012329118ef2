"""The Spring shop under test: its jar run as the stack runs it, and a client that answers like
Flask's test client, so one test can hold both shops to the same contract."""

from __future__ import annotations

import requests

from stack import ephemeral


class HttpResponse:
    """A requests response with the Flask test response's reading methods."""

    def __init__(self, response: requests.Response):
        self.raw = response
        self.status_code = response.status_code
        self.headers = response.headers

    @property
    def is_json(self) -> bool:
        return self.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"

    def get_json(self):
        return self.raw.json()

    json = property(get_json)

    def get_data(self, as_text: bool = False):
        return self.raw.text if as_text else self.raw.content


class HttpClient:
    """Flask's test-client calls (`get`, `post(json=, data=, content_type=, headers=)`, ...) over
    HTTP to a running server; a str body goes as UTF-8, as Flask's client sends it."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def open(self, method: str, path: str, json=None, data=None, content_type=None, headers=None):
        # A header value beyond ASCII goes as its UTF-8 bytes (http.client would refuse the str).
        headers = {k: v if v.isascii() else v.encode() for k, v in (headers or {}).items()}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if isinstance(data, str):
            data = data.encode()
        response = self.session.request(
            method, f"{self.url}{path}", json=json, data=data, headers=headers, timeout=60
        )
        return HttpResponse(response)

    def get(self, path: str, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.open("POST", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.open("DELETE", path, **kwargs)


class SpringShop(ephemeral.SpringShop):
    """The Spring shop of stack.ephemeral, with the Flask test client's face."""

    def test_client(self) -> HttpClient:
        return HttpClient(self.url)
