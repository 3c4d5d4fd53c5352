"""Booking initial treatment courses into a centre's chairs and nurses (issue 5).

Django-free, so that ``ionto schedule`` runs without the service and the clinic can call it
with a single new referral plus the existing bookings (:attr:`Problem.fixed`).

* :mod:`.problem` — the frozen value objects: :class:`Centre`, :class:`Referral`,
  :class:`Appointment`, :class:`Problem`, :class:`Schedule`, :class:`Unscheduled`;
* :mod:`.rules` — the course rules as the solvers see them (built on
  :mod:`ionto.therapy.course` and :mod:`ionto.therapy.frequency`), visit minutes from
  :mod:`ionto.therapy.protocols`, the open slots of a day;
* :mod:`.parse` — the contract's JSON to a :class:`Problem`, strict, one-line errors;
* :mod:`.checker` — every rule of CONTRACT.md, checked on any schedule;
* :mod:`.greedy` — first fit, what a receptionist with a spreadsheet does;
* :mod:`.cpsat` — OR-Tools CP-SAT, lexicographic objectives solved in stages;
* :mod:`.reschedule` — re-plan after a cancellation or a chair out of service;
* :mod:`.repair` — the receptionist's repair after a change (re-planning's start);
* :mod:`.metrics` and :mod:`.render` — the figures and the contract's JSON.
"""
