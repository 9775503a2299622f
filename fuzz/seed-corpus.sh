#!/bin/sh
# Seeds corpus/<target>/ from the test vectors in ../vault/tests/vectors.
set -eu
cd "$(dirname "$0")"
v=../vault/tests/vectors
for t in account_header account_key container sync_file item_json request backup device_key sync_name unlock_key; do mkdir -p "corpus/$t"; done
for f in "$v"/container-*.txt "$v"/sync-*.txt; do
  name=$(basename "$f" .txt)
  # The file's bytes follow the `---` line.
  sed '1,/^---$/d' "$f" > "corpus/container/$name"
  cp "corpus/container/$name" "corpus/sync_file/$name"
done
for f in "$v"/backup-*.txt; do sed '1,/^---$/d' "$f" > "corpus/backup/$(basename "$f" .txt)"; done
for f in "$v"/device-key-*.txt; do
  sed -n 's/^sealed: //p' "$f" | xxd -r -p > "corpus/device_key/$(basename "$f" .txt)" 2>/dev/null || true
done
grep -v '^#' "$v/names.txt" | cut -f1 | awk '{ f = sprintf("corpus/sync_name/n%03d", NR); printf "%s", $0 > f; close(f) }'
for f in "$v"/header-*.json; do
  python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["header"])' "$f" \
    > "corpus/account_header/$(basename "$f" .json)" 2>/dev/null || true
done
for f in "$v"/unlock-key-*.json; do
  python3 -c 'import json,sys; sys.stdout.write(json.load(open(sys.argv[1]))["file"])' "$f" \
    > "corpus/unlock_key/$(basename "$f" .json)" 2>/dev/null || true
done
python3 - "$v/account-key-texts.json" corpus/account_key <<'PY' || true
import json, sys, os
for i, c in enumerate(json.load(open(sys.argv[1]))["cases"]):
    open(os.path.join(sys.argv[2], f"case{i}"), "w").write(c["input"])
PY
printf '%s' '{"id":"6f9619ff-8b86-d011-b42d-00c04fc964ff","c":5,"d":["6f9619ff-8b86-d011-b42d-00c04fc964ff"],"f":{"title":["x",1,2,0]},"h":{"title":[["old",1,0,0]]}}' > corpus/item_json/seed
# The socket request decoder: the golden request lines.
for f in ../proto/tests/golden/request-*.json; do cp "$f" "corpus/request/$(basename "$f" .json)"; done
