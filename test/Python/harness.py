"""A tiny harness for the Python test scripts: named cases, error checks, and
the summary line CI reads ("N passed, M failed")."""

import sys

results = []


def case(name):
    """Runs the decorated function now, recording a pass or the failure."""
    def wrap(fn):
        try:
            fn()
            results.append((name, True, ""))
        except Exception as e:  # report and go on
            results.append((name, False, "%s: %s" % (type(e).__name__, e)))
        return fn
    return wrap


def raises(fn, *fragments, errors=Exception):
    """`fn()` raises one of `errors` whose message holds every fragment."""
    try:
        fn()
    except errors as e:
        for fragment in fragments:
            assert fragment in str(e), "%r not in %r" % (fragment, str(e))
        return
    raise AssertionError("no error raised")


def finish():
    failed = 0
    for name, ok, message in results:
        print("%s: %s%s" % ("ok" if ok else "FAIL", name, "" if ok else " -- " + message))
        failed += not ok
    print("%d passed, %d failed" % (len(results) - failed, failed))
    sys.exit(1 if failed else 0)
