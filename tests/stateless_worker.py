"""One app server of a stateless deployment, built from its environment alone, in a process of
its own (tests/test_stateless.py starts it with an empty instance folder):

    python -m tests.stateless_worker login USERNAME     → prints the session cookie
    python -m tests.stateless_worker get COOKIE PATH…   → prints "status sha256" per path
"""

import hashlib
import sys

from app import create_app
from tests.databases import TEST_PASSWORD


def main(argv):
    client = create_app({"WTF_CSRF_ENABLED": False}).test_client()
    if argv[0] == "login":
        response = client.post("/login/", data={"username": argv[1], "password": TEST_PASSWORD})
        if response.status_code != 302:
            sys.exit(f"login: {response.status_code}")
        print(client.get_cookie("session").value)
        return
    client.set_cookie("session", argv[1])
    for path in argv[2:]:
        response = client.get(path)
        print(response.status_code, hashlib.sha256(response.data).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1:])
