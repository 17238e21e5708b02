"""`make run` / `vae-explorer [CHECKPOINT] [--port N] [--shared] [--data-root DIR ...] [streamlit options]`:
`streamlit run app.py` on 127.0.0.1, from any folder (the app's own config is passed as options), after the heavy
imports and the checkpoints are loaded, so that the server answers only when a first visitor no longer waits for
them (benchmarks/RESULTS.md, first paint with and without this warm-up).

Local by default: only this machine can reach the app. `--shared` listens on every interface and turns on shared
mode (ui/settings.py): datasets only from the data roots, each visitor's files in its own workspace.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tomllib
from pathlib import Path

from vae_core.roots import ROOTS_ENV

from .settings import MODE_ENV, WORKSPACES_ENV
from .workspace import OPEN_ENV, ROOT

LOCAL_ADDRESS = "127.0.0.1"
SHARED_ADDRESS = "0.0.0.0"
LOOPBACK = (LOCAL_ADDRESS, "localhost", "::1")  # asking for one of these explicitly is still local


def warm_up() -> None:
    """Import what every page needs, load every checkpoint the picker lists (it describes them all) and the
    default model's dataset into the caches the pages share."""
    streamlit_log = logging.getLogger("streamlit")
    level = streamlit_log.level
    streamlit_log.setLevel(logging.ERROR)  # "no script run context" warnings: expected outside a page
    try:
        from vae_core.errors import VAEError

        from . import cache, jobs, picker, workspace  # noqa: F401 - torch, vae_core and the app's modules
        from .settings import settings

        roots = settings().data_roots if settings().shared else None  # local: the shipped files are trusted
        for i, path in enumerate(workspace.shipped_checkpoints()):
            try:
                checkpoint = cache.checkpoint(path.read_bytes())
                if i == 0:
                    cache.checkpoint_dataset(checkpoint, roots)
            except (VAEError, OSError):
                continue  # the picker says why when the user picks it
        import sklearn.decomposition  # noqa: F401 - the scatter's PCA
    finally:
        streamlit_log.setLevel(level)


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    """Our arguments, and Streamlit's options (`--section.key value` or `--section.key=value`) as `--k=v`."""
    ours, streamlit = [], []
    tokens = iter(argv)
    for token in tokens:
        name = token.split("=", 1)[0]
        if token.startswith("--") and "." in name:
            streamlit.append(token if "=" in token else f"{token}={next(tokens, '')}")
        else:
            ours.append(token)
    return ours, streamlit


def _packaged_config() -> list[str]:
    """The app's .streamlit/config.toml as options, so that it applies when served from any folder."""
    path = ROOT / ".streamlit" / "config.toml"
    if not path.is_file():
        return []
    config = tomllib.loads(path.read_text())
    return [f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
            for section, options in config.items() for key, value in options.items() if section != "server"
            or key != "address"]


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and Streamlit's (passed on after the app's own config) with the listening address set:
    127.0.0.1 unless --shared."""
    parser = argparse.ArgumentParser(prog="vae-explorer",
                                     description="Serve VAE Latent Explorer (local to this machine by default).")
    parser.add_argument("checkpoint", nargs="?", help="a .safetensors checkpoint to open on (default: mnist-2d)")
    parser.add_argument("--port", type=int, help="the port to serve on (default 8501)")
    parser.add_argument("--shared", action="store_true",
                        help="serve others on the network: shared mode (see the README's 'Serving others')")
    parser.add_argument("--data-root", action="append", default=[], metavar="DIR",
                        help="a folder datasets may be read from (repeat for several; default: the bundled data/ "
                             "and ~/.local/share/vae-explorer/data)")
    parser.add_argument("--workspaces", metavar="DIR", help="where shared mode keeps each visitor's files")
    ours, streamlit_args = _split(argv)
    args = parser.parse_args(ours)
    address = next((a.split("=", 1)[1] for a in streamlit_args if a.startswith("--server.address=")), None)
    if address is not None and address not in LOOPBACK and not args.shared:
        parser.error("the app listens on 127.0.0.1 unless served with --shared (see the README's 'Serving others')")
    if args.checkpoint and not Path(args.checkpoint).is_file():
        parser.error(f"{args.checkpoint}: no such file")
    if args.port:
        streamlit_args.append(f"--server.port={args.port}")
    if address is None:
        streamlit_args.append(f"--server.address={SHARED_ADDRESS if args.shared else LOCAL_ADDRESS}")
    return args, _packaged_config() + streamlit_args


def configure(args: argparse.Namespace) -> None:
    """Hand our options to every session's script through the environment (ui/settings.py reads it)."""
    os.environ[MODE_ENV] = "shared" if args.shared else "local"
    if args.data_root:
        os.environ[ROOTS_ENV] = os.pathsep.join(os.path.abspath(path) for path in args.data_root)
    if args.workspaces:
        os.environ[WORKSPACES_ENV] = os.path.abspath(args.workspaces)
    if args.checkpoint:
        os.environ[OPEN_ENV] = os.path.abspath(args.checkpoint)


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    args, streamlit_args = parse(sys.argv[1:] if argv is None else argv)
    configure(args)
    warm_up()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *streamlit_args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
