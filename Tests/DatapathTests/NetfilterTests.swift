/// Tests of Netfilter.swift (and its compile/validate files): the kernel reference's rules of
/// pi-1/pi-2 walked per packet as `ipt_do_table` would, the matches and targets one by one,
/// counters, xt_recent lists on simulated time, and the rulesets iptables refuses.

import Datapath
import Engine
import Foundation
import Testing
import Wire

/// The kernel reference's iptables-save files (shared/reference/kernel-ref/out/state), found
/// from this file even when the test directory is reached through a symlink.
enum NetfilterFixtures {
    static let stateDirectory: String = {
        let repository = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            repository.deletingLastPathComponent().appendingPathComponent("shared/reference/kernel-ref/out/state").path,
            "/work/shared/reference/kernel-ref/out/state",
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }()

    static func text(_ file: String) throws -> String {
        try String(contentsOfFile: stateDirectory + "/" + file, encoding: .utf8)
    }

    /// The rules of `node` ("pi-1", "pi-2") after the services were created.
    static func ruleset(_ node: String) throws -> NetfilterRuleset {
        try IptablesSave.parse(try text("\(node).iptables-save.after.txt"))
    }

    static func netfilter(_ node: String = "pi-1") throws -> Netfilter {
        try Netfilter(try ruleset(node))
    }

    static let clusterIP = IPv4Address(10, 96, 0, 20)
    static let emptyClusterIP = IPv4Address(10, 96, 0, 21)
    static let web0 = IPv4Address(10, 244, 0, 3)
    static let web1 = IPv4Address(10, 244, 1, 2)
    static let client = IPv4Address(10, 244, 0, 2)
    static let nodeIP = IPv4Address(192, 168, 50, 11)
    static let lanHost = IPv4Address(192, 168, 50, 20)

    static func udp(_ source: IPv4Address, _ destination: IPv4Address, port: UInt16, sourcePort: UInt16 = 40000,
                    state: ConntrackStateSet = .new, mark: UInt32 = 0, destinationIsLocal: Bool = false) -> NetfilterPacket {
        NetfilterPacket(source: source, destination: destination, protocolNumber: 17, sourcePort: sourcePort,
                        destinationPort: port, inInterface: 3, outInterface: -1, mark: mark, conntrackState: state,
                        length: 92, destinationIsLocal: destinationIsLocal)
    }

    /// A ruleset from iptables-save text (the tests' way of writing rules).
    static func rules(_ text: String) throws -> NetfilterRuleset { try IptablesSave.parse(text) }
}

@Suite struct NetfilterTests {
    typealias F = NetfilterFixtures

    // MARK: - The reference rules, walked

    @Test func clusterIPIsDNATedToOneOfItsTwoEndpoints() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 1)
        for _ in 0..<20 {
            var packet = F.udp(F.client, F.clusterIP, port: 80)
            let verdict = nf.evaluate(.nat, .prerouting, &packet, now: .zero, random: &random)
            #expect(verdict == .dnat(F.web0, port: 8080) || verdict == .dnat(F.web1, port: 8080))
            #expect(packet.mark == 0, "a pod client is not marked for masquerade (no hairpin)")
        }
    }

    @Test func clusterIPSplitsFiftyFiftyWithinFourSigma() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 2026)
        let n = 20_000
        var first = 0
        for _ in 0..<n {
            var packet = F.udp(F.client, F.clusterIP, port: 80)
            if nf.evaluate(.nat, .prerouting, &packet, now: .zero, random: &random) == .dnat(F.web0, port: 8080) { first += 1 }
        }
        // Binomial(20000, 0.5): σ = √(n/4) ≈ 70.7.
        let sigma = (Double(n) / 4).squareRoot()
        #expect(abs(Double(first) - Double(n) / 2) <= 4 * sigma, "web-0 got \(first) of \(n)")
        // The counters saw the same split.
        #expect(nf.counters(.nat, chain: "KUBE-SEP-53TPW7OPUH5WCUCR", rule: 1).packets == UInt64(first))
        #expect(nf.counters(.nat, chain: "KUBE-SEP-GK2X3ZNAHALGOP3S", rule: 1).packets == UInt64(n - first))
        #expect(nf.counters(.nat, chain: "KUBE-SVC-PVIUHHP45RD4PRVF", rule: 2).packets == UInt64(n - first))
    }

    /// PREROUTING(1) → KUBE-SERVICES(1) → KUBE-SVC(1, 2) → KUBE-SEP-53(1, 2): 6 rules, or
    /// KUBE-SVC(1, 2, 3) → KUBE-SEP-GK(1, 2): 7.
    @Test func rulesWalkedCountsEveryRuleExamined() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 9)
        var sawBoth: Set<UInt64> = []
        for _ in 0..<50 {
            let before = nf.rulesWalked
            var packet = F.udp(F.client, F.clusterIP, port: 80)
            let verdict = nf.evaluate(.nat, .prerouting, &packet, now: .zero, random: &random)
            let walked = nf.rulesWalked - before
            #expect(walked == (verdict == .dnat(F.web0, port: 8080) ? 6 : 7))
            sawBoth.insert(walked)
        }
        #expect(sawBoth == [6, 7])
        // A packet to no service: PREROUTING(1) → KUBE-SERVICES(1, 2), then the policy.
        let before = nf.rulesWalked
        var other = F.udp(F.client, IPv4Address(8, 8, 8, 8), port: 53)
        #expect(nf.evaluate(.nat, .prerouting, &other, now: .zero, random: &random) == .accept)
        #expect(nf.rulesWalked - before == 3)
    }

    @Test func serviceWithoutEndpointsIsRejectedForNewFlowsInForward() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 1)
        // From the LAN: FLANNEL-FWD does not accept it, so FORWARD reaches KUBE-SERVICES.
        var packet = F.udp(F.lanHost, F.emptyClusterIP, port: 80)
        #expect(nf.evaluate(.filter, .forward, &packet, now: .zero, random: &random) == .reject(.icmpPortUnreachable))
        #expect(nf.counters(.filter, chain: "KUBE-SERVICES", rule: 0) == (1, 92))
        // Not for an established flow (the ctstate NEW jump does not fire) nor another port.
        var established = F.udp(F.lanHost, F.emptyClusterIP, port: 80, state: .established)
        #expect(nf.evaluate(.filter, .forward, &established, now: .zero, random: &random) == .accept)
        var otherPort = F.udp(F.lanHost, F.emptyClusterIP, port: 81)
        #expect(nf.evaluate(.filter, .forward, &otherPort, now: .zero, random: &random) == .accept)
        // Host-originated (OUTPUT) is rejected too.
        var local = F.udp(F.nodeIP, F.emptyClusterIP, port: 80)
        #expect(nf.evaluate(.filter, .output, &local, now: .zero, random: &random) == .reject(.icmpPortUnreachable))
        // In the reference order FLANNEL-FWD comes first and accepts pod-sourced traffic.
        var fromPod = F.udp(F.client, F.emptyClusterIP, port: 80)
        #expect(nf.evaluate(.filter, .forward, &fromPod, now: .zero, random: &random) == .accept)
        #expect(nf.counters(.filter, chain: "FLANNEL-FWD", rule: 0).packets == 1)
    }

    @Test func kubePostroutingMasqueradesOnlyMarkedPacketsAndClearsTheMark() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 1)
        var marked = F.udp(F.lanHost, F.web1, port: 8080, mark: 0x4000)
        #expect(nf.evaluate(.nat, .postrouting, &marked, now: .zero, random: &random)
                == .masquerade(ports: nil, randomFully: true))
        #expect(marked.mark == 0, "--set-xmark 0x4000/0x0 toggles the bit off")
        // Other mark bits survive the xor.
        var otherBits = F.udp(F.lanHost, F.web1, port: 8080, mark: 0x4001)
        _ = nf.evaluate(.nat, .postrouting, &otherBits, now: .zero, random: &random)
        #expect(otherBits.mark == 0x0001)
        // Unmarked pod → pod on the other node: both chains RETURN, policy ACCEPT, no NAT.
        var unmarked = F.udp(F.client, F.web1, port: 8080)
        #expect(nf.evaluate(.nat, .postrouting, &unmarked, now: .zero, random: &random) == .accept)
        #expect(nf.counters(.nat, chain: "KUBE-POSTROUTING", rule: 0).packets == 1)
        #expect(nf.policyCounters(.nat, .postrouting) == (1, 92))
    }

    @Test func flannelMasqueradesPodToOutsideButNotPodToPod() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 1)
        var outside = F.udp(F.client, IPv4Address(1, 1, 1, 1), port: 53)
        #expect(nf.evaluate(.nat, .postrouting, &outside, now: .zero, random: &random)
                == .masquerade(ports: nil, randomFully: true))
        #expect(nf.counters(.nat, chain: "FLANNEL-POSTRTG", rule: 2).packets == 1)
        var podToPod = F.udp(F.client, F.web1, port: 8080)
        #expect(nf.evaluate(.nat, .postrouting, &podToPod, now: .zero, random: &random) == .accept)
        var multicast = F.udp(F.client, IPv4Address(224, 0, 0, 251), port: 5353)
        #expect(nf.evaluate(.nat, .postrouting, &multicast, now: .zero, random: &random) == .accept)
        // Outside → a pod of this node's /24: RETURN; → a pod of another node: MASQUERADE.
        var toLocalPod = F.udp(F.lanHost, F.web0, port: 8080)
        #expect(nf.evaluate(.nat, .postrouting, &toLocalPod, now: .zero, random: &random) == .accept)
        var toRemotePod = F.udp(F.lanHost, F.web1, port: 8080)
        #expect(nf.evaluate(.nat, .postrouting, &toRemotePod, now: .zero, random: &random)
                == .masquerade(ports: nil, randomFully: true))
    }

    /// An endpoint reaching its own service (hairpin) is marked for masquerade by its SEP chain.
    @Test func hairpinIsMarkedForMasquerade() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 5)
        var seen: Set<IPv4Address> = []
        for _ in 0..<40 {
            var packet = F.udp(F.web0, F.clusterIP, port: 80)
            let verdict = nf.evaluate(.nat, .prerouting, &packet, now: .zero, random: &random)
            if verdict == .dnat(F.web0, port: 8080) {
                #expect(packet.mark == 0x4000)
                seen.insert(F.web0)
            } else {
                #expect(verdict == .dnat(F.web1, port: 8080))
                #expect(packet.mark == 0)
                seen.insert(F.web1)
            }
        }
        #expect(seen.count == 2)
    }

    @Test func nodePortIsMarkedAndDNATed() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 3)
        var packet = F.udp(F.lanHost, F.nodeIP, port: 30080, destinationIsLocal: true)
        let verdict = nf.evaluate(.nat, .prerouting, &packet, now: .zero, random: &random)
        #expect(verdict == .dnat(F.web0, port: 8080) || verdict == .dnat(F.web1, port: 8080))
        #expect(packet.mark == 0x4000)
        // Not local: the nodeports rule does not fire.
        var notLocal = F.udp(F.lanHost, F.nodeIP, port: 30080)
        #expect(nf.evaluate(.nat, .prerouting, &notLocal, now: .zero, random: &random) == .accept)
        // From outside the cluster to the cluster IP: KUBE-SVC's first rule marks it.
        var external = F.udp(F.lanHost, F.clusterIP, port: 80)
        _ = nf.evaluate(.nat, .prerouting, &external, now: .zero, random: &random)
        #expect(external.mark == 0x4000)
    }

    /// KUBE-FIREWALL: `! -s 127.0.0.0/8 -d 127.0.0.0/8 … ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`.
    @Test func conntrackVirtualDNATStateIsMatched() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 1)
        var new = F.udp(F.client, IPv4Address(127, 0, 0, 1), port: 10249)
        #expect(nf.evaluate(.filter, .input, &new, now: .zero, random: &random) == .drop)
        var dnatted = F.udp(F.client, IPv4Address(127, 0, 0, 1), port: 10249, state: [.new, .dnat])
        #expect(nf.evaluate(.filter, .input, &dnatted, now: .zero, random: &random) == .accept)
        var established = F.udp(F.client, IPv4Address(127, 0, 0, 1), port: 10249, state: .established)
        #expect(nf.evaluate(.filter, .input, &established, now: .zero, random: &random) == .accept)
    }

    // MARK: - Chains, policies, counters

    @Test func returnFromABuiltInChainAndFallingOffApplyThePolicy() throws {
        let nf = try Netfilter(try F.rules("""
            *filter
            :INPUT DROP [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :SUB - [0:0]
            -A INPUT -s 10.0.0.1/32 -j RETURN
            -A INPUT -s 10.0.0.2/32 -j SUB
            -A INPUT -s 10.0.0.3/32 -j ACCEPT
            -A SUB -j RETURN
            -A SUB -j ACCEPT
            COMMIT
            """))
        var random = SeededGenerator(seed: 1)
        for (last, expected) in [(1, NetfilterVerdict.drop), (2, .drop), (3, .accept), (4, .drop)] {
            var packet = F.udp(IPv4Address(10, 0, 0, UInt8(last)), F.nodeIP, port: 1)
            #expect(nf.evaluate(.filter, .input, &packet, now: .zero, random: &random) == expected, "10.0.0.\(last)")
        }
        // 10.0.0.1 (RETURN), 10.0.0.2 (SUB's RETURN, then INPUT's third rule misses) and 10.0.0.4.
        #expect(nf.policyCounters(.filter, .input) == (3, 276))
        #expect(nf.counters(.filter, chain: "SUB", rule: 1) == (0, 0))
        #expect(nf.policyCounters(.filter, .forward) == (0, 0))
        #expect(nf.policyCounters(.filter, .prerouting) == (0, 0))
    }

    @Test func isEmptyIsTrueOnlyForRulelessAcceptHooks() throws {
        let nf = try Netfilter(try F.rules("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD DROP [0:0]
            :OUTPUT ACCEPT [0:0]
            -A OUTPUT -j ACCEPT
            COMMIT
            """))
        #expect(nf.isEmpty(.filter, .input))
        #expect(!nf.isEmpty(.filter, .forward))
        #expect(!nf.isEmpty(.filter, .output))
        #expect(nf.isEmpty(.filter, .prerouting), "filter has no PREROUTING hook")
        for hook in NetfilterHook.allCases { #expect(nf.isEmpty(.nat, hook)) }
        let reference = try F.netfilter()
        #expect(!reference.isEmpty(.nat, .prerouting))
        #expect(!reference.isEmpty(.filter, .forward))
    }

    @Test func markTargetsAndMarkMatches() throws {
        let nf = try Netfilter(try F.rules("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -j MARK --set-xmark 0x10/0xff
            -A INPUT -m mark --mark 0x10/0xff -j MARK --or-mark 0x4000
            -A INPUT -m mark ! --mark 0x4010 -j DROP
            COMMIT
            """))
        var random = SeededGenerator(seed: 1)
        var packet = F.udp(F.client, F.nodeIP, port: 1, mark: 0x1_0f0f)
        // (0x10f0f & ~0xff) ^ 0x10 = 0x10f10; or 0x4000 → 0x14f10: not exactly 0x4010 → DROP.
        #expect(nf.evaluate(.filter, .input, &packet, now: .zero, random: &random) == .drop)
        #expect(packet.mark == 0x1_4f10)
        var clean = F.udp(F.client, F.nodeIP, port: 1, mark: 0)
        #expect(nf.evaluate(.filter, .input, &clean, now: .zero, random: &random) == .accept)
        #expect(clean.mark == 0x4010)
    }

    @Test func countersPrintWithSaveMinusC() throws {
        let nf = try F.netfilter()
        var random = SeededGenerator(seed: 1)
        var packet = F.udp(F.client, IPv4Address(8, 8, 8, 8), port: 53)
        _ = nf.evaluate(.nat, .prerouting, &packet, now: .zero, random: &random)
        let lines = nf.save(counters: true).split(separator: "\n")
        #expect(lines.contains(":PREROUTING ACCEPT [1:92]"))
        #expect(lines.contains("[1:92] -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"))
        #expect(lines.contains("[0:0] -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"))
        #expect(lines.contains(":KUBE-SERVICES - [0:0]"))
        nf.zeroCounters()
        #expect(nf.policyCounters(.nat, .prerouting) == (0, 0))
        #expect(nf.rulesWalked == 0)
    }

    // MARK: - Matches

    @Test func statisticDrawsOnceEachTimeItIsEvaluated() throws {
        let nf = try Netfilter(try F.rules("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -s 10.0.0.1/32 -m statistic --mode random --probability 0.25 -j DROP
            COMMIT
            """))
        var random = SeededGenerator(seed: 77)
        for _ in 0..<200 {
            var shadow = random
            let draw = UInt32(truncatingIfNeeded: shadow.next()) & 0x7FFF_FFFF
            var packet = F.udp(IPv4Address(10, 0, 0, 1), F.nodeIP, port: 1)
            let verdict = nf.evaluate(.filter, .input, &packet, now: .zero, random: &random)
            #expect(verdict == (draw < 536_870_912 ? .drop : .accept))
            #expect(random.next() == shadow.next(), "exactly one draw")
        }
        // When the IP part does not match, the statistic match is not evaluated: no draw.
        var shadow = random
        var other = F.udp(IPv4Address(10, 0, 0, 2), F.nodeIP, port: 1)
        _ = nf.evaluate(.filter, .input, &other, now: .zero, random: &random)
        #expect(random.next() == shadow.next())
    }

    @Test func statisticProbabilitiesZeroAndOne() throws {
        var ruleset = NetfilterRuleset()
        ruleset.filter.append(NetfilterRule(matches: [.statisticRandom(probability: 0)], target: .drop), to: "INPUT")
        ruleset.filter.append(NetfilterRule(matches: [.statisticRandom(probability: 1)], target: .reject(.icmpHostProhibited)),
                              to: "INPUT")
        let nf = try Netfilter(ruleset)
        var random = SeededGenerator(seed: 4)
        for _ in 0..<500 {
            var packet = F.udp(F.client, F.nodeIP, port: 1)
            #expect(nf.evaluate(.filter, .input, &packet, now: .zero, random: &random) == .reject(.icmpHostProhibited))
        }
    }

    @Test func portRangesAndNegations() throws {
        let nf = try Netfilter(try F.rules("""
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -p udp -m udp --sport 1000:2000 ! --dport 53 -j DROP
            -A INPUT ! -p udp -j REJECT --reject-with icmp-proto-unreachable
            COMMIT
            """))
        var random = SeededGenerator(seed: 1)
        func verdict(_ sport: UInt16, _ dport: UInt16, proto: UInt8 = 17) -> NetfilterVerdict {
            var packet = F.udp(F.client, F.nodeIP, port: dport, sourcePort: sport)
            packet.protocolNumber = proto
            return nf.evaluate(.filter, .input, &packet, now: .zero, random: &random)
        }
        #expect(verdict(1000, 80) == .drop)
        #expect(verdict(2000, 80) == .drop)
        #expect(verdict(2001, 80) == .accept)
        #expect(verdict(1500, 53) == .accept)
        #expect(verdict(1500, 80, proto: 6) == .reject(.icmpProtoUnreachable))
    }

    @Test func addressTypeLocal() throws {
        var ruleset = NetfilterRuleset()
        ruleset.filter.append(NetfilterRule(matches: [.sourceAddressType(.local, negated: true),
                                                      .destinationAddressType(.local, negated: false)], target: .drop),
                              to: "INPUT")
        let nf = try Netfilter(ruleset)
        var random = SeededGenerator(seed: 1)
        for (sourceLocal, destinationLocal, expected) in [(false, true, NetfilterVerdict.drop), (true, true, .accept),
                                                          (false, false, .accept)] {
            var packet = F.udp(F.lanHost, F.nodeIP, port: 1, destinationIsLocal: destinationLocal)
            packet.sourceIsLocal = sourceLocal
            #expect(nf.evaluate(.filter, .input, &packet, now: .zero, random: &random) == expected)
        }
    }

    // MARK: - Interfaces

    @Test func interfacesResolveToDeviceIndices() throws {
        let text = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A FORWARD -i cni0 -j DROP
            -A FORWARD ! -o cni0 -j REJECT --reject-with icmp-host-unreachable
            -A OUTPUT -o eth9 -j DROP
            COMMIT
            """
        let nf = try Netfilter(try F.rules(text), interfaceIndex: { $0 == "cni0" ? 3 : nil })
        var random = SeededGenerator(seed: 1)
        func forward(in i: Int32, out o: Int32) -> NetfilterVerdict {
            var packet = F.udp(F.client, F.web1, port: 1)
            packet.inInterface = i
            packet.outInterface = o
            return nf.evaluate(.filter, .forward, &packet, now: .zero, random: &random)
        }
        #expect(forward(in: 3, out: 4) == .drop)
        #expect(forward(in: 4, out: 3) == .accept)
        #expect(forward(in: 4, out: 5) == .reject(.icmpHostUnreachable))
        #expect(forward(in: 4, out: -1) == .reject(.icmpHostUnreachable), "no device is not cni0")
        // eth9 does not exist: the rule never matches.
        var out = F.udp(F.nodeIP, F.web1, port: 1)
        out.outInterface = 9
        #expect(nf.evaluate(.filter, .output, &out, now: .zero, random: &random) == .accept)
        // Until the device appears.
        nf.resolveInterfaces([(name: "cni0", index: 3), (name: "eth9", index: 9)])
        #expect(nf.evaluate(.filter, .output, &out, now: .zero, random: &random) == .drop)
    }

    @Test func wildcardInterfacesMatchByPrefix() throws {
        let text = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A INPUT -i veth+ -j DROP
            -A INPUT -i + -j REJECT --reject-with icmp-net-prohibited
            -A OUTPUT ! -o veth+ -j DROP
            COMMIT
            """
        let nf = try Netfilter(try F.rules(text), devices: [(name: "cni0", index: 3), (name: "veth1", index: 5),
                                                             (name: "veth2", index: 70)])
        var random = SeededGenerator(seed: 1)
        func input(_ device: Int32) -> NetfilterVerdict {
            var packet = F.udp(F.client, F.nodeIP, port: 1)
            packet.inInterface = device
            return nf.evaluate(.filter, .input, &packet, now: .zero, random: &random)
        }
        #expect(input(5) == .drop)
        #expect(input(70) == .drop)
        #expect(input(3) == .reject(.icmpNetProhibited))
        #expect(input(-1) == .reject(.icmpNetProhibited), "'+' matches even the empty name")
        #expect(input(1000) == .reject(.icmpNetProhibited))
        var out = F.udp(F.nodeIP, F.client, port: 1)
        out.outInterface = 5
        #expect(nf.evaluate(.filter, .output, &out, now: .zero, random: &random) == .accept)
        out.outInterface = 3
        #expect(nf.evaluate(.filter, .output, &out, now: .zero, random: &random) == .drop)
    }

    // MARK: - xt_recent

    static let affinity = """
        *nat
        :PREROUTING ACCEPT [0:0]
        :INPUT ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :POSTROUTING ACCEPT [0:0]
        -A PREROUTING -m recent --rcheck --seconds 10 --reap --name AFF --mask 255.255.255.255 --rsource -j DNAT --to-destination 10.244.0.3
        -A PREROUTING -m recent --set --name AFF --mask 255.255.255.255 --rsource -j DNAT --to-destination 10.244.1.2
        COMMIT
        """

    @Test func recentSetThenCheckWithinTheWindow() throws {
        let nf = try Netfilter(try F.rules(Self.affinity))
        var random = SeededGenerator(seed: 1)
        func send(_ source: IPv4Address, at seconds: Double) -> NetfilterVerdict {
            var packet = F.udp(source, F.clusterIP, port: 80)
            return nf.evaluate(.nat, .prerouting, &packet, now: .zero + .seconds(seconds), random: &random)
        }
        let a = IPv4Address(10, 1, 0, 1)
        #expect(send(a, at: 0) == .dnat(F.web1, port: nil), "unknown source: --set")
        #expect(send(a, at: 5) == .dnat(F.web0, port: nil), "seen 5 s ago: --rcheck hits")
        #expect(send(a, at: 10) == .dnat(F.web0, port: nil), "exactly --seconds ago still counts")
        #expect(nf.recentList("AFF").map(\.address) == [a])
        // --rcheck does not refresh the stamp: 10 s + 1 ns after the --set it misses, and --reap
        // removes the stale entry before --set adds it again.
        #expect(send(a, at: 10.000_000_001) == .dnat(F.web1, port: nil))
        #expect(nf.recentList("AFF").map(\.lastSeen) == [.zero + .seconds(10.000_000_001)])
        #expect(nf.recentList("NONE").isEmpty)
    }

    /// recent_entry_reap removes the list's *oldest* entry when it is stale, whoever is checked.
    @Test func recentReapRemovesTheOldestStaleEntry() throws {
        let nf = try Netfilter(try F.rules(Self.affinity))
        var random = SeededGenerator(seed: 1)
        func send(_ source: IPv4Address, at seconds: Int) -> NetfilterVerdict {
            var packet = F.udp(source, F.clusterIP, port: 80)
            return nf.evaluate(.nat, .prerouting, &packet, now: .zero + .seconds(seconds), random: &random)
        }
        let a = IPv4Address(10, 1, 0, 1), b = IPv4Address(10, 1, 0, 2)
        _ = send(a, at: 0)
        _ = send(b, at: 5)
        #expect(send(b, at: 12) == .dnat(F.web0, port: nil))
        #expect(nf.recentList("AFF").map(\.address) == [b], "a (set at 0 s) was reaped by b's check at 12 s")
        // Without a check nothing is reaped.
        _ = send(a, at: 13)
        #expect(nf.recentList("AFF").map(\.address) == [b, a])
    }

    @Test func recentListKeepsTheHundredMostRecentlySet() throws {
        let nf = try Netfilter(try F.rules(Self.affinity))
        var random = SeededGenerator(seed: 1)
        func set(_ host: Int, at seconds: Int) {
            // A check at the same time never reaps (nothing is older than 10 s), so the --set runs.
            var packet = F.udp(IPv4Address(rawValue: 0x0A01_0000 + UInt32(host)), F.clusterIP, port: 80)
            _ = nf.evaluate(.nat, .prerouting, &packet, now: .zero + .seconds(seconds), random: &random)
        }
        for host in 0..<100 { set(host, at: 0) }
        #expect(nf.recentList("AFF").count == 100)
        // Host 1 would hit --rcheck, so refresh it by a long gap instead: at 20 s it misses
        // (reaping host 0, the oldest) and is --set again, becoming the newest.
        set(1, at: 20)
        #expect(nf.recentList("AFF").count == 99)
        set(200, at: 20)
        set(201, at: 20)
        let addresses = nf.recentList("AFF").map { Int($0.address.rawValue - 0x0A01_0000) }
        #expect(addresses.count == 100)
        #expect(addresses.first == 3, "host 2 was evicted as least recently set")
        #expect(Array(addresses.suffix(3)) == [1, 200, 201])
    }

    @Test func recentListsSurviveAReloadThatStillNamesThem() throws {
        let old = try Netfilter(try F.rules(Self.affinity))
        var random = SeededGenerator(seed: 1)
        var packet = F.udp(IPv4Address(10, 1, 0, 1), F.clusterIP, port: 80)
        _ = old.evaluate(.nat, .prerouting, &packet, now: .zero, random: &random)
        let new = try Netfilter(try F.rules(Self.affinity))
        new.inheritRecentLists(from: old)
        var again = F.udp(IPv4Address(10, 1, 0, 1), F.clusterIP, port: 80)
        #expect(new.evaluate(.nat, .prerouting, &again, now: .zero + .seconds(1), random: &random)
                == .dnat(F.web0, port: nil))
    }

    // MARK: - What iptables refuses

    /// The error `Netfilter` gives for the ruleset `build` makes, or nil when it compiles.
    private func refusal(_ build: (inout NetfilterRuleset) -> Void) -> String? {
        var ruleset = NetfilterRuleset()
        build(&ruleset)
        do throws(NetfilterError) {
            _ = try Netfilter(ruleset)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func jumpLoopsAreRefused() {
        let message = refusal { r in
            r.nat.append(NetfilterRule(target: .jump("KUBE-A")), to: "PREROUTING")
            r.nat.append(NetfilterRule(target: .jump("KUBE-B")), to: "KUBE-A")
            r.nat.append(NetfilterRule(protocol: ProtocolMatch(17), target: .jump("KUBE-C")), to: "KUBE-B")
            r.nat.append(NetfilterRule(target: .jump("KUBE-A")), to: "KUBE-C")
        }
        #expect(message == "table nat, chain KUBE-C, rule 1: jump loop KUBE-A -> KUBE-B -> KUBE-C -> KUBE-A "
                + "(iptables refuses it: ELOOP, too many levels of links)")
        // Even among chains no hook reaches, and a chain jumping to itself.
        #expect(refusal { $0.filter.append(NetfilterRule(target: .jump("SELF")), to: "SELF") }?.contains("jump loop SELF -> SELF") == true)
    }

    @Test func jumpsToBuiltInOrUnknownChainsAreRefused() {
        #expect(refusal { $0.filter.append(NetfilterRule(target: .jump("INPUT")), to: "FORWARD") }
                == "table filter, chain FORWARD, rule 1: cannot jump to built-in chain 'INPUT'")
        #expect(refusal { $0.filter.append(NetfilterRule(target: .jump("KUBE-SERVICES")), to: "FORWARD") }
                == "table filter, chain FORWARD, rule 1: jump to unknown chain 'KUBE-SERVICES' (no such chain in table filter)")
        // A chain of the other table is not a target either.
        #expect(refusal {
            $0.nat.addChain("KUBE-SERVICES")
            $0.filter.append(NetfilterRule(target: .jump("KUBE-SERVICES")), to: "OUTPUT")
        } != nil)
    }

    @Test func natTargetsOutsideTheirHooksAreRefused() {
        let dnat = NetfilterRule(protocol: ProtocolMatch(17), target: .dnat(IPv4Address(10, 244, 0, 3), port: 8080))
        #expect(refusal { r in
            r.nat.append(NetfilterRule(target: .jump("KUBE-X")), to: "POSTROUTING")
            r.nat.append(NetfilterRule(target: .jump("KUBE-X")), to: "PREROUTING")
            r.nat.append(dnat, to: "KUBE-X")
        } == "table nat, chain KUBE-X, rule 1: DNAT target: only valid in nat table, chains PREROUTING and OUTPUT "
            + "(chain KUBE-X is reachable from POSTROUTING)")
        #expect(refusal { $0.nat.append(dnat, to: "INPUT") }
                == "table nat, chain INPUT, rule 1: DNAT target: only valid in nat table, chains PREROUTING and OUTPUT "
                + "(rule is in INPUT)")
        #expect(refusal { $0.filter.append(dnat, to: "FORWARD") }
                == "table filter, chain FORWARD, rule 1: DNAT target: only valid in nat table, chains PREROUTING and "
                + "OUTPUT (rule is in table filter)")
        #expect(refusal { $0.nat.append(NetfilterRule(target: .masquerade(ports: nil, randomFully: true)), to: "INPUT") }
                == "table nat, chain INPUT, rule 1: MASQUERADE target: only valid in nat table, chain POSTROUTING "
                + "(rule is in INPUT)")
        #expect(refusal { $0.nat.append(NetfilterRule(target: .snat(IPv4Address(1, 2, 3, 4), ports: nil, randomFully: false)),
                                      to: "OUTPUT") }?.hasSuffix("SNAT target: only valid in nat table, chains POSTROUTING and INPUT (rule is in OUTPUT)") == true)
        // SNAT in INPUT and DNAT in an unreachable chain are fine.
        #expect(refusal { $0.nat.append(NetfilterRule(target: .snat(IPv4Address(1, 2, 3, 4), ports: nil, randomFully: false)),
                                      to: "INPUT") } == nil)
        #expect(refusal { $0.nat.append(dnat, to: "KUBE-UNUSED") } == nil)
        // A port needs a protocol with ports.
        #expect(refusal { $0.nat.append(NetfilterRule(target: .dnat(IPv4Address(10, 244, 0, 3), port: 8080)), to: "PREROUTING") }
                == "table nat, chain PREROUTING, rule 1: DNAT target: need -p tcp, udp or sctp with a port specification")
    }

    @Test func filteringTargetsOutsideTheirTableAreRefused() {
        #expect(refusal { $0.nat.append(NetfilterRule(target: .reject(.icmpPortUnreachable)), to: "PREROUTING") }
                == "table nat, chain PREROUTING, rule 1: REJECT target: only valid in filter table (rule is in table nat)")
        #expect(refusal { $0.nat.append(NetfilterRule(target: .drop), to: "OUTPUT") }?
            .hasSuffix("the nat table is not intended for filtering, the use of DROP is therefore inhibited") == true)
        #expect(refusal { $0.nat.setPolicy(.drop, of: .prerouting) }?.hasPrefix("table nat, chain PREROUTING: the nat table") == true)
    }

    @Test func badMatchesAreRefused() {
        #expect(refusal { $0.filter.append(NetfilterRule(matches: [.ports(protocol: 17, source: nil, destination: PortMatch(80))],
                                                       target: .accept), to: "INPUT") }
                == "table filter, chain INPUT, rule 1: udp match: only valid for protocol 17 (put -p udp before -m udp)")
        #expect(refusal { $0.filter.append(NetfilterRule(matches: [.statisticRandom(probability: 1.5)], target: .accept),
                                         to: "INPUT") }?.contains("--probability must be between 0 and 1") == true)
        #expect(refusal { $0.filter.append(NetfilterRule(inInterface: InterfaceMatch("averyveryverylongname"), target: .accept),
                                         to: "INPUT") }?.hasSuffix("interface name 'averyveryverylongname' must be shorter than IFNAMSIZ (16)") == true)
        #expect(refusal { $0.filter.append(NetfilterRule(matches: [.recent(.check(name: "X", seconds: 0, reap: true))],
                                                       target: .accept), to: "INPUT") }?.hasSuffix("--reap requires --seconds") == true)
        #expect(refusal { $0.filter.append(NetfilterRule(target: .accept), to: "MARK") }
                == "table filter, chain MARK: chain name 'MARK' may not clash with target name")
    }

    @Test func chainsNestedDeeperThanNfTablesAllowsAreRefused() {
        func nested(_ depth: Int) -> String? {
            refusal { r in
                r.filter.append(NetfilterRule(target: .jump("C1")), to: "INPUT")
                for i in 1..<depth { r.filter.append(NetfilterRule(target: .jump("C\(i + 1)")), to: "C\(i)") }
                r.filter.append(NetfilterRule(target: .accept), to: "C\(depth)")
            }
        }
        #expect(nested(15) == nil)
        #expect(nested(16) == "table filter, chain INPUT: chains nest 16 jumps deep from INPUT; nf_tables allows 15 "
                + "(NFT_JUMP_STACK_SIZE, EMLINK)")
    }

    /// The deepest allowed nesting walks and returns correctly through every level.
    @Test func deepestNestingWalksThroughEveryLevel() throws {
        var ruleset = NetfilterRuleset()
        ruleset.filter.append(NetfilterRule(target: .jump("C1")), to: "INPUT")
        ruleset.filter.append(NetfilterRule(target: .drop), to: "INPUT")
        for i in 1..<15 {
            ruleset.filter.append(NetfilterRule(target: .jump("C\(i + 1)")), to: "C\(i)")
            ruleset.filter.append(NetfilterRule(target: .mark(value: 1 << UInt32(i), mask: 0)), to: "C\(i)")
        }
        ruleset.filter.append(NetfilterRule(target: .returnFromChain), to: "C15")
        let nf = try Netfilter(ruleset)
        var random = SeededGenerator(seed: 1)
        var packet = F.udp(F.client, F.nodeIP, port: 1)
        #expect(nf.evaluate(.filter, .input, &packet, now: .zero, random: &random) == .drop)
        #expect(packet.mark == 0x7FFE, "every level's MARK ran after its jump returned")
        #expect(nf.rulesWalked == 1 + 14 * 2 + 1 + 1)
    }
}
