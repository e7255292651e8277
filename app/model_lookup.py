"""Is `models:/NAME@ALIAS` (or `models:/NAME/VERSION`) there? One line saying what is, before anything loads.

MLflow answers a missing registered model with a multi-line exception, and in the model server
(a child process) with 76 lines of uvicorn and click traceback. serve, web and predict ask here
first, so a newcomer who typed a name before training reads what the store holds and what to do.
"""

from mlflow.exceptions import MlflowException

SHOWN = 5  # registered names listed in the message


def require_registered(mlflow, uri: str) -> str | None:
    """The version `uri` names (None for URIs that are not `models:/...`); ValueError in one line if absent."""
    if not uri.startswith("models:/"):
        return None
    rest = uri.removeprefix("models:/")
    name, sep, alias = rest.partition("@")
    version = None if sep else (rest.partition("/")[2] or None)
    if not sep:
        name = rest.partition("/")[0]
    client = mlflow.MlflowClient()
    store = mlflow.get_tracking_uri()
    try:
        model = client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise ValueError(f"no registered model '{name}' in {store} ({_others(client)}); {TRAIN_HINT}") from None
    if sep:
        if alias not in (model.aliases or {}):
            raise ValueError(
                f"registered model '{name}' has no alias '{alias}' in {store} ({_versions(client, name, model)}); "
                f"set it with python -m app promote {_promote_args(name)} --alias {alias}"
            )
        return str(model.aliases[alias])
    if version is None or not version.isdigit():
        return version  # models:/NAME/latest and the like: MLflow resolves them
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise ValueError(
            f"registered model '{name}' has no version {version} in {store} ({_versions(client, name, model)})"
        ) from None
    return version


TRAIN_HINT = "train it with make train-vgg DATA=path/to/photos (a folder registers <folder name>-classifier)"


def _promote_args(name: str) -> str:
    # promote's default name is <experiment>-classifier: name the experiment it picks the best run from.
    experiment = name.removesuffix("-classifier")
    return f"--experiment {experiment}" if experiment != name else f"--name {name}"


def _others(client) -> str:
    names = sorted(m.name for m in client.search_registered_models(max_results=100))
    if not names:
        return "no model is registered there yet"
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return "registered there: " + ", ".join(names[:SHOWN]) + more


def _versions(client, name: str, model) -> str:
    try:
        found = client.search_model_versions(f"name='{name}'", max_results=1000)
    except MlflowException:  # a name the filter syntax cannot quote: leave the versions out
        found = []
    versions = sorted(int(v.version) for v in found)
    aliases = ", ".join(f"{a}={v}" for a, v in sorted((model.aliases or {}).items())) or "none"
    shown = ", ".join(map(str, versions[-SHOWN:])) or "none"
    return f"versions {shown}; aliases {aliases}"


def load_model(mlflow, uri: str):
    """(the pyfunc at `uri`, its registered version or None), loaded from a private copy that is
    removed as soon as the model is in memory (a kill -9 later leaves nothing on disk); one-line errors."""
    from app.processes import owned_temp_dir, remove_owned_temp_dir
    from data.errors import first_line
    from pipelines.tracking.store import keep_project_packages_first

    version = require_registered(mlflow, uri)  # a missing name, alias or version: one line saying what exists
    pinned = uri
    if uri.startswith("models:/") and version and version.isdigit():  # the version just looked up, not a newer one
        pinned = f"models:/{uri.removeprefix('models:/').partition('@')[0].partition('/')[0]}/{version}"
    folder = owned_temp_dir("served-model-")
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=pinned, dst_path=folder)
        keep_project_packages_first()
        return mlflow.pyfunc.load_model(local), version
    except (MlflowException, OSError) as err:
        raise ValueError(f"model '{uri}' could not be loaded: {first_line(err, 200)}") from None
    finally:
        remove_owned_temp_dir(folder)
