"""The API key in no rendering, every wait bounded as a whole, answers capped.

dandi's real client (through :class:`ArchiveSession`) against the fake archive,
which echoes the ``Authorization`` header back at any position of its answer,
sends ``Retry-After``, drips its status line and headers, streams an endless
body, redirects, or points its ``next`` page elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
import logging
from pathlib import Path
import re
from urllib.parse import quote

from dandi.consts import REQUEST_RETRIES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest
import requests

from dandi_compute_plugin._http import DeadlineExceeded, ResponseTooLarge
from dandi_compute_plugin.deletion.archive import ArchiveSession, describe_error
from dandi_compute_plugin.deletion.client import (
    MAX_JSON_BYTES,
    QUOTED_CHARS,
    RetryAfterTooLong,
)
from dandi_compute_plugin.deletion.secrets import hide_in_logs, key_problem, redact
from dandi_compute_plugin.errors import ArchiveError, AuthenticationError

from ..archive import FakeArchive
from ..archive.clones import DANDISET, KEY, seed
from ..records import version_files

VDIR = "derivatives/dandiset-000001/sub-A/pipeline-p/version-v1"
ASSETS = r"/assets/$"


def shown_forms(key: str) -> list[str]:
    """Spellings of ``key`` a message could carry, computed here on their own."""
    return [
        key,
        repr(key)[1:-1],
        json.dumps(key)[1:-1],
        quote(key, safe=""),
        quote(key, safe="").lower(),
    ]


def assert_no_key(text: str, key: str = KEY) -> None:
    for form in shown_forms(key):
        assert form not in text, (form, text)


@pytest.fixture
def world(keyed: FakeArchive, tmp_path: Path) -> FakeArchive:
    seed(keyed, tmp_path / "clone", version_files("000001", "A", "v1", pipeline="p"))
    return keyed


def session(archive: FakeArchive, timeout: float = 60.0) -> ArchiveSession:
    return ArchiveSession(archive.url, DANDISET, authenticate=True, timeout=timeout)


# -- the key in no rendering ------------------------------------------------------

#: keys of printable ASCII: every character that an escaping may change; varied
#: enough that, registered for the rest of the session (as every key is), they
#: cannot redact the text of another test (``9999...`` would), and without the
#: echo's padding (``xx``), so that a piece of one in a message is a leak
KEYS = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=16, max_size=48
).filter(lambda key: len(set(key)) >= 10 and "xx" not in key)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=KEYS, pad=st.integers(0, 3 * QUOTED_CHARS), method=st.sampled_from("DG"))
def test_an_echoed_key_is_redacted_wherever_the_answer_is_cut(
    archive: FakeArchive,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    pad: int,
    method: str,
) -> None:
    """The key at every position relative to the cut of a quoted answer, in a
    failed deletion (the report's ``error``) and a failed listing (a target's
    reason), and in the exception dandi's client raises."""
    if DANDISET not in archive.dandiset_ids():
        root = tmp_path_factory.mktemp("clone")
        seed(archive, root, version_files("000001", "A", "v1", pipeline="p"))
    archive.tokens[key] = "owner"
    monkeypatch.setenv(archive.api_key_env_var, key)
    s = session(archive)
    [first, *_] = s.assets_under(VDIR)
    archive.clear_faults()
    if method == "D":
        archive.fail("DELETE", status=403, echo=True, echo_pad=pad)
        with pytest.raises(ArchiveError) as info:
            s.delete_asset(first)
        texts = [str(info.value)]
    else:
        archive.fail("GET", ASSETS, status=400, echo=True, echo_pad=pad)
        with pytest.raises(requests.HTTPError) as raised:
            s.assets_under(VDIR)
        texts = [describe_error(raised.value), str(raised.value)]
    archive.clear_faults()
    if pad < 100:  # the echo is really quoted, whole
        assert "<redacted>" in texts[0]
    for text in texts:
        assert_no_key(text, key)
        for cut in range(8, len(key)):  # nor the part before a cut
            assert key[:cut] not in text, (cut, text)


def test_every_rendering_of_a_key_is_redacted() -> None:
    key = "a'b\"c\\d/e%f<g&h é"
    hide_in_logs(key)
    renderings = [
        key,
        repr(key)[1:-1],
        repr(key.encode())[2:-1],
        json.dumps(key)[1:-1],
        json.dumps(key, ensure_ascii=False)[1:-1],
        json.dumps(key)[1:-1].replace("/", "\\/"),
        quote(key, safe=""),
        quote(key, safe="").lower(),
        quote(key),
        "a&#x27;b&quot;c\\d/e%f&lt;g&amp;h é",
        "".join(f"\\u{ord(c):04x}" for c in key),
        "".join(f"\\u{ord(c):04X}" for c in key),
        "".join(f"%{b:02x}" for b in key.encode()),
    ]
    for text in renderings:
        assert redact(f"<<{text}>>") == "<<<redacted>>>", text


@pytest.mark.parametrize(
    ("key", "what"),
    [
        (KEY + "\r", "a line end (\\r or \\n) at character 16 of 16"),
        (KEY + "\n", "a line end"),
        ("secret key-0123", "white space at character 7"),
        ("secret\tkey-0123", "white space"),
        ("secret\x1bkey-0123", "a control character"),
        ("secret\u00a0key", "white space"),
        ("secretkéy-0123", "not ASCII"),
    ],
)
def test_a_key_with_white_space_or_controls_is_refused_before_any_request(
    archive: FakeArchive, monkeypatch: pytest.MonkeyPatch, key: str, what: str
) -> None:
    archive.add_dandiset(DANDISET, [])
    monkeypatch.setenv(archive.api_key_env_var, key)
    with pytest.raises(AuthenticationError) as info:
        session(archive)
    message = str(info.value)
    assert what in message and archive.api_key_env_var in message
    assert_no_key(message, key)
    assert_no_key(message, key.strip())
    assert all(r.authorization is None for r in archive.log)
    assert key_problem(key) is not None and key_problem(KEY) is None


def test_a_logged_exception_carrying_the_key_is_redacted_in_a_log_file(
    tmp_path: Path,
) -> None:
    """As dandi's log file records it (its format), the traceback included,
    for a handler added after the key was registered too."""
    key = "logged-key-77\\x"
    hide_in_logs(key)
    logfile = tmp_path / "dandi.log"
    handler = logging.FileHandler(logfile, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s [%(levelname)-8s] %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        try:
            try:
                raise ValueError(f"inner {key!r}")
            except ValueError as inner:
                raise RuntimeError(f"header: token {key}") from inner
        except RuntimeError as exc:
            logging.getLogger("dandi").error("failed: %s", exc, exc_info=True)
            logging.getLogger("other").warning("%r", {"k": key}, stack_info=True)
    finally:
        root.removeHandler(handler)
        handler.close()
    text = logfile.read_text()
    assert "Traceback" in text and "inner" in text and "<redacted>" in text
    assert_no_key(text, key)


def test_a_next_page_on_another_host_with_the_same_port_is_not_followed(
    world: FakeArchive,
) -> None:
    world.page_size = world.max_page_size = 1
    s = session(world)
    port = world.url.rsplit(":", 1)[1]
    world.next_origin = f"http://localhost:{port}"  # the very same server
    before = world.count("GET", ASSETS)
    with pytest.raises(ArchiveError, match="not followed"):
        s.assets_under(VDIR)
    assert world.count("GET", ASSETS) == before + 1  # the first page only


@pytest.mark.parametrize("where", ["localhost", "elsewhere"])
def test_a_redirect_to_another_origin_never_carries_the_key(
    world: FakeArchive, where: str
) -> None:
    s = session(world)
    with FakeArchive(tokens={}) as elsewhere:
        port = world.url.rsplit(":", 1)[1]
        origin = f"http://localhost:{port}" if where == "localhost" else elsewhere.url
        target = f"{origin}/api/dandisets/{DANDISET}/versions/draft/assets/?moved=1"
        world.fail("GET", ASSETS, query="path=", redirect=target, times=1)
        with pytest.raises(requests.RequestException, match="another origin"):
            s.assets_under(VDIR)
        arrived = [r for r in world.log + elsewhere.log if "moved=1" in r.query]
    assert arrived  # the redirect was followed
    assert all(r.authorization is None for r in arrived)


# -- every wait bounded as a whole ----------------------------------------------------


@pytest.mark.timeout(120)  # the hang guard: a wait of the budget would pass it
def test_a_retry_after_beyond_the_time_left_fails_at_once(world: FakeArchive) -> None:
    """A day asked, ten minutes left: not a second of them waited (waiting the
    budget, or the day, would meet the test's timeout), no second attempt."""
    s = session(world, timeout=600)
    world.fail("GET", ASSETS, status=429, retry_after="86400")
    with pytest.raises(RetryAfterTooLong) as info:
        s.assets_under(VDIR)
    assert "Retry-After: 86400" in describe_error(info.value)
    assert world.count("GET", ASSETS) == 1


@pytest.mark.parametrize(
    "header", ["soon", "-60", "Wed, 21 Oct 2015 07:28:00 GMT", str(8 * 24 * 3600)]
)
def test_a_retry_after_dandi_would_not_honour_fails_at_once_quietly(
    world: FakeArchive, debug_log: pytest.LogCaptureFixture, header: str
) -> None:
    """Neither seconds nor a date, a past date, more than a week: dandi's
    ``get_retry_after`` refuses them (with a warning, kept for the log file at
    DEBUG); the request fails at once, naming the header, as one beyond the
    time left does."""
    s = session(world, timeout=600)
    world.fail("GET", ASSETS, status=503, retry_after=header)
    with pytest.raises(RetryAfterTooLong) as info:
        s.assets_under(VDIR)
    assert f"Retry-After: {header}" in describe_error(info.value)
    assert world.count("GET", ASSETS) == 1
    dandis = [r for r in debug_log.records if r.funcName == "get_retry_after"]
    assert dandis and all(r.levelno == logging.DEBUG for r in dandis)


def test_a_key_echoed_into_retry_after_is_in_no_message_nor_log(
    world: FakeArchive, debug_log: pytest.LogCaptureFixture
) -> None:
    """``Retry-After: 5 token KEY``: dandi's reading of it warns, quoting it;
    the warning (demoted to DEBUG) and the failure's message are redacted."""
    s = session(world, timeout=600)
    world.fail(
        "GET", ASSETS, status=503, retry_after="5", echo=True, echo_in_header=True
    )
    with pytest.raises(RetryAfterTooLong) as info:
        s.assets_under(VDIR)
    text = describe_error(info.value) + str(info.value)
    assert "Retry-After: 5 token <redacted>" in text, text
    logged = "\n".join(r.getMessage() for r in debug_log.records)
    assert "token <redacted>" in logged
    for part in (text, logged):
        assert_no_key(part)
        assert KEY[:8] not in part


def test_a_short_retry_after_is_honoured_within_the_budget(world: FakeArchive) -> None:
    s = session(world, timeout=30)
    world.fail("GET", ASSETS, status=503, retry_after="1", times=1)
    assert len(s.assets_under(VDIR)) == 3
    assert world.count("GET", ASSETS) == 2


def test_a_retry_after_date_beyond_the_time_left_fails_at_once(
    world: FakeArchive,
) -> None:
    s = session(world, timeout=5)
    world.fail("DELETE", status=503, retry_after="Wed, 21 Oct 2099 07:28:00 GMT")
    [first, *_] = s.assets_under(VDIR)
    with pytest.raises(ArchiveError, match="Retry-After: Wed, 21 Oct 2099"):
        s.delete_asset(first)
    assert world.count("DELETE") == 1


@pytest.mark.parametrize(
    "what", ["listing", "dandiset", "token", "server-info", "api-info"]
)
def test_a_status_line_and_headers_dripping_in_end_at_the_deadline(
    world: FakeArchive, what: str
) -> None:
    """Ten thousand bytes at 20 a second: each read in time, the whole not.

    The client hangs up: the server sees it give up on the answer while it is
    still dripping (500 s of it: a client that waited for it whole would meet
    the test's timeout first), and the error names the timeout."""
    pattern = {
        "listing": ASSETS,
        "dandiset": r"^/api/dandisets/\d+/$",
        "token": r"^/api/auth/token/$",
        "server-info": r"^/server-info$",  # dandi resolving an instance URL
        "api-info": r"^/api/info/$",  # dandi resolving the API's URL
    }[what]
    if what == "api-info":  # asked when the web app has no /server-info
        world.fail("GET", r"^/server-info$", status=404)
    dripping = world.fail("GET", pattern, drip_head=0.05)
    with pytest.raises((DeadlineExceeded, ArchiveError)) as info:
        session(world, timeout=2.0).assets_under(VDIR)
    assert "2 s" in str(info.value)
    assert dripping.hits >= 1
    assert world.accounting.wait_for(lambda: dripping.cut == dripping.hits, 60), (
        f"{dripping.hits} answers dripped, {dripping.cut} given up by the client"
    )


def test_retries_of_a_persistent_500_end_within_the_timeout(world: FakeArchive):
    s = session(world, timeout=4)
    world.fail("GET", ASSETS, status=500)
    with pytest.raises(requests.HTTPError, match="Error 500"):
        s.assets_under(VDIR)
    # dandi's back-off: 1.25 s, then 1.56 s; a third wait would pass the 4 s (on
    # a loaded machine the attempts themselves may leave room for fewer); dandi's
    # own loop would make REQUEST_RETRIES attempts, about a minute of them
    assert 2 <= world.count("GET", ASSETS) <= 3 < REQUEST_RETRIES


@pytest.mark.parametrize("announce", [None, 20 << 30])
def test_an_endless_answer_fails_at_the_size_cap(
    world: FakeArchive, announce: int | None
) -> None:
    s = session(world)
    world.fail("GET", ASSETS, endless=True, announce=announce)
    with pytest.raises(ResponseTooLarge, match=f"larger than {MAX_JSON_BYTES} bytes"):
        s.assets_under(VDIR)
    assert "larger than" in describe_error(ResponseTooLarge("larger than 1 bytes"))


@pytest.mark.parametrize("path", ["/server-info", "/api/info/"])
def test_an_endless_instance_info_is_refused_at_the_cap_before_dandi_reads_it(
    world: FakeArchive, path: str
) -> None:
    """dandi asks for the instance's info with a plain ``requests.get`` (no size
    cap, no timeout): asked first, capped, the run ends before dandi does."""
    if path == "/api/info/":  # asked when the web app has no /server-info
        world.fail("GET", r"^/server-info$", status=404)
    endless = world.fail("GET", f"^{re.escape(path)}$", endless=True)
    with pytest.raises(ArchiveError, match=f"larger than {MAX_JSON_BYTES} bytes"):
        session(world, timeout=30)
    assert endless.hits == 1  # asked once, by us: dandi never asked it
    assert world.accounting.wait_for(lambda: endless.cut == 1, 60)


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def test_retries_are_logged_at_debug_only(
    world: FakeArchive, debug_log: pytest.LogCaptureFixture
) -> None:
    s = session(world, timeout=4)
    world.fail("DELETE", status=500, echo=True)
    [first, *_] = s.assets_under(VDIR)
    with pytest.raises(ArchiveError, match="HTTP 500"):
        s.delete_asset(first)
    mine = [r for r in debug_log.records if r.name.startswith("dandi")]
    assert any("again in" in r.getMessage() for r in mine)
    assert all(r.levelno <= logging.DEBUG for r in mine), [
        (r.levelname, r.getMessage()) for r in mine if r.levelno > logging.DEBUG
    ]
    assert_no_key("\n".join(r.getMessage() for r in debug_log.records))


def test_a_deletion_whose_headers_the_deadline_cuts_is_not_taken_as_done(
    world: FakeArchive,
) -> None:
    """The status line ``200 OK`` arrives, the headers never end: the answer the
    watchdog cut short must not count as a deletion."""
    s = session(world, timeout=2)
    [first, *_] = s.assets_under(VDIR)
    world.fail("DELETE", drip_head=0.05)
    with pytest.raises(ArchiveError, match="timed out"):
        s.delete_asset(first)
    assert first.path in world.paths(DANDISET)


def test_an_absurd_retry_after_is_named_shortened(world: FakeArchive) -> None:
    s = session(world, timeout=30)
    world.fail("GET", ASSETS, status=503, retry_after="9" * 400)
    with pytest.raises(RetryAfterTooLong) as info:
        s.assets_under(VDIR)
    text = describe_error(info.value)
    assert "Retry-After: 999" in text and len(text) < 3 * QUOTED_CHARS


def test_a_gzip_bomb_fails_at_the_size_cap_of_the_decoded_answer(
    world: FakeArchive,
) -> None:
    s = session(world)
    world.fail("GET", ASSETS, gzip_bomb=4 * MAX_JSON_BYTES)
    with pytest.raises(ResponseTooLarge, match="more than that sent"):
        s.assets_under(VDIR)


@pytest.mark.parametrize("field", ["asset_id", "blob"])
@pytest.mark.parametrize("pad", [40, 60, 70, 75, 79])
def test_a_key_echoed_into_a_listed_field_is_redacted_before_the_cut(
    world: FakeArchive, field: str, pad: int
) -> None:
    """A server may echo the key into any field of a listing: the message that
    refuses the field quotes 80 characters of it, redacted first."""
    with world._lock:
        draft = world._dandisets[DANDISET]["draft"]
        asset = next(a for a in draft.values() if a["path"].startswith(VDIR + "/"))
        asset[field] = "x" * pad + KEY
    s = session(world)
    with pytest.raises(ArchiveError, match="nothing of it is used") as info:
        s.assets_under(VDIR)
    assert_no_key(str(info.value))
    for cut in range(4, len(KEY)):  # not even a piece of it
        assert KEY[:cut] not in str(info.value)
