"""The measuring instrument of the device comparison: a patient load that is watched every tick.

:class:`ProbedLoad` is the physics' :class:`~ionto.device.physics.PatientLoad`, unchanged, with
a :class:`LoadWatch` looking over its shoulder: every tick it carries (and every stretch it
advances at once) is reported to the watch, which keeps what the comparison measures —

* the **charge** delivered (both polarities counted positive: the dose);
* the **peak current** (average current per tick, as Ionto shows and caps it);
* **shocks** (:data:`SHOCK_RATE_MA_CM2_S`, :data:`SHOCK_MIN_UA`): painful moments brought on
  by a fast rise of the felt current density with current flowing, each put down to its
  likely cause;
* for every scripted lift, two figures against issue 3's "a lifted limb: output below 0.5 mA
  within 10 ms":

  - the **output off after the limb is out** (the issue's property): from the first tick the
    limb is out of the water (the circuit open, by the patient's script) to the first tick from
    which the device's *drive* is off (:func:`drives`: its command could not push 0.5 mA into
    the limb when it goes back in) and stays off until it does; a device still driving when
    the limb goes back in never turned its output off;
  - the **current below 0.5 mA from the first movement** (stricter): from the first tick the
    wetted area shrinks to the first tick the current through the patient is below 0.5 mA.
    Once the circuit is open no current flows whatever the device does, so this counts how
    early a device cuts, not whether its output is off.

The same instrument watches all three devices, so that their numbers are measured alike. The
baselines drive a :class:`ProbedLoad` directly (``baseline_devices.py``); Ionto's session runs
as :func:`ionto.device.session.run_session` runs it, with the simulator's load swapped for a
:class:`ProbedLoad` for the duration of the call (:func:`probing_simulator`): ``run_session``
has no seam to hand it a load, nor a dip event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ionto.device import simulator
from ionto.device.load import LoadReading
from ionto.device.patients import AreaChange, Movement, ScriptedState, VirtualPatient
from ionto.device.physics import (
    DEFAULT_SENSATION,
    PatientLoad,
    SensationModel,
    Stretch,
    WaveformShape,
    waveform_shape,
)
from ionto.therapy.vocabulary import Waveform

#: "Current flowing" and "current cut": 0.5 mA, the figure of issue 3 ("a lifted limb: output
#: below 0.5 mA within 10 ms").
CUT_UA = 500
#: A device's output is "off" when the most current its command could push into the patient
#: is below this (the issue's 0.5 mA; see :func:`drives`).
DRIVE_OFF_UA = CUT_UA
#: A painful tick is a shock when the felt density rises at least this fast (mA/cm² per s, the
#: accommodated rate of :class:`~ionto.device.physics.SensationModel`). Derived: a fifth of the
#: model's half-intensity rate (5 mA/cm²·s), over a hundred times the fastest ramp any of the
#: compared devices makes on the palms (~0.01 mA/cm²·s) and far above the drift of hydrating
#: skin, so that steady pain (too much current for this patient) is not counted as a shock,
#: while a lift with current flowing, a switch-on at full output or a skin defect opening
#: under current is. Configurable.
SHOCK_RATE_MA_CM2_S = 1.0
#: Nor is a tick a shock without a current worth the name: at least 0.5 mA (the issue's "off"
#: level; DC through the hands is first perceived at about 2 mA, IEC 60479-1). Derived: the
#: sensation model takes the density on the smaller wetted area as felt however small that
#: area is, so the first square millimetre of a limb going back into the water under a few
#: volts (even a 100 µA contact-sense current at 5 V: ~1 µA) reads as a painful density
#: there; without this floor every re-entry would count as a shock whatever the device did.
SHOCK_MIN_UA = CUT_UA
#: Shock ticks closer together than this are one shock (ms, derived: one jolt as felt).
SHOCK_MERGE_TICKS = 500
#: A shock starting this soon after a movement or a skin break is put down to it (ms, derived).
CAUSE_WINDOW_TICKS = 1_000


def returning_limb_floor_ohm(patient: VirtualPatient, shape: WaveformShape) -> float:
    """The lowest resistance a limb going back into the water can present to the output (Ω).

    The limb fully back in, with both skin capacitors uncharged (a lifted side's capacitor has
    no charge left, the other side's has discharged through its own skin in a few ms): for the
    first instants the skin passes a step of voltage, and only the water and the body core
    (the physics' series resistance at full immersion) limit the current. The pulses of a
    pulsed waveform cross that resistance at their peak (``peak_factor`` × the average), so
    a voltage limit allows that much less average current (``physics.WaveformShape``).
    Conservative: every real moment of a re-entry (less area, charged skin) draws less.
    """
    full = ScriptedState(patient.full_area_cm2, (0.0, 0.0))
    return patient.series_ohm(0, full) * shape.peak_factor


def drives(demand_uA: int, compliance_mV: int, floor_ohm: float) -> bool:
    """Whether a command to the load is **output on**: it could push at least
    :data:`DRIVE_OFF_UA` into the limb as it goes back in.

    Every device here commands the load alike (``load.Load``): a demand (µA) and a compliance
    voltage (mV). The current that can flow is at most the demand (a current source: Ionto, and
    its contact sense current of 100 µA is off) and at most what the compliance voltage drives
    through the lowest resistance a returning limb presents (a voltage source: the dose device's
    set voltage, the PWM device's 40 V, both with a demand of "as much as the supply gives";
    :func:`returning_limb_floor_ohm`). The current through the open circuit itself is zero for
    every device and says nothing; this is what the device *drives*.
    """
    if abs(demand_uA) < DRIVE_OFF_UA:
        return False
    # µV on both sides: mV × 1000 against µA × Ω.
    return abs(compliance_mV) * 1000 >= DRIVE_OFF_UA * floor_ohm


class Cause:
    """What a shock is put down to (by when it starts; see :meth:`LoadWatch.cause_at`)."""

    LIFT = "lift"  # the limb leaving the water
    REENTRY = "re-entry"  # the limb going back in
    DIP = "dip"  # a partial dip
    SKIN_BREAK = "skin break"  # a skin defect opening under current
    DEVICE = "device"  # none of these: a switch-on, a ramp, a reversal, a knob turned

    ALL = (LIFT, REENTRY, DIP, SKIN_BREAK, DEVICE)
    #: What the comparison counts as a device's shocks. A skin defect opening under current
    #: stings whatever the device does (the current crowds into the defect at once; clinical-
    #: reference §4 calls it burning, not a shock): those are counted apart.
    SHOCKS = (LIFT, REENTRY, DIP, DEVICE)


@dataclass(frozen=True)
class Shock:
    """One shock: painful ticks with the density rising fast, merged as felt."""

    start_tick: int
    end_tick: int
    cause: str
    peak_sensation: float
    peak_rate_mA_cm2_s: float


@dataclass(frozen=True)
class LiftCut:
    """One scripted lift: what the current did when it started, and when the output went off."""

    start_tick: int
    #: Current magnitude in the tick before the lift started; None when the session had
    #: ended (or not begun) by then.
    current_before_uA: int | None
    #: The first tick at or after the start with the current below :data:`CUT_UA`.
    cut_tick: int | None
    #: The first tick the limb is out of the water (the circuit open), by the patient's script.
    out_tick: int
    #: The first tick the limb is back in the water (the circuit closed again): the device
    #: commands that tick before it can read the limb's return.
    back_tick: int
    #: Whether the device's output was on (:func:`drives`) in the tick before the lift
    #: started; None when the session had ended (or not begun) by then.
    driving_before: bool | None = None
    #: The last tick from the start to :attr:`back_tick` (inclusive) with the output on.
    last_drive_tick: int | None = None

    @property
    def flowing(self) -> bool:
        """Whether current was flowing when the limb began to leave the water."""
        return self.current_before_uA is not None and self.current_before_uA >= CUT_UA

    @property
    def time_to_cut_ms(self) -> int | None:
        """Ticks (ms) from the lift's first movement to the current below 0.5 mA; None when
        nothing was flowing."""
        if not self.flowing or self.cut_tick is None:
            return None
        return self.cut_tick - self.start_tick

    @property
    def driven(self) -> bool:
        """Whether the device's output was on at some tick from the one before the lift to the
        limb's return: the lifts the output-off figure is about."""
        return bool(self.driving_before) or self.last_drive_tick is not None

    @property
    def still_driving_at_reentry(self) -> bool:
        """Whether the output was on in the tick the limb went back in."""
        return self.last_drive_tick is not None and self.last_drive_tick >= self.back_tick

    @property
    def output_off_tick(self) -> int | None:
        """The first tick from which the output stayed off until the limb was back in (at the
        start when it never drove during the lift); None when it still drove then. A session
        that ended during the lift left the output off from its end."""
        if self.still_driving_at_reentry:
            return None
        if self.last_drive_tick is None:
            return self.start_tick
        return self.last_drive_tick + 1

    @property
    def time_to_output_off_after_out_ms(self) -> int | None:
        """Ticks (ms) from the limb out of the water to the output off (0 when it was off by
        then); None when the device did not drive during the lift or still drove at re-entry."""
        off = self.output_off_tick
        if not self.driven or off is None:
            return None
        return max(0, off - self.out_tick)


@dataclass(frozen=True)
class Observed:
    """What the watch saw over a whole session."""

    charge_uA_ms: float
    peak_uA: int
    peak_sensation: float
    shocks: tuple[Shock, ...]
    lifts: tuple[LiftCut, ...]

    @property
    def delivered_mA_min(self) -> float:
        return self.charge_uA_ms / 60_000_000


@dataclass
class _Episode:
    start_tick: int
    end_tick: int
    cause: str
    peak_sensation: float
    peak_rate: float


@dataclass
class _LiftWatch:
    start_tick: int
    out_tick: int
    back_tick: int
    current_before_uA: int | None = None
    cut_tick: int | None = None
    driving_before: bool | None = None
    last_drive_tick: int | None = None


def lift_out_and_back(patient: VirtualPatient, lift: AreaChange) -> tuple[int, int]:
    """The first tick a scripted lift has the limb out of the water (the circuit open: the
    load's ``open_at``) and the first tick after that it is back in."""
    out = lift.start_tick
    while not patient.state_at(out).open_circuit:
        out += 1
        if out >= lift.end_tick:
            raise ValueError(f"the lift at tick {lift.start_tick} never opens the circuit")
    back = out
    while patient.state_at(back).open_circuit:
        # The script is constant between changes: jump to the next one.
        nxt = patient.next_change_tick(back)
        if nxt is None:
            raise ValueError(f"the limb lifted at tick {lift.start_tick} never comes back")
        back = nxt
    return out, back


def _cause_windows(patient: VirtualPatient) -> list[tuple[int, int, str]]:
    """(first tick, end tick, cause) of every scripted disturbance, in the patient's script."""
    windows: list[tuple[int, int, str]] = []
    for change in patient.movements:
        if change.movement is Movement.LIFT:
            back = change.start_tick + change.transition_ticks + change.hold_ticks
            windows.append((change.start_tick, back, Cause.LIFT))
            windows.append((back, change.end_tick + CAUSE_WINDOW_TICKS, Cause.REENTRY))
        else:
            windows.append((change.start_tick, change.end_tick + CAUSE_WINDOW_TICKS, Cause.DIP))
    for defect in patient.skin_breaks:
        windows.append((defect.tick, defect.tick + CAUSE_WINDOW_TICKS, Cause.SKIN_BREAK))
    return windows


class LoadWatch:
    """Keeps the comparison's measurements of one session (see the module docstring)."""

    def __init__(self, patient: VirtualPatient) -> None:
        self.threshold = patient.pain_threshold
        self.charge_uA_ms = 0.0
        self.peak_uA = 0
        self.peak_sensation = 0.0
        self._windows = _cause_windows(patient)
        self._episodes: list[_Episode] = []
        self._pending = sorted(
            (
                _LiftWatch(c.start_tick, *lift_out_and_back(patient, c))
                for c in patient.movements
                if c.movement is Movement.LIFT
            ),
            key=lambda lift: lift.start_tick,
        )
        self._started: list[_LiftWatch] = []
        self._watched: list[_LiftWatch] = []
        # Lifts started whose limb is not back in yet: the output is watched until it is.
        self._out: list[_LiftWatch] = []
        self._next_lift_tick = self._pending[0].start_tick if self._pending else None
        self._last_uA: int | None = None
        self._last_driving: bool | None = None

    def cause_at(self, tick: int) -> str:
        for first, end, cause in self._windows:
            if first <= tick < end:
                return cause
        return Cause.DEVICE

    # --- what the load reports ------------------------------------------------------------
    def on_tick(
        self,
        tick: int,
        current_uA: int,
        sensation: float,
        rate: float,
        *,
        counted: bool,
        driving: bool = False,
    ) -> None:
        """One exact tick. ``counted``: its charge is not part of a stretch's total.
        ``driving``: the device's output was on in it (:func:`drives`)."""
        magnitude = abs(current_uA)
        if counted:
            self.charge_uA_ms += magnitude  # one 1 ms tick
        if magnitude > self.peak_uA:
            self.peak_uA = magnitude
        if sensation > self.peak_sensation:
            self.peak_sensation = sensation
        if self._next_lift_tick is not None and tick >= self._next_lift_tick:
            self._start_lifts(tick)
        if self._started:
            self._watch_cut(tick, magnitude)
        if self._out:
            self._watch_drive(tick, tick, driving)
        if (
            sensation >= self.threshold
            and rate >= SHOCK_RATE_MA_CM2_S
            and magnitude >= SHOCK_MIN_UA
        ):
            self._shock_tick(tick, sensation, rate)
        self._last_uA = magnitude
        self._last_driving = driving

    def on_stretch(self, start_tick: int, stretch: Stretch, *, driving: bool = False) -> None:
        """A stretch advanced at once (its exact ticks were already seen by :meth:`on_tick`).
        ``driving``: the device's output was on at some tick of it (:func:`drives`)."""
        self.charge_uA_ms += abs(stretch.charge_uA_ms)
        self.peak_uA = max(self.peak_uA, stretch.peak_current_uA)
        self.peak_sensation = max(self.peak_sensation, stretch.peak_sensation)
        last_tick = start_tick + stretch.ticks - 1
        magnitude = abs(stretch.reading.current_uA)
        if self._next_lift_tick is not None and last_tick >= self._next_lift_tick:
            self._start_lifts(last_tick)
        if self._started:
            # Conservative: a cut first seen at the end of a stretch is dated to its end.
            self._watch_cut(last_tick, magnitude)
        if self._out:
            self._watch_drive(start_tick, last_tick, driving)
        self._last_uA = magnitude
        self._last_driving = driving

    # --- lifts ------------------------------------------------------------------------------
    def _start_lifts(self, tick: int) -> None:
        while self._pending and self._pending[0].start_tick <= tick:
            lift = self._pending.pop(0)
            lift.current_before_uA = self._last_uA
            lift.driving_before = self._last_driving
            self._started.append(lift)
            self._watched.append(lift)
            self._out.append(lift)
        self._next_lift_tick = self._pending[0].start_tick if self._pending else None

    def _watch_cut(self, tick: int, magnitude: int) -> None:
        if magnitude >= CUT_UA:
            return
        for lift in self._started:
            lift.cut_tick = tick
        self._started = []

    def _watch_drive(self, first: int, last: int, driving: bool) -> None:
        """Ticks ``first``..``last`` ran with the output on (``driving``) or off: note the last
        tick with the output on within each watched lift, until its limb is back in."""
        for lift in self._out:
            if driving and first <= lift.back_tick and last >= lift.start_tick:
                lift.last_drive_tick = min(last, lift.back_tick)
        if last >= min(lift.back_tick for lift in self._out):
            self._out = [lift for lift in self._out if lift.back_tick > last]

    # --- shocks -----------------------------------------------------------------------------
    def _shock_tick(self, tick: int, sensation: float, rate: float) -> None:
        last = self._episodes[-1] if self._episodes else None
        if last is not None and tick - last.end_tick <= SHOCK_MERGE_TICKS:
            last.end_tick = tick
            last.peak_sensation = max(last.peak_sensation, sensation)
            last.peak_rate = max(last.peak_rate, rate)
            return
        self._episodes.append(_Episode(tick, tick, self.cause_at(tick), sensation, rate))

    def result(self) -> Observed:
        lifts = [*self._watched, *self._pending]
        return Observed(
            charge_uA_ms=self.charge_uA_ms,
            peak_uA=self.peak_uA,
            peak_sensation=self.peak_sensation,
            shocks=tuple(
                Shock(e.start_tick, e.end_tick, e.cause, e.peak_sensation, e.peak_rate)
                for e in self._episodes
            ),
            lifts=tuple(
                LiftCut(
                    lift.start_tick,
                    lift.current_before_uA,
                    lift.cut_tick,
                    lift.out_tick,
                    lift.back_tick,
                    lift.driving_before,
                    lift.last_drive_tick,
                )
                for lift in sorted(lifts, key=lambda lift: lift.start_tick)
            ),
        )


class ProbedLoad(PatientLoad):
    """A :class:`PatientLoad` whose every tick and stretch is reported to :attr:`watch`.

    The physics is the parent's, untouched: ``drive`` and ``advance`` call it and only read
    its public attributes afterwards. ``advance`` drives its exact ticks through ``drive``;
    those ticks are watched one by one but their charge is counted once, in the stretch.
    """

    def __init__(
        self,
        patient: VirtualPatient,
        waveform: Waveform = Waveform.DC,
        *,
        duty_cycle: float | None = None,
        model: SensationModel = DEFAULT_SENSATION,
    ) -> None:
        super().__init__(patient, waveform, duty_cycle=duty_cycle, model=model)
        self.watch = LoadWatch(patient)
        self._depth = 0
        self._probe_floor_ohm = returning_limb_floor_ohm(patient, self.shape)

    def drive(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        reading = super().drive(tick, demand_uA, compliance_mV)
        self.watch.on_tick(
            tick,
            reading.current_uA,
            self.sensation,
            self.density_rate_mA_cm2_s,
            counted=self._depth == 0,
            driving=drives(demand_uA, compliance_mV, self._probe_floor_ohm),
        )
        return reading

    def advance(
        self,
        start_tick: int,
        ticks: int,
        demand_uA: int,
        compliance_mV: int,
        *,
        slope_uA_per_tick: float = 0.0,
        stop_at_compliance: bool = False,
    ) -> Stretch:
        self._depth += 1
        try:
            stretch = super().advance(
                start_tick,
                ticks,
                demand_uA,
                compliance_mV,
                slope_uA_per_tick=slope_uA_per_tick,
                stop_at_compliance=stop_at_compliance,
            )
        finally:
            self._depth -= 1
        # A ramping demand is largest in magnitude at one of its ends (it never changes sign).
        end_demand = round(demand_uA + slope_uA_per_tick * (stretch.ticks - 1))
        largest = max(abs(demand_uA), abs(end_demand))
        driving = drives(largest, compliance_mV, self._probe_floor_ohm)
        self.watch.on_stretch(start_tick, stretch, driving=driving)
        return stretch

    #: The parent's private fields that depend on the waveform (see :meth:`retune`).
    _WAVEFORM_FIELDS = ("_k", "_level_gain", "_rate_up", "_rate_down")

    def retune(self, waveform: Waveform, duty_cycle: float | None = None) -> None:
        """Change the waveform mid-session: a PWM device's knob turned to another duty.

        :class:`PatientLoad` fixes its waveform when built, and Ionto never changes it within
        a session; the PWM baseline does. This sets what the parent's constructor derives
        from the waveform, exactly as it does; the benchmark's test checks that a retuned
        load and a fresh one agree tick for tick, so a change of the physics' internals
        fails loudly instead of skewing the table.
        """
        missing = [name for name in self._WAVEFORM_FIELDS if not hasattr(self, name)]
        if missing:
            raise RuntimeError(f"PatientLoad no longer has {missing}: update ProbedLoad.retune")
        model = self.model
        patient = self.patient
        self.waveform = waveform
        self.shape = waveform_shape(waveform, duty_cycle)
        self._k = self.shape.peak_factor
        density_w, rate_w = model.weights(waveform)
        self._level_gain = patient.sensitivity * density_w / model.half_density_mA_cm2
        self._rate_up = patient.sensitivity * rate_w / model.half_rate_mA_cm2_s
        self._rate_down = self._rate_up * model.break_weight
        self._probe_floor_ohm = returning_limb_floor_ohm(patient, self.shape)


LoadFactory = Callable[..., PatientLoad]
#: The name under which the simulator builds its load (``SimulatedDevice.__init__``).
_SIMULATOR_LOAD = "PatientLoad"


@contextmanager
def probing_simulator(
    extra_script: Callable[[VirtualPatient], VirtualPatient] | None = None,
) -> Iterator[Sequence[ProbedLoad]]:
    """Within the block, every :class:`~ionto.device.simulator.SimulatedDevice` built drives a
    :class:`ProbedLoad` (yielded, in order of creation) instead of a plain ``PatientLoad``.

    ``extra_script`` adds movements the session request cannot express (partial dips) to the
    patient the load is built on; the device's own copy of the patient (used only for the
    pain threshold) keeps the request's script. Not thread-safe: it swaps a module global.
    """
    created: list[ProbedLoad] = []
    original: LoadFactory = getattr(simulator, _SIMULATOR_LOAD)

    def build(
        patient: VirtualPatient,
        waveform: Waveform = Waveform.DC,
        *,
        duty_cycle: float | None = None,
        model: SensationModel = DEFAULT_SENSATION,
    ) -> ProbedLoad:
        scripted = extra_script(patient) if extra_script is not None else patient
        load = ProbedLoad(scripted, waveform, duty_cycle=duty_cycle, model=model)
        created.append(load)
        return load

    setattr(simulator, _SIMULATOR_LOAD, build)
    try:
        yield created
    finally:
        setattr(simulator, _SIMULATOR_LOAD, original)
