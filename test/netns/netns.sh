#!/usr/bin/env bash
# Test hosts in network namespaces for Qasmat's multi-host tests.
#
#   netns.sh run [CMD...]     create the hosts, run CMD (default: the Go tests
#                             in this folder) with QASMAT_NETNS_PREFIX set,
#                             and remove everything on exit, also on failure
#   netns.sh up PREFIX        create the hosts (the Go tests call this when
#                             run without the script)
#   netns.sh down PREFIX      remove them
#   netns.sh linkup PREFIX H  bring host H's link up again and re-add its
#                             multicast route (the kernel drops it on down)
#
# Hosts: PREFIX-a .. PREFIX-e, each with eth0 = 10.99.0.1 .. 10.99.0.5/24,
# loopback up and a multicast route (224.0.0.0/4 dev eth0, which mDNS needs).
# Their links meet on a bridge in a namespace of its own, PREFIX-br. Nothing
# is added to the root namespace: no interface, address or route, so no test
# traffic leaves these namespaces. Needs root; where namespaces cannot be
# created it prints "SKIP: ..." and exits 0.
set -euo pipefail

HOSTS=(a b c d e)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip() { echo "SKIP: $*"; exit 0; }

host_ns() { echo "$1-$2"; }

down() {
	local prefix=$1 ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case $ns in
		"$prefix"-*)
			# Processes left in a namespace keep it alive; end them first.
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
			ip netns del "$ns" 2>/dev/null || true
			;;
		esac
	done
}

# gc removes namespaces of earlier runs whose process is gone (a test binary
# killed by a timeout cannot clean up after itself).
gc() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		if [[ $ns =~ ^qn([0-9]+)-br$ ]]; then
			pid=${BASH_REMATCH[1]}
			if ! kill -0 "$pid" 2>/dev/null; then down "qn$pid"; fi
		fi
	done
}

linkup() {
	local ns
	ns=$(host_ns "$1" "$2")
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route replace 224.0.0.0/4 dev eth0
}

up() {
	local prefix=$1 br i ns
	[[ $(id -u) -eq 0 ]] || skip "network namespace tests need root"
	command -v ip >/dev/null || skip "the ip command (iproute2) is missing"
	br=$(host_ns "$prefix" br)
	if ! ip netns add "$br" 2>/dev/null; then
		skip "cannot create network namespaces here (ip netns add failed)"
	fi
	# From here on a failure removes what was made.
	trap 'down "$prefix"' ERR
	ip -n "$br" link add br0 type bridge
	# 224.0.0.251 is link-local multicast: flood it, whatever IGMP says.
	ip -n "$br" link set br0 type bridge mcast_snooping 0
	ip -n "$br" link set br0 up
	i=0
	for h in "${HOSTS[@]}"; do
		i=$((i + 1))
		ns=$(host_ns "$prefix" "$h")
		ip netns add "$ns"
		ip -n "$br" link add "v-$h" type veth peer name eth0 netns "$ns"
		ip -n "$br" link set "v-$h" master br0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "10.99.0.$i/24" dev eth0
		linkup "$prefix" "$h"
	done
	trap - ERR
}

cmd=${1:-}
case $cmd in
run)
	shift
	gc
	prefix="qn$$"
	trap 'down "$prefix"' EXIT
	trap 'exit 130' INT TERM
	out=$(up "$prefix")
	if [[ $out == SKIP:* ]]; then echo "$out"; exit 0; fi
	export QASMAT_NETNS_PREFIX=$prefix
	if [[ $# -eq 0 ]]; then
		set -- go test -count=1 -timeout 6m "$HERE"
	fi
	"$@"
	;;
up)
	[[ $# -eq 2 ]] || { echo "usage: $0 up PREFIX" >&2; exit 2; }
	gc
	up "$2"
	;;
down)
	[[ $# -eq 2 ]] || { echo "usage: $0 down PREFIX" >&2; exit 2; }
	down "$2"
	;;
linkup)
	[[ $# -eq 3 ]] || { echo "usage: $0 linkup PREFIX HOST" >&2; exit 2; }
	linkup "$2" "$3"
	;;
*)
	sed -n '2,19p' "$0" >&2
	exit 2
	;;
esac
