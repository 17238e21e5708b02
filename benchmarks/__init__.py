"""Benchmarks: training speed against a tutorial-style baseline, model quality, interactivity and memory.

`python -m benchmarks` prints one table per measurement and writes them to benchmarks/RESULTS.md;
`--quick` is the CI variant (small data, few repeats) and only prints.
"""

import sys
from pathlib import Path

# The browser benchmarks drive the app as the browser tests do, with the tests' support package (support.browser).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
