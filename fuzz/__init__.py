"""Coverage-guided fuzzing (atheris, libFuzzer) of every parser of outside input.

``python -m fuzz TARGET [-runs=N] [libFuzzer flags]`` fuzzes one target; ``./scripts/fuzz`` runs them all and
reports the inputs tried. Targets are in :mod:`fuzz.targets`: each takes bytes and may only fail with the
rejection its parser documents.
"""
