"""Banners from a fixed set of codes (issue 13, hardening): `?notice=` showed any text as a
green success banner on any page, sign-in included (a phishing lure)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kasacare.web.messages import NOTICES, banners


def test_a_notice_in_the_address_is_shown_only_if_it_is_one_of_ours(client: TestClient) -> None:
    lure = client.get("/signin", params={"notice": "Your account is locked: call +1 555 0100"})
    assert "call +1 555 0100" not in lure.text
    assert 'role="status"' not in lure.text
    ours = client.get("/signin", params={"notice": "camera_added"})
    assert '<p class="message notice" role="status">Camera added</p>' in ours.text


def test_a_problem_code_shows_our_sentence_never_the_address_text(client: TestClient) -> None:
    known = client.get("/signin", params={"problem": "card_declined"})
    assert "Your card was declined. Try another card." in known.text
    lure = client.get("/signin", params={"problem": "Send your password to evil@example.com"})
    assert "evil@example.com" not in lure.text
    assert "That didn&#39;t work. Please try again." in lure.text


def test_banners_read_known_codes_only() -> None:
    assert banners({"notice": "welcome"}) == (None, NOTICES["welcome"])
    assert banners({"notice": "<script>"}) == (None, None)
    assert banners({}) == (None, None)
