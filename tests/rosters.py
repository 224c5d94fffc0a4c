"""Member rosters as villages send them, for the import tests: a clean roster's rows, a CSV
written as Excel saves one, the CLI import, and what the database holds after it."""

import csv
import datetime as dt

from flask_babel import force_locale, gettext

from app.models import AuditLog, Member
from tests.helpers import valid_id

HEADER = [
    "序号",
    "姓名",
    "性别",
    "身份证号码",
    "联系电话",
    "所在小组",
    "会员类别",
    "入会时间",
    "备注",
]


def roster_rows(count=5, start=0):
    """Rows of a clean roster for 新檀村 (ID numbers outside the demo's 5105xx area)."""
    rows = []
    for n in range(start, start + count):
        birth = (dt.date(1950, 1, 1) + dt.timedelta(days=n % 18000)).strftime("%Y%m%d")
        sex_digit = str(n % 10)
        rows.append(
            [
                str(n + 1),
                f"测试{n}",
                "男" if n % 2 else "女",
                valid_id(
                    birth=birth, seq=f"{n // 18000 % 100:02d}", sex_digit=sex_digit, area="110101"
                ),
                f"139{n:08d}",
                f"第{'一二三四五六'[n % 6]}组",
                ["五老", "社会贤达", "Village cadre", "activist"][n % 4],
                ["2023-05-01", "2023/5/1", "2023.5.1", "2023年5月1日", "20230501"][n % 5],
                "",
            ]
        )
    return rows


def write_csv(path, rows, encoding="utf-8", header=HEADER):
    """A CSV as Excel saves it: a title row and a blank row above the header, one blank row."""
    with open(path, "w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["新檀村计生协会员花名册"] + [""] * (len(header) - 1))
        out.writerow([""] * len(header))
        out.writerow(header)
        for i, row in enumerate(rows):
            out.writerow(row)
            if i == 1:
                out.writerow([""] * len(header))
    return path


def run(app, path, *extra, village_name="新檀村"):
    args = ["roster", "import", "members", str(path), "--village", village_name, *extra]
    return app.test_cli_runner().invoke(args=args)


def counts(app):
    with app.app_context():
        session = app.appbuilder.session
        return session.query(Member).count(), session.query(AuditLog).count()


def refused(before):
    """(members, audit entries) after one refused import: no member written, and the refusal
    in the audit log (it told row by row what a dry run would, issue 15)."""
    return before[0], before[1] + 1


def zh(app, message, **values):
    """What the user reads: the message in the CLI's language (Chinese)."""
    with app.test_request_context(), force_locale("zh"):
        return gettext(message, **values)
