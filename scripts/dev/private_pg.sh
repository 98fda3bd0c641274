#!/usr/bin/env bash
# private_pg.sh DIR: copy the system PostgreSQL 15 install (binaries,
# libraries, share, headers) under DIR so that a second checkout can
# `make install` and run tests without touching the system install.
# PostgreSQL finds its share and lib directories relative to its binaries,
# so the copy is self-contained.  Prints the PG_CONFIG to use.
set -euo pipefail
dir=${1:?usage: private_pg.sh DIR}
mkdir -p "$dir/lib" "$dir/share" "$dir/include"
cp -a /usr/lib/postgresql "$dir/lib/"
cp -a /usr/share/postgresql "$dir/share/"
cp -a /usr/include/postgresql "$dir/include/"
chmod 755 "$dir" "$dir/lib" "$dir/share" "$dir/include"
echo "PG_CONFIG=$dir/lib/postgresql/15/bin/pg_config"
