"""The C module relaygate uses where it can be built (see src/relaygate/speedups.py); the project's
metadata is in pyproject.toml. Without a compiler the install goes on and relaygate runs its Python code."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("relaygate._speedups", ["src/relaygate/_speedups.c"], optional=True)])
