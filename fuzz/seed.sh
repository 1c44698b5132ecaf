#!/bin/sh
# Seeds the decode corpus with the real grafi 0.0.24 and 0.0.36 documents, one file per line.
set -e
cd "$(dirname "$0")"
mkdir -p corpus/decode
for version in 0.0.24 0.0.36; do
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" > "corpus/decode/grafi-$version-$n.json"
  done < "../fixtures/grafi-$version/events.jsonl"
  echo "seeded $n grafi $version documents"
done
