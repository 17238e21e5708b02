"""The standalone page (`python -m vae_core export --format html`): one file holding the app's own components, the
runtime, the decoder and the encoder, the codes, the thumbnails and the model's card. The browser side is in
tests/test_browser_standalone.py."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from support.paths import ROOT

from ui.components import script, style
from vae_core import cli
from vae_core.checkpoint import load_checkpoint, save_checkpoint
from vae_core.export import DECODER_LOGITS_OUTPUT, decoder_onnx_bytes, encoder_onnx_bytes, graph_names
from vae_core.images import to_uint8
from vae_core.models import VAE
from vae_core.standalone import ORT_WEB_FILES, draw_pad_model, ort_web_file


def embedded(page: str, name: str) -> bytes:
    text = re.search(rf'<script type="text/plain" id="asset-{name}">([^<]*)</script>', page).group(1)
    return gzip.decompress(base64.b64decode(text))


def test_cli_export_html_writes_one_page_with_the_card_both_graphs_and_every_test_image(tiny_checkpoint, tmp_path,
                                                                                      capsys, digits):
    out = tmp_path / "view.html"

    assert cli.main(["export", str(tiny_checkpoint), "--format", "html", "--out", str(out)]) == 0

    page = out.read_text()
    checkpoint = load_checkpoint(tiny_checkpoint)
    assert embedded(page, "decoder") == decoder_onnx_bytes(checkpoint.model)
    assert embedded(page, "encoder") == encoder_onnx_bytes(checkpoint.model)
    assert embedded(page, "ort-wasm") == ort_web_file(ORT_WEB_FILES[1]).read_bytes()
    test_x = digits.split("test").x
    assert embedded(page, "images") == to_uint8(test_x).tobytes()
    assert len(np.frombuffer(embedded(page, "codes"), "<f4")) == len(test_x) * checkpoint.config.latent_dim
    assert "tiny fixture" in page and "ELBO -41.50" in page  # the card: its command and its test terms
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing to fetch
    assert f"wrote {out}" in capsys.readouterr().out


def view_data(path) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="view">(.*?)</script>', path.read_text(),
                                re.S).group(1))


def test_the_page_carries_the_apps_own_component_scripts_not_copies(tiny_checkpoint, tmp_path):
    out = tmp_path / "view.html"
    cli.main(["export", str(tiny_checkpoint), "--format", "html", "--out", str(out)])
    components = json.loads(embedded(out.read_text(), "components"))
    for name, folder, stem in [("latent_canvas", "latent_canvas", "canvas"),
                               ("embedding_inspector", "embedding_inspector", "inspector"),
                               ("draw_pad", "draw_pad", "draw")]:
        assert components[name]["js"] == script(f"{folder}/{stem}.js")
        assert components[name]["css"] == style(f"{folder}/{stem}.css")


def test_making_the_page_does_not_import_streamlit(tiny_checkpoint, tmp_path):
    args = ["export", str(tiny_checkpoint), "--format", "html", "--out", str(tmp_path / "view.html")]
    code = (f"import sys; from vae_core import cli; cli.main({args!r}); "
            "assert 'streamlit' not in sys.modules, 'streamlit was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("classes", [0, 10], ids=["unconditional", "conditional"])
def test_the_draw_pad_encodes_with_the_embedded_encoder_over_the_pages_codes(tmp_path, digits, digits_info,
                                                                            tiny_config, classes):
    model = VAE(dataclasses.replace(tiny_config, n_classes=classes))
    path = save_checkpoint(tmp_path / "tiny.safetensors", model, digits_info, {"train": [], "test": []}, 0, None)
    out = tmp_path / "view.html"
    cli.main(["export", str(path), "--format", "html", "--out", str(out)])

    shown = view_data(out)["draw"]["model"]
    checkpoint = load_checkpoint(path)
    assert shown == draw_pad_model(checkpoint, np.asarray(shown["kl"]), encoder=shown["encoder"],
                                   decoder=shown["decoder"], points=shown["points"])  # the app's wrapper's fields
    assert shown["encoder"] == {"runtime": "asset:ort-module", "url": "asset:encoder",
                                **graph_names("encoder", conditional=bool(classes))}
    assert shown["decoder"]["url"] == "asset:decoder" and shown["decoder"]["outputs"][1] == DECODER_LOGITS_OUTPUT
    assert (shown["encoder"]["class_input"] is not None) == bool(classes)  # the class picker shows for a cVAE
    assert shown["points"] == {"count": len(digits.split("test").x), "codes": "asset:codes",
                               "labels": "asset:labels", "images": "asset:images"}  # the scatter's arrays
