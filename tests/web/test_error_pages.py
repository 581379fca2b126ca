"""Error pages for people (issue 13): a browser asking for a page gets HTML, never raw JSON;
the API keeps problem+json whatever the Accept header."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [
        ("/app/no-such-page", 404, "We can&#39;t find that page"),
        ("/static/missing.css", 404, "We can&#39;t find that page"),
    ],
)
def test_a_browser_gets_an_html_error_page(
    client: TestClient, path: str, status: int, heading: str
) -> None:
    response = client.get(path, headers=BROWSER)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{heading}</h1>" in response.text
    assert f"Error {status}" in response.text
    assert '"code"' not in response.text


def test_a_bad_parameter_on_a_page_is_an_html_422(client: TestClient) -> None:
    response = client.get("/support/accounts/not-a-uuid", headers=BROWSER)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>That link or form isn&#39;t valid</h1>" in response.text


def test_the_api_answers_problem_json_even_to_a_browser(client: TestClient) -> None:
    response = client.get("/v1/no-such-thing", headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_a_script_asking_for_json_gets_problem_json_on_a_page_path(client: TestClient) -> None:
    response = client.get("/app/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_crash_on_a_page_shows_no_detail(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)

    @app.get("/app/test-crash")
    def crash() -> None:
        raise RuntimeError("secret internals")

    response = client.get("/app/test-crash", headers=BROWSER)
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "secret internals" not in response.text
