"""Small hand-made streams (plain XML, as Modeler 14 wrote them) for tests that need no shared files."""

from __future__ import annotations

import io
import zipfile

REGRESSION_PMML = b"""<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_1" version="4.1">
  <Header/>
  <DataDictionary numberOfFields="3">
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema>
      <MiningField name="x1"/>
      <MiningField name="x2"/>
      <MiningField name="y" usageType="predicted"/>
    </MiningSchema>
    <RegressionTable intercept="1.5">
      <NumericPredictor name="x1" coefficient="2"/>
      <NumericPredictor name="x2" coefficient="-0.5"/>
    </RegressionTable>
  </RegressionModel>
</PMML>
"""


def field(name: str, storage: str, measure: str = "range") -> str:
    return (f"<field><name>{name}</name><type><storage>{storage}</storage><measure>{measure}</measure>"
            f"<values/></type></field>")


def node(node_id: str, class_name: str, *, name: str, label: str = "", body: str = "", props: str = "",
         attrs: str = "") -> str:
    return (f'<node id="{node_id}" class="com.spss.clementine.component.node.{class_name}" uid="uid{node_id}" '
            f"{attrs}><properties><name>{name}</name><label>{label}</label>{props}</properties>{body}</node>")


def source(node_id: str = "0", label: str = "scoreInput", *, drop: str = "", extra_fields: str = "") -> str:
    filter_rows = f"<row><name>{drop}</name><drop>true</drop></row>" if drop else ""
    return node(node_id, "DelimitedFileImportNode", name="Var. File", label=label,
                props=f"<filterTable><defaultDrop>false</defaultDrop><rows>{filter_rows}</rows></filterTable>",
                body="<importedFields>" + field("x1", "real") + field("x2", "integer") + field("y", "real")
                + extra_fields + "</importedFields>")


def nugget(node_id: str = "1", blob: str = "data/0001.dat", outputs: str = "$L-y") -> str:
    output = (f"<output><name>{outputs}</name><type><storage>real</storage><measure>range</measure></type>"
              f'<modelFieldInfo role="predictedValue" targetField="y"/></output>')
    return node(node_id, "CFApplyModelNode", name="y",
                props=f'<model class="com.spss.clementine.component.model.CFModel"><outputs>{output}</outputs></model>',
                body=f'<container containerData="{blob}"/>')


def table(node_id: str = "2") -> str:
    return node(node_id, "TableNode", name="Table")


def stream_xml(nodes: str, links: list[tuple[str, str]], terminal: str = "uid2") -> bytes:
    link_xml = "".join(f'<link srcId="{a}" dstId="{b}"/>' for a, b in links)
    return (f'<?xml version="1.0" encoding="UTF-8"?><clementineStream version="14.2"><stream>'
            f"<properties><name>made</name><scnScoringTerminalNode>{terminal}</scnScoringTerminalNode></properties>"
            f"<diagram><nodes>{nodes}</nodes><links>{link_xml}</links></diagram></stream></clementineStream>"
            ).encode()


def archive(entries: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def simple_stream(**changes: str) -> bytes:
    """Var. File ``scoreInput`` (x1 real, x2 integer, y real; ``y`` dropped) → regression nugget → Table."""
    xml = stream_xml(source(drop="y") + nugget() + table(), [("0", "1"), ("1", "2")])
    return archive({"made.xml": xml, "data/0001.dat": REGRESSION_PMML, **{k: v.encode() for k, v in changes.items()}})


def two_source_stream() -> bytes:
    """Two Var. File sources ``first`` and ``second`` → Append (by name) → regression nugget → Table."""
    append = node("5", "AppendNode", name="Append", props="<appendMode>name</appendMode>")
    nodes = source("0", "first", drop="y") + source("3", "second", drop="y") + append + nugget() + table()
    xml = stream_xml(nodes, [("0", "5"), ("3", "5"), ("5", "1"), ("1", "2")])
    return archive({"made.xml": xml, "data/0001.dat": REGRESSION_PMML})
