"""Where the time goes: events land in the chapter that ran when they ended; nested timings count
once; a chapter's table adds up; the executor prints it."""
import json

import pytest

from tempmodels import timing


def test_events_are_assigned_to_chapters_and_add_up(tmp_path, monkeypatch):
    path = tmp_path / "t.jsonl"
    monkeypatch.setenv(timing.ENV, str(path))
    lines = [
        {"t": 10.0, "kind": "chapter", "seconds": 10.0, "name": "00_a", "start": 0.0},
        {"t": 2.0, "kind": "train", "seconds": 1.5}, {"t": 3.0, "kind": "score", "seconds": 0.5},
        {"t": 4.0, "kind": "cached", "seconds": 0.1}, {"t": 5.0, "kind": "references", "seconds": 2.0},
        {"t": 25.0, "kind": "chapter", "seconds": 14.0, "name": "01_b", "start": 11.0},
        {"t": 12.0, "kind": "train", "seconds": 3.0}, {"t": 13.0, "kind": "train", "seconds": 4.0},
        {"t": 30.0, "kind": "train", "seconds": 9.0},  # outside every chapter: not counted
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"t": 31, "kind": "tr')  # a torn last line
    t = timing.chapter_table(timing.read(path)).set_index("chapter")
    assert t.loc["00_a"].to_dict() == {"wall_s": 10.0, "runs_trained": 1, "runs_cached": 1, "train_s": 1.5,
                                       "score_s": 0.5, "references_s": 2.0, "other_s": 6.0}
    assert t.loc["01_b", "runs_trained"] == 2 and t.loc["01_b", "other_s"] == 7.0
    assert t.loc["all chapters", "wall_s"] == 24.0 and t.loc["all chapters", "runs_trained"] == 3
    assert "00_a" in timing.report(path)


def test_nested_timings_count_once_and_nothing_is_written_when_off(tmp_path, monkeypatch):
    monkeypatch.delenv(timing.ENV, raising=False)
    with timing.timed("references"):
        pass
    path = tmp_path / "t.jsonl"
    monkeypatch.setenv(timing.ENV, str(path))
    with timing.timed("references"):
        with timing.timed("references"):
            pass
    events = timing.read(path)
    assert list(events.kind) == ["references"]


def test_training_and_scoring_are_recorded(small_bench, tmp_path, monkeypatch):
    from tempmodels.encoders import MeanPool
    from tempmodels.experiment import AudioData, run_encoder
    from tempmodels.training import TrainConfig

    path = tmp_path / "t.jsonl"
    monkeypatch.setenv(timing.ENV, str(path))
    monkeypatch.setenv("TEMPMODELS_RUN_CACHE", str(tmp_path / "runs"))
    data = AudioData.from_bench(small_bench)
    cfg = TrainConfig(epochs=1, batch_size=8)
    for _ in range(2):  # trained, then from the cache
        run_encoder("m", lambda: MeanPool(128, 64, 16), data, cfg, [0], None, None, 16, asr=False, progress=False)
    assert list(timing.read(path).kind) == ["train", "score", "cached"]


@pytest.mark.parametrize("argv", [[], ["a", "b"]])
def test_cli_usage(argv):
    assert timing.main(argv) == 2
