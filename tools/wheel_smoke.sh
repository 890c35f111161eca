#!/usr/bin/env bash
# The wheel, installed non-editable with only the base extra in a fresh virtualenv outside the
# checkout, scores and filters a small corpus from an empty directory, without torch; with the
# [annotate] extra added, it annotates there against the fake LLM (issue #14).
# Needs the checkout's .venv (make setup) to build the wheel and train the small bundle.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$repo/.venv/bin/python" -m pip wheel -q --no-deps -w "$work/wheels" "$repo"
"$repo/.venv/bin/python" "$repo/tools/smoke_bundle.py" "$work/bundle"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --upgrade pip
"$work/venv/bin/pip" install -q "$work"/wheels/curate-*.whl
if "$work/venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "wheel smoke: the base install pulled torch" >&2
  exit 1
fi

mkdir "$work/run" && cd "$work/run"
cp "$repo/data/demo/ncc_demo.jsonl.gz" corpus.jsonl.gz
cat > spec.yaml <<SPEC
name: smoke
input: {path: corpus.jsonl.gz, source: auto}
steps:
  - language: {languages: [nb, nn], min_score: 0.5}
  - quality_scorer: {bundles: [$work/bundle]}
  - score_filter: {bundles: [$work/bundle]}
output: {path: filtered, format: jsonl.gz}
executor: {type: local, local: {tasks: 1, workers: 1}}
SPEC
"$work/venv/bin/curate" score corpus.jsonl.gz --model "$work/bundle" -o scored.jsonl.gz
"$work/venv/bin/curate" filter spec.yaml
test -s scored.jsonl.gz
ls filtered/kept/* filtered/excluded/* >/dev/null
echo "wheel smoke: base install scored and filtered from $work/run without torch"

# with the [annotate] extra added, annotation runs there too (against the local fake LLM)
wheel=$(ls "$work"/wheels/curate-*.whl)
"$work/venv/bin/pip" install -q "$wheel[annotate]"
"$work/venv/bin/curate" annotate corpus.jsonl.gz --fake-llm --sample 5 -o annotations
test -s annotations/educational_value.jsonl
echo "wheel smoke: [annotate] install annotated from $work/run with the fake LLM"
