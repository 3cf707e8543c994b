import Wire

/// Reading `iptables-save` / `iptables-restore` text into a `NetfilterRuleset`: the
/// table/chain/rule lines of `xtables-restore`, each rule's arguments split as
/// `add_param_to_argv` does (double quotes, backslash escapes inside them) and parsed as
/// `iptables -A` would, for the matches and targets podwire models. Every error names its
/// 1-based line and what to change. At `COMMIT` the table is checked like `Netfilter` (and the
/// kernel) would, so a loop or a misplaced DNAT points at the rule's line.
///
/// Accepted commands: `*table`, `:CHAIN POLICY [p:b]`, `[p:b] -A CHAIN …`, `-I CHAIN [n] …`,
/// `-N CHAIN`, `-P CHAIN POLICY`, `COMMIT`, `#` comments. Counters are read and dropped (a
/// ruleset carries none). A table given twice replaces the first, as a restore does.
public enum IptablesSave {
    /// Parses iptables-save / iptables-restore text into a ruleset.
    public static func parse(_ text: String) throws(NetfilterError) -> NetfilterRuleset {
        var parser = IptablesRestoreParser()
        return try parser.parse(text)
    }
}

struct IptablesRestoreParser {
    private var ruleset = NetfilterRuleset()
    private var table: NetfilterTable?
    private var tableLine = 0
    /// Where each chain was declared and where each of its rules came from, for COMMIT's errors.
    private var chainLines: [String: Int] = [:]
    private var ruleLines: [String: [Int]] = [:]

    mutating func parse(_ text: String) throws(NetfilterError) -> NetfilterRuleset {
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = Self.trimmed(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            do throws(NetfilterError) {
                try handle(line, number)
            } catch {
                throw NetfilterError(error.message, line: error.line ?? number)
            }
        }
        if let table {
            throw NetfilterError("table '\(table.name.rawValue)' (opened on line \(tableLine)) has no COMMIT; "
                                 + "end it with a COMMIT line", line: number)
        }
        return ruleset
    }

    private mutating func handle(_ line: Substring, _ number: Int) throws(NetfilterError) {
        if line.hasPrefix("*") {
            if let table { throw NetfilterError("'\(line)' inside table '\(table.name.rawValue)': COMMIT it first") }
            let name = String(line.dropFirst())
            guard let tableName = NetfilterTableName(rawValue: name) else {
                throw NetfilterError("unsupported table '\(name)' (podwire models filter and nat)")
            }
            table = NetfilterTable(tableName)
            tableLine = number
            chainLines = [:]
            ruleLines = [:]
            return
        }
        guard var current = table else {
            throw NetfilterError("'\(line.prefix(20))' outside a table: start one with '*filter' or '*nat'")
        }
        if line == "COMMIT" {
            try commit(current)
            table = nil
            return
        }
        var tokens = try Self.tokenize(line)
        if line.hasPrefix(":") {
            try declareChain(&current, tokens, number)
        } else {
            if let first = tokens.first, first.hasPrefix("[") {
                try Self.parseCounters(first)
                tokens.removeFirst()
            }
            try command(&current, tokens[...], number)
        }
        table = current
    }

    /// `:NAME POLICY [packets:bytes]`.
    private mutating func declareChain(_ table: inout NetfilterTable, _ tokens: [String], _ number: Int) throws(NetfilterError) {
        guard tokens.count == 2 || tokens.count == 3 else {
            throw NetfilterError("a chain line is ':NAME POLICY [packets:bytes]' (policy '-' for a user chain)")
        }
        if tokens.count == 3 { try Self.parseCounters(tokens[2]) }
        try declare(&table, name: String(tokens[0].dropFirst()), policy: tokens[1], number)
    }

    private mutating func declare(_ table: inout NetfilterTable, name: String, policy: String, _ number: Int) throws(NetfilterError) {
        if let hook = table.name.hooks.first(where: { $0.chainName == name }) {
            guard let p = NetfilterPolicy(rawValue: policy) else {
                throw NetfilterError("built-in chain \(name) needs policy ACCEPT or DROP, not '\(policy)'")
            }
            table.setPolicy(p, of: hook)
            chainLines[name] = number
            return
        }
        if NetfilterHook.allCases.contains(where: { $0.chainName == name }) {
            throw NetfilterError("table \(table.name.rawValue) has no built-in chain \(name)")
        }
        guard policy == "-" else {
            throw NetfilterError("user chain \(name) takes '-' as its policy (only built-in chains have one)")
        }
        if let message = NetfilterValidator.chainNameProblem(name) { throw NetfilterError(message) }
        if table.chainIndex(named: name) != nil { throw NetfilterError("chain \(name) is declared twice") }
        table.addChain(name)
        chainLines[name] = number
        ruleLines[name] = []
    }

    /// `-A`, `-I`, `-N`, `-P`.
    private mutating func command(_ table: inout NetfilterTable, _ tokens: ArraySlice<String>, _ number: Int) throws(NetfilterError) {
        guard let verb = tokens.first else { throw NetfilterError("empty rule line") }
        let rest = tokens.dropFirst()
        guard let chain = rest.first else { throw NetfilterError("\(verb) needs a chain name") }
        switch verb {
        case "-A", "--append", "-I", "--insert":
            guard table.chainIndex(named: chain) != nil else {
                throw NetfilterError("chain '\(chain)' does not exist in table \(table.name.rawValue) "
                                     + "(declare it with ':\(chain) - [0:0]' first)")
            }
            var arguments = rest.dropFirst()
            var position = table.chain(named: chain)!.rules.count
            if verb == "-I" || verb == "--insert" {
                position = 0
                if let n = arguments.first, let index = Int(n) {
                    guard index >= 1, index <= table.chain(named: chain)!.rules.count + 1 else {
                        throw NetfilterError("index of insertion too big: \(index) (chain \(chain) has "
                                             + "\(table.chain(named: chain)!.rules.count) rules)")
                    }
                    position = index - 1
                    arguments = arguments.dropFirst()
                }
            }
            var parser = RuleArgumentParser(table: table)
            let rule = try parser.parse(arguments)
            table.insert(rule, into: chain, at: position)
            ruleLines[chain, default: []].insert(number, at: position)
        case "-N", "--new-chain":
            guard rest.count == 1 else { throw NetfilterError("-N takes one chain name") }
            try declare(&table, name: chain, policy: "-", number)
        case "-P", "--policy":
            guard rest.count == 2, table.name.hooks.contains(where: { $0.chainName == chain }) else {
                throw NetfilterError("-P takes a built-in chain of table \(table.name.rawValue) and ACCEPT or DROP")
            }
            try declare(&table, name: chain, policy: rest.last!, number)
        default:
            throw NetfilterError("unsupported command '\(verb)' (podwire's restore takes -A, -I, -N and -P; "
                                 + "expected '*table', ':CHAIN POLICY [p:b]', '-A CHAIN …' or 'COMMIT')")
        }
    }

    /// Checks the table as the kernel would on commit, pointing at the offending line.
    private mutating func commit(_ table: NetfilterTable) throws(NetfilterError) {
        do throws(NetfilterValidator.Problem) {
            try NetfilterValidator.check(table)
        } catch {
            let name = table.chains[error.chain].name
            if let rule = error.rule, let line = ruleLines[name]?[rule] {
                throw NetfilterError(error.message, line: line)
            }
            throw NetfilterError("chain \(name): \(error.message)", line: chainLines[name] ?? tableLine)
        }
        ruleset[table.name] = table
    }

    // MARK: - Lexing

    static func trimmed(_ line: Substring) -> Substring {
        var s = line
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        return s
    }

    /// `add_param_to_argv`: whitespace separates; a double quote opens a string that runs to
    /// the next unescaped double quote (inside it a backslash takes the next character
    /// literally); a closing quote ends the argument.
    static func tokenize(_ line: Substring) throws(NetfilterError) -> [String] {
        var tokens: [String] = []
        var current = String.UnicodeScalarView()
        var open = false, quoted = false, escaped = false
        for c in line.unicodeScalars {
            if quoted {
                if escaped {
                    current.append(c)
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    quoted = false
                    tokens.append(String(current))
                    current = String.UnicodeScalarView()
                    open = false
                } else {
                    current.append(c)
                }
                continue
            }
            switch c {
            case "\"":
                quoted = true
                open = true
            case " ", "\t":
                if open {
                    tokens.append(String(current))
                    current = String.UnicodeScalarView()
                    open = false
                }
            default:
                current.append(c)
                open = true
            }
        }
        if quoted { throw NetfilterError("unterminated quote: close the \" string") }
        if open { tokens.append(String(current)) }
        return tokens
    }

    /// `[packets:bytes]`.
    static func parseCounters(_ token: String) throws(NetfilterError) {
        let inner = token.dropFirst().dropLast()
        let parts = inner.split(separator: ":", omittingEmptySubsequences: false)
        guard token.hasPrefix("["), token.hasSuffix("]"), parts.count == 2,
              UInt64(parts[0]) != nil, UInt64(parts[1]) != nil else {
            throw NetfilterError("bad counters '\(token)' (expected [packets:bytes])")
        }
    }
}
