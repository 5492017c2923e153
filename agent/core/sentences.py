"""Sentences the agent's services say in English, kept where the front ends find them cheaply.

The local API and `status --json` carry them in English; the tray and the CLI say them in
the user's language through `seatkeeper.phrases`, which reads them from here (importing
this module costs nothing: the services that raise them import requests and more).
"""

from __future__ import annotations

from seatkeeper.i18n import N_

# The server address check (seatkeeper.service.server_check).
TYPE_ADDRESS = N_("Type the address of your license server, like {example}.")
NOT_WEB = N_('"{address}" is not a web address Seatkeeper can use: it starts with {scheme}://. '
             "Type it like {example}.")
NO_HOST = N_('"{address}" is not a web address. Type it like {example}.')
BAD_PORT = N_('The port in "{address}" should be a number from 1 to 65535.')
NO_PASSWORD = N_("Leave the user name and password out of the address: you log in in the "
                 "browser next.")
NO_QUERY = N_("Leave out everything from the ? or # on: type only the server's own address, "
              "like {example}.")
PLAIN_HTTP = N_("Plain http:// is allowed only to this computer: your login and seat would "
                "travel unencrypted to {host}. Type the server's https:// address.")
UNUSABLE = N_('"{address}" cannot be used as the server address ({problem}).')
OWN_CA = N_("If your organisation has its own certificate authority, install its "
            "certificate on this computer, or set ca_bundle in the configuration.")
CHECK_PORT = N_("Check the address and its port number.")
CHECK_NETWORK = N_("Check the address and your connection to the network.")
NOT_SEATKEEPER = N_("{address} answers, but not as a Seatkeeper license server does "
                    "({problem}). Check the address: it is the server's own, like {example}.")
REDIRECTS = N_("{address} sends its visitors on to {where}: if that is your license server, "
               "type its address instead.")
SERVER_ERROR = N_("{address} answers with a server error (HTTP {status}). Try again later, "
                  "or ask whoever runs it.")
OTHER_KEY = N_("{address} is a Seatkeeper license server, but its lease-signing key is not "
               "the one set as server_public_key in the configuration. Check the address, or "
               "ask your administrator.")
CHECK = (TYPE_ADDRESS, NOT_WEB, NO_HOST, BAD_PORT, NO_PASSWORD, NO_QUERY, PLAIN_HTTP,
           UNUSABLE, OWN_CA, CHECK_PORT, CHECK_NETWORK, NOT_SEATKEEPER, REDIRECTS,
           SERVER_ERROR, OTHER_KEY)

# The browser login (seatkeeper.service.device_login).
NO_SERVER = N_("No license server is set: give --server URL, or set server_url in the "
               "configuration.")
LOGGED_IN = N_("Logged in as {account} on {server}.")
CANCELLED = N_("The browser login was cancelled.")
LOGIN = (NO_SERVER, LOGGED_IN, CANCELLED)

# The first run (seatkeeper.service.first_run).
SET_BY_ADMINISTRATOR = N_("Your administrator set the license server for every user of this "
                          "computer.")

ALL = (*CHECK, *LOGIN, SET_BY_ADMINISTRATOR)
