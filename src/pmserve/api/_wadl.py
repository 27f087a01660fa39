"""A WADL description of the ``/pm/v1`` online endpoints (``OPTIONS /pm/v1/wadl``)."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

# (path, method, request media type or None, response media type, doc)
ENDPOINTS: tuple[tuple[str, str, str | None, str, str], ...] = (
    ("model", "GET", None, "application/json", "List the deployed models."),
    ("model/{id}", "PUT", "multipart/form-data", "application/json",
     "Deploy or refresh a model (form part model_file or file; optional field tablename)."),
    ("model/{id}", "GET", None, "application/octet-stream", "Download the deployed model file."),
    ("model/{id}", "DELETE", None, "application/json", "Undeploy a model."),
    ("score/{id}", "POST", "application/json", "application/json", "Score rows {tablename, header, data}."),
    ("metadata/{id}", "GET", None, "application/json", "Input (and output) field metadata as SPSS XML."),
)


def document(base: str) -> str:
    resources: dict[str, list[str]] = {}
    for path, method, consumes, produces, doc in ENDPOINTS:
        params = ['<param name="accesskey" style="query" type="xs:string" required="true"/>']
        if method == "GET" and path.startswith("metadata"):
            params.append('<param name="metadatatype" style="query" type="xs:string"/>')
        request = "".join(params)
        if consumes:
            request += f'<representation mediaType="{consumes}"/>'
        resources.setdefault(path, []).append(
            f'<method name="{method}"><doc>{doc}</doc><request>{request}</request>'
            f'<response><representation mediaType="{produces}"/></response></method>')
    body = "".join(
        f'<resource path="{path}">'
        + ('<param name="id" style="template" type="xs:string"/>' if "{id}" in path else "")
        + "".join(methods) + "</resource>"
        for path, methods in resources.items())
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<application xmlns="http://wadl.dev.java.net/2009/02" xmlns:xs="http://www.w3.org/2001/XMLSchema">'
            '<doc title="pmserve /pm/v1 (IBM Predictive Analytics compatible)"/>'
            f"<resources base={quoteattr(base)}>{body}</resources></application>")
