/// The entry point: a topology file (one YAML stream: podwire's `kind: Topology` first,
/// then plain Kubernetes manifests) → a validated `Topology`, or every problem found, each
/// with file:line:column. Splits the stream into documents with Yams' composer (which keeps
/// positions), dispatches each document by `kind`, then runs the cross-document checks.

import Engine
import Foundation
import Yams

public enum TopologyFile {
    /// The name errors give a topology read from standard input (`podwire run -`).
    public static let standardInputName = "<stdin>"

    /// Reads and parses the file at `path`; `path` is used as the file name in errors. `-`
    /// reads standard input, as `kubectl apply -f -` does, and names it `<stdin>`. Pipes and
    /// devices (`/dev/stdin`, a shell's `<(generate)`) are read to their end.
    public static func load(path: String) throws(TopologyErrors) -> TopologySpec {
        if path == "-" {
            let data = (try? FileHandle.standardInput.readToEnd()) ?? Data()
            return try parse(data: data, fileName: standardInputName)
        }
        guard let data = FileManager.default.contents(atPath: path) ?? readStream(path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let message = !exists ? "cannot read the topology file: no such file"
                : isDirectory.boolValue ? "cannot read the topology file: it is a directory" : "cannot read the topology file: permission denied or I/O error"
            throw TopologyErrors([TopologyError(file: path, line: 0, column: 0, path: "", message: message,
                                                hint: "pass the path of a YAML file such as topologies/single-node.yaml")])
        }
        return try parse(data: data, fileName: path)
    }

    /// A FIFO or character device read to its end; `FileManager.contents(atPath:)` returns
    /// nil for them (it sizes the read from `stat`).
    private static func readStream(_ path: String) -> Data? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFCHR,
              let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.readToEnd()) ?? Data()
    }

    private static func parse(data: Data, fileName path: String) throws(TopologyErrors) -> TopologySpec {
        guard let text = String(data: data, encoding: .utf8) else {
            throw TopologyErrors([TopologyError(file: path, line: 0, column: 0, path: "",
                                                message: "expected a UTF-8 text file; got bytes that are not valid UTF-8",
                                                hint: "save the file as UTF-8")])
        }
        return try parse(yaml: text, fileName: path)
    }

    /// Parses a whole topology stream; `fileName` is only used in errors and locations.
    public static func parse(yaml: String, fileName: String) throws(TopologyErrors) -> TopologySpec {
        let r = DocumentReader(file: fileName)
        let (documents, complete) = compose(yaml, r)

        var topology: TopologyDraft?
        var workloads: [WorkloadDraft] = []
        var services: [ServiceDraft] = []
        var sawFirst = false
        for document in documents where !DocumentReader.isNull(document) {
            let isFirst = !sawFirst
            sawFirst = true
            guard case .mapping(let mapping) = document else {
                r.mismatch(document, "", expected: "a Kubernetes-style object (a mapping with apiVersion and kind)",
                           hint: "each document between `---` lines starts with `apiVersion:` and `kind:`")
                continue
            }
            guard let kindNode = mapping["kind"], let kind = DocumentReader.plainText(kindNode) ?? DocumentReader.quotedText(kindNode),
                  !kind.isEmpty else {
                let at = mapping["kind"].map { r.location(of: $0) } ?? r.location(of: document)
                let want = isFirst ? "kind Topology for the first document" : "Pod, Deployment or Service"
                let found = mapping["kind"].map { "expected `kind` to be \(want); got \(DocumentReader.describe($0))" }
                r.report(at: at, "kind", found ?? "missing `kind`: expected \(want)",
                         hint: isFirst ? "add `kind: Topology` and `apiVersion: \(TopologyDocument.apiVersion)`" : "add `kind: Pod` or `kind: Service` (with `apiVersion: v1`), or `kind: Deployment` (with `apiVersion: apps/v1`)")
                continue
            }
            if kind == "Topology" {
                if isFirst {
                    topology = TopologyDocument.read(document, r)
                } else {
                    r.report(kindNode, "kind", "a second Topology document; a file holds exactly one, and it comes first",
                             hint: "remove this document, or move it to a file of its own")
                }
                continue
            }
            if isFirst {
                let start = "start the file with a `kind: Topology` document (apiVersion: \(TopologyDocument.apiVersion); see topologies/single-node.yaml), then `---` and the Kubernetes manifests"
                r.report(kindNode, "kind", "the first document must be podwire's Topology; got kind \(DocumentReader.describe(kindNode))",
                         hint: Suggestions.didYouMean(kind, in: ["Topology"]).map { "\($0) Otherwise \(start)" } ?? start)
                // A misspelt Topology is not also reported as an unknown Kubernetes kind.
                guard KubernetesManifest.supportedKinds.contains(kind) else { continue }
            }
            if kind == "Service" {
                services.append(ServiceManifest.read(document, r))
            } else if let w = KubernetesManifest.read(document, kind: kind, kindNode: kindNode, r) {
                workloads.append(w)
            }
        }
        if !sawFirst && complete {
            r.report(at: SourceLocation(file: fileName, line: 1, column: 1), "",
                     "the file is empty; expected a Topology document (apiVersion: \(TopologyDocument.apiVersion), kind: Topology)",
                     hint: "start from topologies/single-node.yaml")
        }

        let result = topology.flatMap {
            TopologyValidation.check($0, workloads: workloads, services: services, crossDocument: complete, r)
        }
        if let result, r.errors.isEmpty { return result }
        let sorted = r.errors.enumerated().sorted {
            ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset)
        }.map(\.element)
        throw TopologyErrors(sorted)
    }

    /// All documents Yams can compose; on a syntax error, the documents before it and
    /// `complete == false` (the error is recorded).
    private static func compose(_ yaml: String, _ r: DocumentReader) -> (documents: [Node], complete: Bool) {
        var documents: [Node] = []
        do {
            let parser = try Parser(yaml: yaml)
            while let root = try parser.nextRoot() { documents.append(root) }
            return (documents, true)
        } catch {
            r.append(syntaxError(error, yaml: yaml, file: r.file))
            return (documents, false)
        }
    }

    /// Converts a Yams/libyaml error, keeping its line:column.
    static func syntaxError(_ error: any Error, yaml: String, file: String) -> TopologyError {
        func make(_ line: Int, _ column: Int, _ message: String, _ hint: String) -> TopologyError {
            TopologyError(file: file, line: max(line, 1), column: max(column, 1), path: "", message: message, hint: hint)
        }
        guard let error = error as? YamlError else {
            return make(1, 1, "invalid YAML: \(error)", "check the file's YAML syntax")
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if let context { message += " (\(context.text) at \(context.mark.line):\(context.mark.column))" }
            let found = character(atLine: mark.line, column: mark.column, in: yaml)
            let hint = found == "\t" ? "indent with spaces; YAML does not allow tabs here"
                : syntaxHint(problem + " " + (context?.text ?? ""))
            return make(mark.line, mark.column, message, hint)
        case .reader(let problem, let offset, let value, _):
            let (line, column) = position(ofUTF8Offset: offset ?? 0, in: yaml)
            let character = value >= 0 ? String(format: " (U+%04X)", value) : ""
            return make(line, column, "invalid YAML: \(problem)\(character)",
                        "remove the character or replace it with a space; YAML text may not contain control characters")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "`\($0)`" }.joined(separator: ", ")
            let hint = "keep one of them; Kubernetes refuses manifests with duplicate keys too"
            let first = context.mark
            if first.column == 1, duplicates.count > 1, duplicates.contains("kind"), let split = unseparatedManifest(duplicates, around: first.line, in: yaml) {
                return make(split.line, 1, "a second manifest starts here without `---`: \(keys) appear again in the document that starts at \(split.documentStart):1",
                            "put `---` on its own line before line \(split.line) to start a new document")
            }
            if let again = repeatedBlockKey(duplicates[0], firstAt: (first.line, first.column), in: yaml) {
                let others = duplicates.dropFirst().map { "`\($0)`" }
                let also = others.isEmpty ? "" : "; \(others.joined(separator: ", ")) \(others.count == 1 ? "repeats" : "repeat") too"
                return make(again.line, again.column, "duplicate key `\(duplicates[0])` in the same mapping (first at \(first.line):\(first.column))\(also)", hint)
            }
            return make(first.line, first.column, "duplicate key \(keys) in the same mapping (this is its first occurrence)", hint)
        default:
            return make(1, 1, "invalid YAML: \(error)", "check the file's YAML syntax")
        }
    }

    /// Where `key` appears again in the block mapping whose entry it first is at `first`
    /// (1-based, as libyaml counts): the next line at the same indentation that starts with
    /// the key and a colon, before a line indented less ends the mapping. Yams reports only
    /// the first occurrence; the repeat is the line to fix. Nil for flow mappings (`{a: 1,
    /// a: 2}`) and anything else this does not recognise.
    static func repeatedBlockKey(_ key: String, firstAt first: (line: Int, column: Int), in yaml: String) -> (line: Int, column: Int)? {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard first.line >= 1, first.line <= lines.count else { return nil }
        let indent = first.column - 1
        func leading(_ l: Substring) -> Int { l.prefix { $0 == " " }.count }
        // The first key must begin its line's content (block style), after any "- ".
        let firstLine = lines[first.line - 1]
        let before = firstLine.unicodeScalars.prefix(indent)
        guard before.count == indent, before.allSatisfy({ $0 == " " || $0 == "-" }) else { return nil }
        for n in first.line..<lines.count {
            let l = lines[n]
            let content = l.drop(while: { $0 == " " })
            if content.isEmpty || content.hasPrefix("#") { continue }
            let i = leading(l)
            if i < indent { return nil }
            if i == indent && startsWithKey(content, key) { return (n + 1, indent + 1) }
        }
        return nil
    }

    /// Two manifests run together in one document (the `---` between them left out): in
    /// the document's top-level mapping around line `line`, the line where the first of
    /// `keys` to appear twice appears again, and the line of the document's first key. Nil
    /// when no key repeats at column 1 there.
    static func unseparatedManifest(_ keys: [String], around line: Int, in yaml: String) -> (line: Int, documentStart: Int)? {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard line >= 1, line <= lines.count else { return nil }
        func isSeparator(_ l: Substring) -> Bool { l.hasPrefix("---") || l.hasPrefix("...") }
        var start = line - 1
        while start > 0 && !isSeparator(lines[start - 1]) { start -= 1 }
        var seen = Set<String>()
        var documentStart: Int?
        var n = start
        while n < lines.count && !(n > start && isSeparator(lines[n])) {
            let l = lines[n]
            n += 1
            guard let c = l.first, c != " ", c != "#", c != "-" else { continue }
            if documentStart == nil { documentStart = n }
            for key in keys where startsWithKey(l, key) {
                if !seen.insert(key).inserted { return (n, documentStart ?? n) }
            }
        }
        return nil
    }

    /// `content` (a line from its first non-blank character) begins with `key`, plain or
    /// quoted, and a colon: a block mapping's entry for `key`.
    private static func startsWithKey(_ content: Substring, _ key: String) -> Bool {
        for spelling in [key, "\"\(key)\"", "'\(key)'"] where content.hasPrefix(spelling) {
            if content.dropFirst(spelling.count).drop(while: { $0 == " " }).first == ":" { return true }
        }
        return false
    }

    private static func syntaxHint(_ problem: String) -> String {
        if problem.contains("nesting") { return "lists and mappings may nest at most 1000 levels deep; the file is probably corrupted" }
        if problem.contains("tab") { return "indent with spaces; YAML does not allow tabs for indentation" }
        if problem.contains("quoted scalar") { return "close the quote on the same value" }
        if problem.contains("'}'") || problem.contains("flow mapping") { return "close the `{` with a `}` and separate entries with commas" }
        if problem.contains("']'") || problem.contains("flow sequence") { return "close the `[` with a `]` and separate items with commas" }
        if problem.contains("alias") || problem.contains("anchor") { return "define the anchor (&name) before using the alias (*name)" }
        return "check the indentation and the `key: value` syntax here and on the line before; the file may be truncated"
    }

    /// The Unicode scalar at a 1-based line and column, if any.
    static func character(atLine line: Int, column: Int, in text: String) -> Unicode.Scalar? {
        guard line >= 1, column >= 1 else { return nil }
        var l = 1, c = 1
        for scalar in text.unicodeScalars {
            if l == line && c == column { return scalar }
            if scalar == "\n" { l += 1; c = 1; if l > line { return nil } } else { c += 1 }
        }
        return nil
    }

    /// 1-based line and column (in Unicode scalars, like libyaml) of a UTF-8 byte offset.
    static func position(ofUTF8Offset offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1, column = 1, bytes = 0
        for scalar in text.unicodeScalars {
            if bytes >= offset { break }
            bytes += UTF8.width(scalar)
            if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}

extension TopologyFile {
    /// Parses a duration the way topology files write them (Go syntax: "2s", "500ms",
    /// "1m30s"), for command-line options such as `podwire run --duration`.
    public static func parseDuration(_ text: String) -> SimDuration? {
        try? DurationSyntax.parse(text).get()
    }

    /// `parseDuration`, or what is wrong with `text` and how to write it.
    public static func durationProblem(_ text: String) -> String? {
        switch DurationSyntax.parse(text) {
        case .success: nil
        case .failure(.missingUnit) where Double(text) != nil:
            "a duration needs a unit: write e.g. \(text)s or \(text)ms (units: ns, us, ms, s, m, h)"
        case .failure(.unknownUnit(let unit)): "unknown unit `\(unit)`; units are ns, us, ms, s, m and h, e.g. 2s or 500ms"
        case .failure(.overflow): "longer than about 292 years; write a shorter duration"
        case .failure(.malformed), .failure(.missingUnit): "expected a number and a unit, e.g. 2s, 500ms or 1m30s"
        }
    }
}
