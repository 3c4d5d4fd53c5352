"""Virtual courses on the session engine: every session run on the simulated device.

The population simulation (:mod:`ionto.therapy.virtual_course`) takes each session's
delivered charge from a *dose source*. Its default is the session controller's plan at the
set current (analytic, microseconds); :class:`DeviceDose` instead runs each session through
the session controller on the simulated device and a virtual patient, and hands the model the
charge the device actually delivered — about 0.15 s a session, so for a few patients: a check
that the fast path is what the engine does, and a way to see a course's sessions one by one.

The device's virtual patient takes the therapy model's felt sensitivity and pain threshold,
so the patient the nurse titrated for is the one on the device; the skin and the water vary
from session to session (a fresh draw per session).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ionto.device.controller import InputSource, SessionController
from ionto.device.patients import TYPICAL_WATER_US_CM, VirtualPatient
from ionto.device.session import SessionRequest, build_plan, end_state
from ionto.device.simulator import SimulatedDevice
from ionto.therapy.protocols import Protocol
from ionto.therapy.response import FloatArray, IntArray, Population, runs_per_session
from ionto.therapy.vocabulary import Waveform

#: ``ionto course simulate --engine device`` runs every session tick by tick: keep it small.
MAX_DEVICE_PATIENTS = 20


@dataclass(frozen=True)
class DeviceSession:
    """One session of a virtual course as the device ran it."""

    patient: int
    session_index: int
    #: Glycopyrronium on two sides is two runs a session day (therapy.response.runs_per_session).
    run: int
    day: int
    current_mA: float
    planned_mA_min: float
    delivered_mA_min: float
    state: str
    pain_reports: int
    max_sensation: float


def session_seed(seed: int, patient: int, session_index: int, run: int = 0) -> int:
    """The device patient's seed for one run: the skin differs from day to day."""
    return int(np.random.SeedSequence([seed, patient, session_index, run]).generate_state(1)[0])


def run_course_session(
    protocol: Protocol,
    population: Population,
    patient: int,
    current_mA: float,
    session_index: int,
    day: int,
    *,
    run: int = 0,
    seed: int = 0,
    water_uS_cm: float = TYPICAL_WATER_US_CM,
) -> DeviceSession:
    """One run of ``protocol`` at ``current_mA`` for ``patient`` on the simulated device."""
    request = SessionRequest(
        region=protocol.region,
        age_years=population.age_years,
        solution=protocol.solution,
        current_mA=current_mA,
        minutes=float(protocol.minutes),
        waveform=protocol.waveform,
        reversal=protocol.reversal,
        water_uS_cm=water_uS_cm,
        seed=session_seed(seed, patient, session_index, run),
    )
    device_protocol, plan, _ = build_plan(request)
    virtual = replace(
        VirtualPatient.from_seed(request.seed, protocol.region, population.age_years, water_uS_cm),
        sensitivity=float(population.felt_sensitivity[patient]),
        pain_threshold=float(population.pain_threshold[patient]),
    )
    duty = device_protocol.duty_cycle if plan.waveform is Waveform.PULSED_DC else None
    device = SimulatedDevice(virtual, plan.waveform, duty_cycle=duty, sample_hz=0)
    record = SessionController(device, plan).run(InputSource(()), pain_source=device)
    return DeviceSession(
        patient=patient,
        session_index=session_index,
        run=run,
        day=day,
        current_mA=current_mA,
        planned_mA_min=plan.planned_mA_min,
        delivered_mA_min=sum(record.delivered_mA_min()),
        state=end_state(record.phase),
        pain_reports=record.pain_reports,
        max_sensation=device.load.peak_sensation,
    )


@dataclass
class DeviceDose:
    """A dose source (``therapy.virtual_course.DoseSource``) that runs every session on the
    simulated device (glycopyrronium on two sides: both runs) and answers with the charge
    delivered. ``sessions`` keeps each run as it ran; a run already made (the same patient,
    session number, run and current) is not made again, so a second simulation of the same
    patients — the one without maintenance — reuses the course's sessions."""

    protocol: Protocol
    population: Population
    seed: int = 0
    water_uS_cm: float = TYPICAL_WATER_US_CM
    sessions: dict[tuple[int, int, int, float], DeviceSession] = field(default_factory=dict)

    def delivered_mA_min(
        self, patients: IntArray, current_mA: FloatArray, session_index: IntArray, day: int
    ) -> FloatArray:
        out = np.empty(patients.shape[0])
        for k, (i, amps, index) in enumerate(
            zip(patients.tolist(), current_mA.tolist(), session_index.tolist(), strict=True)
        ):
            total = 0.0
            for run in range(runs_per_session(self.protocol)):
                key = (i, index, run, amps)
                if key not in self.sessions:
                    self.sessions[key] = run_course_session(
                        self.protocol,
                        self.population,
                        i,
                        amps,
                        index,
                        day,
                        run=run,
                        seed=self.seed,
                        water_uS_cm=self.water_uS_cm,
                    )
                total += self.sessions[key].delivered_mA_min
            out[k] = total
        return out

    def ran(self) -> tuple[DeviceSession, ...]:
        """Every session run, by patient and session number."""
        return tuple(
            sorted(self.sessions.values(), key=lambda s: (s.patient, s.session_index, s.run))
        )
