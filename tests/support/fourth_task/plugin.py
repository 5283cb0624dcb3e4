"""Registers the glossary task when imported: what `AUTODATA_TASKS=tests.support.fourth_task.plugin` names."""

from autodata.tasks import register_task
from tests.support.fourth_task import TASK

register_task(TASK)
