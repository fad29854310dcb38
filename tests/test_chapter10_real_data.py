"""Chapter 10 on real data: ``papermill notebooks/10_multimodal_autoencoder.ipynb out.ipynb -p data_dir
<folder>`` runs, unchanged, on a generated Sherlock-format folder (NIfTI runs, WAV, frames), and the page
says how the HRF shift was handled."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tempmodels.fmri.sherlock import write_example

CHAPTER = Path(__file__).resolve().parents[1] / "notebooks" / "10_multimodal_autoencoder.ipynb"
N_TR, TR, FPS, SR = 150, 1.5, 6.0, 16_000


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(int(N_TR * TR * SR)) / SR
    audio = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.2 * t) > 0) + 0.01 * rng.normal(size=len(t))
    frames = rng.integers(0, 256, size=(int(N_TR * TR * FPS), 40, 40), dtype=np.uint8)
    loud = np.abs(audio[: N_TR * int(TR * SR)]).reshape(N_TR, -1).mean(1)
    bold = rng.normal(size=(4, 3, 2, N_TR)).astype(np.float32)
    bold[:2] += 3 * np.roll(loud, 3)[None, None, None, :]  # a few voxels follow the sound, 3 TRs late
    return write_example(root, bold, audio.astype(np.float32), frames, TR, FPS, hrf_shift_applied=False)


def test_chapter_runs_on_a_sherlock_format_folder(tmp_path):
    data = _folder(tmp_path / "sherlock")
    out = tmp_path / "out.ipynb"
    env = {**os.environ, "TEMPMODELS_RUN_CACHE": "0"}
    proc = subprocess.run([sys.executable, "-m", "papermill", str(CHAPTER), str(out), "-p", "data_dir", str(data),
                           "-p", "epochs", "1", "-y", "seeds: [0]", "-p", "batch_size", "16", "-p", "frames_per_tr", "6",
                           "-p", "cache_dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=CHAPTER.parent, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = json.dumps(json.loads(out.read_text())["cells"])
    assert "HRF shift of 3 TRs applied by this loader" in text  # the release did not shift: the loader did, once
    assert "Sherlock-format folder" in text and "all voxels" in text
    assert "[0, 1]" in text  # fir_lags 1-4 after the 3-TR shift: delays 0 and 1
    assert "6 frames of 32x32" in text  # 9 frames per TR at 6 fps, resampled to 6


def _empty_mask(data: Path) -> str:
    import nibabel as nib

    run = nib.load(sorted((data / "bold").glob("*.nii.gz"))[0])
    nib.save(nib.Nifti1Image(np.zeros(run.shape[:3], np.uint8), run.affine), data / "mask.nii.gz")
    return "mask.nii.gz: mask selects 0 voxels"


def _truncated_run(data: Path) -> str:
    run = sorted((data / "bold").glob("*.nii.gz"))[1]
    run.write_bytes(run.read_bytes()[:1000])
    return run.name


@pytest.mark.parametrize("damage", [_truncated_run, _empty_mask], ids=["truncated run", "empty mask"])
def test_a_faulty_folder_stops_the_chapter_with_the_file_named(tmp_path, damage):
    """A structural fault (a truncated run) and a value fault (an all-zero mask, which once loaded 0
    voxels and failed later in the model) each stop the chapter at load time with the loader's DataError."""
    data = _folder(tmp_path / "sherlock")
    named = damage(data)
    proc = subprocess.run([sys.executable, "-m", "papermill", str(CHAPTER), str(tmp_path / "out.ipynb"),
                           "-p", "data_dir", str(data), "-p", "cache_dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=CHAPTER.parent)
    assert proc.returncode != 0
    assert "DataError" in proc.stderr and named in proc.stderr
