"""Schemathesis against the served OpenAPI spec (/api/openapi.json) of a running demo: every
/api/v1 operation, without auth and with the staff key, gets generated requests (valid per
the spec, invalid per the spec, and valid ones aimed at the demo's real site, services,
advisors and booking codes so they reach the booking rules). No answer may be a server
error, and every answer must be one the spec documents (status, content type, schema).

Deterministic: Hypothesis is derandomized (no example database), so a run makes the same
requests (the demo's free times follow the clock, so their values move with the day)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from vuoro.demo import Demo

MAX_EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _known_values(demo: Demo) -> dict[str, list[Any]]:
    """The demo's real path values (and a few real free times for request bodies)."""
    base = demo.web_url
    services = httpx.get(f"{base}/api/v1/sites/{demo.site}/services", timeout=10).json()
    ids = [s["id"] for s in services]
    advisors = sorted({a["id"] for s in services for a in s["advisors"]})
    starts: list[str] = []
    for sid in ids:
        r = httpx.get(
            f"{base}/api/v1/sites/{demo.site}/services/{sid}/slots",
            params={"limit": 3},
            timeout=10,
        )
        if r.status_code == 200:
            starts += [s["start"] for s in r.json()]
    codes = [b["code"] for b in demo.bookings] + ["7KQ-4MX"]
    return {
        "site": [demo.site],
        "service": ids,
        "advisor": advisors,
        "code": codes,
        "start": starts or ["2030-01-01T10:00:00+02:00"],
    }


def _run(
    strategy: st.SearchStrategy[Any],
    headers: dict[str, str] | None,
    checks: list[Any],
    known: dict[str, list[Any]] | None,
) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=strategy, data=st.data())
    def check(case: schemathesis.Case, data: st.DataObject) -> None:
        if known is not None and isinstance(case.body, dict):
            # Aim a valid body at the demo's real services and free times half the time.
            for field in ("service", "start", "advisor"):
                if field in case.body and data.draw(st.booleans(), label=f"real {field}"):
                    case.body[field] = data.draw(st.sampled_from(known[field]), label=field)
        case.call_and_validate(headers=headers, checks=checks, timeout=20)

    check()


def test_schemathesis_finds_no_server_error(demo: Demo) -> None:
    assert demo.web_url
    schema = schemathesis.openapi.from_url(f"{demo.web_url}/api/openapi.json")
    known = _known_values(demo)
    staff = {"Authorization": f"Bearer {demo.staff_key}"}
    failures: list[str] = []
    ran = set()
    started = time.monotonic()
    for result in schema.get_all_operations():
        op = result.ok()
        if not op.path.startswith("/api/v1/"):
            continue
        ran.add(op.label)
        params = {p.name for p in op.path_parameters}
        aimed = {name: st.sampled_from(known[name]) for name in params if name in known}
        passes: list[tuple[str, st.SearchStrategy[Any], list[Any], Any]] = [
            ("valid", op.as_strategy(GenerationMode.POSITIVE), CHECKS, None),
            (
                "invalid",
                op.as_strategy(GenerationMode.NEGATIVE),
                [*CHECKS, negative_data_rejection],
                None,
            ),
        ]
        if aimed:
            passes.append(
                (
                    "demo",
                    st.fixed_dictionaries(aimed).flatmap(
                        lambda values, op=op: op.as_strategy(
                            GenerationMode.POSITIVE, path_parameters=values
                        )
                    ),
                    CHECKS,
                    known,
                )
            )
        for who, headers in (("anonymous", None), ("staff", staff)):
            for kind, strategy, checks, aim in passes:
                try:
                    _run(strategy, headers, checks, aim)
                except hypothesis.errors.Unsatisfiable:
                    continue  # nothing invalid to generate (no parameters)
                except (Exception, BaseExceptionGroup) as e:  # schemathesis' FailureGroup
                    failures.append(f"{op.label} [{who}, {kind}]:\n{e}")
    assert "POST /api/v1/sites/{site}/reservations" in ran and len(ran) >= 10, ran
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 240
