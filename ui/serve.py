"""`make run` (`python -m ui.serve [streamlit options]`): `streamlit run app.py`, after the heavy imports and the
checkpoints are loaded, so that the server answers only when a first visitor no longer waits for them.

Measured on 2 cores: a cold first page took 14.5 s under load (torch, scikit-learn and the dataset loaded on the
first visit); see benchmarks/RESULTS.md for the first paint with and without this warm-up.
"""

from __future__ import annotations

import logging
import sys

from .state import ROOT


def warm_up() -> None:
    """Import what every page needs, load every checkpoint the picker lists (it describes them all) and the
    default model's dataset into the caches the pages share."""
    streamlit_log = logging.getLogger("streamlit")
    level = streamlit_log.level
    streamlit_log.setLevel(logging.ERROR)  # "no script run context" warnings: expected outside a page
    try:
        from vae_core.errors import VAEError

        from . import cache, jobs, picker, state  # noqa: F401 - torch, vae_core and the app's modules
        for i, path in enumerate(state.checkpoint_files()):
            try:
                checkpoint = cache.checkpoint(path.read_bytes())
                if i == 0:
                    cache.checkpoint_dataset(checkpoint)
            except (VAEError, OSError):
                continue  # the picker says why when the user picks it
        import sklearn.decomposition  # noqa: F401 - the scatter's PCA
    finally:
        streamlit_log.setLevel(level)


def main() -> None:
    from streamlit.web import cli

    warm_up()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
