#!/usr/bin/env bash
# Time building a generated StackOverflow2010-shaped source and measure its size on disk.
# Usage: bench/measure_generate.sh [SCALE] [SEED]   (runs on the project's throwaway PostgreSQL "bench")
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-1.0}
SEED=${2:-42}
PY=.venv/bin/python
DB="gen_scale_${SCALE//./_}"
URL=$($PY -m localdev.postgres start --name bench >/dev/null && $PY -m localdev.postgres url --name bench --database "$DB")
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr), $($PY -c 'import platform; print("Python", platform.python_version())')"
/usr/bin/time -v $PY -m include.stackoverflow.generate --scale "$SCALE" --seed "$SEED" --url "$URL" 2> >(grep -E "Elapsed|Maximum resident" >&2)
$PY - "$URL" <<'PYEOF'
import sys
from include.stackoverflow.database import connect
conn = connect(sys.argv[1])
print("server:", conn.run("SHOW server_version")[0][0])
print("database size on disk:", conn.run("SELECT pg_size_pretty(pg_database_size(current_database()))")[0][0])
for name, size in conn.run(
    "SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' "
    "ORDER BY pg_total_relation_size(c.oid) DESC"
):
    print(f"  {name:<12}{size:>10}")
PYEOF
