"""A task's own part of the report: an HTML section and terminal tables beside the common ones.

The task registry gives each task's section (`TaskSpec.report_section`); `autodata report` passes them to the
HTML page and the terminal, which render whatever sections they are given, each empty without its task's runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from autodata.report.tables import Report

# (headers, rows, table id) -> the HTML of one table, as the page renders every table.
HtmlTable = Callable[[list[str], list[list[str]], str], str]


@dataclass(frozen=True)
class ReportSection:
    html: Callable[[Report, HtmlTable], str]  # "" when the report holds none of the task's runs
    tables: Callable[[Report], list[Table]]  # [] likewise
