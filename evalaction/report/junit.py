"""The verdict's gates as JUnit XML, one test case per gate, so any CI tool can show them.

Follows the de-facto schema most CI tools read (Jenkins' junit.xsd, as GitLab and the GitHub test
reporters consume it): <testsuites> > <testsuite> > <testcase classname name>, with <failure> for a
failed gate (type `blocking` or `warning`) and <skipped> for a gate that could not be evaluated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalaction.artifacts import GateResult, VerdictResult


def _evidence(g: GateResult) -> str:
    observed = "n/a" if g.observed is None else f"{g.observed:.6g}"
    interval = "" if g.interval is None else f" [{g.interval[0]:.6g}, {g.interval[1]:.6g}]"
    role = "blocking" if g.blocking else "warning"
    return f"rule: {g.rule}\nobserved: {observed}{interval}\n{role}\n{g.reason}"


def render_junit(verdict: VerdictResult, *, suite: str = "evalaction gates") -> str:
    """JUnit XML text: one <testcase> per gate, the decision and any override as suite properties."""
    import xml.etree.ElementTree as ET

    failures = sum(g.status == "fail" for g in verdict.gates)
    skipped = sum(g.status == "skipped" for g in verdict.gates)
    counts = {"tests": str(len(verdict.gates)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {"name": "evalaction", **counts})
    testsuite = ET.SubElement(root, "testsuite", {"name": suite, **counts})
    properties = ET.SubElement(testsuite, "properties")
    facts = {"decision": verdict.decision, "summary": verdict.summary}
    if verdict.override is not None:
        facts["override"] = verdict.override.describe()
    for name, value in facts.items():
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for g in verdict.gates:
        case = ET.SubElement(
            testsuite, "testcase", {"classname": f"evalaction.gates.{g.kind}", "name": g.name, "time": "0"}
        )
        if g.status == "fail":
            failure = ET.SubElement(
                case, "failure", {"message": g.reason, "type": "blocking" if g.blocking else "warning"}
            )
            failure.text = _evidence(g)
        elif g.status == "skipped":
            ET.SubElement(case, "skipped", {"message": g.reason})
        ET.SubElement(case, "system-out").text = _evidence(g)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
