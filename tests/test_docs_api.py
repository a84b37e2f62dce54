"""docs/api.md's examples run, and print what the page says."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_every_example_in_docs_api_runs():
    blocks = re.findall(r"```python\n(.*?)```", API_DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    # one doctest for the page: later blocks use the names earlier ones define
    test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, "docs/api.md", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 15


def test_the_package_names_its_api_and_setup_stays_a_function():
    import kvcalc.options  # noqa: F401  (importing the module must not shadow kvcalc.setup)

    assert callable(kvcalc.setup) and kvcalc.setup(seq="2K").seq == 2048
    assert {"size", "fit", "dial", "decode", "compare", "plot", "load_model"} <= set(kvcalc.__all__)
