"""How realistic is the synthetic set? Cross-domain accuracy, measured in both directions.

Usage: python bench/realism.py --real PATH [--profile cpu] [--minutes 8] [--real-run DIR]

1. synthetic -> real: train on the embedded synthetic set (written first if missing) with a profile
   and time budget, then score every labeled face of the real file (none of them was seen in training).
2. real -> synthetic (with --real-run): score a run trained on real FER2013 (e.g. `fer-workbook train
   --profile cpu --data train.csv.gz`) on the synthetic PrivateTest faces.
Prints accuracy, macro-F1, macro recall and per-class recall next to chance (1/7) and the majority-class share.
Needs real labeled FER2013, so it is a benchmark, never a test. Runs go to a temporary folder.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def report(title, split, labels, predicted):
    """Print fer_utils.evaluate's metrics line, with macro recall, chance, the majority class and the predicted shares."""
    from fer_utils import CLASS_NAMES, evaluate

    metrics = evaluate.classification_metrics(labels, predicted)
    recall = [values["recall"] for values in metrics["per_class"].values() if values["support"]]
    majority = np.bincount(labels).max() / len(labels)
    print(f"{title}: macro recall {np.mean(recall):.3f}; chance {1 / len(CLASS_NAMES):.1%}, "
          f"majority class {majority:.1%}")
    print("  " + evaluate.metrics_line(split, metrics).strip())
    share = np.bincount(predicted, minlength=len(CLASS_NAMES)) / len(predicted)
    print("  predicted shares: " + "  ".join(f"{name} {value:.2f}" for name, value in zip(CLASS_NAMES, share)),
          flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", required=True, help="labeled real FER2013 (fer2013.csv or ML2017 train.csv)")
    parser.add_argument("--profile", default="cpu", help="profile trained on the synthetic set (default cpu)")
    parser.add_argument("--minutes", type=float, default=8.0, help="time budget of that training (default 8)")
    parser.add_argument("--real-run", help="a run trained on real data, scored on the synthetic PrivateTest")
    args = parser.parse_args(argv)

    from fer_utils import config, data, evaluate, runs, train

    synthetic = train.load_data(None, progress=True)  # the embedded set, written first if missing
    real = data.load(args.real, progress=False)
    real = real.subset(np.flatnonzero(real.y >= 0))
    if not len(real):
        sys.exit(f"{args.real}: no labeled faces")
    with tempfile.TemporaryDirectory() as runs_dir:
        settings = config.resolve(args.profile, time_budget=args.minutes)
        print(f"training {settings.model} ({args.profile} profile, {args.minutes:g} min) on the synthetic set ...",
              flush=True)
        run = train.train(settings, dataset=synthetic, runs_dir=runs_dir, progress=True)
        accuracy = run.metrics["splits"]["PrivateTest"]["accuracy"]
        print(f"synthetic PrivateTest accuracy of that model: {accuracy:.1%}")
        report("trained on synthetic, tested on real", "real", real.y, evaluate.run_probabilities(run, real.x, tta="none").argmax(1))
    if args.real_run:
        real_run = runs.load_run(args.real_run)
        test = synthetic.split("PrivateTest")
        report("trained on real, tested on synthetic PrivateTest", "synthetic", test.y,
               evaluate.run_probabilities(real_run, test.x, tta="flip").argmax(1))


if __name__ == "__main__":
    main()
