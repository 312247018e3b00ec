"""JUnit XML: an audit as a test report CI systems read (`auditor run ... --junit results.xml`).

One ``<testsuite>`` per audit (name: the policy), one ``<testcase>`` per check (classname: the
policy, name: the check id). FAIL is a ``<failure>`` and ERROR an ``<error>``, each carrying the
summary and the failing thresholds; SKIPPED is ``<skipped>`` with the reason; PASS, WARN and WAIVED
pass, WARN with its warning thresholds and WAIVED with its waiver in ``<system-out>``. Every
testcase's ``<system-out>`` starts with ``auditor-status: <status>``, so :func:`read_statuses`
recovers every check's status exactly (the JUnit schema has no attribute for it).

Valid against Jenkins' junit-10.xsd (the schema GitHub, GitLab and Jenkins readers follow; a copy
is in tests/data/ and the tests validate against it). The command line writes it like every output:
whole or not at all (records/atomic.py).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from auditor.results import AuditResult, CheckResult, Status

STATUS_PREFIX = "auditor-status: "


def _bound(t) -> str:
    parts = []
    if t.min is not None:
        parts.append(f"min {t.min:g}")
    if t.max is not None:
        parts.append(f"max {t.max:g}")
    observed = "n/a" if t.observed is None else f"{t.observed:.4g}"
    return f"{t.measurement} = {observed} ({', '.join(parts) or 'no bound'}; {t.severity})"


def _failing(check: CheckResult, severities: tuple[str, ...]) -> list[str]:
    return [_bound(t) for t in check.thresholds if not t.passed and t.severity in severities]


def _testcase(suite: ET.Element, classname: str, check: CheckResult) -> None:
    case = ET.SubElement(suite, "testcase", name=check.id, classname=classname, time=f"{check.duration_s:.3f}")
    out = [f"{STATUS_PREFIX}{check.status.value}", f"check: {check.check} ({check.title})"]
    if check.summary:
        out.append(f"summary: {check.summary}")
    if check.key_figure:
        out.append(f"key figure: {check.key_figure}")
    if check.status is Status.FAIL:
        failing = _failing(check, ("fail",))
        failure = ET.SubElement(case, "failure", type="threshold", message=check.summary or "a blocking threshold failed")
        failure.text = "\n".join([check.summary, "failing thresholds:", *(f"  {f}" for f in failing)]).strip()
    elif check.status is Status.ERROR:
        err = check.error
        error = ET.SubElement(case, "error", type=err.type if err else "error", message=err.message if err else check.summary)
        error.text = "\n".join(x for x in (check.summary, err.message if err else "", err.traceback if err else "") if x)
    elif check.status is Status.SKIPPED:
        ET.SubElement(case, "skipped", message=check.skipped_reason or "skipped")
    elif check.status is Status.WARN:
        out += ["warning thresholds:", *(f"  {f}" for f in _failing(check, ("warn",)))]
    if check.waiver is not None:
        w = check.waiver
        out.append(f"waiver ({w.state}): {w.justification} — approved by {w.approver}"
                   + (f" on {w.approved}" if w.approved else "") + f", expires {w.expires}"
                   + (f"; accepts the findings of {', '.join(w.gates)} only" if w.gates else "")
                   + (f"; not applied: also missed {', '.join(w.uncovered)}" if w.uncovered else "")
                   + (f"; status before the waiver: {w.status_before.value}" if w.status_before else ""))
    ET.SubElement(case, "system-out").text = "\n".join(out)


def junit_xml(result: AuditResult) -> bytes:
    """The JUnit XML document of an audit result."""
    classname = result.policy.name
    counts = {s: sum(1 for c in result.checks if c.status is s) for s in Status}
    total = f"{sum(c.duration_s for c in result.checks):.3f}"
    root = ET.Element("testsuites", name=f"auditor {result.model.name}", tests=str(len(result.checks)),
                      failures=str(counts[Status.FAIL]), errors=str(counts[Status.ERROR]), time=total)
    suite = ET.SubElement(
        root, "testsuite", name=classname, tests=str(len(result.checks)), failures=str(counts[Status.FAIL]),
        errors=str(counts[Status.ERROR]), skipped=str(counts[Status.SKIPPED]), time=total, timestamp=result.created_at,
        id=result.run_id, package=f"{result.model.name} {result.version}".strip(),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("policy", classname), ("policy_version", result.policy.version),
                        ("policy_sha256", result.policy.sha256), ("model", result.model.name),
                        ("model_version", result.model.version), ("run_id", result.run_id),
                        ("version", result.version), ("overall_status", result.status.value)):
        ET.SubElement(props, "property", name=name, value=str(value or ""))
    for check in result.checks:
        _testcase(suite, classname, check)
    for element in root.iter():  # ElementTree writes what XML 1.0 forbids (a vertical tab from Word: unparseable)
        element.text, element.tail = _xml_text(element.text), _xml_text(element.tail)
        element.attrib.update({k: _xml_text(v) for k, v in element.attrib.items()})
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# characters XML 1.0 does not allow anywhere (https://www.w3.org/TR/xml/#charsets)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str | None) -> str | None:
    """``text`` with each character XML 1.0 forbids written as its code point (U+000B)."""
    return None if text is None else _NOT_XML.sub(lambda m: f"U+{ord(m.group()):04X}", text)


def read_statuses(xml: bytes) -> dict[str, Status]:
    """Check id -> status, read back from a JUnit file written by :func:`junit_xml`."""
    statuses = {}
    for case in ET.fromstring(xml).iter("testcase"):
        out = case.findtext("system-out") or ""
        first = out.splitlines()[0] if out else ""
        statuses[case.get("name")] = Status(first[len(STATUS_PREFIX):]) if first.startswith(STATUS_PREFIX) else None
    return statuses
