"""The simulated device: the reference firmware driving a virtual patient, in simulated time.

:class:`SimulatedDevice` is a :class:`~ionto.device.link.DeviceLink`, so the session
controller drives it exactly as it drives a board on a serial port. Device time runs as fast
as the machine allows: wherever nothing can change but counters (at the target, on a rest,
between ramp steps) the firmware hands the load one long stretch (``Firmware.advance``), and
the stretch always ends at the patient's next scripted change (a lift, a dip, a skin break),
so every fault is still resolved to the 1 ms tick at which it happens.

The simulated patient also has a hand on the controls: when the treatment hurts (the
sensation model of :mod:`ionto.device.physics` crosses the patient's pain threshold) they
report pain, after a reaction time, as a real patient would say "ouch" to the nurse.
"""

from __future__ import annotations

from ionto.device.firmware import (
    DEFAULT_BUILD,
    Firmware,
    FirmwareBuild,
    LoadStretch,
    TickOutput,
)
from ionto.device.link import DeviceSample, Progress, Reply
from ionto.device.load import LoadReading
from ionto.device.patients import VirtualPatient
from ionto.device.physics import PatientLoad
from ionto.device.wire import DeviceState, FaultCode, HostMessage, Polarity
from ionto.therapy.vocabulary import Waveform

#: How long a patient takes to say that it hurts (derived: a spoken complaint, ~1 s).
PAIN_REACTION_TICKS = 1_000
#: A patient does not repeat a complaint within this time (derived).
PAIN_REPEAT_TICKS = 5_000


#: ``PatientLoad.advance`` itself, bound at import: a benchmark may swap the module's
#: ``PatientLoad`` for a factory of watched loads (benchmarks/session_probe.py).
_PLAIN_ADVANCE = PatientLoad.advance


class _StretchingLoad:
    """The patient load as the firmware's fast path expects it (``firmware.SteadyLoad``):
    a stretch never crosses the patient's next scripted change, and it ends at the first tick
    the compliance voltage holds the current back, so that the firmware sees that tick."""

    def __init__(self, load: PatientLoad) -> None:
        self.load = load

    def drive(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        return self.load.drive(tick, demand_uA, compliance_mV)

    def advance(
        self, start_tick: int, ticks: int, demand_uA: int, compliance_mV: int
    ) -> LoadStretch:
        nxt = self.load.next_change_tick(start_tick)
        span = ticks
        if nxt is not None and nxt - start_tick < ticks:
            span = max(1, nxt - start_tick)
        if span == 1:
            return LoadStretch(1, self.load.drive(start_tick, demand_uA, compliance_mV))
        # With a limb out of the water nothing can flow until the script brings it back (the
        # span already ends there): one stretch, not a tick at a time while the firmware waits.
        stop_at_compliance = not self.load.open_at(start_tick)
        # A load whose ``advance`` is watched (a subclass's, or patched on the instance) gets
        # every stretch through it; a plain one skips building the Stretch nobody reads here.
        if getattr(self.load.advance, "__func__", None) is _PLAIN_ADVANCE:
            # advance()'s own checks hold: the span ends before the script's next change, and
            # a steady demand never changes sign.
            run = self.load._advance_run(
                start_tick, span, demand_uA, compliance_mV, 0.0, stop_at_compliance
            )
            return LoadStretch(run.ticks, run.reading)
        stretch = self.load.advance(
            start_tick,
            span,
            demand_uA,
            compliance_mV,
            stop_at_compliance=stop_at_compliance,
        )
        return LoadStretch(stretch.ticks, stretch.reading)


def _sample(out: TickOutput) -> DeviceSample:
    return DeviceSample(
        tick=out.tick,
        current_uA=out.current_uA,
        voltage_mV=out.voltage_mV,
        polarity=out.polarity,
        state=out.state,
        fault=out.fault,
    )


class SimulatedDevice:
    """Firmware + physics behind the :class:`~ionto.device.link.DeviceLink` interface."""

    def __init__(
        self,
        patient: VirtualPatient,
        waveform: Waveform = Waveform.DC,
        *,
        duty_cycle: float | None = None,
        build: FirmwareBuild = DEFAULT_BUILD,
        sample_hz: int = 0,
    ) -> None:
        if sample_hz < 0 or sample_hz > 1000:
            raise ValueError(f"sample rate must be 0 to 1000 Hz, got {sample_hz}")
        self.patient = patient
        self.firmware = Firmware(build)
        self.load = PatientLoad(patient, waveform, duty_cycle=duty_cycle)
        self._stretching = _StretchingLoad(self.load)
        self._sample_every = 1000 // sample_hz if sample_hz else 0
        self._last = DeviceSample(0, 0, 0, Polarity.FORWARD, DeviceState.IDLE, FaultCode.NONE)
        self._state_key = (DeviceState.IDLE, Polarity.FORWARD, FaultCode.NONE)
        self._pain_seen_peak = 0.0
        self._pain_due: int | None = None
        self._pain_last = -PAIN_REPEAT_TICKS
        self.pain_reports: list[int] = []
        self.closed = False

    # --- DeviceLink -----------------------------------------------------------------------
    @property
    def tick(self) -> int:
        return self.firmware.tick_count

    def send(self, message: HostMessage) -> Reply:
        if self.closed:
            return Reply(accepted=False, code=-1, detail="device closed")
        result = self.firmware.apply(message)
        return Reply(accepted=result.accepted, code=int(result.code), value_uA=result.value_uA)

    def run_until(self, tick: int) -> Progress:
        fw = self.firmware
        forward = reverse = peak = 0
        samples: list[DeviceSample] = []
        every = self._sample_every
        while fw.tick_count < tick:
            stop = tick
            if every:
                stop = min(stop, (fw.tick_count // every + 1) * every)
            stretch = fw.advance(self._stretching, stop - fw.tick_count)
            if stretch.charge_uA_ms >= 0:
                forward += stretch.charge_uA_ms
            else:
                reverse -= stretch.charge_uA_ms
            peak = max(peak, stretch.peak_uA)
            self._last = _sample(stretch.last)
            self._watch_for_pain()
            if every and fw.tick_count % every == 0:
                samples.append(self._last)
            if (stretch.last.state, stretch.last.polarity, stretch.last.fault) != (self._state_key):
                self._state_key = (stretch.last.state, stretch.last.polarity, stretch.last.fault)
                break
        return Progress(
            last=self._last,
            forward_uA_ms=forward,
            reverse_uA_ms=reverse,
            peak_uA=peak,
            samples=tuple(samples),
        )

    def close(self) -> None:
        self.closed = True

    # --- The patient's side -----------------------------------------------------------------
    def _watch_for_pain(self) -> None:
        load = self.load
        now = self.firmware.tick_count
        threshold = self.patient.pain_threshold
        hurt = load.sensation >= threshold or (
            load.peak_sensation > self._pain_seen_peak and load.peak_sensation >= threshold
        )
        self._pain_seen_peak = load.peak_sensation
        if hurt and self._pain_due is None and now - self._pain_last >= PAIN_REPEAT_TICKS:
            self._pain_due = now + PAIN_REACTION_TICKS

    def take_pain_reports(self, up_to_tick: int) -> list[int]:
        """Pain the simulated patient has reported by ``up_to_tick`` (ticks of the reports)."""
        if self._pain_due is not None and self._pain_due <= up_to_tick:
            due = self._pain_due
            self._pain_due = None
            self._pain_last = due
            self.pain_reports.append(due)
            return [due]
        return []

    def next_pain_report(self) -> int | None:
        return self._pain_due

    @property
    def last_sample(self) -> DeviceSample:
        return self._last
