"""The method's rules (METHOD.md sections 1-2), one test each, driven by scripted models: solvers differ by model
only, the acceptance presets and their rule names, the rubric shape checked in code, the quality verifier's view
of the item, and the end-of-loop filter as a check of its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from autodata.commands.generate import GenerateJob, generate_options
from autodata.engine.corpus import iter_documents
from autodata.rules.format_rules import is_format_criterion
from autodata.graphs.self_instruct import build_self_instruct, recursion_limit
from autodata.llm.models import ModelProvider
from autodata.engine.rundir import RunDirectory
from autodata.tasks.runner import GenerateOptions, Generator
from autodata.rules.scoring import strong_failed_rule, weak_failed_rule
from autodata.llm.settings import ConfigError, Settings, load_settings
from autodata.state.context import RunContext
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import AttemptScore, RoundOutcome, TaskFamily
from autodata.state.self_instruct import SelfInstructState
from autodata.tasks import task_spec
from tests.support.graph_script import GraphScript, make_document, rubric_item
from tests.support.scripted import scripted_provider

REMOTE_ENV = {"AUTODATA_MODEL": "m", "AUTODATA_BASE_URL": "http://127.0.0.1:9/v1"}


class Recorder:
    """Wraps a script and keeps every request: (role, tool name, messages)."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.requests: list[tuple[str, str | None, list[BaseMessage]]] = []

    def __call__(self, role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        self.requests.append((role, tool, messages))
        return self.script(role, messages, tool)

    def of(self, role: str, tool: str | None = None) -> list[list[BaseMessage]]:
        return [m for r, t, m in self.requests if r == role and (tool is None or t == tool)]


async def run_graph(script: Any, settings: Settings | None = None, max_rounds: int = 1) -> SelfInstructState:
    provider = scripted_provider(script, **({"roles": settings.roles} if settings else {}))
    raw = await build_self_instruct(provider).compile().ainvoke(
        {"document": make_document()},
        context=RunContext(task="cs-research", max_rounds=max_rounds),
        config={"recursion_limit": recursion_limit(max_rounds)},
    )
    return SelfInstructState.model_validate(raw)


def texts(request: list[BaseMessage]) -> tuple[tuple[str, str], ...]:
    return tuple((type(message).__name__, str(message.content)) for message in request)


# -- solvers differ by model, not by prompt -------------------------------------------------------------------


async def test_weak_and_strong_solver_requests_carry_identical_messages_and_temperature():
    settings = load_settings(env=REMOTE_ENV)
    recorder = Recorder(GraphScript(items=[rubric_item("Which scheduler degrades more gracefully under load?")]))
    state = await run_graph(recorder, settings)
    assert state.status == "accepted"
    weak, strong = recorder.of("weak"), recorder.of("strong")
    assert len(weak) == len(strong) == 3  # cs-research: 3 + 3 samples
    assert {texts(r) for r in weak} == {texts(r) for r in strong} and len({texts(r) for r in weak}) == 1
    provider = ModelProvider(settings)
    bodies = {role: provider.chat_model(role).request_body(weak[0]) for role in ("weak", "strong")}
    assert bodies["weak"]["temperature"] == bodies["strong"]["temperature"] == 1.0
    assert bodies["weak"]["messages"] == bodies["strong"]["messages"]
    assert settings.solver_asymmetry() == {}


def test_the_embedded_demo_states_its_solver_budget_difference():
    asymmetry = load_settings(env={}).solver_asymmetry()
    assert asymmetry["reasoning"] == {"weak": False, "strong": True}
    assert asymmetry["max_tokens"]["weak"] < asymmetry["max_tokens"]["strong"]
    assert load_settings(env={}).public_dict()["solver_asymmetry"] == asymmetry


def test_weak_and_strong_sample_counts_are_separate():
    assert (RunContext(task="cs-research").weak_samples, RunContext(task="cs-research").strong_samples) == (3, 3)
    both = RunContext(samples=5, strong_samples=2)  # the older option sets both; a role's own count wins
    assert (both.weak_samples, both.strong_samples) == (5, 2)
    assert RunContext().max_rounds == 20


def test_toml_sets_sample_counts_and_rounds_and_the_command_line_wins(tmp_path):
    config = tmp_path / "autodata.toml"
    config.write_text("[generation]\nsamples = 4\nstrong_samples = 2\nrounds = 7\n")
    settings = load_settings(config, env={})
    assert settings.context_overrides() == {"weak_samples": 4, "strong_samples": 2, "max_rounds": 7}
    assert settings.context_overrides(samples=6, rounds=3) == {"weak_samples": 6, "strong_samples": 6, "max_rounds": 3}
    assert settings.context_overrides(weak_samples=1)["weak_samples"] == 1


# -- acceptance presets ---------------------------------------------------------------------------------------


def scores(role: str, values: tuple[float, ...]) -> list[AttemptScore]:
    return [AttemptScore(round=1, role=role, sample_index=i, score=v) for i, v in enumerate(values)]


def failed_rule(preset: str, weak: tuple[float, ...], strong: tuple[float, ...], **overrides: Any) -> str | None:
    policy = AcceptancePolicy(preset=preset, **overrides)
    weak_scores, strong_scores = scores("weak", weak), scores("strong", strong)
    return weak_failed_rule(weak_scores, TaskFamily.RUBRIC, policy) or strong_failed_rule(
        weak_scores, strong_scores, TaskFamily.RUBRIC, policy
    )


W3, S9 = (0.3, 0.3, 0.3), (0.9, 0.9, 0.9)


@pytest.mark.parametrize(
    ("preset", "weak", "strong", "rule"),
    [
        ("deployed", (0.65, 0.65, 0.65), S9, None),  # weak avg <= .65
        ("deployed", (0.66, 0.66, 0.66), S9, "weak_avg_ceiling"),
        ("deployed", (0.75, 0.6, 0.6), S9, None),  # best weak <= .75
        ("deployed", (0.76, 0.55, 0.55), S9, "weak_max_ceiling"),
        ("deployed", (0.0, 0.4, 0.4), S9, "weak_zero"),
        ("deployed", W3, (0.6, 0.6, 0.6), None),  # .60 <= strong avg
        ("deployed", W3, (0.59, 0.59, 0.59), "strong_floor"),
        ("deployed", W3, (0.94, 0.94, 0.94), None),  # strong avg < .95
        ("deployed", W3, (0.95, 0.95, 0.95), "strong_ceiling"),
        ("deployed", W3, (0.0, 0.95, 0.95), "strong_zero"),
        ("deployed", (0.45, 0.45, 0.45), (0.65, 0.65, 0.65), None),  # gap >= .20
        ("deployed", (0.46, 0.46, 0.46), (0.65, 0.65, 0.65), "gap"),
        ("prose", (0.49, 0.49, 0.49), (0.7, 0.7, 0.7), None),  # weak avg < .50
        ("prose", (0.5, 0.5, 0.5), (0.9, 0.9, 0.9), "weak_avg_ceiling"),
        ("prose", (0.0, 0.0, 0.0), (0.65, 0.65, 0.65), None),  # no zero floors
        ("prose", W3, (0.64, 0.64, 0.64), "strong_floor"),
        ("prose", W3, (1.0, 1.0, 1.0), None),  # no strong ceiling
        ("prose", (0.49, 0.49, 0.49), (0.68, 0.68, 0.68), "gap"),
        ("meta", (0.65, 0.65, 0.65), (0.95, 0.95, 0.95), None),  # weak <= .65, strong <= .95
        ("meta", (0.66, 0.66, 0.66), S9, "weak_avg_ceiling"),
        ("meta", (0.76, 0.4, 0.4), S9, "weak_max_ceiling"),
        ("meta", (0.0, 0.3, 0.3), (0.0, 0.9, 0.9), None),  # no zero floors
        ("meta", W3, (0.96, 0.96, 0.96), "strong_ceiling"),
        ("meta", W3, (0.59, 0.59, 0.59), "strong_floor"),
        ("meta", (0.5, 0.5, 0.5), (0.69, 0.69, 0.69), "gap"),
    ],
)
def test_each_preset_s_boundaries(preset, weak, strong, rule):
    assert failed_rule(preset, weak, strong) == rule


def test_every_threshold_is_overridable():
    assert failed_rule("deployed", (0.55, 0.55, 0.55), S9, weak_max_avg=0.5) == "weak_avg_ceiling"
    assert failed_rule("deployed", (0.0, 0.4, 0.4), S9, no_weak_zero=False) is None
    assert failed_rule("prose", W3, (1.0, 1.0, 1.0), strong_avg_below=0.95) == "strong_ceiling"


def test_presets_are_chosen_per_task_and_in_the_toml(tmp_path):
    assert RunContext(task="cs-research").policy.preset == "deployed"
    legal = task_spec("legal").options(GenerateOptions(task="legal"))  # the registry's preset for the task
    assert legal.context().policy.preset == "prose"
    config = tmp_path / "autodata.toml"
    config.write_text('[policy]\npreset = "meta"\nmin_gap = 0.3\n')
    settings = load_settings(config, env={})
    policy = RunContext(task="cs-research", policy=settings.policy).policy
    assert (policy.preset, policy.strong_max_avg, policy.min_gap, policy.no_weak_zero) == ("meta", 0.95, 0.3, None)
    config.write_text('[policy]\npreset = "lenient"\n')
    with pytest.raises(ConfigError, match="preset"):
        load_settings(config, env={})


async def test_a_round_whose_weak_scores_are_all_zero_is_rejected_with_weak_zero():
    recorder = Recorder(GraphScript(items=[rubric_item("Q?")], judge_hits=lambda answer, n: [False] * n))
    state = await run_graph(recorder)
    [record] = state.rounds
    assert record.outcome is RoundOutcome.TOO_EASY and record.rule == "weak_zero"
    assert recorder.of("strong") == []  # weak rules are checked first; the strong solver never ran


# -- rubric shape in code, before any quality-verifier call ---------------------------------------------------


def broken_rubric(change: str) -> dict[str, Any]:
    item = rubric_item("Which scheduler degrades more gracefully under load?")
    rubric = item["rubric"]
    if change == "format":
        rubric[0] = {"criterion": "The answer is well structured and uses clear notation", "weight": 2.0}
    elif change == "two_negatives":
        rubric[-1] = {"criterion": "predicts the queue drains", "weight": 1.0, "category": "positive"}
    elif change == "fractional_weight":
        rubric[1]["weight"] = 2.5
    elif change == "weight_too_large":
        rubric[1]["weight"] = 15.0
    elif change == "category_sign":
        rubric[2]["category"] = "negative"
    return item


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ("format", "rubric_format_criterion"),
        ("two_negatives", "rubric_negatives"),
        ("fractional_weight", "rubric_integer_weights"),
        ("weight_too_large", "rubric_weight_range"),
        ("category_sign", "rubric_category_sign"),
    ],
)
async def test_a_rubric_breaking_a_shape_rule_fails_the_quality_check_without_a_model_call(change, rule):
    recorder = Recorder(GraphScript(items=[broken_rubric(change)]))
    state = await run_graph(recorder)
    [record] = state.rounds
    assert record.outcome is RoundOutcome.FAILED_QUALITY_CHECK and record.rule == rule
    assert record.quality[0].rule == rule and record.quality[0].reasons
    assert recorder.of("quality_verifier") == [] and recorder.of("weak") == []


@pytest.mark.parametrize(
    "criterion", ["Is well structured", "Uses correct notation", "Is clear and concise", "Cites the original paper",
                  "Keeps the answer under 100 words", "Uses bullet points"],
)  # fmt: skip
def test_format_criteria_are_recognised(criterion):
    assert is_format_criterion(criterion)


@pytest.mark.parametrize(
    "criterion", ["Predicts that memory grows quadratically with sequence length",
                  "Notes that a context-free grammar cannot express the constraint",
                  "Identifies the citation graph's degree distribution as heavy-tailed",
                  "Recognises that well-structured sparsity maps onto tensor cores"],
)  # fmt: skip
def test_research_terms_are_not_taken_for_format_criteria(criterion):
    assert not is_format_criterion(criterion)


# -- the quality verifier's view and verdicts -----------------------------------------------------------------


def labelled(question: str) -> dict[str, Any]:
    return {**rubric_item(question), "question_type": "failure mode prediction"}


async def test_the_quality_verifier_request_holds_the_document_type_and_every_criterion():
    item = labelled("Which scheduler degrades more gracefully under load?")
    recorder = Recorder(GraphScript(items=[item]))
    await run_graph(recorder)
    [request] = recorder.of("quality_verifier", "QualityReport")
    user = str(request[-1].content)
    assert make_document().text in user and "failure mode prediction" in user
    for number, criterion in enumerate(item["rubric"], start=1):
        assert f"{number}. [" in user and criterion["criterion"] in user
    assert "weight -1.0] claims the method needs labels (variant 0)" in user


async def test_the_four_checks_are_recorded_and_any_failure_fails_the_item():
    report = {"leakage": "OK", "question_quality": "TOO_EASY", "rubric": "FAIL", "type_matches": True,
              "rubric_issues": ["criterion 3 is vague"], "feedback": "Ask for a prediction."}  # fmt: skip
    state = await run_graph(GraphScript(items=[labelled("Explain why it works?")], quality=lambda text: report))
    verdict = state.rounds[0].quality[0]
    assert not verdict.passed and state.rounds[0].rule == "question_quality"
    assert (verdict.leakage, verdict.question_quality, verdict.rubric_check, verdict.type_matches) == (
        "OK", "TOO_EASY", "FAIL", True,
    )  # fmt: skip
    assert verdict.rubric_counts == "Positive: 7, Negative: 3, Total: 10"
    assert verdict.rubric_issues == ["criterion 3 is vague"] and verdict.feedback == "Ask for a prediction."


# -- the end-of-loop filter -----------------------------------------------------------------------------------


async def test_the_end_filter_is_a_different_request_from_the_quality_verifier():
    recorder = Recorder(GraphScript(items=[labelled("Which scheduler degrades more gracefully under load?")]))
    state = await run_graph(recorder)
    assert state.status == "accepted"
    [in_loop] = recorder.of("quality_verifier", "QualityReport")
    [end_filter] = recorder.of("quality_verifier", "EndFilterReport")
    assert str(in_loop[0].content) != str(end_filter[0].content)  # its own prompt
    assert [q.stage for q in state.rounds[0].quality] == ["initial", "end_filter"]


async def test_the_end_filter_rejects_a_too_short_context_in_code():
    item = {**labelled("Which scheduler degrades more gracefully under load?"), "context": "Two schedulers."}
    recorder = Recorder(GraphScript(items=[item]))
    state = await run_graph(recorder)
    [record] = state.rounds
    assert record.outcome is RoundOutcome.FAILED_QUALITY_CHECK and record.rule == "end_filter_short_context"
    assert recorder.of("quality_verifier", "EndFilterReport") == []  # rejected before any model call


async def test_end_filter_rejections_are_counted_apart_in_stats(tmp_path):
    documents = tmp_path / "src"
    documents.mkdir()
    for name in ("a", "b"):
        (documents / f"{name}.md").write_text(f"# Paper {name.upper()}\n\nSchedulers under load, part {name}.")

    def end_filter(text: str) -> dict[str, Any]:
        return {"passed": "Paper B" not in text, "reasons": ["the context names the winner"]}

    def challenger(role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        paper = "Paper A" if "Paper A" in str(messages[-1].content) else "Paper B"
        return labelled(f"Which scheduler of {paper} degrades more gracefully under load?")

    script = GraphScript(items=[None], end_filter=end_filter)
    provider = scripted_provider(lambda r, m, t: challenger(r, m, t) if r == "challenger" else script(r, m, t))
    run_dir = RunDirectory(tmp_path / "run")
    generator = Generator(GenerateOptions(task="cs-research", max_rounds=1), provider, run_dir)
    stats = await generator.run(iter_documents(documents, max_chars=2000))
    saved = json.loads(run_dir.file("stats.json").read_text())
    assert saved["final_filter"] == {"passed": 1, "rejected": 1} and stats.accepted == 1
    assert saved["rejection_rules"] == {"failed_quality_check:end_filter_rubric": 1}
    assert saved["solver_asymmetry"] == load_settings(env={}).solver_asymmetry() != {}
    [item] = run_dir.items()
    assert [(q["stage"], q["passed"], q["question_quality"]) for q in item["quality"]] == [
        ("initial", True, "GOOD"), ("end_filter", True, None),
    ]  # fmt: skip
    config = json.loads(run_dir.file("config.json").read_text())
    assert config["settings"]["solver_asymmetry"] == saved["solver_asymmetry"]
    assert (config["context"]["weak_samples"], config["context"]["policy"]["preset"]) == (3, "deployed")


def test_command_line_sizes_and_preset_reach_the_run_context(tmp_path):
    config = tmp_path / "autodata.toml"
    config.write_text("[generation]\nsamples = 5\n\n[policy]\nmin_gap = 0.3\n")
    settings = load_settings(config, env={})
    job = GenerateJob("cs-research", tmp_path, tmp_path / "out", strong_samples=2, policy="meta", rounds=9)
    ctx = generate_options(job, settings).context()
    assert (ctx.weak_samples, ctx.strong_samples, ctx.max_rounds) == (5, 2, 9)
    assert (ctx.policy.preset, ctx.policy.min_gap, ctx.policy.strong_max_avg) == ("meta", 0.3, 0.95)
    plain = generate_options(GenerateJob("cs-research", tmp_path, tmp_path / "out"), load_settings(env={})).context()
    assert (plain.weak_samples, plain.strong_samples, plain.max_rounds, plain.policy.preset) == (3, 3, 20, "deployed")


def test_generate_accepts_the_new_options(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from autodata.cli import app
    from autodata.commands import generate as generate_command

    jobs: list[GenerateJob] = []
    monkeypatch.setattr(generate_command, "run_jobs", lambda batch, config, max_requests: jobs.extend(batch) or [])
    monkeypatch.setattr(generate_command, "print_summary", lambda console, results: None)
    command = ["generate", "--task", "cs-research", "--sources", str(tmp_path), "--out", str(tmp_path / "out"),
               "--weak-samples", "4", "--strong-samples", "2", "--policy", "prose"]  # fmt: skip
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert (jobs[0].weak_samples, jobs[0].strong_samples, jobs[0].policy, jobs[0].samples) == (4, 2, "prose", None)
    refused = CliRunner().invoke(app, [*command[:-1], "lenient"])
    assert refused.exit_code == 2 and "lenient" in refused.output


# -- feedback names what happened: every rejection rule its own wording ----------------------------------------


def hits_in_turn(weak: list[int], strong: list[int]):
    """A judge that gives the k-th judged weak (strong) answer weak[k % len] (strong[...]) positive hits."""
    seen = {"weak": 0, "strong": 0}

    def judge_hits(answer: str, n: int) -> list[bool]:
        role = "strong" if answer.startswith("strong") else "weak"
        plan = strong if role == "strong" else weak
        met = plan[seen[role] % len(plan)]
        seen[role] += 1
        return [index < met for index in range(n)]

    return judge_hits


# rubric_item: 7 positive criteria of weight 1, so k hits score k/7 (deployed preset).
RULE_CASES = {
    "weak_avg_ceiling": ([5, 5, 5], [7], "TOO EASY", "harder for the weak model", "TOO EASY (the weak model scored"),
    "weak_max_ceiling": ([6, 2, 2], [7], "TOO EASY", "single-answer ceiling", "TOO EASY (the weak model scored"),
    "weak_zero": ([0, 0, 0], [6], "OUT OF THE WEAK MODEL'S REACH", "make partial credit attainable",
                  "OUT OF THE WEAK MODEL'S REACH (a weak answer earned nothing"),
    "strong_floor": ([2], [4], "FAILED ON STRONG", "under its floor", "FAILED ON STRONG (the strong model could not"),
    "strong_zero": ([2], [0, 7, 7], "FAILED ON STRONG", "a strong sample earned no credit",
                    "FAILED ON STRONG (the strong model could not"),
    "strong_ceiling": ([2], [7], "TOO EASY FOR BOTH", "harder for both", "TOO EASY FOR BOTH (the strong model"),
    "gap": ([4], [5], "NO GAP", "did not beat the weak one by enough", "FAILED ON STRONG (the strong model could not"),
}  # fmt: skip
WRONG_WAY = {  # words each rule's feedback must not use: they point the other way
    "weak_zero": ("it must fail", "Outcome: TOO EASY", "TOO EASY (the weak model scored too high"),
    "strong_ceiling": ("the strong one must succeed", "Outcome: FAILED ON STRONG", "FAILED ON STRONG ("),
}


@pytest.mark.parametrize("rule", sorted(RULE_CASES))
async def test_each_rejection_rule_reaches_orchestrator_and_challenger_in_its_own_words(rule):
    weak, strong, label, direction, group = RULE_CASES[rule]
    judge_hits = hits_in_turn(weak, strong)
    recorder = Recorder(GraphScript(items=[labelled("Which scheduler degrades more gracefully under load?")],
                                    judge_hits=judge_hits))  # fmt: skip
    state = await run_graph(recorder, max_rounds=2)
    assert state.rounds[0].rule == rule
    orchestrator_user = str(recorder.of("orchestrator")[0][-1].content)
    assert f"Outcome: {label}\n" in orchestrator_user and f"rule {rule}: " in orchestrator_user
    assert direction in orchestrator_user
    challenger_round_two = str(recorder.of("challenger")[1][-1].content)
    assert group in challenger_round_two
    for wrong in WRONG_WAY.get(rule, ()):
        assert wrong not in orchestrator_user and wrong not in challenger_round_two
    if rule == "weak_zero":
        assert "every weak sample scored 0" in orchestrator_user
    assert state.feedback[0].details[-1].startswith(f"rule {rule}: ")  # recorded in the trajectory too


def test_every_acceptance_rule_has_its_own_direction():
    from autodata.nodes.self_instruct.refinement import RULE_VERDICTS
    from autodata.rules.scoring import RUBRIC_RULES, VERIFIABLE_RULES

    names = {rule.name for rule in (*RUBRIC_RULES, *VERIFIABLE_RULES)}
    assert names <= set(RULE_VERDICTS)
    directions = [RULE_VERDICTS[name].direction for name in names]
    assert len(set(directions)) == len(directions)


# -- the end-of-loop filter removes; it does not teach --------------------------------------------------------


def two_papers(tmp_path) -> Any:
    documents = tmp_path / "src"
    documents.mkdir(exist_ok=True)
    for name in ("a", "b"):
        (documents / f"{name}.md").write_text(f"# Paper {name.upper()}\n\nSchedulers under load, part {name}.")
    return documents


def filter_rejects_paper_b(requests: list[tuple[str, str]]):
    script = GraphScript(items=[None], end_filter=lambda text: {"passed": "Paper B" not in text,
                                                                "reasons": ["the context names the winner"]})

    def run(role: str, messages: list[BaseMessage], tool: str | None) -> Any:
        text = "\n".join(str(m.content) for m in messages)
        requests.append((role, text))
        if role == "challenger":
            paper = "Paper A" if "Paper A" in str(messages[-1].content) else "Paper B"
            return labelled(f"Which scheduler of {paper} degrades more gracefully under load?")
        return script(role, messages, tool)

    return run


async def test_an_item_the_end_filter_rejects_is_dropped_not_fed_back(tmp_path):
    import io

    from rich.console import Console

    from autodata.report.summary import print_summary

    requests: list[tuple[str, str]] = []
    run_dir = RunDirectory(tmp_path / "run")
    generator = Generator(GenerateOptions(task="cs-research", max_rounds=5), scripted_provider(
        filter_rejects_paper_b(requests)), run_dir)  # fmt: skip
    stats = await generator.run(iter_documents(two_papers(tmp_path), max_chars=2000))
    rows = {row["doc_id"]: row for row in run_dir.trajectories()}
    assert rows["a"]["status"] == "accepted" and rows["b"]["status"] == "filtered"
    [record] = rows["b"]["rounds"]  # no new round after the filter's rejection
    assert record["item"]["question"].startswith("Which scheduler of Paper B")
    assert record["rule"] == "end_filter_rubric"
    assert "end filter: the context names the winner" in record["quality"][-1]["reasons"]
    challengers_b = [text for role, text in requests if role == "challenger" and "Paper B" in text]
    assert len(challengers_b) == 1 and not any("names the winner" in text for _, text in requests if _ == "challenger")
    saved = json.loads(run_dir.file("stats.json").read_text())
    assert saved["end_filter"] == {"accepted_in_loop": 2, "kept_after_filter": 1, "removed": 1}
    assert stats.accepted == 1 and [item["source_doc_id"] for item in run_dir.items()] == ["a"]
    config = json.loads(run_dir.file("config.json").read_text())
    assert config["context"]["policy"]["end_filter_feedback"] is False
    out = io.StringIO()
    print_summary(Console(file=out, width=200), [(stats, run_dir)])
    assert "end-of-loop filter: 2 accepted in the loop -> 1 kept after the filter (1 removed)" in out.getvalue()


async def test_feeding_the_end_filter_s_reasons_back_is_an_explicit_option(tmp_path):
    requests: list[tuple[str, str]] = []
    run_dir = RunDirectory(tmp_path / "run")
    options = GenerateOptions(task="cs-research", max_rounds=2, policy_overrides={"end_filter_feedback": True})
    stats = await Generator(options, scripted_provider(filter_rejects_paper_b(requests)), run_dir).run(
        iter_documents(two_papers(tmp_path), max_chars=2000)
    )
    rows = {row["doc_id"]: row for row in run_dir.trajectories()}
    assert rows["b"]["status"] == "exhausted" and len(rows["b"]["rounds"]) == 2
    challengers_b = [text for role, text in requests if role == "challenger" and "Paper B" in text]
    assert len(challengers_b) == 2 and "the context names the winner" in challengers_b[1]
    assert json.loads(run_dir.file("config.json").read_text())["context"]["policy"]["end_filter_feedback"] is True
    assert stats.end_filter_attrition() == {"accepted_in_loop": 1, "kept_after_filter": 1, "removed": 0}


# -- the label shapes the challenger prompt promises are checked in code --------------------------------------


@pytest.mark.parametrize(
    ("labels", "rule"),
    [({"question_type": "deep insight probe"}, "question_type_unlisted"),
     ({"reasoning_skills": ["causal reasoning", "design tradeoff"]}, "reasoning_skills_shape"),
     ({"reasoning_skills": ["causal_reasoning"]}, "reasoning_skills_shape")],
)  # fmt: skip
async def test_a_label_outside_the_prompt_s_promise_fails_the_quality_check_in_code(labels, rule):
    from autodata.rules.format_rules import RESEARCH_QUESTION_TYPES

    recorder = Recorder(GraphScript(items=[{**labelled("Which scheduler degrades more gracefully?"), **labels}]))
    state = await run_graph(recorder)
    [record] = state.rounds
    assert record.outcome is RoundOutcome.FAILED_QUALITY_CHECK and record.rule == rule
    assert recorder.of("quality_verifier") == []  # rejected before any model call
    challenger_system = str(recorder.of("challenger")[0][0].content)
    assert all(kind in " ".join(challenger_system.split()) for kind in RESEARCH_QUESTION_TYPES)


async def test_a_rubric_item_s_reference_answer_is_not_held_to_one_sentence():
    long_answer = "The work-stealing scheduler degrades more gracefully. Idle workers take queued tasks. " * 4
    item = {**labelled("Which scheduler degrades more gracefully under load?"), "reference_answer": long_answer}
    state = await run_graph(GraphScript(items=[item]))
    assert state.status == "accepted"


# -- the demo keeps the method's rules, and a run that accepts nothing shows a rejected round ------------------


def test_the_demo_config_shortens_budgets_but_relaxes_no_rule():
    from pathlib import Path

    settings = load_settings(Path(__file__).parents[3] / "configs" / "embedded-demo.toml", env={})
    assert settings.policy == {} and "legal" not in settings.graph_settings
    demo_ctx = GenerateOptions(task="cs-research", policy_overrides=settings.policy).context()
    assert demo_ctx.policy == RunContext(task="cs-research").policy


async def test_a_run_that_accepts_nothing_prints_one_rejected_round(tmp_path):
    import io

    from rich.console import Console

    from autodata.report.summary import print_summary

    documents = tmp_path / "src"
    documents.mkdir()
    (documents / "a.md").write_text("# Paper A\n\nSchedulers under load.")
    script = GraphScript(items=[labelled("Which scheduler degrades more gracefully under load?")],
                         judge_hits=lambda answer, n: [False] * n)  # fmt: skip
    run_dir = RunDirectory(tmp_path / "run")
    stats = await Generator(GenerateOptions(task="cs-research", max_rounds=1), scripted_provider(script), run_dir).run(
        iter_documents(documents, max_chars=2000)
    )
    out = io.StringIO()
    print_summary(Console(file=out, width=300), [(stats, run_dir)])
    text = out.getvalue()
    assert "nothing was accepted; one rejected round (a, round 1):" in text
    assert "question: Which scheduler degrades more gracefully under load?" in text
    assert "rule: weak_zero" in text and "reason: weak scores 0.00, 0.00, 0.00" in text
