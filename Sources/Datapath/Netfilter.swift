import Engine
import Wire

/// iptables as the kernel runs it: a `NetfilterRuleset` compiled once (what
/// `iptables-restore` → `translate_table` does) into flat arrays, then walked per packet by
/// `evaluate`, which mirrors `ipt_do_table` (net/ipv4/netfilter/ip_tables.c).
///
/// Contract: `evaluate` does no heap allocation and no String work; rule counters, the
/// policy counters of built-in chains and `rulesWalked` are updated as the kernel would.
/// One instance is one network namespace's tables (xt_recent lists are per namespace too).
/// What is not modelled: the mangle and raw tables, `-g` (goto), matches other than those of
/// `NetfilterMatch`, fragments (`-f`), IPv6.

/// What the rules see of one packet at one hook. Built by the datapath per packet (a value,
/// no allocation).
public struct NetfilterPacket: Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var protocolNumber: UInt8
    /// UDP/TCP ports; 0 otherwise.
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// Device index of the input device (-1: none, e.g. OUTPUT).
    public var inInterface: Int32
    /// Device index of the output device (-1: not routed yet, e.g. PREROUTING).
    public var outInterface: Int32
    /// `skb->mark`; MARK targets change it in place.
    public var mark: UInt32
    /// One of new/established/related/invalid/untracked, plus `.snat`/`.dnat` when the
    /// flow has that NAT (xt_conntrack's virtual states).
    public var conntrackState: ConntrackStateSet
    /// IP total length (byte counters).
    public var length: Int
    /// `-m addrtype --src-type LOCAL`: the source is an address of this namespace.
    public var sourceIsLocal: Bool
    /// `-m addrtype --dst-type LOCAL`.
    public var destinationIsLocal: Bool

    public init(source: IPv4Address, destination: IPv4Address, protocolNumber: UInt8,
                sourcePort: UInt16 = 0, destinationPort: UInt16 = 0,
                inInterface: Int32 = -1, outInterface: Int32 = -1, mark: UInt32 = 0,
                conntrackState: ConntrackStateSet = .new, length: Int = 0,
                sourceIsLocal: Bool = false, destinationIsLocal: Bool = false) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.mark = mark
        self.conntrackState = conntrackState
        self.length = length
        self.sourceIsLocal = sourceIsLocal
        self.destinationIsLocal = destinationIsLocal
    }
}

/// How one table's traversal at one hook ended (`NF_ACCEPT`/`NF_DROP`, or the NAT binding a
/// nat-table target asks for).
public enum NetfilterVerdict: Equatable, Sendable {
    case accept
    case drop
    case reject(RejectWith)
    case dnat(IPv4Address, port: UInt16?)
    case snat(IPv4Address, ports: ClosedRange<UInt16>?, randomFully: Bool)
    case masquerade(ports: ClosedRange<UInt16>?, randomFully: Bool)
}

/// A ruleset iptables would refuse, or iptables-save text that does not parse.
public struct NetfilterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong and, where it helps, how to fix it.
    public var message: String
    /// 1-based line of the iptables-save text, for errors from `IptablesSave.parse`.
    public var line: Int?

    public init(_ message: String, line: Int? = nil) {
        self.message = message
        self.line = line
    }

    /// "line 12: unsupported match module 'multiport' (…)", or the message alone.
    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

public final class Netfilter {
    /// The rules as loaded (what `save` prints).
    public let ruleset: NetfilterRuleset
    /// Total rules examined by every `evaluate` call so far, matched or not (the policy at
    /// the end of a built-in chain and the implicit RETURN of a user chain are not rules).
    public private(set) var rulesWalked: UInt64 = 0

    /// Compiled rules of both tables, chain after chain, each chain closed by a sentinel
    /// (policy or implicit RETURN), like the kernel's blob of `ipt_entry`s.
    let rules: UnsafeMutablePointer<CompiledRule>
    let ruleCount: Int
    let matches: UnsafeMutablePointer<CompiledMatch>
    let matchCount: Int
    /// (packets, bytes) per compiled rule, interleaved; a sentinel's are the policy counters.
    let counterStorage: UnsafeMutablePointer<UInt64>
    /// Return points (index of the jumping rule), `jumpstack` in ipt_do_table.
    let jumpStack: UnsafeMutablePointer<Int32>
    /// Per `hookSlot`: first rule of the built-in chain, or -1 when the table has no such hook.
    let hookEntries: UnsafeMutablePointer<Int32>
    /// Per `hookSlot`: index of the built-in chain's policy sentinel.
    let hookPolicies: UnsafeMutablePointer<Int32>
    /// Bit `hookSlot` set: no rules and policy ACCEPT.
    let emptyHooks: UInt16
    /// Per table (filter, nat), per chain of `NetfilterTable.chains`: its first compiled rule.
    let chainStarts: [[Int32]]
    /// Every `-i`/`-o` of the ruleset, for re-resolving names to device indices.
    let interfaceUses: [InterfaceUse]
    /// One bit set per device index whose name has wildcard `w`'s prefix, `wildcardWords`
    /// words per wildcard.
    var wildcardBits: UnsafeMutablePointer<UInt64> {
        // Interfaces were (re)resolved: what a walk matches may change.
        didSet { forgetWalks() }
    }
    var wildcardWords: Int
    let wildcardPrefixes: [String]
    /// xt_recent lists, by the id the compiled matches carry.
    let recentTables: [RecentTable]
    /// Where a walk through a long run of `-d A/32` rules goes on (shared, read-only).
    let destinationIndex: DestinationIndex

    /// Remembered walks (`WalkMemo`), `memoWays` per hook slot, and the rule indices each
    /// counted (`memoPathLimit` per memo).
    let memos: UnsafeMutablePointer<WalkMemo>
    let memoPaths: UnsafeMutablePointer<Int32>
    /// While walking: where `count` records, how many it counted, and whether a match with
    /// state or randomness (`-m statistic`, `-m recent`) was evaluated.
    private var recording: UnsafeMutablePointer<Int32>
    private var recorded = 0
    private var impure = false
    /// Evaluations answered from a remembered walk.
    private(set) var rememberedWalks: UInt64 = 0
    /// Off: every evaluation walks (tests compare both).
    var memoizesWalks = true {
        didSet { forgetWalks() }
    }

    static let memoWays = 4
    static let memoPathLimit = 16

    /// nf_tables refuses deeper chains (`NFT_JUMP_STACK_SIZE` 16, EMLINK); the validator
    /// enforces it, so the jump stack has a fixed size.
    static let maximumJumpDepth = 15

    /// Compiles `ruleset` (like iptables-restore would accept it). `interfaceIndex` resolves
    /// `-i`/`-o` names to device indices (nil: the interface does not exist (yet); such a
    /// match never matches, as in Linux). Names ending in iptables' '+' wildcard need the
    /// device list: use `init(_:devices:)` or call `resolveInterfaces(_:)`; until then a
    /// wildcard matches no device.
    ///
    /// A ruleset already compiled (`NetfilterRuleset.compile(reusing:)`) is not checked or
    /// compiled again.
    public convenience init(_ ruleset: NetfilterRuleset, interfaceIndex: (String) -> Int32? = { _ in nil }) throws(NetfilterError) {
        let compilation: NetfilterCompilation
        if let compiled = ruleset.compilation { compilation = compiled } else { compilation = try NetfilterCompilation(ruleset) }
        var loaded = ruleset
        loaded.compilation = nil  // the compiled arrays are copied below; do not keep them twice
        self.init(checked: loaded, program: compilation.program, interfaceIndex: interfaceIndex)
    }

    /// Loads `program`, compiled from `ruleset` after `NetfilterValidator` accepted it.
    init(checked ruleset: NetfilterRuleset, program: NetfilterProgram, interfaceIndex: (String) -> Int32?) {
        self.ruleset = ruleset
        ruleCount = program.rules.count
        rules = .allocate(capacity: max(ruleCount, 1))
        rules.initialize(from: program.rules, count: ruleCount)
        matchCount = program.matches.count
        matches = .allocate(capacity: max(matchCount, 1))
        matches.initialize(from: program.matches, count: matchCount)
        counterStorage = .allocate(capacity: max(2 * ruleCount, 1))
        counterStorage.initialize(repeating: 0, count: max(2 * ruleCount, 1))
        jumpStack = .allocate(capacity: Self.maximumJumpDepth + 1)
        jumpStack.initialize(repeating: 0, count: Self.maximumJumpDepth + 1)
        hookEntries = .allocate(capacity: Self.hookSlots)
        hookEntries.initialize(from: program.hookEntries, count: Self.hookSlots)
        hookPolicies = .allocate(capacity: Self.hookSlots)
        hookPolicies.initialize(from: program.hookPolicies, count: Self.hookSlots)
        emptyHooks = program.emptyHooks
        chainStarts = program.chainStarts
        interfaceUses = program.interfaceUses
        wildcardPrefixes = program.wildcardPrefixes
        wildcardWords = 0
        wildcardBits = .allocate(capacity: 1)
        recentTables = program.recentNames.map { RecentTable(name: $0) }
        destinationIndex = program.destinationIndex
        memos = .allocate(capacity: Self.hookSlots * Self.memoWays)
        memos.initialize(repeating: .empty, count: Self.hookSlots * Self.memoWays)
        memoPaths = .allocate(capacity: Self.hookSlots * Self.memoWays * Self.memoPathLimit)
        memoPaths.initialize(repeating: 0, count: Self.hookSlots * Self.memoWays * Self.memoPathLimit)
        recording = memoPaths
        resolveExactInterfaces(interfaceIndex)
    }

    /// Compiles `ruleset` and resolves every `-i`/`-o`, wildcards included, against the
    /// namespace's devices.
    public convenience init(_ ruleset: NetfilterRuleset, devices: [(name: String, index: Int32)]) throws(NetfilterError) {
        try self.init(ruleset)
        resolveInterfaces(devices)
    }

    deinit {
        rules.deallocate()
        matches.deallocate()
        counterStorage.deallocate()
        jumpStack.deallocate()
        hookEntries.deallocate()
        hookPolicies.deallocate()
        wildcardBits.deallocate()
        memos.deallocate()
        memoPaths.deallocate()
    }

    static let hookSlots = 2 * 5

    @inline(__always)
    static func hookSlot(_ table: NetfilterTableName, _ hook: NetfilterHook) -> Int {
        (table == .filter ? 0 : 5) + hook.rawValue
    }

    /// True when (table, hook)'s built-in chain has no rules and policy ACCEPT (or the table
    /// has no such hook): the datapath may skip the hook. O(1).
    public func isEmpty(_ table: NetfilterTableName, _ hook: NetfilterHook) -> Bool {
        emptyHooks & (1 << UInt16(Self.hookSlot(table, hook))) != 0
    }

    /// A packet the datapath passed by (table, hook)'s built-in chain because `isEmpty` said
    /// it has no rules: the chain's policy still counts it, as the kernel's does. (Linux 6.18
    /// in a namespace, the kernel reference's layout: pi-1's nat INPUT chain, empty, counted
    /// 16 packets, the first of each new flow delivered to the node.) Nothing when the table
    /// has no such hook.
    @inline(__always)
    public func countPolicy(_ table: NetfilterTableName, _ hook: NetfilterHook, length: Int) {
        let slot = Self.hookSlot(table, hook)
        guard hookEntries[slot] >= 0 else { return }
        let c = counterStorage + 2 &* Int(hookPolicies[slot])
        c[0] &+= 1
        c[1] &+= UInt64(truncatingIfNeeded: length)
    }

    // MARK: - ipt_do_table

    /// Walks the table's built-in chain for `hook` (`ipt_do_table`). Updates rule counters,
    /// policy counters, `rulesWalked` and `packet.mark`. `random` feeds `-m statistic`
    /// (one draw each time that match is evaluated); `now` feeds `-m recent`.
    ///
    /// A walk that evaluated no `-m statistic` or `-m recent` match is a function of the
    /// packet's view alone (the rules are fixed once loaded), so it is remembered: the next
    /// packet with the same view at the same hook gets the same verdict and mark, and the
    /// same rule and policy counters and `rulesWalked` advance exactly as the walk would
    /// advance them — without examining each rule again.
    public func evaluate(_ table: NetfilterTableName, _ hook: NetfilterHook, _ packet: inout NetfilterPacket,
                         now: SimTime, random: inout SeededGenerator) -> NetfilterVerdict {
        let slot = Self.hookSlot(table, hook)
        if hookEntries[slot] < 0 { return .accept }
        guard memoizesWalks else {
            recording = memoPaths  // the first memo's room: nothing is kept
            recorded = 0
            return walk(slot, &packet, now: now, random: &random)
        }
        let key = WalkMemo.Key(packet)
        let m = slot &* Self.memoWays &+ key.way(Self.memoWays)
        let path = memoPaths + m &* Self.memoPathLimit
        if memos[m].key == key {
            // The counters of the walk's rules are owed these until `settle`.
            memos[m].owedPackets &+= 1
            memos[m].owedBytes &+= UInt64(truncatingIfNeeded: packet.length)
            rulesWalked &+= UInt64(memos[m].walked)
            packet.mark = memos[m].mark
            rememberedWalks &+= 1
            return memos[m].verdict
        }
        settle(m)
        memos[m].key = .none
        recording = path
        recorded = 0
        impure = false
        let before = rulesWalked
        let verdict = walk(slot, &packet, now: now, random: &random)
        if !impure && recorded <= Self.memoPathLimit && rulesWalked &- before <= UInt64(UInt32.max) {
            memos[m] = WalkMemo(key: key, verdict: verdict, mark: packet.mark, walked: UInt32(rulesWalked &- before),
                                counted: Int32(recorded))
        }
        return verdict
    }

    /// Forgets every remembered walk (after paying what their rules are owed).
    func forgetWalks() {
        settleAll()
        memos.update(repeating: .empty, count: Self.hookSlots * Self.memoWays)
    }

    /// Adds the packets and bytes replayed through memo `m` to the counters of each rule its
    /// walk counted.
    @inline(__always)
    private func settle(_ m: Int) {
        let packets = memos[m].owedPackets
        if packets == 0 { return }
        let bytes = memos[m].owedBytes
        let path = memoPaths + m &* Self.memoPathLimit
        for i in 0..<Int(memos[m].counted) {
            let c = counterStorage + 2 &* Int(path[i])
            c[0] &+= packets
            c[1] &+= bytes
        }
        memos[m].owedPackets = 0
        memos[m].owedBytes = 0
    }

    /// Brings every counter up to date (before anything reads them).
    func settleAll() {
        for m in 0..<(Self.hookSlots * Self.memoWays) { settle(m) }
    }

    /// The walk itself: `ipt_do_table`'s loop from the hook's entry rule.
    @inline(__always)
    private func walk(_ slot: Int, _ packet: inout NetfilterPacket, now: SimTime,
                      random: inout SeededGenerator) -> NetfilterVerdict {
        let entry = Int(hookEntries[slot])
        let policy = Int(hookPolicies[slot])
        var index = entry
        var depth = 0
        var walked: UInt64 = 0
        defer { rulesWalked &+= walked }
        while true {
            let rule = rules + index
            switch rule.pointee.target {
            case .policyAccept:
                count(index, packet.length)
                return .accept
            case .policyDrop:
                count(index, packet.length)
                return .drop
            case .chainEnd:
                // Falling off a user chain: its implicit RETURN (never reached at depth 0:
                // user chains are entered by jumps only).
                depth &-= 1
                index = next(after: Int(jumpStack[depth]), &walked)
                continue
            default:
                break
            }
            if rule.pointee.flags.contains(.runStart) {
                // A run of `-d A/32` rules: on to the first with the packet's destination,
                // counting the rules in between as walked (they cannot match).
                let first = destinationIndex.firstCandidate(run: index, address: packet.destination.rawValue)
                if first != index {
                    walked &+= UInt64(truncatingIfNeeded: first &- index)
                    index = first
                    continue
                }
            }
            walked &+= 1
            guard ipPacketMatches(rule, packet), modulesMatch(rule, packet, now: now, random: &random) else {
                index = next(after: index, &walked)
                continue
            }
            count(index, packet.length)
            switch rule.pointee.target {
            case .accept:
                return .accept
            case .drop:
                return .drop
            case .reject:
                return .reject(rule.pointee.rejectWith)
            case .mark:
                packet.mark = (packet.mark & ~rule.pointee.mask) ^ rule.pointee.value
                index = next(after: index, &walked)
            case .jump:
                jumpStack[depth] = Int32(truncatingIfNeeded: index)
                depth &+= 1
                index = Int(rule.pointee.jumpTarget)
            case .returnFromChain:
                if depth == 0 {
                    index = policy
                } else {
                    depth &-= 1
                    index = next(after: Int(jumpStack[depth]), &walked)
                }
            case .dnat:
                return .dnat(IPv4Address(rawValue: rule.pointee.value),
                             port: rule.pointee.flags.contains(.hasPorts) ? rule.pointee.portLow : nil)
            case .snat:
                return .snat(IPv4Address(rawValue: rule.pointee.value), ports: rule.pointee.ports,
                             randomFully: rule.pointee.flags.contains(.randomFully))
            case .masquerade:
                return .masquerade(ports: rule.pointee.ports, randomFully: rule.pointee.flags.contains(.randomFully))
            case .policyAccept, .policyDrop, .chainEnd:
                preconditionFailure("sentinels are handled before matching")
            }
        }
    }

    /// The rule the walk examines after rule `index` (which it examined: in an indexed run, a
    /// rule with the packet's destination): the next one, or in a run the next with the same
    /// destination, the skipped rules counted as walked.
    @inline(__always)
    private func next(after index: Int, _ walked: inout UInt64) -> Int {
        let rule = rules + index
        guard rule.pointee.flags.contains(.indexed) else { return index &+ 1 }
        let next = Int(rule.pointee.nextCandidate)
        walked &+= UInt64(truncatingIfNeeded: next &- index &- 1)
        return next
    }

    /// Counts one packet on rule (or policy sentinel) `index`, and notes the index for the
    /// walk's memo.
    @inline(__always)
    private func count(_ index: Int, _ length: Int) {
        counterStorage[2 &* index] &+= 1
        counterStorage[2 &* index &+ 1] &+= UInt64(truncatingIfNeeded: length)
        if recorded < Self.memoPathLimit { recording[recorded] = Int32(truncatingIfNeeded: index) }
        recorded &+= 1
    }

    /// `ip_packet_match`: addresses under masks, interfaces, protocol, each with its `!`.
    @inline(__always)
    private func ipPacketMatches(_ rule: UnsafeMutablePointer<CompiledRule>, _ packet: NetfilterPacket) -> Bool {
        let r = rule.pointee
        if (packet.source.rawValue & r.sourceMask == r.sourceAddress) == r.flags.contains(.sourceInverted) { return false }
        if (packet.destination.rawValue & r.destinationMask == r.destinationAddress) == r.flags.contains(.destinationInverted) {
            return false
        }
        if r.flags.contains(.hasInInterface),
           interfaceMatches(r.inInterface, wildcard: r.flags.contains(.inWildcard), device: packet.inInterface)
           == r.flags.contains(.inInverted) {
            return false
        }
        if r.flags.contains(.hasOutInterface),
           interfaceMatches(r.outInterface, wildcard: r.flags.contains(.outWildcard), device: packet.outInterface)
           == r.flags.contains(.outInverted) {
            return false
        }
        if r.protocolNumber != 0, (packet.protocolNumber == r.protocolNumber) == r.flags.contains(.protocolInverted) {
            return false
        }
        return true
    }

    /// An exact name compares device indices (the name resolved at load); a wildcard looks the
    /// device up in its prefix's bit set. No device (-1) has the empty name: only `+` matches it.
    @inline(__always)
    private func interfaceMatches(_ operand: Int32, wildcard: Bool, device: Int32) -> Bool {
        if !wildcard { return device >= 0 && device == operand }
        if operand < 0 { return true }  // "+" alone: every name, even the empty one
        guard device >= 0 else { return false }
        let word = Int(device) >> 6
        guard word < wildcardWords else { return false }
        return wildcardBits[Int(operand) &* wildcardWords &+ word] & (1 << UInt64(device & 63)) != 0
    }

    /// The `-m` modules in rule order, stopping at the first that does not match
    /// (`xt_ematch_foreach` in ipt_do_table), so a later `-m statistic` draws only when the
    /// earlier matches held.
    @inline(__always)
    private func modulesMatch(_ rule: UnsafeMutablePointer<CompiledRule>, _ packet: NetfilterPacket,
                              now: SimTime, random: inout SeededGenerator) -> Bool {
        var m = Int(rule.pointee.matchStart)
        let end = Int(rule.pointee.matchEnd)
        while m < end {
            let match = (matches + m).pointee
            switch match.kind {
            case .ports:
                // udp_mt / tcp_mt: the module's protocol, then port_match per side.
                if packet.protocolNumber != match.protocolNumber { return false }
                if CompiledMatch.contains(match.a, packet.sourcePort) == match.flags.contains(.sourceInverted) { return false }
                if CompiledMatch.contains(match.b, packet.destinationPort) == match.flags.contains(.destinationInverted) {
                    return false
                }
            case .mark:
                // mark_mt: (skb->mark & mask) == mark, xor invert.
                if (packet.mark & match.b == match.a) == match.flags.contains(.inverted) { return false }
            case .conntrackState:
                // conntrack_mt: the packet's state bit (plus SNAT/DNAT) within the mask, xor invert.
                if (UInt32(packet.conntrackState.rawValue) & match.a != 0) == match.flags.contains(.inverted) { return false }
            case .statistic:
                impure = true
                // statistic_mt, XT_STATISTIC_MODE_RANDOM.
                if UInt32(truncatingIfNeeded: random.next()) & 0x7FFF_FFFF >= match.a { return false }
            case .sourceLocal:
                if packet.sourceIsLocal == match.flags.contains(.inverted) { return false }
            case .destinationLocal:
                if packet.destinationIsLocal == match.flags.contains(.inverted) { return false }
            case .recentSet:
                impure = true
                recentTables[Int(match.a)].set(packet.source.rawValue, now: now.nanoseconds)
            case .recentCheck:
                impure = true
                if !recentTables[Int(match.a)].check(packet.source.rawValue, now: now.nanoseconds, window: match.window,
                                                       reap: match.flags.contains(.reap)) {
                    return false
                }
            }
            m &+= 1
        }
        return true
    }

    // MARK: - Counters

    /// (packets, bytes) of rule `rule` (0-based, as in `NetfilterChain.rules`) of `chain`.
    public func counters(_ table: NetfilterTableName, chain: String, rule: Int) -> (packets: UInt64, bytes: UInt64) {
        guard let c = ruleset[table].chainIndex(named: chain) else {
            preconditionFailure("no chain \(chain) in table \(table.rawValue)")
        }
        precondition(rule >= 0 && rule < ruleset[table].chains[c].rules.count,
                     "chain \(chain) has no rule \(rule)")
        return counters(at: Int(chainStarts[table == .filter ? 0 : 1][c]) + rule)
    }

    /// (packets, bytes) that took the policy of (table, hook)'s built-in chain; (0, 0) when
    /// the table has no such hook.
    public func policyCounters(_ table: NetfilterTableName, _ hook: NetfilterHook) -> (packets: UInt64, bytes: UInt64) {
        let slot = Self.hookSlot(table, hook)
        guard hookEntries[slot] >= 0 else { return (0, 0) }
        return counters(at: Int(hookPolicies[slot]))
    }

    func counters(at index: Int) -> (packets: UInt64, bytes: UInt64) {
        settleAll()
        return (counterStorage[2 * index], counterStorage[2 * index + 1])
    }

    /// `iptables -Z`: every rule and policy counter back to zero (`rulesWalked` too).
    public func zeroCounters() {
        settleAll()
        counterStorage.update(repeating: 0, count: max(2 * ruleCount, 1))
        rulesWalked = 0
    }

    // MARK: - xt_recent lists

    /// The addresses of recent list `name`, least recently set first, with when each was
    /// last set (`/proc/net/xt_recent/NAME`); empty when no rule names that list.
    public func recentList(_ name: String) -> [(address: IPv4Address, lastSeen: SimTime)] {
        guard let table = recentTables.first(where: { $0.name == name }) else { return [] }
        return table.entries.map { (IPv4Address(rawValue: $0.address), SimTime(nanoseconds: $0.lastSeen)) }
    }

    /// Keeps the xt_recent lists of `previous` that this ruleset still names: in the kernel a
    /// list lives as long as some rule refers to it, so a kube-proxy resync (iptables-restore)
    /// does not forget ClientIP affinity. Call right after compiling the replacement.
    public func inheritRecentLists(from previous: Netfilter) {
        for table in recentTables {
            if let old = previous.recentTables.first(where: { $0.name == table.name }) { table.copy(from: old) }
        }
    }
}

/// One remembered walk of one hook's chain: the packet view it was for, what it decided,
/// and how many rules it examined (its counted rule indices live in `Netfilter.memoPaths`).
struct WalkMemo {
    /// Everything a pure walk reads of a `NetfilterPacket` (all but `length`, which only
    /// feeds byte counters), packed into four words.
    struct Key: Equatable {
        var addresses: UInt64
        var portsAndIn: UInt64
        var outAndMark: UInt64
        var rest: UInt64

        /// Matches no packet: `rest` has bits set above any a packet uses.
        static let none = Key(addresses: 0, portsAndIn: 0, outAndMark: 0, rest: .max)

        @inline(__always) init(addresses: UInt64, portsAndIn: UInt64, outAndMark: UInt64, rest: UInt64) {
            self.addresses = addresses
            self.portsAndIn = portsAndIn
            self.outAndMark = outAndMark
            self.rest = rest
        }

        @inline(__always) init(_ p: NetfilterPacket) {
            addresses = UInt64(p.source.rawValue) << 32 | UInt64(p.destination.rawValue)
            portsAndIn = UInt64(p.sourcePort) << 48 | UInt64(p.destinationPort) << 32
                | UInt64(UInt32(bitPattern: p.inInterface))
            outAndMark = UInt64(UInt32(bitPattern: p.outInterface)) << 32 | UInt64(p.mark)
            rest = UInt64(p.protocolNumber) | UInt64(p.conntrackState.rawValue) << 8
                | (p.sourceIsLocal ? 1 << 16 : 0) | (p.destinationIsLocal ? 1 << 17 : 0)
        }

        /// Which of `ways` (a power of two) memos of a hook this key may occupy.
        @inline(__always) func way(_ ways: Int) -> Int {
            let h = (addresses ^ portsAndIn &* 3 ^ outAndMark &* 5 ^ rest &* 7) &* 0x9E37_79B9_7F4A_7C15
            return Int(truncatingIfNeeded: h >> 32) & (ways &- 1)
        }
    }

    var key: Key
    var verdict: NetfilterVerdict
    /// `packet.mark` after the walk.
    var mark: UInt32
    /// Rules examined (what the walk added to `rulesWalked`).
    var walked: UInt32
    /// Entries of the memo's path in `memoPaths`.
    var counted: Int32
    /// Packets and bytes replayed since the path's counters were last brought up to date
    /// (`Netfilter.settle`): counters are read rarely, replays happen per packet.
    var owedPackets: UInt64 = 0
    var owedBytes: UInt64 = 0

    static let empty = WalkMemo(key: .none, verdict: .accept, mark: 0, walked: 0, counted: 0)
}
