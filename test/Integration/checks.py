"""The pass/fail tally the integration scripts share: every check prints one
line, and `report` prints the last line CI reads ("N passed, N failed") and
returns the exit status."""

passed = failed = 0


def expect(ok, what):
    """Counts one check and prints it."""
    global passed, failed
    passed += bool(ok)
    failed += not ok
    print("%s: %s" % ("ok  " if ok else "FAIL", what), flush=True)


def report():
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1
