"""Side by side: Ionto against a constant-voltage dose device and an open-loop PWM device.

Issue 3, "Performance", second bullet. On the *same* virtual patients (seeds) with the *same*
hand movements, three devices give the same planned session:

1. **Ionto**: :func:`ionto.device.session.run_session` — the session controller and the
   reference firmware, as ``ionto session simulate`` runs them;
2. **a constant-voltage "dose" device** (the Hidrex concept) and
3. **an open-loop PWM device** (the open-source builds) — both modelled, with every
   assumption stated, in ``baseline_devices.py``.

Every session's movements are drawn from its seed: 0–3 lifts of 0.2–5 s, 0–2 partial dips
(40–90% of the area for 1–20 s), and in one session out of four a skin break, at random times
within the planned minutes and apart from one another. One instrument measures all three
(``session_probe.py``). What is measured, per device (see ``benchmarks/README.md``):

* **shocks per 100 sessions**: a shock is a moment when the patient's sensation (the physics'
  sensation model) is at or above their pain threshold while the felt current density is
  rising faster than 1 mA/cm² per second with at least 0.5 mA flowing — a lift with current
  flowing, a limb going back in under voltage, a switch-on at full output; painful ticks
  closer than 0.5 s are one shock. The sting of a skin defect opening under current is
  counted apart (every device gives it: the current crowds into the defect at once);
* **peak overshoot**: the highest current (average per 1 ms tick) above the session's target;
* **dose error**: delivered against planned mA·min (both polarities), over all sessions and over
  sessions without incidents (no pain report, no stop, fault or abort, no skin break — the
  events that rightly change what is delivered; lifts and dips are not incidents);
* **output off after the limb is out** (issue 3: "a lifted limb: output below 0.5 mA within
  10 ms"): from the first tick the limb is out of the water (the circuit open) to the first tick
  from which the device's drive is off — its command could not push 0.5 mA into the limb when
  it goes back in (``session_probe.drives``) — over lifts during which the device drove; and
  how many lifts the device still drove when the limb went back in (it never turned off);
* **current below 0.5 mA from the first movement** (stricter, for reference): from the first
  tick a limb starts to leave the water to the first tick the current through the patient is
  below 0.5 mA, over lifts that began with current flowing.

Run: ``.venv/bin/python benchmarks/compare_devices.py [--sessions N] [--seed S] [--minutes M]
[--jobs J] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from baseline_devices import (
    BaselineDevice,
    Complaints,
    DoseDevice,
    PwmDevice,
    dose_settings,
    pwm_settings,
    pwm_waveform,
    run_baseline,
)
from session_probe import Cause, LiftCut, Observed, ProbedLoad, Shock, probing_simulator

from ionto.device.patients import VirtualPatient
from ionto.device.session import (
    EventKind,
    ScriptedEvent,
    SessionRequest,
    build_plan,
    run_session,
)
from ionto.therapy.vocabulary import Region

IONTO = "Ionto"
DOSE = "Constant-voltage dose (Hidrex concept)"
PWM = "Open-loop PWM (open-source builds)"
DEVICES = (IONTO, DOSE, PWM)

#: The movement script (derived: what a patient does in 20 minutes in the trays).
LIFTS_PER_SESSION = (0, 3)
LIFT_SECONDS = (0.2, 5.0)
DIPS_PER_SESSION = (0, 2)
DIP_SECONDS = (1.0, 20.0)
DIP_AREA_FRACTION = (0.4, 0.9)
SKIN_BREAK_CHANCE = 0.25
#: Movements start no earlier than this (s) and keep this far apart (s).
FIRST_MOVEMENT_S = 5.0
MOVEMENT_GAP_S = 2.0


# --- The hand movements of a session -----------------------------------------------------------
@dataclass(frozen=True)
class Lift:
    t_s: float
    duration_s: float


@dataclass(frozen=True)
class Dip:
    t_s: float
    duration_s: float
    area_fraction: float


@dataclass(frozen=True)
class HandMovements:
    lifts: tuple[Lift, ...] = ()
    dips: tuple[Dip, ...] = ()
    skin_break_s: float | None = None

    def scripted_events(self) -> tuple[ScriptedEvent, ...]:
        """What a session request can say: the lifts and the skin break."""
        events = [ScriptedEvent(EventKind.LIFT, lift.t_s, lift.duration_s) for lift in self.lifts]
        if self.skin_break_s is not None:
            events.append(ScriptedEvent(EventKind.SKIN_BREAK, self.skin_break_s))
        return tuple(events)

    def add_dips(self, patient: VirtualPatient) -> VirtualPatient:
        for dip in self.dips:
            patient = patient.dip(dip.t_s, dip.duration_s, dip.area_fraction)
        return patient

    def apply(self, patient: VirtualPatient) -> VirtualPatient:
        """The whole script on a patient, as ``run_session`` applies its events, plus dips."""
        for lift in self.lifts:
            patient = patient.lift(lift.t_s, lift.duration_s)
        if self.skin_break_s is not None:
            patient = patient.skin_break(self.skin_break_s)
        return self.add_dips(patient)


def draw_movements(seed: int, minutes: float) -> HandMovements:
    """The hand movements of the session with this seed (the same for every device)."""
    rng = random.Random(f"ionto-compare-devices-{seed}")
    end_s = minutes * 60.0
    taken: list[tuple[float, float]] = []

    def place(duration_s: float) -> float | None:
        for _ in range(50):
            t_s = round(rng.uniform(FIRST_MOVEMENT_S, max(FIRST_MOVEMENT_S, end_s - duration_s)), 3)
            lo, hi = t_s - MOVEMENT_GAP_S, t_s + duration_s + 1.0 + MOVEMENT_GAP_S
            if all(hi <= a or lo >= b for a, b in taken):
                taken.append((t_s, t_s + duration_s + 1.0))
                return t_s
        return None

    lifts: list[Lift] = []
    for _ in range(rng.randint(*LIFTS_PER_SESSION)):
        duration = round(rng.uniform(*LIFT_SECONDS), 3)
        at = place(duration)
        if at is not None:
            lifts.append(Lift(at, duration))
    dips: list[Dip] = []
    for _ in range(rng.randint(*DIPS_PER_SESSION)):
        duration = round(rng.uniform(*DIP_SECONDS), 3)
        fraction = round(rng.uniform(*DIP_AREA_FRACTION), 3)
        at = place(duration)
        if at is not None:
            dips.append(Dip(at, duration, fraction))
    skin_break = None
    if rng.random() < SKIN_BREAK_CHANCE:
        skin_break = place(0.0)
    return HandMovements(
        tuple(sorted(lifts, key=lambda m: m.t_s)),
        tuple(sorted(dips, key=lambda m: m.t_s)),
        skin_break,
    )


# --- One session on one device ------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    sessions: int = 200
    seed: int = 0
    minutes: float = 20.0
    region: Region = Region.PALMS
    age_years: float = 34.0
    water_uS_cm: float = 400.0

    def request(self, patient_seed: int, movements: HandMovements) -> SessionRequest:
        return SessionRequest(
            region=self.region,
            age_years=self.age_years,
            minutes=self.minutes,
            water_uS_cm=self.water_uS_cm,
            seed=patient_seed,
            events=movements.scripted_events(),
        )


@dataclass(frozen=True)
class DeviceSession:
    device: str
    seed: int
    end_state: str
    target_uA: int
    planned_mA_min: float
    delivered_mA_min: float
    peak_uA: int
    pain_reports: int
    skin_break: bool
    shocks: tuple[Shock, ...]
    lifts: tuple[LiftCut, ...]
    seconds: float

    @property
    def overshoot_uA(self) -> int:
        return max(0, self.peak_uA - self.target_uA)

    @property
    def dose_error_pct(self) -> float:
        return 100.0 * (self.delivered_mA_min - self.planned_mA_min) / self.planned_mA_min

    @property
    def incident_free(self) -> bool:
        """No pain report, no stop, fault or abort, no skin break (see the module docstring)."""
        return self.end_state == "completed" and self.pain_reports == 0 and not self.skin_break


def _session(
    device: str,
    seed: int,
    end_state: str,
    plan_target_uA: int,
    planned_mA_min: float,
    observed: Observed,
    pain_reports: int,
    movements: HandMovements,
    seconds: float,
) -> DeviceSession:
    return DeviceSession(
        device=device,
        seed=seed,
        end_state=end_state,
        target_uA=plan_target_uA,
        planned_mA_min=planned_mA_min,
        delivered_mA_min=observed.delivered_mA_min,
        peak_uA=observed.peak_uA,
        pain_reports=pain_reports,
        skin_break=movements.skin_break_s is not None,
        shocks=observed.shocks,
        lifts=observed.lifts,
        seconds=seconds,
    )


def run_ionto(settings: Settings, seed: int, movements: HandMovements) -> DeviceSession:
    """Ionto's session exactly as ``run_session`` gives it, watched by the probe."""
    request = settings.request(seed, movements)
    started = time.perf_counter()
    with probing_simulator(movements.add_dips) as loads:
        outcome = run_session(request)
    seconds = time.perf_counter() - started
    if len(loads) != 1:
        raise RuntimeError(f"run_session built {len(loads)} loads; the probe expects one")
    return _session(
        IONTO,
        seed,
        outcome.state,
        outcome.plan.target_uA,
        outcome.planned_mA_min,
        loads[0].watch.result(),
        outcome.record.pain_reports,
        movements,
        seconds,
    )


def _baseline_patient(settings: Settings, seed: int, movements: HandMovements) -> VirtualPatient:
    patient = VirtualPatient.from_seed(
        seed, settings.region, settings.age_years, settings.water_uS_cm
    )
    return movements.apply(patient)


def run_baseline_device(
    name: str, settings: Settings, seed: int, movements: HandMovements
) -> DeviceSession:
    request = settings.request(seed, movements)
    _, plan, _ = build_plan(request)
    patient = _baseline_patient(settings, seed, movements)
    started = time.perf_counter()
    device: BaselineDevice
    if name == DOSE:
        load = ProbedLoad(patient, plan.waveform)
        device = DoseDevice(dose_settings(plan, patient))
    elif name == PWM:
        pwm = pwm_settings(plan, patient)
        waveform, duty = pwm_waveform(pwm.duty)
        load = ProbedLoad(patient, waveform, duty_cycle=duty)
        device = PwmDevice(pwm, load)
    else:
        raise ValueError(f"not a baseline device: {name}")
    # As Ionto's controller: the session may run at most this long (generously).
    longest_ms = plan.treat_ms * 3 + 1000 * (plan.ramp_up_s + plan.ramp_down_s) * 4 + 60_000
    run = run_baseline(device, load, Complaints(patient), round(longest_ms))
    seconds = time.perf_counter() - started
    return _session(
        name,
        seed,
        str(run.end_state),
        plan.target_uA,
        plan.planned_mA_min,
        load.watch.result(),
        run.pain_reports,
        movements,
        seconds,
    )


def compare_session(settings: Settings, seed: int) -> tuple[DeviceSession, ...]:
    """One patient, one movement script, three devices."""
    movements = draw_movements(seed, settings.minutes)
    return (
        run_ionto(settings, seed, movements),
        run_baseline_device(DOSE, settings, seed, movements),
        run_baseline_device(PWM, settings, seed, movements),
    )


# --- Summaries ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceSummary:
    device: str
    sessions: int
    shocks: int
    shocks_by_cause: dict[str, int]
    skin_break_stings: int
    sessions_with_shock: int
    overshoot_median_mA: float
    overshoot_worst_mA: float
    overshoot_median_pct: float
    overshoot_worst_pct: float
    clean_sessions: int
    dose_error_clean_median_pct: float | None
    dose_error_clean_worst_pct: float | None
    dose_error_all_median_pct: float
    dose_error_all_worst_pct: float
    lifts_with_current: int
    #: Counted from the limb's first movement (see the module docstring).
    time_to_cut_median_ms: float | None
    time_to_cut_worst_ms: int | None
    lifts_never_cut: int
    #: Lifts during which the device's output was on (``LiftCut.driven``).
    lifts_driven: int
    #: Of those, lifts where the output was still on when the limb went back in.
    lifts_still_driving_at_reentry: int
    #: Output off after the limb is out, over the driven lifts, a lift still driving at
    #: re-entry counting as longer than any: the worst (None when some lift still drove, or
    #: none was driven) and the median (None when the median lift still drove, or none was).
    output_off_after_out_worst_ms: int | None
    output_off_after_out_median_ms: float | None
    pain_reports: int
    end_states: dict[str, int]
    seconds: float = field(default=0.0)

    @property
    def shocks_per_100(self) -> float:
        return 100.0 * self.shocks / self.sessions


def _off_after_out_ms(lift: LiftCut) -> float:
    """A driven lift's output-off time; a lift still driving at re-entry: infinitely long."""
    ms = lift.time_to_output_off_after_out_ms
    return math.inf if ms is None else float(ms)


def _finite_int(value: float) -> int | None:
    return None if math.isinf(value) else int(value)


def _worst(values: Sequence[float]) -> float:
    """The value of largest magnitude, with its sign."""
    return max(values, key=abs)


def summarise(device: str, sessions: Sequence[DeviceSession]) -> DeviceSummary:
    if not sessions:
        raise ValueError("no sessions to summarise")
    episodes = [shock for s in sessions for shock in s.shocks]
    by_cause = {cause: sum(1 for e in episodes if e.cause == cause) for cause in Cause.ALL}
    shocks = [e for e in episodes if e.cause in Cause.SHOCKS]
    over_mA = [s.overshoot_uA / 1000 for s in sessions]
    over_pct = [100.0 * s.overshoot_uA / s.target_uA for s in sessions]
    errors = [s.dose_error_pct for s in sessions]
    clean = [s.dose_error_pct for s in sessions if s.incident_free]
    flowing = [lift for s in sessions for lift in s.lifts if lift.flowing]
    cut_ms = [t for lift in flowing if (t := lift.time_to_cut_ms) is not None]
    driven = [lift for s in sessions for lift in s.lifts if lift.driven]
    off_ms = [_off_after_out_ms(lift) for lift in driven]
    off_median = statistics.median(off_ms) if off_ms else math.inf
    ends: dict[str, int] = {}
    for s in sessions:
        ends[s.end_state] = ends.get(s.end_state, 0) + 1
    return DeviceSummary(
        device=device,
        sessions=len(sessions),
        shocks=len(shocks),
        shocks_by_cause={cause: by_cause[cause] for cause in Cause.SHOCKS},
        skin_break_stings=by_cause[Cause.SKIN_BREAK],
        sessions_with_shock=sum(
            1 for s in sessions if any(e.cause in Cause.SHOCKS for e in s.shocks)
        ),
        overshoot_median_mA=statistics.median(over_mA),
        overshoot_worst_mA=max(over_mA),
        overshoot_median_pct=statistics.median(over_pct),
        overshoot_worst_pct=max(over_pct),
        clean_sessions=len(clean),
        dose_error_clean_median_pct=statistics.median(clean) if clean else None,
        dose_error_clean_worst_pct=_worst(clean) if clean else None,
        dose_error_all_median_pct=statistics.median(errors),
        dose_error_all_worst_pct=_worst(errors),
        lifts_with_current=len(flowing),
        time_to_cut_median_ms=statistics.median(cut_ms) if cut_ms else None,
        time_to_cut_worst_ms=max(cut_ms) if cut_ms else None,
        lifts_never_cut=len(flowing) - len(cut_ms),
        lifts_driven=len(driven),
        lifts_still_driving_at_reentry=sum(1 for lift in driven if lift.still_driving_at_reentry),
        output_off_after_out_worst_ms=_finite_int(max(off_ms, default=math.inf)),
        output_off_after_out_median_ms=None if math.isinf(off_median) else off_median,
        pain_reports=sum(s.pain_reports for s in sessions),
        end_states=dict(sorted(ends.items())),
        seconds=sum(s.seconds for s in sessions),
    )


def run_sessions(
    settings: Settings,
    *,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[DeviceSession, ...]]:
    """Every session of the comparison, each on the three devices (in :data:`DEVICES` order)."""
    seeds = [settings.seed + i for i in range(settings.sessions)]
    results: list[tuple[DeviceSession, ...]] = []
    if jobs > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs) as pool:
            for done in pool.imap(_compare_one, [(settings, s) for s in seeds]):
                results.append(done)
                if progress:
                    progress(len(results), len(seeds))
    else:
        for seed in seeds:
            results.append(compare_session(settings, seed))
            if progress:
                progress(len(results), len(seeds))
    return results


def summarise_all(results: Sequence[tuple[DeviceSession, ...]]) -> dict[str, DeviceSummary]:
    return {
        name: summarise(name, [row[index] for row in results]) for index, name in enumerate(DEVICES)
    }


def run_comparison(
    settings: Settings,
    *,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, DeviceSummary]:
    return summarise_all(run_sessions(settings, jobs=jobs, progress=progress))


def _compare_one(job: tuple[Settings, int]) -> tuple[DeviceSession, ...]:
    return compare_session(*job)


# --- The table ------------------------------------------------------------------------------------
def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:+.{digits}f}%"


def _best(values: Sequence[float | None]) -> set[int]:
    """Indices of the best (smallest) values; none when all are equal or missing."""
    present = [v for v in values if v is not None]
    everyone_equal = len(present) == len(values) and min(present, default=0) == max(
        present, default=0
    )
    if not present or everyone_equal:
        return set()
    low = min(present)
    return {i for i, v in enumerate(values) if v is not None and math.isclose(v, low)}


def _ms_or_never(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f} ms"


def _off_cell(d: DeviceSummary) -> str:
    """Worst (median) output-off time; "never" for a lift still driving at re-entry."""
    if not d.lifts_driven:
        return "–"
    worst = _ms_or_never(d.output_off_after_out_worst_ms)
    return f"{worst} ({_ms_or_never(d.output_off_after_out_median_ms)})"


def _off_score(d: DeviceSummary) -> float | None:
    if not d.lifts_driven:
        return None
    worst = d.output_off_after_out_worst_ms
    return math.inf if worst is None else float(worst)


def markdown_table(summaries: dict[str, DeviceSummary], settings: Settings) -> str:
    rows: list[tuple[str, list[str], list[float | None]]] = []
    devices = [summaries[name] for name in DEVICES]

    def row(label: str, cells: list[str], scores: list[float | None] | None = None) -> None:
        rows.append((label, cells, scores or [None] * len(cells)))

    row(
        "**Shocks per 100 sessions**",
        [f"{d.shocks_per_100:.1f}" for d in devices],
        [d.shocks_per_100 for d in devices],
    )
    row(
        "… by cause: lift / re-entry / dip / device (switch-on, reversal, knob)",
        [" / ".join(str(d.shocks_by_cause[c]) for c in Cause.SHOCKS) for d in devices],
    )
    row(
        "Sessions with a shock",
        [f"{d.sessions_with_shock}" for d in devices],
        [float(d.sessions_with_shock) for d in devices],
    )
    row(
        "Skin-break stings (not counted as shocks)",
        [f"{d.skin_break_stings}" for d in devices],
    )
    row(
        "**Peak overshoot above target, worst**",
        [f"{d.overshoot_worst_mA:.2f} mA ({d.overshoot_worst_pct:.0f}%)" for d in devices],
        [d.overshoot_worst_mA for d in devices],
    )
    row(
        "Peak overshoot above target, median",
        [f"{d.overshoot_median_mA:.2f} mA ({d.overshoot_median_pct:.0f}%)" for d in devices],
        [d.overshoot_median_mA for d in devices],
    )
    row(
        "**Dose error, sessions without incidents: median / worst**",
        [
            f"{_pct(d.dose_error_clean_median_pct)} / {_pct(d.dose_error_clean_worst_pct)}"
            f" (n = {d.clean_sessions})"
            for d in devices
        ],
        [
            None if d.dose_error_clean_median_pct is None else abs(d.dose_error_clean_median_pct)
            for d in devices
        ],
    )
    row(
        "**Dose error, all sessions: median / worst**",
        [
            f"{_pct(d.dose_error_all_median_pct)} / {_pct(d.dose_error_all_worst_pct)}"
            for d in devices
        ],
        [abs(d.dose_error_all_median_pct) for d in devices],
    )
    row(
        "**Output off after the limb is out, worst (median)**",
        [_off_cell(d) for d in devices],
        [_off_score(d) for d in devices],
    )
    row(
        "**Lifts where the device still drove when the limb went back in**",
        [f"{d.lifts_still_driving_at_reentry} of {d.lifts_driven}" for d in devices],
        [None if not d.lifts_driven else float(d.lifts_still_driving_at_reentry) for d in devices],
    )
    row(
        "Time to cut, counted from the limb's first movement: current below 0.5 mA, worst (median)",
        [
            "–"
            if d.time_to_cut_worst_ms is None
            else f"{d.time_to_cut_worst_ms} ms ({d.time_to_cut_median_ms:.0f} ms)"
            for d in devices
        ],
        [
            None if d.time_to_cut_worst_ms is None else float(d.time_to_cut_worst_ms)
            for d in devices
        ],
    )
    row("Lifts with current flowing", [f"{d.lifts_with_current}" for d in devices])
    row(
        "Pain reports per 100 sessions",
        [f"{100 * d.pain_reports / d.sessions:.0f}" for d in devices],
        [float(d.pain_reports) for d in devices],
    )
    row(
        "Sessions by end",
        [", ".join(f"{k} {v}" for k, v in d.end_states.items()) for d in devices],
    )
    row("Simulation time per session", [f"{d.seconds / d.sessions:.2f} s" for d in devices])

    header = "| | " + " | ".join(DEVICES) + " |"
    lines = [header, "|---" * (len(DEVICES) + 1) + "|"]
    for label, cells, scores in rows:
        best = _best(scores)
        shown = [f"**{c}**" if i in best else c for i, c in enumerate(cells)]
        lines.append(f"| {label} | " + " | ".join(shown) + " |")
    last_seed = settings.seed + settings.sessions - 1
    caption = (
        f"{settings.sessions} sessions (seeds {settings.seed}–{last_seed}), "
        f"{settings.region.value}, age {settings.age_years:g}, {settings.minutes:g} min planned, "
        f"{settings.water_uS_cm:g} µS/cm water. Best of each scored row in bold (dose error: "
        "the median closest to zero)."
    )
    return "\n".join([caption, "", *lines]) + "\n"


def summaries_json(summaries: dict[str, DeviceSummary], settings: Settings) -> str:
    body = {
        "settings": {**asdict(settings), "region": settings.region.value},
        "devices": {
            name: {**asdict(s), "shocks_per_100": s.shocks_per_100} for name, s in summaries.items()
        },
    }
    return json.dumps(body, indent=2, ensure_ascii=False)


# --- Command line ---------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _minutes(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and 0 < value <= 60):
        raise argparse.ArgumentTypeError(f"minutes must be within (0, 60], got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Ionto vs a constant-voltage dose device vs an open-loop PWM device, "
        "on the same virtual patients and hand movements."
    )
    parser.add_argument("--sessions", type=_positive_int, default=200, help="sessions (200)")
    parser.add_argument("--seed", type=int, default=0, help="first patient seed (0)")
    parser.add_argument("--minutes", type=_minutes, default=20.0, help="planned minutes (20)")
    parser.add_argument("--jobs", type=_positive_int, default=1, help="worker processes (1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    settings = Settings(sessions=args.sessions, seed=args.seed, minutes=args.minutes)

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"{done}/{total} sessions", file=sys.stderr)

    started = time.perf_counter()
    summaries = run_comparison(settings, jobs=args.jobs, progress=progress)
    print(f"{time.perf_counter() - started:.1f} s wall clock", file=sys.stderr)
    print(summaries_json(summaries, settings) if args.json else markdown_table(summaries, settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
