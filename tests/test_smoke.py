"""The app starts, and each demo account lands on its own home page."""

import pytest

from app.demo import DEMO_ACCOUNTS


@pytest.mark.parametrize("username,role,scope", DEMO_ACCOUNTS)
def test_every_demo_account_sees_its_scope_on_the_home_page(login_as, username, role, scope):
    page = login_as(username).get("/").get_data(as_text=True)
    expected = "所有乡镇" if scope == "—" else scope.split()[-1]
    assert expected in page
