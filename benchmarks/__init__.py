"""Benchmarks: scripts that print figures (speed, memory, quality), never tests.

Run each from the repository root as a module, e.g. `python -m benchmarks.scale
--passages 100000`; they import the project (`retrieval`, `chat`), each other
(`.synthetic`) and the test fakes (`tests.fake_bot_api`) as packages.
"""
