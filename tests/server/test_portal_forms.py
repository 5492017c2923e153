"""Portal forms that the portal never sends are a 400 page saying what was wrong, never a 500."""

from __future__ import annotations

from tests.support.api import Api
from tests.support.portal import Portal, csrf_of


def sign_in_form(api: Api) -> Portal:
    visitor = Portal(api.url)
    visitor.csrf = csrf_of(visitor.get("/portal/sign-in").text)
    return visitor


def test_a_sign_in_form_with_too_many_fields_is_a_400_page(api: Api) -> None:
    """A sign-in form with 25 fields: 400, a page naming the limit."""
    visitor = sign_in_form(api)
    try:
        fields = {"email": "a@example.test", "password": "x",
                  **{f"extra{i}": "1" for i in range(23)}}
        response = visitor.post("/portal/sign-in", fields)
    finally:
        visitor.close()
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert "more than 20 fields" in response.text


def test_a_nul_in_the_sign_in_email_is_a_400_page(api: Api) -> None:
    """A NUL in the email (PostgreSQL cannot even compare it): 400, a page saying so."""
    visitor = sign_in_form(api)
    try:
        response = visitor.post("/portal/sign-in", {"email": "ann\x00@example.test",
                                                    "password": "whatever"})
    finally:
        visitor.close()
    assert response.status_code == 400, response.text
    assert "NUL character" in response.text and "email" in response.text


def test_a_signed_in_form_with_too_many_fields_is_a_400_page(api: Api) -> None:
    """The same for the forms behind sign-in: the approve form with 25 fields is 400."""
    account = api.create_account()
    visitor = Portal(api.url)
    try:
        assert visitor.sign_in(account["email"], account["password"]).status_code == 303
        response = visitor.post("/portal/device", {"user_code": "BCDF-GHJK",
                                                   **{f"x{i}": "1" for i in range(24)}})
    finally:
        visitor.close()
    assert response.status_code == 400 and "more than 20 fields" in response.text
