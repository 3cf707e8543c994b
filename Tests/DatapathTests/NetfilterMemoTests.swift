/// Tests of Netfilter.swift's remembered walks (`WalkMemo`): a `Netfilter` that remembers
/// walks and one that walks every time, fed the same random packets, agree on every verdict,
/// mark, rule and policy counter, `rulesWalked`, xt_recent list and random draw.

@testable import Datapath
import Engine
import Testing
import Wire

@Suite struct NetfilterMemoTests {
    typealias F = NetfilterFixtures

    /// Marks, jumps and returns, REJECT, interfaces (exact and wildcard), and the two matches
    /// a walk cannot be remembered through: `-m statistic` and `-m recent`.
    static let mixed = """
        *filter
        :INPUT ACCEPT [0:0]
        :FORWARD DROP [0:0]
        :OUTPUT ACCEPT [0:0]
        :A - [0:0]
        :B - [0:0]
        -A INPUT -m mark --mark 0x1/0x1 -j ACCEPT
        -A INPUT -p udp -m udp --dport 53 -j MARK --set-xmark 0x1/0x1
        -A INPUT -j A
        -A INPUT -p tcp -j B
        -A INPUT -m addrtype --dst-type LOCAL -j ACCEPT
        -A A -s 10.244.0.0/16 -j RETURN
        -A A -m conntrack --ctstate NEW -p udp -m udp --dport 80 -j REJECT --reject-with icmp-port-unreachable
        -A A -m statistic --mode random --probability 0.5 -j DROP
        -A B -m recent --rcheck --seconds 10 --name SEEN --mask 255.255.255.255 --rsource -j DROP
        -A B -m recent --set --name SEEN --mask 255.255.255.255 --rsource -j RETURN
        -A FORWARD -i veth+ -o eth0 -j ACCEPT
        -A FORWARD -i eth0 -j A
        -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A OUTPUT ! -o veth+ -j MARK --set-xmark 0x4000/0x4000
        -A OUTPUT -m mark --mark 0x4000/0x4000 -p udp -j B
        COMMIT
        """

    static let devices: [(name: String, index: Int32)] = [(name: "eth0", index: 1), (name: "cni0", index: 2),
                                                          (name: "veth1", index: 3), (name: "veth2", index: 4)]

    /// A random packet view from small pools.
    static func packet(_ r: inout SeededGenerator) -> NetfilterPacket {
        func pick<T>(_ xs: [T]) -> T { xs[Int(r.next() % UInt64(xs.count))] }
        let addresses = [F.client, F.web0, F.web1, F.nodeIP, F.lanHost, F.clusterIP, F.emptyClusterIP, IPv4Address(8, 8, 8, 8)]
        let states: [ConntrackStateSet] = [.new, .established, [.established, .dnat], [.new, .dnat, .snat], .related,
                                           .invalid, .untracked]
        let proto: UInt8 = pick([17, 17, 6, 1])
        return NetfilterPacket(source: pick(addresses), destination: pick(addresses), protocolNumber: proto,
                               sourcePort: proto == 1 ? 0 : pick([40000, 53, 80]),
                               destinationPort: proto == 1 ? 0 : pick([80, 53, 8080, 30080, 5201]),
                               inInterface: pick([-1, 1, 2, 3, 4, 9]), outInterface: pick([-1, 1, 2, 3, 4]),
                               mark: pick([0, 0x1, 0x4000, 0x4001]), conntrackState: pick(states),
                               length: Int(r.next() % 1500) + 20, sourceIsLocal: pick([false, true]),
                               destinationIsLocal: pick([false, false, true]))
    }

    static func allCounters(_ nf: Netfilter) -> [UInt64] {
        (0..<nf.ruleCount).flatMap { [nf.counters(at: $0).packets, nf.counters(at: $0).bytes] }
    }

    @Test(arguments: ["pi-1", "pi-2", "mixed"])
    func rememberedWalksEqualFullWalks(_ rules: String) throws {
        let ruleset = rules == "mixed" ? try F.rules(Self.mixed) : try F.ruleset(rules)
        let memo = try Netfilter(ruleset, devices: Self.devices)
        let plain = try Netfilter(ruleset, devices: Self.devices)
        plain.memoizesWalks = false
        var packets = SeededGenerator(seed: rules == "mixed" ? 7 : 8)
        var randomA = SeededGenerator(seed: 99), randomB = SeededGenerator(seed: 99)
        let hooks: [(NetfilterTableName, NetfilterHook)] = NetfilterTableName.allCases.flatMap { t in
            t.hooks.map { (t, $0) }
        }
        // 48 packet views, so most evaluations repeat one (and its memo may still be there).
        let views = (0..<48).map { _ in Self.packet(&packets) }
        for step in 0..<20_000 {
            var base = views[Int(packets.next() % UInt64(views.count))]
            base.length = Int(packets.next() % 1500) + 20
            let (table, hook) = hooks[Int(packets.next() % UInt64(hooks.count))]
            let now = SimTime.zero + .nanoseconds(Int64(step) * 1_000_000)
            var a = base, b = base
            let va = memo.evaluate(table, hook, &a, now: now, random: &randomA)
            let vb = plain.evaluate(table, hook, &b, now: now, random: &randomB)
            #expect(va == vb, "step \(step): \(table) \(hook)")
            #expect(a.mark == b.mark, "step \(step)")
            #expect(memo.rulesWalked == plain.rulesWalked, "step \(step)")
        }
        #expect(Self.allCounters(memo) == Self.allCounters(plain))
        #expect(randomA.next() == randomB.next(), "the same draws were made")
        #expect(memo.recentList("SEEN").map(\.address) == plain.recentList("SEEN").map(\.address))
        #expect(memo.rememberedWalks > 1_000 && plain.rememberedWalks == 0)
    }

    @Test func resolvingInterfacesAgainForgetsRememberedWalks() throws {
        let text = """
            *filter
            :INPUT ACCEPT [0:0]
            :FORWARD ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            -A OUTPUT -o eth9 -j DROP
            -A OUTPUT -o veth+ -j REJECT --reject-with icmp-net-prohibited
            COMMIT
            """
        let nf = try Netfilter(try F.rules(text), devices: [(name: "cni0", index: 3)])
        var random = SeededGenerator(seed: 1)
        var out = F.udp(F.nodeIP, F.web1, port: 1)
        out.outInterface = 9
        #expect(nf.evaluate(.filter, .output, &out, now: .zero, random: &random) == .accept)
        #expect(nf.evaluate(.filter, .output, &out, now: .zero, random: &random) == .accept)
        nf.resolveInterfaces([(name: "cni0", index: 3), (name: "eth9", index: 9)])
        #expect(nf.evaluate(.filter, .output, &out, now: .zero, random: &random) == .drop)
        nf.resolveInterfaces([(name: "cni0", index: 3), (name: "veth9", index: 9)])
        #expect(nf.evaluate(.filter, .output, &out, now: .zero, random: &random) == .reject(.icmpNetProhibited))
        #expect(nf.rulesWalked == 2 + 2 + 1 + 2)
    }
}
