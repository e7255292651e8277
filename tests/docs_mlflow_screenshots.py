"""Regenerate the README's MLflow UI walkthrough: `make docs-mlflow-screenshots` (`python -m tests.docs_mlflow_screenshots`).

Trains four small digits runs (two MLPs, a VGG and an Inception net) into a temp MLflow store
(nothing of yours is touched), starts the real `mlflow ui` on a free port and follows the
README's "Comparing runs in the MLflow UI" in headless Chromium, clicking what a person clicks:

1. docs/mlflow-table.png: the runs table sorted by best_val_accuracy, with the README's columns,
   grouped by the `model_family` tag with the aggregate set to Maximum;
2. docs/mlflow-charts.png: the chart view filtered to `val_` (each run's validation curves);
3. docs/mlflow-compare.png: Compare on the ticked runs, the parallel-coordinates plot set to
   model.name, learning rate, param_count -> best_val_accuracy;
4. docs/mlflow-compare-diff.png: the same page's parameter table with "Show diff only".

Each step checks what is on screen (the group rows, the chart titles, the plot's axes) and stops
with one line naming what it did not find, so a new MLflow UI that moved a control fails here
instead of producing a misleading picture. `--store URI` clicks through the runs already in that
store's "digits" experiment instead of training (tests/test_mlflow_walkthrough.py, on two runs).
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers import PYTHON, ROOT, app_command, chromium, client, env_for, free_port, running, screenshot_script

# Runs that differ the way a person's do: family, width, optimizer.
FULL_RUNS = [
    ["model.hidden_units=[64]", "train.optimizer.name=sgd", "train.optimizer.learning_rate=0.05", "train.epochs=8"],
    ["train.epochs=8"],  # the default config: MLP [512, 256], Adam
    ["--config", "pipelines/configs/digits_vgg.yaml", "train.epochs=3"],
    ["--config", "pipelines/configs/digits_inception.yaml", "train.epochs=3"],
]
TABLE_COLUMNS = [
    "best_val_accuracy", "best_epoch", "test_accuracy", "train_seconds", "param_count",
    "model.name", "train.optimizer.name", "train.optimizer.learning_rate",
]  # fmt: skip
PLOT_PARAMS = ["model.name", "train.optimizer.learning_rate", "param_count"]
PLOT_METRIC = "best_val_accuracy"
WIDTH, HEIGHT = 1400, 900
SHOTS = ("mlflow-table.png", "mlflow-charts.png", "mlflow-compare.png", "mlflow-compare-diff.png")


class Missing(Exception):
    """Something the walkthrough expects is not on screen."""


def expect_visible(locator, what: str, timeout_ms: float = 45_000) -> None:
    try:
        locator.first.wait_for(state="visible", timeout=timeout_ms)
    except Exception:
        raise Missing(f"not on screen: {what}") from None


def table_view(page, base: str, experiment_id: str, out: Path) -> None:
    """Sorted, the README's columns ticked, grouped by model family with the Maximum aggregate."""
    # The sort and the filter live in the URL; columns and grouping are clicked.
    page.goto(
        f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&searchFilter="
        "&orderByKey=metrics.%60best_val_accuracy%60&orderByAsc=false"
    )
    expect_visible(page.get_by_role("button", name="Columns", exact=True), "the Columns button of the runs table")
    page.get_by_role("button", name="Columns", exact=True).click()
    search = page.get_by_placeholder("Search columns")
    for name in ["Dataset", "Source", *TABLE_COLUMNS]:
        search.fill("" if name in ("Dataset", "Source") else name)
        node = page.locator(".du-bois-light-tree-treenode").filter(has_text=re.compile(f"^{re.escape(name)}$"))
        for _ in range(10):  # a filtered group can open folded: unfold it, as a person would
            page.wait_for_timeout(300)
            if node.first.is_visible():
                break
            for folded in page.locator(".du-bois-light-tree-switcher_close").all():
                folded.click()
        expect_visible(node, f"column '{name}' in the Columns list")
        node.first.locator(".du-bois-light-tree-checkbox").click()
    search.fill("")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Group by").click()
    page.get_by_role("menu").get_by_text("model_family", exact=True).click()
    page.get_by_role("button", name="Group by").click()  # choosing closed the menu; its gear sets the aggregate
    page.get_by_role("button", name="Change aggregation function").click()
    page.get_by_role("menuitemradio", name="Maximum").click()
    page.keyboard.press("Escape")
    page.mouse.click(WIDTH - 5, HEIGHT - 120)  # close any menu left open
    expect_visible(page.get_by_text("Group: mlp"), "the 'Group: mlp' row after Group by model_family")
    expect_visible(page.get_by_text("(max)"), "a '(max)' aggregate in the group rows")
    expect_visible(page.get_by_role("columnheader", name="best_val_accuracy"), "the best_val_accuracy column")
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "mlflow-table.png"))


def chart_view(page, out: Path) -> None:
    """Ungrouped (one curve per run), the charts filtered to the validation metrics."""
    page.get_by_role("button", name="Group by").locator("span[role=button]").click()  # its clear (x) icon
    page.locator("label:has(input[value=CHART])").click()
    search = page.get_by_placeholder("Search metric charts")
    expect_visible(search, "the 'Search metric charts' box of the chart view")
    search.fill("val_")
    for title in ("val_accuracy", "val_loss"):
        expect_visible(page.get_by_text(title, exact=True), f"the {title} chart")
    try:  # the filter applies as one types: wait until the other charts are gone
        page.get_by_text("grad_norm_max", exact=True).first.wait_for(state="hidden", timeout=15_000)
    except Exception:
        raise Missing("the 'val_' filter left other charts (grad_norm_max) on screen") from None
    page.wait_for_timeout(1500)  # the charts' lines animate in
    page.screenshot(path=str(out / "mlflow-charts.png"))


def compare_view(page, out: Path) -> None:
    """Tick every run, Compare, then give the parallel-coordinates plot axes that say something."""
    page.locator("label:has(input[value=TABLE])").click()
    page.locator(".ag-header-row input[type=checkbox]").first.check()
    page.get_by_role("button", name="Compare", exact=True).click()
    expect_visible(page.get_by_role("button", name="Clear All"), "the Compare page's parallel-coordinates controls")
    page.get_by_role("button", name="Clear All").click()
    params, metrics = page.get_by_role("combobox").nth(0), page.get_by_role("combobox").nth(1)
    for box, names in ((params, PLOT_PARAMS), (metrics, [PLOT_METRIC])):
        for name in names:
            box.click()
            box.fill(name)
            page.wait_for_timeout(400)  # the suggestion list filters as one types
            page.keyboard.press("Enter")
        page.keyboard.press("Escape")
    page.mouse.click(WIDTH - 5, 100)
    for name in (*PLOT_PARAMS, PLOT_METRIC):
        expect_visible(
            page.locator("svg text").filter(has_text=re.compile(f"^{re.escape(name)}$")), f"the '{name}' axis"
        )
    page.wait_for_timeout(800)
    page.screenshot(path=str(out / "mlflow-compare.png"))
    page.get_by_role("switch").first.click()  # "Show diff only"
    heading = page.get_by_text("Parameters", exact=True).last
    heading.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -120)")
    expect_visible(page.get_by_text("Show diff only"), "the 'Show diff only' switch")
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "mlflow-compare-diff.png"))


def main() -> int:
    args = screenshot_script(
        __doc__,
        lambda parser: parser.add_argument(
            "--store", help="MLflow tracking URI whose 'digits' experiment already holds 2+ runs: no training"
        ),
    )
    if args is None:
        return 1
    with tempfile.TemporaryDirectory(prefix="mlflow-shots-") as tmp:
        work = Path(tmp)
        store = args.store or f"sqlite:///{work / 'mlflow.db'}"
        for i, overrides in enumerate([] if args.store else FULL_RUNS):
            trained = train_run(store, work / f"run{i}", overrides)
            if trained.returncode != 0:
                print(f"error: training {overrides} failed:\n{trained.stderr[-2000:]}", file=sys.stderr)
                return 1
        experiment_id = _experiment_id(store, "digits")
        port = free_port()
        command = [str(Path(PYTHON).with_name("mlflow")), "ui", "--backend-store-uri", store]
        command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        base = f"http://127.0.0.1:{port}"
        with (
            running(command, f"{base}/health", work / "mlflow-ui.log", env_for(store), ours=False),
            chromium() as browser,
        ):
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.set_default_timeout(45_000)  # generous: `make test` runs it beside other tests
            # MLflow 3 opens its "MLflow Assistant" panel over a third of the page on a first visit;
            # a person closes it once (the browser remembers): start with it closed.
            page.add_init_script(
                "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
                "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
            )
            try:
                table_view(page, base, experiment_id, args.out)
                chart_view(page, args.out)
                compare_view(page, args.out)
            except Exception as err:  # Missing, or a Playwright timeout on a moved control
                shot = Path(tempfile.gettempdir()) / "mlflow-walkthrough-failed.png"
                page.screenshot(path=str(shot))
                print(
                    f"error: MLflow UI walkthrough: {str(err).splitlines()[0]} (the page then: {shot})", file=sys.stderr
                )
                return 1
    for name in SHOTS:
        print(f"wrote {args.out / name}")
    return 0


def train_run(store: str, output_dir: Path, arguments: list[str]) -> subprocess.CompletedProcess:
    """`app train [CONFIG] OVERRIDES` into `store`; "--config PATH" in `arguments` picks the config."""
    config = arguments[arguments.index("--config") + 1] if "--config" in arguments else None
    overrides = [a for a in arguments if a != "--config" and a != config]
    command = app_command("train", *([config] if config else []), f"output_dir={output_dir}", *overrides)
    return subprocess.run(command, cwd=ROOT, env=env_for(store), capture_output=True, text=True, timeout=900)


def _experiment_id(store: str, name: str) -> str:
    return client(store).get_experiment_by_name(name).experiment_id


if __name__ == "__main__":
    sys.exit(main())
