#!/usr/bin/env bash
# Real xterm (VT340 emulation, sixel on) under Xvfb running a command inside tmux with
# passthrough on, so that keys can be typed into it: photographs the screen after the
# command started and after each group of keys, and counts the pure red marker pixels
# of each photograph (a picture drawn by sixel through tmux).
#
#   xterm_keys.sh [-o SHOT.png] [-w SECONDS] [-b white|black] [-g COLSxROWS] \
#                 [-k KEYS]... -- CMD [ARGS...]
#
# KEYS are tmux key names separated by spaces ("6 j Space 2"); "WAIT:S" sleeps S seconds.
# Prints "marker pixels: N box: X Y W H" for the first screenshot (SHOT) and "after KEYS
# marker pixels: ..." for each later one (SHOT-after-N.png), each cropped to the xterm
# window. The background (-b) is xterm's: white (its default) or black. Exit 2 on a
# setup error, else 0.
#
# Needs: Xvfb, xterm, tmux, import and convert (ImageMagick), xdpyinfo:
#   apt-get install -y --no-install-recommends xvfb xterm tmux x11-utils imagemagick fonts-dejavu-core
set -u

shot=""
wait_s=4
bg=white
geom=120x40
keys=()
while getopts "o:w:b:g:k:" opt; do
	case $opt in
	o) shot=$OPTARG ;;
	w) wait_s=$OPTARG ;;
	b) bg=$OPTARG ;;
	g) geom=$OPTARG ;;
	k) keys+=("$OPTARG") ;;
	*) echo "usage: $0 [-o shot.png] [-w seconds] [-b white|black] [-g COLSxROWS] [-k keys]... -- cmd [args...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
if [ $# -eq 0 ]; then
	echo "usage: $0 [-o shot.png] [-w seconds] [-b white|black] [-g COLSxROWS] [-k keys]... -- cmd [args...]" >&2
	exit 2
fi
. "$(dirname "$0")/xvfb.sh"
need_tools Xvfb xterm tmux import convert xdpyinfo
[ -n "$shot" ] || shot=$tmp/shot.png
fg=black
[ "$bg" = black ] && fg='#d0d0d0'
sock="mdsm-xterm-keys-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null; cleanup' EXIT
start_xvfb

cmd=$(printf '%q ' "$@")
printf 'set -g status off\nset -g allow-passthrough on\nset -g default-terminal tmux-256color\nset -g escape-time 10\n' >"$tmp/tmux.conf"
# The command starts a second after the session: a tmux client that has just attached is
# still probing xterm and can swallow the answers to the command's own queries.
DISPLAY=":$disp" xterm -ti vt340 -xrm 'XTerm*decTerminalID: vt340' \
	-xrm 'XTerm*numColorRegisters: 256' -xrm 'XTerm*allowWindowOps: true' \
	-xrm 'XTerm*sixelScrolling: true' -fa 'DejaVu Sans Mono' -fs 10 -bg "$bg" -fg "$fg" \
	-geometry "$geom+0+0" -e tmux -L "$sock" -f "$tmp/tmux.conf" new-session -s shot \
	"sleep 1; $cmd 2>$tmp/out.log; echo exit=\$? >>$tmp/out.log; sleep 600" &
pids+=($!)

# snap SHOT photographs the xterm window (the screen cropped to it) and prints its marker
# pixels and their box.
snap() {
	DISPLAY=":$disp" import -window root "$tmp/full.png" || return 1
	local win
	win=$(DISPLAY=":$disp" xwininfo -root -tree 2>/dev/null | awk '/xterm|XTerm/ {print $(NF-1); exit}')
	if [ -n "$win" ]; then
		convert "$tmp/full.png" -crop "$win" +repage "$1"
	else
		cp "$tmp/full.png" "$1"
	fi
	local bin=(-alpha off -fuzz 20% -fill black +opaque '#ff0000' -fill white -opaque '#ff0000' -colorspace gray)
	echo "$(convert "$1" "${bin[@]}" -format '%[fx:round(mean*w*h)]' info:) box: $(convert "$1" "${bin[@]}" -trim -format '%X %Y %w %h' info: | tr -d '+')"
}

sleep "$wait_s"
echo "marker pixels: $(snap "$shot") screenshot: $shot"
n=0
for k in "${keys[@]}"; do
	n=$((n + 1))
	for word in $k; do
		case "$word" in
		WAIT:*) sleep "${word#WAIT:}" ;;
		*)
			tmux -L "$sock" send-keys -t shot "$word"
			sleep 0.7
			;;
		esac
	done
	sleep 2.5
	after="${shot%.png}-after-$n.png"
	echo "after $k marker pixels: $(snap "$after") screenshot: $after"
done
if [ -s "$tmp/out.log" ]; then
	echo "command log:"
	cat "$tmp/out.log"
fi
exit 0
