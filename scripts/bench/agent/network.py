"""awsvpc on the bench: each task gets its own network namespace, as a Fargate task gets its own ENI.

One Docker bridge network per bench (`cargo-fargate-bench-<moto port>`, labelled with the agent's
endpoint, removed with the leftovers). Per task a "pause" container from the bench's local Debian
base image joins it; the task's containers share its namespace (`--network container:<pause>`), so
they reach each other on localhost, two tasks can listen on one port side by side, and the task's
address is the pause container's IP on the bridge, which the host reaches directly (Linux).

Inside the namespace the pause container runs a tiny TCP forwarder (perl, which debian-slim has)
from 127.0.0.1:<moto port> to the agent on the bridge's gateway address, so what containers are
given on loopback keeps working there: AWS_ENDPOINT_URL, the task role's credentials URI (the SDKs
accept a FULL_URI over plain http only on loopback) and ECS_CONTAINER_METADATA_URI_V4.
"""

import logging
import time

from docker.errors import NotFound

from .engine import ENDPOINT_LABEL, TASK_LABEL

PAUSE_IMAGE = "cargo-fargate-bench/debian:bookworm-slim"
PAUSE_NAME = "pause"

log = logging.getLogger("agent.network")

# Listens on 127.0.0.1:$ARGV[0] and forwards each connection to $ARGV[1]:$ARGV[2], both directions,
# half-closes passed on; one process per connection. SIGTERM ends it at once.
FORWARDER = r"""
use strict; use IO::Socket::INET; use IO::Select;
$| = 1; $SIG{CHLD} = 'IGNORE'; $SIG{TERM} = sub { exit 0 };
my ($lport, $rhost, $rport) = @ARGV;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $lport, Listen => 128, ReuseAddr => 1)
  or die "forwarder: listen 127.0.0.1:$lport: $!\n";
print "forwarding 127.0.0.1:$lport to $rhost:$rport\n";
while (1) {
  my $c = $l->accept or next;
  my $pid = fork;
  if (!defined $pid || $pid) { close $c; next }
  close $l;
  my $r = IO::Socket::INET->new(PeerAddr => $rhost, PeerPort => $rport, Timeout => 10) or exit 1;
  my %peer = ($c => $r, $r => $c);
  my $s = IO::Select->new($c, $r);
  while ($s->count) {
    my @ready = $s->can_read(3600) or exit 0;
    for my $h (@ready) {
      my $n = sysread($h, my $buf, 65536);
      if (!$n) { $s->remove($h); shutdown($peer{$h}, 1); next }
      my $off = 0;
      while ($off < $n) { my $w = syswrite($peer{$h}, $buf, $n - $off, $off); exit 0 unless defined $w; $off += $w }
    }
  }
  exit 0;
}
"""


class Network:
    """The bench's bridge network and the pause containers on it."""

    def __init__(self, engine, port: int):
        self.engine, self.api, self.port = engine, engine.api, port
        self.name = f"cargo-fargate-bench-{port}"
        self.gateway = None
        self.subnet = None

    def ensure(self) -> str:
        """Creates (or reuses) this bench's network; its gateway address, where the host listens."""
        found = [n for n in self.api.networks(names=[self.name])
                 if n["Name"] == self.name and (n.get("Labels") or {}).get(ENDPOINT_LABEL) == self.engine.endpoint]
        if found:
            net = self.api.inspect_network(found[0]["Id"])
        else:
            options = {}
            try:  # the Engine's --mtu applies to docker0 only: give ours the same
                mtu = self.api.inspect_network("bridge")["Options"].get("com.docker.network.driver.mtu")
                if mtu:
                    options["com.docker.network.driver.mtu"] = mtu
            except Exception:
                pass
            created = self.api.create_network(
                self.name, driver="bridge", options=options or None, labels={ENDPOINT_LABEL: self.engine.endpoint}
            )
            net = self.api.inspect_network(created["Id"])
            log.info("network %s created", self.name)
        config = net["IPAM"]["Config"][0]
        self.gateway, self.subnet = config["Gateway"].split("/")[0], config["Subnet"]
        return self.gateway

    def pause(self, task_arn: str, name: str) -> tuple[str, str]:
        """Starts a task's pause container; (container id, its address on the bridge)."""
        host_config = self.api.create_host_config(network_mode=self.name, init=False)
        c = self.api.create_container(
            PAUSE_IMAGE,
            name=name,
            entrypoint=["perl", "-e", FORWARDER],
            command=[str(self.port), self.gateway, str(self.port)],
            labels={TASK_LABEL: task_arn, ENDPOINT_LABEL: self.engine.endpoint},
            host_config=host_config,
        )
        cid = c["Id"]
        try:
            self.api.start(cid)
            info = self.api.inspect_container(cid)
            ip = info["NetworkSettings"]["Networks"][self.name]["IPAddress"]
            if not info["State"]["Running"] or not ip:
                raise RuntimeError(f"the pause container did not start: {info['State'].get('Error') or 'no address'}")
            self._wait_listening(cid)
        except Exception:
            self.engine.remove(cid)
            raise
        return cid, ip

    def _wait_listening(self, cid: str) -> None:
        """The task's containers start only once the forwarder listens (at most 10 s)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if b"forwarding" in self.api.logs(cid):
                return
            if not self.api.inspect_container(cid)["State"]["Running"]:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the pause container's forwarder did not listen: {self.api.logs(cid)[-300:]!r}")

    def remove(self) -> None:
        try:
            self.api.remove_network(self.name)
        except NotFound:
            pass
