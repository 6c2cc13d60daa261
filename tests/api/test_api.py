from __future__ import annotations

from jiedao.accounts.roles import Role


def test_openapi_schema_lists_territory_endpoints(client, db):
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "jiedao API"
    assert "/api/territory/buildings" in schema["paths"]
    schemes = schema["components"]["securitySchemes"]
    assert {"TokenAuth", "SessionAuth"} <= set(schemes)


def test_docs_page(client, db):
    assert client.get("/api/docs").status_code == 200


def test_errors_are_json_in_callers_language(client, world, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    zh = client.get("/api/territory/grids/110119002001001", HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = client.get("/api/territory/grids/110119002001001", HTTP_ACCEPT_LANGUAGE="en")
    assert zh.status_code == en.status_code == 404
    assert zh.json()["code"] == en.json()["code"] == "not_found"
    assert en.json()["message"] == "Not found, or outside your territory."
    assert zh.json()["message"] != en.json()["message"]


def test_bad_query_parameter_is_a_clear_error(client, world, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    response = client.get("/api/territory/grids?community=abc")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid" and "community" in response.json()["message"]


def test_lists_are_paginated(client, world, role_users):
    client.force_login(role_users[Role.SYSTEM_ADMIN])
    first = client.get("/api/territory/grids?page_size=2&page=1").json()
    second = client.get("/api/territory/grids?page_size=2&page=2").json()
    assert first["count"] == 4 and len(first["items"]) == len(second["items"]) == 2
    assert {g["code"] for g in first["items"]}.isdisjoint({g["code"] for g in second["items"]})


def test_search_by_pinyin_initials(client, world, role_users):
    client.force_login(role_users[Role.STREET_STAFF])
    rows = client.get("/api/territory/communities?q=xxx").json()["items"]
    assert [r["name"] for r in rows] == ["新兴西社区"]


def test_grid_detail_has_geojson_and_figures(client, world, role_users):
    client.force_login(role_users[Role.GRID_WORKER])
    data = client.get(f"/api/territory/grids/{world.grid_a1x.code}").json()
    assert data["boundary"]["type"] == "Polygon"
    assert data["figures"] == {
        "buildings": 1,
        "dwellings": 1,
        "households": 1,
        "population": 1,
        "organisations": 1,
    }
