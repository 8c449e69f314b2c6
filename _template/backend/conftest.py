"""TEMPLATE: the repository-root conftest.py of a backend developed in a repository of its own.

It loads the conformance kit: pytest accepts ``pytest_plugins`` only in the root conftest.py, and the
kit is never loaded automatically. Inside kailash-dataflow (``packages/backend-<name>/``) delete this
file: the repository's root conftest.py already loads the kit, and pytest refuses ``pytest_plugins`` here.
"""

pytest_plugins = ["dataflow.conformance.plugin"]
