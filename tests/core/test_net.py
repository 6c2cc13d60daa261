from __future__ import annotations

import pytest
from django.test import RequestFactory

from jiedao.core.net import client_ip, request_id


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.2.3.4", "10.0.0.1"),  # no trusted proxy: the header is the client's word, ignored
        (1, "1.2.3.4", "1.2.3.4"),
        (1, "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # a spoofed left-hand entry is ignored
        (2, "6.6.6.6, 1.2.3.4, 10.0.0.9", "1.2.3.4"),
        (2, "1.2.3.4", "10.0.0.1"),  # fewer hops than proxies: fall back to the peer
        (1, "not-an-ip", None),
        (1, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ],
)
def test_client_ip_behind_proxies(settings, proxies, forwarded, expected):
    settings.JIEDAO_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_request_id_only_from_a_trusted_proxy(settings):
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="abcd-1234-efgh")
    settings.JIEDAO_PROXY_COUNT = 0
    assert request_id(request) is None
    settings.JIEDAO_PROXY_COUNT = 1
    assert request_id(request) == "abcd-1234-efgh"
    assert request_id(RequestFactory().get("/", HTTP_X_REQUEST_ID="<script>")) is None


def test_lockout_counts_the_real_client_behind_a_proxy(client, world, role_users, settings):
    settings.JIEDAO_PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/accounts/login/",
            {"username": "street", "password": "x"},
            HTTP_X_FORWARDED_FOR="1.2.3.4",
        )
    other = client.post(
        "/accounts/login/",
        {"username": "street", "password": "correct-horse-battery"},
        HTTP_X_FORWARDED_FOR="5.6.7.8",
    )
    assert other.status_code == 302  # another client through the same balancer is not locked out
