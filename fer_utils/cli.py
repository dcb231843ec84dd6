"""The ``fer-workbook`` command: parse arguments, merge profile and overrides, call fer_utils."""

import argparse
import inspect
import os
import sys
from pathlib import Path

from fer_utils import config as config_module
from fer_utils import errors, paths

#: Exit codes: bad input (a file, a path, a setting), an operation that failed (a notebook, a write), Ctrl-C.
EXIT_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def _default(function, name):
    """The library's default of ``function``'s parameter ``name`` (the CLI restates no default)."""
    return inspect.signature(function).parameters[name].default


def _parse_params(pairs):
    """``["epochs=3", "seed=1"]`` -> typed training overrides (``config.parse_pairs``, ``config.parse_value``)."""
    return {key: config_module.parse_value(key, text) for key, text in config_module.parse_pairs(pairs).items()}


def cmd_synth(args):
    from fer_utils import synth

    path = synth.write_csv(Path(args.out) if args.out else None, n=args.rows, seed=args.seed,
                           progress=not args.quiet)
    print(path)


def cmd_data(args):
    from fer_utils import data

    dataset = data.load(args.path, resize=args.resize, skip_unreadable=args.skip_unreadable, progress=not args.quiet)
    print(f"{dataset.source}: {dataset.form} form, {len(dataset):,} rows, sha256 {dataset.content_hash[:12]}")
    print(dataset.counts().to_string())


def cmd_train(args):
    from fer_utils import evaluate, narrative, train

    overrides = _parse_params(args.param)
    for key in ("model", "match", "seed", "ensemble"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.time_budget is not None:
        overrides["time_budget"] = args.time_budget
    config = config_module.resolve(args.profile, **overrides)
    if args.logical_cpus:
        train.configure_devices(args.logical_cpus)
    strategy = None
    if args.logical_cpus > 1:
        strategy = train.distribution_strategy([f"/cpu:{index}" for index in range(args.logical_cpus)])
    run = train.train(config, args.data, force=args.force, progress=not args.quiet, strategy=strategy)
    metrics = run.metrics
    print(f"evaluated with test-time augmentation: {metrics.get('tta', 'none')}")
    for split, values in metrics["splits"].items():
        print(evaluate.metrics_line(split, values))
    print(f"epochs {metrics['epochs_run']} (best {metrics['best_epoch']}, stopped by {metrics['stopped_by']}), "
          f"{metrics['train_seconds']:.0f} s, {metrics['train_images_per_second']:.0f} images/s")
    if metrics.get("weight_average"):
        print(narrative.weight_average(metrics["weight_average"]).strip())
    print(run.directory)


def cmd_predict(args):
    from fer_utils import data, evaluate, predict, runs

    run_directory = paths.resolve(args.run)
    inputs = [paths.resolve(args.data), *(run_directory.iterdir() if run_directory.is_dir() else [])]
    predict.check_out(args.out, inputs)  # before the minutes of predicting
    run = runs.load_run(args.run)
    dataset = data.load(args.data, resize=args.resize, skip_unreadable=args.skip_unreadable,
                        progress=not args.quiet)
    tta = args.tta or run.tta
    predicted = evaluate.run_probabilities(run, dataset.x, tta=tta).argmax(axis=1)
    out = predict.write_submission(args.out, dataset, predicted, inputs=inputs)
    labeled = dataset.y >= 0
    for usage in dataset.usages:
        rows = labeled & (dataset.usage == usage)
        if rows.any():
            print(evaluate.metrics_line(usage, evaluate.classification_metrics(dataset.y[rows], predicted[rows])))
    print(f"wrote {len(predicted):,} predictions to {out} (test-time augmentation: {tta})")


def cmd_faces(args):
    from fer_utils import photofaces, photos, runs

    out = photofaces.check_out(args.out)  # the arguments first, before the detector and the model load
    photos.photo_paths(args.photos)
    if not 0 <= args.min_confidence <= 1:
        raise errors.InputError(f"--min-confidence {args.min_confidence}: must be in [0, 1]")
    run = runs.load_run(args.run)
    tta = args.tta or run.tta
    analysis = photofaces.analyse(args.photos, run.load_model(), tta=tta, skip_unreadable=args.skip_unreadable,
                                  progress=not args.quiet, min_confidence=args.min_confidence)
    print("\n".join(photofaces.summary_lines(analysis)))
    written = photofaces.write(analysis, out)
    print(f"wrote {len(analysis.table)} face(s) of {len(analysis.photos)} photo(s) to {out} ({len(written)} files; "
          f"test-time augmentation: {tta})")


def cmd_audit(args):
    from fer_utils import audit, data, narrative

    dataset = data.combine([data.load(path, resize=args.resize, skip_unreadable=args.skip_unreadable,
                                      progress=not args.quiet) for path in args.paths])
    result = audit.audit(dataset, near_threshold=args.near_threshold, blank_std=args.blank_std,
                         progress=not args.quiet)
    table = audit.audit_table(result)
    table["share"] = table["share"].map(lambda share: f"{share:.2%}")
    print(table.to_string(index=False))
    print()
    print("class share per usage (%):")
    print(audit.balance_table(result).to_string())
    print()
    print(narrative.audit(audit.summary(result)))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with paths.atomic_write(out, "w", newline="") as handle:
            audit.duplicates_frame(result).to_csv(handle, index=False)
        print(f"wrote the duplicate and blank rows to {out}")


def cmd_run(args):
    from fer_utils import report, workbook

    chapters = report.notebooks()
    parameters = report.coerce_parameters(config_module.parse_pairs(args.param), chapters)
    parameters.setdefault("profile", args.profile)
    if args.data:
        from fer_utils import data

        parameters["data_path"] = str(data.existing_path(args.data))  # checked now, not in notebook 1
    workbook.check_parameters(parameters)  # a bad profile, model, seed or count: refused before notebook 1
    for path in report.run(parameters, out_dir=args.out, progress=not args.quiet):
        print(path)


def cmd_runs(args):
    from fer_utils import runs

    pruning = args.prune or args.dry_run
    if pruning:  # prune prints the table of what goes before deleting it
        rows = runs.prune(args.runs_dir, dry_run=args.dry_run, ignore_others=args.ignore_others)
    else:
        rows = runs.list_runs(args.runs_dir)
    if rows and (args.dry_run or not pruning):
        print(runs.runs_table(rows).to_string(index=False))
    if pruning:
        print(f"{len(rows)} stale run(s) {'would be deleted (run with --prune)' if args.dry_run else 'deleted'}")
    elif not rows:
        print(f"no runs in {args.runs_dir or paths.RUNS_DIR}")


def cmd_render(args):
    from fer_utils import layout, report

    try:
        html_path, pdf_path = report.render(args.executed, args.out, name=args.name, student_id=args.student_id,
                                            department=args.department, pdf=not args.no_pdf,
                                            collaborators=args.collaborators, check=args.check)
    except errors.LayoutError as error:  # the report is written: its problems one per line, then exit 1
        print("\n".join(map(layout.describe, error.problems)))
        raise
    print(html_path)
    if pdf_path:
        print(pdf_path)


def _image_options(parser):
    """``--resize`` and ``--skip-unreadable``, the options of every command that loads image folders."""
    parser.add_argument("--resize", action="store_true", help="resize images that are not 48x48 instead of refusing")
    parser.add_argument("--skip-unreadable", action="store_true",
                        help="skip files of an image folder that are not readable images, with a warning listing them")


def build_parser():
    """The argument parser of ``fer-workbook`` and its subcommands (defaults read from the library)."""
    from fer_utils import audit as audit_module
    from fer_utils import photofaces as photofaces_module
    from fer_utils import report as report_module
    from fer_utils import synth as synth_module

    parser = argparse.ArgumentParser(
        prog="fer-workbook",
        description="FER2013 course-report workbook: data, synthetic faces, training, prediction, the report.",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser("synth", help="write the seeded synthetic face set (fer2013.csv form)",
                                description="Write the seeded synthetic FER-like face set in the Kaggle fer2013.csv form.")
    synth.add_argument("--out", help=f"output file (default {paths.SYNTHETIC_CSV.relative_to(paths.PROJECT_ROOT)})")
    synth.add_argument("--rows", type=int, default=_default(synth_module.write_csv, "n"),
                       help="number of faces (default: FER2013's %(default)s)")
    synth.add_argument("--seed", type=int, default=_default(synth_module.write_csv, "seed"),
                       help="random seed (default %(default)s)")
    synth.set_defaults(handler=cmd_synth)

    data = commands.add_parser("data", help="load and validate a data set; print rows per split and class",
                               description="Load a FER2013 file or folder (fer2013.csv, ML2017 train/test.csv, "
                                           "image folders; .gz allowed), validate it and print a table.")
    data.add_argument("path", help="fer2013.csv, train.csv, test.csv (optionally .gz) or an image folder")
    _image_options(data)
    data.set_defaults(handler=cmd_data)

    train = commands.add_parser("train", help="train a model (or reuse the finished run); prints the run directory last",
                                description="Train a model preset under a profile. Settings merge in this order: "
                                            "defaults, the profile, --param, then the explicit flags.")
    defaults = ", ".join(f"{config_module.resolve(name).model} for {name}" for name in config_module.PROFILE_NAMES)
    train.add_argument("--model", help="model preset: vgg, vgg_fast, vgg_lean, vgg_small, seed2017, or dnn with --match "
                       f"(default: the profile's, {defaults})")  # preset names typed: importing models loads Keras
    train.add_argument("--match", help="for --model dnn: the CNN preset whose parameter count to match")
    train.add_argument("--data", help="data file or folder (default: the embedded synthetic set)")
    train.add_argument("--profile", default=config_module.DEFAULT_PROFILE, choices=config_module.PROFILE_NAMES,
                       help="settings profile (default %(default)s)")
    train.add_argument("--time-budget", type=float, help="minutes of training before stopping with the best weights")
    train.add_argument("--seed", type=int, help=f"random seed, 0 to {config_module.MAX_SEED}")
    train.add_argument("--param", action="append", metavar="KEY=VALUE", help="override any setting, e.g. epochs=3 (repeatable)")
    train.add_argument("--ensemble", type=int, metavar="N",
                       help=f"train N seeds (seed, seed+1, ...; N at most {config_module.MAX_ENSEMBLE}) and average "
                            "their probabilities; prints the ensemble's directory")
    train.add_argument("--force", action="store_true", help="retrain even if a finished run exists")
    train.add_argument("--logical-cpus", type=int, default=0, help=argparse.SUPPRESS)
    train.set_defaults(handler=cmd_train)

    predict = commands.add_parser("predict", help="write a Kaggle-style id,label submission",
                                  description="Predict labels with a trained run; print accuracy per Usage when the data has labels.")
    predict.add_argument("--run", required=True, help="run directory printed by `fer-workbook train`")
    predict.add_argument("--data", required=True, help="data file or folder to predict")
    predict.add_argument("--out", required=True, help="output csv (id,label)")
    predict.add_argument("--tta", choices=config_module.TTA_MODES,
                         help="test-time augmentation (default: the run's, e.g. ten_crop for the cpu profile)")
    _image_options(predict)
    predict.set_defaults(handler=cmd_predict)

    faces = commands.add_parser("faces", help="find, align, classify and explain the faces in ordinary photos",
                                description="Find every face in photos (MTCNN), frame it as FER2013, predict with a "
                                            "run's test-time augmentation, and write for each photo with a face an "
                                            "annotated copy, per face the aligned crop with its Grad-CAM overlay and "
                                            "probabilities, and faces.csv (photo, face, box, landmarks, the seven "
                                            "probabilities, label, figure file).")
    faces.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files (JPEG, PNG) or folders of them")
    faces.add_argument("--run", required=True, help="run directory printed by `fer-workbook train`")
    faces.add_argument("--out", default=str(paths.REPORT_DIR / "faces"),
                       help="output folder, replaced whole (default report/faces)")
    faces.add_argument("--tta", choices=config_module.TTA_MODES, help="test-time augmentation (default: the run's)")
    faces.add_argument("--min-confidence", type=float, default=_default(photofaces_module.analyse, "min_confidence"),
                       help="leave out faces the detector is less sure of, 0 to 1 (default %(default)s; MTCNN's own "
                            "last stage already drops those under 0.8)")
    faces.add_argument("--skip-unreadable", action="store_true",
                       help="skip files that are not readable images, listing them, instead of stopping")
    faces.set_defaults(handler=cmd_faces)

    audit = commands.add_parser("audit", help="find duplicates, blank images and class imbalance in a data set",
                                description="Audit one or more data files or folders (loaded together, so duplicates "
                                            "across e.g. train.csv and test.csv are found): exact and near duplicates "
                                            "within and across splits, blank or near-constant images, class balance.")
    audit.add_argument("paths", nargs="+", metavar="PATH", help="fer2013.csv, train.csv, test.csv (optionally .gz) or an image folder")
    audit.add_argument("--near-threshold", type=float, default=_default(audit_module.audit, "near_threshold"),
                       help="pixel correlation from which two images count as near duplicates (default 0.98)")
    audit.add_argument("--blank-std", type=float, default=_default(audit_module.audit, "blank_std"),
                       help="pixel standard deviation (grey levels) below which an image counts as blank (default 3)")
    audit.add_argument("--out", help="also write the rows involved (kind, group, row, usage, label) to this csv")
    _image_options(audit)
    audit.set_defaults(handler=cmd_audit)

    run = commands.add_parser("run", help="execute the five question notebooks in order with papermill",
                              description="Execute notebooks/NN-*.ipynb in order on the project's kernel, writing "
                                          "executed copies to report/executed (never over the committed notebooks).")
    run.add_argument("--profile", default=config_module.DEFAULT_PROFILE, choices=config_module.PROFILE_NAMES,
                     help="training profile (default %(default)s)")
    run.add_argument("--data", help="data file or folder (default: the embedded synthetic set)")
    run.add_argument("--param", action="append", metavar="KEY=VALUE",
                     help="a notebook parameter, e.g. model=seed2017 (repeatable; see papermill --help-notebook)")
    run.add_argument("--out", help="folder for the executed notebooks (default report/executed)")
    run.set_defaults(handler=cmd_run)

    runs = commands.add_parser("runs", help="list saved training runs; --prune deletes those the code no longer produces",
                               description="List the run directories (model, profile, data origin, validation "
                                           "accuracy, date, size, state). A run is stale when the current code would "
                                           "name it differently: the model architecture, the training code or the "
                                           "settings changed since it was trained. Only folders named and "
                                           "filled like runs are ever deleted; --prune refuses a runs folder that "
                                           "holds anything else unless --ignore-others.")
    runs.add_argument("--prune", action="store_true", help="delete the stale runs")
    runs.add_argument("--dry-run", action="store_true", help="list the stale runs --prune would delete")
    runs.add_argument("--ignore-others", action="store_true",
                      help="with --prune or --dry-run: leave entries that are not runs alone instead of refusing")
    runs.add_argument("--runs-dir", help=f"runs folder (default {paths.RUNS_DIR})")
    runs.set_defaults(handler=cmd_runs)

    render = commands.add_parser("render", help="turn the executed notebooks into report/report.html and .pdf",
                                 description="Render the executed notebooks into one report, code hidden, HTML and "
                                             "PDF (the PDF needs Chromium or Chrome and a CJK font).")
    render.add_argument("--name", default=report_module.PLACEHOLDER, help="your name for the header")
    render.add_argument("--student-id", default=report_module.PLACEHOLDER, help="your student ID for the header")
    render.add_argument("--department", default=report_module.PLACEHOLDER, help="your department for the header")
    render.add_argument("--collaborators", default=report_module.PLACEHOLDER,
                        help="who you worked with, for the header and each question (e.g. \"none\")")
    render.add_argument("--executed", help="folder of executed notebooks (default report/executed)")
    render.add_argument("--out", help="output folder (default report/)")
    render.add_argument("--no-pdf", action="store_true", help="HTML only")
    render.add_argument("--check", action="store_true",
                        help="check the printed layout (figure text >= 7 pt, captions beside their figures and "
                             "tables, no raw table cells, nothing wider than the page); print each problem on a "
                             "line and exit 1 when there is any")
    render.set_defaults(handler=cmd_render)
    return parser


def main(argv=None):
    """Entry point of ``fer-workbook``; returns the exit code.

    Bad input (``fer_utils.errors.InputError``: a file, path, setting or parameter) prints one line and exits
    with 2; a failed notebook or an OS error (disk full, permission) one line and 1; Ctrl-C one line and 130.
    Anything else is a bug and keeps its traceback (so does everything with ``FER_DEBUG=1``).
    """
    from fer_utils import quiet

    quiet.activate()  # before anything imports TensorFlow
    parser = build_parser()
    args = parser.parse_args(argv)

    def fail(code, message):
        if os.environ.get("FER_DEBUG"):
            raise
        parser.exit(code, f"fer-workbook {args.command}: error: {message}\n")

    try:
        args.handler(args)
    except errors.InputError as error:
        fail(EXIT_INPUT, str(error).splitlines()[0] if str(error) else type(error).__name__)
    except errors.WorkbookError as error:
        fail(EXIT_FAILED, str(error).splitlines()[0])
    except OSError as error:
        fail(EXIT_FAILED, f"{error.strerror or error}" + (f": {error.filename}" if error.filename else ""))
    except KeyboardInterrupt as error:  # errors.Interrupted says after which epoch
        fail(EXIT_INTERRUPTED, str(error) or "interrupted; run the same command again to resume")
    return 0


if __name__ == "__main__":
    sys.exit(main())
