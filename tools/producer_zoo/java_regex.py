"""What java.util.regex does with the patterns producers write: the reference for pmserve's translation.

Writes ``tests/producer_zoo/java_regex.json``: for each (pattern, flags, text, replacement) case,
Java's ``Matcher.find()`` matches, its ``replaceAll`` result, or the exception Java raises.
Run by ``build.py``; needs the zoo's venv (JPype) and Java 17.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "tests" / "producer_zoo" / "java_regex.json"

# (pattern, case-insensitive, text, replacement): what StopWordsRemover, CountVectorizer,
# RegexTokenizer and the string functions of the producers write, plus Java-only syntax.
CASES: list[tuple[str, bool, str, str]] = [
    (r"(?:^|\s+)\p{Punct}*(a|the|is)\p{Punct}*(?=\s+|$)", True, "The cat, is (a) dog. THE end", " "),
    (r"\p{Punct}+", False, "it's a (test)! {ok} ~x~ \\ é", ""),
    (r"\p{Alpha}+", False, "abc déf GHI 123", "_"),
    (r"\p{Alnum}+", False, "a1 b_2 ü3", "<$0>"),
    (r"\p{Digit}+|\p{Space}+", False, "12\t34\u00a0 5", "#"),
    (r"\p{Upper}\p{Lower}+", False, "Hello World ÉCOLE Zürich", "W"),
    (r"\P{Alpha}+", False, "ab12cd--ef", "-"),
    (r"[\p{Punct}\s]+", False, "a, b;c  d", "|"),
    (r"[^\p{Alnum}]", False, "x-y z_1", ""),
    (r"\p{L}+", False, "café Ωmega 東京 123", "L"),
    (r"\p{Lu}", False, "aBcÉ", "u"),
    (r"\pL+", False, "Ωx 9", "!"),
    (r"\p{IsL}+|\p{N}+", False, "Ωx 9 ½", "*"),
    (r"\p{Nd}+", False, "١٢٣ 456", "d"),
    (r"\p{IsPunctuation}", False, "«a»—b", ""),
    (r"\w+", False, "café naïve", "W"),
    (r"\W+", False, "café naïve", "_"),
    (r"[\W]+", False, "café naïve", "_"),
    (r"\s+", False, "a\u00a0b c", "_"),
    (r"\S+", False, "a\u00a0b c", "x"),
    (r"(?U)\w+", False, "café naïve", "W"),
    (r"\Qa.b\E+", False, "a.bb axb a.b", "Q"),
    (r"[\Q.*\E]+", False, "a.*b", "_"),
    (r"a++b", False, "aaab ab b", "X"),
    (r"\d*+\d", False, "123 4", "X"),
    (r"(?>a|ab)c", False, "abc ac", "X"),
    (r"(?<word>\w+)-\k<word>", False, "ab-ab ab-cd", "${word}"),
    (r"(\w)(\w)", False, "abcd", "$2$1"),
    (r"a(?i)b", False, "aB AB ab", "x"),
    (r"(a(?i)b)c", False, "aBc aBC", "x"),
    (r"[a-c[x-z]]+", False, "abxqz", "-"),
    (r"\h+", False, "a \u2003b", "_"),
    (r"\x{41}\0101\u0041", False, "AAA", "x"),
    (r"\e|\cA", False, "a\u001bb\u0001", "_"),
    (r"[a-z&&[^aeiou]]+", False, "hello", "_"),
    (r"\p{InGreek}", False, "\u03b1", "_"),
    (r"\p{javaLowerCase}", False, "a", "_"),
    (r"\G\w", False, "ab", "_"),
    (r"[a&b|c~d]+", False, "a&b|c~d", "_"),
    (r"word$", False, "a word\n", "X"),
    (r"\s+", True, "A  b", " "),
]


def java_cases() -> list[dict[str, Any]]:
    """Run every case through java.util.regex (the JVM must be started)."""
    import jpype

    pattern_cls = jpype.JClass("java.util.regex.Pattern")
    out: list[dict[str, Any]] = []
    for pattern, ignore_case, text, replacement in CASES:
        case: dict[str, Any] = {"pattern": pattern, "ignore_case": ignore_case, "text": text,
                                "replacement": replacement}
        try:
            compiled = pattern_cls.compile(pattern, pattern_cls.CASE_INSENSITIVE if ignore_case else 0)
            matcher = compiled.matcher(text)
            found = []
            while matcher.find():
                found.append(str(matcher.group()))
            case["matches"] = found
            case["replaced"] = str(compiled.matcher(text).replaceAll(replacement))
        except jpype.JException as exc:
            case["java_error"] = str(exc.getClass().getSimpleName())
        out.append(case)
    return out


def write(cases: list[dict[str, Any]]) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import jpype

    jpype.startJVM()
    try:
        write(java_cases())
    finally:
        jpype.shutdownJVM()
