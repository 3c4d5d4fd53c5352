"""The centre's diary: who sits in which chair with which nurse, slot by slot.

Two uses:

* :class:`Diary` — the greedy solver's booking sheet: the first start on a day where a chair
  is free and a rostered nurse has a chair to spare for the whole visit.
* :func:`assign_chairs_and_nurses` — once a solver has fixed every visit's date and time,
  give each a chair and a nurse. Chairs are interchangeable, and so are a day's nurses'
  places, so this always succeeds when no more visits overlap than the day's capacity (the
  visits of a day are an interval graph: taken in order of start, a visit always finds a
  free chair and a nurse with room). Among the free chairs it takes the one used least so
  far — the last objective, even chair load, which cannot change the earlier ones — and
  it keeps a patient with the nurse of their previous visit when she has room
  (continuity of care; derived).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from ionto.clinic.scheduling.problem import MINUTES_PER_DAY, Appointment, Centre
from ionto.clinic.scheduling.rules import slots_for


def _runs(free: int, length: int) -> int:
    """Bit s set iff bits s … s+length−1 of ``free`` are all set."""
    out = free
    for i in range(1, length):
        out &= free >> i
    return out


class Diary:
    """Occupancy of chairs and nurses per day, in slots of the centre's grid."""

    def __init__(self, centre: Centre) -> None:
        self.centre = centre
        self.slot = centre.slot_minutes
        self.slots_per_day = MINUTES_PER_DAY // self.slot
        self.all_slots = (1 << self.slots_per_day) - 1
        self.chair_busy: dict[tuple[date, int], int] = defaultdict(int)
        self.nurse_count: dict[tuple[date, str], list[int]] = {}
        self.nurse_full: dict[tuple[date, str], int] = defaultdict(int)

    def _slots(self, start_min: int, end_min: int) -> tuple[int, int]:
        first = start_min // self.slot
        return first, slots_for(end_min, self.slot) - first

    def _free(
        self, on: date, first_start_min: int, last_start_min: int, minutes: int
    ) -> tuple[int, dict[int, int], dict[str, int]]:
        """Starts (bit per slot) in the window where a chair is free and a rostered nurse
        has a chair to spare for the whole visit, and each chair's and nurse's free runs."""
        chairs = self.centre.chairs_on(on)
        nurses = self.centre.nurses_on(on)
        length = slots_for(minutes, self.slot)
        lo, hi = first_start_min // self.slot, last_start_min // self.slot
        window = ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1)
        chair_runs = {c: _runs(~self.chair_busy[(on, c)] & self.all_slots, length) for c in chairs}
        nurse_runs = {
            n.id: _runs(~self.nurse_full[(on, n.id)] & self.all_slots, length) for n in nurses
        }
        any_chair = 0
        for run in chair_runs.values():
            any_chair |= run
        any_nurse = 0
        for run in nurse_runs.values():
            any_nurse |= run
        return any_chair & any_nurse & window, chair_runs, nurse_runs

    def _at(
        self, slot: int, chair_runs: dict[int, int], nurse_runs: dict[str, int]
    ) -> tuple[int, int, str]:
        chair = min(c for c, run in chair_runs.items() if run >> slot & 1)
        nurse = next(n for n, run in nurse_runs.items() if run >> slot & 1)
        return slot * self.slot, chair, nurse

    def first_fit(
        self, on: date, first_start_min: int, last_start_min: int, minutes: int
    ) -> tuple[int, int, str] | None:
        """The earliest (start minute, chair, nurse) on a day within the start window."""
        fits, chair_runs, nurse_runs = self._free(on, first_start_min, last_start_min, minutes)
        if not fits:
            return None
        return self._at((fits & -fits).bit_length() - 1, chair_runs, nurse_runs)

    def quiet_fit(
        self,
        on: date,
        first_start_min: int,
        last_start_min: int,
        minutes: int,
        pressure: Sequence[float],
    ) -> tuple[int, int, str] | None:
        """Like :meth:`first_fit`, at the free start whose slots the fewest other patients
        need (``pressure``: cumulative demand per slot of the day, see :func:`time_pressure`);
        the earliest among equals."""
        fits, chair_runs, nurse_runs = self._free(on, first_start_min, last_start_min, minutes)
        if not fits:
            return None
        length = slots_for(minutes, self.slot)
        best: tuple[float, int] | None = None
        while fits:
            s = (fits & -fits).bit_length() - 1
            fits &= fits - 1
            cost = pressure[s + length] - pressure[s]
            if best is None or cost < best[0] - 1e-9:
                best = (cost, s)
        assert best is not None
        return self._at(best[1], chair_runs, nurse_runs)

    def book(self, a: Appointment) -> None:
        first, length = self._slots(a.start_min, a.end_min)
        mask = ((1 << length) - 1) << first
        self.chair_busy[(a.on, a.chair)] |= mask
        counts = self.nurse_count.setdefault((a.on, a.nurse), [0] * self.slots_per_day)
        for s in range(first, first + length):
            counts[s] += 1
            if counts[s] >= self.centre.chairs_per_nurse:
                self.nurse_full[(a.on, a.nurse)] |= 1 << s


class AssignmentError(RuntimeError):
    """More visits overlap on a day than it has chairs or nurses (a solver's bug)."""


def assign_chairs_and_nurses(
    centre: Centre,
    visits: list[Appointment],
    *,
    keep: frozenset[str] = frozenset(),
) -> tuple[Appointment, ...]:
    """Chairs and nurses for visits whose dates and times are fixed.

    ``keep``: referrals whose visits keep their own chair and nurse when free (existing
    bookings, rescheduling); other visits' chair and nurse fields are ignored. Raises
    :class:`AssignmentError` when a day holds more overlapping visits than it can seat.
    """
    chair_minutes: dict[int, int] = defaultdict(int)
    nurse_minutes: dict[str, int] = defaultdict(int)
    last_nurse: dict[str, str] = {}
    out: list[Appointment] = []
    by_day: dict[date, list[Appointment]] = defaultdict(list)
    for v in visits:
        by_day[v.on].append(v)
    for on in sorted(by_day):
        chairs = centre.chairs_on(on)
        nurses = [n.id for n in centre.nurses_on(on)]
        chair_free_at: dict[int, int] = dict.fromkeys(chairs, -1)
        nurse_ends: dict[str, list[int]] = {n: [] for n in nurses}
        # Kept chairs first at equal start times, so that a new visit gives way.
        day = sorted(by_day[on], key=lambda v: (v.start_min, v.referral not in keep, v.referral))
        for v in day:
            kept = v.referral in keep
            free = [c for c in chairs if chair_free_at[c] <= v.start_min]
            if not free:
                raise AssignmentError(f"no chair free on {on} at {v.start_min} min")
            if kept and v.chair in free:
                chair = v.chair
            else:
                chair = min(free, key=lambda c: (chair_minutes[c], c))
            room = [
                n
                for n in nurses
                if sum(1 for end in nurse_ends[n] if end > v.start_min) < centre.chairs_per_nurse
            ]
            if not room:
                raise AssignmentError(f"no nurse with room on {on} at {v.start_min} min")
            wanted = v.nurse if kept else last_nurse.get(v.referral)
            nurse = (
                wanted
                if wanted in room and wanted is not None
                else min(room, key=lambda n: (nurse_minutes[n], n))
            )
            chair_free_at[chair] = v.end_min
            nurse_ends[nurse].append(v.end_min)
            chair_minutes[chair] += v.end_min - v.start_min
            nurse_minutes[nurse] += v.end_min - v.start_min
            last_nurse[v.referral] = nurse
            out.append(replace(v, chair=chair, nurse=nurse))
    return tuple(sorted(out))
