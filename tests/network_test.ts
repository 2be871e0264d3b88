/**
 * Bridge networking, all of it inside network namespaces this test makes
 * (`ip netns add`): denocker's bridge, its containers and the clients are
 * in one, an "outside" host with its own address in another, joined by a
 * veth pair. Nothing is sent anywhere else, and the machine's own network
 * is never touched.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { tempDir } from "./_fake_registry.ts";
import { OciLayout, run } from "./_real_registry.ts";
import { busyboxImage, containerTest, loadImage } from "./_containers.ts";
import { startDocker } from "./_docker.ts";
import { hostsFile, resolvConf } from "../lib/runtime/network.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** A UDP echo server (busybox has none): answers each datagram with "echo:" and it. */
/** Sends five UDP datagrams "raw" in hand-made Ethernet frames: rawudp IFACE MAC SRC DST PORT. */
const RAW_UDP = `#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
static unsigned short sum(void *data, int len) {
  unsigned long s = 0;
  unsigned short *p = data;
  for (; len > 1; len -= 2) s += *p++;
  if (len) s += *(unsigned char *)p;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s;
}
int main(int argc, char **argv) {
  int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
  if (s < 0) return 1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) return 1;
  int index = ifr.ifr_ifindex;
  if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) return 1;
  unsigned char frame[128];
  memset(frame, 0, sizeof frame);
  struct ether_header *eth = (void *)frame;
  sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &eth->ether_dhost[0], &eth->ether_dhost[1],
         &eth->ether_dhost[2], &eth->ether_dhost[3], &eth->ether_dhost[4], &eth->ether_dhost[5]);
  memcpy(eth->ether_shost, ifr.ifr_hwaddr.sa_data, 6);
  eth->ether_type = htons(ETH_P_IP);
  struct iphdr *ip = (void *)(frame + sizeof *eth);
  struct udphdr *udp = (void *)((char *)ip + sizeof *ip);
  memcpy((char *)udp + sizeof *udp, "raw", 3);
  ip->version = 4;
  ip->ihl = 5;
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->tot_len = htons(sizeof *ip + sizeof *udp + 3);
  ip->saddr = inet_addr(argv[3]);
  ip->daddr = inet_addr(argv[4]);
  ip->check = sum(ip, sizeof *ip);
  udp->source = htons(40000);
  udp->dest = htons(atoi(argv[5]));
  udp->len = htons(sizeof *udp + 3);
  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_ifindex = index;
  to.sll_halen = 6;
  memcpy(to.sll_addr, eth->ether_dhost, 6);
  int n = sizeof *eth + sizeof *ip + sizeof *udp + 3;
  for (int i = 0; i < 5; i++) {
    if (sendto(s, frame, n, 0, (struct sockaddr *)&to, sizeof to) != n) return 1;
    usleep(100000);
  }
  return 0;
}
`;

const UDP_ECHO = `#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(argv[1]));
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
  for (;;) {
    char b[600] = "echo:";
    struct sockaddr_in p;
    socklen_t l = sizeof p;
    int n = recvfrom(s, b + 5, 512, 0, (struct sockaddr *)&p, &l);
    if (n > 0) sendto(s, b, n + 5, 0, (struct sockaddr *)&p, l);
    if (n > 0) printf("%.*s\\n", n, b + 5), fflush(stdout);
  }
}
`;

/** A command's result; it is not required to succeed. */
async function output(program: string, args: string[]) {
  const result = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
    .output();
  return {
    code: result.code,
    stdout: new TextDecoder().decode(result.stdout),
    stderr: new TextDecoder().decode(result.stderr),
  };
}

/** A network namespace of the test's own, removed at the end. */
class Namespace {
  constructor(readonly name: string) {}

  static async create(name: string): Promise<Namespace> {
    await run("ip", ["netns", "add", name]);
    await run("ip", ["-n", name, "link", "set", "lo", "up"]);
    return new Namespace(name);
  }

  /** Runs `program` inside. */
  exec(program: string, args: string[]) {
    return output("nsenter", [`--net=/run/netns/${this.name}`, "--", program, ...args]);
  }

  /** Starts `program` inside, in the background. */
  spawn(program: string, args: string[]): Deno.ChildProcess {
    return new Deno.Command("nsenter", {
      args: [`--net=/run/netns/${this.name}`, "--", program, ...args],
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  /** What containers could leave behind here: interfaces and firewall rules. */
  async leftovers(): Promise<{ links: string[]; ruleset: string }> {
    const links = (await this.exec("ip", ["-o", "link", "show"])).stdout.trim().split("\n")
      .map((line) => line.split(": ")[1].split("@")[0]);
    const ruleset = (await this.exec("nft", ["list", "ruleset"])).stdout.trim();
    return { links, ruleset };
  }

  async remove(): Promise<void> {
    await output("ip", ["netns", "delete", this.name]);
  }
}

Deno.test("a container's /etc/hosts and /etc/resolv.conf are docker's", () => {
  // docker 20-26 write these lines, in this order, for a container on a bridge network.
  assertEquals(
    hostsFile("c0ffee123456", "172.29.0.2"),
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n" +
      "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
      "172.29.0.2\tc0ffee123456\n",
  );
  // A local resolver (systemd-resolved's 127.0.0.53) cannot be reached from the container.
  assertEquals(
    resolvConf("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"),
    "options edns0 trust-ad\nsearch lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n",
  );
  assertEquals(
    resolvConf("nameserver 10.0.0.1\nnameserver ::1\nsearch lan\n"),
    "nameserver 10.0.0.1\nsearch lan\n",
  );
});

containerTest("containers on the default bridge network", async (t) => {
  await using dir = await tempDir();
  await using layout = await OciLayout.create();
  const root = join(dir.path, "root");
  await busyboxImage(layout, "busybox");
  await loadImage(layout, "busybox", root, "busybox:latest");
  const suffix = crypto.randomUUID().slice(0, 8);
  const host = await Namespace.create(`dnt-host-${suffix}`);
  const outside = await Namespace.create(`dnt-out-${suffix}`);
  const cli = (...args: string[]) =>
    host.exec(Deno.execPath(), ["run", "-A", CLI, "--root", root, ...args]);
  const ok = async (...args: string[]) => {
    const result = await cli(...args);
    assertEquals(result.code, 0, `denocker ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  const servers: Deno.ChildProcess[] = [];
  /** Builds a C program static with gcc into the test directory, once. */
  const built = new Map<string, Promise<void>>();
  const buildStatic = (name: string, source: string) => {
    if (!built.has(name)) {
      built.set(
        name,
        (async () => {
          await Deno.writeTextFile(join(dir.path, `${name}.c`), source);
          await run("gcc", [
            "-static",
            "-O1",
            "-o",
            join(dir.path, name),
            join(dir.path, `${name}.c`),
          ]);
        })(),
      );
    }
    return built.get(name)!;
  };
  try {
    // The "outside": 192.0.2.1 (TEST-NET-1) in its own namespace, the test's host at .2.
    await run("ip", [
      "-n",
      host.name,
      "link",
      "add",
      "uplink",
      "type",
      "veth",
      "peer",
      "name",
      "wan",
      "netns",
      outside.name,
    ]);
    await run("ip", ["-n", host.name, "addr", "add", "192.0.2.2/24", "dev", "uplink"]);
    await run("ip", ["-n", host.name, "link", "set", "uplink", "up"]);
    await run("ip", ["-n", host.name, "route", "add", "default", "via", "192.0.2.1"]);
    await run("ip", ["-n", outside.name, "addr", "add", "192.0.2.1/24", "dev", "wan"]);
    await run("ip", ["-n", outside.name, "link", "set", "wan", "up"]);
    // A web server there that answers with the client's address, as it sees it.
    const site = join(dir.path, "site");
    await Deno.mkdir(join(site, "cgi-bin"), { recursive: true });
    await Deno.writeTextFile(
      join(site, "cgi-bin", "ip"),
      '#!/bin/busybox sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n',
    );
    await Deno.chmod(join(site, "cgi-bin", "ip"), 0o755);
    servers.push(
      outside.spawn("/bin/busybox", ["httpd", "-f", "-p", "192.0.2.1:8080", "-h", site]),
    );
    const before = await host.leftovers();
    // Every network namespace on the machine (another test's may come and go, not denocker's).
    const namespaces = async () =>
      (await output("ip", ["netns", "list"])).stdout.split("\n")
        .filter((line) => line.startsWith("denocker-")).sort();
    const namespacesBefore = await namespaces();

    await t.step("a container gets an address, a route and docker's files", async () => {
      const out = await ok(
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route | grep ^default; tail -1 /etc/hosts; hostname",
      );
      assertEquals(
        (await ok(
          "run",
          "--rm",
          "--mac-address",
          "02:00:00:00:00:2a",
          "busybox",
          "cat",
          "/sys/class/net/eth0/address",
        )).trim(),
        "02:00:00:00:00:2a",
      );
      const multicast = await cli(
        "run",
        "--rm",
        "--mac-address",
        "01:00:00:00:00:01",
        "busybox",
        "true",
      );
      assertEquals(multicast.code, 125);
      assertMatch(multicast.stderr, /multicast MAC address/);
      const [address, route, hostsLine, hostname] = out.trim().split("\n");
      assertMatch(address, /eth0\s+inet 172\.29\.0\.\d+\/16/);
      assertMatch(route, /^default via 172\.29\.0\.1 dev eth0/);
      // IPv4 only: no IPv6 on eth0 (no router advertisement is taken), none on the host's bridge.
      assertEquals(
        (await ok("run", "--rm", "busybox", "cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"))
          .trim(),
        "1",
      );
      const ip = /inet (172\.29\.0\.\d+)/.exec(address)![1];
      assertEquals(hostsLine, `${ip}\t${hostname}`);
    });

    await t.step("two containers reach each other by address", async () => {
      await ok("run", "-d", "--name", "web", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc");
      const ip = (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")).trim();
      assertMatch(ip, /^172\.29\.0\.\d+$/);
      assertEquals(
        (await ok("inspect", "-f", "{{.NetworkSettings.Networks.bridge.Gateway}}", "web")).trim(),
        "172.29.0.1",
      );
      const hostname = (await ok("inspect", "-f", "{{.Config.Hostname}}", "web")).trim();
      let fetched = "";
      for (let i = 0; i < 50 && fetched === ""; i++) {
        fetched = (await cli("run", "--rm", "busybox", "wget", "-qO-", `http://${ip}/hostname`))
          .stdout;
        if (fetched === "") await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assertEquals(fetched.trim(), hostname);
      // And the test's host reaches it through the bridge.
      const fromHost = await host.exec("/bin/busybox", ["wget", "-qO-", `http://${ip}/hostname`]);
      assertEquals(fromHost.stdout.trim(), hostname);
    });

    await t.step("going out, a container's address is masqueraded", async () => {
      const seen = await ok(
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        "http://192.0.2.1:8080/cgi-bin/ip",
      );
      assertEquals(seen.trim(), "192.0.2.2");
    });

    await t.step("a user-defined network: names, aliases, --ip, isolation, rm", async () => {
      const id = (await ok("network", "create", "--subnet", "10.77.0.0/24", "appnet")).trim();
      assertMatch(id, /^[0-9a-f]{64}$/);
      assertMatch(await ok("network", "ls"), /^[0-9a-f]{12}\s+appnet\s+bridge\s+local$/m);
      await ok(
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "appnet",
        "--network-alias",
        "database",
        "--ip",
        "10.77.0.50",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
      );
      const dbHostname = (await ok("inspect", "-f", "{{.Config.Hostname}}", "db")).trim();
      const client = await ok(
        "run",
        "--rm",
        "--network",
        "appnet",
        "--add-host",
        "registry.lan:10.1.2.3",
        "--dns",
        "10.0.0.53",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://db/hostname && break; sleep 0.2; done; " +
          "wget -qO- http://database/hostname; grep -wE 'registry.lan|db' /etc/hosts; " +
          "grep nameserver /etc/resolv.conf",
      );
      assertEquals(client.trim().split("\n"), [
        dbHostname,
        dbHostname,
        "10.1.2.3\tregistry.lan",
        `10.77.0.50\tdb database ${dbHostname}`,
        "nameserver 10.0.0.53",
      ]);
      const inspected = JSON.parse(await ok("network", "inspect", "appnet"))[0];
      assertEquals(inspected.IPAM.Config, [{ Subnet: "10.77.0.0/24", Gateway: "10.77.0.1" }]);
      assertEquals(
        Object.values(inspected.Containers).map((c) => (c as { IPv4Address: string }).IPv4Address),
        ["10.77.0.50/24"],
      );
      // The default network does not resolve names, and networks do not reach each other. (sh
      // stays PID 1: busybox timeout execs its command, and PID 1 ignores its SIGTERM.)
      const fromBridge = await cli(
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "timeout 3 wget -qO- http://10.77.0.50/hostname; exit $?",
      );
      assert(fromBridge.code !== 0, fromBridge.stdout);
      const webIp = (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")).trim();
      const toBridge = await cli(
        "run",
        "--rm",
        "--network",
        "appnet",
        "busybox",
        "sh",
        "-c",
        `timeout 3 wget -qO- http://${webIp}/hostname; exit $?`,
      );
      assert(toBridge.code !== 0, toBridge.stdout);
      const injected = await cli(
        "run",
        "--rm",
        "--network",
        "appnet",
        "--network-alias",
        "x\n6.6.6.6 db",
        "busybox",
        "true",
      );
      assertEquals(injected.code, 125);
      assertMatch(injected.stderr, /invalid network alias/);
      const taken = await cli(
        "run",
        "--rm",
        "--network",
        "appnet",
        "--ip",
        "10.77.0.50",
        "busybox",
        "true",
      );
      assertEquals(taken.code, 125);
      assertMatch(taken.stderr, /address 10\.77\.0\.50: it is already in use/);
      const busy = await cli("network", "rm", "appnet");
      assertEquals(busy.code, 1);
      assertMatch(busy.stderr, /container [0-9a-f]{12} is on it/);
      await ok("rm", "-f", "db");
      assertEquals((await ok("network", "rm", "appnet")).trim(), "appnet");
      assert(!(await host.leftovers()).links.some((link) => link.startsWith("dn-")));
    });

    /** What `url` serves, fetched with busybox wget from `where`, once it answers (or ""). */
    const fetchFrom = async (where: Namespace, url: string, tries = 50) => {
      for (let i = 0; i < tries; i++) {
        const got = await where.exec("/bin/busybox", ["wget", "-qO-", url]);
        if (got.code === 0) return got.stdout.trim();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return "";
    };

    await t.step(
      "published TCP ports: on every address, on 127.0.0.1 only, a free one",
      async () => {
        await ok(
          "run",
          "-d",
          "--name",
          "pub",
          "-p",
          "8080:80",
          "-p",
          "127.0.0.1:8081:80",
          "-p",
          "90",
          "busybox",
          "httpd",
          "-f",
          "-p",
          "80",
          "-h",
          "/etc",
        );
        const hostname = (await ok("inspect", "-f", "{{.Config.Hostname}}", "pub")).trim();
        const ports = (await ok("port", "pub")).trim().split("\n");
        assertEquals(ports.slice(0, 2), ["80/tcp -> 0.0.0.0:8080", "80/tcp -> 127.0.0.1:8081"]);
        assertMatch(ports[2], /^90\/tcp -> 0\.0\.0\.0:\d+$/);
        assertEquals((await ok("port", "pub", "80")).trim(), "0.0.0.0:8080\n127.0.0.1:8081");
        // From the host itself: its loopback and its own address; from another host: DNAT.
        assertEquals(await fetchFrom(host, "http://127.0.0.1:8080/hostname"), hostname);
        assertEquals(await fetchFrom(host, "http://192.0.2.2:8080/hostname"), hostname);
        assertEquals(await fetchFrom(host, "http://127.0.0.1:8081/hostname"), hostname);
        assertEquals(await fetchFrom(outside, "http://192.0.2.2:8080/hostname"), hostname);
        // Published on 127.0.0.1 only: not reachable from outside.
        assertEquals(await fetchFrom(outside, "http://192.0.2.2:8081/hostname", 1), "");
        // Another container reaches it through the host's address (hairpin).
        const hairpin = await cli(
          "run",
          "--rm",
          "busybox",
          "wget",
          "-qO-",
          "http://192.0.2.2:8080/hostname",
        );
        assertEquals(hairpin.stdout.trim(), hostname);
        // Another host that routes the containers' subnet through this one reaches no port that
        // is not published (the forward chain drops new connections to the bridge).
        const webIp = (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "pub")).trim();
        await outside.exec("ip", ["route", "add", "172.29.0.0/16", "via", "192.0.2.2"]);
        const direct = await outside.exec("timeout", [
          "3",
          "/bin/busybox",
          "wget",
          "-qO-",
          `http://${webIp}/hostname`,
        ]);
        assert(direct.code !== 0, direct.stdout);
        await outside.exec("ip", ["route", "del", "172.29.0.0/16"]);
      },
    );

    await t.step("a published UDP port", async () => {
      await buildStatic("udpecho", UDP_ECHO);
      await ok(
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        "5353:5353/udp",
        "-p",
        "127.0.0.1:5354:5353/udp",
        "busybox",
        "sh",
        "-c",
        "while [ ! -x /bin/udpecho ]; do sleep 0.1; done; exec udpecho 5353",
      );
      await ok("cp", join(dir.path, "udpecho"), "udp:/bin/udpecho");
      let answer = "";
      for (let i = 0; i < 30 && answer === ""; i++) {
        answer = (await host.exec("python3", [
          "-c",
          "import socket; s=socket.socket(2,2); s.settimeout(0.5); " +
          "s.sendto(b'ping',('127.0.0.1',5353)); print(s.recvfrom(100)[0].decode())",
        ])).stdout.trim();
      }
      assertEquals(answer, "echo:ping");
      // A port published on 127.0.0.1 only: another host's frames for 127.0.0.1 never reach it.
      await buildStatic("rawudp", RAW_UDP);
      const uplinkMac = /link\/ether ([0-9a-f:]+)/.exec(
        (await host.exec("ip", ["-o", "link", "show", "uplink"])).stdout,
      )![1];
      const sent = await outside.exec(join(dir.path, "rawudp"), [
        "wan",
        uplinkMac,
        "192.0.2.1",
        "127.0.0.1",
        "5354",
      ]);
      assertEquals(sent.code, 0, sent.stderr);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const received = await ok("logs", "udp");
      assert(received.includes("ping") && !received.includes("raw"), received);
      await ok("rm", "-f", "udp");
    });

    await t.step(
      "a container's raw frames to 127.0.0.1 never reach the host's loopback",
      async () => {
        // route_localnet lets 127.0.0.1 ports be published; it must not let a container with
        // CAP_NET_RAW (docker's default) send to services bound to the host's 127.0.0.1.
        await buildStatic("rawudp", RAW_UDP);
        await ok(
          "run",
          "-d",
          "--name",
          "raw",
          "busybox",
          "sh",
          "-c",
          "while [ ! -x /bin/rawudp ]; do sleep 0.1; done; sleep 60",
        );
        await ok("cp", join(dir.path, "rawudp"), "raw:/bin/rawudp");
        const bridgeMac = /link\/ether ([0-9a-f:]+)/.exec(
          (await host.exec("ip", ["-o", "link", "show", "denocker0"])).stdout,
        )![1];
        const address = (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "raw")).trim();
        const listener = new Deno.Command("nsenter", {
          args: [
            `--net=/run/netns/${host.name}`,
            "--",
            "python3",
            "-c",
            "import socket,sys; s=socket.socket(2,2); s.bind(('127.0.0.1',5555)); print('ready'); " +
            "sys.stdout.flush(); s.settimeout(2)\ntry: print('got', s.recvfrom(100)[0])\n" +
            "except socket.timeout: print('nothing')",
          ],
          stdout: "piped",
        }).spawn();
        const lines = listener.stdout.pipeThrough(new TextDecoderStream()).getReader();
        assertEquals((await lines.read()).value?.trim(), "ready");
        await ok("exec", "raw", "rawudp", "eth0", bridgeMac, address, "127.0.0.1", "5555");
        let heard = "";
        for (;;) {
          const { value, done } = await lines.read();
          if (done) break;
          heard += value;
        }
        await listener.status;
        assertEquals(heard.trim(), "nothing");
        await ok("rm", "-f", "raw");
      },
    );

    await t.step("a port already published, or in use on the host, fails cleanly", async () => {
      for (const spec of ["8080:80", "127.0.0.1:8080:80"]) {
        const taken = await cli(
          "run",
          "-d",
          "--name",
          "port-taken",
          "-p",
          spec,
          "busybox",
          "sleep",
          "9",
        );
        assertEquals(taken.code, 125);
        assertMatch(taken.stderr, /Bind for [0-9.]+:8080\/tcp failed: port is already allocated/);
        assertEquals(taken.stderr.trim().split("\n").length, 1, taken.stderr);
        const listed = await ok("ps", "-a");
        assert(!listed.includes("port-taken"), listed);
      }
      const listener = host.spawn("/bin/busybox", ["nc", "-l", "-p", "9090"]);
      servers.push(listener);
      let busy = { code: 0, stderr: "" };
      for (let i = 0; i < 20; i++) {
        busy = await cli("run", "--rm", "-p", "9090:80", "busybox", "true");
        if (busy.code !== 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assertEquals(busy.code, 125);
      assertMatch(busy.stderr, /9090\/tcp failed: port is already in use on the host/);
      await ok("rm", "-f", "pub");
      assertEquals([...Deno.readDirSync(join(root, "networks", "ports"))], []);
    });

    await t.step(
      "addresses are not given twice, and a stale reservation is taken back",
      async () => {
        const addresses = join(root, "networks", "bridge", "addresses");
        const web = (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")).trim();
        await ok("run", "-d", "--name", "second", "busybox", "sleep", "60");
        const second = (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "second"))
          .trim();
        assert(second !== web, `both got ${web}`);
        assertEquals(
          JSON.parse(await Deno.readTextFile(join(addresses, second))).container,
          (await ok("inspect", "-f", "{{.Id}}", "second")).trim(),
        );
        // What a crash left: an address held for a container that does not exist.
        await ok("rm", "-f", "second");
        await Deno.writeTextFile(join(addresses, second), "0".repeat(64));
        await ok("run", "-d", "--name", "third", "busybox", "sleep", "60");
        assertEquals(
          (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "third")).trim(),
          second,
        );
        await ok("rm", "-f", "third");
      },
    );

    await t.step("network connect and disconnect, running and stopped", async () => {
      await ok("network", "create", "--subnet", "10.78.0.0/24", "joinnet");
      await ok("run", "-d", "--name", "member", "--network", "joinnet", "busybox", "sleep", "300");
      await ok("run", "-d", "--name", "joiner", "busybox", "sleep", "300");
      const addresses = "ip -4 -o addr | awk '{print $2, $4}'";
      // A running container gets eth1 at once; both ends find each other by name and alias.
      await ok(
        "network",
        "connect",
        "--alias",
        "newcomer",
        "--ip",
        "10.78.0.9",
        "joinnet",
        "joiner",
      );
      const joinerIp = (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "joiner"))
        .trim();
      assertEquals((await ok("exec", "joiner", "sh", "-c", addresses)).trim().split("\n"), [
        "lo 127.0.0.1/8",
        `eth0 ${joinerIp}/16`,
        "eth1 10.78.0.9/24",
      ]);
      assertEquals(
        (await ok("exec", "member", "sh", "-c", "ping -c1 -W2 newcomer >/dev/null && echo up"))
          .trim(),
        "up",
      );
      assertEquals(
        (await ok("exec", "joiner", "sh", "-c", "ping -c1 -W2 member >/dev/null && echo up"))
          .trim(),
        "up",
      );
      const networks = JSON.parse(
        await ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", "joiner"),
      );
      assertEquals(Object.keys(networks), ["bridge", "joinnet"]);
      assertEquals(networks.joinnet.IPAddress, "10.78.0.9");
      const again = await cli("network", "connect", "joinnet", "joiner");
      assertEquals(again.code, 1);
      assertMatch(again.stderr, /^denocker: .*it is already on it\n$/);
      // Kept across a stop and start.
      await ok("stop", "-t", "1", "joiner");
      await ok("start", "joiner");
      assertMatch(await ok("exec", "joiner", "sh", "-c", addresses), /^eth1 10\.78\.0\.9\/24$/m);
      // Gone at once: the interface, the other side's /etc/hosts line, the reservation.
      await ok("network", "disconnect", "joinnet", "joiner");
      assertEquals((await ok("exec", "joiner", "sh", "-c", addresses)).trim().split("\n"), [
        "lo 127.0.0.1/8",
        `eth0 ${joinerIp}/16`,
      ]);
      assert(!(await ok("exec", "member", "cat", "/etc/hosts")).includes("newcomer"));
      assertEquals(
        [...Deno.readDirSync(join(root, "networks", "joinnet", "addresses"))].length,
        1,
      );
      const notOn = await cli("network", "disconnect", "joinnet", "joiner");
      assertEquals(notOn.code, 1);
      assertMatch(notOn.stderr, /it is not connected to it/);
      // Its first network too: then it has only lo, as --network none.
      await ok("network", "disconnect", "bridge", "joiner");
      assertEquals((await ok("exec", "joiner", "sh", "-c", addresses)).trim(), "lo 127.0.0.1/8");
      assertEquals(
        (await ok("inspect", "-f", "{{.HostConfig.NetworkMode}}", "joiner")).trim(),
        "none",
      );
      // A stopped container is connected at its next start.
      await ok("stop", "-t", "1", "member");
      await ok("network", "connect", "bridge", "member");
      await ok("start", "member");
      assertMatch(await ok("exec", "member", "sh", "-c", addresses), /^eth1 172\.29\.0\.\d+\/16$/m);
      await ok("rm", "-f", "member", "joiner");
      await ok("network", "rm", "joinnet");
      assert(!(await host.leftovers()).links.some((link) => link.startsWith("dn-")));
    });

    await t.step("the default network's subnet comes from the config's bip", async () => {
      const config = join(dir.path, "bip.json");
      await Deno.writeTextFile(config, JSON.stringify({ bip: "10.79.0.1/24" }));
      const withBip = (...args: string[]) =>
        host.exec("env", [
          `DENOCKER_CONFIG=${config}`,
          Deno.execPath(),
          "run",
          "-A",
          CLI,
          "--root",
          root,
          ...args,
        ]);
      // Not while a container is on it (web runs there).
      const busy = await withBip("run", "--rm", "busybox", "true");
      assertEquals(busy.code, 125);
      assertMatch(
        busy.stderr,
        /^denocker: Cannot move the default network to 10\.79\.0\.0\/24 .*container [0-9a-f]{12} is on 172\.29\.0\.0\/16/,
      );
      await ok("stop", "-t", "1", "web");
      const moved = await withBip(
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip route",
      );
      assertEquals(moved.code, 0, moved.stderr);
      assertMatch(moved.stdout, /inet 10\.79\.0\.2\/24 /);
      assertMatch(moved.stdout, /^default via 10\.79\.0\.1 /m);
      const inspected = JSON.parse((await withBip("network", "inspect", "bridge")).stdout)[0];
      assertEquals(inspected.IPAM.Config, [{ Subnet: "10.79.0.0/24", Gateway: "10.79.0.1" }]);
      await Deno.writeTextFile(config, JSON.stringify({ bip: "10.79.0.0/24" }));
      const bad = await withBip("run", "--rm", "busybox", "true");
      assertEquals(bad.code, 125);
      assertMatch(
        bad.stderr,
        /^denocker: Cannot read config .*"bip": 10\.79\.0\.0\/24 is its subnet's network/,
      );
      // Without it, the built-in subnet again (web starts there once more).
      await ok("run", "--rm", "busybox", "true");
      await ok("start", "web");
      assertMatch(
        (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")).trim(),
        /^172\.29\.0\.\d+$/,
      );
    });

    await t.step("nothing is left: --rm, stop, rm -f, and a killed denocker run", async () => {
      await ok("stop", "-t", "1", "web");
      assertEquals(
        (await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")).trim(),
        "",
      );
      const killed = host.spawn(Deno.execPath(), [
        "run",
        "-A",
        CLI,
        "--root",
        root,
        "run",
        "--name",
        "killed",
        "busybox",
        "sleep",
        "60",
      ]);
      for (let i = 0; i < 100; i++) {
        const state = await cli("inspect", "-f", "{{.State.Status}}", "killed");
        if (state.stdout.trim() === "running") break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert((await host.leftovers()).links.some((link) => link.startsWith("vd")));
      // SIGKILL to the nsenter and the denocker run under it.
      await output("pkill", ["-KILL", "-f", "--", "--name killed"]);
      await killed.status;
      // The next container command finds the orphan and releases what it held.
      await ok("ps", "-a");
      await ok("rm", "-f", "web", "killed");
      assertEquals(await host.leftovers(), before);
      assertEquals(before.ruleset, "");
      assertEquals([...Deno.readDirSync(join(root, "networks", "bridge", "addresses"))], []);
      assertEquals(await namespaces(), namespacesBefore);
    });
  } finally {
    for (const server of servers) {
      server.kill("SIGKILL");
      await server.status;
    }
    // One at a time: rm of several stops at the first it does not find.
    for (
      const name of ["web", "second", "third", "killed", "pub", "udp", "port-taken", "db", "raw"]
    ) {
      await cli("rm", "-f", name);
    }
    await cli("network", "rm", "appnet");
    await host.remove();
    await outside.remove();
  }
}, ["ip", "nft", "gcc", "python3"]);

containerTest(
  "hosts, resolv.conf, port and inspect as a real dockerd with its bridge has them",
  async () => {
    await using dir = await tempDir();
    await using layout = await OciLayout.create();
    const root = join(dir.path, "root");
    await busyboxImage(layout, "busybox");
    await loadImage(layout, "busybox", root, "busybox:latest");
    const host = await Namespace.create(`dnt-dk-${crypto.randomUUID().slice(0, 8)}`);
    // docker's bridge, NAT and proxy are made inside the test's namespace only.
    const daemon = await startDocker({ namespace: host.name });
    try {
      const archive = join(dir.path, "busybox.tar");
      await run(Deno.execPath(), [
        "run",
        "-A",
        CLI,
        "--root",
        root,
        "save",
        "-o",
        archive,
        "busybox",
      ]);
      await daemon.docker("load", "-i", archive);
      const ours = async (...args: string[]) => {
        const result = await host.exec(Deno.execPath(), [
          "run",
          "-A",
          CLI,
          "--root",
          root,
          ...args,
        ]);
        assertEquals(result.code, 0, `denocker ${args.join(" ")}: ${result.stderr}`);
        return result.stdout;
      };
      const theirs = (...args: string[]) => daemon.docker(...args);
      const seen = async (tool: (...args: string[]) => Promise<string>) => {
        await tool(
          "run",
          "-d",
          "--name",
          "web",
          "-p",
          "8080:80",
          "-p",
          "127.0.0.1:8081:80/udp",
          "busybox",
          "sleep",
          "60",
        );
        const files = await tool(
          "run",
          "--rm",
          "--hostname",
          "h1",
          "busybox",
          "sh",
          "-c",
          "cat /etc/hosts; echo ---; cat /etc/resolv.conf",
        );
        const none = await tool(
          "run",
          "--rm",
          "--network",
          "none",
          "--hostname",
          "h1",
          "busybox",
          "cat",
          "/etc/hosts",
        );
        // docker adds IPv6 ([::]) bindings; denocker publishes IPv4 only. docker prints the
        // ports in its map's (random) order, so the lines are compared as a sorted set.
        const port = (await tool("port", "web")).split("\n").filter((line) =>
          line !== "" && !line.includes("[::]") && !line.includes(":::")
        ).sort();
        const ports = JSON.parse(
          await tool("inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"),
        );
        for (const key of Object.keys(ports)) {
          ports[key] = ports[key].filter((binding: { HostIp: string }) => binding.HostIp !== "::");
        }
        const bindings = await tool("inspect", "-f", "{{json .HostConfig.PortBindings}}", "web");
        const prefix = await tool("inspect", "-f", "{{.NetworkSettings.IPPrefixLen}}", "web");
        await tool("rm", "-f", "web");
        // The subnets differ (docker's 172.17.0.0/16, denocker's 172.29.0.0/16).
        return {
          files: files.replace(/172\.(17|29)\.0\./g, "SUBNET."),
          none,
          port,
          ports,
          bindings,
          prefix,
        };
      };
      assertEquals(await seen(ours), await seen(theirs));
    } finally {
      await daemon.close();
      await host.remove();
    }
  },
  ["ip", "nft", "dockerd", "docker", "iptables"],
);
