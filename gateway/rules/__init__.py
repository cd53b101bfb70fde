"""Rules: readings in, event drafts out.

:class:`RuleEngine` is what the gateway calls; it runs the rule set built from config. Rules are plain code
with injected time, so they are tested in milliseconds.
"""

from gateway.rules.engine import RuleEngine
from gateway.rules.immediate import READING_EVENTS, ImmediateRules

__all__ = ["READING_EVENTS", "ImmediateRules", "RuleEngine"]
