# Shared by run.sh, mem.sh and ab.sh: source it once REPO (the repository) and WORK (the
# scripts' scratch folder) are set. Everything binds to 127.0.0.1.

# The UDP load generator (bench/tracker/udpload), built as a test binary into $WORK.
build_udpload() {
  (cd "$REPO" && go test -c -o "$WORK/udpload.test" ./bench/tracker/udpload)
}

# The same 10,000 infohashes for every tracker and every script, into $WORK/ih.txt.
make_infohashes() {
  python3 -c "
import random
r = random.Random(424242)
print('\n'.join('%040x' % r.getrandbits(160) for _ in range(10000)))" >"$WORK/ih.txt"
}

# opentracker's work folder, $WORK/ot, with ih.txt as its whitelist (Debian's build serves only
# whitelisted infohashes; it chroots into the folder, so -w /whitelist.txt is relative to it).
make_ot_whitelist() {
  mkdir -p "$WORK/ot"
  cp "$WORK/ih.txt" "$WORK/ot/whitelist.txt"
  chmod 755 "$WORK/ot"; chmod 644 "$WORK/ot/whitelist.txt"
}

# wait_port PORT: waits up to 10 s for a TCP listener on 127.0.0.1:PORT; exits if none.
wait_port() {
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 never opened" >&2; exit 1
}

# udpload PORT VAR=VALUE...: udpload against 127.0.0.1:PORT with the infohashes of ih.txt;
# UDPLOAD_DURATION=15s measures (prints RESULT), UDPLOAD_FILL=100 announces that many peers per
# torrent once (prints FILLED).
udpload() {
  local port=$1; shift
  env UDPLOAD_TARGET="127.0.0.1:$port" UDPLOAD_IH_FILE="$WORK/ih.txt" "$@" \
    "$WORK/udpload.test" -test.run '^TestLoad$'
}

# The median of the numbers on stdin, one a line.
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# kib PID KEY: a field of /proc/PID/status in KiB (VmRSS, RssAnon, RssFile).
kib() { awk -v k="$2:" '$1==k {print $2}' /proc/$1/status; }
