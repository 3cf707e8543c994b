/// Tests of Netfilter+Compile.swift: the destination index over runs of `-d A/32` rules
/// (same verdicts, marks, counters, statistic draws and `rulesWalked` as the plain walk, on
/// seeded random rulesets) and compiling by patching a similar ruleset (same program as a
/// fresh compile, same errors for what iptables refuses).

@testable import Datapath
import Engine
import Testing
import Wire

/// Seeded random rulesets whose chains have long runs of `-d A/32` rules drawn from a small
/// address pool (so an address recurs within a run), mixed with rules the index cannot key
/// (no destination, a /24, a negated /32), every target the walk treats specially (jump,
/// RETURN, MARK, verdicts, DNAT) and matches with side effects (`-m statistic` draws).
struct RandomRuleset {
    static let pool: [IPv4Address] = (0..<12).map { IPv4Address(10, 96, 0, UInt8(10 + $0)) }
    static let ports: [UInt16] = [53, 80, 443]

    var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    mutating func below(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// A valid ruleset: user chains only jump to chains made after them (no loops), so depth
    /// stays under nf_tables' 15 with at most 6 user chains per table.
    mutating func make() -> NetfilterRuleset {
        var ruleset = NetfilterRuleset()
        for table in NetfilterTableName.allCases {
            let users = (0..<(1 + below(6))).map { "U\($0)" }
            for u in users { ruleset[table].addChain(u) }
            for hook in table.hooks {
                for _ in 0..<below(30) { ruleset[table].append(rule(table, jumps: users), to: hook.chainName) }
            }
            for (i, u) in users.enumerated() {
                for _ in 0..<below(60) { ruleset[table].append(rule(table, jumps: Array(users[(i + 1)...])), to: u) }
            }
        }
        return ruleset
    }

    mutating func rule(_ table: NetfilterTableName, jumps: [String]) -> NetfilterRule {
        var r = NetfilterRule(target: .accept)
        switch below(10) {
        case 0..<7: r.destination = AddressMatch(IPv4Network(address: Self.pool[below(Self.pool.count)], prefixLength: 32))
        case 7: r.destination = AddressMatch(IPv4Network("10.96.0.0/24")!)
        case 8: r.destination = AddressMatch(IPv4Network(address: Self.pool[below(Self.pool.count)], prefixLength: 32),
                                             negated: true)
        default: break
        }
        if chance(50) {
            r.protocol = ProtocolMatch(17)
            if chance(70) {
                r.matches.append(.ports(protocol: 17, source: nil, destination: PortMatch(Self.ports[below(Self.ports.count)])))
            }
        }
        if chance(15) { r.matches.append(.mark(value: UInt32(below(4)), mask: 3, negated: chance(30))) }
        if chance(25) { r.matches.append(.statisticRandom(probability: [0.25, 0.5, 0.75][below(3)])) }
        if chance(10) { r.matches.append(.conntrackState(.new, negated: chance(50))) }
        if chance(10) { r.matches.append(.comment("c")) }
        r.target = target(table, jumps: jumps)
        return r
    }

    mutating func target(_ table: NetfilterTableName, jumps: [String]) -> NetfilterTarget {
        // Verdicts are rare, so walks go deep into chains and through returns.
        switch below(20) {
        case 0..<7 where !jumps.isEmpty: return .jump(jumps[below(jumps.count)])
        case 7..<10: return .mark(value: UInt32(below(4)), mask: 3)
        case 10..<14: return .returnFromChain
        case 14: return table == .filter ? .drop : .returnFromChain
        case 15: return table == .filter ? .reject(.icmpPortUnreachable) : .returnFromChain
        case 16: return .accept
        default: return .mark(value: 4, mask: 4)
        }
    }

    mutating func packet() -> NetfilterPacket {
        let destination = chance(85) ? Self.pool[below(Self.pool.count)] : IPv4Address(10, 96, 1, UInt8(below(256)))
        return NetfilterPacket(source: IPv4Address(10, 244, 0, 2), destination: destination,
                               protocolNumber: chance(80) ? 17 : 6, sourcePort: 40000,
                               destinationPort: Self.ports[below(Self.ports.count)], inInterface: 3, outInterface: -1,
                               mark: UInt32(below(4)), conntrackState: chance(70) ? .new : .established, length: 100)
    }
}

@Suite struct NetfilterCompileTests {
    /// Both walks see the same packets and the same random stream: every verdict, mark,
    /// `rulesWalked` step, counter and the generator's state afterwards must agree.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func indexedWalkMatchesThePlainWalk(seed: UInt64) throws {
        var gen = RandomRuleset(seed: seed)
        let ruleset = gen.make()
        _ = try Netfilter(ruleset)  // iptables would accept it
        let plain = Netfilter(checked: ruleset, program: NetfilterProgram(ruleset, minimumRun: .max), interfaceIndex: { _ in nil })
        for minimumRun in [1, 2, 4] {
            let indexed = Netfilter(checked: ruleset, program: NetfilterProgram(ruleset, minimumRun: minimumRun),
                                    interfaceIndex: { _ in nil })
            #expect(indexed.destinationIndex.runs > 0, "the ruleset has runs to index")
            plain.zeroCounters()
            var randomPlain = SeededGenerator(seed: seed &* 31)
            var randomIndexed = randomPlain
            var packets = RandomRuleset(seed: seed &+ 1000)
            for _ in 0..<3000 {
                let packet = packets.packet()
                let slot = packets.below(NetfilterTableName.allCases.count * 5)
                let table = NetfilterTableName.allCases[slot % 2]
                let hook = table.hooks[slot % table.hooks.count]
                var a = packet, b = packet
                let walkedBefore = (plain.rulesWalked, indexed.rulesWalked)
                let va = plain.evaluate(table, hook, &a, now: .zero, random: &randomPlain)
                let vb = indexed.evaluate(table, hook, &b, now: .zero, random: &randomIndexed)
                #expect(va == vb)
                #expect(a.mark == b.mark)
                #expect(plain.rulesWalked - walkedBefore.0 == indexed.rulesWalked - walkedBefore.1,
                        "\(table) \(hook) to \(packet.destination)")
            }
            #expect(plain.rulesWalked == indexed.rulesWalked)
            #expect(randomPlain.next() == randomIndexed.next(), "the same -m statistic draws")
            for r in 0..<plain.ruleCount { #expect(plain.counters(at: r) == indexed.counters(at: r)) }
        }
    }

    /// KUBE-SERVICES-like: 1,000 `-d VIP/32 -p udp --dport 80 -j SVC-i` rules. The indexed walk
    /// still reports the rules a linear walk examines (position of the Service + 1), but does
    /// not touch the rules before it.
    @Test func longServiceChainCountsTheLinearWalk() throws {
        var ruleset = NetfilterRuleset()
        ruleset.nat.append(NetfilterRule(target: .jump("KUBE-SERVICES")), to: "PREROUTING")
        ruleset.nat.addChain("KUBE-SERVICES")
        for i in 0..<1000 {
            let vip = IPv4Address(rawValue: IPv4Address(10, 96, 0, 0).rawValue + UInt32(i))
            ruleset.nat.append(NetfilterRule(destination: AddressMatch(IPv4Network(address: vip, prefixLength: 32)),
                                             protocol: ProtocolMatch(17),
                                             matches: [.ports(protocol: 17, source: nil, destination: PortMatch(80))],
                                             target: .jump("SVC-\(i)")), to: "KUBE-SERVICES")
            ruleset.nat.append(NetfilterRule(target: .dnat(IPv4Address(10, 244, 0, 2), port: nil)), to: "SVC-\(i)")
        }
        let nf = try Netfilter(ruleset)
        #expect(nf.destinationIndex.runs == 1)
        var random = SeededGenerator(seed: 1)
        for i in [0, 1, 500, 999] {
            let before = nf.rulesWalked
            var packet = NetfilterPacket(source: IPv4Address(10, 244, 0, 5),
                                         destination: IPv4Address(rawValue: IPv4Address(10, 96, 0, 0).rawValue + UInt32(i)),
                                         protocolNumber: 17, sourcePort: 1, destinationPort: 80)
            #expect(nf.evaluate(.nat, .prerouting, &packet, now: .zero, random: &random) == .dnat(IPv4Address(10, 244, 0, 2), port: nil))
            // PREROUTING's jump, i + 1 rules of KUBE-SERVICES, the DNAT.
            #expect(nf.rulesWalked - before == UInt64(1 + i + 1 + 1))
        }
        // Another port of a VIP: its rule is examined and fails, then the rest of the run.
        let before = nf.rulesWalked
        var other = NetfilterPacket(source: IPv4Address(10, 244, 0, 5), destination: IPv4Address(10, 96, 0, 7),
                                    protocolNumber: 17, sourcePort: 1, destinationPort: 81)
        #expect(nf.evaluate(.nat, .prerouting, &other, now: .zero, random: &random) == .accept)
        #expect(nf.rulesWalked - before == 1 + 1000)
        #expect(nf.counters(.nat, chain: "KUBE-SERVICES", rule: 500).packets == 1)
        #expect(nf.counters(.nat, chain: "KUBE-SERVICES", rule: 7).packets == 0)
    }

    // MARK: - Compiling by patching

    static func program(_ nf: Netfilter) -> (rules: [CompiledRule], matches: [CompiledMatch]) {
        (Array(UnsafeBufferPointer(start: nf.rules, count: nf.ruleCount)),
         Array(UnsafeBufferPointer(start: nf.matches, count: nf.matchCount)))
    }

    /// A variant of `base`: chain `chain` of `table` with its rules transformed.
    static func variant(_ base: NetfilterRuleset, _ table: NetfilterTableName, chain: String,
                        _ change: ([NetfilterRule]) -> [NetfilterRule]) -> NetfilterRuleset {
        var ruleset = base
        ruleset[table].setRules(change(ruleset[table].chain(named: chain)!.rules), of: chain)
        return ruleset
    }

    @Test(arguments: [UInt64(11), 12, 13, 14])
    func patchedCompileEqualsAFreshCompile(seed: UInt64) throws {
        var gen = RandomRuleset(seed: seed)
        var base = gen.make()
        try base.compile()
        let fresh = { (r: NetfilterRuleset) throws -> Netfilter in try Netfilter(r) }
        // Same rule count, other addresses and matches (a patch), and a chain that grew (a
        // fresh compile): either way the same program as compiling from nothing.
        for table in NetfilterTableName.allCases {
            for chain in base[table].chains where !chain.rules.isEmpty {
                let variants = [
                    Self.variant(base, table, chain: chain.name) { rules in
                        rules.map { var r = $0; r.destination = AddressMatch(IPv4Network("192.168.7.1/32")!); return r }
                    },
                    Self.variant(base, table, chain: chain.name) { rules in
                        rules.map { var r = $0; r.matches.append(.comment("changed")); r.source = AddressMatch(IPv4Network("10.0.0.0/8")!); return r }
                    },
                    Self.variant(base, table, chain: chain.name) { $0 + [NetfilterRule(target: .accept)] },
                ]
                for v in variants {
                    var compiled = v
                    try compiled.compile(reusing: base)
                    #expect(compiled.isCompiled)
                    #expect(compiled == v, "compiling does not change the rules")
                    let patched = try Netfilter(compiled)
                    let scratch = try fresh(v)
                    #expect(Self.program(patched) == Self.program(scratch), "\(table) \(chain.name)")
                    #expect(patched.destinationIndex.runs == scratch.destinationIndex.runs)
                    #expect(patched.ruleset == v)
                }
            }
        }
    }

    /// What iptables refuses is refused when only a patched chain has the problem.
    @Test func patchedCompileRefusesWhatAFreshCompileRefuses() throws {
        var base = try IptablesSave.parse("""
            *nat
            :PREROUTING ACCEPT [0:0]
            :INPUT ACCEPT [0:0]
            :OUTPUT ACCEPT [0:0]
            :POSTROUTING ACCEPT [0:0]
            :A - [0:0]
            :B - [0:0]
            :C - [0:0]
            -A PREROUTING -j A
            -A POSTROUTING -j C
            -A A -d 10.96.0.1/32 -j B
            -A B -d 10.96.0.2/32 -j DNAT --to-destination 10.244.0.2
            -A C -d 10.244.0.0/24 -j RETURN
            COMMIT
            """)
        try base.compile()
        let bad: [NetfilterRuleset] = [
            // B jumps back to A: a loop.
            Self.variant(base, .nat, chain: "B") { _ in [NetfilterRule(target: .jump("A"))] },
            // C (reached from POSTROUTING) gets a DNAT.
            Self.variant(base, .nat, chain: "C") { _ in [NetfilterRule(target: .dnat(IPv4Address(10, 244, 0, 3), port: nil))] },
            // A jumps to a chain that does not exist; DROP in nat.
            Self.variant(base, .nat, chain: "A") { _ in [NetfilterRule(target: .jump("MISSING"))] },
            Self.variant(base, .nat, chain: "C") { _ in [NetfilterRule(target: .drop)] },
        ]
        for v in bad {
            var patched = v
            let viaPatch = #expect(throws: NetfilterError.self) { try patched.compile(reusing: base) }
            let viaFresh = #expect(throws: NetfilterError.self) { _ = try Netfilter(v) }
            #expect(viaPatch == viaFresh)
            #expect(!patched.isCompiled)
        }
        // Changing a compiled ruleset drops its compiled form.
        var changed = base
        #expect(changed.isCompiled)
        changed.nat.append(NetfilterRule(target: .accept), to: "C")
        #expect(!changed.isCompiled)
    }
}
