import os
import sys
from pathlib import Path

os.environ["LANGSMITH_TRACING"] = "false"
os.environ.setdefault("LANGSMITH_TEST_TRACKING", "false")
os.environ["AUTODATA_NO_PROGRESS"] = "1"

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED_CORPORA = ROOT.parent / "shared" / "corpora"
