#!/bin/sh
# Seeds corpus/<target>/ from the test vectors in ../vault/tests/vectors.
set -eu
cd "$(dirname "$0")"
v=../vault/tests/vectors
for t in account_header account_key container sync_file item_json; do mkdir -p "corpus/$t"; done
for f in "$v"/container-*.txt "$v"/sync-*.txt; do
  name=$(basename "$f" .txt)
  # The file's bytes follow the `---` line.
  sed '1,/^---$/d' "$f" > "corpus/container/$name"
  cp "corpus/container/$name" "corpus/sync_file/$name"
done
for f in "$v"/header-*.json; do
  python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["header"])' "$f" \
    > "corpus/account_header/$(basename "$f" .json)" 2>/dev/null || true
done
python3 - "$v/account-key-texts.json" corpus/account_key <<'PY' || true
import json, sys, os
for i, c in enumerate(json.load(open(sys.argv[1]))["cases"]):
    open(os.path.join(sys.argv[2], f"case{i}"), "w").write(c["input"])
PY
printf '%s' '{"id":"6f9619ff-8b86-d011-b42d-00c04fc964ff","created_ms":5,"fields":{"title":{"value":"x","stamp":{"wall_ms":1,"counter":2},"device":"6f9619ff-8b86-d011-b42d-00c04fc964ff"}},"history":{"title":[{"value":"old","stamp":{"wall_ms":1,"counter":0},"device":"6f9619ff-8b86-d011-b42d-00c04fc964ff"}]}}' > corpus/item_json/seed
