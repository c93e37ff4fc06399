#!/usr/bin/env bash
# Dev only: measure kefu on the HINT3 v2 bots (ODbL; never copied into the project).
# Each bot's train file becomes a KB (one article per label, its sentences as sample
# questions); its test file becomes the eval set, NO_NODES_DETECTED expected to be handed off.
#   tools/scripts/hint3-eval.sh HINT3_DIR [extra `kefu eval` flags…]
# KEEP=DIR keeps the KBs, eval files and indexes there; DUMP=DIR writes each bot's --dump.
set -euo pipefail
src=${1:?usage: hint3-eval.sh HINT3_DIR [kefu eval flags…]}; shift
kefu=${KEFU:-./target/release/kefu}
work=${KEEP:-$(mktemp -d)}; [ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work" ${DUMP:+"$DUMP"}
for bot in sofmattress curekart powerplay11; do
  python3 - "$src" "$bot" "$work" <<'PY'
import csv, json, sys, collections
src, bot, work = sys.argv[1:4]
by_label = collections.OrderedDict()
for row in csv.DictReader(open(f"{src}/train/{bot}_train.csv", encoding="utf-8")):
    by_label.setdefault(row["label"], []).append(row["sentence"].strip())
with open(f"{work}/{bot}-kb.jsonl", "w") as kb:
    for label, qs in by_label.items():
        qs = list(dict.fromkeys(q for q in qs if q))
        kb.write(json.dumps({"id": label, "answer": label, "questions": qs, "category": bot, "locale": "en"}) + "\n")
with open(f"{work}/{bot}-eval.jsonl", "w") as ev:
    for row in csv.DictReader(open(f"{src}/test/{bot}_test.csv", encoding="utf-8")):
        label = row["label"]
        expected = None if label == "NO_NODES_DETECTED" or label not in by_label else label
        ev.write(json.dumps({"question": row["sentence"], "expected": expected, "lang": "en"}) + "\n")
PY
  "$kefu" build --kb "$work/$bot-kb.jsonl" --out "$work/$bot-index" >/dev/null 2>&1
  echo "== $bot"
  "$kefu" eval "$work/$bot-index" --queries "$work/$bot-eval.jsonl" "$@" ${DUMP:+--dump "$DUMP/$bot.jsonl"}
done
