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

# The configuration's checks (seatkeeper.config): a problem is said after the key, in
# BAD_VALUE.
NON_EMPTY = N_("should be a non-empty text")
NOT_ADDRESS = N_("is not a server address ({value}); write it like "
                 "https://licenses.example.com")
URL_QUERY = N_("should not carry a query or fragment")
URL_PASSWORD = N_("should not carry a user name or password; Seatkeeper logs in through the "
                 "portal")
NOT_BOOL = N_("should be true or false")
NOT_DATE = N_("is not a date ({value}); write it as YYYY-MM-DD")
NOT_BASE64 = N_("is not base64; copy the public_key from the server's /v1/keys")
NOT_KEY = N_("is not a 32-byte Ed25519 key; copy the public_key from /v1/keys")
ONE_OF = N_("should be one of {choices}")
ONE_OF_NOT = N_("should be one of {choices} (not {value})")
NOT_LANGUAGE = N_("should be one of {choices} (not {value}); leave it out to follow the "
                  "system's language")
SECONDS = N_("should be a number of seconds, like {example}")
BETWEEN = N_("should be between {low} and {high} seconds")
NOT_FILE = N_("names {path}, which is not a file; point it at a PEM CA bundle")
BAD_VALUE = N_("{where}: '{key}' {problem}.")
NOT_TOML = N_("{where}: not valid TOML ({problem}); fix the file or move it away.")
UNREADABLE = N_("{where}: cannot be read ({problem}); check its permissions.")
LOCKED_LIST = N_("{where}: '[policy] locked' should be a list of key names, like "
                 'locked = ["server_url"].')
LOCKED_MULTI_SZ = N_("{where}: 'locked' should be a REG_MULTI_SZ value listing key names, "
                     "one per line, like server_url.")
LOCKED_UNKNOWN = N_("{where}: '{name}' names unknown keys {unknown}; known keys are {keys}.")
UNKNOWN_KEY = N_("{where}: unknown key '{key}' ignored (known keys: {keys}).")
LOCKED_BY = N_("{where}: '{key}' is locked by {policy}; the administrator's value is kept.")
THE_ENVIRONMENT = N_("the environment")
ENV_VARIABLE = N_("environment variable {name}")
CONFIG = (THE_ENVIRONMENT, ENV_VARIABLE, NON_EMPTY, NOT_ADDRESS, URL_QUERY, URL_PASSWORD, NOT_BOOL,
          NOT_DATE, NOT_BASE64, NOT_KEY, ONE_OF, ONE_OF_NOT, NOT_LANGUAGE, SECONDS, BETWEEN,
          NOT_FILE, BAD_VALUE, NOT_TOML, UNREADABLE, LOCKED_LIST, LOCKED_MULTI_SZ, LOCKED_UNKNOWN,
          UNKNOWN_KEY, LOCKED_BY)

ALL = (*CHECK, *LOGIN, SET_BY_ADMINISTRATOR, *CONFIG)
