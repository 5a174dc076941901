#!/usr/bin/env bash
# Compares the proofs of a nightly run across hardware (the merge job of ci/workflows/nightly-gpu.yml):
#   ci/proof-compare.sh DIR [LOCKSTEP_BIN]
# Every *.proof.json under DIR (named <label>-<worker>.proof.json by ci/gpu-nightly.sh) is checked with
# `lockstep proof verify`, copied into DIR/merged/, and compared with the first one by `lockstep proof
# diff` at the bits and at the tokens level, and all of them are merged into DIR/merged/proofset.json
# (`lockstep proof merge`: every proof embedded, per case who shares the same bits). Prints a Markdown table (appended to $GITHUB_STEP_SUMMARY
# when set). Exit 1 when two proofs of one label (one GPU type) differ in any bit, or a proof is
# invalid; differences across labels are reported, since batch-invariant mode promises equal bits on one
# device type, not across them (portable mode will).
set -uo pipefail
DIR="${1:?usage: ci/proof-compare.sh DIR [LOCKSTEP_BIN]}"
BIN="${2:-${LOCKSTEP_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/harness/lockstep}}"
mapfile -t proofs < <(find "$DIR" -name '*.proof.json' -not -path "$DIR/merged/*" | sort)
((${#proofs[@]})) || { echo "proof-compare: no *.proof.json under $DIR" >&2; exit 2; }
mkdir -p "$DIR/merged"
label_of() { local name; name="$(basename "$1" .proof.json)"; echo "${name%-*}"; }
equal() { "$BIN" proof diff "$1" "$2" --level "$3" >/dev/null 2>&1 && echo "equal" || echo "differs"; }

rc=0
ref="${proofs[0]}"
table="| proof | label | valid | same bits as its label's first | bits vs $(basename "$ref") | tokens vs $(basename "$ref") |"
table+=$'\n'"|---|---|---|---|---|---|"
declare -A first=()
for p in "${proofs[@]}"; do
  if "$BIN" proof verify "$p" >/dev/null 2>&1; then valid=yes; else valid=NO; rc=1; fi
  cp "$p" "$DIR/merged/"
  # Within a label (one GPU type) every proof must equal the label's first one, bit for bit.
  label="$(label_of "$p")"
  [[ -n "${first[$label]:-}" ]] || first[$label]="$p"
  if "$BIN" proof diff "${first[$label]}" "$p" --level bits >"$DIR/merged/$(basename "$p" .proof.json).diff.txt" 2>&1; then
    own=yes
  else
    own=NO
    rc=1
    echo "proof-compare: $p differs from ${first[$label]} (same label $label)" >&2
  fi
  table+=$'\n'"| $(basename "$p") | $label | $valid | $own | $(equal "$ref" "$p" bits) | $(equal "$ref" "$p" tokens) |"
done
merge_log="$("$BIN" proof merge "${proofs[@]}" --out "$DIR/merged/proofset.json" --force 2>&1)" || { rc=1; echo "$merge_log" >&2; }
summary="## lockstep proofs across hardware"$'\n\n'"$table"$'\n\n'"${#proofs[@]} proofs, ${#first[@]} label(s); $( ((rc)) && echo '❌ a label disagrees with itself or a proof is invalid' || echo '✅ every label agrees with itself bit for bit')"$'\n\n'"\`$(echo "$merge_log" | tail -1)\`"
echo "$summary"
[[ -n "${GITHUB_STEP_SUMMARY:-}" ]] && echo "$summary" >>"$GITHUB_STEP_SUMMARY"
exit "$rc"
