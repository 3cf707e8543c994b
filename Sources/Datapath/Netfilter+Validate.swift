/// The checks iptables and the kernel make before a table is loaded, so `Netfilter` refuses
/// what `iptables-restore` would: unknown or built-in jump targets, jump loops
/// (`mark_source_chains`, ELOOP), chains nested deeper than nf_tables allows, targets used
/// outside their table or hooks (`xt_check_target`), matches without their protocol
/// (`xt_check_match`), bad option values. `IptablesSave.parse` reports the same problems
/// with the line they come from.
enum NetfilterValidator {
    /// A problem in one table: the chain (index in `NetfilterTable.chains`) and, when it is
    /// one rule's, the rule (0-based).
    struct Problem: Error {
        var chain: Int
        var rule: Int?
        var message: String

        /// "table nat, chain KUBE-X, rule 3: …" (rules counted from 1, as `iptables -L
        /// --line-numbers` does).
        func located(in table: NetfilterTable) -> String {
            let chainName = table.chains[chain].name
            if let rule { return "table \(table.name.rawValue), chain \(chainName), rule \(rule + 1): \(message)" }
            return "table \(table.name.rawValue), chain \(chainName): \(message)"
        }
    }

    /// `IFNAMSIZ` − 1.
    static let maximumInterfaceNameLength = 15
    /// iptables: chain names must be under `XT_EXTENSION_MAXNAMELEN` (29) characters.
    static let maximumChainNameLength = 28
    /// `XT_RECENT_NAME_LEN` − 1.
    static let maximumRecentNameLength = 199
    /// `XT_MAX_COMMENT_LEN` − 1.
    static let maximumCommentLength = 255
    /// Target names podwire knows; a user chain may not be called like one.
    static let targetNames: Set<String> = ["ACCEPT", "DROP", "RETURN", "REJECT", "DNAT", "SNAT", "MASQUERADE", "MARK", "QUEUE"]

    /// Checks `table`; returns which hooks reach each chain (bit `hook.rawValue` of
    /// `reach[chain]`), which `NetfilterCompilation` keeps to re-check a few changed chains.
    @discardableResult
    static func check(_ table: NetfilterTable) throws(Problem) -> [UInt8] {
        let builtins = table.name.hooks.map(\.chainName)
        for c in table.chains.indices { try checkChain(c, in: table, builtins: builtins) }
        return try checkGraph(table)
    }

    /// The checks of one chain on its own: its name, its policy, each rule (jump targets
    /// must exist in `table`). Not the graph (loops, depth, NAT hooks).
    static func checkChain(_ c: Int, in table: NetfilterTable, builtins: [String]) throws(Problem) {
        let chain = table.chains[c]
        if !builtins.contains(chain.name), let message = chainNameProblem(chain.name) {
            throw Problem(chain: c, rule: nil, message: message)
        }
        if table.name == .nat, chain.policy == .drop {
            throw Problem(chain: c, rule: nil, message: "the nat table is not intended for filtering, "
                          + "the use of DROP is therefore inhibited (set the policy in the filter table)")
        }
        for (r, rule) in chain.rules.enumerated() {
            if let message = ruleProblem(rule, in: table, builtins: builtins) {
                throw Problem(chain: c, rule: r, message: message)
            }
        }
    }

    /// What `iptables -N NAME` would refuse, or nil.
    static func chainNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "empty chain name" }
        if name.utf8.count > maximumChainNameLength {
            return "chain name '\(name)' too long (must be under \(maximumChainNameLength + 1) chars)"
        }
        // Bytes, not Characters: thousands of kube-proxy chains are checked per ruleset.
        let first = name.utf8.first!
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "!")
            || name.utf8.contains(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\"") }) {
            return "invalid chain name '\(name)'"
        }
        if targetNames.contains(name) { return "chain name '\(name)' may not clash with target name" }
        return nil
    }

    private static func ruleProblem(_ rule: NetfilterRule, in table: NetfilterTable, builtins: [String]) -> String? {
        for interface in [rule.inInterface, rule.outInterface].compactMap({ $0 }) {
            if interface.name.isEmpty { return "empty interface name" }
            if interface.name.utf8.count > maximumInterfaceNameLength {
                return "interface name '\(interface.name)' must be shorter than IFNAMSIZ (16)"
            }
        }
        let ruleProtocol = rule.protocol.flatMap { $0.negated ? nil : $0.number }
        for match in rule.matches {
            if let message = matchProblem(match, ruleProtocol: ruleProtocol) { return message }
        }
        return targetProblem(rule.target, ruleProtocol: ruleProtocol, in: table, builtins: builtins)
    }

    private static func matchProblem(_ match: NetfilterMatch, ruleProtocol: UInt8?) -> String? {
        switch match {
        case .comment(let text):
            if text.utf8.count > maximumCommentLength { return "comment may not exceed \(maximumCommentLength) characters" }
        case .ports(let proto, let source, let destination):
            guard proto == 17 || proto == 6 else { return "port match for protocol \(proto): podwire models -m udp and -m tcp" }
            let module = proto == 17 ? "udp" : "tcp"
            if ruleProtocol != proto {
                return "\(module) match: only valid for protocol \(proto) (put -p \(module) before -m \(module))"
            }
            for port in [source, destination].compactMap({ $0 }) where port.low > port.high {
                return "\(module) match: invalid port range \(port.low):\(port.high) (min > max)"
            }
        case .conntrackState(let states, _):
            if states.isEmpty { return "conntrack match: --ctstate needs at least one state" }
        case .statisticRandom(let p):
            if !(p >= 0 && p <= 1) { return "statistic match: --probability must be between 0 and 1 (got \(p))" }
        case .recent(.set(let name)):
            return recentNameProblem(name)
        case .recent(.check(let name, let seconds, let reap)):
            if let message = recentNameProblem(name) { return message }
            if seconds < 0 || seconds > Int(UInt32.max) { return "recent match: --seconds \(seconds) out of range" }
            if reap && seconds == 0 { return "recent match: --reap requires --seconds" }
        case .mark, .sourceAddressType, .destinationAddressType:
            break
        }
        return nil
    }

    private static func recentNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "recent match: empty --name" }
        if name.utf8.count > maximumRecentNameLength { return "recent match: --name longer than \(maximumRecentNameLength) characters" }
        if name.contains(where: { $0 == " " || $0 == "\t" || $0 == "\"" }) { return "recent match: invalid --name '\(name)'" }
        return nil
    }

    private static func targetProblem(_ target: NetfilterTarget, ruleProtocol: UInt8?, in table: NetfilterTable,
                                      builtins: [String]) -> String? {
        /// libxt_NAT / libxt_MASQUERADE: a port needs a protocol with ports.
        func portsNeedProtocol(_ name: String) -> String? {
            [6, 17, 132].contains(ruleProtocol) ? nil
                : "\(name) target: need -p tcp, udp or sctp with a port specification"
        }
        switch target {
        case .accept, .returnFromChain, .mark:
            return nil
        case .drop:
            guard table.name == .nat else { return nil }
            return "the nat table is not intended for filtering, the use of DROP is therefore inhibited"
        case .jump(let name):
            if builtins.contains(name) || NetfilterHook.allCases.contains(where: { $0.chainName == name }) {
                return "cannot jump to built-in chain '\(name)'"
            }
            if table.chainIndex(named: name) == nil {
                return "jump to unknown chain '\(name)' (no such chain in table \(table.name.rawValue))"
            }
            return nil
        case .reject:
            return table.name == .filter ? nil : "REJECT target: only valid in filter table (rule is in table \(table.name.rawValue))"
        case .dnat(_, let port):
            if table.name != .nat { return natPlacement("DNAT") + " (rule is in table \(table.name.rawValue))" }
            return port == nil ? nil : portsNeedProtocol("DNAT")
        case .snat(_, let ports, _):
            if table.name != .nat { return natPlacement("SNAT") + " (rule is in table \(table.name.rawValue))" }
            if let ports, ports.lowerBound == 0 { return "SNAT target: port 0 is not a valid source port" }
            return ports == nil ? nil : portsNeedProtocol("SNAT")
        case .masquerade(let ports, _):
            if table.name != .nat { return natPlacement("MASQUERADE") + " (rule is in table \(table.name.rawValue))" }
            if let ports, ports.lowerBound == 0 { return "MASQUERADE target: port 0 is not a valid source port" }
            return ports == nil ? nil : portsNeedProtocol("MASQUERADE")
        }
    }

    /// The hooks each NAT target's `xt_target.hooks` allows.
    private static func allowedHooks(_ target: NetfilterTarget) -> (name: String, hooks: [NetfilterHook])? {
        switch target {
        case .dnat: ("DNAT", [.prerouting, .output])
        case .snat: ("SNAT", [.postrouting, .input])
        case .masquerade: ("MASQUERADE", [.postrouting])
        default: nil
        }
    }

    private static func natPlacement(_ name: String) -> String {
        switch name {
        case "DNAT": "DNAT target: only valid in nat table, chains PREROUTING and OUTPUT"
        case "SNAT": "SNAT target: only valid in nat table, chains POSTROUTING and INPUT"
        default: "MASQUERADE target: only valid in nat table, chain POSTROUTING"
        }
    }

    /// Loops, nesting depth and which hooks reach each chain (`mark_source_chains`), then the
    /// NAT targets' hooks (`xt_check_target` against the chain's `comefrom`).
    /// The jump edges of one chain: (rule, target chain). Targets exist: checked per rule.
    static func jumpEdges(_ chain: NetfilterChain, in table: NetfilterTable) -> [(rule: Int, to: Int)] {
        var edges: [(rule: Int, to: Int)] = []
        for r in chain.rules.indices {
            if case .jump(let name) = chain.rules[r].target, let to = table.chainIndex(named: name) { edges.append((r, to)) }
        }
        return edges
    }

    private static func checkGraph(_ table: NetfilterTable) throws(Problem) -> [UInt8] {
        let chains = table.chains
        let edges = chains.map { jumpEdges($0, in: table) }
        // Loops: depth-first, white/grey/black.
        var colour = [UInt8](repeating: 0, count: chains.count)
        var path: [Int] = []
        func visit(_ c: Int) throws(Problem) {
            colour[c] = 1
            path.append(c)
            for edge in edges[c] {
                if colour[edge.to] == 1 {
                    let cycle = path[path.lastIndex(of: edge.to)!...].map { chains[$0].name } + [chains[edge.to].name]
                    throw Problem(chain: c, rule: edge.rule, message: "jump loop \(cycle.joined(separator: " -> ")) "
                                  + "(iptables refuses it: ELOOP, too many levels of links)")
                }
                if colour[edge.to] == 0 { try visit(edge.to) }
            }
            path.removeLast()
            colour[c] = 2
        }
        for c in chains.indices where colour[c] == 0 { try visit(c) }

        // Nesting depth below each chain (acyclic now).
        var height = [Int](repeating: -1, count: chains.count)
        func heightOf(_ c: Int) -> Int {
            if height[c] >= 0 { return height[c] }
            let h = edges[c].map { 1 + heightOf($0.to) }.max() ?? 0
            height[c] = h
            return h
        }
        var reach = [UInt8](repeating: 0, count: chains.count)
        func mark(_ c: Int, _ bit: UInt8) {
            if reach[c] & bit != 0 { return }
            reach[c] |= bit
            for edge in edges[c] { mark(edge.to, bit) }
        }
        for hook in table.name.hooks {
            guard let b = table.chainIndex(named: hook.chainName) else { continue }
            let depth = heightOf(b)
            if depth > Netfilter.maximumJumpDepth {
                throw Problem(chain: b, rule: nil, message: "chains nest \(depth) jumps deep from \(hook.chainName); "
                              + "nf_tables allows \(Netfilter.maximumJumpDepth) (NFT_JUMP_STACK_SIZE, EMLINK)")
            }
            mark(b, 1 << UInt8(hook.rawValue))
        }

        for c in chains.indices { try checkNATHooks(c, in: table, reach: reach) }
        return reach
    }

    /// `xt_check_target` for the NAT targets of chain `c`, given which hooks reach it.
    static func checkNATHooks(_ c: Int, in table: NetfilterTable, reach: [UInt8]) throws(Problem) {
        let chain = table.chains[c]
        for (r, rule) in chain.rules.enumerated() {
            guard let (name, allowed) = allowedHooks(rule.target) else { continue }
            let bad = NetfilterHook.allCases.filter { reach[c] & (1 << UInt8($0.rawValue)) != 0 && !allowed.contains($0) }
            if bad.isEmpty { continue }
            let hooks = bad.map(\.chainName).joined(separator: ", ")
            let whereText = bad.count == 1 && bad[0].chainName == chain.name
                ? "rule is in \(chain.name)" : "chain \(chain.name) is reachable from \(hooks)"
            throw Problem(chain: c, rule: r, message: natPlacement(name) + " (\(whereText))")
        }
    }
}
