#!/bin/bash
# headers_cxx.sh - every public header compiles on its own, as C11 (gcc
# -std=c11) and as C++17 (g++ -std=c++17), with -Wall -Wextra -Werror: a C++
# program can include any of them first and alone.  One PASS/FAIL line per
# header and language.  SKIP when g++ is missing and cannot be installed.
set -uo pipefail
ROOT=${VIRTQ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 1
command -v g++ >/dev/null || { . tests/interop/lib/deps.sh && need_pkgs g++; } ||
	{ echo "SKIP headers_cxx: no g++ (apt-get install g++)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
for h in include/virtq/*.h; do
	n=virtq/$(basename "$h")
	for lang in c c++; do
		if [[ $lang == c ]]; then cc=(gcc -std=c11); else cc=(g++ -std=c++17); fi
		printf '#include <%s>\nint main(void) { return 0; }\n' "$n" >"$tmp/t"
		if "${cc[@]}" -Wall -Wextra -Werror -Iinclude -x "$lang" -c -o "$tmp/t.o" "$tmp/t" \
			2>"$tmp/err"; then
			echo "PASS headers_cxx: <$n> as $lang (${cc[*]} -Wall -Wextra -Werror)"
		else
			echo "FAIL headers_cxx: <$n> as $lang: $(grep -m1 error "$tmp/err")"
			fails=$((fails + 1))
		fi
	done
done
exit $((fails > 0))
