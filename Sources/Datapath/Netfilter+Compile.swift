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
}

/// One rule as `ipt_do_table` sees it (`struct ipt_entry` with its target resolved).
struct CompiledRule {
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
struct CompiledMatch {
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

    /// Compiles a ruleset `NetfilterValidator` accepted.
    init(_ ruleset: NetfilterRuleset) {
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
            r.flags.insert(.hasInInterface)
            if i.negated { r.flags.insert(.inInverted) }
            if i.name.hasSuffix("+") {
                r.flags.insert(.inWildcard)
                r.inInterface = wildcard(i.name)
            } else {
                r.inInterface = .min
            }
            interfaceUses.append(InterfaceUse(rule: index, isOutput: false, name: i.name))
        }
        if let o = rule.outInterface {
            r.flags.insert(.hasOutInterface)
            if o.negated { r.flags.insert(.outInverted) }
            if o.name.hasSuffix("+") {
                r.flags.insert(.outWildcard)
                r.outInterface = wildcard(o.name)
            } else {
                r.outInterface = .min
            }
            interfaceUses.append(InterfaceUse(rule: index, isOutput: true, name: o.name))
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
    private mutating func wildcard(_ name: String) -> Int32 {
        let prefix = String(name.dropLast())
        if prefix.isEmpty { return -1 }
        if let i = wildcardPrefixes.firstIndex(of: prefix) { return Int32(i) }
        wildcardPrefixes.append(prefix)
        return Int32(wildcardPrefixes.count - 1)
    }
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
