import pytest


@pytest.fixture(autouse=True)
def english(client):
    """Pages are checked in English (the UI defaults to zh-hans)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
