"""The report names every mistake by its file, so a person can open the photo the model got wrong."""

import csv

import numpy as np

from pipelines.evaluation.report import Evaluation, write_report


def test_every_mistake_is_listed_by_file_most_confident_first(tmp_path):
    names = ["daisy", "rose", "tulip"]
    labels = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array(
        [
            [0.9, 0.05, 0.05],  # right
            [0.2, 0.7, 0.1],  # daisy taken for a rose, 0.7
            [0.1, 0.8, 0.1],  # right
            [0.05, 0.05, 0.9],  # rose taken for a tulip, 0.9: the most confident mistake
            [0.1, 0.1, 0.8],  # right
            [0.6, 0.2, 0.2],  # tulip taken for a daisy, 0.6
        ]
    )
    ids = [f"{names[y]}/IMG_{i:04d}.jpg" for i, y in enumerate(labels)]
    images = np.zeros((6, 8, 8, 3), np.uint8)
    write_report(Evaluation(names, labels, probabilities, None), tmp_path, images, ids=ids, max_misclassified=2)
    with (tmp_path / "misclassified.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["image"], r["true"], r["predicted"], r["probability"]) for r in rows] == [
        ("rose/IMG_0003.jpg", "rose", "tulip", "0.9"),
        ("daisy/IMG_0001.jpg", "daisy", "rose", "0.7"),
        ("tulip/IMG_0005.jpg", "tulip", "daisy", "0.6"),  # listed even beyond the grid's 2 images
    ]
    assert (tmp_path / "misclassified.png").stat().st_size > 0
