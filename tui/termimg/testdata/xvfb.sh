# Shared by the real-terminal checks (xterm_sixel_check.sh, kitty_check.sh), sourced:
# a temporary directory $tmp removed at exit together with the processes in $pids, and a
# virtual display :$disp (Xvfb, 1280x900) ready for X clients.
#
#   need_tools TOOL...   exits 2 naming the first missing tool
#   start_xvfb           starts Xvfb on a free display, sets disp; exits 2 if it fails
#   pids+=(PID)          processes to kill at exit

need_tools() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
	done
}

tmp=$(mktemp -d)
pids=()
cleanup() {
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[$i]}" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

start_xvfb() {
	disp=98
	while [ -e "/tmp/.X${disp}-lock" ] || [ -e "/tmp/.X11-unix/X${disp}" ]; do
		disp=$((disp + 1))
	done
	Xvfb ":$disp" -screen 0 1280x900x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		DISPLAY=":$disp" xdpyinfo >/dev/null 2>&1 && return
		sleep 0.1
	done
	echo "Xvfb :$disp did not start:" >&2
	cat "$tmp/xvfb.log" >&2
	exit 2
}
