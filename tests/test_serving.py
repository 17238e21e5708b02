"""Safe to share: a server reads datasets only inside its data roots, listens locally unless told to share, and in
shared mode keeps each visitor's files to that visitor."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from support.apptest import app_session, start_sweep, sweep_owners
from support.paths import ROOT

import ui.workspace
from ui import serve
from ui.picker import PICKER_KEY, UPLOAD_KEY
from ui.session_keys import OWNER, TRAIN_JOB
from ui.settings import MODE_ENV, WORKSPACES_ENV, settings
from vae_core.checkpoint import DatasetInfo, checkpoint_bytes
from vae_core.data import DATA_ROOT, load_dataset, load_image_folder, locate
from vae_core.errors import DatasetError
from vae_core.models import VAE, VAEConfig
from vae_core.roots import ROOTS_ENV, DataRoots

_WATCHED: list[tuple[str, list]] = []  # (folder, events seen under it) while a test watches


def _audit(event: str, args: tuple) -> None:
    if _WATCHED and event in ("open", "os.listdir", "os.scandir") and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        for folder, seen in _WATCHED:
            if path == folder or path.startswith(folder + os.sep):
                seen.append((event, path))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one does nothing unless a test watches a folder


@pytest.fixture
def watch():
    """watch(folder) -> the list of every open / listing of anything under `folder` during the test."""
    def start(folder: Path) -> list:
        seen: list = []
        _WATCHED.append((os.path.realpath(folder), seen))
        return seen

    yield start
    _WATCHED.clear()


def image_folder(folder: Path, n: int = 6) -> Path:
    """A folder of n small png digits in two class subfolders."""
    rng = np.random.default_rng(0)
    for i in range(n):
        (folder / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"class{i % 2}" / f"{i}.png")
    return folder


def folder_checkpoint(path: Path) -> bytes:
    """A checkpoint whose stored dataset is the image folder at `path` (as a crafted upload would name it)."""
    info = DatasetInfo("folder", (1, 8, 8), ("class0", "class1"), {"path": str(path), "size": 8, "grayscale": True})
    torch.manual_seed(0)
    return checkpoint_bytes(VAE(VAEConfig(image_shape=(1, 8, 8), hidden_dims=(8,))), info, {"train": [], "test": []}, 0)


@pytest.fixture
def roots(tmp_path, monkeypatch) -> Path:
    """The server's data roots: the bundled data/ and an empty folder of this test's."""
    folder = tmp_path / "roots"
    folder.mkdir()
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(DATA_ROOT), str(folder)]))
    return folder


def upload(at: AppTest, data: bytes, name: str = "stranger.safetensors") -> AppTest:
    return at.file_uploader(key=UPLOAD_KEY).set_value((name, data, "application/octet-stream")).run()


# --- the roots' one check ---------------------------------------------------------------------------------------

def test_dotdot_and_symlink_escapes_are_refused(tmp_path):
    root, outside = tmp_path / "root", image_folder(tmp_path / "outside")
    root.mkdir()
    (root / "link").symlink_to(outside)
    roots = DataRoots((root,))
    for escape in (root / ".." / "outside", root / "link", root / "link" / "class0" / "0.png"):
        with pytest.raises(DatasetError, match="outside the data folders"):
            roots.check(escape)
    with pytest.raises(DatasetError, match="outside the data folders"):
        load_image_folder(root / "link", size=8, roots=roots)
    with pytest.raises(DatasetError, match="not in this server's data folders"):  # found by name, but it leaves
        locate("folder", {"path": "/elsewhere/link", "size": 8}, roots)
    assert roots.check(root / "sub" / ".." / "x.png") == (root / "x.png").resolve()


def test_a_linked_file_inside_an_image_folder_is_skipped_and_never_opened(tmp_path, watch):
    folder, secret = image_folder(tmp_path / "mine"), image_folder(tmp_path / "secret")
    (folder / "class0" / "stolen.png").symlink_to(secret / "class0" / "0.png")
    seen = watch(secret)
    dataset = load_image_folder(folder, size=8)
    assert dataset.report.skipped == {"symbolic link (not followed)": 1}
    assert len(dataset.x_train) + len(dataset.x_test) == 6 and seen == []


def test_an_idx_file_linked_from_outside_the_roots_is_refused(tmp_path):
    root = tmp_path / "root"
    (root / "MNIST").mkdir(parents=True)
    (root / "MNIST" / "raw").symlink_to(DATA_ROOT / "MNIST" / "raw")  # a root may not borrow another folder
    with pytest.raises(DatasetError, match="outside the data folders"):
        load_dataset("mnist", root=str(root), roots=DataRoots((root,)))


def test_folder_scans_are_bounded_in_files_and_depth(tmp_path):
    from vae_core.data import FolderLimits

    folder = image_folder(tmp_path / "many", n=12)
    with pytest.raises(DatasetError, match="more than 10 files"):
        load_image_folder(folder, size=8, limits=FolderLimits(max_files=10))
    deep = folder / "a" / "b" / "c"
    deep.mkdir(parents=True)
    with pytest.raises(DatasetError, match="more than 2 levels deep"):
        load_image_folder(folder, size=8, limits=FolderLimits(max_depth=2))


# --- an uploaded checkpoint -------------------------------------------------------------------------------------

def test_a_crafted_upload_naming_a_folder_outside_the_roots_opens_nothing_there(tmp_path, roots, watch):
    private = image_folder(tmp_path / "private")
    seen = watch(private)
    at = upload(app_session().run(), folder_checkpoint(private))
    assert not at.exception
    [error] = [e.value for e in at.main.error]
    assert "dataset 'folder' is not in this server's data folders" in error and "'private'" in error
    assert seen == [], f"the server opened {len(seen)} files or folders of the private folder: {seen[:3]}"


def test_an_uploaded_models_folder_is_found_by_name_inside_the_roots(tmp_path, roots, watch):
    private = image_folder(tmp_path / "private")
    image_folder(roots / "private")  # a folder of the same name inside a root: that one is read
    seen = watch(private)
    at = upload(app_session().run(), folder_checkpoint(private))
    assert not at.exception and not at.main.error
    assert seen == []


# --- listening address ------------------------------------------------------------------------------------------

def streamlit_options(argv: list[str]) -> dict[str, str]:
    return dict(option.split("=", 1) for option in serve.parse(argv)[1])


def test_serving_is_local_unless_shared_is_asked_for():
    assert streamlit_options([])["--server.address"] == "127.0.0.1"
    shared = streamlit_options(["--shared", "--server.port", "9000"])
    assert shared["--server.address"] == "0.0.0.0" and shared["--server.port"] == "9000"
    assert streamlit_options(["--server.address", "127.0.0.1"])["--server.address"] == "127.0.0.1"
    for non_local in (["--server.address", "0.0.0.0"], ["--server.address=192.168.1.5"]):
        with pytest.raises(SystemExit):  # a non-local address is the shared switch's to give
            serve.parse(non_local)


def _listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.slow
def test_a_plain_streamlit_run_of_the_app_listens_on_127_0_0_1_only(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _listening_addresses(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no IPv6 or wildcard socket
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


# --- shared mode ------------------------------------------------------------------------------------------------

@pytest.fixture
def shared(tmp_path, monkeypatch, roots) -> Path:
    """Shared mode, its workspaces in a temporary folder; returns the data root of the test."""
    monkeypatch.setenv(MODE_ENV, "shared")
    monkeypatch.setenv(WORKSPACES_ENV, str(tmp_path / "workspaces"))
    return roots


def visitor(token: str | None = None, page: str = "pages/train.py") -> AppTest:
    at = app_session()
    if token is not None:
        at.query_params["ws"] = token
    at.run()
    return at.switch_page(page).run()


def train_and_save(at: AppTest, name: str) -> None:
    at.selectbox(key="train_dataset").set_value("digits").run()
    at.number_input(key="train_epochs").set_value(1)
    at.text_input(key="train_hidden_mlp").set_value("8")
    at.button(key="train_start").click().run()
    job = at.session_state[TRAIN_JOB]
    assert job.join(timeout=120)
    at.run()
    at.text_input(key="train_save_name").set_value(name).run()
    at.button(key="train_save").click().run()
    assert not at.exception and not at.error


def test_shared_train_page_has_no_free_text_paths_and_no_download(shared):
    image_folder(shared / "faces")
    at = visitor()
    assert not at.exception
    assert not [w for w in at.text_input if w.key in ("train_folder", "train_data_root")]
    assert not [w for w in at.checkbox if w.key == "train_download"]
    assert at.selectbox(key="train_dataset").options == ["digits", "mnist", "image folder: faces"]


def test_a_second_visitor_cannot_see_or_open_the_first_ones_models_or_autosaves(shared):
    first = visitor()
    train_and_save(first, "first-model")
    token = first.session_state[OWNER]
    assert "yours/first-model" in first.sidebar.selectbox(key=PICKER_KEY).options
    second = visitor()
    assert not [o for o in second.sidebar.selectbox(key=PICKER_KEY).options if o.startswith("yours/")]
    assert not [e for e in second.sidebar.expander if "autosaved" in e.label]
    again = visitor(token)  # the first visitor's link, after a reload: its files are found again
    assert "yours/first-model" in again.sidebar.selectbox(key=PICKER_KEY).options
    assert [e.label for e in again.sidebar.expander if "autosaved" in e.label] == ["Your autosaved training runs (1)"]


def test_an_uploaded_archive_becomes_the_visitors_own_dataset(shared, tmp_path):
    import zipfile

    folder = image_folder(tmp_path / "pets")
    archive = tmp_path / "my pets.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in folder.rglob("*.png"):
            zf.write(file, file.relative_to(folder).as_posix())
    at = visitor()
    at.file_uploader(key="train_archive").set_value(("my pets.zip", archive.read_bytes(), "application/zip")).run()
    assert not at.exception and any("6 images extracted" in s.value for s in at.success)
    assert at.selectbox(key="train_dataset").value == "your upload: my-pets"
    assert "your upload: my-pets" not in visitor().selectbox(key="train_dataset").options


def test_a_stored_folder_inside_the_roots_is_the_one_read_not_another_of_its_name(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    image_folder(first / "faces"), image_folder(second / "faces", n=8)
    roots = DataRoots((first, second))
    assert locate("folder", {"path": str(second / "faces"), "size": 8}, roots)["path"] == str(second / "faces")
    assert locate("folder", {"path": "/gone/faces", "size": 8}, roots)["path"] == str(first / "faces")


def test_a_beta_sweep_in_shared_mode_saves_into_the_visitors_own_models_and_within_its_limit(shared, monkeypatch):
    at = visitor(page="pages/compare.py")
    at.multiselect(key="compare_models").set_value(["digits-2d.safetensors", "digits-8d.safetensors"]).run()
    start_sweep(at, "0.5, 2")
    for job in sweep_owners().values():
        assert job.join(timeout=120)
    at.run()
    saved = ["yours/digits-sweep-beta0.5.safetensors", "yours/digits-sweep-beta2.safetensors"]
    assert [c.value.split("saved as ")[-1] for c in at.caption if c.value.startswith("beta ")] == saved
    assert set(saved) <= set(at.multiselect(key="compare_models").options)
    stranger = visitor(page="pages/compare.py")
    assert not [o for o in stranger.multiselect(key="compare_models").options if o.startswith("yours/")]
    assert not [c for c in stranger.caption if c.value.startswith("beta ")]

    limited = dataclasses.replace(settings(), saved_models_per_owner=3)
    monkeypatch.setattr(ui.workspace, "settings", lambda: limited)
    start_sweep(at, "4, 8")  # two more files: one past the limit
    assert "allows 3" in at.error[0].value and not sweep_owners()
    start_sweep(at, "2")  # a name it has: replaced, not added; the new sweep replaces the old one's runs
    assert not at.error and len(sweep_owners()) == 1
    assert {text.split(":")[0] for text in [c.value for c in at.caption] + [b.proto.text for b in at.get("progress")]
            if text.startswith("beta ")} == {"beta 2"}
