"""Regulatory clauses a policy cites: their canonical form, one format per framework, and a small
catalogue of the clauses relevant to a model audit, each with a one-line paraphrase.

A clause is written ``<framework>:<version>:<reference>`` (``gdpr:<reference>``: the regulation
has one text), e.g. ``eu-ai-act:2024/1689:art-13(3)(b)(iv)``, ``nist-ai-rmf:1.0:MEASURE-2.9``,
``iso-42001:2023:A.6.2.4``, ``gdpr:art-22(3)``, ``sr-11-7:2011:V.1``. The catalogue is what the
report's "not covered" list is drawn from: the catalogued clauses of a framework that no check of
the policy cites. It is deliberately small (clauses that testing can evidence, or that a reviewer
expects to see addressed); citing a clause that is not catalogued is allowed when its format is
valid. Paraphrases and status notes follow ``reference/ecosystem.md`` section 2; they are
summaries, not the legal text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ROMAN = r"(?:i|ii|iii|iv|v|vi|vii|viii|ix|x|xi|xii|xiii)"


@dataclass(frozen=True)
class Framework:
    key: str
    title: str
    pattern: str  # what follows "<key>:", anchored
    example: str
    status: str = ""  # what a reviewer should know about the text's standing


FRAMEWORKS: dict[str, Framework] = {f.key: f for f in (
    Framework(
        "eu-ai-act", "EU AI Act, Regulation (EU) 2024/1689",
        rf"2024/1689:(?:art-\d{{1,3}}(?:\(\d{{1,2}}\))?(?:\([a-z]\))?(?:\({_ROMAN}\))?"
        rf"|annex-{_ROMAN}(?:\(\d{{1,2}}\))?(?:\([a-z]\))?|recital-\d{{1,3}})",
        "eu-ai-act:2024/1689:art-13(3)(b)(iv)",
        "High-risk obligations applied from 2 Aug 2026; the Digital Omnibus (agreed May 2026) moves Annex III "
        "obligations to 2 Dec 2027 and Annex I to 2 Aug 2028, pending publication in the Official Journal.",
    ),
    Framework(
        "nist-ai-rmf", "NIST AI Risk Management Framework (NIST AI 100-1)",
        r"1\.0:(?:GOVERN|MAP|MEASURE|MANAGE)-\d(?:\.\d{1,2})?",
        "nist-ai-rmf:1.0:MEASURE-2.9",
        "Version 1.0 (Jan 2023) is the canonical text; a revision is under way.",
    ),
    Framework(
        "nistir-8312", "NISTIR 8312, Four Principles of Explainable AI",
        r"2021:(?:explanation|meaningful|explanation-accuracy|knowledge-limits)",
        "nistir-8312:2021:explanation-accuracy",
    ),
    Framework(
        "iso-42001", "ISO/IEC 42001:2023 AI management systems",
        r"2023:(?:A\.(?:[2-9]|10)(?:\.\d{1,2}){1,2}|\d{1,2}(?:\.\d{1,2}){0,2})",
        "iso-42001:2023:A.6.2.4",
        "Control numbers follow sources quoting the control statements; check them against the purchased standard.",
    ),
    Framework(
        "gdpr", "GDPR, Regulation (EU) 2016/679",
        r"(?:art-\d{1,2}(?:\(\d{1,2}\))?(?:\([a-z]\))?|recital-\d{1,3})",
        "gdpr:art-22(3)",
    ),
    Framework(
        "sr-11-7", "SR 11-7 / OCC 2011-12, Supervisory Guidance on Model Risk Management (2011)",
        r"2011:(?:III|IV|V|VI)(?:\.\d)?",
        "sr-11-7:2011:V.1",
        "Rescinded on 17 Apr 2026 and replaced by SR 26-2 / OCC Bulletin 2026-13 / FDIC FIL-15-2026 "
        "(principles-based, non-enforceable, mainly banks above $30B in assets, a narrower definition of "
        "model, generative and agentic AI excluded). Cited here as the vocabulary internal model-risk "
        "policies still use. V.1-V.3 number the three core elements of validation in the order of section V.",
    ),
    Framework(
        "ecoa-reg-b", "Equal Credit Opportunity Act, Regulation B (12 CFR part 1002)",
        r"12-cfr:1002\.\d{1,2}(?:\([a-z0-9]{1,4}\)){0,3}",
        "ecoa-reg-b:12-cfr:1002.6(b)(2)",
        "US credit decisions only. Paraphrases below summarise the regulation; the Official Interpretations "
        "(Supplement I) govern how it applies.",
    ),
)}

_COMPILED = {key: re.compile(f.pattern) for key, f in FRAMEWORKS.items()}

# (clause, paraphrase), per framework, in the order a reader expects.
CATALOGUE: dict[str, list[tuple[str, str]]] = {
    "eu-ai-act": [
        ("art-9(5)", "Residual risk must be judged acceptable; measures and information to deployers reduce it."),
        ("art-9(8)", "Testing is done against prior-defined metrics and probabilistic thresholds suited to the purpose."),
        ("art-10(2)(f)", "Training, validation and test data are examined for possible biases."),
        ("art-10(3)", "Data are relevant, sufficiently representative, as error-free and complete as possible."),
        ("art-10(5)", "Special categories of personal data may be processed, with safeguards, where strictly necessary to detect and correct bias."),
        ("art-11(1)", "Technical documentation (Annex IV) is drawn up before market placement and kept up to date."),
        ("art-12(1)", "The system allows automatic recording of events (logs) over its lifetime."),
        ("art-13(1)", "Operation is transparent enough for deployers to interpret the output and use it appropriately."),
        ("art-13(2)", "Instructions for use are concise, complete, correct and clear."),
        ("art-13(3)(a)", "Instructions name the provider and its contact details."),
        ("art-13(3)(b)(i)", "Instructions state the intended purpose."),
        ("art-13(3)(b)(ii)", "Instructions state the tested level of accuracy (with metrics), robustness and cybersecurity."),
        ("art-13(3)(b)(iv)", "Instructions state the technical capabilities to provide information that explains the output."),
        ("art-13(3)(b)(v)", "Instructions state performance for specific persons or groups."),
        ("art-13(3)(b)(vii)", "Instructions give information that helps deployers interpret the output."),
        ("art-14(4)(c)", "Overseers can correctly interpret the output with the interpretation tools available."),
        ("art-15(1)", "Appropriate accuracy, robustness and cybersecurity, performing consistently over the lifecycle."),
        ("art-15(3)", "Accuracy levels and metrics are declared in the instructions for use."),
        ("art-15(4)", "The system is resilient to errors, faults and inconsistencies."),
        ("art-15(5)", "The system is resilient to adversarial examples, poisoning and other attacks."),
        ("art-17(1)", "A quality management system includes examination, test and validation procedures."),
        ("art-72(1)", "Providers run a post-market monitoring system proportionate to the risks."),
        ("art-86(1)", "An affected person can obtain clear and meaningful explanations of the main elements of a decision."),
        ("annex-iv(2)(b)", "Design specification: what the system optimises for and the relevance of its parameters."),
        ("annex-iv(2)(e)", "Assessment of human-oversight measures, including tools that help interpret outputs."),
        ("annex-iv(2)(g)", "Validation and testing: metrics for accuracy and robustness, dated and signed test reports."),
        ("annex-iv(3)", "Capabilities and limitations, including accuracy for specific persons or groups."),
        ("annex-iv(4)", "Why the chosen performance metrics are appropriate."),
    ],
    "nist-ai-rmf": [
        ("MEASURE-1.1", "Metrics for the most significant risks are selected; what cannot be measured is documented."),
        ("MEASURE-1.3", "Independent assessors or non-developers take part in assessments."),
        ("MEASURE-2.1", "Test sets, metrics and details of the TEVV tools are documented."),
        ("MEASURE-2.3", "Performance criteria are measured and demonstrated under deployment-like conditions."),
        ("MEASURE-2.4", "Functionality and behaviour are monitored in production."),
        ("MEASURE-2.5", "The system is demonstrated valid and reliable; limits of generalisability are documented."),
        ("MEASURE-2.6", "Safety is evaluated regularly; the system can fail safely beyond its knowledge limits."),
        ("MEASURE-2.7", "Security and resilience are evaluated and documented."),
        ("MEASURE-2.8", "Transparency and accountability risks are examined and documented."),
        ("MEASURE-2.9", "The model is explained, validated and documented; outputs are interpreted in context."),
        ("MEASURE-2.11", "Fairness and bias are evaluated and the results documented."),
        ("MEASURE-2.13", "The effectiveness of the TEVV metrics and processes is evaluated."),
        ("MEASURE-3.1", "Risks are tracked by comparing intended and actual performance in deployment."),
        ("MAP-2.3", "Scientific integrity and TEVV considerations (data representativeness, construct validity) are documented."),
        ("MANAGE-4.1", "Post-deployment monitoring plans are implemented."),
    ],
    "nistir-8312": [
        ("explanation", "The system delivers evidence or reasons with its outputs."),
        ("meaningful", "Explanations are understandable to their intended recipients."),
        ("explanation-accuracy", "The explanation correctly reflects how the system produced the output."),
        ("knowledge-limits", "The system operates only under conditions it was designed for and signals its limits."),
    ],
    "iso-42001": [
        ("A.5.4", "The impact of the AI system on individuals and groups is assessed."),
        ("A.6.2.3", "Design and development of the AI system are documented."),
        ("A.6.2.4", "Verification and validation measures and their criteria are defined and documented."),
        ("A.6.2.6", "Operation and monitoring of the AI system are defined."),
        ("A.6.2.7", "Technical documentation is provided to each category of interested party."),
        ("A.6.2.8", "Event logs are recorded."),
        ("A.7.4", "Data quality requirements are defined and met."),
        ("A.7.5", "The provenance of data is recorded."),
        ("A.8.2", "System documentation and information are provided to users."),
        ("A.9.2", "Processes for the responsible use of the AI system are defined."),
        ("9.1", "Monitoring, measurement, analysis and evaluation of the management system."),
        ("9.2", "Internal audit of the management system."),
    ],
    "gdpr": [
        ("art-5(2)", "The controller is responsible for, and can demonstrate, compliance (accountability)."),
        ("art-13(2)(f)", "For automated decisions, meaningful information about the logic involved is given at collection."),
        ("art-15(1)(h)", "On access, meaningful information about the logic involved in automated decisions."),
        ("art-22(1)", "A right not to be subject to decisions based solely on automated processing with significant effects."),
        ("art-22(3)", "Safeguards: human intervention, expressing one's view and contesting the decision."),
        ("art-22(4)", "Limits on automated decisions based on special categories of data."),
        ("art-35(3)(a)", "A DPIA is required for systematic and extensive automated evaluation of persons."),
    ],
    "sr-11-7": [
        ("IV", "Model development, implementation and use: testing of accuracy, robustness, stability and limitations."),
        ("V.1", "Validation - evaluation of conceptual soundness, including developmental evidence and sensitivity analysis."),
        ("V.2", "Validation - ongoing monitoring, including process verification and benchmarking."),
        ("V.3", "Validation - outcomes analysis, including back-testing of outputs against actual outcomes."),
        ("VI", "Governance, policies and controls, including model inventory and documentation."),
    ],
    "ecoa-reg-b": [
        ("1002.4(a)", "A creditor may not discriminate against an applicant on a prohibited basis in any aspect of a credit transaction."),
        ("1002.6(b)(2)", "Age may be used only in an empirically derived, demonstrably and statistically sound scoring system, and never to an elderly applicant's disadvantage."),
        ("1002.9(b)(2)", "An adverse-action notice states the specific principal reasons for the action."),
    ],
}


def framework_of(clause: str) -> str:
    return clause.split(":", 1)[0]


def reference_of(clause: str) -> str:
    """The part after the framework and its version: ``art-13(3)(b)(iv)``."""
    rest = clause.split(":", 1)[1] if ":" in clause else ""
    if framework_of(clause) in FRAMEWORKS and framework_of(clause) != "gdpr" and ":" in rest:
        return rest.split(":", 1)[1]
    return rest


def clause_problem(clause: str) -> str | None:
    """Why ``clause`` is not a canonical clause reference, or None."""
    key, sep, rest = clause.partition(":")
    if not sep:
        return f"expected <framework>:<version>:<reference>, e.g. {FRAMEWORKS['eu-ai-act'].example}"
    if key not in FRAMEWORKS:
        return f"unknown framework {key!r}; known: {', '.join(FRAMEWORKS)}"
    if not _COMPILED[key].fullmatch(rest):
        return f"not a valid {key} reference; expected the form {FRAMEWORKS[key].example}"
    return None


def check_clause(clause: str) -> str:
    """Pydantic validator: a canonical clause reference."""
    problem = clause_problem(clause)
    if problem:
        raise ValueError(problem)
    return clause


def covers(cited: str, catalogued: str) -> bool:
    """Whether citing reference ``cited`` addresses catalogue reference ``catalogued``: the same
    clause or one of its sub-clauses (``art-13(3)(b)(iv)`` addresses ``art-13(3)(b)``; a coarser
    citation does not address its finer parts)."""
    return cited == catalogued or cited.startswith(catalogued + "(") or cited.startswith(catalogued + ".")


def paraphrase(clause: str) -> str:
    """The catalogue's paraphrase of ``clause``, or of the closest catalogued clause containing it."""
    entries = CATALOGUE.get(framework_of(clause), [])
    ref = reference_of(clause)
    matches = [(len(c), text) for c, text in entries if covers(ref, c)]
    return max(matches)[1] if matches else ""


def canonical(framework: str, reference: str) -> str:
    """The full clause string of a catalogue reference."""
    version = FRAMEWORKS[framework].example.split(":")[1]
    return f"{framework}:{reference}" if framework == "gdpr" else f"{framework}:{version}:{reference}"


def not_covered(framework: str, cited: list[str]) -> list[tuple[str, str]]:
    """Catalogued clauses of ``framework`` that no clause in ``cited`` addresses: (clause, paraphrase)."""
    refs = [reference_of(c) for c in cited if framework_of(c) == framework]
    return [(canonical(framework, c), text) for c, text in CATALOGUE.get(framework, [])
            if not any(covers(r, c) for r in refs)]
