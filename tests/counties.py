"""A world of two counties for the county tests: 古蔺县 with 二郎镇 (the demo) and 太平镇
(平安村, 红岩村); 叙永县 with 水尾镇 (石坝村); accounts county, xuyong and taiping."""

import pytest
from sqlalchemy import select

from app import accounts
from app.models import County, Township, Village
from tests.databases import TEST_PASSWORD


def db(app, work):
    with app.app_context():
        return work(app.appbuilder.session)


def ids(app, model, *names):
    rows = db(app, lambda s: s.execute(select(model.name, model.id)).all())
    found = dict(rows)
    return [found[name] for name in names]


def _account(session, username, role, **scope):
    if session.scalar(
        select(accounts.ScopedUser.id).where(accounts.ScopedUser.username == username)
    ):
        return
    accounts.create_account(session, username, role, TEST_PASSWORD, **scope)


def _township(session, county, name, villages):
    township = session.scalars(select(Township).where(Township.name == name)).first()
    if township is None:
        township = Township(name=name, county=county)
        session.add(township)
        for village_name, size, population in villages:
            session.add(
                Village(
                    township=township,
                    name=village_name,
                    kind="village",
                    size_class=size,
                    population=population,
                )
            )
        session.commit()
    return township


@pytest.fixture
def counties(app):
    """古蔺县 with 二郎镇 (the demo) and 太平镇 (平安村, 红岩村); 叙永县 with 水尾镇 (石坝村);
    accounts county (古蔺县), xuyong (叙永县), taiping (太平镇)."""

    def build(session):
        gulin = session.scalars(select(County).where(County.name == "古蔺县")).one()
        _township(
            session, gulin, "太平镇", [("平安村", "standard", 1500), ("红岩村", "small", 700)]
        )
        xuyong = session.scalars(select(County).where(County.name == "叙永县")).first()
        if xuyong is None:
            xuyong = County(name="叙永县")
            session.add(xuyong)
            session.commit()
        _township(session, xuyong, "水尾镇", [("石坝村", "standard", 1000)])
        _account(session, "county", "County", county=gulin)
        _account(session, "xuyong", "County", county=xuyong)
        taiping = session.scalars(select(Township).where(Township.name == "太平镇")).one()
        _account(session, "taiping", "Township", township=taiping)

    db(app, build)
