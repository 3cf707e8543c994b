/// index.json: the manifest written last, so its presence means the capture is complete.
/// Its text is built here by hand for byte-identical output: keys in a fixed order, files
/// sorted by file name, two-space indentation, a trailing newline.

/// One file of a finished capture.
public struct CapturedFile: Sendable, Hashable {
    public var path: String
    public var interface: CaptureInterface
    public var packets: Int

    public init(path: String, interface: CaptureInterface, packets: Int) {
        self.path = path
        self.interface = interface
        self.packets = packets
    }
}

enum CaptureIndex {
    static let fileName = "index.json"
    /// Keys the index writes itself; `extra` cannot replace them.
    static let reservedKeys: Set<String> = ["complete", "epoch_seconds", "files"]

    /// `{"complete": true, <extra, sorted by key>, "epoch_seconds": N, "files": [...]}`.
    static func render(files: [CapturedFile], epochSeconds: Int64, extra: [String: String]) -> String {
        var out = "{\n  \"complete\": true,\n"
        for key in extra.keys.sorted() where !reservedKeys.contains(key) {
            out += "  \(quote(key)): \(quote(extra[key]!)),\n"
        }
        out += "  \"epoch_seconds\": \(epochSeconds),\n  \"files\": ["
        for (i, file) in files.enumerated() {
            let it = file.interface
            out += i == 0 ? "\n" : ",\n"
            out += "    {\n"
            out += "      \"file\": \(quote(it.fileName)),\n"
            out += "      \"node\": \(quote(it.node)),\n"
            out += "      \"namespace\": \(quote(it.namespace)),\n"
            out += "      \"interface\": \(quote(it.interface)),\n"
            out += "      \"mac\": \(quote(it.mac)),\n"
            out += "      \"ipv4\": [\(it.ipv4.map(quote).joined(separator: ", "))],\n"
            out += "      \"packets\": \(file.packets)\n"
            out += "    }"
        }
        out += files.isEmpty ? "]\n}\n" : "\n  ]\n}\n"
        return out
    }

    /// A JSON string literal (RFC 8259 §7): quote, backslash and control characters escaped.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
