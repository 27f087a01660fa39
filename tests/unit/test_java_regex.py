"""Java regular expressions translated for Python match as java.util.regex matches.

The reference is ``tests/producer_zoo/java_regex.json``, written by Java itself
(``tools/producer_zoo/java_regex.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pmserve.errors import DocumentProblems
from pmserve.pmml import load
from pmserve.pmml.expressions.java_regex import (
    InvalidJavaRegex,
    UntranslatableRegex,
    compile_java,
    replacement,
    translate,
)

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[1] / "producer_zoo" / "java_regex.json").read_text(encoding="utf-8"))

# Constructs Python's re cannot express: refused with the construct named.
REFUSED = {
    r"[a-z&&[^aeiou]]+": "intersection '&&'",
    r"\p{InGreek}": r"\\p\{InGreek\}",
    r"\p{javaLowerCase}": r"\\p\{javaLowerCase\}",
    r"\G\w": r"\\G",
}


@pytest.mark.parametrize("case", [c for c in CASES if c["pattern"] not in REFUSED], ids=lambda c: c["pattern"])
def test_translated_pattern_finds_and_replaces_as_java_does(case: dict[str, Any]) -> None:
    """Every match of Matcher.find() and the replaceAll result are Java's."""
    compiled = compile_java(case["pattern"], re.IGNORECASE if case["ignore_case"] else 0)
    assert [m.group() for m in compiled.finditer(case["text"])] == case["matches"]
    template = replacement(case["replacement"], compiled.groups, compiled.groupindex)
    assert compiled.sub(template, case["text"]) == case["replaced"]


@pytest.mark.parametrize(("pattern", "named"), sorted(REFUSED.items()))
def test_untranslatable_construct_is_refused_by_name(pattern: str, named: str) -> None:
    """What Python cannot express is named with its position, never silently changed."""
    assert any(c["pattern"] == pattern for c in CASES), "the refused pattern must be one Java accepts"
    with pytest.raises(UntranslatableRegex, match=named):
        translate(pattern)


def test_replacement_naming_a_missing_group_is_refused() -> None:
    """$2 with one group is an error in Java too."""
    with pytest.raises(ValueError, match="refers to group 2; the pattern has 1"):
        replacement("$2", 1, {})


def test_unclosed_class_is_refused_with_its_position() -> None:
    """A pattern Java would reject does not reach re half-translated."""
    with pytest.raises(InvalidJavaRegex, match="at position 2: an unclosed character class"):
        translate("ab[cd")


def _replace_document(pattern: str) -> bytes:
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
 <DataDictionary><DataField name="s" optype="categorical" dataType="string"/>
  <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
 <TransformationDictionary><DerivedField name="t" optype="categorical" dataType="string">
  <Apply function="replace"><FieldRef field="s"/><Constant>{pattern}</Constant><Constant>_</Constant></Apply>
 </DerivedField></TransformationDictionary>
 <RegressionModel functionName="regression"><MiningSchema><MiningField name="s"/>
  <MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0"><CategoricalPredictor name="t" value="a_b" coefficient="1"/></RegressionTable>
 </RegressionModel>
</PMML>""".encode()


def test_constant_pattern_python_cannot_express_is_refused_at_load() -> None:
    """replace() with a constant class intersection names the construct and its element at load."""
    with pytest.raises(DocumentProblems, match=r"function 'replace'.*intersection '&&'"):
        load(_replace_document("[a-z&amp;&amp;[^aeiou]]"))


def test_constant_posix_pattern_is_translated_at_load() -> None:
    r"""replace() with \p{Punct} (Spark's StopWordsRemover style) scores as Java would."""
    scored = load(_replace_document(r"\p{Punct}+")).score({"s": ["a,.b", "a b"]})
    assert scored.to_lists()["y"] == pytest.approx([1.0, 0.0])
