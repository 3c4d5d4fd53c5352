"""The clinic service: a Django project on top of the therapy core and the session engine.

Referral → funding → first visit (screening, consent, baseline) → course → treatment visits on
stations → assessment and verdict → discharge letters. See docs/architecture.md.
"""
