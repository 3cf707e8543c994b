import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks on the places a command was told to write (`run --out` and `--svg`, `bench
/// throughput --svg`, `bench engine --capture-dir`), made in `validate()` before any work, so
/// a mistyped path costs a second instead of a whole replay or benchmark matrix, and the
/// error says why in plain words.
///
/// The checks only look (`stat`, `access`); they create nothing. They catch the usual
/// mistakes — a parent that is a file, a folder where a file is wanted and the reverse, a
/// folder the user may not write in — but not everything: `/proc` accepts the look and
/// refuses the `mkdir`. What they miss still fails when the command writes, with the errno
/// text (`reason(_:)`), not Foundation's "The operation could not be completed".
enum OutputPath {
    /// Why a folder could not be created at `path` (with its missing parents, as `mkdir -p`)
    /// or written in, or nil when nothing visible stands in the way.
    static func folderProblem(_ path: String) -> String? {
        let path = path.isEmpty ? "." : path
        if let isFolder = kind(path) {
            if !isFolder { return "\(path) is a file, not a folder" }
            if access(path, W_OK | X_OK) != 0 { return "cannot write in \(path): \(errorText(errno))" }
            return nil
        }
        // Missing: `mkdir -p` creates it below its nearest existing ancestor.
        var ancestor = parent(of: path)
        while kind(ancestor) == nil, ancestor != "/", ancestor != "." { ancestor = parent(of: ancestor) }
        guard let isFolder = kind(ancestor) else { return "cannot create \(path): \(ancestor) does not exist" }
        if !isFolder { return "cannot create \(path): \(ancestor) is a file, not a folder" }
        if access(ancestor, W_OK | X_OK) != 0 {
            return "cannot create \(path): cannot write in \(ancestor): \(errorText(errno))"
        }
        return nil
    }

    /// Why a file could not be written at `path` (its missing parent folders created first),
    /// or nil when nothing visible stands in the way.
    static func fileProblem(_ path: String) -> String? {
        if path.isEmpty || path.hasSuffix("/") { return "\(path.isEmpty ? "an empty path" : path) names no file" }
        if let isFolder = kind(path) {
            if isFolder { return "\(path) is a folder, not a file" }
            if access(path, W_OK) != 0 { return "cannot write \(path): \(errorText(errno))" }
            return nil
        }
        return folderProblem(parent(of: path))
    }

    /// The plain reason of a file-system error: the errno text under a Foundation error
    /// ("No such file or directory"), else its description.
    static func reason(_ error: any Error) -> String {
        let e = error as NSError
        if e.domain == NSPOSIXErrorDomain { return errorText(Int32(e.code)) }
        // On Linux the underlying error only casts as `any Error` (not as NSError).
        if let underlying = e.userInfo[NSUnderlyingErrorKey] as? any Error {
            let u = underlying as NSError
            if u.domain == NSPOSIXErrorDomain { return errorText(Int32(u.code)) }
        }
        return e.localizedDescription
    }

    /// Creates `path`'s parent folders (as `mkdir -p`) and writes `text` there, replacing
    /// the file at once (a reader never sees half of it).
    static func write(_ text: String, toFile path: String) throws {
        let dir = parent(of: path)
        if dir != "." && dir != "/" {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// true: a folder; false: something else (a file); nil: nothing there (or unreachable).
    private static func kind(_ path: String) -> Bool? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & S_IFMT == S_IFDIR
    }

    private static func parent(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }

    private static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
}
