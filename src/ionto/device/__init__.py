"""Treatment sessions on a constant-current device: wire protocol, reference firmware with
hard limits, the physics of electrode-water-skin-body, simulator and session controller.

Never imports Django or the clinic (checked by the import contracts in pyproject.toml).
"""
