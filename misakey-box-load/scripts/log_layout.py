"""What one box message to 1,000 members costs the SQLite writer, by what it writes.

The server's transaction for a `msg.text` writes the event once, then, per member: a log entry
(`identity_updates`, keyed by recipient and position), a position bump (`identity_positions`) and,
for every member but the sender, an unread count (`box_unread_counts`). This script builds the
same tables (the server's schema, as its migrations leave it) in a fresh SQLite file, writes 300
messages to warm it up, then times 200 more, writing only the parts a layout keeps:

  current               event, log entries, positions, unread counts (what the server writes)
  positions_and_log     event, log entries, positions
  positions_and_unread  event, positions, unread counts
  positions_only        event, positions
  event_only            event (a layout storing box events once, positions derived from them)
  recipients            event, positions, and one row per message listing every recipient with
                        its position (a packed blob of 24 bytes per recipient) instead of a log
                        entry per recipient
  recipients_cached     the same with the positions kept in the writer's memory (no bump)

Usage: python3 log_layout.py FILE LAYOUT     (GROUP=N: N messages per transaction, default 1)

It prints the median and p90 time per message, the write-ahead log's bytes per message, and how
long a checkpoint of the 200 messages took. Python's own overhead (binding 4,000 values per
message) is in every figure: compare layouts with each other, not with the server's timings.
"""

import os
import sqlite3
import statistics
import sys
import time
import uuid

MEMBERS, IDENTITIES, WARM_UP, MEASURED = 1000, 10000, 300, 200
LAYOUTS = (
    "current",
    "positions_and_log",
    "positions_and_unread",
    "positions_only",
    "event_only",
    "recipients",
    "recipients_cached",
)

path, layout = sys.argv[1], sys.argv[2]
if layout not in LAYOUTS:
    sys.exit(f"layout must be one of {', '.join(LAYOUTS)}")
group = int(os.environ.get("GROUP", "1"))

for suffix in ("", "-wal", "-shm"):
    if os.path.exists(path + suffix):
        os.remove(path + suffix)
db = sqlite3.connect(path, isolation_level=None)
# The server's settings that matter here: WAL, NORMAL sync, a 32 MiB page cache; checkpoints
# only when asked, so that the log's size per message can be read.
for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-32768", "wal_autocheckpoint=0"):
    db.execute("PRAGMA " + pragma)
db.executescript(
    """
CREATE TABLE box_events (seq integer PRIMARY KEY AUTOINCREMENT, id blob NOT NULL UNIQUE,
  box_id blob NOT NULL, type text NOT NULL, content text NOT NULL, sender_id blob NOT NULL,
  created_at text NOT NULL, referrer_id blob);
CREATE INDEX box_events_box_id ON box_events (box_id, seq);
CREATE TABLE box_unread_counts (identity_id blob NOT NULL, box_id blob NOT NULL,
  count integer NOT NULL, PRIMARY KEY (identity_id, box_id));
CREATE TABLE identity_positions (identity_id blob PRIMARY KEY, latest integer NOT NULL);
CREATE TABLE identity_updates (identity_id blob NOT NULL, seq integer NOT NULL, type text NOT NULL,
  object text NOT NULL, created_at text NOT NULL, shared_object_id blob,
  PRIMARY KEY (identity_id, seq));
CREATE INDEX identity_updates_created_at ON identity_updates (created_at);
CREATE TABLE shared_update_objects (id blob PRIMARY KEY, object text NOT NULL,
  created_at text NOT NULL);
CREATE TABLE box_event_recipients (event_seq integer PRIMARY KEY, recipients blob NOT NULL);
"""
)

identities = [uuid.UUID(int=n * 7919 + 1).bytes for n in range(IDENTITIES)]
members = sorted(identities[:: IDENTITIES // MEMBERS][:MEMBERS])  # spread over the table
sender, others = members[0], members[1:]
box_id = uuid.uuid4().bytes
content = '{"encrypted":"' + "A" * 200 + '","public_key":"' + "B" * 43 + '"}'
now = "2026-12-03T11:00:00.000000+00:00"

db.execute("BEGIN")
db.executemany("INSERT INTO identity_positions VALUES (?, 0)", [(i,) for i in identities])
db.executemany("INSERT INTO box_unread_counts VALUES (?, ?, 0)", [(m, box_id) for m in members])
db.execute("COMMIT")


def chunks(rows, size):
    return (rows[start : start + size] for start in range(0, len(rows), size))


cached_positions = {member: 0 for member in members}


def write_message():
    event_seq = db.execute(
        "INSERT INTO box_events (id, box_id, type, content, sender_id, created_at) "
        "VALUES (?, ?, 'msg.text', ?, ?, ?)",
        (uuid.uuid4().bytes, box_id, content, sender, now),
    ).lastrowid
    if layout == "event_only":
        return
    if layout == "recipients_cached":
        for member in members:
            cached_positions[member] += 1
        packed = b"".join(m + cached_positions[m].to_bytes(8, "big") for m in members)
        db.execute("INSERT INTO box_event_recipients VALUES (?, ?)", (event_seq, packed))
        return
    positions = []
    for chunk in chunks(members, 500):
        positions += db.execute(
            "UPDATE identity_positions SET latest = latest + 1 WHERE identity_id IN (%s) "
            "RETURNING identity_id, latest" % ",".join("?" * len(chunk)),
            chunk,
        ).fetchall()
    if layout == "recipients":
        packed = b"".join(recipient + seq.to_bytes(8, "big") for recipient, seq in sorted(positions))
        db.execute("INSERT INTO box_event_recipients VALUES (?, ?)", (event_seq, packed))
    if layout in ("current", "positions_and_log"):
        # The object once, each recipient's entry referring to it, in key order, at most 150
        # entries per statement (the server's statements stay under 12 kB of values).
        object_id = uuid.uuid4().bytes
        db.execute(
            "INSERT INTO shared_update_objects VALUES (?, ?, ?)",
            (object_id, '{"content":' + content + "}", now),
        )
        for chunk in chunks(sorted(positions), 150):
            db.execute(
                "INSERT INTO identity_updates VALUES "
                + ",".join(["(?, ?, 'event.new', '', ?, ?)"] * len(chunk)),
                [value for (recipient, seq) in chunk for value in (recipient, seq, now, object_id)],
            )
    if layout in ("current", "positions_and_unread"):
        for chunk in chunks(others, 300):
            db.execute(
                "INSERT INTO box_unread_counts VALUES "
                + ",".join(["(?, ?, 1)"] * len(chunk))
                + " ON CONFLICT (identity_id, box_id) DO UPDATE SET count = count + 1",
                [value for member in chunk for value in (member, box_id)],
            )


def write_group():
    db.execute("BEGIN IMMEDIATE")
    for _ in range(group):
        write_message()
    db.execute("COMMIT")


for _ in range(WARM_UP // group):
    write_group()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

per_message_ms = []
for _ in range(MEASURED // group):
    start = time.perf_counter()
    write_group()
    per_message_ms.append((time.perf_counter() - start) * 1000 / group)
wal_bytes = os.path.getsize(path + "-wal")
start = time.perf_counter()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
checkpoint_ms = (time.perf_counter() - start) * 1000

per_message_ms.sort()
print(
    f"{layout}, {group} per transaction: per message median {statistics.median(per_message_ms):.2f} ms, "
    f"p90 {per_message_ms[int(len(per_message_ms) * 0.9)]:.2f} ms; "
    f"write-ahead log {wal_bytes / MEASURED / 1024:.1f} KiB per message; "
    f"checkpoint of {MEASURED} messages {checkpoint_ms:.0f} ms"
)
