import Foundation
import Testing
import Topology
@testable import PodwireKit

/// `iptables-save -c` counts a built-in chain's policy even when the chain has no rules.
/// podwire skipped such chains (kube-proxy leaves nat INPUT empty) without counting, so
/// `--dump-rules` printed `:INPUT ACCEPT [0:0]` in the nat table where the kernel reference
/// has `[16:4974]` on each node.
///
/// Checked against Linux 6.18 in two namespaces joined by a veth, with every built-in chain
/// declared by iptables-restore as the reference does (and one `-m conntrack` rule in FORWARD
/// to turn conntrack on): three UDP flows from 10.9.0.1 to a closed port, the first of three
/// datagrams and the others of one, 10 bytes each. The kernel's counters afterwards:
/// filter INPUT [5:190] and OUTPUT [5:330] (the five port unreachables, 66 bytes each);
/// nat PREROUTING and INPUT [3:114], the first datagram of each flow; nat OUTPUT and
/// POSTROUTING [0:0], because the port unreachables are RELATED to the flows and nat sees
/// only a connection's first packet.
@Suite struct NetfilterPolicyCounterTests {
    @Test func emptyBuiltInChainsCountTheirPolicyAsTheKernelDoes() throws {
        let yaml = """
            apiVersion: podwire/v1alpha1
            kind: Topology
            metadata: {name: policy-counters}
            spec:
              duration: 1s
              nodes: [{name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}]
              hosts: [{name: ext, address: 192.168.50.100/24}]
              scenario:
                - {at: 0ms,   udp: {client: host/ext, server: node/pi-1, port: 9000, count: 3, interval: 1ms, length: 10, echo: false}}
                - {at: 100ms, udp: {client: host/ext, server: node/pi-1, port: 9000, count: 1, length: 10, echo: false}}
                - {at: 200ms, udp: {client: host/ext, server: node/pi-1, port: 9000, count: 1, length: 10, echo: false}}
              capture: {interfaces: ["pi-1/eth0"]}
            """
        let report = try Replay.run(try TopologyFile.parse(yaml: yaml, fileName: "policy-counters.yaml"),
                                    options: RunOptions(outputDirectory: E2E.tempDir("policy-counters")))
        let save = try #require(report.netfilter.first { $0.node == "pi-1" }).iptablesSave
        func policy(_ table: String, _ chain: String) -> String? {
            let lines = save.split(separator: "\n")
            guard let start = lines.firstIndex(of: Substring("*" + table)) else { return nil }
            return lines[start...].first { $0.hasPrefix(":\(chain) ") }.map(String.init)
        }
        // nat INPUT has no rules (kube-proxy and flanneld add none): podwire printed [0:0].
        #expect(policy("nat", "INPUT") == ":INPUT ACCEPT [3:114]")
        #expect(policy("nat", "PREROUTING") == ":PREROUTING ACCEPT [3:114]")
        #expect(policy("nat", "OUTPUT") == ":OUTPUT ACCEPT [0:0]")
        #expect(policy("nat", "POSTROUTING") == ":POSTROUTING ACCEPT [0:0]")
        #expect(policy("filter", "INPUT") == ":INPUT ACCEPT [5:190]")
        #expect(policy("filter", "OUTPUT") == ":OUTPUT ACCEPT [5:330]")
    }
}
