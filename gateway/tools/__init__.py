"""Operator tools: separate entry points that use the gateway's contracts from the outside."""
