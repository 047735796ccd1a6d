"""Which project-streams a sync run reads, in what order, and where a stopped read resumes.

Procore lists commitments, CCOs and requisitions per project only, so every read costs at least one
call per project and stream. Each project-stream keeps its own bookmark, when it was last read, when
it last changed, and, if a run stopped inside it, where to resume. A run reads what is due, earliest
deadline first: a read that stopped half-way resumes first; then every stream whose staleness deadline
has come (never read, or read an idle interval ago, chosen so that a change waits at most the
integration's ``max_staleness_hours``, at most a day); then streams that changed in the last
``ACTIVE_FOR``, due every run; then idle streams round-robin, least recently read first, at the pace
the interval needs. A tight budget thus keeps the staleness before it re-reads busy streams; when even
a full pass does not fit in the staleness, the exporter says which staleness the budget can keep.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from erp_sync.models import SyncSchedule
from erp_sync.store import Store
from erp_sync.sync.records import STREAM_BY_NAME, STREAMS, ProcoreStream

ACTIVE_FOR = timedelta(hours=6)
# Spare budget keeps data fresher: after what is due, a run reads streams not yet due (least recently
# read first) while the sync has used less than this part of the window. A small company is then read
# in full every run; a large one falls back to the schedule above, and a quiet window stays cheap.
READ_AHEAD_SHARE = 0.2
# A run that starts a little early (the scheduler's jitter) still reads what falls due in it.
SLACK = timedelta(minutes=15)
# Finished reads are saved this many at a time (and when the run ends): a quiet read costs a call per
# stream, not a store transaction too; a run that dies reads at most this many streams again.
SAVED_TOGETHER = 40


class Urgency(IntEnum):
    """The order of what is due: a stopped read, a staleness deadline, a recent change, the idle pace."""

    RESUMED = 0
    STALENESS = 1
    CHANGED = 2
    PACED = 3


@dataclass
class Resume:
    """A read of one project-stream under way: its range, the next page and the last record handled."""

    since: str | None
    until: str
    started: str
    page: int = 1
    after_id: int = 0


@dataclass
class StreamState:
    project_id: int
    stream: ProcoreStream
    bookmark: datetime | None = None   # the start of the last complete read
    read_at: datetime | None = None    # by the sync's clock
    changed_at: datetime | None = None
    resume: Resume | None = None

    def idle(self, now: datetime) -> bool:
        """Read before and not changed lately."""
        return self.read_at is not None and not (self.changed_at is not None and now - self.changed_at < ACTIVE_FOR)

    def deadline(self, now: datetime, period: timedelta, idle: timedelta) -> datetime | None:
        """When this stream must be read next; None for one never read, which is due at once."""
        if self.read_at is None:
            return None
        return self.read_at + (idle if self.idle(now) else period)


def intervals(integration: dict) -> tuple[timedelta, timedelta]:
    """The run period and how often an idle project-stream is read: a change made just after a read
    is seen by the first run after the idle interval, within the maximum staleness."""
    period = timedelta(hours=SyncSchedule(integration["sync_schedule"]).hours or 1)
    staleness = timedelta(hours=integration["max_staleness_hours"])
    return period, max(period, staleness - period)


class ReadingPlan:
    def __init__(self, store: Store, integration: dict, now: datetime):
        self.store, self.integration, self.now = store, integration, now
        self.period, self.idle = intervals(integration)
        self.unsaved: list[StreamState] = []
        self.states = {(row["project_id"], row["stream"]): _state(row)
                       for row in store.rows("project_streams_of_integration", integration_id=integration["id"])
                       if row["stream"] in STREAM_BY_NAME}

    def due(self, projects: list[int]) -> tuple[list[StreamState], list[StreamState]]:
        """What this run must read and in what order; and what it may read ahead with spare budget, least
        recently read first. Earliest deadline first: resumed reads; streams never read and those whose
        staleness deadline has come, oldest deadline first; then streams that changed lately; then idle
        streams paced round-robin. A tight budget thus spends itself on deadlines before it reads changed
        streams again, and no stream waits past its staleness while the budget allows a pass in time.
        Equal deadlines keep a project's streams together, in order (commitments before what belongs
        to them)."""
        legacy = {stream.name: self.store.watermark(self.integration["id"], stream.bookmark) for stream in STREAMS}
        due, idle, ahead = [], [], []
        for project_id in projects:
            for stream in STREAMS:
                state = self.states.get((project_id, stream.name)) or StreamState(
                    project_id, stream, bookmark=as_time(legacy[stream.name]))  # bookmarks of the per-stream era
                deadline = state.deadline(self.now, self.period, self.idle)
                if state.resume is not None or deadline is None or deadline <= self.now + SLACK:
                    due.append((self.urgency(state), self.stale_by(state), state))
                else:
                    ahead.append((state.read_at, deadline, state))
                if state.idle(self.now):
                    idle.append(state)
        ahead.sort(key=lambda item: item[0])
        # Idle streams are read round-robin at the pace that keeps each within its interval, so that
        # the streams of a first sync, read within a few hours, do not fall due all in one hour later.
        quota = -(-len(idle) * self.period // self.idle) - sum(state.idle(self.now) for *_, state in due)
        paced = [item for item in ahead if item[0] + self.period <= self.now + SLACK][:max(0, quota)]
        ahead = [item for item in ahead if item not in paced]
        due += [(Urgency.PACED, deadline, state) for _read_at, deadline, state in paced]
        due.sort(key=lambda item: item[:2])  # stable: equal deadlines keep a project's streams together, in order
        return [item[-1] for item in due], [item[-1] for item in ahead]

    def stale_by(self, state: StreamState) -> datetime:
        """The run by which a stream must be read so that a change waits at most the staleness."""
        return state.read_at + self.idle if state.read_at else datetime.min.replace(tzinfo=self.now.tzinfo)

    def urgency(self, state: StreamState) -> Urgency:
        if state.resume is not None:
            return Urgency.RESUMED
        if self.stale_by(state) <= self.now + SLACK:
            return Urgency.STALENESS  # never read, or its staleness deadline has come, changed lately or not
        return Urgency.CHANGED

    def feasible_staleness(self, streams: int, reads_an_hour: int) -> int | None:
        """The shortest staleness in hours that reading ``streams`` project-streams at ``reads_an_hour``
        allows (a full pass plus one run period: a change just after a read waits for the next one), or
        None when the integration's staleness is within reach."""
        full_pass = -(-streams // max(1, reads_an_hour))
        feasible = full_pass + int(self.period.total_seconds() // 3600)
        return feasible if feasible > self.integration["max_staleness_hours"] else None

    def stopped(self, state: StreamState, resume: Resume) -> None:
        state.resume = resume
        self.unsaved.append(state)
        self.save()

    def finished(self, state: StreamState, resume: Resume, changed: bool) -> None:
        state.bookmark, state.read_at, state.resume = as_time(resume.started), self.now, None
        if changed:
            state.changed_at = self.now
        self.unsaved.append(state)
        if len(self.unsaved) >= SAVED_TOGETHER:
            self.save()

    def save(self) -> None:
        """Writes the reads finished or stopped since the last save, in one transaction."""
        if not self.unsaved:
            return
        with self.store.transaction() as tx:
            tx.execute_many("save_project_stream", [
                {"integration_id": self.integration["id"], "project_id": state.project_id,
                 "stream": state.stream.name, "bookmark": state.bookmark.isoformat() if state.bookmark else None,
                 "read_at": state.read_at, "changed_at": state.changed_at,
                 "resume_json": json.dumps(asdict(state.resume)) if state.resume else None}
                for state in self.unsaved])
        self.unsaved = []


def _state(row: dict) -> StreamState:
    resume = Resume(**json.loads(row["resume_json"])) if row["resume_json"] else None
    return StreamState(row["project_id"], STREAM_BY_NAME[row["stream"]], as_time(row["bookmark"]), row["read_at"],
                       row["changed_at"], resume)


def as_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
