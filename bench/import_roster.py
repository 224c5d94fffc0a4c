"""Roster import speed (issue 5, item 8), all timed in the same run on fresh migrated SQLite
databases:

(a) raw sqlite3 ``executemany`` of the 100k member rows into ``member``, as they are stored
    (the ID number sealed and its lookup hash beside it, both made before the clock starts):
    the baseline;
(b) ``flask roster import members FILE.csv`` (GB18030) in a subprocess: the process's wall
    time, and the pipeline time inside the command (read, check, write, audit, commit),
    which the command prints when ROSTER_TIMING=1;
(c) the same rows as .xlsx through the same command;
(d) the subprocesses' peak memory (RUSAGE_CHILDREN ru_maxrss);
(e) reading alone (file → cells), as the importer does it — in a child process with memory and
    time limits (issue 15) — against the same reading in this process, interleaved;
(f) the whole ``flask roster import`` process of (b), start-up included (issue 16), against
    (a): wall time, and CPU time (the process and its reader child, against executemany's),
    which a busy shared machine moves less.

    .venv/bin/python bench/import_roster.py [--rows 100000]

Targets: pipeline within 3x of executemany, .xlsx under 5 s, memory under 1 GB; the whole
CSV import process within 5x of executemany (issue 16).
"""

import argparse
import csv
import datetime as dt
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
GROUPS = ["第一组", "第二组", "第三组", "第四组", "第五组", "第六组"]
CATEGORIES = [("五老", "elder"), ("社会贤达", "notable"), ("村干部", "cadre"), ("其他", "other")]
HEADER = [
    "序号",
    "姓名",
    "性别",
    "身份证号码",
    "联系电话",
    "所在小组",
    "会员类别",
    "入会时间",
    "住址",
]


def members(n):
    """n valid members: (cells as a village writes them, the values as stored)."""
    from app.validation import id_check_char

    cells, stored = [], []
    for i in range(n):
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=i % 20000)
        body = f"110101{birth:%Y%m%d}{i // 20000 % 100:02d}{i % 10}"
        number = body + id_check_char(body)
        gender = "male" if i % 2 else "female"
        label, category = CATEGORIES[i % 4]
        join = dt.date(2015, 1, 1) + dt.timedelta(days=i % 3000)
        cells.append(
            [
                str(i + 1),
                f"会员{i}",
                "男" if i % 2 else "女",
                number,
                f"139{i:08d}",
                GROUPS[i % 6],
                label,
                join.isoformat(),
                f"{GROUPS[i % 6]}{i % 300}号",
            ]
        )
        stored.append((i % 6, f"会员{i}", gender, number, birth, f"139{i:08d}", category, join))
    return cells, stored


def write_csv(path, cells):
    with open(path, "w", encoding="gb18030", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["基准村计生协会员花名册"])
        out.writerow(HEADER)
        out.writerows(cells)


def write_xlsx(path, cells):
    """The rows as Excel saves a workbook: every text in the shared-strings table, each cell a
    reference to it. (openpyxl writes inline strings, twice the XML for calamine to read.)"""
    strings, index = [], {}

    def ref(text):
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return index[text]

    def column(n):
        name = ""
        while n >= 0:
            name = chr(65 + n % 26) + name
            n = n // 26 - 1
        return name

    letters = [column(n) for n in range(len(HEADER))]
    lines = []
    for r, row in enumerate([["基准村计生协会员花名册"], HEADER, *cells], start=1):
        cells_xml = "".join(
            f'<c r="{letters[c]}{r}" t="s"><v>{ref(v)}</v></c>' for c, v in enumerate(row)
        )
        lines.append(f'<row r="{r}">{cells_xml}</row>')
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006"
    kinds = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{package}/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{kinds}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{kinds}.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{kinds}.sharedStrings+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{package}/relationships"><Relationship Id="rId1" '
            f'Type="{rels}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{main}" xmlns:r="{rels}"><sheets>'
            '<sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{package}/relationships">'
            f'<Relationship Id="rId1" Type="{rels}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rels}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{main}"><sheetData>{"".join(lines)}</sheetData></worksheet>'
        ),
        "xl/sharedStrings.xml": (
            f'<sst xmlns="{main}" count="{len(strings)}" uniqueCount="{len(strings)}">'
            + "".join(f"<si><t>{escape(t)}</t></si>" for t in strings)
            + "</sst>"
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, xml in parts.items():
            book.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + xml)


def fresh_database(folder):
    """A migrated database with one village and its six groups; (path, village id, group ids)."""
    from flask_migrate import upgrade

    from app import create_app, db
    from app.models import MemberGroup, Township, Village

    path = os.path.join(folder, "bench.db")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        upgrade()
        session = app.appbuilder.session
        township = Township(name="基准镇")
        village = Village(township=township, name="基准村")
        groups = [MemberGroup(village=village, name=name) for name in GROUPS]
        session.add_all([township, village, *groups])
        session.commit()
        ids = village.id, [g.id for g in groups]
        session.remove()
        db.engine.dispose()
    return path, *ids


def sealed_numbers(path, numbers):
    """The ID numbers as ``member`` stores them (issue 7: encrypted at rest, with a lookup
    hash): (ciphertext, hash) each, made with the app's own functions."""
    from app import create_app, crypto, db

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        pairs = [(crypto.seal(n), crypto.lookup_hash(n)) for n in numbers]
        db.engine.dispose()
    return pairs


def executemany(stored):
    folder = tempfile.mkdtemp()
    path, village_id, group_ids = fresh_database(folder)
    today = dt.date.today().isoformat()
    sealed = sealed_numbers(path, [row[3] for row in stored])
    rows = [
        (village_id, group_ids[g], name, gender, *sealed[i], birth.isoformat(), phone, category)
        + ("active", join.isoformat(), today, 0, 0, f"{GROUPS[g]}{i % 300}号")
        for i, (g, name, gender, _number, birth, phone, category, join) in enumerate(stored)
    ]
    connection = sqlite3.connect(path)
    start, cpu = time.perf_counter(), time.process_time()
    connection.executemany(
        "INSERT INTO member (village_id, group_id, name, gender, id_number, id_number_hash, "
        "birth_date, phone, category, status, join_date, applied_on, party_member, volunteer, "
        "address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    connection.close()
    return elapsed


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def cli_import(filename):
    """(wall time of the process, pipeline time printed by the command, its output, CPU time
    of the process and its children)."""
    folder = tempfile.mkdtemp()
    path, _village, _groups = fresh_database(folder)
    env = {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "DATABASE_URL": f"sqlite:///{path}",
        "INSTANCE_DIR": folder,
        "ROSTER_TIMING": "1",
    }
    command = [os.path.join(ROOT, ".venv/bin/flask"), "roster", "import", "members", filename]
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [*command, "--village", "基准村"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"import failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    timing = re.search(r"pipeline .*", done.stderr).group(0)
    return wall, timing, done.stdout.strip(), cpu


def reading(paths, repeat):
    """{path: (median seconds read through the child process, median seconds in-process)}."""
    from app import create_app, roster_files

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    times = {path: ([], []) for path in paths}
    with app.app_context():
        config = app.config
        limits = roster_files.Limits(
            config["IMPORT_MAX_ROWS"], config["IMPORT_MAX_COLUMNS"], config["IMPORT_MAX_CELLS"]
        )
        for _ in range(repeat):
            for path in paths:
                with open(path, "rb") as fh:
                    raw = fh.read()
                suffix = os.path.splitext(path)[1]
                start = time.perf_counter()
                roster_files.read_table(path, raw)
                child = time.perf_counter() - start
                start = time.perf_counter()
                payload = roster_files.decode_csv(raw) if suffix == ".csv" else raw
                roster_files._cells(suffix, payload, limits)
                times[path][0].append(child)
                times[path][1].append(time.perf_counter() - start)
    return {path: tuple(sorted(t)[len(t) // 2] for t in pair) for path, pair in times.items()}


def seconds(timing: str, name: str) -> float:
    return float(re.search(rf"{name} ([\d.]+) s", timing).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    # The machine is shared: each figure is the median of several runs, interleaved.
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    cells, stored = members(args.rows)
    csv_path = os.path.join(folder, "roster-gb18030.csv")
    xlsx_path = os.path.join(folder, "roster.xlsx")
    write_csv(csv_path, cells)
    write_xlsx(xlsx_path, cells)

    runs = {"executemany": [], "csv": [], "xlsx": []}
    for _ in range(args.repeat):
        runs["executemany"].append(executemany(stored))
        runs["csv"].append(cli_import(csv_path))
        runs["xlsx"].append(cli_import(xlsx_path))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux

    def median_run(name, key):
        return sorted(runs[name], key=key)[len(runs[name]) // 2]

    base_wall, base_cpu = median_run("executemany", lambda r: r[0])
    print(f"{args.rows} rows, median of {args.repeat} runs; {runs['csv'][0][2]}")
    print(f"(a) sqlite3 executemany: {base_wall:.3f} s (cpu {base_cpu:.3f} s)")
    for label, name in (("(b) CSV GB18030", "csv"), ("(c) .xlsx", "xlsx")):
        wall, timing, _said, _cpu = median_run(name, lambda r: seconds(r[1], "pipeline"))
        pipeline = seconds(timing, "pipeline")
        print(
            f"{label} via the CLI: {timing}; {pipeline / base_wall:.1f}x executemany "
            f"(cpu {seconds(timing, 'cpu') / base_cpu:.1f}x); whole process {wall:.3f} s"
        )
    print(f"(d) peak memory of the import processes: {peak:.0f} MB")
    wall = statistics.median(r[0] for r in runs["csv"])
    cpu = statistics.median(r[3] for r in runs["csv"])
    print(
        f"(f) the whole CSV import process: {wall:.3f} s, {wall / base_wall:.1f}x executemany "
        f"(target 5x); cpu {cpu:.3f} s, {cpu / base_cpu:.1f}x executemany's"
    )
    for path, (child, here) in reading([csv_path, xlsx_path], args.repeat).items():
        print(
            f"(e) reading {os.path.basename(path)}: {child:.3f} s in a child process, "
            f"{here:.3f} s in-process ({child / here:.2f}x)"
        )


if __name__ == "__main__":
    main()
