"""Your own faces: a real photo through detection, alignment, a synthetic-trained model, Grad-CAM and the files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_utils import CLASS_NAMES, cli, config, errors, photofaces, synth, train
from photographs import astronaut, gradient


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """A vgg_small run trained for one epoch on 420 synthetic faces (its own runs and cache folders)."""
    folder = tmp_path_factory.mktemp("synthetic-run")
    csv = synth.write_csv(folder / "fer2013.csv", n=420, seed=3, progress=False)
    settings = config.resolve("quick", epochs=1, max_train_rows=0, time_budget=0.0, batch_size=32)
    return train.train(settings, csv, runs_dir=folder / "runs", progress=False)


@pytest.fixture()
def photo_folder(tmp_path):
    """astronaut.png, a face-free gradient and an unreadable .jpg in one folder."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut()).save(folder / "astronaut.png")
    Image.fromarray(gradient()).save(folder / "gradient.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_a_portrait_gives_one_face_with_seven_probabilities_that_sum_to_one(synthetic_run, photo_folder):
    analysis = photofaces.analyse([photo_folder / "astronaut.png"], synthetic_run.load_model(), tta="flip",
                                  progress=False)
    assert list(analysis.table.columns) == photofaces.columns() and len(analysis.table) == 1
    row = analysis.table.iloc[0]
    assert row["face"] == 1 and row["label"] in CLASS_NAMES
    np.testing.assert_allclose(analysis.probabilities.sum(axis=1), 1.0, atol=1e-5)  # no claim on which expression
    assert row["label"] == CLASS_NAMES[int(analysis.probabilities[0].argmax())]
    assert analysis.crops.shape == (1, 48, 48) and analysis.grad_cam.shape == (1, 48, 48)
    assert (analysis.grad_cam >= 0).all() and analysis.grad_cam.max() > 0


def test_no_face_and_unreadable_files_are_reported_and_the_others_go_on(synthetic_run, photo_folder):
    model = synthetic_run.load_model()
    with pytest.raises(errors.InputError, match=r"broken\.jpg: not a readable image"):
        photofaces.analyse([photo_folder], model, progress=False)
    analysis = photofaces.analyse([photo_folder], model, skip_unreadable=True, progress=False)
    assert [path.name for path in analysis.no_face] == ["gradient.png"]
    assert [path.name for path, _ in analysis.skipped] == ["broken.jpg"]
    lines = photofaces.summary_lines(analysis)
    assert "gradient.png: no face found" in lines and any(line.startswith("astronaut.png: 1 face: face 1 ")
                                                         for line in lines)
    assert lines[-1].startswith(f"{photo_folder / 'broken.jpg'}: skipped, ") and "--skip-unreadable" not in lines[-1]


def test_faces_command_writes_the_annotated_photo_the_face_figure_and_the_csv(synthetic_run, photo_folder, tmp_path,
                                                                               capsys):
    out = tmp_path / "out"
    assert cli.main(["--quiet", "faces", str(photo_folder), "--run", str(synthetic_run.directory), "--out", str(out),
                     "--skip-unreadable"]) == 0
    printed = capsys.readouterr().out
    assert "gradient.png: no face found" in printed and "wrote 1 face(s) of 2 photo(s)" in printed
    assert sorted(path.name for path in out.iterdir()) == ["astronaut.face1.png", "astronaut.faces.png", "faces.csv"]
    table = pd.read_csv(out / "faces.csv")
    assert table.loc[0, "figure"] == "astronaut.face1.png"
    assert list(table.columns) == photofaces.columns() and len(table) == 1
    assert table.loc[0, "photo"].endswith("astronaut.png")
    np.testing.assert_allclose(table.loc[0, list(CLASS_NAMES)].sum(), 1.0, atol=1e-3)
    with Image.open(out / "astronaut.faces.png") as annotated:
        assert annotated.width > 500  # the whole photo, drawn at print resolution
    # a second run replaces the folder whole: nothing of the first is left
    Image.fromarray(astronaut()).save(tmp_path / "only.png")
    assert cli.main(["--quiet", "faces", str(tmp_path / "only.png"), "--run", str(synthetic_run.directory),
                     "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["faces.csv", "only.face1.png", "only.faces.png"]
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".out.staging")]


@pytest.mark.parametrize("args, message", [
    (["--min-confidence", "1.5"], "--min-confidence 1.5: must be in [0, 1]"),
    (["--min-confidence", "nan"], "--min-confidence nan: must be in [0, 1]"),
    (["--", "missing.jpg"], "missing.jpg: no such file or folder"),
])
def test_bad_faces_arguments_are_one_line_before_the_model_loads(args, message, tmp_path, monkeypatch, capsys):
    from fer_utils import runs

    monkeypatch.setattr(runs, "load_run", lambda *a: pytest.fail("the run was loaded before the arguments were checked"))
    photo = tmp_path / "me.png"
    Image.fromarray(gradient()).save(photo)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quiet", "faces", "--run", "somewhere", "--out", str(tmp_path / "out"), str(photo), *args])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_an_output_folder_of_other_files_is_refused_before_any_work(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(errors.InputError, match="contents that `fer-workbook faces` did not write"):
        photofaces.check_out(out)
    (out / "thesis.tex").unlink()
    (out / "faces.csv").write_text("name,score\n")  # a csv of the user's own, not ours
    with pytest.raises(errors.InputError, match="did not write"):
        photofaces.check_out(out)
    (out / "faces.csv").write_text(",".join(photofaces.columns()) + "\n")
    assert photofaces.check_out(out) == out.resolve()  # an earlier output: replaced
    link = tmp_path / "link"
    link.symlink_to(out)
    assert photofaces.check_out(link) == out.resolve()  # the folder it points to, not the link
    (tmp_path / "file").write_text("x")
    with pytest.raises(errors.InputError, match="is a file"):
        photofaces.check_out(tmp_path / "file")
    assert photofaces.check_out(tmp_path / "new") == (tmp_path / "new").resolve()


def test_photos_of_the_same_name_get_distinct_files_even_on_a_case_insensitive_disk():
    given = [Path("d2/a.png"), Path("d1/01-a.png"), Path("d1/a.png"), Path("d3/A.jpg"), Path("d1/a.jpg")]
    assert photofaces._stems(given) == ["a", "01-a", "a-d1", "A-d3", "a-2"]


def test_each_face_names_the_parts_its_grad_cam_covers_most_densely():
    from fer_utils import faces

    cam = np.zeros((1, 48, 48), np.float32)
    row0, row1, col0, col1 = faces.FER2013_REGIONS["mouth"]
    cam[0, row0:row1, col0:col1] = 1.0  # all on the mouth box
    cam[0, 0:2, 0:48] = 0.5  # and some on the hair, outside every part
    table = pd.DataFrame([["a/me.jpg", 1] + [0] * (len(photofaces.columns()) - 2)], columns=photofaces.columns())
    probabilities = np.array([[0.1, 0.0, 0.0, 0.6, 0.2, 0.0, 0.1]], np.float32)
    analysis = photofaces.Analysis(table=table, crops=np.zeros((1, 48, 48), np.uint8), probabilities=probabilities,
                                   grad_cam=cam, photos=[], no_face=[], skipped=[])
    [summary] = photofaces.face_summaries(analysis)
    assert (summary["label"], summary["runner_up"], summary["photo"]) == ("happy", "sad", "me.jpg")
    mouth_area, hair = (row1 - row0) * (col1 - col0), 0.5 * 2 * 48
    assert summary["parts"][0]["part"] == "mouth"
    assert summary["parts"][0]["share"] == pytest.approx(mouth_area / (mouth_area + hair))
    assert summary["parts"][0]["density"] == pytest.approx(summary["parts"][0]["share"] / (mouth_area / 48 ** 2))
    assert summary["outside"] == pytest.approx(hair / (mouth_area + hair))
    assert [part["share"] for part in summary["parts"][1:]] == [0, 0, 0]
