"""Bad input never breaks an endpoint: every response is a clear 2xx/4xx, never a 500."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiedao.accounts.roles import Role

LISTS = [
    "streets",
    "communities",
    "grids",
    "buildings",
    "dwellings",
    "addresses",
    "organisations",
    "departments",
]
junk = st.one_of(
    st.text(max_size=30),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["", "0", "-1", "1e9", "%00", "'; drop table x;--"]),
)


@pytest.mark.parametrize("endpoint", LISTS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=junk, page=junk, page_size=junk)
def test_list_endpoints_survive_junk(client, world, role_users, endpoint, q, page, page_size):
    client.force_login(role_users[Role.STREET_STAFF])
    query = urlencode({"q": q, "page": page, "page_size": page_size})
    response = client.get(f"/api/territory/{endpoint}?{query}")
    assert response.status_code in {200, 400, 404, 422}, response.content[:300]
    if response.status_code != 400:
        assert "code" in response.json() or "items" in response.json()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    code=st.text(min_size=1, max_size=40).filter(
        lambda s: "/" not in s and "?" not in s and "#" not in s
    )
)
def test_detail_endpoints_survive_junk_codes(client, world, role_users, code):
    client.force_login(role_users[Role.STREET_STAFF])
    for kind in ("streets", "communities", "grids", "districts", "departments"):
        response = client.get(f"/api/territory/{kind}/{code}")
        assert response.status_code in {200, 400, 404}, (kind, code, response.status_code)


@pytest.mark.parametrize("q", ["xsy", "香水园", "110119001", "%", "_", "\\", "' OR 1=1 --"])
def test_list_pages_survive_odd_searches(client, world, role_users, q):
    client.force_login(role_users[Role.STREET_STAFF])
    for page in ("communities", "grids", "buildings", "dwellings", "addresses", "organisations"):
        response = client.get(f"/territory/{page}/", {"q": q})
        assert response.status_code == 200, page


@pytest.mark.parametrize(
    "url", ["/api/territory/streets/%00", "/api/territory/grids?q=%00", "/territory/grids/?q=a%00b"]
)
def test_nul_characters_are_a_bad_request(client, world, role_users, url):
    client.force_login(role_users[Role.STREET_STAFF])
    assert client.get(url).status_code == 400
