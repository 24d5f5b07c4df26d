"""The settings checks HubSpot's and Hudu's connections share: a usable base URL, a present secret."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from cwsync.connectors.hubspot import HubSpotSettings
from cwsync.connectors.hudu import HuduSettings


def test_base_urls_are_trimmed_and_hudu_drops_its_api_path() -> None:
    assert HubSpotSettings(token="pat-1", base_url="https://api.hubapi.com/").base_url == "https://api.hubapi.com"
    hudu = HuduSettings(api_key="k1", base_url="https://acme.huducloud.com/api/v1/")
    assert hudu.base_url == "https://acme.huducloud.com"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://api.hubapi.com", "must be an http(s) URL such as https://api.hubapi.com"),
        ("https://user:pw@api.hubapi.com", "must not carry a user name"),
        ("https://api.hubapi.com:99999", "is not a URL"),
    ],
)
def test_a_bad_base_url_is_refused_with_an_example(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        HubSpotSettings(token="pat-1", base_url=url)


def test_hudu_names_its_own_example_and_secrets_must_be_present() -> None:
    with pytest.raises(ValidationError, match=re.escape("such as https://acme.huducloud.com")):
        HuduSettings(api_key="k1", base_url="acme.huducloud.com")
    with pytest.raises(ValidationError, match="api_key is the Hudu API key"):
        HuduSettings(api_key="two words", base_url="https://acme.huducloud.com")
    with pytest.raises(ValidationError, match="private app's access token"):
        HubSpotSettings(token=" ")
