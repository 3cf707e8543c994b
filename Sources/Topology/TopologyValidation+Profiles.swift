/// Checks `spec.profiles` and each node's `profile`: names (unique, not a built-in's),
/// bases (a built-in, or a profile defined above), the fields a profile without a base must
/// give, and the checks that span fields (`softirqCore` below `cores`, `totalRAMMiB` within
/// `memoryMB`, with values a base supplies). Each profile is flattened onto its built-in
/// base, so PodwireKit only ever applies one `ProfileSpec` over one built-in board.

extension TopologyValidation {
    struct CheckedProfiles {
        /// Valid profiles, flattened (base is a built-in or nil), in file order.
        var resolved: [(name: String, spec: ProfileSpec)] = []
        /// Every name declared (valid or not), with its line: a node naming an invalid profile
        /// is not reported again.
        var declared: [(name: String, line: Int)] = []
        /// The profiles as written, when all are valid.
        var written: [ProfileSpec]? = []
    }

    static func checkProfiles(_ t: TopologyDraft, _ r: DocumentReader) -> CheckedProfiles {
        var result = CheckedProfiles()
        let builtins = NodeSpec.knownProfiles
        for (index, p) in t.profiles.enumerated() {
            var ok = p.fieldsValid
            var name: String?
            if let n = p.name {
                if builtins.contains(n.value) {
                    r.report(at: n.location, p.path + ".name",
                             "profile name \(String(reflecting: n.value)) is a built-in profile's; a topology cannot redefine a built-in",
                             hint: "give your profile its own name and start from the board: `name: \(n.value)-custom`, `base: \(n.value)`")
                    ok = false
                } else if let first = result.declared.first(where: { $0.name == n.value }) {
                    r.report(at: n.location, p.path + ".name",
                             "duplicate profile name \(String(reflecting: n.value)); it is already defined on line \(first.line)",
                             hint: "rename one of them, or merge their fields into one profile")
                    ok = false
                } else {
                    name = n.value
                }
            } else {
                ok = false
            }
            var spec = p.spec
            spec.name = name ?? ""
            spec.base = p.base?.value
            spec.location = p.location
            var flattened: ProfileSpec?
            if let base = p.base {
                if base.value == p.name?.value {
                    r.report(at: base.location, p.path + ".base", "profile \(String(reflecting: base.value)) names itself as its base",
                             hint: "start from a built-in board (e.g. `base: raspberry-pi-4b`) or a profile defined above, or remove `base`")
                } else if let later = t.profiles[(index + 1)...].first(where: { $0.name?.value == base.value }),
                          !builtins.contains(base.value) {
                    r.report(at: base.location, p.path + ".base",
                             "base \(String(reflecting: base.value)) is defined below this profile (line \(later.location.line)); a profile starts from a built-in or from a profile defined above it",
                             hint: "move profile \(base.value) above this one")
                } else if let b = baseSpec(base, path: p.path + ".base", profiles: result, r) {
                    flattened = spec.applied(over: b)
                }
                if flattened == nil { ok = false }
            } else {
                ok = checkRequired(p, what: "profile \(name.map { String(reflecting: $0) } ?? "#\(index + 1)")", r) && ok
                flattened = spec
            }
            if ok, let f = flattened { ok = checkConsistency(f, p, r) }
            // Declared after its base is looked up: a profile is not a base candidate of itself.
            if let name { result.declared.append((name, p.name?.location.line ?? p.location.line)) }
            if ok, let name, let f = flattened {
                result.resolved.append((name, f))
                result.written?.append(spec)
            } else {
                result.written = nil
            }
        }
        return result
    }

    /// A node's profile, flattened onto its built-in base; nil when invalid (reported).
    static func checkNodeProfile(_ node: NodeDraft, index: Int, profiles: CheckedProfiles, _ r: DocumentReader) -> ProfileSpec? {
        switch node.profile {
        case nil:
            return nil
        case .named(let n):
            if NodeSpec.knownProfiles.contains(n.value) {
                return ProfileSpec(name: n.value, base: n.value, location: n.location)
            }
            if let c = profiles.resolved.first(where: { $0.name == n.value }) { return c.spec }
            if profiles.declared.contains(where: { $0.name == n.value }) { return nil }
            reportUnknown(n, path: node.path + ".profile", profiles: profiles, r)
            return nil
        case .inline(let p):
            let nodeName = node.name?.value ?? "node-\(index + 1)"
            var spec = p.spec
            spec.name = "\(p.base?.value ?? "custom")@\(nodeName)"
            spec.base = p.base?.value
            spec.location = p.location
            var flattened: ProfileSpec?
            var ok = p.fieldsValid
            if let base = p.base {
                flattened = baseSpec(base, path: p.path + ".base", profiles: profiles, r).map { spec.applied(over: $0) }
            } else {
                ok = checkRequired(p, what: "the inline profile of \(nodeName)", r) && ok
                flattened = spec
            }
            guard ok, let f = flattened, checkConsistency(f, p, r) else { return nil }
            return f
        }
    }

    /// The flattened profile `base` names: a built-in, or a valid profile of the file. nil when
    /// it names nothing (reported) or an invalid profile (already reported).
    private static func baseSpec(_ base: Located<String>, path: String, profiles: CheckedProfiles, _ r: DocumentReader) -> ProfileSpec? {
        if NodeSpec.knownProfiles.contains(base.value) {
            return ProfileSpec(name: base.value, base: base.value, location: base.location)
        }
        if let c = profiles.resolved.first(where: { $0.name == base.value }) { return c.spec }
        if profiles.declared.contains(where: { $0.name == base.value }) { return nil }
        reportUnknown(base, path: path, profiles: profiles, r)
        return nil
    }

    private static func reportUnknown(_ n: Located<String>, path: String, profiles: CheckedProfiles, _ r: DocumentReader) {
        let custom = profiles.declared.map(\.name)
        let isBase = DocumentReader.lastComponent(path) == "base"
        let mine = custom.isEmpty ? "" : (isBase ? ", or a profile defined above (" : ", or one of spec.profiles (") + custom.joined(separator: ", ") + ")"
        r.report(at: n.location, path,
                 "expected \(isBase ? "a base" : "a profile"): a built-in (" + NodeSpec.knownProfiles.joined(separator: ", ") + ")" + mine
                    + "; got \(String(reflecting: n.value))",
                 hint: Suggestions.didYouMean(n.value, in: NodeSpec.knownProfiles + custom)
                    ?? "pick the built-in board closest to yours, or define your own under `spec.profiles`")
    }

    /// A profile without a base gives every required field.
    private static func checkRequired(_ p: ProfileDraft, what: String, _ r: DocumentReader) -> Bool {
        let missing = ProfileSpec.requiredWithoutBase.filter { !p.writtenKeys.contains($0) }
        guard !missing.isEmpty else { return true }
        r.report(at: p.location, p.path,
                 "\(what) has no `base`, so it must give every required field; missing " + missing.map { "`\($0)`" }.joined(separator: ", "),
                 hint: "add `base: raspberry-pi-4b` (or another built-in) to start from a board, or give " + missing.joined(separator: ", "))
        return false
    }

    /// Checks between fields, with the values the base supplies. The error points at the
    /// field this profile writes (the other one comes from its base).
    private static func checkConsistency(_ f: ProfileSpec, _ p: ProfileDraft, _ r: DocumentReader) -> Bool {
        let facts = f.base.flatMap { b in NodeSpec.builtinProfiles.first { $0.name == b } }
        var ok = true
        func blame(_ preferred: String, else other: String) -> (String, SourceLocation) {
            let key = p.fieldLocations[preferred] != nil ? preferred : other
            return (p.path + "." + key, p.fieldLocations[key] ?? p.location)
        }
        if let cores = f.cores ?? facts?.cores {
            let softirq = f.softirqCore ?? 0
            if softirq >= cores {
                let (path, at) = blame("softirqCore", else: "cores")
                r.report(at: at, path,
                         "softirqCore \(softirq) is not a core of this \(cores)-core board (cores are numbered 0 to \(cores - 1))",
                         hint: "set softirqCore from 0 to \(cores - 1) (0: one RX interrupt line, no RPS), or raise cores")
                ok = false
            }
        }
        if let memory = f.memoryMB ?? facts?.memoryMB, let total = f.totalRAMMiB ?? facts?.totalRAMMiB, total > memory {
            let (path, at) = blame("totalRAMMiB", else: "memoryMB")
            r.report(at: at, path,
                     "totalRAMMiB \(total) is more than the board's memoryMB \(memory); the kernel manages less than the board has (the firmware and GPU keep some)",
                     hint: "set totalRAMMiB to MemTotal from /proc/meminfo in MiB (at most \(memory)), or memoryMB to the board's size")
            ok = false
        }
        return ok
    }
}
