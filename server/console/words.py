"""What the console says outside its templates: notices, refusals and headings, in one place."""

from __future__ import annotations

# After an action, the page it returns to says what happened (`?done=<key>`).
NOTICES = {
    "account-created": "The account is created.",
    "account-disabled": "The account is disabled: its seats are ended and its devices signed "
                        "out. It cannot log in until it is enabled again.",
    "account-enabled": "The account is enabled: its devices can log in again.",
    "password-set": "The new password is set. Devices already signed in stay signed in.",
    "license-created": "The license is created.",
    "license-updated": "The license is changed.",
    "license-revoked": "The license is revoked: its seats are ended, and its account no "
                       "longer has it.",
    "seat-released": "The seat is released: the device is told at its next heartbeat that an "
                     "administrator took it away.",
}

TITLES = {
    "sign-in": "Sign in to the console",
    "accounts": "Accounts",
    "licenses": "Licenses",
    "audit": "Audit trail",
    "password": "One-time password",
}

SIGN_IN_WRONG = "The email or the password is wrong."
FORM_REFUSED_HEADING = "This form cannot be accepted"
FORM_REFUSED = ("It was not sent from this page, or the page is out of date. Go back, reload "
                "the page and try again.")
BAD_FORM_HEADING = "This form cannot be read"
NOT_FOUND_HEADING = "Not found"
REVOKE_UNCONFIRMED = ("Tick the box to confirm: revoking ends every seat of this license now "
                      "and cannot be undone.")
NO_SUCH_ACCOUNT = "No account matches {text!r}: give an account's email or id."
BAD_SINCE = "Since must be a date (YYYY-MM-DD) or a time such as 2026-11-29T08:00:00Z."
BAD_NUMBER = "{field} must be a whole number."
BAD_DAYS = "Borrowing must be a number of days from 0 to 366."
BAD_WHEN = "{field} must be a date and time such as 2027-01-31T00:00, in UTC."
BAD_DATE = "{field} must be a date such as 2027-06-30."
BAD_KIND = "Kind must be a subscription or a perpetual license."
NO_NAME = "Give the license a name, such as PIX4Dmapper Yearly."
NO_EVENT = "No event is called {name!r}."
NOT_A_DEVICE = "{text!r} is not a device id (they look like dev_0123…)."

TODAY = "today"
KINDS = {"subscription": "Subscription", "perpetual": "Perpetual (OTC)"}
ROLES = {"admin": "Administrator", "user": "User"}
