#!/bin/sh
# Seeds the decode corpus with the real grafi 0.0.24 documents, one file per line.
set -e
cd "$(dirname "$0")"
mkdir -p corpus/decode
n=0
while IFS= read -r line; do
  n=$((n + 1))
  printf '%s' "$line" > "corpus/decode/grafi-0.0.24-$n.json"
done < ../fixtures/grafi-0.0.24/events.jsonl
echo "seeded $n documents"
