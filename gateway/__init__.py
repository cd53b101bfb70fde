"""fbgw: the home gateway of a home elderly-care bed.

Data flow: ``drivers`` → :mod:`gateway.rules` → :mod:`gateway.outbox` → :mod:`gateway.uplink`.
The composition root is :class:`gateway.app.Gateway`.
"""

__version__ = "0.1.0"
