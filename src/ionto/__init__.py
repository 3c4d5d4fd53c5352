"""Ionto: tap-water iontophoresis for hyperhidrosis, from GP referral to home maintenance."""

__version__ = "0.1.0"
