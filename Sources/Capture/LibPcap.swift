/// Every C call of the Capture module, wrapped in small Swift types (STYLE.md: "every C
/// call in one file"): libpcap's dead handle, dumper, BPF compiler and offline reader, and
/// the few libc calls around them (stdio buffers, directories, fnmatch, atomic rename).
/// Nothing outside this file imports CPcap or the C library.
import CPcap
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - libpcap constants

enum LibPcap {
    /// LINKTYPE_ETHERNET / DLT_EN10MB: every simulated device is Ethernet-framed.
    static let linkTypeEthernet: Int32 = 1
    /// The largest snapshot length libpcap's savefile reader accepts for EN10MB
    /// (`MAXIMUM_SNAPLEN`), and tcpdump's default.
    static let maximumSnaplen = 262_144
    /// The classic pcap magic for nanosecond timestamps, as the writer's byte order stores it.
    static let nanosecondMagic: UInt32 = 0xa1b2_3c4d
    /// pcap_dump writes through stdio, so each file gets a large buffer of our own
    /// (`setvbuf`). Measured here with 1400-byte frames over 8 files: glibc's default
    /// (st_blksize, 4 KiB) costs ~1000 ns of kernel time per hop, 64–256 KiB ~500–650 ns,
    /// 1 MiB slightly worse again (8 such buffers no longer fit the 1 MiB L2). So 256 KiB
    /// per file, at most 64 MiB over all files, and at least 64 KiB each.
    static func dumpBufferSize(fileCount: Int) -> Int {
        max(64 << 10, min(256 << 10, (64 << 20) / max(fileCount, 1)))
    }

    static var versionString: String { String(cString: pcap_lib_version()) }
}

// MARK: - Dead handle (the context every writer and compiler needs)

/// `pcap_open_dead_with_tstamp_precision(DLT_EN10MB, snaplen, NANO)`: no device, just the
/// link type, snapshot length and timestamp precision a savefile header and BPF need.
final class PcapDeadHandle {
    let raw: OpaquePointer

    init?(snaplen: Int, nanosecond: Bool = true) {
        let precision = UInt32(nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO)
        guard let p = pcap_open_dead_with_tstamp_precision(LibPcap.linkTypeEthernet, Int32(snaplen), precision)
        else { return nil }
        raw = p
    }

    deinit { pcap_close(raw) }

    var snaplen: Int { Int(pcap_snapshot(raw)) }
    var lastError: String { String(cString: pcap_geterr(raw)) }
}

// MARK: - Writer

/// A non-owning reference to an open `pcap_dumper_t`, small enough for a per-device table
/// on the per-hop path. Valid while the `PcapDumpFile` that made it is open.
struct PcapDumperRef {
    let raw: OpaquePointer

    /// `pcap_dump` one record. With a NANO handle libpcap stores `ts.tv_usec` as the
    /// nanosecond field as is, so `nanoseconds` goes there unscaled.
    @inline(__always)
    func dump(seconds: Int64, nanoseconds: Int64, capturedLength: Int, originalLength: Int,
              bytes: UnsafeRawPointer) {
        var header = pcap_pkthdr()
        header.ts.tv_sec = .init(truncatingIfNeeded: seconds)
        header.ts.tv_usec = .init(truncatingIfNeeded: nanoseconds)
        header.caplen = UInt32(truncatingIfNeeded: capturedLength)
        header.len = UInt32(truncatingIfNeeded: originalLength)
        pcap_dump(UnsafeMutablePointer<UInt8>(raw), &header, bytes.assumingMemoryBound(to: UInt8.self))
    }
}

/// Writes file data beside the simulation, so that the kernel's part of capturing — copying
/// every byte into the page cache, most of the capture cost (perf) — mostly runs on the
/// other core instead of inside the simulation.
///
/// Each file is a fully buffered `fopencookie` stream (`BackgroundSink`): libpcap's records
/// fill a stdio buffer of `chunkSize` bytes, and when it is full the cookie copies it into a
/// free chunk of one shared pool and queues the chunk. Two threads `write(2)` queued chunks:
/// the writer thread, and the simulation's own thread whenever the pool has run dry — instead
/// of waiting for a chunk it writes the oldest one it may, so when the kernel is the
/// bottleneck both cores work on it.
///
/// Order: a thread only takes the oldest queued chunk of a file, and only while no other
/// chunk of that file is being written, so each file receives its bytes strictly in order
/// and the output is byte-identical to a plain sequential writer. The pool bounds memory
/// (back-pressure); no chunk is held between two cookie calls, so any number of files can
/// share it. The first write error of each file is kept and reported by `drain`.
final class BackgroundWriter: @unchecked Sendable {
    /// The pool's size in bytes. Small enough that a chunk is usually still in the 32 MiB L3
    /// cache when the kernel copies it out; large enough to let the writer thread run ahead.
    static let poolBytes = 8 << 20

    let chunkSize: Int
    let chunkCount: Int

    private struct Job {
        var fd: Int32
        var chunk: Int32
        var length: Int32
        var sink: Int32
    }

    private let memory: UnsafeMutableRawPointer
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let changed: UnsafeMutablePointer<pthread_cond_t>
    // Everything below is guarded by `lock`.
    private var freeChunks: [Int32]
    /// Queued chunks, oldest first.
    private var queue: [Job] = []
    /// Per sink: chunks queued or being written; whether one is being written; the first
    /// write error (errno).
    private var pending: [Int] = []
    private var writing: [Bool] = []
    private var errors: [Int32] = []
    private var stopping = false
    private var thread = pthread_t()
    private var started = false

    init(chunkSize: Int, chunkCount: Int) {
        self.chunkSize = chunkSize
        self.chunkCount = chunkCount
        memory = .allocate(byteCount: chunkSize * chunkCount, alignment: 4096)
        lock = .allocate(capacity: 1)
        changed = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        pthread_cond_init(changed, nil)
        freeChunks = (0..<Int32(chunkCount)).reversed()
        queue.reserveCapacity(chunkCount)
        started = pthread_create(&thread, nil, { arg in
            Unmanaged<BackgroundWriter>.fromOpaque(arg!).takeUnretainedValue().loop()
            return nil
        }, Unmanaged.passUnretained(self).toOpaque()) == 0
    }

    /// A pool of about `poolBytes` in chunks of `chunkSize` (at least 8 chunks).
    convenience init(chunkSize: Int) {
        self.init(chunkSize: chunkSize, chunkCount: max(8, Self.poolBytes / chunkSize))
    }

    /// Stops the thread once the queue is empty. Call before releasing the writer.
    func shutdown() {
        guard started else { return }
        pthread_mutex_lock(lock)
        stopping = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(lock)
        pthread_join(thread, nil)
        started = false
    }

    deinit {
        shutdown()
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(lock)
        changed.deallocate()
        lock.deallocate()
        memory.deallocate()
    }

    func register() -> Int32 {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        pending.append(0)
        writing.append(false)
        errors.append(0)
        return Int32(errors.count - 1)
    }

    @inline(__always) func chunk(_ i: Int32) -> UnsafeMutableRawPointer {
        memory + Int(i) * chunkSize
    }

    /// A free chunk. When every chunk is queued, writes the oldest one it may on this
    /// thread (and reuses it); waits only if all queued chunks belong to files that are
    /// being written.
    func acquire() -> Int32 {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while true {
            if let c = freeChunks.popLast() { return c }
            if let job = takeEligible() {
                perform(job)
            } else {
                pthread_cond_wait(changed, lock)
            }
        }
    }

    /// Queues `length` bytes of `chunk` for the sink's descriptor, after its earlier chunks.
    func submit(fd: Int32, chunk: Int32, length: Int, sink: Int32) {
        pthread_mutex_lock(lock)
        queue.append(Job(fd: fd, chunk: chunk, length: Int32(length), sink: sink))
        pending[Int(sink)] += 1
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(lock)
    }

    /// Waits until everything queued so far for the sink is written, writing queued chunks
    /// (of any file) on this thread meanwhile; returns the sink's first error (errno).
    func drain(sink: Int32) -> Int32 {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while pending[Int(sink)] > 0 {
            if let job = takeEligible() {
                perform(job)
            } else {
                pthread_cond_wait(changed, lock)
            }
        }
        return errors[Int(sink)]
    }

    /// With the lock held: removes and returns the oldest queued job whose sink has no job
    /// being written (so it is also that sink's oldest), marking the sink as being written.
    private func takeEligible() -> Job? {
        var i = 0
        while i < queue.count {
            let sink = Int(queue[i].sink)
            if !writing[sink] {
                writing[sink] = true
                return queue.remove(at: i)
            }
            i += 1
        }
        return nil
    }

    /// Called with the lock held; writes with it released, then frees the chunk and records
    /// the outcome. After a failed write, later chunks of the same sink are dropped (its
    /// first error is what `drain` reports).
    private func perform(_ job: Job) {
        let sink = Int(job.sink)
        let failedBefore = errors[sink] != 0
        pthread_mutex_unlock(lock)
        var code: Int32 = 0
        if !failedBefore {
            var p = UnsafeRawPointer(chunk(job.chunk)), left = Int(job.length)
            while left > 0 {
                let n = write(job.fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    code = errno
                    break
                }
                p += n
                left -= n
            }
        }
        pthread_mutex_lock(lock)
        if code != 0 && errors[sink] == 0 { errors[sink] = code }
        writing[sink] = false
        pending[sink] -= 1
        freeChunks.append(job.chunk)
        pthread_cond_broadcast(changed)
    }

    private func loop() {
        pthread_mutex_lock(lock)
        while true {
            if let job = takeEligible() {
                perform(job)
            } else if stopping && queue.isEmpty {
                break
            } else {
                pthread_cond_wait(changed, lock)
            }
        }
        pthread_mutex_unlock(lock)
    }
}

/// One file's end of its `fopencookie` stream: copies what stdio flushes into pool chunks
/// and queues them in order.
final class BackgroundSink {
    let writer: BackgroundWriter
    let fd: Int32
    let id: Int32

    init(writer: BackgroundWriter, fd: Int32) {
        self.writer = writer
        self.fd = fd
        id = writer.register()
    }

    /// The cookie write function's body: usually one full stdio buffer, one chunk.
    func write(_ bytes: UnsafeRawPointer, _ count: Int) {
        var p = bytes, left = count
        while left > 0 {
            let c = writer.acquire()
            let n = min(left, writer.chunkSize)
            writer.chunk(c).copyMemory(from: p, byteCount: n)
            writer.submit(fd: fd, chunk: c, length: n, sink: id)
            p += n
            left -= n
        }
    }

    /// Everything handed over so far is in the kernel; returns the first write error (errno).
    func drain() -> Int32 {
        writer.drain(sink: id)
    }
}

/// One classic pcap savefile being written through libpcap: `pcap_dump_fopen` on a stdio
/// stream, which writes the 24-byte file header at once; `pcap_dump` formats each record.
/// The stream is fully buffered in a `bufferSize` buffer of our own and locked by the
/// caller (one thread at a time uses it). With a `BackgroundWriter` it is a `fopencookie`
/// stream into a `BackgroundSink`; without one it is `fopen`'s.
final class PcapDumpFile {
    let path: String
    private var dumper: OpaquePointer?
    private var buffer: UnsafeMutableRawPointer?
    private var sink: BackgroundSink?
    private var fd: Int32 = -1

    /// Creates (truncates) `path` and writes the file header, flushed so that the file is
    /// a valid, empty capture from this moment on.
    init(path: String, handle: PcapDeadHandle, bufferSize: Int, writer: BackgroundWriter? = nil) throws(CaptureError) {
        self.path = path
        let file: UnsafeMutablePointer<FILE>
        if let writer {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .cannotOpen(path: path, message: LibC.errorText(errno)) }
            let sink = BackgroundSink(writer: writer, fd: fd)
            var io = podwire_cookie_io_functions_t()
            io.write = { cookie, bytes, count in
                guard let cookie, let bytes else { return 0 }
                Unmanaged<BackgroundSink>.fromOpaque(cookie).takeUnretainedValue().write(bytes, count)
                return count
            }
            guard let f = podwire_fopencookie(Unmanaged.passUnretained(sink).toOpaque(), "w", io) else {
                let message = LibC.errorText(errno)
                Glibc.close(fd)
                throw .cannotOpen(path: path, message: message)
            }
            self.sink = sink
            file = f
        } else {
            guard let f = fopen(path, "wb") else {
                throw .cannotOpen(path: path, message: LibC.errorText(errno))
            }
            file = f
        }
        if bufferSize > 0 {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 4096)
            if setvbuf(file, buffer.assumingMemoryBound(to: CChar.self), _IOFBF, bufferSize) == 0 {
                self.buffer = buffer
            } else {
                buffer.deallocate()
            }
        }
        podwire_stdio_lock_by_caller(file)
        guard let dumper = pcap_dump_fopen(handle.raw, file) else {
            let message = handle.lastError
            fclose(file)
            close()
            throw .cannotOpen(path: path, message: message)
        }
        self.dumper = dumper
        if pcap_dump_flush(dumper) != 0 {
            let message = LibC.errorText(errno)
            close()
            throw .writeFailed(path: path, message: message)
        }
        // The header reaches the kernel now, not with the first full buffer.
        if let sink, case let code = sink.drain(), code != 0 {
            close()
            throw .writeFailed(path: path, message: LibC.errorText(code))
        }
    }

    deinit { close() }

    var ref: PcapDumperRef? { dumper.map(PcapDumperRef.init(raw:)) }
    var isOpen: Bool { dumper != nil }

    /// Flushes stdio (and the background queue), then asks the kernel to put the data on
    /// stable storage, reporting the first error the stream has seen (stdio and background
    /// errors are sticky, so a failed write in the middle of the run surfaces here).
    func flush(sync: Bool) throws(CaptureError) {
        guard let dumper else { return }
        let file = pcap_dump_file(dumper)
        if pcap_dump_flush(dumper) != 0 {
            throw .writeFailed(path: path, message: LibC.errorText(errno))
        }
        if ferror(file) != 0 {
            throw .writeFailed(path: path, message: "a write failed earlier in the run (stdio error indicator set)")
        }
        if let sink {
            let code = sink.drain()
            if code != 0 { throw .writeFailed(path: path, message: LibC.errorText(code)) }
        }
        let descriptor = sink != nil ? fd : fileno(file)
        if sync, fsync(descriptor) != 0 {
            let code = errno
            // EINVAL: a special file (pipe, /dev/null, tmpfs on some kernels) cannot sync.
            if code != EINVAL && code != EROFS {
                throw .writeFailed(path: path, message: "fsync: " + LibC.errorText(code))
            }
        }
    }

    /// `pcap_dump_close` (which fcloses), then waits for the background queue and closes the
    /// descriptor, or frees the stdio buffer. Idempotent.
    func close() {
        if let dumper { pcap_dump_close(dumper) }
        dumper = nil
        if let sink {
            _ = sink.drain()
            self.sink = nil
        }
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
        buffer?.deallocate()
        buffer = nil
    }
}

// MARK: - BPF

/// A `bpf_program` compiled by `pcap_compile`, freed by `pcap_freecode`.
final class CompiledBPF {
    private var program = bpf_program()
    let snaplen: Int

    /// Returns libpcap's own error text on failure.
    init(expression: String, snaplen: Int) throws(CaptureError) {
        guard let handle = PcapDeadHandle(snaplen: snaplen) else {
            throw .badFilter(expression: expression, message: "pcap_open_dead failed")
        }
        self.snaplen = handle.snaplen
        if pcap_compile(handle.raw, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            throw .badFilter(expression: expression, message: handle.lastError)
        }
    }

    deinit { pcap_freecode(&program) }

    /// `pcap_offline_filter` over the first `capturedLength` bytes of a frame that was
    /// `originalLength` bytes on the wire.
    @inline(__always)
    func matches(_ bytes: UnsafeRawPointer, capturedLength: Int, originalLength: Int) -> Bool {
        var header = pcap_pkthdr()
        header.caplen = UInt32(truncatingIfNeeded: capturedLength)
        header.len = UInt32(truncatingIfNeeded: originalLength)
        return pcap_offline_filter(&program, &header, bytes.assumingMemoryBound(to: UInt8.self)) != 0
    }
}

// MARK: - Reader

/// `pcap_open_offline_with_tstamp_precision(path, NANO)` + `pcap_next_ex`.
final class PcapOfflineReader {
    private let raw: OpaquePointer
    let path: String

    init(path: String) throws(CaptureError) {
        self.path = path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let opened = errbuf.withUnsafeMutableBufferPointer {
            pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), $0.baseAddress)
        }
        guard let opened else {
            throw .cannotOpen(path: path, message: LibC.string(errbuf))
        }
        raw = opened
    }

    deinit { pcap_close(raw) }

    var linkType: Int32 { pcap_datalink(raw) }

    /// Calls `body` for every record (timestamps scaled to nanoseconds by libpcap).
    func forEach(_ body: (_ seconds: Int64, _ nanoseconds: Int64, _ bytes: UnsafeRawBufferPointer,
                          _ originalLength: Int) -> Void) throws(CaptureError) {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(raw, &header, &data)
            if status == 1, let h = header?.pointee {
                let bytes = UnsafeRawBufferPointer(start: data, count: Int(h.caplen))
                body(Int64(h.ts.tv_sec), Int64(h.ts.tv_usec), bytes, Int(h.len))
            } else if status == PCAP_ERROR_BREAK {   // -2: end of file
                return
            } else {
                throw .cannotOpen(path: path, message: "reading failed: " + String(cString: pcap_geterr(raw)))
            }
        }
    }

    /// The first four bytes of the file. libpcap scales timestamps to the precision asked
    /// for and has no call that reports the file's own, so the magic is read directly.
    static func magic(path: String) -> UInt32? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var magic: UInt32 = 0
        return fread(&magic, 4, 1, file) == 1 ? magic : nil
    }
}

// MARK: - libc: strings, globs, directories, whole files

enum LibC {
    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func string(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `fnmatch(3)` with `FNM_PATHNAME`: `*`, `?` and `[...]` never match a `/`.
    static func globMatches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, FNM_PATHNAME) == 0
    }

    /// `mkdir -p`. Returns nil or the errno of the failing component.
    static func makeDirectories(_ path: String) -> Int32? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                if code != EEXIST { return code }
                guard let dir = opendir(prefix) else { return errno }
                closedir(dir)
            }
            prefix += "/"
        }
        return nil
    }

    /// Names in a directory (not "." or ".."), in no particular order.
    static func directoryEntries(_ path: String) -> (names: [String], errno: Int32?) {
        guard let dir = opendir(path) else { return ([], errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return (names, nil)
    }

    /// `unlink(2)`; a missing file is not an error.
    static func removeFile(_ path: String) -> Int32? {
        if unlink(path) == 0 || errno == ENOENT { return nil }
        return errno
    }

    /// Writes `bytes` to `path` so that readers see either the old file or the whole new
    /// one: write `path.tmp`, fsync, `rename(2)` over `path`, fsync the directory.
    static func writeFileAtomically(_ path: String, bytes: [UInt8], directory: String) -> String? {
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "wb") else { return "\(temporary): " + errorText(errno) }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        var failure: String?
        if written != bytes.count || fflush(file) != 0 {
            failure = "\(temporary): " + errorText(errno)
        } else if fsync(fileno(file)) != 0, errno != EINVAL, errno != EROFS {
            failure = "\(temporary): fsync: " + errorText(errno)
        }
        if fclose(file) != 0, failure == nil { failure = "\(temporary): " + errorText(errno) }
        if let failure {
            unlink(temporary)
            return failure
        }
        if rename(temporary, path) != 0 {
            let message = "rename \(temporary): " + errorText(errno)
            unlink(temporary)
            return message
        }
        let fd = open(directory, O_RDONLY)
        if fd >= 0 {
            _ = fsync(fd)
            _ = close(fd)
        }
        return nil
    }
}
