"""What the console says outside its templates: notices, refusals and headings, in one place.

Marked for the catalogues here (N_), translated where they are shown (`_()` in the code,
in the templates); values go in through `%(name)s`.
"""

from __future__ import annotations

from seatkeeper_server.text import N_

# After an action, the page it returns to says what happened (`?done=<key>`).
NOTICES = {
    "account-created": N_("The account is created."),
    "account-disabled": N_("The account is disabled: its seats are ended and its devices "
                           "signed out. It cannot log in until it is enabled again."),
    "account-enabled": N_("The account is enabled: its devices can log in again."),
    "password-set": N_("The new password is set. Devices already signed in stay signed in."),
    "license-created": N_("The license is created."),
    "license-updated": N_("The license is changed."),
    "license-revoked": N_("The license is revoked: its seats are ended, and its account no "
                          "longer has it."),
    "seat-released": N_("The seat is released: the device is told at its next heartbeat "
                        "that an administrator took it away."),
}

TITLES = {
    "sign-in": N_("Sign in to the console"),
    "accounts": N_("Accounts"),
    "licenses": N_("Licenses"),
    "audit": N_("Audit trail"),
    "password": N_("One-time password"),
}

SIGN_IN_WRONG = N_("The email or the password is wrong.")
FORM_REFUSED_HEADING = N_("This form cannot be accepted")
FORM_REFUSED = N_("It was not sent from this page, or the page is out of date. Go back, "
                  "reload the page and try again.")
BAD_FORM_HEADING = N_("This form cannot be read")
BAD_FORM_AGAIN = N_("Go back, reload the page and try again.")
NOT_FOUND_HEADING = N_("Not found")
REVOKE_UNCONFIRMED = N_("Tick the box to confirm: revoking ends every seat of this license "
                        "now and cannot be undone.")
NO_SUCH_ACCOUNT = N_("No account matches %(text)r: give an account's email or id.")
BAD_SINCE = N_("Since must be a date (YYYY-MM-DD) or a time such as 2026-11-29T08:00:00Z.")
BAD_SEATS = N_("Seats must be a whole number (1 to %(most)d).")
BAD_DAYS = N_("Borrowing must be a number of days from 0 to 366.")
BAD_EXPIRES = N_("Expires must be a date and time such as 2027-01-31T00:00, in UTC.")
BAD_SUPPORT = N_("Support & Upgrade until must be a date such as 2027-06-30.")
BAD_KIND = N_("Kind must be a subscription or a perpetual license.")
NO_NAME = N_("Give the license a name, such as PIX4Dmapper Yearly.")
NO_EVENT = N_("No event is called %(name)r.")
NOT_A_DEVICE = N_("%(text)r is not a device id (they look like dev_0123…).")

TODAY = N_("today")
KINDS = {"subscription": N_("Subscription"), "perpetual": N_("Perpetual (OTC)")}
ROLES = {"admin": N_("Administrator"), "user": N_("User")}

# The audit trail's events as the console names them (the CSV keeps the codes).
EVENTS = {
    "login": N_("Logged in"),
    "logout": N_("Logged out"),
    "acquire": N_("Seat taken"),
    "borrow": N_("Seat borrowed for offline use"),
    "release": N_("Seat given back"),
    "reclaim": N_("Seat reclaimed: its heartbeat stopped"),
    "deactivate": N_("Device deactivated remotely"),
    "remote_deactivation_on": N_("Remote deactivation switched on"),
    "remote_deactivation_off": N_("Remote deactivation switched off"),
    "device_login_approved": N_("Device login approved"),
    "device_login_denied": N_("Device login denied"),
    "account_created": N_("Account created"),
    "license_created": N_("License created"),
    "license_updated": N_("License changed"),
    "license_revoked": N_("License revoked"),
    "account_disabled": N_("Account disabled"),
    "account_enabled": N_("Account enabled"),
    "password_reset": N_("Password reset"),
    "admin_created": N_("Administrator created"),
    "console_sign_in": N_("Signed in to the console"),
}
