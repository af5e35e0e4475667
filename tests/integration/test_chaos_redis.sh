#!/usr/bin/env bash
# A bounded chaos run on a real redis-server (issue 13): key_counter workers under a
# seeded schedule of SIGKILLs, SIGSTOPs past the session, scale out and in, and Redis
# restarts with AOF; no key may be counted less than its true count.  Skipped
# (exit 77) without redis-server or curl.
set -u
build=${1:?build dir}
exec bash "$(dirname "$0")/../chaos/chaos_procs.sh" redis "$build" 30 4242
