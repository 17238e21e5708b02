"""Browser components (Streamlit Components v2), one folder per idea, each with its assets beside its wrapper.

latent_canvas        sliders and a 2-D pad editing one latent code, decoded in the browser (onnxruntime-web)
embedding_inspector  every encoded example as a WebGL point: pan, zoom, hover thumbnails, click / box / lasso
latent_path          a slider along a line in latent space (start + amount x direction), decoded as it moves
draw_pad             a drawing encoded as it is drawn: its posterior on a latent pad, decoded samples, ELBO terms,
                     nearest test examples
live_training        the Train page's live loss chart and test codes, on canvases redrawn in place each poll
runtime              the in-page model runtime (onnxruntime-web): whether it can run, a checkpoint's decoder and
                     encoder by URL
static_files         what the components fetch from static/ (content-named files)
shared/              JavaScript they all use (the model client: load by URL, status, newest request wins, frame
                     marks; one view per element; static assets; the latent pad), put before each component's script;
                     and their common stylesheet (base.css: styles a root of class "component"), put before each
                     component's own
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_SCRIPTS = ("shared/model_client.js", "shared/mount.js", "shared/assets.js", "shared/latent_pad.js")
SHARED_STYLES = ("shared/base.css",)


def script(path: str) -> str:
    """A component's script (`path` under ui/components/) with the shared scripts before it, as one module."""
    return _joined(SHARED_SCRIPTS, path)


def style(path: str) -> str:
    """A component's stylesheet (`path` under ui/components/) with the shared stylesheets before it."""
    return _joined(SHARED_STYLES, path)


def _joined(shared: tuple[str, ...], path: str) -> str:
    return "\n".join((HERE / name).read_text() for name in (*shared, path))
