"""Files from outside, read without letting them take the server down (issue 15, class 3).

Two defences. First, what a file's own headers say about its size, read without decoding it: a
zip archive's directory (an .xlsx, a .docx), an image's pixel count (PNG's IHDR, JPEG's frame
header). Second, for the reading that has to happen (a roster's cells), a child process with a
memory and a CPU-time limit and a wall-clock timeout: whatever the file does to the reader, the
web worker only waits for an answer, and a dead or stalled child is a message, not a crash.
"""

import faulthandler
import gc
import io
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import struct
import threading
import zipfile
from contextlib import contextmanager

from flask_babel import gettext as _

MB = 1024 * 1024
# Only entries this large are held to the compression ratio: a small part of blanks may
# compress a thousand times harmlessly.
RATIO_FROM_BYTES = MB
# An archive inside an archive (a workbook embedded in a Word document) is looked into; one
# nested deeper than this is refused (42.zip-style bombs nest sixteen deep).
ZIP_MAX_DEPTH = 2
ZIP_SUFFIXES = (".zip", ".docx", ".xlsx", ".xlsm", ".pptx", ".docm", ".jar")


class LimitExceeded(Exception):
    """The child reading a file was killed or ran out of time or memory."""


# --- What the headers say ---


def _size(number: int) -> str:
    return f"{number / MB:,.0f} MB" if number >= MB else f"{number:,d} B"


def zip_entries(data: bytes) -> int | None:
    """How many parts an archive's end record declares, read without its directory (which
    takes a second or two to parse at 100,000 parts); None when there is no end record."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        return None
    (count,) = struct.unpack("<H", data[end + 10 : end + 12])
    if count == 0xFFFF:  # ZIP64: the count is in the ZIP64 end record before the locator
        start = data.rfind(b"PK\x06\x06", max(0, end - 20 - 0xFFFF), end)
        if start < 0 or start + 40 > len(data):
            return None
        (count,) = struct.unpack("<Q", data[start + 32 : start + 40])
    return count


def zip_problem(data: bytes, config, depth: int = 0) -> str | None:
    """Why a zip archive would be dangerous to open (its expanded size, a part's compression
    ratio, its number of parts, archives nested in it), from its directory; None if it is not."""
    count = zip_entries(data)
    if count is not None and count > config["ZIP_MAX_ENTRIES"]:
        return _(
            "The archive holds %(count)d parts (at most %(limit)d)",
            count=count,
            limit=config["ZIP_MAX_ENTRIES"],
        )
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None  # not an archive that opens: the caller's type check says so
    if len(entries) > config["ZIP_MAX_ENTRIES"]:
        return _(
            "The archive holds %(count)d parts (at most %(limit)d)",
            count=len(entries),
            limit=config["ZIP_MAX_ENTRIES"],
        )
    total = sum(entry.file_size for entry in entries)
    limit = config["ZIP_MAX_UNCOMPRESSED_MB"] * MB
    if total > limit:
        return _(
            "The archive would expand to %(size)s (at most %(limit)s): it looks like a zip bomb",
            size=_size(total),
            limit=_size(limit),
        )
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size >= RATIO_FROM_BYTES and ratio > config["ZIP_MAX_RATIO"]:
            return _(
                "A part of the archive is compressed %(ratio)d times (at most %(limit)d): "
                "it looks like a zip bomb",
                ratio=ratio,
                limit=config["ZIP_MAX_RATIO"],
            )
    for entry in entries:
        if not entry.filename.lower().endswith(ZIP_SUFFIXES):
            continue
        if depth + 1 >= ZIP_MAX_DEPTH:
            return _(
                "The archive holds archives nested more than %(limit)d deep",
                limit=ZIP_MAX_DEPTH - 1,
            )
        # An archive is compressed already: one inside that is larger than an upload may be
        # was made to expand.
        if entry.file_size > config["UPLOAD_MAX_BYTES"]:
            return _(
                "The archive would expand to %(size)s (at most %(limit)s): "
                "it looks like a zip bomb",
                size=_size(entry.file_size),
                limit=_size(config["UPLOAD_MAX_BYTES"]),
            )
        # Bounded: the declared sizes passed above, and zipfile reads no more than declared.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inner = archive.read(entry)
        problem = zip_problem(inner, config, depth + 1)
        if problem:
            return problem
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG from its header, without decoding a pixel; None when
    the header is missing or damaged."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        # The first chunk must be IHDR, 13 bytes: width, height, then five one-byte fields.
        if len(data) < 24 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return (width, height) if width and height else None
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


# Start-of-frame markers (C0-CF) carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
JPEG_FRAMES = {m for m in range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RSTn: no length follows


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in JPEG_STANDALONE:
            position += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or the scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2:
            return None
        if marker in JPEG_FRAMES:
            if position + 9 > len(data) or length < 7:
                return None
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return (width, height) if width and height else None
        position += 2 + length
    return None


def image_problem(data: bytes, config) -> str | None:
    """Why a PNG or JPEG is refused (a damaged header, more pixels than allowed), or None."""
    size = image_size(data)
    if size is None:
        return _("The image header is damaged: it is not a readable PNG or JPEG")
    width, height = size
    if width * height > config["UPLOAD_MAX_PIXELS"]:
        return _(
            "The image is %(width)d × %(height)d pixels (at most %(limit)s megapixels)",
            width=width,
            height=height,
            limit=f"{config['UPLOAD_MAX_PIXELS'] / 1e6:g}",
        )
    return None


# --- Reading in a child process ---


def start_method() -> str:
    """How the child starts: forked from this process when it runs one thread (the CLI,
    gunicorn's sync workers, the tests) — instant, nothing to import; from a fork server when
    other threads run (make run's threaded server), since a fork copies no thread but may copy
    a lock one of them held."""
    return "fork" if threading.active_count() == 1 else "forkserver"


def start_forkserver(modules: list) -> None:
    """Start the fork server now, importing ``modules`` (a threaded server, at start-up): the
    first upload then does not wait for a new interpreter to import the reader."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(modules)
    multiprocessing.forkserver.ensure_running()


class Busy(LimitExceeded):
    """Every reader this process may run at once is running: refused at once, not queued."""


# Readers running in this process (each child may use its whole memory allowance).
_running = 0
_running_lock = threading.Lock()


@contextmanager
def reader_slot(limit: int | None):
    """One of ``limit`` reader slots of this process, or Busy when all are taken (None: no
    limit). A web worker waits for its child: queued uploads would hold their workers too."""
    global _running
    with _running_lock:
        if limit is not None and _running >= limit:
            raise Busy(f"{_running} readers running, at most {limit}")
        _running += 1
    try:
        yield
    finally:
        with _running_lock:
            _running -= 1


def run_limited(function, args: tuple, seconds: int, memory_mb: int, concurrency=None):
    """``function(*args)`` in a child process that may use ``memory_mb`` more address space
    than it starts with and ``seconds`` of CPU and of wall-clock time. Its result, or the
    exception it raised; LimitExceeded when it died or overran; Busy when ``concurrency``
    children of this process are running already."""
    with reader_slot(concurrency):
        return _run_limited(function, args, seconds, memory_mb)


def _run_limited(function, args: tuple, seconds: int, memory_mb: int):
    context = multiprocessing.get_context(start_method())
    if context.get_start_method() == "forkserver":
        # The fork server imports the function's module once; every child then starts ready.
        context.set_forkserver_preload([function.__module__])
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(sender, function, args, seconds, memory_mb), daemon=True
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise LimitExceeded("time")
        outcome, value = receiver.recv()
    except (EOFError, OSError) as exc:  # the child died without answering
        raise LimitExceeded(f"exit code {child.exitcode}") from exc
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    if outcome == "raised":
        raise value
    return value


def _child(sender, function, args, seconds, memory_mb):
    """In the child: set the limits, run, send back ("ok", result) or ("raised", exception)."""
    # The objects inherited from the parent are left out of the child's garbage collections:
    # a collection would otherwise touch, and so copy, every page of the parent's heap.
    gc.freeze()
    # A reader that aborts (a native allocation refused) is expected here and reported by the
    # parent: no Python traceback dump of every thread and module on the server's stderr.
    faulthandler.disable()
    start = _address_space()
    _limit(resource.RLIMIT_AS, start + memory_mb * MB if start and memory_mb else None)
    # SIGXCPU at the soft limit, SIGKILL a second later.
    _limit(resource.RLIMIT_CPU, seconds, seconds + 1)
    try:
        answer = ("ok", function(*args))
    except BaseException as exc:  # MemoryError included: the parent decides what it means
        answer = ("raised", exc)
    try:
        sender.send(answer)
    except Exception as exc:  # an exception that does not pickle, or no memory to pickle
        sender.send(("raised", LimitExceeded(repr(exc))))
    sender.close()


def _limit(which, soft, hard=None):
    if soft is None:
        return
    _current_soft, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft = min(soft, current_hard)
        hard = current_hard if hard is None else min(hard, current_hard)
    resource.setrlimit(which, (soft, current_hard if hard is None else hard))


def _address_space() -> int:
    """This process's virtual size (Linux), 0 where /proc is missing."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
