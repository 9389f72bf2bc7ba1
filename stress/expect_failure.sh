#!/bin/sh
# expect_failure.sh PATTERN COMMAND...: runs COMMAND (a deliberately broken
# workload) and succeeds only if it exits with status 1 (a violation) and its
# output has a line matching the extended regex PATTERN (the check that must
# have caught it).
pattern=$1
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 1 ]; then
  echo "expect_failure: expected exit status 1 (violation), got $rc"
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq "$pattern"; then
  echo "expect_failure: no output line matches '$pattern'"
  exit 1
fi
echo "expect_failure: failed as it must ($pattern)"
