"""TextIndex (pmserve.pmml.expressions.text_index): tokens, normalisation, weights, refusals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pmserve.errors import DocumentProblems
from pmserve.pmml import load
from pmserve.pmml.expressions.text_index import limited_levenshtein, trim_punctuation


def document(index_attrs: str, term: str, normalization: str = "") -> bytes:
    """A regression whose value is the TextIndex of ``term`` in field ``text``."""
    return f"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
<Header/>
<DataDictionary>
  <DataField name="text" optype="categorical" dataType="string"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<TransformationDictionary>
  <DerivedField name="tf" optype="continuous" dataType="double">
    <TextIndex textField="text" {index_attrs}>{normalization}<Constant dataType="string">{term}</Constant></TextIndex>
  </DerivedField>
</TransformationDictionary>
<RegressionModel functionName="regression">
  <MiningSchema><MiningField name="text"/><MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0"><NumericPredictor name="tf" coefficient="1"/></RegressionTable>
</RegressionModel>
</PMML>""".encode()


def frequencies(doc: bytes, texts: list[Any]) -> list[Any]:
    return load(doc).score({"text": texts}).to_lists()["y"]


def table(*rows: tuple[str, str, str], attrs: str = "") -> str:
    cells = "".join(f"<row><string>{a}</string><stem>{b}</stem><regex>{r}</regex></row>" for a, b, r in rows)
    return f"<TextIndexNormalization {attrs}><InlineTable>{cells}</InlineTable></TextIndexNormalization>"


def test_term_frequency_counts_case_insensitive_occurrences_after_trimming_punctuation() -> None:
    """Default tokens are the text between whitespace, without leading/trailing punctuation."""
    got = frequencies(document("", "value"), ["Value, value. (VALUE) values", "no match", None])
    assert got == [3.0, 0.0, None]


def test_case_sensitive_index_counts_exact_tokens_only() -> None:
    """isCaseSensitive=true compares tokens exactly."""
    assert frequencies(document('isCaseSensitive="true"', "value"), ["Value value VALUE"]) == [1.0]


@pytest.mark.parametrize(("weights", "want"), [
    ("termFrequency", 3.0), ("binary", 1.0), ("logarithmic", math.log10(4.0)),
])
def test_local_term_weights_transform_the_frequency(weights: str, want: float) -> None:
    """binary caps at 1, logarithmic is log10(1 + frequency)."""
    got = frequencies(document(f'localTermWeights="{weights}"', "a"), ["a b a c a"])
    assert got[0] == pytest.approx(want, rel=1e-12)


def test_multi_word_terms_match_consecutive_tokens() -> None:
    """A term of several tokens counts windows of as many consecutive text tokens."""
    assert frequencies(document("", "new york"), ["New York, new york! york new"]) == [2.0]


def test_word_regex_extension_takes_the_matches_as_tokens() -> None:
    """x-wordRE tokens are the matches of the expression (Java's ASCII \\w)."""
    doc = document(r'x-wordRE="\w+"', "don")
    assert frequencies(doc, ["don't stop, don"]) == [2.0]


def test_levenshtein_distance_allows_near_misses() -> None:
    """maxLevenshteinDistance=1 counts tokens one edit away; bestHits keeps the closest only."""
    texts = ["color colour colr"]
    assert frequencies(document('maxLevenshteinDistance="1"', "color"), texts) == [3.0]
    assert frequencies(document('maxLevenshteinDistance="1" countHits="bestHits"', "color"), texts) == [1.0]


def test_normalization_rows_replace_literals_and_regexes_in_order() -> None:
    """Literal rows replace text as is; regex rows use Java replacement syntax ($1)."""
    norm = table(("colour", "color", "false"), (r"(\w+)ing\b", "$1", "true"))
    doc = document("", "color", norm)
    assert frequencies(doc, ["Colour coloring COLOR"]) == [3.0]


def test_recursive_normalization_repeats_until_nothing_changes() -> None:
    """recursive=true reapplies the table while it changes the text."""
    norm = table(("aa", "a", "false"), attrs='recursive="true"')
    assert frequencies(document("", "a", norm), ["aaaa b"]) == [1.0]
    once = table(("aa", "a", "false"))
    assert frequencies(document("", "a", once), ["aaaa b"]) == [0.0]


def test_rows_sharing_text_are_scored_like_single_rows() -> None:
    """Distinct texts are tokenised once per batch; results equal row-by-row scoring."""
    doc = document("", "b")
    texts = ["a b", "b b", "a b", None, "c"]
    together = frequencies(doc, texts)
    alone = [frequencies(doc, [t])[0] for t in texts]
    assert together == alone == [1.0, 2.0, 1.0, None, 0.0]


def test_helpers_trim_punctuation_and_bound_levenshtein() -> None:
    """Punctuation is trimmed from both ends only; distances above the threshold are -1."""
    assert trim_punctuation("«(don't)»") == "don't"
    assert trim_punctuation("$5") == "$5"
    assert limited_levenshtein("kitten", "sitting", 3) == 3
    assert limited_levenshtein("kitten", "sitting", 2) == -1


@pytest.mark.parametrize(("attrs", "norm", "message"), [
    ('localTermWeights="augmentedNormalizedTermFrequency"', "", "augmentedNormalizedTermFrequency is not supported"),
    ('localTermWeights="tfidf"', "", "attribute localTermWeights must be one of termFrequency, binary"),
    ('maxLevenshteinDistance="-1"', "", "attribute maxLevenshteinDistance must be an integer of at least 0, got '-1'"),
    ('countHits="someHits"', "", "attribute countHits must be one of allHits, bestHits"),
    ('tokenize="false"', "", "tokenize=\"false\" is not supported"),
    ('wordSeparatorCharacterRE="[a-"', "", "wordSeparatorCharacterRE is not a usable regular expression"),
    ("", table(("(", "x", "true")), "is not a usable regular expression"),
    ("", "<TextIndexNormalization/>", "expected an InlineTable"),
])
def test_invalid_text_indexes_are_refused_at_load(attrs: str, norm: str, message: str) -> None:
    """Each problem names the element, the line and what was expected."""
    with pytest.raises(DocumentProblems, match=message) as info:
        load(document(attrs, "a", norm))
    problem = info.value.problems[0]
    assert f"{problem.element} (line {problem.line})" in problem.message


def test_numeric_frequencies_feed_arithmetic() -> None:
    """The frequency is a number usable by the model (an integer for termFrequency)."""
    got = frequencies(document("", "x"), ["x x y"] * 3)
    np.testing.assert_allclose(got, [2.0, 2.0, 2.0])
