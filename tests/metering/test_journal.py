import os

from dataclasses import replace

import orjson
import pytest

from relaygate.metering import journal as journal_module
from relaygate.metering.journal import Journal, JournalCursor
from relaygate.metering.usage import RECORD_COLUMNS, entry_of

from .records import record


def request_ids(entries):
    return [e[0] for e in entries]  # an entry holds the usage_records columns, request id first


def test_appended_records_are_read_back_in_order(tmp_path):
    journal = Journal.open(tmp_path / "usage.jsonl")
    for n in range(5):
        journal.append(record(n))
    records, end = JournalCursor(journal.path).read(limit=100)
    assert request_ids(records) == [f"req-{n:06d}" for n in range(5)]
    assert end == journal.size()
    journal.close()


def test_a_line_without_its_newline_waits(tmp_path):
    """A reader stops before a line not finished yet, whether the room after it is zeros or not."""
    path = tmp_path / "usage.jsonl"
    line = record(2).to_json()
    for room in (b"", b"\0" * 5000):
        path.write_bytes(record(1).to_json() + b"\n" + line[:10] + room)
        cursor = JournalCursor(path)
        cursor.advance(0)
        records, end = cursor.read(limit=100)
        assert request_ids(records) == ["req-000001"]
        cursor.advance(end)
        path.write_bytes(record(1).to_json() + b"\n" + line + b"\n" + room)
        assert request_ids(cursor.read(limit=100)[0]) == ["req-000002"]


@pytest.mark.parametrize("room", [0, 3000, 200_000], ids=["no-room", "room", "room-past-a-scan-step"])
def test_a_torn_last_line_is_ended_and_skipped(tmp_path, room):
    """As a power loss could leave a file: a record cut short, then the zeros of unwritten room."""
    path = tmp_path / "usage.jsonl"
    path.write_bytes(record(1).to_json() + b"\n" + b'["torn' + b"\0" * room)
    second = Journal.open(path)
    second.append(record(2))
    records, _ = JournalCursor(path).read(limit=100)
    assert request_ids(records) == ["req-000001", "req-000002"]
    second.close()
    assert path.read_bytes().endswith(record(2).to_json() + b"\n")  # a clean close leaves no room


def test_appends_survive_the_process_dying_and_go_on_after_the_records(tmp_path):
    """A process killed holding the file leaves its records, then zeros; the next owner finds the
    end of the records and appends there, across growing the file more than once."""
    path = tmp_path / "usage.jsonl"
    script = (
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from records import record\n"
        "from relaygate.metering.journal import Journal\n"
        "journal = Journal.open(sys.argv[1])\n"
        "for n in range(3000):\n"
        "    journal.append(record(n))\n"
        "os._exit(0)  # no close: the room stays, as after kill -9\n"
    )
    import subprocess
    import sys
    from pathlib import Path

    subprocess.run([sys.executable, "-c", script, str(path), str(Path(__file__).parent)], check=True)
    assert path.stat().st_size > path.read_bytes().rstrip(b"\0").__len__()  # the room is there
    journal = Journal.open(path)
    for n in range(3000, 3010):
        journal.append(record(n))
    records, end = JournalCursor(path).read(limit=10_000)
    assert request_ids(records) == [f"req-{n:06d}" for n in range(3010)]
    assert end == journal.size()
    journal.close()


def test_a_full_disk_is_an_error_at_the_append_not_a_crash(tmp_path, monkeypatch):
    journal = Journal.open(tmp_path / "usage.jsonl")
    journal.append(record(1))

    def no_room(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_room)
    with pytest.raises(OSError):
        for n in range(2, 5000):  # past the room the first append made
            journal.append(record(n))
    monkeypatch.undo()
    journal.append(record(9999))  # room again: appends go on after what was written
    records, _ = JournalCursor(journal.path).read(limit=10_000)
    assert request_ids(records)[0] == "req-000001" and request_ids(records)[-1] == "req-009999"
    assert len(records) == len(set(request_ids(records)))


def test_each_live_process_gets_its_own_file(tmp_path):
    base = tmp_path / "usage.jsonl"
    a, b = Journal.open(base), Journal.open(base)
    assert (a.path.name, b.path.name) == ("usage.jsonl", "usage.1.jsonl")
    assert a.base == b.base == base
    a.close()
    c = Journal.open(base)  # a's lock is free again: its file is reused
    assert c.path == base


def test_the_position_is_kept_and_checked(tmp_path):
    journal = Journal.open(tmp_path / "usage.jsonl")
    journal.append(record(1))
    cursor = JournalCursor(journal.path)
    cursor.advance(journal.size())
    assert JournalCursor(journal.path).offset == journal.size()
    journal.truncate()
    assert JournalCursor(journal.path).offset == 0  # a position past the end means a truncated file


def test_appends_with_fsync_flush_every_page_they_touch_across_growth(tmp_path, monkeypatch):
    """With fsync, each append flushes the pages its line lies on (msync wants a page-aligned start):
    lines that start mid-page, cross a page boundary or land in room just grown all go through."""
    monkeypatch.setattr(journal_module, "GROW", 1000)  # grow often: a new mapping every few lines
    journal = Journal.open(tmp_path / "synced.jsonl", fsync=True)
    for n in range(300):
        journal.append(record(n))
    records, end = JournalCursor(journal.path).read(limit=1000)
    assert request_ids(records) == [f"req-{n:06d}" for n in range(300)]
    assert end == journal.size() > 10 * os.sysconf("SC_PAGE_SIZE")  # many pages, many growths
    journal.close()
    assert (tmp_path / "synced.jsonl").stat().st_size == end  # closed: no room left after the records


def test_lines_of_the_earlier_object_form_are_still_read(tmp_path):
    """A journal left by an earlier version (one JSON object per line) is replayed after an upgrade."""
    path = tmp_path / "usage.jsonl"
    old = record(7)
    fields = {f: getattr(old, f) for f in old.__slots__}
    path.write_bytes(orjson.dumps(fields, default=str) + b"\n")
    journal = Journal.open(path)
    journal.append(record(8))
    entries, _ = JournalCursor(path).read(limit=100)
    assert entries == [old.entry(), record(8).entry()]
    journal.close()


def test_lines_of_the_previous_array_form_are_still_read(tmp_path):
    """Lines written before the client's request id was recorded are arrays one value short: they
    are replayed with no client id, beside lines of the current form."""
    path = tmp_path / "usage.jsonl"
    old, new = record(7), replace(record(8), client_request_id="retry-8")
    assert old.entry()[-1] is None and len(old.entry()) == len(RECORD_COLUMNS)
    path.write_bytes(orjson.dumps(old.entry()[:-1]) + b"\n")
    journal = Journal.open(path)
    journal.append(new)
    entries, _ = JournalCursor(path).read(limit=100)
    assert entries == [old.entry(), new.entry()]
    assert entries[1][-1] == "retry-8"
    journal.close()


def test_a_line_of_no_known_length_is_refused():
    with pytest.raises(ValueError, match="values"):
        entry_of(orjson.dumps(record(1).entry()[:-2]))
