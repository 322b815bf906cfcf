// The doctest runner shared by every test tier. A tier may name, in KCORO_TEST_PRECHECK, a
// function `int f()` run before any test: a result >= 0 ends the run with that exit code (the
// envtest tier exits 77, meson's "skipped", when it has no API server to run against).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#ifdef KCORO_TEST_PRECHECK
int KCORO_TEST_PRECHECK();
#endif

int main(int argc, char** argv) {
#ifdef KCORO_TEST_PRECHECK
  if (const int rc = KCORO_TEST_PRECHECK(); rc >= 0) return rc;
#endif
  return doctest::Context(argc, argv).run();
}
