/// Bad input in the Topology document itself: wrong types, unknown fields, missing fields,
/// unsupported values. Each asserts the exact file:line:column, the path and key words.

import Testing
import Wire
@testable import Topology

@Suite struct TopologyDocumentTests {
    let h = Fixtures.header

    @Test func wrongScalarType() {
        expectError(h + "  cluster: {mtu: abc}\n" + Fixtures.oneNode,
                    line: 5, column: 18, path: "spec.cluster.mtu", ["expected an MTU", "576", "9000", "got \"abc\""])
    }

    @Test func quotedNumberIsAString() {
        expectError(h + "  cluster: {mtu: \"1500\"}\n" + Fixtures.oneNode,
                    line: 5, column: 18, path: "spec.cluster.mtu", ["got the string \"1500\"", "remove the quotes"])
    }

    @Test func mappingWhereAListIsExpected() {
        expectError(h + "  nodes: {}\n",
                    line: 5, column: 10, path: "spec.nodes", ["expected a list of nodes", "got a mapping"])
    }

    @Test func listWhereAMappingIsExpected() {
        expectError(h + "  cluster: [bridge]\n" + Fixtures.oneNode,
                    line: 5, column: 12, path: "spec.cluster", ["expected a mapping", "got a list"])
    }

    @Test func unknownFieldWithDidYouMean() {
        expectError(h + Fixtures.oneNode + "  senario: []\n",
                    line: 7, column: 3, path: "spec.senario", ["unknown field `senario`", "did you mean `scenario`?"])
        expectError(h + "  cluster: {podSubnets: 10.244.0.0/16}\n" + Fixtures.oneNode,
                    line: 5, column: 13, path: "spec.cluster.podSubnets", ["unknown field", "did you mean `podSubnet`?"])
    }

    @Test func unknownFieldFarFromAnyNameListsTheFields() {
        expectError(h + Fixtures.oneNode + "  routers: 3\n",
                    line: 7, column: 3, path: "spec.routers", ["unknown field `routers`", "`nodes`", "`scenario`", "remove the field"])
    }

    @Test func missingRequiredFields() {
        expectError(h + "  nodes:\n    - {name: pi-1, profile: raspberry-pi-4b}\n",
                    line: 6, column: 7, path: "spec.nodes[0]", ["missing required field `address`", "192.168.50.11/24"])
        expectError("apiVersion: podwire/v1alpha1\nkind: Topology\nmetadata: {name: t}\n",
                    line: 1, column: 1, path: "spec", ["missing required field `spec`"])
        // A block mapping starts at its first key, so a missing field is reported there.
        expectError(h + "  seed: 3\n",
                    line: 5, column: 3, path: "spec", ["missing required field `nodes`"])
    }

    @Test func addressWithoutPrefix() {
        expectError(h + "  nodes:\n    - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11}\n",
                    line: 6, column: 55, path: "spec.nodes[0].address",
                    ["expected an IPv4 address with a prefix length, like 192.168.50.11/24; got \"192.168.50.11\"", "192.168.50.11/24"])
    }

    @Test func networkWithHostBits() {
        expectError(h + "  cluster: {podSubnet: 10.244.0.1/16}\n" + Fixtures.oneNode,
                    line: 5, column: 24, path: "spec.cluster.podSubnet", ["host bits", "did you mean 10.244.0.0/16?"])
    }

    @Test func unknownProfileWithDidYouMean() {
        expectError(h + "  nodes:\n    - {name: pi-1, profile: raspberry-pi-4, address: 192.168.50.11/24}\n",
                    line: 6, column: 29, path: "spec.nodes[0].profile", ["raspberry-pi-5", "got \"raspberry-pi-4\"", "did you mean `raspberry-pi-4b`?"])
    }

    @Test func badNodeName() {
        expectError(h + "  nodes:\n    - {name: Pi_1, profile: raspberry-pi-4b, address: 192.168.50.11/24}\n",
                    line: 6, column: 14, path: "spec.nodes[0].name", ["DNS-1123 label", "\"Pi_1\""])
    }

    @Test func bareNumberDuration() {
        expectError(h + "  duration: 2\n" + Fixtures.oneNode,
                    line: 5, column: 13, path: "spec.duration", ["bare number 2", "add a unit, e.g. 2s"])
    }

    @Test func unknownDurationUnit() {
        expectError(h + "  duration: 2sec\n" + Fixtures.oneNode,
                    line: 5, column: 13, path: "spec.duration", ["unit `sec` is unknown", "did you mean `s`? Units are"])
    }

    @Test func flannelBackendsAreAccepted() throws {
        #expect(try Fixtures.parse(h + "  cluster: {cni: flannel-vxlan}\n" + Fixtures.oneNode).cluster.cni == .flannelVXLAN)
        #expect(try Fixtures.parse(h + "  cluster: {cni: flannel-host-gw}\n" + Fixtures.oneNode).cluster.cni == .flannelHostGW)
        expectError(h + "  cluster: {cni: brigde}\n" + Fixtures.oneNode,
                    line: 5, column: 18, path: "spec.cluster.cni", ["did you mean `bridge`?"])
    }

    /// The CNI defaults to `bridge` for one node and to flannel-vxlan for several; a written
    /// value always wins.
    @Test func severalNodesDefaultToFlannelVXLAN() throws {
        let nodes = """
              nodes:
                - {name: a, profile: raspberry-pi-4b, address: 192.168.1.2/24}
                - {name: b, profile: raspberry-pi-4b, address: 192.168.1.3/24}
            """
        #expect(try Fixtures.parse(h + nodes).cluster.cni == .flannelVXLAN)
        #expect(try Fixtures.parse(h + Fixtures.oneNode).cluster.cni == .bridge)
        #expect(try Fixtures.parse(h + "  cluster: {cni: bridge}\n" + nodes).cluster.cni == .bridge)
    }

    @Test func hostsAreMachinesWithoutAKubernetesRole() throws {
        let t = try Fixtures.parse(h + Fixtures.oneNode + """

              hosts:
                - {name: ext, address: 192.168.50.100/24}
              scenario:
                - {at: 0s, ping: {from: host/ext, to: node/pi-1}}
            """)
        #expect(t.hosts.map(\.name) == ["ext"])
        #expect(t.hosts.first?.address == IPv4Interface("192.168.50.100/24"))
        guard case .ping(let p) = t.scenario[0].action else { Issue.record("expected ping"); return }
        #expect(p.from == .host("ext"))
        let bad = Fixtures.errors(h + Fixtures.oneNode + """

              hosts:
                - {name: pi-1, address: 192.168.50.11/24}
              scenario:
                - {at: 0s, ping: {from: host/nope, to: node/pi-1}}
            """)
        #expect(bad.contains { $0.path == "spec.hosts[0].name" && $0.message.contains("duplicate name pi-1") })
        #expect(bad.contains { $0.path == "spec.hosts[0].address" && $0.message.contains("duplicate address 192.168.50.11") })
        #expect(bad.contains { $0.message.contains("host/nope names no host") })
    }

    @Test func mtuOutOfRange() {
        expectError(h + "  cluster: {mtu: 9001}\n" + Fixtures.oneNode,
                    line: 5, column: 18, path: "spec.cluster.mtu", ["between 576 and 9000", "got 9001"])
    }

    @Test func udpFalseIsRefused() {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, iperf3: {client: node/pi-1, server: node/pi-1, udp: false}}
            """
        expectError(yaml, line: 8, column: 68, path: "spec.scenario[0].iperf3.udp", ["TCP is not modelled yet; set udp: true"])
    }

    @Test func udpMissingMeansTCP() {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, iperf3: {client: node/pi-1, server: node/pi-1}}
            """
        expectError(yaml, line: 8, column: 24, path: "spec.scenario[0].iperf3.udp", ["TCP is not modelled yet", "udp: true"])
    }

    @Test func stepNeedsExactlyOneAction() {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - at: 0s
                - at: 1s
                  ping: {from: node/pi-1, to: node/pi-1}
                  iperf3: {client: node/pi-1, server: node/pi-1, udp: true}
            """
        expectError(yaml, line: 8, column: 7, path: "spec.scenario[0]", ["expected one of `iperf3`, `ping` or `udp`"])
        expectError(yaml, line: 9, column: 7, path: "spec.scenario[1]", ["exactly one action", "`iperf3` and `ping`"])
    }

    @Test func udpEchoStepDefaultsMirrorTheKernelReference() throws {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, udp: {client: node/pi-1, server: node/pi-1}}
                - {at: 1s, udp: {client: node/pi-1, server: node/pi-1, port: 9000, count: 5, interval: 10ms, length: 1422, echo: false}}
            """
        let t = try Fixtures.parse(yaml)
        guard case .udp(let a) = t.scenario[0].action, case .udp(let b) = t.scenario[1].action else {
            Issue.record("expected udp steps")
            return
        }
        #expect(a.port == 8080 && a.count == 3 && a.length == 64 && a.echo && a.interval == .milliseconds(50))
        #expect(b.port == 9000 && b.count == 5 && b.length == 1422 && !b.echo && b.interval == .milliseconds(10))
        #expect(t.scenario[1].end == .milliseconds(1050))
    }

    @Test func udpEchoStepRejectsBadValues() {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, udp: {client: node/pi-1, server: node/pi-1, count: 0, ech: true}}
            """
        expectError(yaml, line: 8, column: 67, path: "spec.scenario[0].udp.count", ["between 1 and 1000000", "got 0"])
        expectError(yaml, line: 8, column: 70, path: "spec.scenario[0].udp.ech", ["unknown field", "did you mean `echo`"])
    }

    /// `bitrate: 0` is iperf3's `-b 0` (unlimited): accepted from a pod or a node (their cores
    /// and, for a node, its send buffer hold them back), refused from a plain host, whose CPU
    /// podwire does not model.
    @Test func unlimitedBitrateOnlyFromAPiNode() throws {
        let pod = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, iperf3: {client: pod/a, server: node/pi-1, udp: true, bitrate: 0}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: a}
            spec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}
            """
        let t = try Fixtures.parse(pod)
        guard case .iperf3(let s) = t.scenario[0].action else {
            Issue.record("expected an iperf3 step")
            return
        }
        #expect(s.bitrate == 0)
        // A node's own sender too: its send buffer holds it to the wire (SendBufferTests).
        let node = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, iperf3: {client: node/pi-1, server: node/pi-1, udp: true, bitrate: 0}}
            """
        guard case .iperf3(let n) = try Fixtures.parse(node).scenario[0].action else {
            Issue.record("expected an iperf3 step")
            return
        }
        #expect(n.bitrate == 0)
        let host = h + Fixtures.oneNode + """
              hosts:
                - {name: ext, address: 192.168.50.100/24}
              scenario:
                - {at: 0s, iperf3: {client: host/ext, server: node/pi-1, udp: true, bitrate: 0}}
            """
        expectError(host, line: 10, column: 82, path: "spec.scenario[0].iperf3.bitrate",
                    ["bitrate 0 (unlimited) needs a sender on a Pi node", "host/ext is a plain host"])
    }

    @Test func badScenarioValues() {
        let yaml = h + Fixtures.oneNode + """
              scenario:
                - {at: 0s, iperf3: {client: node/pi-1, server: svc/web, udp: true, bitrate: fast, length: 70000}}
                - {at: -1s, ping: {from: pi-1, to: node/pi-1, interval: 10us}}
            """
        let errors = Fixtures.errors(yaml)
        #expect(errors.contains { $0.path == "spec.scenario[0].iperf3.server" && $0.message.contains("svc/web names no Service") })
        #expect(errors.contains { $0.path == "spec.scenario[0].iperf3.bitrate" && $0.message.contains("100M") })
        #expect(errors.contains { $0.path == "spec.scenario[0].iperf3.length" && $0.message.contains("65507") })
        #expect(errors.contains { $0.path == "spec.scenario[1].at" && $0.message.contains("0s or more") })
        #expect(errors.contains { $0.path == "spec.scenario[1].ping.from" && $0.message.contains("pod/NAME, node/NAME or deploy/NAME") })
        #expect(errors.contains { $0.path == "spec.scenario[1].ping.interval" && $0.message.contains("at least 1ms") })
        #expect(errors.count == 6)
    }

    @Test func stepAfterTheEndOfTheRun() {
        let yaml = h + "  duration: 1s\n" + Fixtures.oneNode + """
              scenario:
                - {at: 1s, ping: {from: node/pi-1, to: node/pi-1}}
            """
        expectError(yaml, line: 9, column: 7, path: "spec.scenario", ["never run", "raise spec.duration"])
    }

    @Test func badCapture() {
        expectError(h + Fixtures.oneNode + "  capture: {interfaces: \"*\", snaplen: 10}\n",
                    line: 7, column: 25, path: "spec.capture.interfaces", ["expected a list", "[\"*\"]"])
        expectError(h + Fixtures.oneNode + "  capture: {snaplen: 10}\n",
                    line: 7, column: 22, path: "spec.capture.snaplen", ["between 64 and 262144"])
    }

    @Test func wrongApiVersion() {
        expectError("apiVersion: podwire.dev/v1\nkind: Topology\nmetadata: {name: t}\nspec:\n" + Fixtures.oneNode,
                    line: 1, column: 13, path: "apiVersion", ["expected podwire/v1alpha1", "podwire.dev/v1"])
    }

    @Test func manyErrorsAreCollectedInFileOrder() {
        let yaml = h + """
              duration: 5
              cluster: {mtu: abc, cni: calico}
              nodes:
                - {name: pi-1, profile: pi4, address: 10.244.0.5/24}
            """
        let errors = Fixtures.errors(yaml)
        #expect(errors.map(\.path) == ["spec.duration", "spec.cluster.mtu", "spec.cluster.cni", "spec.nodes[0].profile", "spec.nodes[0].address"])
        #expect(errors.map(\.line) == [5, 6, 6, 8, 8])
        #expect(errors.allSatisfy { $0.hint != nil })
    }
}

/// `ScenarioStep.isCutShort`: a udp or ping step whose last send falls at or after the run's
/// end cannot get its answer back; an iperf3 step is cut only when its sending time runs past.
@Suite struct ScenarioStepCutShortTests {
    static let here = SourceLocation(file: "t.yaml", line: 1, column: 1)

    @Test func udpAndPingAreCutFromTheirLastSendOn() {
        let udp = ScenarioStep(at: .milliseconds(100), action: .udp(UDPEchoStep(
            client: .pod("a"), server: .pod("b"), port: 8080, count: 3, interval: .milliseconds(50), length: 64, echo: true)),
            location: Self.here)
        #expect(udp.lastSend == .milliseconds(200))
        #expect(!udp.isCutShort(byRunEnd: .milliseconds(201)))
        #expect(udp.isCutShort(byRunEnd: .milliseconds(200)))
        let ping = ScenarioStep(at: .zero, action: .ping(PingStep(from: .pod("a"), to: .pod("b"), count: 1,
                                                                   interval: .seconds(1), size: 56)), location: Self.here)
        #expect(ping.lastSend == .zero && !ping.isCutShort(byRunEnd: .nanoseconds(1)))
    }

    @Test func iperf3IsCutWhenItsSendingTimeRunsPastTheEnd() {
        let iperf = ScenarioStep(at: .milliseconds(500), action: .iperf3(Iperf3Step(
            client: .pod("a"), server: .pod("b"), port: 5201, bitrate: 1_000_000, length: 1400, time: .seconds(1))),
            location: Self.here)
        #expect(iperf.lastSend == .milliseconds(1500))
        #expect(!iperf.isCutShort(byRunEnd: .milliseconds(1500)))
        #expect(iperf.isCutShort(byRunEnd: .milliseconds(1499)))
    }
}
