#!/usr/bin/env bash
# Real-terminal sixel check: run a command that prints an image with a pure
# red marker inside xterm (VT340 emulation, sixel on) under Xvfb, take a
# screenshot and count the marker pixels. Exit 0 when the count exceeds the
# threshold, 1 when it does not, 2 on a setup error.
#
#   xterm_sixel_check.sh [-t THRESHOLD] [-o SHOT.png] [-w SECONDS] -- CMD [ARGS...]
#
# The screen is photographed once a second, from the second second on, until
# the marker shows or SECONDS pass: a loaded machine (CI runs many test
# packages at once) may need much longer than an idle one to start xterm,
# tmux and the command, and a fixed sleep made the check flaky.
#
# Needs: Xvfb, xterm, import and convert (ImageMagick), xdpyinfo:
#   apt-get install -y --no-install-recommends xvfb xterm x11-utils imagemagick fonts-dejavu-core
set -u

threshold=1000
shot=""
wait_s=5
while getopts "t:o:w:" opt; do
	case $opt in
	t) threshold=$OPTARG ;;
	o) shot=$OPTARG ;;
	w) wait_s=$OPTARG ;;
	*) echo "usage: $0 [-t threshold] [-o shot.png] [-w seconds] -- cmd [args...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
if [ $# -eq 0 ]; then
	echo "usage: $0 [-t threshold] [-o shot.png] [-w seconds] -- cmd [args...]" >&2
	exit 2
fi
. "$(dirname "$0")/xvfb.sh"
need_tools Xvfb xterm import convert xdpyinfo
[ -n "$shot" ] || shot=$tmp/shot.png
start_xvfb

# The command's words, quoted for bash -c.
cmd=$(printf '%q ' "$@")
DISPLAY=":$disp" xterm -ti vt340 -xrm 'XTerm*decTerminalID: vt340' \
	-xrm 'XTerm*numColorRegisters: 256' -xrm 'XTerm*allowWindowOps: true' \
	-xrm 'XTerm*sixelScrolling: true' -fa 'DejaVu Sans Mono' -fs 10 \
	-geometry 120x40+0+0 -e bash -c "$cmd 2>$tmp/out.log; echo exit=\$? >>$tmp/out.log; sleep 600" &
pids+=($!)

count=0
start=$SECONDS
sleep 2
while :; do
	if ! DISPLAY=":$disp" import -window root "$shot"; then
		echo "screenshot failed" >&2
		exit 2
	fi
	count=$(convert "$shot" -fx '(r>0.8&&g<0.25&&b<0.25)?1:0' -format '%[fx:round(mean*w*h)]' info:)
	[ "${count:-0}" -gt "$threshold" ] && break
	[ $((SECONDS - start)) -ge "$wait_s" ] && break
	sleep 1
done
echo "after $((SECONDS - start))s:"
echo "marker pixels: $count (threshold $threshold) screenshot: $shot"
if [ -s "$tmp/out.log" ]; then
	echo "command log:"
	cat "$tmp/out.log"
fi
[ "${count:-0}" -gt "$threshold" ]
