"""The app shell: it opens on the shipped model, every page renders, bad checkpoints never replace the model."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from support.apptest import app_session
from support.paths import DEFAULT_CHECKPOINT, ROOT

import ui.navigation
import ui.settings
import ui.state
import ui.workspace
from ui.picker import PICKER_KEY, UPLOAD_KEY
from ui.session_keys import MODEL
from ui.state import CurrentModel
from vae_core.checkpoint import DatasetInfo, checkpoint_bytes, load_checkpoint_bytes
from vae_core.models import VAE, VAEConfig

PAGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py") if p.name != "common.py")


def open_app() -> AppTest:
    return app_session().run()


def folder_state(folder: Path) -> dict[str, str]:
    """The checkpoint files in a folder by content (its caches and subfolders are not checkpoints)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def sidebar_errors(at: AppTest) -> list[str]:
    return [e.value for e in at.sidebar.error]


class RunsCodeWhenUnpickled:
    marker: Path

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


@pytest.fixture
def checkpoint_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    monkeypatch.setattr(ui.workspace, "CHECKPOINT_DIR", folder)
    monkeypatch.setattr(ui.workspace, "USER_CHECKPOINT_DIR", folder / "user")
    return folder


def test_app_opens_on_the_shipped_mnist_2d_model():
    at = open_app()
    assert not at.exception and not at.error
    assert at.session_state[MODEL].name == "mnist-2d.safetensors" == ui.workspace.DEFAULT_CHECKPOINT
    assert at.session_state[MODEL].data == DEFAULT_CHECKPOINT.read_bytes()
    assert any("mnist · 2-D mlp" in caption.value for caption in at.sidebar.caption)


@pytest.mark.parametrize("page", PAGE_FILES)
def test_every_page_renders_without_an_exception(page):
    at = open_app()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title, f"{page} shows no title"


def refusable_uploads(tmp_path: Path) -> dict[str, bytes]:
    marker = tmp_path / "code-ran"
    RunsCodeWhenUnpickled.marker = marker
    good = DEFAULT_CHECKPOINT.read_bytes()
    return {
        "random": os.urandom(4096),
        "pickle": pickle.dumps(RunsCodeWhenUnpickled()),
        "torch-save": _torch_save_bytes(tmp_path),
        "truncated": good[: len(good) // 2],
        "too-large": b"\0" * (ui.state.MAX_UPLOAD_MB * 2**20 + 1),
    }


def _torch_save_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3), "evil": RunsCodeWhenUnpickled()}, path)
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["random", "pickle", "torch-save", "truncated", "too-large"])
def test_bad_upload_is_refused_and_changes_nothing(kind, tmp_path):
    uploads = refusable_uploads(tmp_path)
    checkpoints_before = folder_state(ROOT / "checkpoints")
    at = open_app()
    model_before = at.session_state[MODEL]
    upload = ("../../evil.safetensors", uploads[kind], "application/octet-stream")
    at.file_uploader(key=UPLOAD_KEY).set_value(upload).run()
    assert not at.exception
    assert any("Upload refused" in message for message in sidebar_errors(at)), sidebar_errors(at)
    assert at.session_state[MODEL] == model_before
    assert folder_state(ROOT / "checkpoints") == checkpoints_before
    assert not RunsCodeWhenUnpickled.marker.exists(), "unpickling ran code"
    at.switch_page("pages/home.py").run()  # the app keeps working on the old model
    assert not at.exception and at.session_state[MODEL] == model_before


def test_good_upload_becomes_the_current_model_under_its_base_name():
    data = (ROOT / "checkpoints" / "digits-8d.safetensors").read_bytes()
    at = open_app()
    at.file_uploader(key=UPLOAD_KEY).set_value(("../../mine.safetensors", data, "application/octet-stream")).run()
    assert not at.exception and not sidebar_errors(at)
    assert at.session_state[MODEL] == CurrentModel("mine.safetensors", data)


def test_uploaded_checkpoint_cannot_make_the_server_download_or_create_folders(tmp_path):
    target = tmp_path / "planted" / "root"
    model = VAE(VAEConfig(image_shape=(1, 28, 28), hidden_dims=(8,)))
    info = DatasetInfo("mnist", (1, 28, 28), tuple("0123456789"), {"root": str(target), "download": True})
    data = checkpoint_bytes(model, info, {"train": [], "test": []}, 0)
    at = open_app()
    at.file_uploader(key=UPLOAD_KEY).set_value(("stranger.safetensors", data, "application/octet-stream")).run()
    assert not at.exception and not at.main.error  # MNIST found by name in the data roots (the bundled copy)...
    assert not (tmp_path / "planted").exists()  # ...never at the stored root, and nothing downloaded there


def test_valid_checkpoint_whose_header_length_starts_with_0x80_is_not_mistaken_for_a_pickle():
    model = VAE(VAEConfig(hidden_dims=(8,)))
    info = DatasetInfo("digits", (1, 8, 8), tuple("0123456789"), {})
    history = {"train": [], "test": []}
    data = next(d for pad in range(256) if (d := checkpoint_bytes(model, info, history, 0, "x" * pad))[0] == 0x80)
    at = open_app()
    at.file_uploader(key=UPLOAD_KEY).set_value(("odd.safetensors", data, "application/octet-stream")).run()
    assert not at.exception and not sidebar_errors(at)
    assert load_checkpoint_bytes(at.session_state[MODEL].data).config.hidden_dims == (8,)


def test_unreadable_checkpoint_in_the_folder_is_listed_but_never_loaded(checkpoint_dir):
    shutil.copy(DEFAULT_CHECKPOINT, checkpoint_dir / DEFAULT_CHECKPOINT.name)
    (checkpoint_dir / "broken.safetensors").write_bytes(b"\x00" * 100)
    before = folder_state(checkpoint_dir)
    at = open_app()
    assert not at.exception and at.session_state[MODEL].name == DEFAULT_CHECKPOINT.name
    picker = at.sidebar.selectbox(key=PICKER_KEY)
    assert "unreadable" in picker.format_func("broken.safetensors")
    picker.set_value("broken.safetensors").run()
    assert not at.exception
    assert any("broken.safetensors was not loaded" in message for message in sidebar_errors(at))
    assert at.session_state[MODEL].name == DEFAULT_CHECKPOINT.name
    assert folder_state(checkpoint_dir) == before


def test_an_unreadable_default_opens_the_next_readable_checkpoint(checkpoint_dir):
    (checkpoint_dir / DEFAULT_CHECKPOINT.name).write_bytes(b"not a checkpoint")
    shutil.copy(ROOT / "checkpoints" / "digits-8d.safetensors", checkpoint_dir / "digits-8d.safetensors")
    at = open_app()
    assert not at.exception and not at.error
    assert at.session_state[MODEL].name == "digits-8d.safetensors"


def test_picking_another_checkpoint_switches_the_model_and_the_picker_follows_uploads():
    at = open_app()
    at.sidebar.selectbox(key=PICKER_KEY).set_value("digits-8d.safetensors").run()
    assert load_checkpoint_bytes(at.session_state[MODEL].data).config.latent_dim == 8
    data = DEFAULT_CHECKPOINT.read_bytes()
    at.file_uploader(key=UPLOAD_KEY).set_value(("uploaded.safetensors", data, "application/octet-stream")).run()
    assert at.session_state[MODEL].name == "uploaded.safetensors"
    assert at.sidebar.selectbox(key=PICKER_KEY).value is None  # not left showing digits-8d


def test_a_deep_link_as_the_first_request_gets_the_apps_navigation_and_sidebar():
    """Streamlit's legacy pages/ mode runs a deep-linked page alone on a fresh server; it must still be routed."""
    at = app_session()
    at.switch_page("pages/sliders.py").run()  # the very first run of this session is the deep link
    assert not at.exception
    assert [title.value for title in at.title] == ["Latent sliders"]  # drawn once, not once bare and once routed
    assert at.sidebar.selectbox(key=PICKER_KEY).value == DEFAULT_CHECKPOINT.name


def test_without_routing_itself_a_page_runs_alone_in_streamlits_legacy_pages_mode(monkeypatch):
    """Why ui.navigation.page_header routes: with it believing every run routed, a page run of AppTest (which starts
    every run in legacy pages/ mode, as a fresh server's first session) has no app sidebar. When this test fails,
    Streamlit no longer runs pages/ files alone and the re-entry in page_header can go."""

    class AlwaysRouted:
        active = property(lambda self: True, lambda self, value: None)

    monkeypatch.setattr(ui.navigation, "_routing", AlwaysRouted())
    at = app_session()
    at.switch_page("pages/theory.py").run()
    assert not at.exception
    assert [title.value for title in at.title] == ["Theory: KL divergence and the ELBO"]  # the page file ran...
    assert not at.sidebar.selectbox  # ...alone: app.py's sidebar (the model picker) never ran


def test_images_are_sent_inline_so_a_rerun_never_breaks_one():
    at = open_app()
    at.switch_page("pages/interpolate.py").run()
    urls = [img.url for image in at.get("image") for img in image.proto.imgs]
    assert urls and all(url.startswith("data:image/png;base64,") for url in urls)


def test_class_colours_are_ten_hues_far_apart():
    from ui.widgets import CLASS_COLORS

    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in CLASS_COLORS], dtype=float)
    distances = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)[np.triu_indices(len(rgb), 1)]
    assert len(CLASS_COLORS) == 10 and distances.min() > 60  # the old palette had 1/4/9 and 6/8 within ~50
