"""Transports: each subpackage turns one kind of radio or wire into `Reading`s.

Every driver package exposes ``create_driver(section, ctx) -> Driver`` (see :mod:`drivers.base`), so the
gateway can load whichever drivers its config enables without knowing anything about them.
"""
