"""Fuzzing the deploy-time guarantee: a mutated model is refused at deploy, or every score answers 200.

Small documents (the package's sample, a few hand-written ones, and the shared corpus' small
documents when it is present) are mutated - elements removed, renamed and duplicated, attributes
removed, renamed, duplicated and given odd values - and deployed in-process.  Every deploy must
answer 200 (flag true or false); every model that deploys must answer 200 to every score request,
well-formed or odd.  The seed is fixed, so a failure names a reproducible case.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from starlette.testclient import TestClient
from tests.conformance._corpus import CORPUS_ROOT
from tests.service.conftest import linear_pmml, select_all_pmml

from pmserve.api import create_app
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore

DOCUMENTS = 2000
SEED = 20261202
#: Corpus documents up to this size are mutated too (bigger ones cost time, not coverage).
CORPUS_MAX_BYTES = 12_000

ODD_VALUES = ["", " ", "0", "-1", "1e309", "-1e309", "NaN", "INF", "abc", "1_0", "\u0665", "999999999999",
              "true", "x" * 300, "-0", "0.5", "2147483648", "\u00e9", "<", "&"]
ODD_CELLS: list[Any] = [None, "", "abc", 0, -1, 1e308, -1e308, 1e-320, 2**70, "1e309", "NaN", True, "5_1", 0.5,
                        "\u0665", "x" * 2000, 3, "2020-01-01", -0.0]


def _hand_written() -> list[bytes]:
    tree = b"""<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>
<DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
<DataField name="c" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/></DataField>
<DataField name="y" optype="categorical" dataType="string"><Value value="yes"/><Value value="no"/></DataField>
</DataDictionary>
<TransformationDictionary><DerivedField name="d" optype="continuous" dataType="double">
<Apply function="if"><Apply function="greaterThan"><FieldRef field="x"/><Constant>1</Constant></Apply>
<Apply function="ln"><FieldRef field="x"/></Apply><Constant>0</Constant></Apply></DerivedField>
</TransformationDictionary>
<TreeModel functionName="classification" missingValueStrategy="defaultChild">
<MiningSchema><MiningField name="x"/><MiningField name="c"/><MiningField name="y" usageType="target"/></MiningSchema>
<Output><OutputField name="p" optype="continuous" dataType="double" feature="probability" value="yes"/></Output>
<Node id="0" score="no" defaultChild="1"><True/>
<Node id="1" score="yes" recordCount="3"><SimplePredicate field="d" operator="lessThan" value="0.5"/>
<ScoreDistribution value="yes" recordCount="2"/><ScoreDistribution value="no" recordCount="1"/></Node>
<Node id="2" score="no" recordCount="2"><SimpleSetPredicate field="c" booleanOperator="isIn">
<Array type="string">a b</Array></SimpleSetPredicate>
<ScoreDistribution value="yes" recordCount="0"/><ScoreDistribution value="no" recordCount="2"/></Node>
</Node></TreeModel></PMML>"""
    return [tree, linear_pmml(1.5), select_all_pmml()]


def _base_documents() -> list[bytes]:
    docs = [resources.files("pmserve.samples").joinpath("iris.pmml").read_bytes(), *_hand_written()]
    if CORPUS_ROOT.is_dir():
        docs += [p.read_bytes() for p in sorted(CORPUS_ROOT.rglob("*.pmml")) if p.stat().st_size <= CORPUS_MAX_BYTES]
    return docs


def mutate(doc: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One to three random mutations of a document; returns it and what was done."""
    root = etree.fromstring(doc, etree.XMLParser(remove_blank_text=True))
    done = []
    for _ in range(rng.randint(1, 3)):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        el = rng.choice(elements[1:]) if len(elements) > 1 else root
        kind = rng.choice(["remove-el", "rename-el", "dup-el", "remove-attr", "rename-attr", "copy-attr",
                           "odd-attr", "odd-text"])
        parent = el.getparent()
        local = etree.QName(el).localname
        if kind == "remove-el" and parent is not None:
            parent.remove(el)
        elif kind == "rename-el":
            other = etree.QName(rng.choice(elements)).localname
            el.tag = (etree.QName(el).namespace and f"{{{etree.QName(el).namespace}}}{other}") or other
        elif kind == "dup-el" and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif kind == "remove-attr" and el.attrib:
            del el.attrib[rng.choice(list(el.attrib))]
        elif kind == "rename-attr" and el.attrib:
            name = rng.choice(list(el.attrib))
            value = el.attrib.pop(name)
            others = [a for e in elements for a in e.attrib if a not in el.attrib]
            el.set(rng.choice(others) if others else "name", value)
        elif kind == "copy-attr":
            donor = rng.choice(elements)
            if donor.attrib:
                name = rng.choice(list(donor.attrib))
                el.set(name, donor.attrib[name])
        elif kind == "odd-attr" and el.attrib:
            el.set(rng.choice(list(el.attrib)), rng.choice(ODD_VALUES))
        elif kind == "odd-text" and el.text and el.text.strip():
            el.text = rng.choice(ODD_VALUES)
        else:
            continue
        done.append(f"{kind} {local}")
    return etree.tostring(root), "; ".join(done) or "unchanged"


def score_bodies(fields: list[tuple[str, list[str]]], rng: random.Random) -> Iterator[dict[str, Any]]:
    """A plausible request (categories of the field where it has them), then an odd one."""
    header = [name for name, _ in fields]
    plausible = [[rng.choice(values) if values else rng.uniform(-5, 10) for _, values in fields]
                 for _ in range(3)]
    yield {"header": header, "data": plausible}
    odd = [[rng.choice(ODD_CELLS) for _ in fields] for _ in range(3)]
    yield {"header": header, "data": odd}


@pytest.fixture
def fuzz_app(tmp_path: Path) -> Iterator[tuple[TestClient, Service, str]]:
    settings = Settings(data_dir=tmp_path, max_upload_mb=1.0, keep_versions=0)
    service = Service(settings, SQLiteStore(tmp_path))
    key = service.create_key("fuzz")
    with TestClient(create_app(settings, service), raise_server_exceptions=False) as client:
        yield client, service, key
    service.close()


def test_a_mutated_model_is_refused_at_deploy_or_scores_every_request(
        fuzz_app: tuple[TestClient, Service, str]) -> None:
    """2,000 mutated documents and their score requests: no 5xx, ever."""
    client, service, key = fuzz_app
    base = _base_documents()
    tenant = service.authenticate(key)
    failures: list[str] = []
    deployed = requests = 0
    for i in range(DOCUMENTS):
        rng = random.Random(f"{SEED}-{i}")  # each case reproducible on its own
        source = rng.randrange(len(base))
        doc, what = mutate(base[source], rng)
        reply = client.put("/pm/v1/model/m", params={"accesskey": key},
                           files={"model_file": ("m.pmml", doc, "application/octet-stream")})
        requests += 1
        if reply.status_code != 200:
            failures.append(f"document {i} (base {source}: {what}): deploy answered {reply.status_code}")
            continue
        if not reply.json()["flag"]:
            continue
        deployed += 1
        meta = service.metadata(tenant, "m")
        fields = [(f.name, list(f.values)) for f in meta.inputs]
        for body in score_bodies(fields, rng):
            answer = client.post("/pm/v1/score/m", params={"accesskey": key}, json=body)
            requests += 1
            if answer.status_code != 200:
                failures.append(f"document {i} (base {source}: {what}): score of {str(body)[:200]} answered "
                                f"{answer.status_code}: {answer.text[:200]}")
    assert not failures, f"{len(failures)} failures of {requests} requests:\n" + "\n".join(failures[:20])
    assert deployed >= DOCUMENTS // 10  # the mutations leave enough models deployable to test scoring
