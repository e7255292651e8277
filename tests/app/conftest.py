"""One model trained for all of tests/app: the real `train` command into a temp SQLite store."""

import pytest

from tests.helpers import run_id_of, train, using_store

MODEL_NAME = "digits-classifier"
MODEL_URI = f"models:/{MODEL_NAME}@champion"


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """(tracking URI, run id) of a 1-epoch digits MLP registered as digits-classifier@champion."""
    workdir = tmp_path_factory.mktemp("served-model")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    out = train(uri, workdir / "outputs")
    assert out.returncode == 0, out.stderr[-3000:]
    return uri, run_id_of(out.stdout)


@pytest.fixture(scope="session")
def pyfunc_model(trained_model):
    with using_store(trained_model[0]) as mlflow:
        return mlflow.pyfunc.load_model(MODEL_URI)
