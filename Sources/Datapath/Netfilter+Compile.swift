import Wire

/// Loading a ruleset: the flat form `ipt_do_table` walks (what `translate_table` makes of
/// iptables' blob), built once per `Netfilter`. Chain names become rule indices, networks
/// become (address, mask), interface names become device indices, comments disappear.

/// What a compiled rule does when it matches.
enum CompiledTarget: UInt8 {
    case accept, drop, reject, returnFromChain, jump, mark, dnat, snat, masquerade
    /// The end of a built-in chain: its policy (counted in the policy counters).
    case policyAccept, policyDrop
    /// The end of a user chain: an implicit RETURN.
    case chainEnd
}

struct CompiledRuleFlags: OptionSet {
    let rawValue: UInt16
    static let sourceInverted = Self(rawValue: 1 << 0)
    static let destinationInverted = Self(rawValue: 1 << 1)
    static let hasInInterface = Self(rawValue: 1 << 2)
    static let inInverted = Self(rawValue: 1 << 3)
    static let inWildcard = Self(rawValue: 1 << 4)
    static let hasOutInterface = Self(rawValue: 1 << 5)
    static let outInverted = Self(rawValue: 1 << 6)
    static let outWildcard = Self(rawValue: 1 << 7)
    static let protocolInverted = Self(rawValue: 1 << 8)
    /// NAT targets: a port (range) was given.
    static let hasPorts = Self(rawValue: 1 << 9)
    static let randomFully = Self(rawValue: 1 << 10)
    /// In a run of `-d A/32` rules that `DestinationIndex` indexes: after evaluating this
    /// rule the walk goes on at `nextCandidate`.
    static let indexed = Self(rawValue: 1 << 11)
    /// The first rule of such a run: the walk looks the packet's destination up here.
    static let runStart = Self(rawValue: 1 << 12)
}

/// One rule as `ipt_do_table` sees it (`struct ipt_entry` with its target resolved).
struct CompiledRule: Equatable {
    /// `ipt_ip`: an absent `-s`/`-d` is address 0 under mask 0, which every packet matches.
    var sourceAddress: UInt32 = 0
    var sourceMask: UInt32 = 0
    var destinationAddress: UInt32 = 0
    var destinationMask: UInt32 = 0
    /// Device index (exact name; `Int32.min` when unresolved) or wildcard number (-1: "+").
    var inInterface: Int32 = 0
    var outInterface: Int32 = 0
    /// `matches[matchStart..<matchEnd]`.
    var matchStart: Int32 = 0
    var matchEnd: Int32 = 0
    /// `.jump`: index of the target chain's first rule.
    var jumpTarget: Int32 = 0
    /// `.indexed`: the next rule of the run with the same destination address, or the first
    /// rule after the run.
    var nextCandidate: Int32 = 0
    /// `.mark`: the xor value; NAT targets: the address.
    var value: UInt32 = 0
    /// `.mark`: the bits cleared before the xor.
    var mask: UInt32 = 0
    var portLow: UInt16 = 0
    var portHigh: UInt16 = 0
    /// 0: any protocol (as `-p all`).
    var protocolNumber: UInt8 = 0
    var rejectCode: UInt8 = 0
    var flags: CompiledRuleFlags = []
    var target: CompiledTarget = .accept

    var ports: ClosedRange<UInt16>? { flags.contains(.hasPorts) ? portLow...portHigh : nil }

    var rejectWith: RejectWith { CompiledRule.rejectKinds[Int(rejectCode)] }

    static let rejectKinds: [RejectWith] = [
        .icmpNetUnreachable, .icmpHostUnreachable, .icmpPortUnreachable, .icmpProtoUnreachable,
        .icmpNetProhibited, .icmpHostProhibited, .icmpAdminProhibited,
    ]
}

enum CompiledMatchKind: UInt8 {
    case ports, mark, conntrackState, statistic, sourceLocal, destinationLocal, recentSet, recentCheck
}

struct CompiledMatchFlags: OptionSet {
    let rawValue: UInt8
    static let inverted = Self(rawValue: 1 << 0)
    static let sourceInverted = Self(rawValue: 1 << 1)
    static let destinationInverted = Self(rawValue: 1 << 2)
    static let reap = Self(rawValue: 1 << 3)
}

/// One `-m` module with its operands precomputed (`struct xt_entry_match`).
struct CompiledMatch: Equatable {
    var kind: CompiledMatchKind
    var flags: CompiledMatchFlags = []
    /// `.ports`: the module's protocol.
    var protocolNumber: UInt8 = 0
    /// `.ports`: source range (low << 16 | high); `.mark`: value; `.conntrackState`: state
    /// bits; `.statistic`: the kernel's probability (of 2³¹); recent: list id.
    var a: UInt32 = 0
    /// `.ports`: destination range; `.mark`: mask.
    var b: UInt32 = 0
    /// `.recentCheck`: `--seconds` in nanoseconds (0: any age).
    var window: Int64 = 0

    /// A port range as one word: every port when the side is not matched.
    static func range(_ port: PortMatch?) -> UInt32 {
        guard let port else { return 0x0000_FFFF }
        return UInt32(port.low) << 16 | UInt32(port.high)
    }

    @inline(__always)
    static func contains(_ range: UInt32, _ port: UInt16) -> Bool {
        port >= UInt16(truncatingIfNeeded: range >> 16) && port <= UInt16(truncatingIfNeeded: range)
    }
}

/// The probability xt_statistic stores for `--probability p`: libxt_statistic's
/// `lround(p × 2³¹)`, clamped to [0, 2³¹] (a packet matches when 31 random bits are below it).
func xtStatisticProbability(_ p: Double) -> UInt32 {
    guard p.isFinite, p > 0 else { return 0 }
    guard p < 1 else { return 0x8000_0000 }
    let scaled = p * 2_147_483_648.0
    // lround without libm: the fraction of a value below 2³² is exact in a Double.
    var whole = UInt64(scaled)
    if scaled - Double(whole) >= 0.5 { whole += 1 }
    return UInt32(min(whole, 0x8000_0000))
}

/// One `-i`/`-o` of the ruleset, for (re)resolving names to device indices.
struct InterfaceUse {
    var rule: Int
    var isOutput: Bool
    var name: String
}

/// Where a walk through a run of `-d A/32` rules can go on without examining rules that
/// cannot match (kube-proxy's `KUBE-SERVICES`: one `-d VIP/32 -p proto --dport P -j KUBE-SVC-…`
/// per Service port, thousands long).
///
/// A run is a maximal sequence of at least `minimumRun` consecutive rules of one chain, each
/// with a non-negated `/32` destination (a chain's end is a sentinel, which has no destination,
/// so runs never cross chains). A rule whose destination differs from the packet's fails in
/// `ip_packet_match` before any `-m` module runs, so skipping it has no effect but on
/// `rulesWalked`: the walk adds the skipped rules there, and so counts exactly the rules a
/// linear walk examines (what a CPU model charges for). Verdicts, rule counters and
/// `-m statistic` draws are those of the linear walk. Indexed by destination address only:
/// the few ports of one ClusterIP are walked as candidates.
///
/// The lookup is an open-addressing table keyed by (run start, address), built once per
/// compiled ruleset; evaluating does no allocation.
final class DestinationIndex: @unchecked Sendable {
    /// Rules a run needs before it is indexed (below that, walking is as fast).
    static let defaultMinimumRun = 8

    /// An index of no runs (a program before it is compiled).
    static let none: DestinationIndex = {
        var nothing: [CompiledRule] = []
        return DestinationIndex(&nothing, minimumRun: Int.max)
    }()

    let minimumRun: Int
    private let keys: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<Int32>
    private let mask: Int
    /// 64 − log2(capacity): the hash is the top bits of a Fibonacci product.
    private let shift: UInt64
    let runs: Int

    /// Marks the runs of `rules` (flags, `nextCandidate`) and indexes their first candidates.
    init(_ rules: inout [CompiledRule], minimumRun: Int) {
        self.minimumRun = minimumRun
        var entries: [(key: UInt64, first: Int32)] = []
        var runCount = 0
        var i = 0
        while i < rules.count {
            guard Self.indexable(rules[i]) else { i += 1; continue }
            var end = i
            while end < rules.count && Self.indexable(rules[end]) { end += 1 }
            if end - i >= max(minimumRun, 1) {
                runCount += 1
                // From the end back, so each rule learns the next one with its address.
                var next: [UInt32: Int32] = [:]
                for r in stride(from: end - 1, through: i, by: -1) {
                    let address = rules[r].destinationAddress
                    rules[r].flags.insert(.indexed)
                    rules[r].nextCandidate = next[address] ?? Int32(end)
                    next[address] = Int32(r)
                }
                rules[i].flags.insert(.runStart)
                // Sorted, so the table's layout does not depend on Dictionary order.
                for (address, first) in next.sorted(by: { $0.key < $1.key }) {
                    entries.append((Self.key(run: i, address: address), first))
                }
                entries.append((Self.endKey(run: i), Int32(end)))
            }
            i = end
        }
        runs = runCount
        var capacity = 1
        var bits: UInt64 = 0
        while capacity < 2 * entries.count {
            capacity <<= 1
            bits += 1
        }
        mask = capacity - 1
        shift = 64 - bits
        keys = .allocate(capacity: capacity)
        keys.initialize(repeating: 0, count: capacity)
        values = .allocate(capacity: capacity)
        values.initialize(repeating: -1, count: capacity)
        for e in entries {
            var slot = home(e.key)
            while values[slot] >= 0 { slot = (slot &+ 1) & mask }
            keys[slot] = e.key
            values[slot] = e.first
        }
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    static func indexable(_ rule: CompiledRule) -> Bool {
        rule.destinationMask == 0xFFFF_FFFF && !rule.flags.contains(.destinationInverted)
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) &>> shift) & mask
    }

    /// (run start, address); run starts are rule indices, below 2³¹.
    @inline(__always)
    private static func key(run: Int, address: UInt32) -> UInt64 {
        UInt64(UInt32(truncatingIfNeeded: run)) << 32 | UInt64(address)
    }

    /// The entry holding where the run ends (bit 63 set: no (run, address) key has it).
    @inline(__always)
    private static func endKey(run: Int) -> UInt64 { 1 << 63 | UInt64(UInt32(truncatingIfNeeded: run)) << 32 }

    @inline(__always)
    private func find(_ key: UInt64) -> Int32 {
        var slot = home(key)
        while values[slot] >= 0 {
            if keys[slot] == key { return values[slot] }
            slot = (slot &+ 1) & mask
        }
        return -1
    }

    /// The first rule of the run starting at `run` whose destination is `address`, or the
    /// first rule after the run.
    @inline(__always)
    func firstCandidate(run: Int, address: UInt32) -> Int {
        let first = find(Self.key(run: run, address: address))
        return Int(first >= 0 ? first : find(Self.endKey(run: run)))
    }
}

/// The flat arrays `Netfilter` copies into its fixed storage.
struct NetfilterProgram {
    var rules: [CompiledRule] = []
    var matches: [CompiledMatch] = []
    var chainStarts: [[Int32]] = []
    var hookEntries = [Int32](repeating: -1, count: Netfilter.hookSlots)
    var hookPolicies = [Int32](repeating: -1, count: Netfilter.hookSlots)
    var emptyHooks: UInt16 = 0
    var interfaceUses: [InterfaceUse] = []
    var wildcardPrefixes: [String] = []
    var recentNames: [String] = []
    /// Shared by every `Netfilter` loaded from this program (it is never written after).
    var destinationIndex = DestinationIndex.none

    private init() {}

    /// Compiles a ruleset `NetfilterValidator` accepted. Runs of at least `minimumRun`
    /// `-d A/32` rules are indexed (`DestinationIndex`; `Int.max`: none, a plain walk).
    init(_ ruleset: NetfilterRuleset, minimumRun: Int = DestinationIndex.defaultMinimumRun) {
        for tableName in NetfilterTableName.allCases {
            let table = ruleset[tableName]
            // Every chain's first rule first, so a jump can point forward.
            var starts: [Int32] = []
            var next = rules.count
            for chain in table.chains {
                starts.append(Int32(next))
                next += chain.rules.count + 1
            }
            for chain in table.chains {
                for rule in chain.rules { compile(rule, table: table, starts: starts) }
                var sentinel = CompiledRule()
                switch chain.policy {
                case .accept: sentinel.target = .policyAccept
                case .drop: sentinel.target = .policyDrop
                case nil: sentinel.target = .chainEnd
                }
                rules.append(sentinel)
            }
            for hook in tableName.hooks {
                guard let c = table.chainIndex(named: hook.chainName) else { continue }
                let slot = Netfilter.hookSlot(tableName, hook)
                hookEntries[slot] = starts[c]
                hookPolicies[slot] = starts[c] + Int32(table.chains[c].rules.count)
                if table.chains[c].rules.isEmpty && table.chains[c].policy != .drop {
                    emptyHooks |= 1 << UInt16(slot)
                }
            }
            chainStarts.append(starts)
        }
        // Hooks a table does not have are skipped too.
        for slot in 0..<Netfilter.hookSlots where hookEntries[slot] < 0 { emptyHooks |= 1 << UInt16(slot) }
        destinationIndex = DestinationIndex(&rules, minimumRun: minimumRun)
    }

    /// Recompiles chains `changed[t]` of table t (indices in `NetfilterTable.chains`) of a
    /// ruleset laid out as this program's (same chains in the same order, same rule counts):
    /// each rule is compiled in place, its matches where the old rule's were. False when that
    /// does not fit (a rule whose compiled matches take another room) or when the old or new
    /// rules use what this program lists by rule (`-i`/`-o`, `-m recent`): compile afresh then.
    mutating func patch(_ ruleset: NetfilterRuleset, changed: [[Int]], oldTables: [NetfilterTable]) -> Bool {
        var runsChange = false
        for (t, tableName) in NetfilterTableName.allCases.enumerated() where !changed[t].isEmpty {
            let table = ruleset[tableName]
            let starts = chainStarts[t]
            for c in changed[t] {
                let rulesOfChain = table.chains[c].rules
                guard Self.isPlain(rulesOfChain), Self.isPlain(oldTables[t].chains[c].rules) else { return false }
                var scratch = NetfilterProgram()
                for rule in rulesOfChain { scratch.compile(rule, table: table, starts: starts) }
                for (i, var new) in scratch.rules.enumerated() {
                    let at = Int(starts[c]) + i
                    let old = rules[at]
                    guard new.matchEnd - new.matchStart == old.matchEnd - old.matchStart else { return false }
                    for m in 0..<Int(new.matchEnd - new.matchStart) {
                        matches[Int(old.matchStart) + m] = scratch.matches[Int(new.matchStart) + m]
                    }
                    new.matchStart = old.matchStart
                    new.matchEnd = old.matchEnd
                    if DestinationIndex.indexable(old) || DestinationIndex.indexable(new) { runsChange = true }
                    rules[at] = new
                }
            }
        }
        // Only a changed `-d A/32` rule can move a run's bounds or candidates.
        if runsChange {
            for i in rules.indices { rules[i].flags.subtract([.indexed, .runStart]) }
            destinationIndex = DestinationIndex(&rules, minimumRun: destinationIndex.minimumRun)
        }
        return true
    }

    /// No rule of `rules` has an interface or an xt_recent list (which the program records
    /// by rule index or list id, so a patch cannot replace them in place).
    private static func isPlain(_ rules: [NetfilterRule]) -> Bool {
        rules.allSatisfy { rule in
            rule.inInterface == nil && rule.outInterface == nil
                && !rule.matches.contains { if case .recent = $0 { return true } else { return false } }
        }
    }

    private mutating func compile(_ rule: NetfilterRule, table: NetfilterTable, starts: [Int32]) {
        var r = CompiledRule()
        let index = rules.count
        if let s = rule.source {
            r.sourceAddress = s.network.network.rawValue
            r.sourceMask = s.network.mask
            if s.negated { r.flags.insert(.sourceInverted) }
        }
        if let d = rule.destination {
            r.destinationAddress = d.network.network.rawValue
            r.destinationMask = d.network.mask
            if d.negated { r.flags.insert(.destinationInverted) }
        }
        if let i = rule.inInterface {
            r.inInterface = compileInterface(i, rule: index, flags: &r.flags, isOutput: false)
        }
        if let o = rule.outInterface {
            r.outInterface = compileInterface(o, rule: index, flags: &r.flags, isOutput: true)
        }
        if let p = rule.protocol, p.number != 0 {
            r.protocolNumber = p.number
            if p.negated { r.flags.insert(.protocolInverted) }
        }
        r.matchStart = Int32(matches.count)
        for match in rule.matches { compile(match) }
        r.matchEnd = Int32(matches.count)
        switch rule.target {
        case .accept:
            r.target = .accept
        case .drop:
            r.target = .drop
        case .returnFromChain:
            r.target = .returnFromChain
        case .jump(let name):
            r.target = .jump
            r.jumpTarget = starts[table.chainIndex(named: name)!]
        case .reject(let with):
            r.target = .reject
            r.rejectCode = UInt8(CompiledRule.rejectKinds.firstIndex(of: with)!)
        case .mark(let value, let mask):
            r.target = .mark
            r.value = value
            r.mask = mask
        case .dnat(let address, let port):
            r.target = .dnat
            r.value = address.rawValue
            if let port {
                r.flags.insert(.hasPorts)
                r.portLow = port
                r.portHigh = port
            }
        case .snat(let address, let ports, let randomFully):
            r.target = .snat
            r.value = address.rawValue
            setPorts(&r, ports, randomFully)
        case .masquerade(let ports, let randomFully):
            r.target = .masquerade
            setPorts(&r, ports, randomFully)
        }
        rules.append(r)
    }

    private func setPorts(_ r: inout CompiledRule, _ ports: ClosedRange<UInt16>?, _ randomFully: Bool) {
        if let ports {
            r.flags.insert(.hasPorts)
            r.portLow = ports.lowerBound
            r.portHigh = ports.upperBound
        }
        if randomFully { r.flags.insert(.randomFully) }
    }

    private mutating func compile(_ match: NetfilterMatch) {
        switch match {
        case .comment:
            return  // always true: nothing to walk
        case .ports(let proto, let source, let destination):
            var m = CompiledMatch(kind: .ports, protocolNumber: proto,
                                  a: CompiledMatch.range(source), b: CompiledMatch.range(destination))
            if source?.negated == true { m.flags.insert(.sourceInverted) }
            if destination?.negated == true { m.flags.insert(.destinationInverted) }
            matches.append(m)
        case .mark(let value, let mask, let negated):
            matches.append(CompiledMatch(kind: .mark, flags: negated ? .inverted : [], a: value, b: mask))
        case .conntrackState(let states, let negated):
            matches.append(CompiledMatch(kind: .conntrackState, flags: negated ? .inverted : [], a: UInt32(states.rawValue)))
        case .statisticRandom(let p):
            matches.append(CompiledMatch(kind: .statistic, a: xtStatisticProbability(p)))
        case .sourceAddressType(_, let negated):
            matches.append(CompiledMatch(kind: .sourceLocal, flags: negated ? .inverted : []))
        case .destinationAddressType(_, let negated):
            matches.append(CompiledMatch(kind: .destinationLocal, flags: negated ? .inverted : []))
        case .recent(.set(let name)):
            matches.append(CompiledMatch(kind: .recentSet, a: recentList(name)))
        case .recent(.check(let name, let seconds, let reap)):
            matches.append(CompiledMatch(kind: .recentCheck, flags: reap ? .reap : [], a: recentList(name),
                                         window: Int64(seconds) * 1_000_000_000))
        }
    }

    /// Lists are shared by name (one `recent_table` per name and namespace).
    private mutating func recentList(_ name: String) -> UInt32 {
        if let i = recentNames.firstIndex(of: name) { return UInt32(i) }
        recentNames.append(name)
        return UInt32(recentNames.count - 1)
    }

    /// The wildcard number of "veth+" (-1 for "+", which matches every name).
    /// `-i`/`-o`: the flags, and the operand — a wildcard prefix's id, or `.min` until the
    /// name is resolved to a device (`interfaceUses`).
    private mutating func compileInterface(_ m: InterfaceMatch, rule index: Int, flags: inout CompiledRuleFlags,
                                           isOutput: Bool) -> Int32 {
        flags.insert(isOutput ? .hasOutInterface : .hasInInterface)
        if m.negated { flags.insert(isOutput ? .outInverted : .inInverted) }
        interfaceUses.append(InterfaceUse(rule: index, isOutput: isOutput, name: m.name))
        guard m.name.hasSuffix("+") else { return .min }
        flags.insert(isOutput ? .outWildcard : .inWildcard)
        return wildcard(m.name)
    }

    private mutating func wildcard(_ name: String) -> Int32 {
        let prefix = String(name.dropLast())
        if prefix.isEmpty { return -1 }
        if let i = wildcardPrefixes.firstIndex(of: prefix) { return Int32(i) }
        wildcardPrefixes.append(prefix)
        return Int32(wildcardPrefixes.count - 1)
    }
}

/// A ruleset checked and compiled ahead of loading (`NetfilterRuleset.compile(reusing:)`):
/// what `iptables-restore` hands the kernel, kept so namespaces loading near-identical
/// rulesets (every node of a cluster runs kube-proxy's rules for the same Services) check and
/// compile only what differs. Immutable.
final class NetfilterCompilation: Sendable {
    let program: NetfilterProgram
    /// Per table (filter, nat): which hooks reach each chain (`NetfilterValidator.check`).
    let reach: [[UInt8]]
    /// The tables compiled (to find what a later ruleset changed).
    let tables: [NetfilterTable]

    private init(program: NetfilterProgram, reach: [[UInt8]], tables: [NetfilterTable]) {
        self.program = program
        self.reach = reach
        self.tables = tables
    }

    /// Checks every table as iptables-restore would, then compiles.
    convenience init(_ ruleset: NetfilterRuleset) throws(NetfilterError) {
        var reach: [[UInt8]] = []
        for name in NetfilterTableName.allCases {
            reach.append(try Self.located(ruleset[name]) { () throws(NetfilterValidator.Problem) in
                try NetfilterValidator.check(ruleset[name])
            })
        }
        self.init(program: NetfilterProgram(ruleset), reach: reach, tables: [ruleset.filter, ruleset.nat])
    }

    /// `ruleset` compiled by patching this compilation, when it has the same chains (names,
    /// order, policies, rule counts): only the chains whose rules differ are checked and
    /// compiled; the jump graph is re-checked only if their jumps changed. Nil when the
    /// layout differs or the patch does not fit (`NetfilterProgram.patch`).
    func patched(for ruleset: NetfilterRuleset) throws(NetfilterError) -> NetfilterCompilation? {
        var changed: [[Int]] = []
        for (t, name) in NetfilterTableName.allCases.enumerated() {
            let old = tables[t], new = ruleset[name]
            guard old.chains.count == new.chains.count else { return nil }
            var differing: [Int] = []
            for c in new.chains.indices {
                let a = old.chains[c], b = new.chains[c]
                guard a.name == b.name, a.policy == b.policy, a.rules.count == b.rules.count else { return nil }
                // O(1) when both share the rule array (a generator's output, copied).
                if a.rules != b.rules { differing.append(c) }
            }
            changed.append(differing)
        }
        var reach = self.reach
        for (t, name) in NetfilterTableName.allCases.enumerated() where !changed[t].isEmpty {
            let table = ruleset[name]
            let builtins = name.hooks.map(\.chainName)
            reach[t] = try Self.located(table) { () throws(NetfilterValidator.Problem) in
                var sameGraph = true
                for c in changed[t] {
                    try NetfilterValidator.checkChain(c, in: table, builtins: builtins)
                    let before = NetfilterValidator.jumpEdges(tables[t].chains[c], in: tables[t])
                    let after = NetfilterValidator.jumpEdges(table.chains[c], in: table)
                    if !before.elementsEqual(after, by: { $0.rule == $1.rule && $0.to == $1.to }) { sameGraph = false }
                }
                guard sameGraph else { return try NetfilterValidator.check(table) }
                for c in changed[t] { try NetfilterValidator.checkNATHooks(c, in: table, reach: self.reach[t]) }
                return self.reach[t]
            }
        }
        var program = self.program
        guard program.patch(ruleset, changed: changed, oldTables: tables) else { return nil }
        return NetfilterCompilation(program: program, reach: reach, tables: [ruleset.filter, ruleset.nat])
    }

    private static func located<T>(_ table: NetfilterTable,
                                   _ body: () throws(NetfilterValidator.Problem) -> T) throws(NetfilterError) -> T {
        do throws(NetfilterValidator.Problem) {
            return try body()
        } catch {
            throw NetfilterError(error.located(in: table))
        }
    }
}

extension NetfilterRuleset {
    /// Checks and compiles this ruleset now, as loading it would, and keeps the result with
    /// the value: `Netfilter(_:)` (so `World.enableNetfilter`) then only copies the compiled
    /// rules. With `base` (itself compiled), a ruleset with the same chains as `base` — names,
    /// order, policies and rule counts — is compiled by patching `base`'s result: only chains
    /// whose rules differ are checked and compiled, and rule arrays shared between the two
    /// compare in O(1). That is what makes 250 nodes' kube-proxy rules (~17,000 each, alike
    /// but for a flanneld rule naming the node's pod CIDR) cheap to load. Anything else is
    /// compiled from scratch. Any change to the ruleset drops the result. Throws what
    /// `Netfilter(_:)` would.
    public mutating func compile(reusing base: NetfilterRuleset? = nil) throws(NetfilterError) {
        if compilation != nil { return }
        if let previous = base?.compilation, let patched = try previous.patched(for: self) {
            compilation = patched
        } else {
            compilation = try NetfilterCompilation(self)
        }
    }

    /// True after `compile(reusing:)`, until the next change.
    public var isCompiled: Bool { compilation != nil }
}

extension Netfilter {
    /// Resolves every exact `-i`/`-o` name with `interfaceIndex` (unknown: never matches).
    func resolveExactInterfaces(_ interfaceIndex: (String) -> Int32?) {
        for use in interfaceUses where !use.name.hasSuffix("+") {
            let index = interfaceIndex(use.name).flatMap { $0 >= 0 ? $0 : nil } ?? .min
            if use.isOutput { rules[use.rule].outInterface = index } else { rules[use.rule].inInterface = index }
        }
    }

    /// Re-resolves every `-i`/`-o` (exact names and '+' wildcards) against the namespace's
    /// devices. Call it when a device is created, renamed or deleted: Linux matches names at
    /// packet time, so a rule for a device that appears later starts matching then.
    public func resolveInterfaces(_ devices: [(name: String, index: Int32)]) {
        resolveExactInterfaces { name in devices.first { $0.name == name }?.index }
        let maximum = devices.map(\.index).max() ?? -1
        let words = maximum < 0 ? 0 : Int(maximum) / 64 + 1
        let bits = UnsafeMutablePointer<UInt64>.allocate(capacity: max(words * wildcardPrefixes.count, 1))
        bits.initialize(repeating: 0, count: max(words * wildcardPrefixes.count, 1))
        for (w, prefix) in wildcardPrefixes.enumerated() {
            for device in devices where device.index >= 0 && device.name.hasPrefix(prefix) {
                bits[w * words + Int(device.index) / 64] |= 1 << UInt64(device.index % 64)
            }
        }
        wildcardBits.deallocate()
        wildcardBits = bits
        wildcardWords = words
    }
}
