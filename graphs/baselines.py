"""The baseline graphs, CoT-Self-Instruct and Self-Instruct: wiring only, the logic lives in nodes/.

generate -> [CoT, verifiable tasks: consistency_solver x K -> consistency_filter; dropped -> assess]
-> the checks the task's arrangement names, in order: quality_verifier, end_filter, post_filter (a rejection
by either filter -> assess) -> weak_solver x k -> score_weak -> strong_solver x k -> score_strong -> assess.

One pass, no feedback loop. A baseline set goes through the filters its task's agentic set goes through
(METHOD.md section 6; the task registry's `baseline` arrangement): the CS research set through the end-of-loop
filter, the legal set through the legal post-filter in code. An item a filter rejects is not kept, and
stats.json counts it under `final_filter`. Every kept item is scored once by the same solvers, solver prompt,
judge and verifier as the agentic set (the strong solver runs even when the weak one succeeded, so both
averages exist for every item), and `assess` records whether it meets the acceptance policy.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from autodata.llm.models import ModelProvider
from autodata.nodes.baselines.assess import assess, end_filter_rejected
from autodata.nodes.baselines.checks import CHECKS, next_check, post_filter, scoring_sends
from autodata.nodes.baselines.consistency import (
    baseline_context,
    consistency_filter,
    consistency_sample,
    consistency_sends,
)
from autodata.nodes.baselines.generator import make_generator
from autodata.nodes.shared.common import family_of, run_context
from autodata.nodes.shared.end_filter import end_filter
from autodata.nodes.shared.quality_verifier import quality_verifier
from autodata.nodes.shared.score_samples import make_scorer
from autodata.nodes.shared.solver import solve
from autodata.state.baselines import BaselineContext, BaselineState, Method
from autodata.state.schemas import TaskFamily

# generate, consistency_solver, consistency_filter, 3 checks, 2 x (solver, scorer), assess.
RECURSION_LIMIT = 20


def _check_or_solve(state: BaselineState, runtime: Any, after: str | None) -> str | list[Send]:
    """The next check the task's arrangement runs after `after`, else the weak solver's samples."""
    return next_check(baseline_context(runtime).arrangement, after) or scoring_sends(state, runtime, "weak")


def _after_generate(cot: bool):
    async def route(state: BaselineState, runtime: Any) -> str | list[Send]:
        if state.item is None:
            return "assess"
        if cot and family_of(run_context(runtime)) is TaskFamily.VERIFIABLE:
            return consistency_sends(state, runtime)
        return _check_or_solve(state, runtime, None)

    route.__name__ = "after_generate_cot" if cot else "after_generate"
    return route


async def _kept_or_dropped(state: BaselineState, runtime: Any) -> str | list[Send]:
    if state.consistency and state.consistency.agrees:
        return _check_or_solve(state, runtime, None)
    return "assess"


def _after_check(check: str):
    # The quality verifier's verdict removes nothing (it is decided in `assess`); a filter's rejection does.
    async def route(state: BaselineState, runtime: Any) -> str | list[Send]:
        return "assess" if end_filter_rejected(state) else _check_or_solve(state, runtime, check)

    route.__name__ = f"after_{check}"
    return route


def _targets_after(check: str | None) -> list[str]:
    later = CHECKS[CHECKS.index(check) + 1 :] if check else CHECKS
    return [*later, "weak_solver", "assess"]


def _solve(role: str):
    # Scored once whatever the previous check said: the outcome is decided in `assess`.
    async def route(state: BaselineState, runtime: Any) -> list[Send]:
        return scoring_sends(state, runtime, role)

    route.__name__ = f"{role}_solver_sends"
    return route


def build_baseline(method: Method, provider: ModelProvider) -> StateGraph:
    cot = method == "cot-self-instruct"
    builder = StateGraph(BaselineState, context_schema=BaselineContext)
    builder.add_node("generate", make_generator(method, provider))
    builder.add_node("quality_verifier", partial(quality_verifier, provider=provider))
    builder.add_node("end_filter", partial(end_filter, provider=provider))
    builder.add_node("weak_solver", partial(solve, provider=provider))
    builder.add_node("score_weak", make_scorer("weak", provider))
    builder.add_node("strong_solver", partial(solve, provider=provider))
    builder.add_node("score_strong", make_scorer("strong", provider))
    builder.add_node("post_filter", post_filter)
    builder.add_node("assess", assess)

    builder.add_edge(START, "generate")
    targets = _targets_after(None)
    if cot:
        builder.add_node("consistency_solver", partial(consistency_sample, provider=provider))
        builder.add_node("consistency_filter", consistency_filter)
        builder.add_edge("consistency_solver", "consistency_filter")
        builder.add_conditional_edges("consistency_filter", _kept_or_dropped, _targets_after(None))
        targets.append("consistency_solver")
    builder.add_conditional_edges("generate", _after_generate(cot), targets)
    for check in CHECKS:
        builder.add_conditional_edges(check, _after_check(check), _targets_after(check))
    builder.add_edge("weak_solver", "score_weak")
    builder.add_conditional_edges("score_weak", _solve("strong"), ["strong_solver"])
    builder.add_edge("strong_solver", "score_strong")
    builder.add_edge("score_strong", "assess")
    builder.add_edge("assess", END)
    return builder


def graph_name(method: Method) -> str:
    return "cot_self_instruct" if method == "cot-self-instruct" else "self_instruct_baseline"


def compile_baseline(method: Method, provider: ModelProvider, **compile_kwargs: Any):
    return build_baseline(method, provider).compile(name=graph_name(method), **compile_kwargs)


# Served by `langgraph dev` (langgraph.json): compiled without a checkpointer, the server brings its own.
# Settings are read, and an embedded server started, on the first model call, not at import.
cot_self_instruct = compile_baseline("cot-self-instruct", ModelProvider.from_environment())
self_instruct_baseline = compile_baseline("self-instruct", ModelProvider.from_environment())
