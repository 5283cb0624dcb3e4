"""Peak memory of reading one large source file, against the file's size: it should stay well under 2x.

A ~200 MB markdown file is generated (CRLF line ends, so the "\\r\\n" normalisation runs), then read by
`autodata.engine.corpus.read_text_document` in a fresh child process, whose peak RSS (getrusage) minus its RSS
before the read is the memory the read took. Two kinds of text: plain ASCII, and "mixed" (accents, dashes
and an emoji, which make Python hold those characters at 2 or 4 bytes each). Run on demand, not a test:

    python benchmarks/corpus_memory.py [--mb 200] [--max-chars 6000] [--seed 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PARAGRAPHS = {
    "ascii": "A line of ordinary prose, with a sentence or two about the subject. " * 6,
    "mixed": "Caf\u00e9 cr\u00e8me \u2014 a na\u00efve r\u00e9sum\u00e9 of the subject \U0001f600, in prose. " * 6,
}


def write_document(path: Path, kind: str, megabytes: int) -> int:
    block = ("# A large document\r\n\r\n" + (PARAGRAPHS[kind] + "\r\n\r\n") * 2000).encode()
    with path.open("wb") as out:
        for _ in range(max(1, megabytes * 1_000_000 // len(block))):
            out.write(block)
    return path.stat().st_size


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KB


def child(path: Path, max_chars: int, seed: int) -> None:
    from autodata.engine.corpus import DocumentError, read_text_document

    before = peak_rss_bytes()
    doc = read_text_document(path, path.parent, max_chars, seed)
    if isinstance(doc, DocumentError):
        raise SystemExit(f"the generated document was not read: {doc.reason}")
    print(json.dumps({"rss_before": before, "peak_rss": peak_rss_bytes(), "span": list(doc.span)}))


def measure(kind: str, megabytes: int, max_chars: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="corpus_memory_") as folder:
        path = Path(folder) / f"{kind}.md"
        size = write_document(path, kind, megabytes)
        cmd = [sys.executable, __file__, "--child", str(path), "--max-chars", str(max_chars), "--seed", str(seed)]
        env = {**os.environ, "LANGSMITH_TRACING": "false"}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    taken = result["peak_rss"] - result["rss_before"]
    return {"kind": kind, "file_bytes": size, "read_peak_bytes": taken, "ratio": round(taken / size, 3),
            "span": result["span"]}  # fmt: skip


def measure_kinds(megabytes: int = 200, max_chars: int = 6000, seed: int = 3) -> list[dict]:
    return [measure(kind, megabytes, max_chars, seed) for kind in PARAGRAPHS]


def report(results: list[dict]) -> str:
    return "\n".join(
        f"{r['kind']:>6} text, {r['file_bytes'] / 1e6:.0f} MB file: the read took {r['read_peak_bytes'] / 1e6:.0f} MB "
        f"more peak RSS, {r['ratio']:.2f}x the file size (target: well under 2x)"
        for r in results
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the generated file, in MB")
    parser.add_argument("--max-chars", type=int, default=6000, help="span budget (max_source_chars)")
    parser.add_argument("--seed", type=int, default=3, help="which span is picked")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.max_chars, args.seed)
    else:
        print(report(measure_kinds(args.mb, args.max_chars, args.seed)))


if __name__ == "__main__":
    main()
