"""Bring your own encoder (tempmodels.bench): the contract's errors before any training, the command
end to end on an encoder from outside the package, and a second run served by the run cache."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from tempmodels import bench, execute
from tempmodels.encoders.base import TemporalEncoder

from .conftest import needs_espeak

HERE = Path(__file__).resolve().parent
OUTSIDE = f"{HERE / 'outside_encoder.py'}:ConvGRU"


def _module(tmp_path, body: str, name: str = "user_enc.py") -> Path:
    path = tmp_path / name
    path.write_text("import torch\nfrom torch import nn\n\n" + textwrap.dedent(body))
    return path


def test_the_outside_encoder_is_outside_the_package():
    text = (HERE / "outside_encoder.py").read_text()
    assert "tempmodels" not in text.split('"""', 2)[2]  # imports nothing from the package
    build = bench.load(OUTSIDE, {}, 128)
    enc = build()
    assert isinstance(enc, TemporalEncoder) and type(enc.inner).__module__.startswith("tempmodels_bench_user_")
    assert enc(torch.randn(2, 64, 128)).shape == (2, 128)


def test_contract_table_and_size_injection():
    table = bench.check_contract(bench.load(OUTSIDE, {"hidden": 32}, 64), 64)
    assert table.loc["maps (batch, 64 frames, 128 features) to (batch, d_model)", "result"] == "(3, 64, 128) → (3, 64)"
    assert table.loc["same weights for the same seed", "result"] == "yes"


@pytest.mark.parametrize("spec, match", [
    ("no_colon_here", "must look like 'module.path:Name'"),
    ("tempmodels_no_such_module:Enc", "cannot import module 'tempmodels_no_such_module'"),
    ("/nonexistent/enc.py:Enc", "encoder file not found"),
    ("torch.nn:NoSuchThing", "has no attribute 'NoSuchThing'"),
    ("math:pi", "not a class or a factory"),
])
def test_bad_specs(spec, match):
    with pytest.raises(bench.ContractError, match=match):
        bench.load(spec, {}, 128)


CASES = {
    "not_a_module": ("def make(d_model):\n    return torch.zeros(d_model)\n", "make", {}, "not a torch.nn.Module"),
    "wrong_shape": ("""
        class Enc(nn.Module):
            def __init__(self, d_model):
                super().__init__(); self.lin = nn.Linear(128, d_model)
            def forward(self, x):
                return self.lin(x)          # (batch, frames, d): forgot to pool
        """, "Enc", {}, r"must map \(batch, frames=64, features=128\) to \(batch, d_model=128\).*returned \(3, 64, 128\)"),
    "nan_output": ("""
        class Enc(nn.Module):
            def __init__(self, d_model):
                super().__init__(); self.lin = nn.Linear(128, d_model)
            def forward(self, x):
                return self.lin(x.mean(1)) * float("nan")
        """, "Enc", {}, "non-finite values"),
    "needs_args": ("""
        class Enc(nn.Module):
            def __init__(self, d_model, width, depth=2):
                super().__init__(); self.lin = nn.Linear(128, d_model)
            def forward(self, x):
                return self.lin(x.mean(1))
        """, "Enc", {}, r"needs the argument\(s\) \['width'\], not given: pass them with --kwargs"),
    "unknown_kwarg": ("""
        class Enc(nn.Module):
            def __init__(self, d_model):
                super().__init__(); self.lin = nn.Linear(128, d_model)
            def forward(self, x):
                return self.lin(x.mean(1))
        """, "Enc", {"widht": 3}, r"takes no parameter\(s\) \['widht'\]"),
    "detached": ("""
        class Enc(nn.Module):
            def __init__(self, d_model):
                super().__init__(); self.lin = nn.Linear(128, d_model)
            def forward(self, x):
                return self.lin(x.mean(1)).detach()
        """, "Enc", {}, "no gradient reaches"),
    "no_parameters": ("""
        class Enc(nn.Module):
            def forward(self, x):
                return x.mean(1)
        """, "Enc", {}, "no trainable parameters"),
    "forward_raises": ("""
        class Enc(nn.Module):
            def __init__(self, d_model):
                super().__init__(); self.lin = nn.Linear(64, d_model)
            def forward(self, x):
                return self.lin(x).mean(1)
        """, "Enc", {}, r"forward failed on \(batch, frames=64, features=128\)"),
    "constructor_raises": ("""
        class Enc(nn.Module):
            def __init__(self, d_model, width=3):
                super().__init__(); raise RuntimeError("width must be even")
        """, "Enc", {}, r"Enc\(\*\*\{'d_model': 128\}\) failed: RuntimeError: width must be even"),
    "sizes_in_kwargs": ("""
        class Enc(nn.Module):
            def __init__(self, d_model):
                super().__init__(); self.lin = nn.Linear(128, d_model)
            def forward(self, x):
                return self.lin(x.mean(1))
        """, "Enc", {"d_model": 64}, r"--kwargs sets \['d_model'\]: the protocol fixes"),
    "unseeded_weights": ("""
        import os
        class Enc(nn.Module):
            def __init__(self, d_model):
                super().__init__(); self.lin = nn.Linear(128, d_model)
                g = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
                with torch.no_grad():
                    self.lin.weight.copy_(torch.randn(self.lin.weight.shape, generator=g))
            def forward(self, x):
                return self.lin(x.mean(1))
        """, "Enc", {}, "builds different weights under the same seed"),
    "instance": ("""
        class Enc(nn.Module):
            def __init__(self):
                super().__init__(); self.lin = nn.Linear(128, 128)
            def forward(self, x):
                return self.lin(x.mean(1))
        enc = Enc()
        """, "enc", {}, "is a module instance; pass its class or a factory"),
}


@pytest.mark.parametrize("case", CASES)
def test_contract_errors_name_the_clause(tmp_path, case):
    body, attr, kwargs, match = CASES[case]
    spec = f"{_module(tmp_path, body)}:{attr}"
    with pytest.raises(bench.ContractError, match=match):
        bench.check_contract(bench.load(spec, kwargs, 128), 128)


def test_command_stops_before_training_on_a_broken_encoder(tmp_path):
    body, attr, kwargs, _ = CASES["wrong_shape"]
    spec = f"{_module(tmp_path, body)}:{attr}"
    run = subprocess.run([sys.executable, "-m", "tempmodels.bench", "--encoder", spec, "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "error: Enc must map" in run.stderr
    assert not (tmp_path / "r").exists()  # nothing ran, nothing written


@pytest.mark.parametrize("name", ["PCA-d", "oracle", "mean pool", "frame+sinusoidal+strided"])
def test_a_name_taken_by_a_row_of_the_report_is_refused(name):
    with pytest.raises(bench.ContractError, match="is taken by a row of the report"):
        bench.check_name(name)


def _assert_profiles_mirror(template: Path, chapter: Path, required: set, ignore=frozenset()):
    """For every profile, each parameter the template shares with the chapter has the chapter's value."""
    profiles = execute.load_profiles()
    for profile in profiles:
        ours = {**execute.declared_parameters(template), **execute.parameters_for(template, profile, profiles)}
        theirs = {**execute.declared_parameters(chapter), **execute.parameters_for(chapter, profile, profiles)}
        shared = set(ours) & set(theirs) - set(ignore)
        assert required <= shared
        assert {k: ours[k] for k in shared} == {k: theirs[k] for k in shared}, profile


def _assert_same_models(theirs: dict, ours: dict):
    """Each of ``ours`` builds the same module as ``theirs`` of the same name: architecture and initial
    weights under the same seed (so both get the same run-cache key)."""
    for name, build in ours.items():
        torch.manual_seed(0)
        a = theirs[name]()
        torch.manual_seed(0)
        b = build()
        assert repr(a) == repr(b), name
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values())), name


def test_template_profiles_are_chapter_01s():
    """The book's encoders in the report are chapter 01's runs only if the data, budget and seeds agree."""
    _assert_profiles_mirror(bench.TEMPLATE, REPO_NB / "01_positional_encodings.ipynb",
                            {"n_trs", "epochs", "seeds", "d_model", "lr", "frame_hidden", "gl_iters"})


REPO_NB = HERE.parent / "notebooks"


@needs_espeak
def test_command_end_to_end_and_cached_rerun(tmp_path):
    """An encoder in a module outside the repository, scored by one command: report, tables, every reference
    row; the second run trains nothing (its runs come from the run cache)."""
    user = tmp_path / "elsewhere" / "my_encoder.py"
    user.parent.mkdir()
    user.write_text((HERE / "outside_encoder.py").read_text())
    env = {**os.environ, "TEMPMODELS_RUN_CACHE": str(tmp_path / "runs")}
    # a module importable from the user's working directory: found by the command and by the page's kernel
    cmd = [sys.executable, "-m", "tempmodels.bench", "--encoder", "my_encoder:ConvGRU", "--kwargs", '{"hidden": 32}',
           "--name", "mine", "--out", str(tmp_path / "report"), "-p", "n_trs=120", "-p", "epochs=2", "-p", "seeds=[0]",
           "-p", "gl_iters=4", "-p", f"cache_dir={tmp_path / 'bench'}"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=user.parent)
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "report"
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "<audio" in html  # figures and players inside the one file
    results = pd.read_csv(out / "results.csv")
    assert {"oracle", "floor (TR mean)", "PCA-d", "mine", "mean pool", "flat linear",
            "frame+sinusoidal+strided"} <= set(results.encoder)
    paired = pd.read_csv(out / "paired.csv")
    assert set(paired.versus) == {"PCA-d", "floor (TR mean)", "mean pool", "flat linear", "frame+sinusoidal+strided"}
    assert paired.verdict.notna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["encoder"] == "mine" and summary["kwargs"] == {"hidden": 32}
    assert summary["parameters"]["epochs"] == 2 and len(summary["source_digest"]) == 16

    def entries():  # a retrained run would be stored again: a new file time even where the name is the same
        return {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*") if p.is_file()}

    runs = entries()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=user.parent)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "removed the previous report's report.html, report.ipynb, results.csv" in second.stdout
    assert entries() == runs  # nothing trained, nothing stored again
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), results)


def test_command_refuses_parameters_it_sets_or_does_not_know(tmp_path):
    for bad in ("encoder=x:y", "epochz=3"):
        run = subprocess.run([sys.executable, "-m", "tempmodels.bench", "--encoder", OUTSIDE, "--out", str(tmp_path),
                              "-p", bad], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and "the template's parameters you may set are" in run.stderr


# ------------------------------------------------------------------------------------- video (--modality video)
OUTSIDE_VIDEO = f"{HERE / 'outside_video_encoder.py'}:DiffCNNGRU"
VIDEO_TEMPLATE = bench.TEMPLATES["video"]


def test_the_outside_video_encoder_is_outside_the_package_and_meets_the_video_contract():
    from tempmodels.video import bench as vbench
    from tempmodels.video.encoders import VideoEncoder

    text = (HERE / "outside_video_encoder.py").read_text()
    assert "tempmodels" not in text.split('"""', 2)[2]
    build = vbench.load(OUTSIDE_VIDEO, {"hidden": 16}, 9, 32, 64)
    table = bench.check_contract(build, 64)
    clause = "maps (batch, 9 frames, 1 channels, 32 height, 32 width) to (batch, d_model)"
    assert table.loc[clause, "result"] == "(3, 9, 1, 32, 32) → (3, 64)"
    enc = build()
    assert isinstance(enc, VideoEncoder) and enc.inner.gru.hidden_size == 16  # sizes injected, kwargs passed
    with pytest.raises(ValueError, match=r"expects .*\(batch, frames=9, channels=1, height=32, width=32\)"):
        enc(torch.randn(2, 9, 32, 32))  # the book's input check before the user's module


VIDEO_CASES = {
    "audio_shaped_output": ("""
        class Enc(nn.Module):
            def __init__(self, n_frames, size, d_model):
                super().__init__(); self.lin = nn.Linear(size * size, d_model)
            def forward(self, x):
                return self.lin(x.flatten(2))      # (batch, frames, d): forgot to pool over frames
        """, {}, r"must map \(batch, frames=9, channels=1, height=32, width=32\) to \(batch, d_model=64\).*"
                 r"returned \(3, 9, 64\)"),
    "sizes_in_kwargs": ("""
        class Enc(nn.Module):
            def __init__(self, size, d_model):
                super().__init__(); self.lin = nn.Linear(size * size, d_model)
            def forward(self, x):
                return self.lin(x.mean(1).flatten(1))
        """, {"size": 64}, r"--kwargs sets \['size'\]: the protocol fixes n_frames = 9, size = 32, channels = 1"),
    "nan_output": ("""
        class Enc(nn.Module):
            def __init__(self, size, d_model):
                super().__init__(); self.lin = nn.Linear(size * size, d_model)
            def forward(self, x):
                return self.lin(x.mean(1).flatten(1)).log()   # log of negatives
        """, {}, "non-finite values"),
}


@pytest.mark.parametrize("case", VIDEO_CASES)
def test_video_contract_errors_name_the_clause(tmp_path, case):
    from tempmodels.video import bench as vbench

    body, kwargs, match = VIDEO_CASES[case]
    with pytest.raises(bench.ContractError, match=match):
        bench.check_contract(vbench.load(f"{_module(tmp_path, body)}:Enc", kwargs, 9, 32, 64), 64)


def test_video_template_profiles_are_chapter_08s():
    """Chapter 08's encoders in the video report are the chapter's runs only if data, budget, seeds and sizes agree."""
    _assert_profiles_mirror(VIDEO_TEMPLATE, REPO_NB / "08_video_motion.ipynb",
                            {"n_trs", "size", "fps", "epochs", "seeds", "d_model", "cnn_width", "s3d_widths", "decoder_hidden"},
                            ignore={"n_show"})


def test_video_names_taken_by_chapter_08s_rows_are_refused():
    from tempmodels.video import bench as vbench

    book = list(vbench.book_encoders(9, 32, 64, 4, [4, 4, 4, 4]))
    for name in ["PCA-d", "frame-mean CNN", "S3D + frame diff, keep time"]:
        with pytest.raises(bench.ContractError, match="is taken by a row of the report"):
            bench.check_name(name, book)


JOINT_TEMPLATE = bench.TEMPLATES["joint"]


def test_joint_contract_is_the_sides_and_errors_come_before_training(tmp_path):
    """--modality joint: the audio side takes the audio contract, the video side the video one; a
    wrong shape or --side outside the joint modality stops the command before anything trains."""
    from tempmodels import joint_bench

    audio = joint_bench.load(OUTSIDE, {}, "audio", (64, 128), (9, 1, 32, 32), 64)
    assert bench.check_contract(audio, 64).loc["builds a torch.nn.Module", "result"] == "ConvGRU"
    video = joint_bench.load(f"{HERE / 'outside_video_encoder.py'}:DiffCNNGRU", {"hidden": 8}, "video", (64, 128),
                             (9, 1, 32, 32), 64)
    assert "(3, 9, 1, 32, 32)" in bench.check_contract(video, 64).loc[
        "maps (batch, 9 frames, 1 channels, 32 height, 32 width) to (batch, d_model)", "result"]
    with pytest.raises(bench.ContractError, match="encoder_side must be one of"):
        joint_bench.load(OUTSIDE, {}, "bold", (64, 128), (9, 1, 32, 32), 64)
    wrong = _module(tmp_path, """
        class Enc(nn.Module):
            def __init__(self, d_model):
                super().__init__()
                self.lin = nn.Linear(128, d_model + 1)
            def forward(self, x):
                return self.lin(x.mean(1))
    """)
    for argv, code, match in [
        (["--modality", "joint", "--side", "audio", "--encoder", f"{wrong}:Enc"], 2, "must map"),
        (["--modality", "joint", "--side", "video", "--encoder", OUTSIDE], 2, "needs the argument(s) ['n_features']"),
        # the video wing's errors too (python -m ran bench as __main__, whose ContractError the wing's was not)
        (["--modality", "video", "--encoder", OUTSIDE], 2, "needs the argument(s) ['n_features']"),
        (["--modality", "audio", "--side", "video", "--encoder", OUTSIDE], 2, "only --modality joint has sides"),
    ]:
        run = subprocess.run([sys.executable, "-m", "tempmodels.bench", *argv, "--out", str(tmp_path / "r")],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == code and match in run.stderr, (argv, run.stderr[-2000:])
        assert not (tmp_path / "r").exists()


def test_joint_template_profiles_are_chapter_10s():
    """Chapter 10's joint models in the joint report are the chapter's runs only if data, budget, seeds and sizes agree."""
    from tempmodels import joint_bench

    _assert_profiles_mirror(JOINT_TEMPLATE, REPO_NB / "10_multimodal_autoencoder.ipynb",
                            {"n_trs", "size", "fps", "epochs", "seeds", "d_model", "fir_lags", "loss_weights",
                             "voxels_per_family", "snr", *joint_bench.SIZE_KEYS})


def test_joint_book_models_are_chapter_10s_exactly():
    """Chapter 10's model cell, executed as the chapter has it, builds the same models (architecture and
    initial weights under the same seed) as joint_bench.book_models: the report's rows are the chapter's runs."""
    import json as _json
    from types import SimpleNamespace

    from tempmodels import joint_bench, multimodal
    from tempmodels.encoders import FlatLinear

    cells = _json.loads((REPO_NB / "10_multimodal_autoencoder.ipynb").read_text())["cells"]
    src = next("".join(c["source"]) for c in cells if "def temporal_model" in "".join(c["source"]))
    p = {**execute.declared_parameters(REPO_NB / "10_multimodal_autoencoder.ipynb"), "d_model": 32}
    layout = multimodal.PackedLayout((64, 128), (9, 1, 32, 32), 12, 5)
    ns = {"build_multimodal": multimodal.build_multimodal, "FlatLinear": FlatLinear, "torch": torch, "pd": pd, "lags": (1, 2, 3, 4),
          "data": SimpleNamespace(layout=layout), "P": SimpleNamespace(**p)}
    exec(src, ns)
    _assert_same_models(ns["specs"], joint_bench.book_models(layout, (1, 2, 3, 4), p))


def test_joint_command_end_to_end(tmp_path):
    """An audio encoder in a file outside the repository on the joint model's audio side, scored by one
    command: report, tables with every reference row, chapter 10's joint models and the per-family r / ceiling."""
    user = tmp_path / "elsewhere" / "my_encoder.py"
    user.parent.mkdir()
    user.write_text((HERE / "outside_encoder.py").read_text())
    env = {**os.environ, "TEMPMODELS_RUN_CACHE": str(tmp_path / "runs")}
    cmd = [sys.executable, "-m", "tempmodels.bench", "--modality", "joint", "--side", "audio", "--encoder",
           f"{user}:ConvGRU", "--kwargs", '{"hidden": 16}', "--out", str(tmp_path / "report"), "-p", "n_trs=160",
           "-p", "epochs=1", "-p", "seeds=[0]", "-p", "voxels_per_family=4", "-p", f"cache_dir={tmp_path / 'bench'}"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "report"
    assert "data:image/png;base64" in (out / "report.html").read_text()
    results = pd.read_csv(out / "results.csv")
    assert {"oracle", "floor (TR mean)", "PCA-d", "ConvGRU", "mean pool", "temporal", "flat linear",
            "ridge on the TR means (floor)", "ridge on PCA-d (audio + video)", "ridge on true drives"} <= set(results.encoder)
    mine = set(results[results.encoder == "ConvGRU"].metric)
    assert {"fmri_r", "audio_mse", "video_mse", "r/ceiling: motion", "r/ceiling: speaker"} <= mine
    paired = pd.read_csv(out / "paired.csv")
    assert set(paired.versus) == {"PCA-d", "floor (TR mean)", "mean pool", "temporal", "flat linear"}
    assert set(paired[paired.versus == "temporal"].metric) == {"fmri_r", "audio_mse", "audio_detail_r", "video_mse"}
    assert paired.verdict.notna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["modality"] == "joint" and summary["side"] == "audio" and summary["parameters"]["n_trs"] == 160


def test_video_command_end_to_end(tmp_path):
    """A video encoder in a file outside the repository, scored by one command: report with GIFs, tables,
    every reference row and chapter 08's encoders."""
    user = tmp_path / "elsewhere" / "my_video_encoder.py"
    user.parent.mkdir()
    user.write_text((HERE / "outside_video_encoder.py").read_text())
    env = {**os.environ, "TEMPMODELS_RUN_CACHE": str(tmp_path / "runs")}
    cmd = [sys.executable, "-m", "tempmodels.bench", "--modality", "video", "--encoder", f"{user}:DiffCNNGRU",
           "--kwargs", '{"hidden": 16}', "--out", str(tmp_path / "report"), "-p", "n_trs=120", "-p", "epochs=1",
           "-p", "seeds=[0]", "-p", "n_show=1", "-p", f"cache_dir={tmp_path / 'bench'}"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "report"
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "data:image/gif;base64" in html
    results = pd.read_csv(out / "results.csv")
    assert {"oracle", "floor (TR mean)", "PCA-d", "DiffCNNGRU", "frame-mean CNN", "S3D + frame diff, keep time",
            "flat linear"} <= set(results.encoder)
    assert {"flow_cosine", "sign_acc", "direction_acc"} <= set(results.metric)
    paired = pd.read_csv(out / "paired.csv")
    assert set(paired.versus) == {"PCA-d", "floor (TR mean)", "frame-mean CNN", "S3D + frame diff, keep time",
                                  "flat linear"}
    assert paired.verdict.notna().all() and "sign_acc" in set(paired.metric)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["modality"] == "video" and summary["parameters"]["n_trs"] == 120


def test_video_book_encoders_are_chapter_08s_exactly():
    """Chapter 08's encoder cell, executed as the chapter has it, builds the same encoders (architecture and
    initial weights under the same seed) as video.bench.book_encoders: appendix A3's rows are the chapter's runs."""
    import json as _json
    from types import SimpleNamespace

    from tempmodels import encoders
    from tempmodels.video import bench as vbench, encoders as venc

    ch08 = REPO_NB / "08_video_motion.ipynb"
    cells = _json.loads(ch08.read_text())["cells"]
    src = next("".join(c["source"]) for c in cells if '"S3D + frame diff, keep time": lambda' in "".join(c["source"]))
    src = src[: src.index("torch.manual_seed(0)")]  # the specs only: the rest counts and prints them
    p = {**execute.declared_parameters(ch08), "d_model": 32}
    ns = {**vars(encoders), **vars(venc), "torch": torch, "P": SimpleNamespace(**p), "NF": 9, "S": 32}
    exec(src, ns)
    _assert_same_models(ns["specs"], vbench.book_encoders(9, 32, 32, p["cnn_width"], p["s3d_widths"]))
