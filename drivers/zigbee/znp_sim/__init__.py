"""Old name of ``python -m sims.znp`` (the simulator moved out of the product); kept so existing rigs still start."""
