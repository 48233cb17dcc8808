"""Run the analysts' notebooks end to end: papermill executes a copy with the given parameters
(the committed notebook stays free of outputs), nbconvert writes it as a standalone HTML page.

`vendr notebooks run` and `make notebooks` use this; so does the test that proves every
notebook still runs against a real graph.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
from nbconvert import HTMLExporter


@dataclass(frozen=True)
class Report:
    notebook: Path  # the executed copy, outputs included
    html: Path
    seconds: float


class NotebookFailed(Exception):
    """A cell raised: the message names the notebook, the cell and the error."""


def all_notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def execute(
    path: Path,
    out_dir: Path,
    parameters: dict[str, Any] | None = None,
    *,
    cell_timeout: int = 600,
) -> Report:
    """Execute `path` into `out_dir` (same name) and render it as HTML beside it. The kernel
    starts in the notebook's own folder and inherits this process's environment (VENDR_*)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(path),
            str(target),
            parameters=parameters or {},
            kernel_name="python3",
            cwd=str(path.parent),
            progress_bar=False,
            execution_timeout=cell_timeout,
        )
    except papermill.PapermillExecutionError as exc:
        raise NotebookFailed(
            f"{path.name}, cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        ) from exc
    seconds = time.perf_counter() - started
    html, _ = HTMLExporter().from_notebook_node(nbformat.read(target, as_version=4))
    page = target.with_suffix(".html")
    page.write_text(html, encoding="utf-8")
    return Report(notebook=target, html=page, seconds=seconds)


def outputs_of(path: Path) -> list[str]:
    """The text a notebook printed or displayed, cell by cell: what a test reads back."""
    texts = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                texts.append(str(output["text"]))
            data = output.get("data", {})
            for kind in ("text/markdown", "text/plain"):  # the richest text form shown
                if kind in data:
                    texts.append(str(data[kind]))
                    break
    return texts


def is_stripped(path: Path) -> bool:
    """True when no cell carries outputs or an execution count: how notebooks are committed."""
    return all(
        not cell.get("outputs") and cell.get("execution_count") is None
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "code"
    )
