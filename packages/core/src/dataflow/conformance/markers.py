"""``requires(*capabilities)``: the capability marker the conformance plugin turns into skips."""

import pytest

MARKER = "dataflow_requires"


def requires(*capabilities: str) -> pytest.MarkDecorator:
    """Mark a test (or a suite class) as needing backend capabilities, e.g. ``@requires("returning")``.

    Without the capability the test is skipped with ``"<backend> lacks capability 'returning'"``.
    """
    from dataflow.backend import Capabilities

    valid = Capabilities().names()
    unknown = [c for c in capabilities if c not in valid]
    if not capabilities or unknown:
        raise ValueError(f"requires(): unknown capability {unknown or '(none given)'}; valid: {', '.join(valid)}")
    return getattr(pytest.mark, MARKER)(*capabilities)
