"""CORS on the REST endpoint (SERVER_CORS_*)."""

import uuid

import pytest
import requests

from conftest import assert_success, encode_request, make_events

ALLOWED = "http://a.example"
DISALLOWED = "http://b.example"


@pytest.fixture(scope="module")
def cors_server(module_raccoon):
    return module_raccoon.start(
        env={
            "SERVER_CORS_ENABLED": "true",
            "SERVER_CORS_ALLOWED_ORIGIN": ALLOWED,
            "SERVER_CORS_PREFLIGHT_MAX_AGE_SECONDS": 600,
            "SERVER_WEBSOCKET_CONN_GROUP_HEADER": "X-Group",
        }
    )


def cors_headers(resp):
    return {k.lower(): v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}


def preflight(server, origin, method="POST", headers="Content-Type"):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return requests.options(server.events_url, headers=h, timeout=10)


def post(server, origin, fmt="json"):
    guid = str(uuid.uuid4())
    headers = {"Content-Type": "application/json" if fmt == "json" else "application/proto"}
    if origin:
        headers["Origin"] = origin
    resp = requests.post(
        server.events_url,
        data=encode_request(fmt, make_events(2, types=("cors",)), guid),
        headers=headers,
        timeout=10,
    )
    assert_success(resp, fmt, guid)
    return resp


def split(value):
    return {item.strip().lower() for item in value.split(",") if item.strip()}


def test_preflight_from_allowed_origin(cors_server):
    resp = preflight(cors_server, ALLOWED, headers="content-type, X-User-ID, x-group")
    # 200 as upstream answers it (204 would do for browsers, not for checks
    # written against upstream).
    assert resp.status_code == 200, (resp.status_code, resp.headers)
    h = cors_headers(resp)
    assert h.get("access-control-allow-origin") == ALLOWED, h
    assert {"post", "options"} <= split(h.get("access-control-allow-methods", "")), h
    assert {"content-type", "x-user-id", "x-group"} <= split(
        h.get("access-control-allow-headers", "")
    ), h
    assert h.get("access-control-max-age") == "600", h
    assert "origin" in split(resp.headers.get("Vary", "")), resp.headers


@pytest.mark.parametrize("fmt", ["json", "proto"])
def test_post_from_allowed_origin_echoes_it(cors_server, fmt):
    resp = post(cors_server, ALLOWED, fmt)
    assert cors_headers(resp).get("access-control-allow-origin") == ALLOWED, resp.headers


def test_disallowed_origin_gets_no_cors_headers(cors_server):
    resp = preflight(cors_server, DISALLOWED)
    assert resp.status_code == 403, resp.status_code
    assert cors_headers(resp) == {}, resp.headers
    resp = post(cors_server, DISALLOWED)
    assert cors_headers(resp) == {}, resp.headers
    resp = post(cors_server, None)
    assert cors_headers(resp) == {}, resp.headers


def test_preflight_for_a_method_or_header_not_allowed(cors_server):
    resp = preflight(cors_server, ALLOWED, method="DELETE")
    assert resp.status_code == 403 and cors_headers(resp) == {}, (resp.status_code, resp.headers)
    resp = preflight(cors_server, ALLOWED, headers="Content-Type, X-Secret")
    assert resp.status_code == 403 and cors_headers(resp) == {}, (resp.status_code, resp.headers)


def test_cors_disabled_by_default(raccoon):
    server = raccoon.start()
    resp = preflight(server, ALLOWED)
    assert cors_headers(resp) == {}, resp.headers
    resp = post(server, ALLOWED)
    assert cors_headers(resp) == {}, resp.headers
