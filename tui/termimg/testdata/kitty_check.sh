#!/usr/bin/env bash
# Real-terminal kitty graphics check: run a command that shows an image with a pure red
# marker in a real kitty (software OpenGL) under Xvfb, directly or inside tmux with
# passthrough on, photograph the screen and count the marker pixels; then optionally type
# keys and photograph again.
#
#   kitty_check.sh [-t THRESHOLD] [-o SHOT.png] [-w SECONDS] [-m direct|tmux] \
#                  [-k KEYS]... -- CMD [ARGS...]
#
# Prints "marker pixels: N box: X0 Y0 X1 Y1" for the first screenshot (taken once the
# marker shows, or after SECONDS) and, after each -k (a tmux key name, or text for kitty
# itself; "WAIT:S" sleeps S seconds), "after KEYS marker pixels: N box: ..." with its own
# screenshot SHOT-after-N.png. Exit 0 when the first count exceeds THRESHOLD, 1 when it
# does not, 2 on a setup error.
#
# Needs: Xvfb, kitty, import and convert (ImageMagick), xdpyinfo; tmux for -m tmux:
#   apt-get install -y --no-install-recommends xvfb kitty x11-utils imagemagick fonts-dejavu-core tmux
set -u

threshold=1000
shot=""
wait_s=10
mode=direct
keys=()
while getopts "t:o:w:m:k:" opt; do
	case $opt in
	t) threshold=$OPTARG ;;
	o) shot=$OPTARG ;;
	w) wait_s=$OPTARG ;;
	m) mode=$OPTARG ;;
	k) keys+=("$OPTARG") ;;
	*) echo "usage: $0 [-t threshold] [-o shot.png] [-w seconds] [-m direct|tmux] [-k keys]... -- cmd [args...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
if [ $# -eq 0 ]; then
	echo "usage: $0 [-t threshold] [-o shot.png] [-w seconds] [-m direct|tmux] [-k keys]... -- cmd [args...]" >&2
	exit 2
fi
. "$(dirname "$0")/xvfb.sh"
tools="Xvfb kitty import convert xdpyinfo"
[ "$mode" = tmux ] && tools="$tools tmux"
need_tools $tools
[ -n "$shot" ] || shot=$tmp/shot.png
sock="mdsm-kitty-check-$$"
[ "$mode" = tmux ] && trap 'tmux -L "$sock" kill-server 2>/dev/null; cleanup' EXIT
start_xvfb

cmd=$(printf '%q ' "$@")
inner="$cmd 2>$tmp/out.log; echo exit=\$? >>$tmp/out.log; sleep 600"
remote="unix:$tmp/kitty.sock"
kitty_args=(--config NONE -o "font_family=DejaVu Sans Mono" -o font_size=10 -o remember_window_size=no
	-o initial_window_width=1000 -o initial_window_height=700 -o allow_remote_control=yes
	-o confirm_os_window_close=0 -o enable_audio_bell=no --listen-on "$remote")
if [ "$mode" = tmux ]; then
	printf 'set -g status off\nset -g allow-passthrough on\nset -g default-terminal tmux-256color\nset -g escape-time 10\nset -g focus-events on\n' >"$tmp/tmux.conf"
	# The command starts two seconds after the session: a tmux client that has just
	# attached is still probing the outer terminal and can swallow the answers to the
	# command's own (wrapped) queries.
	DISPLAY=":$disp" LIBGL_ALWAYS_SOFTWARE=1 kitty "${kitty_args[@]}" \
		tmux -L "$sock" -f "$tmp/tmux.conf" new-session -s check "sleep 2; $inner" >"$tmp/kitty.log" 2>&1 &
else
	DISPLAY=":$disp" LIBGL_ALWAYS_SOFTWARE=1 kitty "${kitty_args[@]}" bash -c "$inner" >"$tmp/kitty.log" 2>&1 &
fi
pids+=($!)

# measure SHOT prints the number of marker (pure red) pixels and their bounding box
# "X0 Y0 W H" (-1 -1 1 1 when there are none): the marker white on black, counted and
# trimmed (ImageMagick's colour replacement is fast; -fx per pixel takes seconds).
measure() {
	local bin=(-alpha off -fuzz 20% -fill black +opaque '#ff0000' -fill white -opaque '#ff0000' -colorspace gray)
	convert "$1" "${bin[@]}" -format '%[fx:round(mean*w*h)] ' info: 2>/dev/null
	convert "$1" "${bin[@]}" -trim -format '%X %Y %w %h' info: 2>/dev/null | tr -d '+'
}
count_of() { echo "$1" | awk '{print $1}'; }

result=""
start=$SECONDS
sleep 3
while :; do
	if ! DISPLAY=":$disp" import -window root "$shot" 2>/dev/null; then
		sleep 1
		[ $((SECONDS - start)) -ge "$wait_s" ] && { echo "screenshot failed" >&2; exit 2; }
		continue
	fi
	result=$(measure "$shot")
	[ "$(count_of "$result")" -gt "$threshold" ] 2>/dev/null && break
	[ $((SECONDS - start)) -ge "$wait_s" ] && break
	sleep 1
done
echo "after $((SECONDS - start))s:"
echo "marker pixels: $result (threshold $threshold) screenshot: $shot"

n=0
for k in "${keys[@]}"; do
	n=$((n + 1))
	for word in $k; do
		case "$word" in
		WAIT:*) sleep "${word#WAIT:}" ;;
		*)
			if [ "$mode" = tmux ]; then
				tmux -L "$sock" send-keys -t check "$word"
			else
				kitty @ --to "$remote" send-text "$word" >/dev/null 2>&1
			fi
			sleep 1.5
			;;
		esac
	done
	sleep 2
	after="${shot%.png}-after-$n.png"
	DISPLAY=":$disp" import -window root "$after"
	echo "after $k marker pixels: $(measure "$after") screenshot: $after"
done
if [ -s "$tmp/out.log" ]; then
	echo "command log:"
	cat "$tmp/out.log"
fi
[ "$(count_of "$result")" -gt "$threshold" ] 2>/dev/null
