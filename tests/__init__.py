"""The feeds test suite (a package so that tests can share `tests.feedcheck`)."""
